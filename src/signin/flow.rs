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
        && let Some(rt) = &old.refresh_token
    {
        had_session = true;
        match renew(plan, deps, key, old, rt) {
            Ok(Renewal::Renewed(s)) => {
                store_session(deps.store, guard, key, &s);
                return Ok((*s, Origin::Refreshed));
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
    store_session(deps.store, guard, key, &s);
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
        refresh_token: tokens.refresh_token,
        credentials,
        jwt_person: None,
        renewal_failed: None,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::signin::jwt::{self, JwtSource};
    use crate::signin::service::Authorized;
    use crate::signin::session::RoleCredentials;
    use crate::token::Secret;

    /// sso-oidc and STS as counters; answers per grant, with scripted refresh failures.
    #[derive(Default)]
    struct FakeIdc {
        jwt: AtomicU32,
        code: AtomicU32,
        refresh: AtomicU32,
        assume: AtomicU32,
        /// What the next refresh does: None = works, Some(true) = refresh token expired,
        /// Some(false) = a transient failure.
        refresh_fails: Mutex<Option<bool>>,
        ttl: u64,
        delay: Duration,
        last_verifier: Mutex<Option<String>>,
    }

    impl IdentityCenter for FakeIdc {
        fn create_token_with_iam(&self, grant: Grant<'_>, _: Instant) -> Result<IdcTokens, Error> {
            std::thread::sleep(self.delay);
            let n = match grant {
                Grant::JwtBearer { assertion } => {
                    assert!(assertion.expose().contains('.'));
                    self.jwt.fetch_add(1, Ordering::SeqCst)
                }
                Grant::AuthorizationCode {
                    code,
                    code_verifier,
                    ..
                } => {
                    assert_eq!(code.expose(), "the-code");
                    *self.last_verifier.lock().unwrap() = Some(code_verifier.expose().to_owned());
                    self.code.fetch_add(1, Ordering::SeqCst)
                }
                Grant::RefreshToken { refresh_token } => {
                    assert!(refresh_token.expose().starts_with("rt-"));
                    self.refresh.fetch_add(1, Ordering::SeqCst);
                    match *self.refresh_fails.lock().unwrap() {
                        Some(true) => return Err(SigninError::RefreshExpired.into()),
                        Some(false) => {
                            return Err(Error::ServiceFailure {
                                code: "InternalServerException".into(),
                                message: "down".into(),
                            });
                        }
                        None => return Ok(tokens("ann", None)),
                    }
                }
            };
            Ok(tokens("ann", Some(format!("rt-{n}"))))
        }

        fn assume_role(
            &self,
            name: &str,
            d: Duration,
            ctx: &Secret,
            _: Instant,
        ) -> Result<RoleCredentials, Error> {
            assert!(name.starts_with("redshift-idc-token-"));
            assert_eq!(ctx.expose(), "ctx-ann");
            assert_eq!(d, Duration::from_secs(3600));
            let n = self.assume.fetch_add(1, Ordering::SeqCst);
            Ok(RoleCredentials {
                access_key_id: format!("ASIA{n}"),
                secret_access_key: Secret::new("s".into()),
                session_token: Secret::new("t".into()),
                expiration: SystemTime::now() + Duration::from_secs(self.ttl),
            })
        }
    }

    fn tokens(user: &str, rt: Option<String>) -> IdcTokens {
        IdcTokens {
            user: user.into(),
            identity_context: Secret::new(format!("ctx-{user}")),
            refresh_token: rt.map(Secret::new),
        }
    }

    /// A browser that signs the person in at once, and counts.
    #[derive(Default)]
    struct FakeBrowser {
        opened: AtomicU32,
        challenge: Mutex<Option<String>>,
        /// The person refuses the sign-in.
        refuse: bool,
    }

    impl Authorize for FakeBrowser {
        fn authorize(&self, r: &AuthorizeRequest<'_>, _: Instant) -> Result<Authorized, Error> {
            self.opened.fetch_add(1, Ordering::SeqCst);
            assert_eq!(r.endpoint, "http://idc/authorize");
            assert_eq!(r.state.len(), 43);
            *self.challenge.lock().unwrap() = Some(r.code_challenge.to_owned());
            if self.refuse {
                return Err(SigninError::BrowserRefused {
                    error: "access_denied".into(),
                    description: String::new(),
                }
                .into());
            }
            Ok(Authorized {
                code: Secret::new("the-code".into()),
                redirect_uri: "http://127.0.0.1:7890/oauth/callback".into(),
            })
        }
    }

    /// Empty shared files: the fakes need no profile.
    fn no_files() -> SharedConfig {
        SharedConfig::from_texts("", "").expect("empty files parse")
    }

    fn config(kind: SigninKind) -> SigninConfig {
        SigninConfig {
            profile: "default".into(),
            application_arn: "arn:aws:sso::123456789012:application/ssoins-1/apl-1".into(),
            role_arn: "arn:aws:iam::123456789012:role/R".into(),
            kind,
            jwt: (kind == SigninKind::Jwt).then(|| JwtSource::Env("J".into())),
            idc_region: None,
            issuer_url: None,
            authorize_url: None,
            scopes: vec!["openid".into()],
            bootstrap_profile: None,
            session_duration: Duration::from_secs(3600),
            listen_port: 0,
            browser: None,
            signin_timeout: Duration::from_secs(5),
            no_browser: false,
        }
    }

    struct World {
        _dir: tempfile::TempDir,
        store: Store,
        env: Env,
        idc: FakeIdc,
        browser: FakeBrowser,
    }

    fn world(ttl: u64) -> World {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), super::super::session::STORE).unwrap();
        let jwt = jwt::make(&serde_json::json!({"iss": "https://idp", "sub": "ann"}));
        World {
            _dir: dir,
            store,
            env: Env::from_pairs([("J", jwt.as_str())]),
            idc: FakeIdc {
                ttl,
                ..FakeIdc::default()
            },
            browser: FakeBrowser::default(),
        }
    }

    fn run(
        w: &World,
        cfg: &SigninConfig,
        want: Want,
        at: SystemTime,
    ) -> Result<(Session, Origin), Error> {
        run_timed(w, cfg, want, at, Duration::from_secs(5))
    }

    fn run_timed(
        w: &World,
        cfg: &SigninConfig,
        want: Want,
        at: SystemTime,
        call_timeout: Duration,
    ) -> Result<(Session, Origin), Error> {
        let clock = move || at;
        session(
            &Plan {
                config: cfg,
                idc_region: "us-east-1",
                authorize_endpoint: "http://idc/authorize",
                call_timeout,
                files: &no_files(),
            },
            &Deps {
                idc: &w.idc,
                authorizer: &w.browser,
                env: &w.env,
                store: Some(&w.store),
                clock: &clock,
            },
            want,
        )
    }

    fn counts(w: &World) -> [u32; 5] {
        let i = &w.idc;
        [
            i.jwt.load(Ordering::SeqCst),
            i.code.load(Ordering::SeqCst),
            i.refresh.load(Ordering::SeqCst),
            i.assume.load(Ordering::SeqCst),
            w.browser.opened.load(Ordering::SeqCst),
        ]
    }

    #[test]
    fn jwt_sign_in_then_cache_then_refresh_before_expiry() {
        let w = world(3600);
        let cfg = config(SigninKind::Jwt);
        let now = SystemTime::now();
        let (s, o) = run(&w, &cfg, Want::Fresh, now).unwrap();
        assert_eq!((o, s.user.as_str()), (Origin::SignedIn, "ann"));
        assert_eq!(counts(&w), [1, 0, 0, 1, 0]);
        let (_, o) = run(&w, &cfg, Want::Fresh, now + Duration::from_secs(3299)).unwrap();
        assert_eq!(o, Origin::Cache);
        assert_eq!(counts(&w), [1, 0, 0, 1, 0], "a fresh session makes no call");
        // Within the refresh buffer: renewed silently with the refresh token.
        let (s, o) = run(&w, &cfg, Want::Fresh, now + Duration::from_secs(3301)).unwrap();
        assert_eq!(o, Origin::Refreshed);
        assert_eq!(counts(&w), [1, 0, 1, 2, 0]);
        assert_eq!(
            s.refresh_token.unwrap().expose(),
            "rt-0",
            "the refresh token is kept"
        );
    }

    #[test]
    fn browser_sign_in_uses_pkce_and_refreshes_without_a_browser() {
        let w = world(3600);
        let cfg = config(SigninKind::Browser);
        let now = SystemTime::now();
        run(&w, &cfg, Want::Fresh, now).unwrap();
        assert_eq!(counts(&w), [0, 1, 0, 1, 1]);
        let verifier = w.idc.last_verifier.lock().unwrap().clone().unwrap();
        let challenge = w.browser.challenge.lock().unwrap().clone().unwrap();
        assert_eq!(crate::signin::pkce::challenge_of(&verifier), challenge);
        let later = now + Duration::from_secs(4000);
        let (_, o) = run(&w, &cfg, Want::Fresh, later).unwrap();
        assert_eq!(o, Origin::Refreshed);
        assert_eq!(counts(&w), [0, 1, 1, 2, 1], "no second browser window");
    }

    #[test]
    fn an_expired_refresh_token_signs_in_again_or_says_to_log_in() {
        let w = world(3600);
        let mut cfg = config(SigninKind::Browser);
        let now = SystemTime::now();
        run(&w, &cfg, Want::Fresh, now).unwrap();
        *w.idc.refresh_fails.lock().unwrap() = Some(true);
        let later = now + Duration::from_secs(4000);
        cfg.no_browser = true;
        let err = run(&w, &cfg, Want::Fresh, later).unwrap_err();
        assert_eq!(err.exit_code() as u8, 6);
        assert!(
            err.to_string().contains("run `redshift-idc-token login`"),
            "{err}"
        );
        cfg.no_browser = false;
        let (_, o) = run(&w, &cfg, Want::Fresh, later).unwrap();
        assert_eq!(o, Origin::SignedIn);
        assert_eq!(counts(&w), [0, 2, 2, 2, 2]);
    }

    #[test]
    fn a_failed_refresh_serves_still_valid_credentials() {
        let w = world(3600);
        let cfg = config(SigninKind::Browser);
        let now = SystemTime::now();
        let (first, _) = run(&w, &cfg, Want::Fresh, now).unwrap();
        *w.idc.refresh_fails.lock().unwrap() = Some(false);
        let (s, o) = run(&w, &cfg, Want::Fresh, now + Duration::from_secs(3400)).unwrap();
        assert_eq!(
            (o, s.credentials.access_key_id),
            (Origin::Cache, first.credentials.access_key_id)
        );
        let err = run(&w, &cfg, Want::Fresh, now + Duration::from_secs(3590)).unwrap_err();
        assert_eq!(
            err.exit_code() as u8,
            5,
            "expired credentials are never served"
        );
    }

    #[test]
    fn no_browser_and_not_signed_in() {
        let w = world(3600);
        let mut cfg = config(SigninKind::Browser);
        cfg.no_browser = true;
        let err = run(&w, &cfg, Want::Fresh, SystemTime::now()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "not signed in (profile default) and --no-browser was given: run `redshift-idc-token login` first"
        );
        assert_eq!(counts(&w), [0, 0, 0, 0, 0]);
    }

    #[test]
    fn login_force_signs_in_even_when_fresh() {
        let w = world(3600);
        let cfg = config(SigninKind::Browser);
        let now = SystemTime::now();
        run(&w, &cfg, Want::Fresh, now).unwrap();
        let (_, o) = run(&w, &cfg, Want::NewSignIn, now).unwrap();
        assert_eq!(o, Origin::SignedIn);
        assert_eq!(counts(&w), [0, 2, 0, 2, 2]);
    }

    #[test]
    fn another_person_in_the_jwt_is_another_session() {
        let mut w = world(3600);
        let cfg = config(SigninKind::Jwt);
        let now = SystemTime::now();
        run(&w, &cfg, Want::Fresh, now).unwrap();
        let bob = jwt::make(&serde_json::json!({"iss": "https://idp", "sub": "bob"}));
        w.env = Env::from_pairs([("J", bob.as_str())]);
        run(&w, &cfg, Want::Fresh, now).unwrap();
        assert_eq!(counts(&w)[0], 2, "bob's JWT is not served ann's session");
    }

    #[test]
    fn concurrent_cold_callers_share_one_sign_in() {
        let mut w = world(3600);
        w.idc.delay = Duration::from_millis(100);
        let cfg = config(SigninKind::Browser);
        let now = SystemTime::now();
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| run(&w, &cfg, Want::Fresh, now).unwrap().1))
                .collect();
            let origins: Vec<Origin> = handles.into_iter().map(|h| h.join().unwrap()).collect();
            assert_eq!(
                origins.iter().filter(|o| **o == Origin::SignedIn).count(),
                1
            );
        });
        assert_eq!(counts(&w), [0, 1, 0, 1, 1]);
    }

    #[test]
    fn waiting_for_someone_elses_sign_in_is_bounded() {
        let w = world(3600);
        let mut cfg = config(SigninKind::Browser);
        cfg.signin_timeout = Duration::from_millis(100);
        let key = Plan {
            config: &cfg,
            idc_region: "us-east-1",
            authorize_endpoint: "",
            call_timeout: Duration::from_secs(1),
            files: &no_files(),
        }
        .key(&w.env);
        let _held = w
            .store
            .lock(
                &key.id,
                Mode::Exclusive,
                Instant::now() + Duration::from_secs(1),
            )
            .unwrap()
            .unwrap();
        // The sign-in's own bound and its calls' (none here), and a second more.
        let t0 = Instant::now();
        let err = run_timed(&w, &cfg, Want::Fresh, SystemTime::now(), Duration::ZERO).unwrap_err();
        assert!(
            t0.elapsed() >= Duration::from_millis(1100),
            "{:?}",
            t0.elapsed()
        );
        assert!(
            err.to_string()
                .starts_with("another process's sign-in did not finish within 1 s"),
            "{err}"
        );
        assert_eq!(err.exit_code() as u8, 6);
    }

    #[test]
    fn a_failed_renewal_is_not_tried_again_before_the_minimum_interval() {
        use crate::signin::session::MIN_TIME_BETWEEN_RENEWALS;
        let w = world(3600);
        let cfg = config(SigninKind::Browser);
        let now = SystemTime::now();
        let (first, _) = run(&w, &cfg, Want::Fresh, now).unwrap();
        *w.idc.refresh_fails.lock().unwrap() = Some(false);
        let failed_at = now + Duration::from_secs(3400);
        let (s, o) = run(&w, &cfg, Want::Fresh, failed_at).unwrap();
        assert_eq!(o, Origin::Cache);
        assert_eq!(s.credentials.access_key_id, first.credentials.access_key_id);
        assert_eq!(counts(&w), [0, 1, 1, 1, 1]);
        // Within the interval: the still-valid credentials, no attempt.
        let soon = failed_at + MIN_TIME_BETWEEN_RENEWALS - Duration::from_secs(1);
        let (_, o) = run(&w, &cfg, Want::Fresh, soon).unwrap();
        assert_eq!(o, Origin::Cache);
        assert_eq!(
            counts(&w),
            [0, 1, 1, 1, 1],
            "no renewal within the interval"
        );
        // After it: tried again, and now it works.
        *w.idc.refresh_fails.lock().unwrap() = None;
        let (_, o) = run(&w, &cfg, Want::Fresh, failed_at + MIN_TIME_BETWEEN_RENEWALS).unwrap();
        assert_eq!(o, Origin::Refreshed);
        assert_eq!(counts(&w), [0, 1, 2, 2, 1]);
    }

    #[test]
    fn a_jwt_command_naming_another_person_at_renewal_signs_that_person_in() {
        let w = world(3600);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwt");
        let write = |sub: &str| {
            let jwt = jwt::make(&serde_json::json!({"iss": "https://idp", "sub": sub}));
            std::fs::write(&file, jwt).unwrap();
        };
        let mut cfg = config(SigninKind::Jwt);
        cfg.jwt = Some(JwtSource::Command(format!("cat '{}'", file.display())));
        write("ann");
        let now = SystemTime::now();
        run(&w, &cfg, Want::Fresh, now).unwrap();
        assert_eq!(counts(&w), [1, 0, 0, 1, 0]);
        // Same person at renewal: the refresh token, as before.
        let (_, o) = run(&w, &cfg, Want::Fresh, now + Duration::from_secs(3400)).unwrap();
        assert_eq!(o, Origin::Refreshed);
        assert_eq!(counts(&w), [1, 0, 1, 2, 0]);
        // Another person: a new sign-in with the JWT just read, never a renewal.
        write("bob");
        let later = now + Duration::from_secs(3400 + 3400);
        let (_, o) = run(&w, &cfg, Want::Fresh, later).unwrap();
        assert_eq!(o, Origin::SignedIn);
        assert_eq!(counts(&w), [2, 0, 1, 3, 0]);
    }

    #[test]
    fn waiters_of_a_refused_sign_in_end_with_its_outcome_and_no_browser() {
        let mut w = world(3600);
        w.browser.refuse = true;
        w.idc.delay = Duration::from_millis(200);
        let cfg = config(SigninKind::Browser);
        let now = SystemTime::now();
        let errors: Vec<Error> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| s.spawn(|| run(&w, &cfg, Want::Fresh, now).unwrap_err()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(w.browser.opened.load(Ordering::SeqCst), 1);
        for e in &errors {
            assert_eq!(e.exit_code() as u8, 6);
            assert_eq!(e.line(), errors[0].line());
        }
        assert!(
            errors[0].line().contains("access_denied"),
            "{}",
            errors[0].line()
        );
        // A run that starts after the outcome asks the person again.
        w.browser.refuse = false;
        let (_, o) = run(&w, &cfg, Want::Fresh, now + Duration::from_millis(1)).unwrap();
        assert_eq!(o, Origin::SignedIn);
        assert_eq!(w.browser.opened.load(Ordering::SeqCst), 2);
    }
}
