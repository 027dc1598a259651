//! The access-token path: the Identity Center access token itself is the token, with
//! `token_type=ACCESS_TOKEN`, valid for every cluster and workgroup of the application, so one
//! cached session serves every target: the targets are validated but do not split the cache.
//!
//! A hit is one file read (the session entry, or the AWS CLI's cache file for an sso-session);
//! no runtime, HTTP client or credential is touched unless the token must be renewed.

use crate::access_token::Access;
use crate::env::Env;
use crate::error::Error;
use crate::output::Source;
use crate::serve::Obtained;
use crate::settings::{CacheMode, TokenRequest};
use crate::signin::{Origin, Want};
use crate::token::{AuthToken, TokenType};

pub fn token(
    req: &TokenRequest,
    cache_dir: Option<&std::path::Path>,
    env: &Env,
) -> Result<Obtained, Error> {
    let config = req
        .access
        .as_ref()
        .ok_or_else(|| Error::Internal("the access-token path without its settings".into()))?;
    let cache = crate::cache::open_or_warn(cache_dir);
    // --force-refresh renews the token (with the refresh token when there is one): no cached
    // token is fresh enough for it. A new sign-in is `login --force`.
    let min_validity = match req.cache {
        CacheMode::Refresh => std::time::Duration::from_secs(u64::from(u32::MAX)),
        _ => req.min_validity,
    };
    let access = Access {
        config,
        call_timeout: req.timeout,
        min_validity,
        env,
        files: &req.files,
    };
    let (session, origin) = access.token(cache.as_ref(), Want::Fresh)?;
    Ok(Obtained {
        token: AuthToken {
            token: session.access_token,
            kind: TokenType::Access,
            expiration: Some(session.expires_at),
        },
        source: match origin {
            Origin::Cache => Source::Cache,
            Origin::Refreshed | Origin::SignedIn => Source::Aws,
        },
    })
}
