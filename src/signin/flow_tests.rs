//! The sign-in policy's tests, with fake Identity Center, browser and clock (`flow.rs`).

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
        secret_store: crate::secret_store::Choice::File,
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
    let kept = s.refresh_token.unwrap();
    let kept = crate::secret_store::reveal(&kept, Instant::now()).unwrap();
    assert_eq!(kept.expose(), "rt-0", "the refresh token is kept");
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
