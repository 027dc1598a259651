//! The cache policy around a fetch: serve a fresh cached token, else fetch exactly once among
//! all processes that want the same token at the same time, and store the result.
//!
//! The hit path reads one file and returns; it never touches the `Fetch` implementation (so
//! no async runtime, HTTP client or credential resolution). The miss path holds the key's
//! lock across re-read, fetch and write, so N concurrent callers cause one API call.
//! Cache trouble of any kind (unsafe directory, read-only or full disk, lock not available in
//! time) degrades to an uncached fetch with a warning; it never fails the run.

use std::time::{Duration, Instant, SystemTime};

use tracing::{Level, debug, info, warn};

use crate::aws::redshift::{Call, Fetch};
use crate::cache::{self, Cache, CacheKey, Entry, Miss};
use crate::env::Env;
use crate::error::Error;
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
    /// The signed-in identity (`signin::Session::identity`) whose role credentials the
    /// fetcher uses, if sign-in is configured: part of the cache key.
    pub signed_in: Option<&'a str>,
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
                .discover_region(deadline)
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
    let call = req.call(&region, deadline);
    let cache = match (req.cache, ctx.cache) {
        (CacheMode::Off, _) | (_, None) => {
            return fetch_uncached(ctx, call);
        }
        (_, Some(c)) => c,
    };
    let key = cache_key(req, ctx, &region, deadline);

    if req.cache == CacheMode::Use
        && let Some(hit) = fresh(cache, &key, req.min_validity, (ctx.clock)(), Level::INFO)
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
    // Another process may have fetched while we waited for the lock. The reason for a miss
    // was logged above already, so this second look only speaks up at -vv.
    if req.cache == CacheMode::Use
        && let Some(hit) = fresh(cache, &key, req.min_validity, (ctx.clock)(), Level::DEBUG)
    {
        return Ok(hit);
    }
    let token = ctx.fetcher.fetch(call)?;
    let now = (ctx.clock)();
    match token.expiration {
        Some(expiration) => {
            let entry = Entry::new(&key, &token, expiration, now)
                .with_credentials_expiration(ctx.fetcher.credentials_expiration());
            match cache.write(&lock, &key, &entry) {
                Ok(()) => info!(key = %key.id, "cached the token"),
                Err(e) => warn!(error = %e, "could not write the cache; the token was not cached"),
            }
            drop(lock);
            // Housekeeping belongs on the miss path, never on a hit, and even there only once per
            // interval and boundedly (`prune_if_due`).
            match cache.prune_if_due(now) {
                Ok(0) => {}
                Ok(n) => info!(removed = n, "pruned long-expired cache entries"),
                Err(e) => debug!(error = %e, "could not prune the cache"),
            }
        }
        None => warn!("the service returned no expiration time; the token was not cached"),
    }
    Ok(Obtained {
        token,
        source: Source::Aws,
    })
}

/// A fresh cached token for `req`, or `None`, without fetching anything: what the signed-in
/// path serves before it looks at the session, so a token cached for the person is a hit
/// even while the session itself is due for renewal.
pub fn cached_token(req: &TokenRequest, ctx: &Context<'_>) -> Option<Obtained> {
    let (CacheMode::Use, Some(cache), Some(region)) = (req.cache, ctx.cache, &req.region) else {
        return None;
    };
    let key = cache_key(req, ctx, &region.value, ctx.start + req.timeout);
    fresh(cache, &key, req.min_validity, (ctx.clock)(), Level::DEBUG)
}

/// The cache key of `req` in `region`, for the identity of the credential chain narrowed to
/// the signed-in person, if any.
fn cache_key(req: &TokenRequest, ctx: &Context<'_>, region: &str, deadline: Instant) -> CacheKey {
    let chain =
        crate::aws::config::chain::fingerprint(ctx.env, &req.files, req.profile_name(), deadline);
    let identity = match ctx.signed_in {
        Some(person) => chain.with_signed_in(person),
        None => chain,
    };
    CacheKey::new(
        &req.targets,
        region,
        req.endpoint.as_ref().map(|e| e.value.as_str()),
        req.profile_name(),
        &identity,
    )
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

/// A fresh cached token, if there is one; says at `level` why not (hits always at info).
fn fresh(
    cache: &Cache,
    key: &CacheKey,
    min_validity: Duration,
    now: SystemTime,
    level: Level,
) -> Option<Obtained> {
    macro_rules! miss {
        ($($arg:tt)*) => {
            if level == Level::INFO { info!($($arg)*) } else { debug!($($arg)*) }
        };
    }
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
            miss!(
                remaining_s = entry.remaining(now).as_secs(),
                min_validity_s = min_validity.as_secs(),
                "cache miss: the cached token expires too soon"
            );
            None
        }
        Err(Miss::Absent) => {
            miss!("cache miss: no entry");
            None
        }
        Err(reason) => {
            miss!(%reason, "cache miss: unusable entry, it will be replaced");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::time::{Duration, Instant, SystemTime};

    use super::*;
    use crate::cli::TokenArgs;
    use crate::token::Secret;

    /// Hands out `tok-1`, `tok-2`, ... valid for `ttl`, or fails, and counts calls.
    struct FakeFetch {
        calls: Cell<u32>,
        ttl: Option<Duration>,
        fail: bool,
        now: SystemTime,
    }

    impl Fetch for FakeFetch {
        fn fetch(&self, _call: Call<'_>) -> Result<AuthToken, Error> {
            self.calls.set(self.calls.get() + 1);
            if self.fail {
                return Err(Error::Throttled {
                    code: "Throttling".into(),
                    message: "slow down".into(),
                });
            }
            Ok(AuthToken {
                token: Secret::new(format!("tok-{}", self.calls.get())),
                kind: crate::token::TokenType::Subject,
                expiration: self.ttl.map(|t| self.now + t),
            })
        }

        fn discover_region(&self, _: Instant) -> Option<String> {
            None
        }
    }

    fn fake(ttl: Option<u64>) -> FakeFetch {
        FakeFetch {
            calls: Cell::new(0),
            ttl: ttl.map(Duration::from_secs),
            fail: false,
            now: SystemTime::now(),
        }
    }

    fn request(f: impl FnOnce(&mut TokenArgs)) -> TokenRequest {
        let mut a = TokenArgs {
            clusters: vec!["c1".parse().unwrap()],
            region: Some("us-east-1".into()),
            timeout: 10,
            min_validity: 300,
            ..TokenArgs::default()
        };
        f(&mut a);
        TokenRequest::from_args(&a, &Env::default()).unwrap()
    }

    fn run(
        req: &TokenRequest,
        cache: Option<&Cache>,
        f: &FakeFetch,
        at: SystemTime,
    ) -> Result<Obtained, Error> {
        let env = Env::default();
        let clock = move || at;
        obtain(
            req,
            &Context {
                env: &env,
                cache,
                fetcher: f,
                clock: &clock,
                start: Instant::now(),
                signed_in: None,
            },
        )
    }

    fn token(o: &Obtained) -> &str {
        o.token.token.expose()
    }

    #[test]
    fn hit_until_min_validity_then_refetch() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let f = fake(Some(900));
        let req = request(|_| {});
        let t0 = f.now;
        let first = run(&req, Some(&cache), &f, t0).unwrap();
        assert_eq!((token(&first), first.source), ("tok-1", Source::Aws));
        let hit = run(&req, Some(&cache), &f, t0 + Duration::from_secs(599)).unwrap();
        assert_eq!((token(&hit), hit.source), ("tok-1", Source::Cache));
        assert_eq!(f.calls.get(), 1, "a hit does not call the fetcher");
        let stale = run(&req, Some(&cache), &f, t0 + Duration::from_secs(600)).unwrap();
        assert_eq!((token(&stale), stale.source), ("tok-2", Source::Aws));
    }

    #[test]
    fn refresh_off_and_unexpiring_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let f = fake(Some(900));
        let now = f.now;
        run(&request(|_| {}), Some(&cache), &f, now).unwrap();
        let forced = run(&request(|a| a.force_refresh = true), Some(&cache), &f, now).unwrap();
        assert_eq!(token(&forced), "tok-2");
        let after = run(&request(|_| {}), Some(&cache), &f, now).unwrap();
        assert_eq!(
            token(&after),
            "tok-2",
            "--force-refresh stored the new token"
        );
        let off = run(&request(|a| a.no_cache = true), Some(&cache), &f, now).unwrap();
        assert_eq!(token(&off), "tok-3");
        assert_eq!(
            token(&run(&request(|_| {}), Some(&cache), &f, now).unwrap()),
            "tok-2"
        );

        let g = fake(None);
        let dir2 = tempfile::tempdir().unwrap();
        let cache2 = Cache::open(dir2.path().join("c")).unwrap();
        run(&request(|_| {}), Some(&cache2), &g, now).unwrap();
        run(&request(|_| {}), Some(&cache2), &g, now).unwrap();
        assert_eq!(
            g.calls.get(),
            2,
            "a token without expiration is never cached"
        );
    }

    #[test]
    fn errors_are_not_cached_and_other_keys_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let mut f = fake(Some(900));
        f.fail = true;
        let now = f.now;
        assert!(run(&request(|_| {}), Some(&cache), &f, now).is_err());
        f.fail = false;
        assert_eq!(
            token(&run(&request(|_| {}), Some(&cache), &f, now).unwrap()),
            "tok-2"
        );
        let other = run(
            &request(|a| a.region = Some("eu-west-1".into())),
            Some(&cache),
            &f,
            now,
        )
        .unwrap();
        assert_eq!(token(&other), "tok-3");
        let wg = run(
            &request(|a| {
                a.clusters.clear();
                a.workgroups = vec!["c1x".parse().unwrap()];
            }),
            Some(&cache),
            &f,
            now,
        )
        .unwrap();
        assert_eq!(token(&wg), "tok-4");
    }

    #[test]
    fn no_region_anywhere_is_an_error_without_fetching() {
        let f = fake(Some(900));
        let req = request(|a| a.region = None);
        let err = run(&req, None, &f, f.now).unwrap_err();
        assert!(matches!(err, Error::NoRegion));
        assert_eq!(f.calls.get(), 0);
    }
}
