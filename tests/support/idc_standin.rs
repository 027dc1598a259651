//! A local stand-in for the three endpoints of an Identity Center sign-in: sso-oidc
//! (`RegisterClient`, `CreateToken`, `CreateTokenWithIAM`), the authorization page a browser
//! opens (`/authorize`), and STS `AssumeRole` with an Identity Center context.
//!
//! Why it exists: trusted identity propagation is three calls in two wire formats and a
//! browser round trip, and the executable's sign-in is only proven if the real SDK, over real
//! HTTP, sends exactly what AWS accepts: restJson1 sso-oidc (`CreateTokenWithIAM` SigV4-signed
//! for `sso-oauth`, the other two unsigned), awsQuery STS (`ProvidedContexts.member.1.*`,
//! signed for `sts`), PKCE `S256` whose `code_verifier` must match the challenge, a `state`
//! that round-trips, refresh tokens that rotate and expire. So this module checks every one
//! of those, answers with the real shapes (sso-oidc errors: HTTP 400, or 401 for
//! `InvalidClientException`, with `x-amzn-ErrorType` and `{"error", "error_description"}` and
//! no `message`; STS errors: XML `ErrorResponse`), counts each operation, and lets a test
//! inject faults.
//!
//! People are modelled: a test person (`alice`, `bob`) signs in in the browser (the page
//! auto-submits, no human needed) or through a JWT minted by [`IdcStandIn::jwt_for`]. Tokens
//! and contexts are bound to that person, and the role credentials STS hands out carry the
//! person's name in their access key id (`ASIAALICE0001`), so the Redshift stand-in's
//! self-describing tokens then say whose credentials asked for them.
//!
//! Bounded like the Redshift stand-in, and built on its [`Server`]: 127.0.0.1 only, 503 after
//! `max_requests`, stops by itself after `max_lifetime`, and dropping the handle cuts every
//! connection. Included by path, next to `aws_standin.rs`, from the integration tests and the
//! `aws-standin` example; it never uses the main crate.

#[path = "cli_sso_cache.rs"]
pub mod cli_sso_cache;
#[path = "idc_jwt.rs"]
pub mod jwt;
#[path = "idc_oidc.rs"]
mod oidc;
#[path = "idc_sts.rs"]
mod sts;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use crate::aws_standin::{Server, SigV4, bare, check_sigv4, lock, random_u64, request_id};

/// SigV4 signing name of `CreateTokenWithIAM`.
pub const SSO_OAUTH_SIGNING_NAME: &str = "sso-oauth";
/// SigV4 signing name of STS.
pub const STS_SIGNING_NAME: &str = "sts";
/// The STS API version the SDK sends.
pub const STS_API_VERSION: &str = "2011-06-15";
/// XML namespace of every STS answer.
pub const STS_XMLNS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// `ProvidedContexts.member.N.ProviderArn` of an Identity Center context.
pub const IDENTITY_CENTER_PROVIDER_ARN: &str = "arn:aws:iam::aws:contextProvider/IdentityCenter";

pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";
pub const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
pub const TOKEN_TYPE_REFRESH: &str = "urn:ietf:params:oauth:token-type:refresh_token";

/// The account every default ARN lives in.
pub const ACCOUNT: &str = "123456789012";
pub const INSTANCE_ID: &str = "ssoins-7223ac1b2bc1e4f5";
pub const IDENTITY_STORE_ID: &str = "d-9067c2e1f0";
/// The customer managed application the sign-in is for (the `clientId` of CreateTokenWithIAM).
pub const DEFAULT_APPLICATION_ARN: &str =
    "arn:aws:sso::123456789012:application/ssoins-7223ac1b2bc1e4f5/apl-5d9f2c1e8a7b6c3d";
/// A role whose trust policy allows `sts:AssumeRole` and `sts:SetContext`.
pub const DEFAULT_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/RedshiftIdcUser";
/// A role whose trust policy lacks `sts:SetContext` (in [`IdcConfig::default`]'s list).
pub const NO_SET_CONTEXT_ROLE_ARN: &str = "arn:aws:iam::123456789012:role/NoSetContext";
/// The trusted token issuer the application trusts, and the audience it expects.
pub const DEFAULT_ISSUER: &str = "https://issuer.standin.test";
pub const DEFAULT_AUDIENCE: &str = "redshift-idc-token";
/// The Identity Center instance's issuer URL (console: Settings, "Issuer URL"; the `iss` of
/// its ID tokens), which the Redshift drivers' `issuer_url` names and send as `issuerUrl`.
pub const DEFAULT_ISSUER_URL: &str = "https://identitycenter.amazonaws.com/ssoins-7223ac1b2bc1e4f5";
/// The AWS access portal URL ("start URL") of the instance: `StartDeviceAuthorization`'s
/// `startUrl`, and what the AWS CLI sends as `issuerUrl`.
pub const DEFAULT_START_URL: &str = "https://d-9067c2e1f0.awsapps.com/start";

pub const SCOPE_OPENID: &str = "openid";
pub const SCOPE_AWS: &str = "aws";
pub const SCOPE_IDENTITY_CONTEXT: &str = "sts:identity_context";
pub const SCOPE_REDSHIFT_CONNECT: &str = "redshift:connect";
/// "If the value is not specified, IAM Identity Center authorizes all scopes configured for
/// the application, including the following default scopes: openid, aws,
/// sts:identity_context." (OIDC API reference, CreateTokenWithIAM, `scope`:
/// https://docs.aws.amazon.com/singlesignon/latest/OIDCAPIReference/API_CreateTokenWithIAM.html)
pub const DEFAULT_APPLICATION_SCOPES: [&str; 3] = [SCOPE_OPENID, SCOPE_AWS, SCOPE_IDENTITY_CONTEXT];

/// One test person: a user in the stand-in's Identity Store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Lower-case ASCII letters only (`alice`); role access key ids carry it in capitals.
    pub name: String,
    /// The Identity Store user id (the `sub` of the ID token).
    pub user_id: String,
    /// What a trusted token issuer's JWT names the person by (the attribute mapping).
    pub email: String,
}

impl Person {
    /// `name@example.com`, with a user id derived from the name (stable across runs).
    pub fn new(name: &str) -> Person {
        assert!(
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase()),
            "test person names are lower-case letters: {name:?}"
        );
        // FNV-1a: stable, unlike std's keyed hasher.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Person {
            name: name.to_owned(),
            user_id: format!(
                "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
                h >> 32,
                (h >> 16) & 0xffff,
                h & 0xfff,
                (h >> 20) & 0xfff,
                h & 0xffff_ffff_ffff
            ),
            email: format!("{name}@example.com"),
        }
    }
}

/// Knobs of one stand-in. Build with `IdcConfig { access_ttl: ..., ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct IdcConfig {
    pub application_arn: String,
    pub trusted_issuer: String,
    pub audience: String,
    /// The Identity Store.
    pub persons: Vec<Person>,
    /// Who is signed in in "the browser" at start (see [`IdcStandIn::set_browser_person`]).
    pub browser_person: String,
    /// Scopes the instance's applications are enabled for: what the customer managed
    /// application may grant (besides [`DEFAULT_APPLICATION_SCOPES`]) and what a public client
    /// may register. Leave out `redshift:connect` to model an instance whose Redshift
    /// application is not enabled for it (RegisterClient and `/authorize` then refuse it).
    pub allowed_scopes: Vec<String>,
    /// The instance's issuer URL: accepted as RegisterClient's `issuerUrl`, and the `iss` of
    /// access tokens.
    pub issuer_url: String,
    /// The access portal URL: StartDeviceAuthorization's `startUrl` (also accepted as
    /// `issuerUrl`, as the AWS CLI sends it).
    pub start_url: String,
    /// `expiresIn` of access tokens; identity contexts live as long. Default 3600 s.
    pub access_ttl: Duration,
    /// Key that signs access tokens (HS256 JWTs naming the person). Give the same key to the
    /// Redshift wire stand-in (`--access-token-key-file`) so it can check them with no network.
    /// `None`: a random key.
    pub access_token_key: Option<Vec<u8>>,
    /// A registered client's lifetime (`clientSecretExpiresAt - clientIdIssuedAt`); afterwards
    /// it gets `InvalidClientException`. Default 90 days.
    pub client_ttl: Duration,
    /// `expiresIn` of a device authorization. Default 600 s.
    pub device_ttl: Duration,
    /// `interval` of a device authorization (whole seconds). Default 1 s.
    pub device_interval: Duration,
    /// Added to the polling interval after each `SlowDownException` (RFC 8628 section 3.5:
    /// 5 seconds). Default 5 s.
    pub slow_down_increment: Duration,
    /// Lifetime of refresh tokens. Default 8 h (Identity Center's default session).
    pub refresh_ttl: Duration,
    /// Whether each refresh returns a new refresh token and invalidates the old one.
    pub rotate_refresh_tokens: bool,
    /// Role credentials last `min(DurationSeconds, max_role_ttl)`. Default 12 h.
    pub max_role_ttl: Duration,
    /// Roles whose trust policy lacks `sts:SetContext`: AssumeRole gets `AccessDenied`.
    pub roles_without_set_context: Vec<String>,
    /// Bootstrap access key ids the application's policy does not allow to call
    /// `CreateTokenWithIAM`: they get `AccessDeniedException`.
    pub denied_bootstrap_keys: Vec<String>,
    /// Signing regions where STS is not activated: `RegionDisabledException`.
    pub disabled_sts_regions: Vec<String>,
    /// When set, `CreateTokenWithIAM` signed for another region gets
    /// `InvalidRequestRegionException` (the Identity Center instance lives in one region).
    pub idc_region: Option<String>,
    /// Added before every answer. Default 0.
    pub delay: Duration,
    /// Requests answered normally; later ones get a bare 503 and are not recorded.
    pub max_requests: usize,
    /// The server stops this long after start. Default 120 s.
    pub max_lifetime: Duration,
    /// Port on 127.0.0.1; 0 lets the OS choose.
    pub port: u16,
    /// Append one JSON line per recorded request here (see [`IdcRecorded::to_json`]).
    pub log_file: Option<PathBuf>,
}

impl Default for IdcConfig {
    fn default() -> Self {
        IdcConfig {
            application_arn: DEFAULT_APPLICATION_ARN.into(),
            trusted_issuer: DEFAULT_ISSUER.into(),
            audience: DEFAULT_AUDIENCE.into(),
            persons: vec![Person::new("alice"), Person::new("bob")],
            browser_person: "alice".into(),
            allowed_scopes: [
                "openid",
                "email",
                "profile",
                "aws",
                "sts:identity_context",
                "redshift:connect",
                "offline_access",
                "sso:account:access",
            ]
            .map(String::from)
            .to_vec(),
            issuer_url: DEFAULT_ISSUER_URL.into(),
            start_url: DEFAULT_START_URL.into(),
            access_ttl: Duration::from_secs(3600),
            access_token_key: None,
            client_ttl: Duration::from_secs(90 * 86400),
            device_ttl: Duration::from_secs(600),
            device_interval: Duration::from_secs(1),
            slow_down_increment: Duration::from_secs(5),
            refresh_ttl: Duration::from_secs(8 * 3600),
            rotate_refresh_tokens: true,
            max_role_ttl: Duration::from_secs(12 * 3600),
            roles_without_set_context: vec![NO_SET_CONTEXT_ROLE_ARN.into()],
            denied_bootstrap_keys: Vec::new(),
            disabled_sts_regions: Vec::new(),
            idc_region: None,
            delay: Duration::ZERO,
            max_requests: 1000,
            max_lifetime: Duration::from_secs(120),
            port: 0,
            log_file: None,
        }
    }
}

/// The operations (and pages) the stand-in tells apart; each has its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// `POST /client/register` (unsigned).
    RegisterClient,
    /// `POST /token` (unsigned).
    CreateToken,
    /// `POST /token?aws_iam=t` (signed, `sso-oauth`).
    CreateTokenWithIam,
    /// `POST /device_authorization` (unsigned).
    StartDeviceAuthorization,
    /// `GET /authorize`: the sign-in page a browser opens.
    Authorize,
    /// `POST /authorize/approve`: the page's auto-submitted form; redirects with the code.
    Approve,
    /// `GET /device?user_code=...`: the verification page (`verificationUriComplete`).
    DevicePage,
    /// `POST /device/approve`: the person's answer on it (`decision=allow|deny`).
    DeviceApprove,
    /// STS `POST /` with `Action=AssumeRole`.
    AssumeRole,
    /// Anything else (recorded with a problem).
    Unknown,
}

impl Op {
    pub const ALL: [Op; 10] = [
        Op::RegisterClient,
        Op::CreateToken,
        Op::CreateTokenWithIam,
        Op::StartDeviceAuthorization,
        Op::Authorize,
        Op::Approve,
        Op::DevicePage,
        Op::DeviceApprove,
        Op::AssumeRole,
        Op::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::RegisterClient => "RegisterClient",
            Op::CreateToken => "CreateToken",
            Op::CreateTokenWithIam => "CreateTokenWithIAM",
            Op::StartDeviceAuthorization => "StartDeviceAuthorization",
            Op::Authorize => "Authorize",
            Op::Approve => "Approve",
            Op::DevicePage => "DevicePage",
            Op::DeviceApprove => "DeviceApprove",
            Op::AssumeRole => "AssumeRole",
            Op::Unknown => "Unknown",
        }
    }

    /// Parses [`Op::as_str`] (the example's `--idc-fail-op` flag).
    pub fn parse(s: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.as_str() == s)
    }
}

/// An injected answer for one operation, consumed first-in first-out by its well-formed
/// requests (malformed ones get their protocol error and leave the queue alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The operation's own error format: sso-oidc JSON with `x-amzn-ErrorType`, STS XML, or
    /// for the browser pages a redirect with `error=<code>&error_description=...`. The status
    /// is the one AWS uses for `code`.
    Error { code: String, description: String },
    /// A bare status with an empty body.
    Status(u16),
    /// Never answer; ends when the stand-in stops.
    Hang,
    /// Wait, then the inner fault.
    Delay(Duration, Box<Fault>),
    /// Wait, then answer normally.
    Slow(Duration),
}

impl Fault {
    pub fn error(code: &str, description: &str) -> Fault {
        Fault::Error {
            code: code.into(),
            description: description.into(),
        }
    }

    fn describe(&self) -> String {
        match self {
            Fault::Error { code, .. } => format!("fault:{code}"),
            Fault::Status(s) => format!("fault:status:{s}"),
            Fault::Hang => "fault:hang".into(),
            Fault::Delay(d, inner) => format!("delay {}ms, {}", d.as_millis(), inner.describe()),
            Fault::Slow(d) => format!("slow {}ms", d.as_millis()),
        }
    }
}

/// What the stand-in saw of one request and how it answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdcRecorded {
    /// 1-based arrival number.
    pub seq: usize,
    pub op: Op,
    /// `grantType` (sso-oidc token calls).
    pub grant_type: Option<String>,
    /// `clientId` (sso-oidc) or `client_id` (`/authorize`).
    pub client_id: Option<String>,
    /// The person the request turned out to be about (signed in, or named by a token).
    pub person: Option<String>,
    /// STS `RoleArn`.
    pub role_arn: Option<String>,
    /// STS `DurationSeconds`.
    pub duration_seconds: Option<u64>,
    /// From the SigV4 credential scope (`None` for unsigned requests).
    pub access_key_id: Option<String>,
    pub region: Option<String>,
    pub signing_service: Option<String>,
    pub has_security_token: bool,
    /// Why the request is not what the real SDK (or a browser) sends; non-empty means it got
    /// the protocol's error for malformed requests.
    pub problems: Vec<String>,
    /// `ok`, `error:<Code>`, `redirect`, `fault:...`, `page`.
    pub reply: String,
    /// The error description sent with an `error:` reply.
    pub detail: Option<String>,
    /// The role access key id handed out by a successful AssumeRole.
    pub issued_access_key_id: Option<String>,
}

impl IdcRecorded {
    fn new(seq: usize, op: Op) -> IdcRecorded {
        IdcRecorded {
            seq,
            op,
            grant_type: None,
            client_id: None,
            person: None,
            role_arn: None,
            duration_seconds: None,
            access_key_id: None,
            region: None,
            signing_service: None,
            has_security_token: false,
            problems: Vec::new(),
            reply: String::new(),
            detail: None,
            issued_access_key_id: None,
        }
    }

    /// The line written to the log file. No secrets: tokens, codes and keys are not recorded.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq,
            "op": self.op.as_str(),
            "grant_type": self.grant_type,
            "client_id": self.client_id,
            "person": self.person,
            "role_arn": self.role_arn,
            "duration_seconds": self.duration_seconds,
            "access_key_id": self.access_key_id,
            "region": self.region,
            "signing_service": self.signing_service,
            "has_security_token": self.has_security_token,
            "problems": self.problems,
            "reply": self.reply,
            "detail": self.detail,
            "issued_access_key_id": self.issued_access_key_id,
        })
    }

    /// Well-formed and answered normally (possibly after an injected delay).
    fn ok(&self) -> bool {
        let last = self.reply.rsplit(", ").next().unwrap_or("");
        self.problems.is_empty() && matches!(last, "ok" | "page" | "redirect")
    }
}

/// A running stand-in of sso-oidc, `/authorize` and STS on one port.
pub struct IdcStandIn {
    server: Server,
    shared: Arc<IdcShared>,
}

impl IdcStandIn {
    pub fn start() -> IdcStandIn {
        IdcStandIn::start_with(IdcConfig::default())
    }

    /// Starts with `cfg`; panics if 127.0.0.1 cannot be bound.
    pub fn start_with(cfg: IdcConfig) -> IdcStandIn {
        IdcStandIn::try_start_with(cfg).expect("identity center stand-in: cannot start")
    }

    pub fn try_start_with(cfg: IdcConfig) -> std::io::Result<IdcStandIn> {
        let log = match &cfg.log_file {
            Some(path) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(path)?,
            )),
            None => None,
        };
        let mut key = [0u8; 32];
        for chunk in key.chunks_mut(8) {
            chunk.copy_from_slice(&random_u64().to_le_bytes());
        }
        let (port, lifetime) = (cfg.port, cfg.max_lifetime);
        let access_key = cfg.access_token_key.clone().unwrap_or_else(|| {
            (0..4)
                .flat_map(|_| random_u64().to_le_bytes())
                .collect::<Vec<u8>>()
        });
        let shared = Arc::new(IdcShared {
            browser_person: Mutex::new(cfg.browser_person.clone()),
            cfg,
            key,
            access_key,
            state: Mutex::new(Grants::default()),
            faults: Mutex::new(HashMap::new()),
            records: Mutex::new(Vec::new()),
            seen: AtomicUsize::new(0),
            running: AtomicBool::new(true),
            log,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let stopped = shared.clone();
        let server = Server::start("idc-standin", port, lifetime, app, move || {
            stopped.running.store(false, Ordering::SeqCst)
        })?;
        Ok(IdcStandIn { server, shared })
    }

    /// `http://127.0.0.1:PORT`: the endpoint of sso-oidc and STS, and the authorize base.
    pub fn url(&self) -> String {
        self.server.url().to_owned()
    }

    pub fn config(&self) -> &IdcConfig {
        &self.shared.cfg
    }

    /// The person the next browser sign-in signs in as.
    pub fn set_browser_person(&self, name: &str) {
        assert!(
            self.shared.person(name).is_some(),
            "no test person {name:?}"
        );
        *lock(&self.shared.browser_person) = name.to_owned();
    }

    /// A JWT from the trusted token issuer for `person`, valid for `ttl` (negative: already
    /// expired). Its value counts as a secret (see [`IdcStandIn::issued_secrets`]).
    pub fn jwt_for(&self, person: &str, ttl: Duration) -> String {
        self.jwt_with(
            person,
            ttl,
            &self.shared.cfg.trusted_issuer,
            &self.shared.cfg.audience,
        )
    }

    /// A JWT like [`IdcStandIn::jwt_for`] but from `issuer` for `audience`.
    pub fn jwt_with(&self, person: &str, ttl: Duration, issuer: &str, audience: &str) -> String {
        let p = self
            .shared
            .person(person)
            .unwrap_or_else(|| panic!("no test person {person:?}"));
        self.shared
            .mint(p, issuer, audience, unix_now(), ttl.as_secs() as i64)
    }

    /// Like [`IdcStandIn::jwt_for`] but expired an hour ago.
    pub fn expired_jwt_for(&self, person: &str) -> String {
        let p = self.shared.person(person).expect("test person");
        let cfg = &self.shared.cfg;
        self.shared.mint(
            p,
            &cfg.trusted_issuer,
            &cfg.audience,
            unix_now() - 7200,
            3600,
        )
    }

    /// Makes every refresh token issued so far expired (the session ended).
    pub fn expire_refresh_tokens(&self) {
        let past = SystemTime::now() - Duration::from_secs(1);
        for grant in lock(&self.shared.state).refresh_tokens.values_mut() {
            grant.expires = past;
        }
    }

    /// Makes every access token and identity context issued so far expired.
    pub fn expire_access_tokens(&self) {
        let past = SystemTime::now() - Duration::from_secs(1);
        let mut state = lock(&self.shared.state);
        for s in state.access_tokens.values_mut() {
            s.expires = past;
        }
        for c in state.contexts.values_mut() {
            c.expires = past;
        }
    }

    /// Refuses every refresh token issued so far to `person` (all people if `None`), as when
    /// an administrator revokes the person's sessions: the next refresh gets
    /// `InvalidGrantException`. Returns how many were revoked. Also
    /// `POST /standin/revoke-refresh[?person=alice]`.
    pub fn revoke_refresh_tokens(&self, person: Option<&str>) -> usize {
        revoke_refresh(&mut lock(&self.shared.state), person)
    }

    /// Makes every client registered so far expired (past `clientSecretExpiresAt`).
    pub fn expire_clients(&self) {
        let past = SystemTime::now() - Duration::from_secs(1);
        for c in lock(&self.shared.state).clients.values_mut() {
            c.expires = past;
        }
    }

    /// The key access tokens are signed with (give it to the Redshift wire stand-in).
    pub fn access_token_key(&self) -> Vec<u8> {
        self.shared.access_key.clone()
    }

    /// The claims of an access token this stand-in issued, if its signature verifies (expired
    /// or not): `username` is the person, `sub` their user id, `scope` space-separated.
    pub fn access_token_claims(&self, token: &str) -> Option<serde_json::Value> {
        jwt::verify(token, &self.shared.access_key).ok()
    }

    /// Plays the person at the device verification page: opens `verification_uri_complete`
    /// (a `GET`, as a browser would) and submits the page's form as `person`, allowing or
    /// denying. Real HTTP; returns the status of the form's answer (200 when taken).
    pub fn device_sign_in(
        &self,
        verification_uri_complete: &str,
        person: &str,
        allow: bool,
    ) -> u16 {
        let path = verification_uri_complete
            .strip_prefix(&self.url())
            .unwrap_or(verification_uri_complete);
        let (status, body) = raw_http(&self.url(), "GET", path, None);
        if status != 200 {
            return status;
        }
        let user_code = body
            .split("name=\"user_code\" value=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("user_code", &user_code)
            .append_pair("person", person)
            .append_pair("decision", if allow { "allow" } else { "deny" })
            .finish();
        raw_http(&self.url(), "POST", "/device/approve", Some(&form)).0
    }

    /// Queues one fault for `op` (see [`Fault`]).
    pub fn push(&self, op: Op, fault: Fault) {
        lock(&self.shared.faults)
            .entry(op)
            .or_default()
            .push_back(fault);
    }

    /// Faults queued for any operation and not consumed yet.
    pub fn pending_faults(&self) -> usize {
        lock(&self.shared.faults).values().map(VecDeque::len).sum()
    }

    /// Every recorded request so far, in arrival order.
    pub fn requests(&self) -> Vec<IdcRecorded> {
        lock(&self.shared.records).clone()
    }

    /// Requests of `op` so far, whatever their answer.
    pub fn count(&self, op: Op) -> usize {
        lock(&self.shared.records)
            .iter()
            .filter(|r| r.op == op)
            .count()
    }

    /// Requests of `op` answered successfully (well-formed, no error, no fault).
    pub fn count_ok(&self, op: Op) -> usize {
        lock(&self.shared.records)
            .iter()
            .filter(|r| r.op == op && r.ok())
            .count()
    }

    /// `CreateToken` requests with this grant type (`authorization_code`, `refresh_token`,
    /// `urn:ietf:params:oauth:grant-type:device_code`), whatever their answer.
    pub fn count_create_token_grant(&self, grant_type: &str) -> usize {
        lock(&self.shared.records)
            .iter()
            .filter(|r| r.op == Op::CreateToken && r.grant_type.as_deref() == Some(grant_type))
            .count()
    }

    /// `CreateTokenWithIAM` requests with this grant type.
    pub fn count_grant(&self, grant_type: &str) -> usize {
        lock(&self.shared.records)
            .iter()
            .filter(|r| {
                r.op == Op::CreateTokenWithIam && r.grant_type.as_deref() == Some(grant_type)
            })
            .count()
    }

    /// Completed browser sign-ins (the page's form was submitted and redirected with a code).
    pub fn sign_ins(&self) -> usize {
        self.count_ok(Op::Approve)
    }

    /// Requests and successful requests per operation, by name (also `GET /standin/counts`).
    pub fn counts(&self) -> serde_json::Value {
        counts_json(&lock(&self.shared.records))
    }

    /// Every problem any request had (empty when everything spoke the real wire format).
    pub fn problems(&self) -> Vec<String> {
        lock(&self.shared.records)
            .iter()
            .flat_map(|r| {
                r.problems
                    .iter()
                    .map(move |p| format!("#{} {}: {p}", r.seq, r.op.as_str()))
            })
            .collect()
    }

    /// Every secret the stand-in issued or minted: JWTs, access, refresh and ID tokens,
    /// identity contexts, client secrets, authorization codes, role secret keys and session
    /// tokens. Tests search output for each.
    pub fn issued_secrets(&self) -> Vec<String> {
        lock(&self.shared.state).secrets.clone()
    }

    /// The person whose role credentials carry `access_key_id`, if the stand-in issued them.
    pub fn person_of_access_key(&self, access_key_id: &str) -> Option<String> {
        lock(&self.shared.state)
            .role_keys
            .get(access_key_id)
            .cloned()
    }

    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// True once the server stopped or `max_requests` requests arrived.
    pub fn is_finished(&self) -> bool {
        !self.is_running()
            || self.shared.seen.load(Ordering::SeqCst) >= self.shared.cfg.max_requests
    }
}

/// The person named by a role access key id the stand-in issued (`ASIAALICE0001` → `alice`),
/// read from the key alone (for the Redshift stand-in's tokens, which carry the key).
pub fn person_in_access_key(access_key_id: &str) -> Option<String> {
    let rest = access_key_id.strip_prefix("ASIA")?;
    let name: String = rest.chars().take_while(char::is_ascii_uppercase).collect();
    let digits = &rest[name.len()..];
    (!name.is_empty() && digits.len() == 4 && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| name.to_ascii_lowercase())
}

fn counts_json(records: &[IdcRecorded]) -> serde_json::Value {
    let mut all: BTreeMap<&str, usize> = BTreeMap::new();
    let mut ok: BTreeMap<&str, usize> = BTreeMap::new();
    let mut grants: BTreeMap<String, usize> = BTreeMap::new();
    for r in records {
        *all.entry(r.op.as_str()).or_default() += 1;
        if r.ok() {
            *ok.entry(r.op.as_str()).or_default() += 1;
        }
        if let Some(g) = &r.grant_type {
            *grants.entry(format!("{}:{g}", r.op.as_str())).or_default() += 1;
        }
    }
    serde_json::json!({ "requests": all, "ok": ok, "grants": grants })
}

fn revoke_refresh(state: &mut Grants, person: Option<&str>) -> usize {
    let before = state.refresh_tokens.len();
    state
        .refresh_tokens
        .retain(|_, s| person.is_some_and(|p| p != s.person));
    before - state.refresh_tokens.len()
}

/// One HTTP/1.1 request to the stand-in at `url`: (status, body). For [`IdcStandIn`]'s own
/// helpers that act as the person's browser.
fn raw_http(url: &str, method: &str, path: &str, form: Option<&str>) -> (u16, String) {
    use std::io::Read;
    let addr = url.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return (0, String::new());
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let body = form.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    if form.is_some() {
        req += "content-type: application/x-www-form-urlencoded\r\n";
    }
    req += &format!("content-length: {}\r\n\r\n{body}", body.len());
    if s.write_all(req.as_bytes()).is_err() {
        return (0, String::new());
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// State shared by the handle and the server thread.
struct IdcShared {
    cfg: IdcConfig,
    /// Signs the trusted issuer's JWTs and ID tokens.
    key: [u8; 32],
    /// Signs access tokens ([`IdcConfig::access_token_key`]).
    access_key: Vec<u8>,
    browser_person: Mutex<String>,
    state: Mutex<Grants>,
    faults: Mutex<HashMap<Op, VecDeque<Fault>>>,
    records: Mutex<Vec<IdcRecorded>>,
    seen: AtomicUsize,
    running: AtomicBool,
    log: Option<Mutex<File>>,
}

impl IdcShared {
    fn person(&self, name: &str) -> Option<&Person> {
        self.cfg.persons.iter().find(|p| p.name == name)
    }

    fn person_by_email(&self, email: &str) -> Option<&Person> {
        self.cfg.persons.iter().find(|p| p.email == email)
    }

    /// A trusted-issuer JWT for `p`, valid for `ttl_secs` from now.
    fn mint_jwt(&self, p: &Person, ttl_secs: i64) -> String {
        self.mint(
            p,
            &self.cfg.trusted_issuer,
            &self.cfg.audience,
            unix_now(),
            ttl_secs,
        )
    }

    /// A JWT naming `p` by email, issued at `iat`, expiring `ttl_secs` later; remembered as a
    /// secret.
    fn mint(&self, p: &Person, issuer: &str, audience: &str, iat: i64, ttl_secs: i64) -> String {
        let claims = serde_json::json!({
            "iss": issuer,
            "aud": audience,
            "sub": format!("idp|{}", p.name),
            "email": p.email,
            "iat": iat,
            "exp": iat + ttl_secs,
            "jti": format!("{:016x}", random_u64()),
        });
        let jwt = jwt::sign(&claims, &self.key, "issuer-key-1");
        lock(&self.state).secrets.push(jwt.clone());
        jwt
    }
}

/// Everything issued so far, so later requests can be checked against it.
#[derive(Default)]
struct Grants {
    /// RegisterClient's clients by id.
    clients: HashMap<String, Client>,
    /// Sign-in pages served and not yet submitted, by session id.
    pending: HashMap<String, AuthorizeRequest>,
    /// Authorization codes by value.
    codes: HashMap<String, CodeGrant>,
    /// Device authorizations by device code, and the device code of each user code.
    devices: HashMap<String, DeviceGrant>,
    user_codes: HashMap<String, String>,
    access_tokens: HashMap<String, Session>,
    refresh_tokens: HashMap<String, Session>,
    /// Identity contexts by value.
    contexts: HashMap<String, Session>,
    /// Role access key id -> person.
    role_keys: HashMap<String, String>,
    /// Role sessions handed out per person (the access key id's number).
    role_seq: HashMap<String, usize>,
    secrets: Vec<String>,
}

struct Client {
    secret: String,
    redirect_uris: Vec<String>,
    grant_types: Vec<String>,
    scopes: Vec<String>,
    /// `clientSecretExpiresAt`: afterwards the client is invalid.
    expires: SystemTime,
}

impl Client {
    fn expired(&self) -> bool {
        SystemTime::now() >= self.expires
    }
}

/// A device authorization (StartDeviceAuthorization) and where its person's answer stands.
struct DeviceGrant {
    client_id: String,
    user_code: String,
    expires: SystemTime,
    /// The current polling interval (grows by [`IdcConfig::slow_down_increment`]).
    interval: Duration,
    last_poll: Option<std::time::Instant>,
    decision: DeviceDecision,
}

#[derive(Clone, PartialEq, Eq)]
enum DeviceDecision {
    Pending,
    Allowed(String),
    Denied(String),
}

/// A validated `/authorize` request waiting for its page to be submitted.
#[derive(Clone)]
struct AuthorizeRequest {
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
    scopes: Vec<String>,
}

struct CodeGrant {
    request: AuthorizeRequest,
    person: String,
    expires: SystemTime,
}

/// Who a token or context belongs to, for which client, until when.
#[derive(Clone)]
struct Session {
    person: String,
    client_id: String,
    scopes: Vec<String>,
    expires: SystemTime,
}

impl Session {
    fn expired(&self) -> bool {
        SystemTime::now() >= self.expires
    }
}

/// One request, read whole.
struct Incoming {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    /// `None` when larger than [`MAX_REQUEST_BODY`].
    body: Option<Vec<u8>>,
}

const MAX_REQUEST_BODY: usize = 1024 * 1024;

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        form_urlencoded::parse(self.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect()
    }

    fn op(&self) -> Op {
        let iam = self
            .query_pairs()
            .iter()
            .any(|(k, v)| k == "aws_iam" && v == "t");
        match (self.method.as_str(), self.path.as_str()) {
            ("POST", "/client/register") => Op::RegisterClient,
            ("POST", "/token") if iam => Op::CreateTokenWithIam,
            ("POST", "/token") => Op::CreateToken,
            ("POST", "/device_authorization") => Op::StartDeviceAuthorization,
            ("GET", "/authorize") => Op::Authorize,
            ("POST", "/authorize/approve") => Op::Approve,
            ("GET", "/device") => Op::DevicePage,
            ("POST", "/device/approve") => Op::DeviceApprove,
            ("POST", "/") => {
                let action = self.body.as_deref().and_then(|b| {
                    form_urlencoded::parse(b)
                        .find(|(k, _)| k == "Action")
                        .map(|(_, v)| v.into_owned())
                });
                match action.as_deref() {
                    Some("AssumeRole") => Op::AssumeRole,
                    _ => Op::Unknown,
                }
            }
            _ => Op::Unknown,
        }
    }
}

/// The answer an operation chose, not yet turned into bytes.
pub(crate) enum Answer {
    /// 200 `application/json`.
    Json(serde_json::Value),
    /// An sso-oidc error; `members` are the exception's own fields besides `error` and
    /// `error_description` (`InvalidRequestRegionException` has `endpoint` and `region`).
    OidcError {
        code: String,
        description: String,
        members: Vec<(&'static str, String)>,
    },
    /// 200 `text/xml`.
    Xml(String),
    /// 200 `text/plain` (control endpoints).
    Text(String),
    /// An STS error.
    StsError {
        code: String,
        message: String,
    },
    Html {
        status: u16,
        body: String,
    },
    /// 302 to this location.
    Redirect(String),
    Status(u16),
    Hang,
}

impl Answer {
    pub(crate) fn oidc_error(code: &str, description: impl Into<String>) -> Answer {
        Answer::OidcError {
            code: code.into(),
            description: description.into(),
            members: Vec::new(),
        }
    }

    pub(crate) fn sts_error(code: &str, message: impl Into<String>) -> Answer {
        Answer::StsError {
            code: code.into(),
            message: message.into(),
        }
    }

    /// The `reply` and `detail` recorded for it.
    fn describe(&self) -> (String, Option<String>) {
        match self {
            Answer::Json(_) | Answer::Xml(_) | Answer::Text(_) => ("ok".into(), None),
            Answer::OidcError {
                code, description, ..
            } => (format!("error:{code}"), Some(description.clone())),
            Answer::StsError { code, message } => (format!("error:{code}"), Some(message.clone())),
            Answer::Html { status: 200, .. } => ("page".into(), None),
            Answer::Html { status, .. } => (format!("page:{status}"), None),
            Answer::Redirect(location) if location.contains("error=") => {
                ("redirect:error".into(), None)
            }
            Answer::Redirect(_) => ("redirect".into(), None),
            Answer::Status(s) => (format!("status:{s}"), None),
            Answer::Hang => ("hang".into(), None),
        }
    }

    async fn into_response(self, request_id: &str) -> Response {
        let (status, content_type, body, extra): (u16, &str, String, Option<(&str, String)>) =
            match self {
                Answer::Json(v) => (200, "application/json", v.to_string(), None),
                Answer::OidcError {
                    code,
                    description,
                    members,
                } => {
                    let status = oidc_error_status(&code);
                    let mut body = oidc_error_body(&code, &description);
                    for (k, v) in members {
                        body[k] = v.into();
                    }
                    let error_type =
                        format!("{code}:http://internal.amazon.com/coral/com.amazonaws.sso.oidc/");
                    (
                        status,
                        "application/json",
                        body.to_string(),
                        Some(("x-amzn-errortype", error_type)),
                    )
                }
                Answer::Xml(body) => (200, "text/xml", body, None),
                Answer::Text(body) => (200, "text/plain; charset=utf-8", body, None),
                Answer::StsError { code, message } => {
                    let status = sts_error_status(&code);
                    let kind = if status >= 500 { "Receiver" } else { "Sender" };
                    let body = format!(
                        "<ErrorResponse xmlns=\"{STS_XMLNS}\"><Error><Type>{kind}</Type>\
                         <Code>{}</Code><Message>{}</Message></Error>\
                         <RequestId>{request_id}</RequestId></ErrorResponse>\n",
                        crate::aws_standin::xml_escape(&code),
                        crate::aws_standin::xml_escape(&message),
                    );
                    (status, "text/xml", body, None)
                }
                Answer::Html { status, body } => (status, "text/html; charset=utf-8", body, None),
                Answer::Redirect(location) => (
                    302,
                    "text/html; charset=utf-8",
                    String::new(),
                    Some(("location", location)),
                ),
                Answer::Status(s) => return bare(s),
                Answer::Hang => {
                    std::future::pending::<()>().await;
                    unreachable!()
                }
            };
        let mut response = Response::new(Body::from(body));
        *response.status_mut() =
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(id) = HeaderValue::from_str(request_id) {
            headers.insert("x-amzn-requestid", id);
        }
        if let Some((name, value)) = extra
            && let Ok(v) = HeaderValue::from_str(&value)
        {
            headers.insert(name, v);
        }
        if content_type.starts_with("text/html") {
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response
    }
}

/// The HTTP status AWS sso-oidc uses for each modeled error.
pub fn oidc_error_status(code: &str) -> u16 {
    match code {
        "InternalServerException" => 500,
        "InvalidClientException" => 401,
        _ => 400,
    }
}

/// The OAuth `error` value sso-oidc sends with each modeled exception.
pub fn oauth_error(code: &str) -> &'static str {
    match code {
        "AccessDeniedException" => "access_denied",
        "AuthorizationPendingException" => "authorization_pending",
        "ExpiredTokenException" => "expired_token",
        "InternalServerException" => "server_error",
        "InvalidClientException" => "invalid_client",
        "InvalidClientMetadataException" => "invalid_client_metadata",
        "InvalidGrantException" => "invalid_grant",
        "InvalidRedirectUriException" => "invalid_redirect_uri",
        "InvalidRequestException" | "InvalidRequestRegionException" => "invalid_request",
        "InvalidScopeException" => "invalid_scope",
        "SlowDownException" => "slow_down",
        "UnauthorizedClientException" => "unauthorized_client",
        "UnsupportedGrantTypeException" => "unsupported_grant_type",
        _ => "server_error",
    }
}

/// `{"error": ..., "error_description": ...}`: no `message`, as AWS sends it.
fn oidc_error_body(code: &str, description: &str) -> serde_json::Value {
    serde_json::json!({ "error": oauth_error(code), "error_description": description })
}

/// The HTTP status STS uses for each error code.
pub fn sts_error_status(code: &str) -> u16 {
    match code {
        "AccessDenied"
        | "RegionDisabledException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "MissingAuthenticationToken" => 403,
        "InternalFailure" => 500,
        "ServiceUnavailable" => 503,
        _ => 400,
    }
}

/// What an operation handler gets: the request, the shared state and its record to fill in.
pub(crate) struct Ctx<'a> {
    shared: &'a IdcShared,
    req: &'a Incoming,
    rec: &'a mut IdcRecorded,
    /// Problems: the request is not what the real SDK or a browser sends.
    problems: Vec<String>,
}

impl Ctx<'_> {
    fn problem(&mut self, msg: impl Into<String>) {
        self.problems.push(msg.into());
    }

    /// Records the SigV4 scope; `required`: whether an unsigned request is a problem.
    fn signature(&mut self, service: &str, required: bool) -> SigV4 {
        let sig = check_sigv4(&self.req.headers, Some(service));
        self.rec.access_key_id = sig.access_key_id.clone();
        self.rec.region = sig.region.clone();
        self.rec.signing_service = sig.signing_service.clone();
        self.rec.has_security_token = sig.has_security_token;
        if required || !sig.unsigned {
            for p in &sig.problems {
                self.problem(p.clone());
            }
        }
        sig
    }

    /// The JSON object body of an sso-oidc request (problem if it is not one).
    fn json_body(&mut self) -> serde_json::Map<String, serde_json::Value> {
        let ct = self.req.header("content-type").unwrap_or("");
        if ct != "application/json" {
            self.problem(format!("content-type {ct:?}, expected application/json"));
        }
        match self
            .req
            .body
            .as_deref()
            .map(serde_json::from_slice::<serde_json::Value>)
        {
            Some(Ok(serde_json::Value::Object(m))) => m,
            Some(Ok(_)) => {
                self.problem("body is not a JSON object");
                serde_json::Map::new()
            }
            Some(Err(e)) => {
                self.problem(format!("body is not JSON: {e}"));
                serde_json::Map::new()
            }
            None => {
                self.problem(format!("body larger than {MAX_REQUEST_BODY} bytes"));
                serde_json::Map::new()
            }
        }
    }

    /// Issues a new secret of `kind` and remembers it as one.
    fn secret(&self, state: &mut Grants, kind: &str) -> String {
        let s = format!("{kind}{:016x}{:016x}", random_u64(), random_u64());
        state.secrets.push(s.clone());
        s
    }
}

/// Dispatches one request: count it, bound it, check it, record it, answer it.
async fn handle(State(shared): State<Arc<IdcShared>>, req: Request) -> Response {
    let n = shared.seen.fetch_add(1, Ordering::SeqCst) + 1;
    if n > shared.cfg.max_requests {
        return bare(503);
    }
    let (parts, body) = req.into_parts();
    // What a browser asks for by itself while it shows the sign-in page: no AWS operation, and
    // no mistake of the program under test either.
    if parts.uri.path() == "/favicon.ico" {
        return bare(404);
    }
    if parts.uri.path().starts_with("/standin/") {
        return control(
            &shared,
            parts.method.as_str(),
            parts.uri.path(),
            parts.uri.query(),
        )
        .into_response(&request_id())
        .await;
    }
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY)
        .await
        .ok()
        .map(|b| b.to_vec());
    let incoming = Incoming {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body,
    };
    let op = incoming.op();
    let request_id = request_id();

    // Check, choose the answer and record under the records lock, so arrival order and `seq`
    // agree even when requests race (the grants have their own lock inside).
    let (answer, delay, record) = {
        let mut records = lock(&shared.records);
        let mut rec = IdcRecorded::new(records.len() + 1, op);
        let mut ctx = Ctx {
            shared: &shared,
            req: &incoming,
            rec: &mut rec,
            problems: Vec::new(),
        };
        let (answer, delay) = respond(&mut ctx);
        let problems = std::mem::take(&mut ctx.problems);
        rec.problems = problems;
        let (reply, detail) = answer.describe();
        // An injected fault names itself; one that only delays also says how it ended.
        rec.reply = match (rec.reply.is_empty(), reply.as_str()) {
            (true, _) => reply,
            (false, "ok" | "page" | "redirect") => format!("{}, {reply}", rec.reply),
            (false, _) => std::mem::take(&mut rec.reply),
        };
        rec.detail = detail;
        records.push(rec.clone());
        (answer, delay, rec)
    };
    if let Some(log) = &shared.log {
        let _ = writeln!(lock(log), "{}", record.to_json());
    }
    let delay = delay + shared.cfg.delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    answer.into_response(&request_id).await
}

/// The stand-in's own control endpoints, for programs that cannot hold the handle (the
/// example's users: the demo, the benchmarks, the Python tests). Not recorded.
/// - `GET /standin/counts`: [`IdcStandIn::counts`].
/// - `GET /standin/jwt?person=alice&ttl=300`: a JWT of the trusted issuer (text/plain).
/// - `POST /standin/browser-person?name=bob`: who the next browser sign-in signs in.
/// - `POST /standin/revoke-refresh[?person=alice]`: [`IdcStandIn::revoke_refresh_tokens`];
///   answers the number revoked.
fn control(shared: &IdcShared, method: &str, path: &str, query: Option<&str>) -> Answer {
    let q: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (method, path) {
        ("GET", "/standin/counts") => Answer::Json(counts_json(&lock(&shared.records))),
        ("GET", "/standin/jwt") => {
            let person = get("person").unwrap_or_else(|| "alice".into());
            let ttl = get("ttl").and_then(|t| t.parse().ok()).unwrap_or(300);
            match shared.person(&person) {
                Some(p) => Answer::Text(shared.mint_jwt(p, ttl)),
                None => Answer::Html {
                    status: 404,
                    body: page("No such person", &person),
                },
            }
        }
        ("POST", "/standin/browser-person") => {
            let name = get("name").unwrap_or_default();
            if shared.person(&name).is_none() {
                return Answer::Html {
                    status: 404,
                    body: page("No such person", &name),
                };
            }
            *lock(&shared.browser_person) = name.clone();
            Answer::Text(name)
        }
        ("POST", "/standin/revoke-refresh") => {
            let person = get("person");
            Answer::Text(revoke_refresh(&mut lock(&shared.state), person.as_deref()).to_string())
        }
        _ => Answer::Status(404),
    }
}

/// Validates and answers; a malformed request gets its protocol error, a well-formed one the
/// next queued fault of its operation or else the operation's answer.
fn respond(ctx: &mut Ctx<'_>) -> (Answer, Duration) {
    let op = ctx.rec.op;
    let checked = match op {
        Op::RegisterClient => oidc::register_client(ctx),
        Op::CreateToken => oidc::create_token(ctx),
        Op::CreateTokenWithIam => oidc::create_token_with_iam(ctx),
        Op::StartDeviceAuthorization => oidc::start_device_authorization(ctx),
        Op::Authorize => oidc::authorize(ctx),
        Op::Approve => oidc::approve(ctx),
        Op::DevicePage => oidc::device_page(ctx),
        Op::DeviceApprove => oidc::device_approve(ctx),
        Op::AssumeRole => sts::assume_role(ctx),
        Op::Unknown => {
            let what = format!("{} {}", ctx.req.method, ctx.req.path);
            ctx.problem(format!(
                "{what} is no operation of sso-oidc, /authorize or STS"
            ));
            Checked::Ready(Answer::Status(404))
        }
    };
    match checked {
        Checked::Ready(answer) if !ctx.problems.is_empty() => {
            let first = ctx.problems[0].clone();
            let answer = match op {
                Op::AssumeRole | Op::Unknown if matches!(answer, Answer::Status(_)) => answer,
                Op::AssumeRole if ctx.rec.signing_service.is_none() => {
                    Answer::sts_error("MissingAuthenticationToken", first)
                }
                Op::AssumeRole => Answer::sts_error("InvalidParameterValue", first),
                Op::Authorize | Op::Approve | Op::DevicePage | Op::DeviceApprove => Answer::Html {
                    status: 400,
                    body: page("Sign-in request rejected", &first),
                },
                // What sso-oidc says to an unsigned or badly signed CreateTokenWithIAM.
                Op::CreateTokenWithIam if ctx.rec.signing_service.is_none() => {
                    Answer::oidc_error("AccessDeniedException", first)
                }
                _ => Answer::oidc_error("InvalidRequestException", first),
            };
            (answer, Duration::ZERO)
        }
        Checked::Ready(answer) => (answer, Duration::ZERO),
        Checked::Valid(finish) => {
            let fault = lock(&ctx.shared.faults)
                .get_mut(&op)
                .and_then(VecDeque::pop_front);
            match fault {
                None => (finish(ctx), Duration::ZERO),
                Some(fault) => {
                    ctx.rec.reply = fault.describe();
                    apply_fault(ctx, fault, finish)
                }
            }
        }
    }
}

/// A well-formed request's answer, computed only if no fault pre-empts it (so a fault does not
/// consume a code or rotate a refresh token).
pub(crate) type Finish = Box<dyn FnOnce(&mut Ctx<'_>) -> Answer>;

pub(crate) enum Checked {
    /// Answer already decided (a protocol problem, or an error found while checking).
    Ready(Answer),
    /// Well-formed: faults may pre-empt the operation's answer.
    Valid(Finish),
}

fn apply_fault(ctx: &mut Ctx<'_>, fault: Fault, finish: Finish) -> (Answer, Duration) {
    match fault {
        Fault::Error { code, description } => {
            let answer = match ctx.rec.op {
                Op::AssumeRole => Answer::sts_error(&code, description),
                Op::Authorize | Op::Approve => oidc::redirect_error(ctx, &code, &description),
                Op::DevicePage | Op::DeviceApprove => Answer::Html {
                    status: 400,
                    body: page("Sign-in failed", &format!("{code}: {description}")),
                },
                _ => Answer::oidc_error(&code, description),
            };
            (answer, Duration::ZERO)
        }
        Fault::Status(s) => (Answer::Status(s), Duration::ZERO),
        Fault::Hang => (Answer::Hang, Duration::ZERO),
        Fault::Slow(d) => (finish(ctx), d),
        Fault::Delay(d, inner) => {
            let (answer, more) = apply_fault(ctx, *inner, finish);
            (answer, d + more)
        }
    }
}

/// A small HTML page (the browser's view of errors and of the sign-in).
pub(crate) fn page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body><h1>{t}</h1><p>{x}</p></body></html>\n",
        t = html_escape(title),
        x = html_escape(text)
    )
}

pub(crate) fn html_escape(s: &str) -> String {
    crate::aws_standin::xml_escape(s)
}
