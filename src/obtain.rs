//! The cache policy around a fetch: serve a fresh cached token, else fetch exactly once among
//! all processes that want the same token at the same time, and store the result.
//!
//! The hit path reads one file and returns; it never touches the `Fetch` implementation (so
//! no async runtime, HTTP client or credential resolution). The miss path holds the key's
//! lock across re-read, fetch and write, so N concurrent callers cause one API call.
//! Cache trouble of any kind (unsafe directory, read-only or full disk, lock not available in
//! time) degrades to an uncached fetch with a warning; it never fails the run.

use std::time::{Duration, Instant, SystemTime};

use tracing::{info, warn};

use crate::cache::{self, Cache, CacheKey, Entry, Fingerprint, Miss};
use crate::env::Env;
use crate::error::Error;
use crate::fetch::{Call, Fetch};
use crate::output::Source;
use crate::settings::{CacheMode, TokenRequest};
use crate::token::{AuthToken, rfc3339};

/// A token and where it came from.
#[derive(Debug)]
pub struct Obtained {
    pub token: AuthToken,
    pub source: Source,
}

/// The inputs of one run that are not in the request itself.
pub struct Context<'a> {
    pub env: &'a Env,
    /// The cache, or `None` when it cannot be used this run.
    pub cache: Option<&'a Cache>,
    pub fetcher: &'a dyn Fetch,
    pub clock: &'a dyn Fn() -> SystemTime,
    /// When the run started; `--timeout` counts from here.
    pub start: Instant,
}

/// Gets a token for `req`: from the cache when allowed and fresh, else from `ctx.fetcher`.
pub fn obtain(req: &TokenRequest, ctx: &Context<'_>) -> Result<Obtained, Error> {
    let deadline = ctx.start + req.timeout;
    let region = match &req.region {
        Some(r) => {
            info!(region = %r.value, from = r.from, "region");
            r.value.clone()
        }
        None => {
            let r = ctx
                .fetcher
                .discover_region(req, deadline)
                .ok_or(Error::NoRegion)?;
            info!(region = %r, from = "instance metadata", "region");
            r
        }
    };
    info!(
        targets = %req.targets,
        profile = req.profile_name(),
        endpoint = req.endpoint.as_ref().map_or("default", |e| e.value.as_str()),
        "request"
    );
    let call = Call {
        request: req,
        region: &region,
        deadline,
    };
    let cache = match (req.cache, ctx.cache) {
        (CacheMode::Off, _) | (_, None) => {
            return fetch_uncached(ctx, call);
        }
        (_, Some(c)) => c,
    };
    let key = CacheKey::new(
        &req.targets,
        &region,
        req.endpoint.as_ref().map(|e| e.value.as_str()),
        req.profile_name(),
        &Fingerprint::of(ctx.env),
    );

    if req.cache == CacheMode::Use
        && let Some(hit) = fresh(cache, &key, req.min_validity, (ctx.clock)())
    {
        return Ok(hit);
    }

    let lock = match cache.lock(&key, cache::lock_deadline(ctx.start, req.timeout)) {
        Ok(Some(guard)) => guard,
        Ok(None) => {
            warn!("the cache lock stayed busy; fetching without the cache");
            return fetch_uncached(ctx, call);
        }
        Err(e) => {
            warn!(error = %e, "cannot lock the cache; fetching without the cache");
            return fetch_uncached(ctx, call);
        }
    };
    // Another process may have fetched while we waited for the lock.
    if req.cache == CacheMode::Use
        && let Some(hit) = fresh(cache, &key, req.min_validity, (ctx.clock)())
    {
        return Ok(hit);
    }
    let token = ctx.fetcher.fetch(call)?;
    let now = (ctx.clock)();
    match token.expiration {
        Some(expiration) => {
            let entry = Entry::new(&key, &token, expiration, now);
            match cache.write(&lock, &key, &entry) {
                Ok(()) => info!(key = %key.id, "cached the token"),
                Err(e) => warn!(error = %e, "could not write the cache; the token was not cached"),
            }
        }
        None => warn!("the service returned no expiration time; the token was not cached"),
    }
    Ok(Obtained {
        token,
        source: Source::Aws,
    })
}

fn fetch_uncached(ctx: &Context<'_>, call: Call<'_>) -> Result<Obtained, Error> {
    let token = ctx.fetcher.fetch(call)?;
    if token.expiration.is_none() {
        warn!("the service returned no expiration time");
    }
    Ok(Obtained {
        token,
        source: Source::Aws,
    })
}

fn fresh(cache: &Cache, key: &CacheKey, min_validity: Duration, now: SystemTime) -> Option<Obtained> {
    match cache.read(key, now) {
        Ok(entry) if entry.is_fresh(now, min_validity) => {
            info!(
                remaining_s = entry.remaining(now).as_secs(),
                expires = %rfc3339(entry.expiration),
                "cache hit"
            );
            Some(Obtained {
                token: entry.to_auth_token(),
                source: Source::Cache,
            })
        }
        Ok(entry) => {
            info!(
                remaining_s = entry.remaining(now).as_secs(),
                min_validity_s = min_validity.as_secs(),
                "cache miss: the cached token expires too soon"
            );
            None
        }
        Err(Miss::Absent) => {
            info!("cache miss: no entry");
            None
        }
        Err(reason) => {
            info!(%reason, "cache miss: unusable entry, it will be replaced");
            None
        }
    }
}
