//! Diagnostics on stderr through `tracing`, at a level set by `-v`.
//!
//! The AWS crates are capped at `info` whatever the verbosity: at `debug` and below they log
//! canonical requests (which carry the session token) and response bodies (which carry the
//! IdC token). Our own events never include a secret.
//!
//! The subscriber is built only when the first enabled event or span arrives. A cache hit
//! without `-v` logs nothing, and building `tracing-subscriber`'s registry (a slab sized for
//! thousands of threads) cost 7% of its instructions and a few pages; until then the only
//! thing installed is the level filter, which is a short list of target prefixes.

use std::sync::OnceLock;

use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Dispatch, Event, Metadata, Subscriber};
use tracing_core::span::Current;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the stderr logger: our warnings always, `-v` info (+ AWS SDK warnings), `-vv`
/// debug (+ AWS SDK info).
pub fn init(verbose: u8) {
    let lazy = Lazy {
        filter: filter(verbose),
        verbose,
        inner: OnceLock::new(),
    };
    let _ = tracing::subscriber::set_global_default(lazy);
}

/// Our own level: warnings, `-v` info, `-vv` debug. Always the most verbose of the filter.
fn ours(verbose: u8) -> LevelFilter {
    match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    }
}

fn filter(verbose: u8) -> Targets {
    let ours = ours(verbose);
    // The SDK's own warnings carry `Debug` structures (and the settings they complain about
    // are checked before the SDK sees them): shown from -v on, never by default.
    let sdk = match verbose {
        0 => LevelFilter::OFF,
        1 => LevelFilter::WARN,
        _ => LevelFilter::INFO,
    };
    // `Targets` matches by prefix without regexes: cheap enough for the cache-hit path.
    Targets::new()
        .with_target("redshift_idc_token", ours)
        .with_target("aws_config", sdk)
        .with_target("aws_sdk_redshift", sdk)
        .with_target("aws_sdk_redshiftserverless", sdk)
        .with_target("aws_smithy_runtime", sdk)
        .with_default(LevelFilter::WARN.min(sdk))
}

/// The real subscriber: a registry with one plain-text layer on stderr.
fn build(filter: Targets, verbose: u8) -> Dispatch {
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2)
        .without_time()
        .with_ansi(false);
    Dispatch::new(tracing_subscriber::registry().with(layer.with_filter(filter)))
}

/// Answers "is this enabled?" from the filter alone, and hands everything else to the real
/// subscriber, built on first use.
struct Lazy {
    filter: Targets,
    verbose: u8,
    inner: OnceLock<Dispatch>,
}

impl Lazy {
    fn inner(&self) -> &Dispatch {
        self.inner
            .get_or_init(|| build(self.filter.clone(), self.verbose))
    }
}

impl Subscriber for Lazy {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.filter.would_enable(meta.target(), meta.level()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.filter.would_enable(meta.target(), meta.level())
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(ours(self.verbose))
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        // The registry's per-layer filter expects `enabled` before it sees a span or event.
        let inner = self.inner();
        inner.enabled(span.metadata());
        inner.new_span(span)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        self.inner().record(span, values);
    }

    fn record_follows_from(&self, span: &Id, follows: &Id) {
        self.inner().record_follows_from(span, follows);
    }

    fn event(&self, event: &Event<'_>) {
        let inner = self.inner();
        if inner.enabled(event.metadata()) {
            inner.event(event);
        }
    }

    fn enter(&self, span: &Id) {
        self.inner().enter(span);
    }

    fn exit(&self, span: &Id) {
        self.inner().exit(span);
    }

    fn clone_span(&self, id: &Id) -> Id {
        self.inner().clone_span(id)
    }

    fn try_close(&self, id: Id) -> bool {
        self.inner().try_close(id)
    }

    fn current_span(&self) -> Current {
        match self.inner.get() {
            Some(d) => d.current_span(),
            None => Current::none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_built_until_an_enabled_event() {
        let lazy = Lazy {
            filter: filter(0),
            verbose: 0,
            inner: OnceLock::new(),
        };
        let dispatch = Dispatch::new(lazy);
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::info!("not at -v0");
            tracing::debug!(target: "aws_config", "nor this");
        });
        let lazy = dispatch.downcast_ref::<Lazy>().unwrap();
        assert!(lazy.inner.get().is_none());
        tracing::dispatcher::with_default(&dispatch, || {
            tracing::warn!("a warning is shown");
        });
        let lazy = dispatch.downcast_ref::<Lazy>().unwrap();
        assert!(lazy.inner.get().is_some());
    }

    #[test]
    fn levels_follow_the_verbosity() {
        let at = |v, target, level| filter(v).would_enable(target, &level);
        use tracing::Level;
        assert!(!at(0, "redshift_idc_token::obtain", Level::INFO));
        assert!(at(0, "redshift_idc_token::obtain", Level::WARN));
        assert!(at(1, "redshift_idc_token::obtain", Level::INFO));
        assert!(at(2, "redshift_idc_token::obtain", Level::DEBUG));
        assert!(!at(2, "aws_smithy_runtime::client", Level::DEBUG));
        assert!(at(2, "aws_smithy_runtime::client", Level::INFO));
        assert!(!at(1, "hyper", Level::INFO));
        assert!(
            !at(0, "aws_config::profile", Level::WARN),
            "no SDK warnings by default"
        );
        assert!(at(1, "aws_config::profile", Level::WARN));
    }
}
