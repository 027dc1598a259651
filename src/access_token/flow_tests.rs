//! The access-token policy's tests, with a fake sso-oidc, browser and store (`flow.rs`).

use std::sync::Mutex;

use super::*;
use crate::aws::sso_oidc::{AccessTokens, DeviceAuthorization};
use crate::signin::service::Authorized;
use crate::token::Secret;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
    refresh_fails: bool,
    polls_pending: Mutex<u32>,
}

impl Fake {
    fn log(&self, s: &str) {
        self.calls.lock().unwrap().push(s.to_owned());
    }
    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
}

fn tokens(name: &str) -> AccessTokens {
    AccessTokens {
        access_token: Secret::new(name.into()),
        expires_at: SystemTime::now() + Duration::from_secs(3600),
        refresh_token: Some(Secret::new(format!("rt-{name}"))),
    }
}

impl SsoOidc for Fake {
    fn register_client(&self, uri: &str, _: Instant) -> Result<Registration, Error> {
        self.log(&format!("register {uri}"));
        Ok(Registration {
            client_id: "client".into(),
            client_secret: Secret::new("secret".into()),
            expires_at: SystemTime::now() + Duration::from_secs(90 * 86_400),
        })
    }
    fn create_token(
        &self,
        _: &Registration,
        grant: TokenGrant<'_>,
        _: Instant,
    ) -> Result<Result<AccessTokens, Poll>, Error> {
        self.log(grant.name());
        match grant {
            TokenGrant::RefreshToken { .. } if self.refresh_fails => {
                Err(SigninError::RefreshExpired.into())
            }
            TokenGrant::RefreshToken { .. } => Ok(Ok(tokens("refreshed"))),
            TokenGrant::DeviceCode { .. } => {
                let mut left = self.polls_pending.lock().unwrap();
                if *left > 0 {
                    *left -= 1;
                    return Ok(Err(Poll::Pending));
                }
                Ok(Ok(tokens("device")))
            }
            TokenGrant::AuthorizationCode { .. } => Ok(Ok(tokens("browser"))),
        }
    }
    fn start_device_authorization(
        &self,
        _: &Registration,
        start_url: &str,
        _: Instant,
    ) -> Result<DeviceAuthorization, Error> {
        self.log(&format!("device {start_url}"));
        Ok(DeviceAuthorization {
            device_code: Secret::new("dc".into()),
            user_code: "ABCD-EFGH".into(),
            verification_uri: "https://device".into(),
            verification_uri_complete: Some("https://device?user_code=ABCD-EFGH".into()),
            expires_at: Instant::now() + Duration::from_secs(60),
            interval: Duration::from_millis(10),
        })
    }
}

impl Authorize for Fake {
    fn authorize(&self, r: &AuthorizeRequest<'_>, _: Instant) -> Result<Authorized, Error> {
        self.log(&format!("browser {}", r.scopes.join(" ")));
        Ok(Authorized {
            code: Secret::new("code".into()),
            redirect_uri: redirect_uri(7890),
        })
    }
}

fn cfg(kind: SigninKind) -> AccessConfig {
    AccessConfig {
        profile: "p".into(),
        source: Source::SignIn {
            issuer_url: "https://i".into(),
            start_url: Some("https://d/start".into()),
            kind,
        },
        idc_region: "us-east-1".into(),
        listen_port: 7890,
        signin_timeout: Duration::from_secs(5),
        no_browser: false,
        browser: None,
        secret_store: crate::secret_store::Choice::File,
    }
}

fn run(
    fake: &Fake,
    cfg: &AccessConfig,
    store: &Store,
    want: Want,
) -> Result<(AccessSession, Origin), Error> {
    let told = Mutex::new(String::new());
    token(
        &Plan {
            config: cfg,
            authorize_endpoint: "https://oidc/authorize",
            call_timeout: Duration::from_secs(5),
            min_validity: Duration::from_secs(300),
        },
        &Deps {
            oidc: fake,
            authorizer: fake,
            store: Some(store),
            clock: &SystemTime::now,
            tell: &|s| told.lock().unwrap().push_str(s),
        },
        want,
    )
}

#[test]
fn one_registration_and_sign_in_then_the_cache_then_a_refresh() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &session::store_name()).unwrap();
    let fake = Fake::default();
    let c = cfg(SigninKind::Browser);
    let (s, origin) = run(&fake, &c, &store, Want::Fresh).unwrap();
    assert_eq!(
        (s.access_token.expose(), origin),
        ("browser", Origin::SignedIn)
    );
    assert_eq!(
        fake.calls(),
        [
            "register http://127.0.0.1:7890/oauth/callback",
            "browser redshift:connect",
            "authorization_code"
        ]
    );
    let (_, origin) = run(&fake, &c, &store, Want::Fresh).unwrap();
    assert_eq!(origin, Origin::Cache);
    assert_eq!(fake.calls().len(), 3, "a hit calls nothing");

    // An expiring token is renewed with the refresh token, without a browser.
    let key = AccessKey::new(&c);
    let mut old = cached(Some(&store), &key).unwrap();
    old.expires_at = SystemTime::now() + Duration::from_secs(60);
    let g = store
        .lock(&key.id, Mode::Exclusive, Instant::now())
        .unwrap()
        .unwrap();
    store.write(&g, &key.id, &old.encode()).unwrap();
    drop(g);
    let (s, origin) = run(&fake, &c, &store, Want::Fresh).unwrap();
    assert_eq!(
        (s.access_token.expose(), origin),
        ("refreshed", Origin::Refreshed)
    );
    assert_eq!(fake.calls().last().unwrap(), "refresh_token");

    // A forced sign-in reuses the registration.
    run(&fake, &c, &store, Want::NewSignIn).unwrap();
    assert_eq!(
        fake.calls()
            .iter()
            .filter(|c| c.starts_with("register"))
            .count(),
        1
    );
}

#[test]
fn a_refused_refresh_signs_in_again_and_no_browser_says_to_log_in() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &session::store_name()).unwrap();
    let fake = Fake {
        refresh_fails: true,
        ..Fake::default()
    };
    let mut c = cfg(SigninKind::Browser);
    run(&fake, &c, &store, Want::Fresh).unwrap();
    let key = AccessKey::new(&c);
    let mut old = cached(Some(&store), &key).unwrap();
    old.expires_at = SystemTime::now() + Duration::from_secs(10);
    let g = store
        .lock(&key.id, Mode::Exclusive, Instant::now())
        .unwrap()
        .unwrap();
    store.write(&g, &key.id, &old.encode()).unwrap();
    drop(g);
    c.no_browser = true;
    let e = run(&fake, &c, &store, Want::Fresh).unwrap_err();
    assert_eq!(e.exit_code() as u8, 6, "{e}");
    c.no_browser = false;
    let (s, origin) = run(&fake, &c, &store, Want::Fresh).unwrap();
    assert_eq!(
        (s.access_token.expose(), origin),
        ("browser", Origin::SignedIn)
    );
}

#[test]
fn the_device_code_polls_until_approved() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), &session::store_name()).unwrap();
    let fake = Fake {
        polls_pending: Mutex::new(2),
        ..Fake::default()
    };
    let (s, _) = run(&fake, &cfg(SigninKind::Device), &store, Want::Fresh).unwrap();
    assert_eq!(s.access_token.expose(), "device");
    let calls = fake.calls();
    assert_eq!(calls[1], "device https://d/start");
    assert_eq!(
        calls.iter().filter(|c| c.contains("device_code")).count(),
        3
    );
}
