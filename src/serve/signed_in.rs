//! The identity-enhanced sign-in path: a token fetched with the signed-in session's role
//! credentials, cached under the credential chain's identity narrowed to the person.
//!
//! A token cached for the person the cached session names is served as it is, whatever the
//! session's own freshness (one file read more than a plain hit), so a session due for
//! renewal costs nothing until a token must really be fetched. `doctor` and `cache list` ask
//! the same questions here ([`cached_session`], [`fresh_session`]) instead of re-deriving them.

use std::time::{Instant, SystemTime};

use super::chain::{self, Context, Obtained};
use crate::aws::redshift::AwsFetcher;
use crate::cache::Cache;
use crate::env::Env;
use crate::error::Error;
use crate::settings::TokenRequest;
use crate::signin::{Session, Signin, SigninConfig, Want};

/// The sign-in of `req` (which must configure one) in the run's region and bounds.
fn signin<'a>(req: &'a TokenRequest, config: &'a SigninConfig, env: &'a Env) -> Signin<'a> {
    Signin {
        config,
        run_region: req.region.as_ref().map(|r| r.value.as_str()),
        call_timeout: req.timeout,
        env,
        files: &req.files,
    }
}

/// The token for `req` as the signed-in person. `token_cache` is `None` under `--no-cache`;
/// the session lives in the cache even then.
pub fn token(
    req: &TokenRequest,
    token_cache: Option<Cache>,
    cache_dir: Option<&std::path::Path>,
    env: &Env,
    start: Instant,
) -> Result<Obtained, Error> {
    let config = req
        .signin
        .as_ref()
        .ok_or_else(|| Error::Internal("the signed-in path without a sign-in".into()))?;
    let session_cache = token_cache
        .clone()
        .or_else(|| crate::cache::open_or_warn(cache_dir));
    let signin = signin(req, config, env);
    if let Some(person) = signin.cached_identity(session_cache.as_ref()) {
        let ctx = Context {
            env,
            cache: token_cache.as_ref(),
            fetcher: &AwsFetcher::default(),
            clock: &SystemTime::now,
            start,
            signed_in: Some(&person),
        };
        if let Some(hit) = chain::cached_token(req, &ctx) {
            return Ok(hit);
        }
    }
    // `--timeout` counts from the end of the sign-in, which has its own bound (a person may
    // be typing a password).
    let (session, _) = signin.session(session_cache.as_ref(), Want::Fresh)?;
    let identity = session.identity();
    chain::obtain(
        req,
        &Context {
            env,
            cache: token_cache.as_ref(),
            fetcher: &AwsFetcher::with_credentials(session.credentials.to_sdk()),
            clock: &SystemTime::now,
            start: Instant::now(),
            signed_in: Some(&identity),
        },
    )
}

/// The cached session for `req`'s sign-in, fresh or not, without the network.
pub fn cached_session(req: &TokenRequest, cache: Option<&Cache>, env: &Env) -> Option<Session> {
    let config = req.signin.as_ref()?;
    signin(req, config, env).cached_session(cache)
}

/// The cached session whose role credentials a token run would use now as they are: fresh,
/// or still valid while a failed renewal waits out its minimum interval.
pub fn fresh_session(req: &TokenRequest, cache: Option<&Cache>, env: &Env) -> Option<Session> {
    cached_session(req, cache, env).filter(|s| s.servable(SystemTime::now()))
}

/// What `doctor` says about sign-in: who is signed in and until when, read from the cache
/// without signing in; `None` when sign-in is not configured.
pub struct Status {
    pub config: SigninConfig,
    pub idc_region: Option<String>,
    pub session: Option<Session>,
}

/// `run_region` is the region `doctor` settled on (it may have asked instance metadata).
pub fn status(
    req: &TokenRequest,
    run_region: Option<&str>,
    cache: Option<&Cache>,
    env: &Env,
) -> Option<Status> {
    let config = req.signin.as_ref()?;
    let s = Signin {
        run_region,
        ..signin(req, config, env)
    };
    Some(Status {
        config: config.clone(),
        idc_region: s.idc_region().ok(),
        session: s.cached_session(cache),
    })
}
