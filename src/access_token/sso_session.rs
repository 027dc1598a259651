//! The AWS CLI's sso-session token, reused: `aws sso login --sso-session X` once a day serves
//! every driver, with no sign-in of ours.
//!
//! A fresh token is read straight from the AWS CLI's cache file
//! (`~/.aws/sso/cache/<sha1 hex of the session name>.json`, `accessToken` and `expiresAt`):
//! one file read, as cheap as a cache hit. A token due for renewal is refreshed with
//! aws-config's own SSO token provider, which reads the same file, calls `CreateToken` with
//! its refresh token and writes the result back in the CLI's format; we call it under our
//! lock, because refresh tokens rotate: 16 callers must make one refresh, not 16.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::provider::token::ProvideToken;
use aws_types::region::Region;

use super::session::{AccessKey, AccessSession, REFRESH_BUFFER};
use crate::aws::config::shared_config::SharedConfig;
use crate::aws::runtime::{bounded, timeouts};
use crate::cache::{Mode, Store};
use crate::error::{Error, SigninError, one_line};
use crate::signin::Origin;
use crate::token::{Secret, parse_rfc3339};

/// One sso-session token request.
pub struct Request<'a> {
    pub key: AccessKey,
    pub name: &'a str,
    pub start_url: &'a str,
    pub region: &'a str,
    pub files: &'a SharedConfig,
    pub profile: &'a str,
    pub timeout: Duration,
    pub min_validity: Duration,
    /// Where the AWS CLI keeps its cache (`~/.aws/sso/cache`).
    pub home: Option<std::path::PathBuf>,
}

/// The AWS CLI's cached token as a session, if it is usable for long enough (no network).
pub fn cached(r: &Request<'_>) -> Option<AccessSession> {
    fresh_in_cli_cache(r).map(|(t, at)| session(r, t, at))
}

/// The token in the AWS CLI's cache file, if it is usable for long enough.
fn fresh_in_cli_cache(r: &Request<'_>) -> Option<(Secret, SystemTime)> {
    let path = crate::aws::config::chain::sso_cache_file(r.home.as_deref()?, r.name);
    let bytes = crate::small_file::read(&path, Instant::now() + Duration::from_secs(2)).bytes()?;
    let doc: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let token = doc["accessToken"].as_str().filter(|t| !t.is_empty())?;
    let expires = parse_rfc3339(doc["expiresAt"].as_str()?)?;
    let left = expires.duration_since(SystemTime::now()).ok()?;
    (left > REFRESH_BUFFER.max(r.min_validity)).then(|| (Secret::new(token.to_owned()), expires))
}

fn session(r: &Request<'_>, token: Secret, expires_at: SystemTime) -> AccessSession {
    AccessSession {
        meta: r.key.meta.clone(),
        access_token: token,
        expires_at,
        refresh_token: None,
        registration: None,
        signed_in: SystemTime::now(),
    }
}

/// The session's token: from the CLI's cache when fresh, else refreshed under our lock.
pub fn token(r: &Request<'_>, store: Option<&Store>) -> Result<(AccessSession, Origin), Error> {
    if let Some((t, at)) = fresh_in_cli_cache(r) {
        return Ok((session(r, t, at), Origin::Cache));
    }
    let deadline = Instant::now() + r.timeout;
    let _guard = match store.map(|s| s.lock(&r.key.id, Mode::Exclusive, deadline)) {
        Some(Ok(Some(g))) => Some(g),
        Some(Ok(None)) => {
            return Err(Error::Locked {
                what: format!("the AWS CLI's sso-session {}", r.name),
            });
        }
        _ => None,
    };
    // Another caller may have refreshed it while we waited.
    if let Some((t, at)) = fresh_in_cli_cache(r) {
        return Ok((session(r, t, at), Origin::Cache));
    }
    let remaining = deadline.saturating_duration_since(Instant::now());
    let phase = Cell::new("refreshing the AWS CLI's SSO token");
    let token = bounded(r.timeout.as_secs(), remaining, &phase, async {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(r.region.to_owned()))
            .profile_name(r.profile)
            .profile_files(r.files.profile_files())
            .no_credentials()
            .timeout_config(timeouts(remaining))
            .load()
            .await;
        let provider = aws_config::sso::SsoTokenProvider::builder()
            .configure(&config)
            .session_name(r.name)
            .start_url(r.start_url)
            .region(Region::new(r.region.to_owned()))
            .build()
            .await;
        provider
            .provide_token()
            .await
            .map_err(|e| SigninError::SsoSessionToken {
                session: r.name.to_owned(),
                detail: one_line(&crate::aws::errors::chain(&e)),
            })
            .map_err(Error::from)
    })?;
    let expires_at = token
        .expiration()
        .filter(|e| *e > SystemTime::now())
        .ok_or_else(|| SigninError::SsoSessionToken {
            session: r.name.to_owned(),
            detail: "the token has expired".into(),
        })?;
    Ok((
        session(r, Secret::new(token.token().to_owned()), expires_at),
        Origin::Refreshed,
    ))
}
