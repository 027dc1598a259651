//! Diagnostics on stderr through `tracing`, at a level set by `-v`.
//!
//! The AWS crates are capped at `info` whatever the verbosity: at `debug` and below they log
//! canonical requests (which carry the session token) and response bodies (which carry the
//! IdC token). Our own events never include a secret.

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::prelude::*;

/// Installs the stderr logger: our warnings always, `-v` info (+ AWS SDK warnings), `-vv`
/// debug (+ AWS SDK info).
pub fn init(verbose: u8) {
    let ours = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        _ => LevelFilter::DEBUG,
    };
    // The SDK's own warnings carry `Debug` structures (and the settings they complain about
    // are checked before the SDK sees them): shown from -v on, never by default.
    let sdk = match verbose {
        0 => LevelFilter::OFF,
        1 => LevelFilter::WARN,
        _ => LevelFilter::INFO,
    };
    // `Targets` matches by prefix without regexes: cheap enough for the cache-hit path.
    let filter = Targets::new()
        .with_target("redshift_idc_token", ours)
        .with_target("aws_config", sdk)
        .with_target("aws_sdk_redshift", sdk)
        .with_target("aws_sdk_redshiftserverless", sdk)
        .with_target("aws_smithy_runtime", sdk)
        .with_default(LevelFilter::WARN.min(sdk));
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(verbose >= 2)
        .without_time()
        .with_ansi(false);
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init();
}
