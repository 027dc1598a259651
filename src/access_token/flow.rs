//! The access-token policy: serve the cached access token, renew it with the refresh token
//! before it expires, and sign the person in (browser or device code) only when nothing else
//! works, once among all processes that want it at the same time.
//!
//! All of it runs under the session's lock: 16 cold callers make one `RegisterClient`, one
//! sign-in and one `CreateToken`, and the 15 that waited read what the first one stored. A
//! sign-in that fails (refused, abandoned, timed out) is recorded for a minute, so the callers
//! that waited for it fail with it instead of opening a window each, one after another.
//! Talks to sso-oidc and the browser only through traits, so it is tested with fakes.

use std::time::{Duration, Instant, SystemTime};

use tracing::{info, warn};

use super::config::{AccessConfig, Source};
use super::session::{self, AccessKey, AccessSession, StoredRegistration};
use crate::aws::sso_oidc::{Poll, REDSHIFT_CONNECT_SCOPE, Registration, SsoOidc, TokenGrant};
use crate::cache::{LockGuard, Mode, Store};
use crate::cli::SigninKind;
use crate::error::{Error, SigninError};
use crate::secret_store::{self, Fallback, Kept, SecretId};
use crate::signin::pkce::Pkce;
use crate::signin::service::{Authorize, AuthorizeRequest};
use crate::signin::{Origin, Want};
use crate::token::Secret;

/// How long a failed sign-in answers the callers that waited for it.
pub const FAILURE_MEMORY: Duration = Duration::from_secs(60);
/// A registration is replaced this long before it expires, so no sign-in starts with one
/// about to lapse.
pub const REGISTRATION_BUFFER: Duration = Duration::from_secs(3600);
/// What `StartDeviceAuthorization`'s `interval` grows by after a `SlowDownException`
/// (RFC 8628, section 3.5).
pub const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// The outside world of one access-token run.
pub struct Deps<'a> {
    pub oidc: &'a dyn SsoOidc,
    pub authorizer: &'a dyn Authorize,
    /// The store, or `None` when the cache cannot be used (no single flight then).
    pub store: Option<&'a Store>,
    pub clock: &'a dyn Fn() -> SystemTime,
    /// Tells the person what to do (the device code paragraph), on stderr.
    pub tell: &'a dyn Fn(&str),
}

/// The settings of one run.
pub struct Plan<'a> {
    pub config: &'a AccessConfig,
    /// `.../authorize` for the browser kind.
    pub authorize_endpoint: &'a str,
    /// `--timeout`: the bound of each network call.
    pub call_timeout: Duration,
    /// `--min-validity`: a served token lasts at least this long.
    pub min_validity: Duration,
}

/// The redirect URI registered and used: the loopback listener's, on the configured port
/// (RFC 8252 section 7.3: a loopback redirect may use any port, so port 0 registers none).
pub fn redirect_uri(port: u16) -> String {
    let path = crate::signin::loopback::CALLBACK_PATH;
    match port {
        0 => format!("http://127.0.0.1{path}"),
        p => format!("http://127.0.0.1:{p}{path}"),
    }
}

/// The cached session for `key`, whatever its freshness.
pub fn cached(store: Option<&Store>, key: &AccessKey) -> Option<AccessSession> {
    let bytes = store?.read(&key.id).ok()?;
    AccessSession::decode(&bytes, Some(&key.meta)).ok()
}

/// An access token for `plan`, signing in if needed.
pub fn token(
    plan: &Plan<'_>,
    deps: &Deps<'_>,
    want: Want,
) -> Result<(AccessSession, Origin), Error> {
    let cfg = plan.config;
    let key = AccessKey::new(cfg);
    let now = (deps.clock)();
    if want == Want::Fresh
        && let Some(s) = cached(deps.store, &key).filter(|s| s.is_fresh(now, plan.min_validity))
    {
        return Ok((s, Origin::Cache));
    }
    let waited_from = now;
    let guard = lock(
        deps.store,
        &key.id,
        Instant::now() + cfg.signin_timeout,
        cfg,
    )?;
    let previous = cached(deps.store, &key);
    if let Some(s) = &previous
        && s.is_fresh((deps.clock)(), plan.min_validity)
        && (want == Want::Fresh || s.signed_in >= waited_from)
    {
        info!("signed in by another process");
        return Ok((s.clone(), Origin::Cache));
    }
    if let Some(message) = failed_elsewhere(deps.store, &key, waited_from) {
        return Err(SigninError::FailedElsewhere { message }.into());
    }

    let mut had_session = false;
    if want == Want::Fresh
        && let Some(old) = &previous
        && let Some((rt, reg)) = reveal(old, Instant::now() + cfg.signin_timeout)
    {
        had_session = true;
        let grant = TokenGrant::RefreshToken { refresh_token: &rt };
        match deps
            .oidc
            .create_token(&reg, grant, Instant::now() + plan.call_timeout)
        {
            Ok(Ok(t)) => {
                let s = AccessSession {
                    meta: key.meta.clone(),
                    access_token: t.access_token,
                    expires_at: t.expires_at,
                    // Refresh tokens may rotate; keep the old one if none came back.
                    refresh_token: Some(match t.refresh_token {
                        Some(new) => Kept::Inline(new),
                        None => old.refresh_token.clone().unwrap_or(Kept::Inline(rt)),
                    }),
                    registration: old.registration.clone(),
                    signed_in: old.signed_in,
                };
                let s = keep(cfg, &key, s, Some(old))?;
                store(deps.store, guard.as_ref(), &key.id, &s.encode());
                return Ok((s, Origin::Refreshed));
            }
            Ok(Err(_)) => warn!("CreateToken asked a refresh to wait; signing in again"),
            Err(Error::Signin(SigninError::RefreshExpired)) => {
                info!("the refresh token is no longer accepted; signing in again");
            }
            Err(e) if old.is_valid((deps.clock)()) => {
                warn!(error = %e, "could not renew the access token; serving the cached one until it expires");
                return Ok((old.clone(), Origin::Cache));
            }
            Err(e) => return Err(e),
        }
    }

    match sign_in(plan, deps, &key, had_session).and_then(|s| keep(cfg, &key, s, previous.as_ref()))
    {
        Ok(s) => {
            store(deps.store, guard.as_ref(), &key.id, &s.encode());
            info!("signed in (access token)");
            Ok((s, Origin::SignedIn))
        }
        Err(e) => {
            remember_failure(deps, &key, &e, guard.is_some());
            Err(e)
        }
    }
}

fn lock(
    store: Option<&Store>,
    id: &str,
    deadline: Instant,
    cfg: &AccessConfig,
) -> Result<Option<LockGuard>, Error> {
    let Some(store) = store else { return Ok(None) };
    match store.lock(id, Mode::Exclusive, deadline) {
        Ok(Some(g)) => Ok(Some(g)),
        Ok(None) => Err(SigninError::WaitTimedOut {
            seconds: cfg.signin_timeout.as_secs(),
        }
        .into()),
        Err(e) => {
            warn!(error = %e, "cannot lock the access-token session; signing in without the cache");
            Ok(None)
        }
    }
}

fn store(store: Option<&Store>, guard: Option<&LockGuard>, id: &str, bytes: &[u8]) {
    if let (Some(store), Some(guard)) = (store, guard)
        && let Err(e) = store.write(guard, id, bytes)
    {
        warn!(error = %e, "could not cache the access-token session");
    }
}

/// A failure recorded by a sign-in that ended while we waited for its lock.
fn failed_elsewhere(store: Option<&Store>, key: &AccessKey, since: SystemTime) -> Option<String> {
    let bytes = store?.read(&key.failure()).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let at = crate::token::parse_rfc3339(v["at"].as_str()?)?;
    (at >= since && at.elapsed().unwrap_or_default() < FAILURE_MEMORY)
        .then(|| crate::error::one_line(v["message"].as_str().unwrap_or("sign-in failed")))
}

/// Records a failed sign-in for the callers waiting on the lock (only a sign-in that asked
/// the person: a setup error is the same for everyone anyway). Never holds a secret: error
/// messages do not.
fn remember_failure(deps: &Deps<'_>, key: &AccessKey, e: &Error, locked: bool) {
    let Some(store) = deps.store.filter(|_| locked) else {
        return;
    };
    let id = key.failure();
    let doc = serde_json::json!({
        "schema": session::SCHEMA,
        "at": crate::token::rfc3339((deps.clock)()),
        "message": e.line(),
    });
    if let Ok(Some(g)) = store.lock(
        &id,
        Mode::Exclusive,
        Instant::now() + Duration::from_secs(2),
    ) {
        let _ = store.write(&g, &id, doc.to_string().as_bytes());
    }
}

/// The refresh token and the registration of a cached session, read from the OS keyring
/// where they are kept there (only when the session is to be renewed, never on a hit);
/// `None`, with a warning, when they cannot be had: the person signs in again.
fn reveal(old: &AccessSession, deadline: Instant) -> Option<(Secret, Registration)> {
    let (kept, stored) = (old.refresh_token.as_ref()?, old.registration.as_ref()?);
    match secret_store::reveal(kept, deadline).and_then(|rt| Ok((rt, stored.reveal(deadline)?))) {
        Ok(pair) => Some(pair),
        Err(e) => {
            warn!(
                "cannot read the refresh token, so the access token cannot be renewed silently: {e}"
            );
            None
        }
    }
}

/// Puts a session's long-lived secrets (refresh token, client secret) where
/// `redshift_idc_secret_store` says before it is cached, and removes keyring items the
/// session it replaces no longer needs.
fn keep(
    cfg: &AccessConfig,
    key: &AccessKey,
    mut s: AccessSession,
    previous: Option<&AccessSession>,
) -> Result<AccessSession, Error> {
    let deadline = Instant::now() + cfg.signin_timeout;
    if let Some(Kept::Inline(t)) = &s.refresh_token
        && let Some(id) = key.refresh_token_id()
    {
        s.refresh_token = Some(secret_store::keep(
            cfg.secret_store,
            &id,
            t,
            deadline,
            Fallback::Notice,
        )?);
    }
    if let Some(r) = &mut s.registration
        && let Kept::Inline(secret) = &r.client_secret
        && let Some(id) = SecretId::of("access", &key.id, "client_secret")
    {
        r.client_secret =
            secret_store::keep(cfg.secret_store, &id, secret, deadline, Fallback::Quiet)?;
    }
    if let Some(old @ Kept::Keyring(_)) = previous.and_then(|p| p.refresh_token.as_ref())
        && s.refresh_token.as_ref() != Some(old)
    {
        let _ = secret_store::forget(old, deadline);
    }
    Ok(s)
}

/// The registration for `key`: the cached one while it lasts, else a new one (cached, its
/// secret where `redshift_idc_secret_store` says).
fn registration(
    plan: &Plan<'_>,
    deps: &Deps<'_>,
    key: &AccessKey,
    redirect: &str,
) -> Result<StoredRegistration, Error> {
    let id = key.registration(plan.authorize_endpoint, redirect);
    let now = (deps.clock)();
    if let Some(store) = deps.store
        && let Ok(bytes) = store.read(&id)
        && let Ok(r) = session::decode_registration(&bytes)
        && r.expires_at > now + REGISTRATION_BUFFER
    {
        return Ok(r);
    }
    let r = deps
        .oidc
        .register_client(redirect, Instant::now() + plan.call_timeout)?;
    let deadline = Instant::now() + plan.config.signin_timeout;
    let secret = match SecretId::new(&format!("access/{id}/client_secret")) {
        Some(sid) => secret_store::keep(
            plan.config.secret_store,
            &sid,
            &r.client_secret,
            deadline,
            Fallback::Quiet,
        )?,
        None => Kept::Inline(r.client_secret.clone()),
    };
    let stored = StoredRegistration {
        client_id: r.client_id,
        client_secret: secret,
        expires_at: r.expires_at,
    };
    if let Some(store) = deps.store
        && let Ok(Some(g)) = store.lock(
            &id,
            Mode::Exclusive,
            Instant::now() + Duration::from_secs(2),
        )
    {
        let _ = store.write(&g, &id, &session::encode_registration(&stored));
    }
    Ok(stored)
}

fn sign_in(
    plan: &Plan<'_>,
    deps: &Deps<'_>,
    key: &AccessKey,
    had_session: bool,
) -> Result<AccessSession, Error> {
    let cfg = plan.config;
    let Source::SignIn {
        start_url, kind, ..
    } = &cfg.source
    else {
        return Err(Error::Internal("sign-in for an sso-session".into()));
    };
    if cfg.no_browser && *kind == SigninKind::Browser {
        return Err(if had_session {
            SigninError::RefreshExpired
        } else {
            SigninError::NotSignedIn {
                profile: cfg.profile.clone(),
            }
        }
        .into());
    }
    let redirect = redirect_uri(cfg.listen_port);
    let stored = registration(plan, deps, key, &redirect)?;
    let reg = stored.reveal(Instant::now() + cfg.signin_timeout)?;
    let deadline = Instant::now() + cfg.signin_timeout;
    let tokens = match kind {
        SigninKind::Device => {
            let start_url = start_url
                .as_deref()
                .ok_or_else(|| Error::Internal("device kind without a start URL".into()))?;
            device(plan, deps, &reg, start_url, deadline)?
        }
        _ => {
            let pkce = Pkce::generate()?;
            let scopes = [REDSHIFT_CONNECT_SCOPE.to_owned()];
            let request = AuthorizeRequest {
                endpoint: plan.authorize_endpoint,
                client_id: &reg.client_id,
                scopes: &scopes,
                code_challenge: &pkce.challenge,
                state: &pkce.state,
            };
            let got = deps.authorizer.authorize(&request, deadline)?;
            let grant = TokenGrant::AuthorizationCode {
                code: &got.code,
                redirect_uri: &got.redirect_uri,
                code_verifier: &pkce.verifier,
            };
            deps.oidc
                .create_token(&reg, grant, Instant::now() + plan.call_timeout)?
                .map_err(|_| SigninError::TimedOut {
                    seconds: cfg.signin_timeout.as_secs(),
                })?
        }
    };
    Ok(AccessSession {
        meta: key.meta.clone(),
        access_token: tokens.access_token,
        expires_at: tokens.expires_at,
        refresh_token: tokens.refresh_token.map(Kept::Inline),
        // The registration as its own entry keeps it: one keyring item, not one a session.
        registration: Some(stored),
        signed_in: (deps.clock)(),
    })
}

/// The device code: one short paragraph for the person, then polls `CreateToken` at the
/// service's interval (longer after a slow-down) until approved, refused, expired or
/// `deadline`.
fn device(
    plan: &Plan<'_>,
    deps: &Deps<'_>,
    reg: &Registration,
    start_url: &str,
    deadline: Instant,
) -> Result<crate::aws::sso_oidc::AccessTokens, Error> {
    let auth =
        deps.oidc
            .start_device_authorization(reg, start_url, Instant::now() + plan.call_timeout)?;
    let url = auth
        .verification_uri_complete
        .clone()
        .unwrap_or_else(|| auth.verification_uri.clone());
    (deps.tell)(&format!(
        "To sign in to Redshift, open {url} on any device and confirm the code {} (or enter it at {}).",
        auth.user_code, auth.verification_uri
    ));
    let end = deadline.min(auth.expires_at);
    let mut interval = auth.interval;
    loop {
        if Instant::now() + interval >= end {
            return Err(if end == auth.expires_at && end < deadline {
                SigninError::DeviceCodeExpired
            } else {
                SigninError::TimedOut {
                    seconds: plan.config.signin_timeout.as_secs(),
                }
            }
            .into());
        }
        std::thread::sleep(interval);
        let grant = TokenGrant::DeviceCode {
            device_code: &auth.device_code,
        };
        match deps
            .oidc
            .create_token(reg, grant, Instant::now() + plan.call_timeout)?
        {
            Ok(tokens) => return Ok(tokens),
            Err(Poll::Pending) => {}
            Err(Poll::SlowDown) => interval += SLOW_DOWN_STEP,
        }
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
