//! Which token to serve: the one place that decides, for every mode.
//!
//! A run wants a token for its targets. Where it comes from depends on the mode the settings
//! select ([`Mode`]):
//! - the credential chain: the token fetched with aws-config's credentials, cached under the
//!   chain's identity (`chain`);
//! - the identity-enhanced sign-in: the same, with the signed-in session's role credentials,
//!   cached under the chain's identity narrowed to the person (`signed_in`);
//! - the access-token mode: no `GetIdentityCenterAuthToken` at all, the Identity Center
//!   access token itself (`ACCESS_TOKEN`), one for every target (`access_token`).
//!
//! Commands (`token`, `exec`, `doctor`, `login`, ...) ask here; none re-derives it. The
//! policy talks to the network only through the `aws` traits, so it is tested with fakes.

pub mod access_token;
pub mod chain;
pub mod signed_in;

use std::time::{Instant, SystemTime};

use crate::aws::redshift::AwsFetcher;
use crate::cache::Cache;
use crate::env::Env;
use crate::error::Error;
use crate::settings::{CacheMode, TokenRequest};

pub use chain::{Context, Obtained};

/// How a run gets its credentials, as the settings select it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// aws-config's credential chain, as every AWS SDK would use it.
    CredentialChain,
    /// The built-in identity-enhanced sign-in (`redshift_idc_application_arn` + role).
    SignedIn,
    /// An Identity Center access token (issuer or start URL, or the AWS CLI's sso-session).
    AccessToken,
}

impl Mode {
    pub fn of(req: &TokenRequest) -> Mode {
        match (&req.signin, &req.access) {
            (Some(_), _) => Mode::SignedIn,
            (None, Some(_)) => Mode::AccessToken,
            (None, None) => Mode::CredentialChain,
        }
    }
}

/// The token for `req`, through the cache in `cache_dir` unless it is off or unusable.
/// `start` is when the run began: `--timeout` counts from it.
pub fn token(
    req: &TokenRequest,
    cache_dir: Option<&std::path::Path>,
    env: &Env,
    start: Instant,
) -> Result<Obtained, Error> {
    let cache = match req.cache {
        CacheMode::Off => None,
        _ => crate::cache::open_or_warn(cache_dir),
    };
    match Mode::of(req) {
        Mode::CredentialChain => chain::obtain(
            req,
            &Context {
                env,
                cache: cache.as_ref(),
                fetcher: &AwsFetcher::default(),
                clock: &SystemTime::now,
                start,
                signed_in: None,
            },
        ),
        Mode::SignedIn => signed_in::token(req, cache, cache_dir, env, start),
        // The access-token session lives in the cache even under --no-cache.
        Mode::AccessToken => access_token::token(req, cache_dir, env),
    }
}

/// Opens the cache for a command that needs it to work at all (`cache`, `logout`): its
/// problems are the command's errors, not warnings.
pub fn open_cache_strict(cache_dir: Option<&std::path::Path>) -> Result<Cache, Error> {
    let root = crate::cache::default_root(cache_dir)
        .ok_or(Error::Cache(crate::cache::Unavailable::NoDirectory))?;
    Cache::open(root).map_err(Error::Cache)
}
