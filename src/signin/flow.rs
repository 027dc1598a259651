//! The sign-in policy: serve the cached session while it is fresh; else, once among all
//! processes, renew it with the refresh token, or sign the person in again (JWT or browser),
//! assume the role with the identity context, and cache the result.
//!
//! Single flight: the session's lock is held across re-read, refresh or sign-in, AssumeRole
//! and write, so 16 drivers starting together with nobody signed in cause one browser window,
//! one CreateTokenWithIAM and one AssumeRole; the other 15 wait for the lock (at most
//! [`wait_bound`]: the sign-in timeout, separate from `--timeout` because a person is typing a
//! password, plus the calls around it) and then read the outcome: the fresh session, or the
//! failure the signing-in process recorded under the lock, with which they end at once (same
//! status, same message, no browser).
//!
//! Renewal, as in aws-config's SSO token provider: a refresh that fails while the cached
//! credentials still work serves the cached credentials, and the next attempt waits
//! `MIN_TIME_BETWEEN_RENEWALS`, so while sso-oidc is down runs are not each held up for
//! `--timeout`.
//!
//! The right person: the key names the person of a JWT file or variable. A JWT command is
//! not run for the key (that would run it on every hit); instead the session records the
//! person the command printed at sign-in, and every renewal runs the command again: another
//! person there is a new sign-in with that JWT, never a renewal of the old session.

use std::time::{Duration, Instant, SystemTime};

use tracing::{info, warn};

use super::SigninError;
use super::config::{SigninConfig, SigninKind};
use super::pkce::Pkce;
use super::service::{Authorize, AuthorizeRequest};
use super::session::{
    Failure, MIN_TIME_BETWEEN_RENEWALS, Session, SessionKey, cached, failure, person_digest,
    record_failure, session_name, store_session,
};
use super::session::{keep_session, reveal_refresh_token};
use crate::aws::config::shared_config::SharedConfig;
use crate::aws::identity_center::{Grant, IdcTokens, IdentityCenter};
use crate::cache::{LockGuard, Mode, Store};
use crate::env::Env;
use crate::error::Error;
use crate::token::Secret;

/// Where a session came from, for `-v` and `login`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Cache,
    Refreshed,
    SignedIn,
}

/// What the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// A fresh session, from the cache if possible (token commands, `credentials`, `login`).
    Fresh,
    /// A new sign-in even if a session is cached (`login --force`).
    NewSignIn,
}

/// The outside world of one sign-in.
pub struct Deps<'a> {
    pub idc: &'a dyn IdentityCenter,
    pub authorizer: &'a dyn Authorize,
    pub env: &'a Env,
    /// The session store, or `None` when the cache cannot be used (no single flight then).
    pub store: Option<&'a Store>,
    pub clock: &'a dyn Fn() -> SystemTime,
}

/// The settings of one sign-in, resolved.
pub struct Plan<'a> {
    pub config: &'a SigninConfig,
    pub idc_region: &'a str,
    /// `.../authorize` for the browser kind.
    pub authorize_endpoint: &'a str,
    /// `--timeout`: the bound of each network step.
    pub call_timeout: Duration,
    /// The shared files as read once for the run: the bootstrap identity's fingerprint.
    pub files: &'a SharedConfig,
}

impl Plan<'_> {
    pub fn key(&self, env: &Env) -> SessionKey {
        let person = self.config.jwt.as_ref().and_then(|j| j.subject_hint(env));
        let chain = crate::aws::config::chain::fingerprint(
            env,
            self.files,
            self.config.bootstrap_profile(),
            Instant::now() + self.call_timeout,
        );
        SessionKey::new(self.config, self.idc_region, &chain, person.as_deref())
    }
}

/// How long a run waits for another's sign-in: as long as that sign-in may take (the person's
/// part, `--signin-timeout`, and its three calls, each bounded by `--timeout`) and a second
/// more, so a waiter outlasts the sign-in it waits for and learns how it ended.
pub fn wait_bound(plan: &Plan<'_>) -> Duration {
    plan.config.signin_timeout + plan.call_timeout * 3 + Duration::from_secs(1)
}

/// A session for `plan`, signing in if needed.
pub fn session(plan: &Plan<'_>, deps: &Deps<'_>, want: Want) -> Result<(Session, Origin), Error> {
    let key = plan.key(deps.env);
    let now = (deps.clock)();
    if want == Want::Fresh
        && let Some(s) = cached(deps.store, &key, now)
            .ok()
            .filter(|s| s.servable(now))
    {
        if s.is_fresh(now) {
            info!(user = %s.user, expires = %crate::token::rfc3339(s.credentials.expiration), "signed in (cached session)");
        } else {
            info!(user = %s.user, "a renewal failed moments ago; using the cached role credentials until the next attempt");
        }
        return Ok((s, Origin::Cache));
    }

    let waited_from = Instant::now();
    let waiting_since = now;
    let bound = wait_bound(plan);
    let guard = match deps.store {
        None => None,
        Some(store) => match store.lock(&key.id, Mode::Exclusive, waited_from + bound) {
            Ok(Some(g)) => Some(g),
            Ok(None) => {
                return Err(SigninError::WaitTimedOut {
                    seconds: bound.as_secs(),
                }
                .into());
            }
            Err(e) => {
                warn!(error = %e, "cannot lock the sign-in session; signing in without the cache");
                None
            }
        },
    };
    // Another process may have signed in, renewed, or failed while we waited.
    let now = (deps.clock)();
    let previous = cached(deps.store, &key, now);
    if let Ok(s) = &previous {
        let theirs = s.signed_in_after(waited_from, deps.clock);
        if (want == Want::Fresh && s.servable(now)) || (s.is_fresh(now) && theirs) {
            info!(user = %s.user, "signed in by another process");
            return Ok((s.clone(), Origin::Cache));
        }
    }
    if let Some(store) = deps.store
        && guard.is_some()
        && let Some(f) = failure(store, &key, now).filter(|f| f.recorded_since(waiting_since))
    {
        info!("the sign-in this run waited for failed; ending with its outcome");
        return Err(SigninError::Relayed {
            line: f.line,
            status: f.status,
        }
        .into());
    }

    let outcome = renew_or_sign_in(plan, deps, want, &key, previous.ok(), guard.as_ref(), now);
    // Tell the runs waiting for this one how it ended, unless the reason is this run's own
    // `--no-browser`, which theirs may not share.
    if let (Err(e), Some(store), Some(guard)) = (&outcome, deps.store, guard.as_ref())
        && !plan.config.no_browser
    {
        let f = Failure {
            at: (deps.clock)(),
            line: e.line(),
            status: e.exit_code(),
        };
        record_failure(store, guard, &key, &f);
    }
    outcome
}

/// Under the session's lock (`guard`, when there is a cache): renews `previous`, or signs
/// the person in, and caches the result.
fn renew_or_sign_in(
    plan: &Plan<'_>,
    deps: &Deps<'_>,
    want: Want,
    key: &SessionKey,
    previous: Option<Session>,
    guard: Option<&LockGuard>,
    now: SystemTime,
) -> Result<(Session, Origin), Error> {
    let mut had_session = false;
    let mut jwt = None;
    if want == Want::Fresh
        && let Some(old) = &previous
        && let Some(rt) = &reveal_refresh_token(old, Instant::now() + plan.config.signin_timeout)
    {
        had_session = true;
        match renew(plan, deps, key, old, rt) {
            Ok(Renewal::Renewed(s)) => {
                let s = keep_session(deps.store, guard, key, *s, plan.config, Some(old), true)?;
                return Ok((s, Origin::Refreshed));
            }
            Ok(Renewal::OtherPerson(new_jwt)) => {
                info!("the JWT command now names another person; signing them in");
                jwt = Some(new_jwt);
            }
            Err((Error::Signin(SigninError::RefreshExpired), read)) => {
                info!("the refresh token is no longer accepted; signing in again");
                jwt = read;
            }
            Err((e, _)) if old.is_valid(now) => {
                warn!(error = %e, "could not renew the session; using the cached role credentials until they expire (next attempt in {} s at the earliest)", MIN_TIME_BETWEEN_RENEWALS.as_secs());
                let mut kept = old.clone();
                kept.renewal_failed = Some(now);
                store_session(deps.store, guard, key, &kept);
                return Ok((kept, Origin::Cache));
            }
            Err((e, _)) => return Err(e),
        }
    }

    let (tokens, person) = sign_in(plan, deps, had_session, jwt)?;
    let mut s = assume(plan, deps, key, tokens)?;
    s.jwt_person = person;
    let s = keep_session(
        deps.store,
        guard,
        key,
        s,
        plan.config,
        previous.as_ref(),
        false,
    )?;
    info!(user = %s.user, "signed in");
    Ok((s, Origin::SignedIn))
}

impl Session {
    fn signed_in_after(&self, since: Instant, clock: &dyn Fn() -> SystemTime) -> bool {
        let since = clock() - since.elapsed();
        self.signed_in >= since
    }
}

/// What a renewal found.
enum Renewal {
    Renewed(Box<Session>),
    /// The JWT command names another person than the session's: sign in with this JWT.
    OtherPerson(Secret),
}

/// Renews `old` with its refresh token. When the key does not name the person (a JWT
/// command), the command is run first and must still name the session's person. An error
/// comes with the JWT if one was read, so a new sign-in need not run the command again.
fn renew(
    plan: &Plan<'_>,
    deps: &Deps<'_>,
    key: &SessionKey,
    old: &Session,
    refresh_token: &Secret,
) -> Result<Renewal, (Error, Option<Secret>)> {
    let deadline = Instant::now() + plan.call_timeout;
    let mut read = None;
    if plan.config.kind == SigninKind::Jwt && !key.names_person {
        let jwt = read_jwt(plan, deps, deadline).map_err(|e| (e, None))?;
        if jwt_person(&jwt) != old.jwt_person {
            return Ok(Renewal::OtherPerson(jwt));
        }
        read = Some(jwt);
    }
    let renewed = (|| {
        let mut tokens = deps
            .idc
            .create_token_with_iam(Grant::RefreshToken { refresh_token }, deadline)?;
        if tokens.refresh_token.is_none() {
            tokens.refresh_token = Some(refresh_token.clone());
        }
        let mut s = assume(plan, deps, key, tokens)?;
        s.signed_in = old.signed_in;
        s.jwt_person = old.jwt_person.clone();
        info!(user = %s.user, "renewed the session with the refresh token");
        Ok(s)
    })();
    renewed
        .map(|s| Renewal::Renewed(Box::new(s)))
        .map_err(|e| (e, read))
}

/// The configured JWT, read now (running the command).
fn read_jwt(plan: &Plan<'_>, deps: &Deps<'_>, deadline: Instant) -> Result<Secret, Error> {
    let source = plan
        .config
        .jwt
        .as_ref()
        .ok_or_else(|| Error::MissingSetting {
            what: "the jwt sign-in needs a JWT source".into(),
            fix: "set redshift_idc_jwt_command, redshift_idc_jwt_file or redshift_idc_jwt".into(),
        })?;
    source.read(deps.env, deadline)
}

/// [`person_digest`] of the person `jwt` names.
fn jwt_person(jwt: &Secret) -> Option<String> {
    super::jwt::person_of(jwt.expose()).map(|p| person_digest(&p))
}

/// A new sign-in of the person: the configured JWT (`jwt` when it was read already), or the
/// browser. Returns the tokens and, for a JWT, the digest of the person it names.
fn sign_in(
    plan: &Plan<'_>,
    deps: &Deps<'_>,
    had_session: bool,
    jwt: Option<Secret>,
) -> Result<(IdcTokens, Option<String>), Error> {
    let cfg = plan.config;
    match cfg.kind {
        SigninKind::Jwt => {
            let deadline = Instant::now() + plan.call_timeout;
            let jwt = match jwt {
                Some(j) => j,
                None => read_jwt(plan, deps, deadline)?,
            };
            let person = jwt_person(&jwt);
            let tokens = deps
                .idc
                .create_token_with_iam(Grant::JwtBearer { assertion: &jwt }, deadline)?;
            Ok((tokens, person))
        }
        SigninKind::Device => Err(Error::Internal(
            "the device kind reached the identity-enhanced sign-in".into(),
        )),
        SigninKind::Browser => {
            if cfg.no_browser {
                return Err(if had_session {
                    SigninError::RefreshExpired
                } else {
                    SigninError::NotSignedIn {
                        profile: cfg.profile.clone(),
                    }
                }
                .into());
            }
            deps.idc.prepare(Instant::now() + plan.call_timeout)?;
            let pkce = Pkce::generate()?;
            let request = AuthorizeRequest {
                endpoint: plan.authorize_endpoint,
                client_id: &cfg.application_arn,
                scopes: &cfg.scopes,
                code_challenge: &pkce.challenge,
                state: &pkce.state,
            };
            let got = deps
                .authorizer
                .authorize(&request, Instant::now() + cfg.signin_timeout)?;
            let tokens = deps.idc.create_token_with_iam(
                Grant::AuthorizationCode {
                    code: &got.code,
                    redirect_uri: &got.redirect_uri,
                    code_verifier: &pkce.verifier,
                },
                Instant::now() + plan.call_timeout,
            )?;
            Ok((tokens, None))
        }
    }
}

fn assume(
    plan: &Plan<'_>,
    deps: &Deps<'_>,
    key: &SessionKey,
    tokens: IdcTokens,
) -> Result<Session, Error> {
    let credentials = deps.idc.assume_role(
        &session_name(&tokens.user),
        plan.config.session_duration,
        &tokens.identity_context,
        Instant::now() + plan.call_timeout,
    )?;
    Ok(Session {
        meta: key.meta.clone(),
        user: tokens.user,
        signed_in: (deps.clock)(),
        refresh_token: tokens.refresh_token.map(crate::secret_store::Kept::Inline),
        credentials,
        jwt_person: None,
        renewal_failed: None,
    })
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
