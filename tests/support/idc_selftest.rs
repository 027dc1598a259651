//! Proof that the Identity Center stand-in speaks sso-oidc and STS as the real SDK clients
//! expect them, so that the sign-in tests can trust it.
//!
//! Driven by `aws-sdk-ssooidc` and `aws-sdk-sts` (the crates the executable uses), over real
//! HTTP: every grant succeeds with the fields the SDK parses; every modeled error reaches the
//! caller as its own variant with `error_description()` set and `message()` empty, as AWS
//! sends them; PKCE, `state`, code reuse, refresh-token rotation and expiry, the identity
//! context's round trip into `AssumeRole`, and the role key reaching the Redshift stand-in.
//! The browser's part (`/authorize`, the auto-submitted form, the redirect) is played here
//! with raw HTTP; the sign-in tests use a real headless Chromium.
//!
//! Included next to `aws_standin` and `idc_standin`. The access-token mode (public clients,
//! the device grant) and the scope rules have their own file, `idc_access_selftest.rs`.

#[path = "idc_access_selftest.rs"]
mod access;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use crate::aws_standin::StandIn;
use crate::idc_standin::jwt;
use crate::idc_standin::{
    DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, Fault, GRANT_AUTHORIZATION_CODE, GRANT_JWT_BEARER,
    GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE, IDENTITY_CENTER_PROVIDER_ARN, IdcConfig, IdcStandIn,
    NO_SET_CONTEXT_ROLE_ARN, Op, Person, TOKEN_TYPE_ACCESS, person_in_access_key,
};

use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssooidc::operation::create_token_with_iam::{
    CreateTokenWithIAMError as IamError, CreateTokenWithIamOutput,
};
use aws_sdk_sts::operation::assume_role::{AssumeRoleError, AssumeRoleOutput};
use aws_sdk_sts::types::ProvidedContext;

pub(crate) const BOOTSTRAP_KEY: &str = "AKIDBOOTSTRAP";

pub(crate) fn creds() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new(BOOTSTRAP_KEY, "bootstrap-secret", None, None, "test")
}

pub(crate) fn oidc(s: &IdcStandIn, retry: bool) -> aws_sdk_ssooidc::Client {
    let retry = if retry {
        aws_sdk_ssooidc::config::retry::RetryConfig::standard()
            .with_initial_backoff(Duration::from_millis(10))
    } else {
        aws_sdk_ssooidc::config::retry::RetryConfig::disabled()
    };
    aws_sdk_ssooidc::Client::from_conf(
        aws_sdk_ssooidc::Config::builder()
            .behavior_version(aws_sdk_ssooidc::config::BehaviorVersion::latest())
            .region(aws_sdk_ssooidc::config::Region::new("us-east-1"))
            .endpoint_url(s.url())
            .credentials_provider(creds())
            .retry_config(retry)
            .build(),
    )
}

pub(crate) fn sts(s: &IdcStandIn, region: &str) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
            .region(aws_sdk_sts::config::Region::new(region.to_owned()))
            .endpoint_url(s.url())
            .credentials_provider(creds())
            .retry_config(aws_sdk_sts::config::retry::RetryConfig::disabled())
            .build(),
    )
}

pub(crate) type IamResult = Result<CreateTokenWithIamOutput, SdkError<IamError>>;

pub(crate) async fn jwt_bearer(c: &aws_sdk_ssooidc::Client, assertion: &str) -> IamResult {
    c.create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(GRANT_JWT_BEARER)
        .assertion(assertion)
        .send()
        .await
}

pub(crate) async fn refresh(c: &aws_sdk_ssooidc::Client, token: &str) -> IamResult {
    c.create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(GRANT_REFRESH_TOKEN)
        .refresh_token(token)
        .send()
        .await
}

/// The `ProvidedContexts` member of an Identity Center identity context.
fn identity_center(context: impl Into<String>) -> ProvidedContext {
    ProvidedContext::builder()
        .provider_arn(IDENTITY_CENTER_PROVIDER_ARN)
        .context_assertion(context)
        .build()
}

pub(crate) async fn assume(
    c: &aws_sdk_sts::Client,
    role: &str,
    context: &str,
) -> Result<AssumeRoleOutput, SdkError<AssumeRoleError>> {
    c.assume_role()
        .role_arn(role)
        .role_session_name("redshift-idc-token-0123456789abcdef")
        .duration_seconds(3600)
        .provided_contexts(identity_center(context))
        .send()
        .await
}

/// The identity context of a CreateTokenWithIAM answer, after checking that the ID token's
/// claims name `person` and carry the same context.
pub(crate) fn context_of(out: &CreateTokenWithIamOutput, person: &str) -> String {
    let context = out
        .aws_additional_details()
        .and_then(|d| d.identity_context())
        .expect("awsAdditionalDetails.identityContext")
        .to_owned();
    let (_, claims) = jwt::parts(out.id_token().expect("idToken")).expect("idToken is a JWT");
    assert_eq!(claims["sts:identity_context"], context.as_str());
    assert_eq!(claims["sub"], Person::new(person).user_id.as_str());
    assert_eq!(claims["username"], person);
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
    context
}

/// An sso-oidc error as AWS sends it: its variant, `error_description()` set, `message()`
/// empty, the OAuth `error` value.
pub(crate) fn description(e: &IamError) -> (Option<&str>, Option<&str>) {
    use IamError as E;
    match e {
        E::AccessDeniedException(x) => (x.error(), x.error_description()),
        E::AuthorizationPendingException(x) => (x.error(), x.error_description()),
        E::ExpiredTokenException(x) => (x.error(), x.error_description()),
        E::InternalServerException(x) => (x.error(), x.error_description()),
        E::InvalidClientException(x) => (x.error(), x.error_description()),
        E::InvalidGrantException(x) => (x.error(), x.error_description()),
        E::InvalidRequestException(x) => (x.error(), x.error_description()),
        E::InvalidRequestRegionException(x) => (x.error(), x.error_description()),
        E::InvalidScopeException(x) => (x.error(), x.error_description()),
        E::SlowDownException(x) => (x.error(), x.error_description()),
        E::UnauthorizedClientException(x) => (x.error(), x.error_description()),
        E::UnsupportedGrantTypeException(x) => (x.error(), x.error_description()),
        _ => (None, None),
    }
}

/// Asserts `r` failed with `code` at HTTP `status` and a description containing `needle`.
pub(crate) fn assert_oidc_error(r: IamResult, code: &str, status: u16, needle: &str) {
    let err = r.expect_err(code);
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(status),
        "{code}"
    );
    let err = err.into_service_error();
    assert_eq!(err.code(), Some(code), "{err:?}");
    assert_eq!(err.message(), None, "AWS sends no message: {err:?}");
    let (error, desc) = description(&err);
    assert!(error.is_some(), "{err:?}");
    let desc = desc.unwrap_or_else(|| panic!("{code}: no error_description: {err:?}"));
    assert!(desc.contains(needle), "{code}: {desc:?} lacks {needle:?}");
}

// ---------------------------------------------------------------------------------------------
// The browser, played with raw HTTP
// ---------------------------------------------------------------------------------------------

/// One HTTP/1.1 request; returns (status, headers lower-cased, body).
pub(crate) fn http(
    url: &str,
    method: &str,
    path: &str,
    form: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let addr = url.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = form.unwrap_or("");
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n");
    if form.is_some() {
        req += "content-type: application/x-www-form-urlencoded\r\n";
    }
    req += &format!("content-length: {}\r\n\r\n{body}", body.len());
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

pub(crate) fn location(headers: &[(String, String)]) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == "location")
        .map(|(_, v)| v.clone())
}

/// A PKCE pair: (verifier, S256 challenge).
pub(crate) fn pkce(seed: &str) -> (String, String) {
    let verifier = jwt::b64url(&jwt::sha256(seed.as_bytes())) + "-extra._~chars";
    let challenge = jwt::pkce_s256(&verifier);
    (verifier, challenge)
}

/// What a sign-in for the application asks for: an ID token (`openid`) with the `aws:` claims
/// and the identity context (`sts:identity_context`).
pub(crate) const APP_SCOPES: &str = "openid aws sts:identity_context";

fn authorize_path(client_id: &str, redirect: &str, state: &str, challenge: &str) -> String {
    authorize_path_with(client_id, redirect, state, challenge, APP_SCOPES)
}

pub(crate) fn authorize_path_with(
    client_id: &str,
    redirect: &str,
    state: &str,
    challenge: &str,
    scopes: &str,
) -> String {
    let q = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect)
        .append_pair("state", state)
        .append_pair("code_challenge_method", "S256")
        .append_pair("scopes", scopes)
        .append_pair("code_challenge", challenge)
        .finish();
    format!("/authorize?{q}")
}

/// What a browser does: open the page, submit its form, follow to the redirect; returns the
/// redirect's query parameters.
pub(crate) fn browse(s: &IdcStandIn, path: &str) -> Vec<(String, String)> {
    let (status, _, page) = http(&s.url(), "GET", path, None);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("document.forms[0].submit()"), "{page}");
    let session = page
        .split("name=\"session\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("session field");
    let (status, headers, _) = http(
        &s.url(),
        "POST",
        "/authorize/approve",
        Some(&format!("session={session}")),
    );
    assert_eq!(status, 302);
    let to = location(&headers).expect("Location");
    let query = to.split_once('?').map_or("", |(_, q)| q);
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// An authorization code for the application, from a browser sign-in with `state`.
pub(crate) fn app_code(s: &IdcStandIn, state: &str, challenge: &str) -> String {
    let q = browse(
        s,
        &authorize_path(DEFAULT_APPLICATION_ARN, REDIRECT, state, challenge),
    );
    assert_eq!(param(&q, "state"), Some(state));
    param(&q, "code").expect("code").to_owned()
}

pub(crate) fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

pub(crate) const REDIRECT: &str = "http://127.0.0.1:7890/oauth/callback";

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn sdk_jwt_bearer_then_assume_role_then_redshift_names_the_person() {
    let s = IdcStandIn::start();
    let out = jwt_bearer(
        &oidc(&s, false),
        &s.jwt_for("bob", Duration::from_secs(300)),
    )
    .await
    .expect("jwt-bearer");
    assert!(out.access_token().is_some_and(|t| !t.is_empty()));
    assert!(out.refresh_token().is_some());
    assert_eq!(out.token_type(), Some("Bearer"));
    assert_eq!(out.expires_in(), 3600);
    assert_eq!(
        out.issued_token_type(),
        Some("urn:ietf:params:oauth:token-type:refresh_token")
    );
    let context = context_of(&out, "bob");
    assert!(
        context.ends_with('=')
            || context.contains('+')
            || context.contains('/')
            || context.len() > 40
    );

    let role = assume(&sts(&s, "us-east-1"), DEFAULT_ROLE_ARN, &context)
        .await
        .expect("assume role");
    let c = role.credentials().expect("credentials");
    assert_eq!(c.access_key_id(), "ASIABOB0001");
    assert_eq!(
        person_in_access_key(c.access_key_id()).as_deref(),
        Some("bob")
    );
    assert_eq!(
        s.person_of_access_key(c.access_key_id()).as_deref(),
        Some("bob")
    );
    let left = c.expiration().secs() - time::OffsetDateTime::now_utc().unix_timestamp();
    assert!((3590..=3601).contains(&left), "{left}");
    assert!(
        role.assumed_role_user()
            .unwrap()
            .arn()
            .ends_with(":assumed-role/RedshiftIdcUser/redshift-idc-token-0123456789abcdef")
    );

    let recs = s.requests();
    assert_eq!(recs.len(), 2);
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    assert_eq!(recs[0].op, Op::CreateTokenWithIam);
    assert_eq!(recs[0].signing_service.as_deref(), Some("sso-oauth"));
    assert_eq!(recs[0].access_key_id.as_deref(), Some(BOOTSTRAP_KEY));
    assert_eq!(recs[0].grant_type.as_deref(), Some(GRANT_JWT_BEARER));
    assert_eq!(recs[0].person.as_deref(), Some("bob"));
    assert_eq!(recs[1].op, Op::AssumeRole);
    assert_eq!(recs[1].signing_service.as_deref(), Some("sts"));
    assert_eq!(recs[1].role_arn.as_deref(), Some(DEFAULT_ROLE_ARN));
    assert_eq!(recs[1].duration_seconds, Some(3600));
    assert_eq!(recs[1].person.as_deref(), Some("bob"));
    assert_eq!(recs[1].issued_access_key_id.as_deref(), Some("ASIABOB0001"));
    assert_eq!(s.count_ok(Op::AssumeRole), 1);

    // The role credentials, used on the Redshift stand-in, make it name bob's key.
    let redshift = StandIn::start();
    let rs = aws_sdk_redshift::Client::from_conf(
        aws_sdk_redshift::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_redshift::config::Region::new("us-east-1"))
            .endpoint_url(redshift.url())
            .credentials_provider(aws_credential_types::Credentials::new(
                c.access_key_id(),
                c.secret_access_key(),
                Some(c.session_token().to_owned()),
                None,
                "role",
            ))
            .build(),
    );
    let token = rs
        .get_identity_center_auth_token()
        .cluster_ids("c1")
        .send()
        .await
        .unwrap();
    assert!(
        token
            .token()
            .unwrap()
            .starts_with("idc.rs.us-east-1.ASIABOB0001.c1.1."),
        "{token:?}"
    );
    assert!(redshift.requests()[0].has_security_token);
}

#[tokio::test]
async fn sdk_sees_every_create_token_with_iam_error_as_aws_sends_it() {
    let s = IdcStandIn::start();
    let c = oidc(&s, false);
    let jwt = s.jwt_for("alice", Duration::from_secs(300));
    type Is = fn(&IamError) -> bool;
    let cases: [(&str, u16, Is); 12] = [
        (
            "AccessDeniedException",
            400,
            IamError::is_access_denied_exception,
        ),
        (
            "AuthorizationPendingException",
            400,
            IamError::is_authorization_pending_exception,
        ),
        (
            "ExpiredTokenException",
            400,
            IamError::is_expired_token_exception,
        ),
        (
            "InternalServerException",
            500,
            IamError::is_internal_server_exception,
        ),
        (
            "InvalidClientException",
            401,
            IamError::is_invalid_client_exception,
        ),
        (
            "InvalidGrantException",
            400,
            IamError::is_invalid_grant_exception,
        ),
        (
            "InvalidRequestException",
            400,
            IamError::is_invalid_request_exception,
        ),
        (
            "InvalidRequestRegionException",
            400,
            IamError::is_invalid_request_region_exception,
        ),
        (
            "InvalidScopeException",
            400,
            IamError::is_invalid_scope_exception,
        ),
        ("SlowDownException", 400, IamError::is_slow_down_exception),
        (
            "UnauthorizedClientException",
            400,
            IamError::is_unauthorized_client_exception,
        ),
        (
            "UnsupportedGrantTypeException",
            400,
            IamError::is_unsupported_grant_type_exception,
        ),
    ];
    for (code, status, is) in cases {
        s.push(
            Op::CreateTokenWithIam,
            Fault::error(code, &format!("why {code}")),
        );
        let r = jwt_bearer(&c, &jwt).await;
        let err = r.as_ref().expect_err(code);
        assert!(is(err.as_service_error().unwrap()), "{code}: {err:?}");
        assert_oidc_error(r, code, status, &format!("why {code}"));
    }
    let recs = s.requests();
    assert_eq!(recs[5].reply, "fault:InvalidGrantException");
    assert_eq!(s.pending_faults(), 0);
    // The grant itself was never processed for a faulted request: no token issued yet.
    assert_eq!(s.count_ok(Op::CreateTokenWithIam), 0);
    jwt_bearer(&c, &jwt).await.expect("after the faults");
}

#[tokio::test]
async fn sdk_jwt_bearer_refusals_name_the_reason() {
    let s = IdcStandIn::start_with(IdcConfig {
        denied_bootstrap_keys: vec!["AKIDDENIED".into()],
        idc_region: Some("us-east-1".into()),
        ..IdcConfig::default()
    });
    let c = oidc(&s, false);
    let ttl = Duration::from_secs(300);
    let untrusted = s.jwt_with("alice", ttl, "https://evil.test", "redshift-idc-token");
    assert_oidc_error(
        jwt_bearer(&c, &untrusted).await,
        "InvalidGrantException",
        400,
        "not a trusted token issuer",
    );
    let wrong_aud = s.jwt_with("alice", ttl, "https://issuer.standin.test", "other");
    assert_oidc_error(
        jwt_bearer(&c, &wrong_aud).await,
        "InvalidGrantException",
        400,
        "audience",
    );
    let expired = s.expired_jwt_for("alice");
    assert_oidc_error(
        jwt_bearer(&c, &expired).await,
        "InvalidGrantException",
        400,
        "expired",
    );
    let good = s.jwt_for("alice", ttl);
    let (h, _, sig) = {
        let v: Vec<&str> = good.split('.').collect();
        (v[0].to_owned(), v[1].to_owned(), v[2].to_owned())
    };
    let forged = format!(
        "{h}.{}.{sig}",
        jwt::b64url(br#"{"email":"bob@example.com"}"#)
    );
    assert_oidc_error(
        jwt_bearer(&c, &forged).await,
        "InvalidGrantException",
        400,
        "signature",
    );
    assert_oidc_error(
        jwt_bearer(&c, "not-a-jwt").await,
        "InvalidGrantException",
        400,
        "3 dot-separated",
    );

    let r = c
        .create_token_with_iam()
        .client_id("arn:aws:sso::123456789012:application/ssoins-x/apl-other")
        .grant_type(GRANT_JWT_BEARER)
        .assertion(&good)
        .send()
        .await;
    assert_oidc_error(
        r,
        "InvalidClientException",
        401,
        "not a customer managed application",
    );
    let r = c
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type("password")
        .send()
        .await;
    assert_oidc_error(r, "UnsupportedGrantTypeException", 400, "password");
    let r = c
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(GRANT_JWT_BEARER)
        .assertion(&good)
        .scope("admin:everything")
        .send()
        .await;
    assert_oidc_error(r, "InvalidScopeException", 400, "admin:everything");
    let r = c
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(GRANT_JWT_BEARER)
        .send()
        .await;
    assert_oidc_error(r, "InvalidRequestException", 400, "assertion");

    // The application policy does not let this bootstrap identity call CreateTokenWithIAM.
    let denied = aws_sdk_ssooidc::Client::from_conf(
        c.config()
            .to_builder()
            .credentials_provider(aws_credential_types::Credentials::new(
                "AKIDDENIED",
                "x",
                None,
                None,
                "test",
            ))
            .build(),
    );
    assert_oidc_error(
        jwt_bearer(&denied, &good).await,
        "AccessDeniedException",
        400,
        "sso-oauth:CreateTokenWithIAM",
    );
    // Signed for another region than the instance's.
    let elsewhere = aws_sdk_ssooidc::Client::from_conf(
        c.config()
            .to_builder()
            .region(aws_sdk_ssooidc::config::Region::new("eu-west-1"))
            .build(),
    );
    assert_oidc_error(
        jwt_bearer(&elsewhere, &good).await,
        "InvalidRequestRegionException",
        400,
        "us-east-1",
    );
    match jwt_bearer(&elsewhere, &good)
        .await
        .unwrap_err()
        .into_service_error()
    {
        IamError::InvalidRequestRegionException(e) => {
            assert_eq!(e.region(), Some("us-east-1"));
            assert_eq!(e.endpoint(), Some("https://oidc.us-east-1.amazonaws.com"));
        }
        other => panic!("{other:?}"),
    }
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    assert_eq!(s.count_ok(Op::CreateTokenWithIam), 0);
}

#[tokio::test]
async fn sdk_authorization_code_with_pkce_state_and_single_use_codes() {
    let s = IdcStandIn::start();
    s.set_browser_person("bob");
    let c = oidc(&s, false);
    let (verifier, challenge) = pkce("one");
    let state = "st+te/with=odd&chars";
    let q = browse(
        &s,
        &authorize_path(DEFAULT_APPLICATION_ARN, REDIRECT, state, &challenge),
    );
    assert_eq!(
        param(&q, "state"),
        Some(state),
        "state must round-trip: {q:?}"
    );
    let code = param(&q, "code").expect("code").to_owned();

    let exchange = |code: String, verifier: String, redirect: &'static str| {
        let c = c.clone();
        async move {
            c.create_token_with_iam()
                .client_id(DEFAULT_APPLICATION_ARN)
                .grant_type(GRANT_AUTHORIZATION_CODE)
                .code(code)
                .code_verifier(verifier)
                .redirect_uri(redirect)
                .send()
                .await
        }
    };
    // The wrong verifier burns the code (single use whatever the outcome).
    let (wrong, _) = pkce("two");
    assert_oidc_error(
        exchange(code.clone(), wrong, REDIRECT).await,
        "InvalidGrantException",
        400,
        "code_challenge",
    );
    assert_oidc_error(
        exchange(code.clone(), verifier.clone(), REDIRECT).await,
        "InvalidGrantException",
        400,
        "Invalid authorization code",
    );

    let code = app_code(&s, "s2", &challenge);
    assert_oidc_error(
        exchange(
            code,
            verifier.clone(),
            "http://127.0.0.1:7891/oauth/callback",
        )
        .await,
        "InvalidGrantException",
        400,
        "redirectUri",
    );

    let code = app_code(&s, "s3", &challenge);
    let out = exchange(code.clone(), verifier.clone(), REDIRECT)
        .await
        .expect("code grant");
    context_of(&out, "bob");
    assert!(out.refresh_token().is_some());
    assert_oidc_error(
        exchange(code, verifier, REDIRECT).await,
        "InvalidGrantException",
        400,
        "Invalid authorization code",
    );

    assert_eq!(s.sign_ins(), 3);
    assert_eq!(s.count(Op::Authorize), 3);
    assert_eq!(s.count_grant(GRANT_AUTHORIZATION_CODE), 5);
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}

#[tokio::test]
async fn authorize_page_rejects_bad_requests_like_identity_center() {
    let s = IdcStandIn::start();
    let (_, challenge) = pkce("x");
    // Unknown client, non-loopback redirect: an error page, no redirect.
    let (status, _, body) = http(
        &s.url(),
        "GET",
        &authorize_path("nobody", REDIRECT, "s", &challenge),
        None,
    );
    assert_eq!(status, 400);
    assert!(body.contains("not known"), "{body}");
    let path = authorize_path(
        DEFAULT_APPLICATION_ARN,
        "http://evil.test/cb",
        "s",
        &challenge,
    );
    let (status, headers, _) = http(&s.url(), "GET", &path, None);
    assert_eq!((status, location(&headers)), (400, None));
    // Everything else: back to the redirect URI with error=, and the state.
    let bad = [
        (
            authorize_path(DEFAULT_APPLICATION_ARN, REDIRECT, "s", "short"),
            "invalid_request",
        ),
        (
            authorize_path(DEFAULT_APPLICATION_ARN, REDIRECT, "", &challenge),
            "invalid_request",
        ),
        (
            authorize_path(DEFAULT_APPLICATION_ARN, REDIRECT, "s", &challenge)
                .replace("S256", "plain"),
            "invalid_request",
        ),
        (
            authorize_path(DEFAULT_APPLICATION_ARN, REDIRECT, "s", &challenge)
                .replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            authorize_path(DEFAULT_APPLICATION_ARN, REDIRECT, "s", &challenge)
                .replace("openid", "root"),
            "invalid_scope",
        ),
        (
            authorize_path_with(DEFAULT_APPLICATION_ARN, REDIRECT, "s", &challenge, ""),
            "invalid_scope",
        ),
    ];
    for (path, error) in bad {
        let (status, headers, _) = http(&s.url(), "GET", &path, None);
        assert_eq!(status, 302, "{path}");
        let to = location(&headers).unwrap();
        assert!(to.starts_with(REDIRECT), "{to}");
        assert!(to.contains(&format!("error={error}")), "{path} -> {to}");
    }
    // An injected refusal in the browser, and a page that never loads.
    s.push(
        Op::Approve,
        Fault::error("access_denied", "the person said no"),
    );
    let q = browse(
        &s,
        &authorize_path(DEFAULT_APPLICATION_ARN, REDIRECT, "s9", &challenge),
    );
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some("s9"));
    assert_eq!(param(&q, "code"), None);
    assert_eq!(s.sign_ins(), 0);
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}

#[tokio::test]
async fn sdk_refresh_tokens_rotate_and_expire() {
    let s = IdcStandIn::start();
    let c = oidc(&s, false);
    let first = jwt_bearer(&c, &s.jwt_for("alice", Duration::from_secs(60)))
        .await
        .unwrap();
    let r1 = first.refresh_token().unwrap().to_owned();
    let second = refresh(&c, &r1).await.expect("refresh");
    let r2 = second
        .refresh_token()
        .expect("a new refresh token")
        .to_owned();
    assert_ne!(r1, r2);
    let c1 = context_of(&first, "alice");
    let c2 = context_of(&second, "alice");
    assert_ne!(c1, c2, "each grant gets a fresh identity context");
    assert_oidc_error(
        refresh(&c, &r1).await,
        "InvalidGrantException",
        400,
        "Invalid refresh token provided",
    );
    s.expire_refresh_tokens();
    assert_oidc_error(
        refresh(&c, &r2).await,
        "InvalidGrantException",
        400,
        "Invalid refresh token provided",
    );
    assert_eq!(s.count_grant(GRANT_REFRESH_TOKEN), 3);

    // Without rotation the same refresh token keeps working.
    let s = IdcStandIn::start_with(IdcConfig {
        rotate_refresh_tokens: false,
        ..IdcConfig::default()
    });
    let c = oidc(&s, false);
    let first = jwt_bearer(&c, &s.jwt_for("alice", Duration::from_secs(60)))
        .await
        .unwrap();
    let r = first.refresh_token().unwrap();
    let again = refresh(&c, r).await.unwrap();
    assert_eq!(again.refresh_token(), Some(r));
    refresh(&c, r).await.expect("still valid");
}

#[tokio::test]
async fn sdk_public_client_code_then_token_exchange() {
    let s = IdcStandIn::start();
    let c = oidc(&s, false);
    let reg = c
        .register_client()
        .client_name("redshift-idc-token")
        .client_type("public")
        .scopes("openid")
        .scopes("redshift:connect")
        .grant_types(GRANT_AUTHORIZATION_CODE)
        .grant_types(GRANT_REFRESH_TOKEN)
        .redirect_uris("http://127.0.0.1/oauth/callback")
        .send()
        .await
        .expect("register");
    let client_id = reg.client_id().unwrap().to_owned();
    let secret = reg.client_secret().unwrap().to_owned();
    assert!(reg.client_secret_expires_at() > reg.client_id_issued_at());

    let (verifier, challenge) = pkce("pub");
    let q = browse(
        &s,
        &authorize_path_with(
            &client_id,
            "http://127.0.0.1:5001/oauth/callback",
            "ps",
            &challenge,
            "openid redshift:connect",
        ),
    );
    let code = param(&q, "code").unwrap();
    let token = c
        .create_token()
        .client_id(&client_id)
        .client_secret(&secret)
        .grant_type(GRANT_AUTHORIZATION_CODE)
        .code(code)
        .code_verifier(&verifier)
        .redirect_uri("http://127.0.0.1:5001/oauth/callback")
        .send()
        .await
        .expect("create token");
    let access = token.access_token().unwrap().to_owned();
    assert!(token.refresh_token().is_some());
    let wrong_secret = c
        .create_token()
        .client_id(&client_id)
        .client_secret("nope")
        .grant_type(GRANT_REFRESH_TOKEN)
        .refresh_token(token.refresh_token().unwrap())
        .send()
        .await
        .expect_err("wrong secret");
    assert_eq!(
        wrong_secret.raw_response().map(|r| r.status().as_u16()),
        Some(401)
    );
    let wrong_secret = wrong_secret.into_service_error();
    assert!(
        wrong_secret.is_invalid_client_exception(),
        "{wrong_secret:?}"
    );

    let out = c
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(GRANT_TOKEN_EXCHANGE)
        .subject_token(&access)
        .subject_token_type(TOKEN_TYPE_ACCESS)
        .requested_token_type(TOKEN_TYPE_ACCESS)
        .send()
        .await
        .expect("token exchange");
    context_of(&out, "alice");
    assert_eq!(out.issued_token_type(), Some(TOKEN_TYPE_ACCESS));
    assert_eq!(out.refresh_token(), None);
    let bad = c
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(GRANT_TOKEN_EXCHANGE)
        .subject_token("forged")
        .subject_token_type(TOKEN_TYPE_ACCESS)
        .send()
        .await;
    assert_oidc_error(bad, "InvalidGrantException", 400, "subject token");

    let recs = s.requests();
    let register = recs.iter().find(|r| r.op == Op::RegisterClient).unwrap();
    assert_eq!(register.access_key_id, None, "RegisterClient is unsigned");
    let create = recs.iter().find(|r| r.op == Op::CreateToken).unwrap();
    assert_eq!(create.access_key_id, None, "CreateToken is unsigned");
    assert_eq!(create.person.as_deref(), Some("alice"));
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}

#[tokio::test]
async fn sdk_sees_assume_role_refusals() {
    use aws_sdk_sts::error::ProvideErrorMetadata;
    let s = IdcStandIn::start_with(IdcConfig {
        disabled_sts_regions: vec!["ap-east-1".into()],
        ..IdcConfig::default()
    });
    let out = jwt_bearer(
        &oidc(&s, false),
        &s.jwt_for("alice", Duration::from_secs(60)),
    )
    .await
    .unwrap();
    let context = context_of(&out, "alice");
    let st = sts(&s, "us-east-1");

    let err = assume(&st, NO_SET_CONTEXT_ROLE_ARN, &context)
        .await
        .expect_err("no SetContext");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    let err = err.into_service_error();
    assert_eq!(err.code(), Some("AccessDenied"));
    assert!(err.message().unwrap().contains("sts:SetContext"), "{err:?}");

    let err = assume(&st, DEFAULT_ROLE_ARN, "bm90LWlzc3VlZA==")
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidParameterValue"), "{err:?}");

    let err = st
        .assume_role()
        .role_arn(DEFAULT_ROLE_ARN)
        .role_session_name("s1")
        .provided_contexts(
            ProvidedContext::builder()
                .provider_arn("arn:aws:iam::aws:contextProvider/Other")
                .context_assertion(&context)
                .build(),
        )
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("InvalidParameterValue"));
    assert!(err.message().unwrap().contains("ProviderArn"));

    let policy = |p: String| {
        let st = st.clone();
        let context = context.clone();
        async move {
            st.assume_role()
                .role_arn(DEFAULT_ROLE_ARN)
                .role_session_name("s1")
                .policy(p)
                .provided_contexts(identity_center(context))
                .send()
                .await
                .unwrap_err()
                .into_service_error()
        }
    };
    assert!(
        policy("{nope".into())
            .await
            .is_malformed_policy_document_exception()
    );
    let big = format!("{{\"Statement\":\"{}\"}}", "x".repeat(3000));
    assert!(policy(big).await.is_packed_policy_too_large_exception());

    let err = assume(&sts(&s, "ap-east-1"), DEFAULT_ROLE_ARN, &context)
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
    assert!(err.into_service_error().is_region_disabled_exception());

    let err = st
        .assume_role()
        .role_arn("arn:aws:iam::123:role/x")
        .role_session_name("s1")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(err.code(), Some("ValidationError"));

    s.push(
        Op::AssumeRole,
        Fault::error(
            "ExpiredTokenException",
            "The security token included in the request is expired",
        ),
    );
    assert!(
        assume(&st, DEFAULT_ROLE_ARN, &context)
            .await
            .unwrap_err()
            .into_service_error()
            .is_expired_token_exception()
    );
    s.expire_access_tokens();
    let err = assume(&st, DEFAULT_ROLE_ARN, &context)
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_expired_token_exception(), "{err:?}");

    // Without a context STS still answers (plain credentials, naming nobody).
    let plain = st
        .assume_role()
        .role_arn(DEFAULT_ROLE_ARN)
        .role_session_name("s1")
        .send()
        .await
        .unwrap();
    let key = plain.credentials().unwrap().access_key_id();
    assert_eq!(person_in_access_key(key), None, "{key}");
    assert!(s.problems().is_empty(), "{:?}", s.problems());
    assert_eq!(s.count_ok(Op::AssumeRole), 1);
}

#[tokio::test]
async fn sdk_retries_transient_faults_and_waits_out_delays() {
    let s = IdcStandIn::start();
    let c = oidc(&s, true);
    let jwt = s.jwt_for("alice", Duration::from_secs(60));
    s.push(Op::CreateTokenWithIam, Fault::Status(503));
    s.push(
        Op::CreateTokenWithIam,
        Fault::error("InternalServerException", "oops"),
    );
    let out = jwt_bearer(&c, &jwt).await.expect("third attempt succeeds");
    context_of(&out, "alice");
    assert_eq!(s.count(Op::CreateTokenWithIam), 3);
    assert_eq!(s.count_ok(Op::CreateTokenWithIam), 1);

    s.push(
        Op::CreateTokenWithIam,
        Fault::Slow(Duration::from_millis(300)),
    );
    let t0 = std::time::Instant::now();
    jwt_bearer(&oidc(&s, false), &jwt)
        .await
        .expect("slow but fine");
    assert!(t0.elapsed() >= Duration::from_millis(300));
    let counts = s.counts();
    assert_eq!(counts["requests"]["CreateTokenWithIAM"], 4);
    assert_eq!(counts["ok"]["CreateTokenWithIAM"], 2);
}

#[test]
fn counts_endpoint_log_file_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("idc.jsonl");
    let s = IdcStandIn::start_with(IdcConfig {
        log_file: Some(log.clone()),
        max_requests: 3,
        ..IdcConfig::default()
    });
    let (_, challenge) = pkce("l");
    let code = app_code(&s, "s", &challenge);
    let (status, _, body) = http(&s.url(), "GET", "/standin/counts", None);
    assert_eq!(status, 200);
    let counts: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(counts["ok"]["Authorize"], 1);
    assert_eq!(counts["ok"]["Approve"], 1);
    let (status, _, _) = http(&s.url(), "GET", "/nothing", None);
    assert_eq!(
        status, 503,
        "the counts request counted towards max_requests"
    );
    assert!(s.is_finished());
    drop(s);
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["op"], "Authorize");
    assert_eq!(lines[1]["op"], "Approve");
    assert_eq!(lines[1]["person"], "alice");
    assert!(!text.contains(&code), "the log holds no secrets");

    let s = IdcStandIn::start_with(IdcConfig {
        max_lifetime: Duration::from_millis(200),
        ..IdcConfig::default()
    });
    let addr = s.url().trim_start_matches("http://").to_owned();
    std::thread::sleep(Duration::from_millis(500));
    assert!(!s.is_running());
    assert!(TcpStream::connect(addr).is_err(), "port still open");
}

#[test]
fn unknown_paths_and_malformed_sts_requests_are_problems() {
    let s = IdcStandIn::start();
    let (status, _, _) = http(&s.url(), "GET", "/token", None);
    assert_eq!(status, 404);
    let (status, _, body) = http(
        &s.url(),
        "POST",
        "/",
        Some("Action=AssumeRole&Version=2011-06-15&RoleArn=x"),
    );
    assert_eq!(status, 403);
    assert!(
        body.contains("<Code>MissingAuthenticationToken</Code>"),
        "{body}"
    );
    let problems = s.problems();
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("GET /token"), "{problems:?}");
    assert!(problems[1].contains("unsigned"), "{problems:?}");
}

#[tokio::test]
async fn sdk_sees_register_client_and_create_token_errors_as_aws_sends_them() {
    let s = IdcStandIn::start();
    let c = oidc(&s, false);
    let register = |client_type: &str, redirect: &str| {
        c.register_client()
            .client_name("t")
            .client_type(client_type)
            .grant_types(GRANT_AUTHORIZATION_CODE)
            .redirect_uris(redirect)
            .send()
    };
    let err = register("confidential", "http://127.0.0.1/cb")
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    let err = err.into_service_error();
    assert!(err.is_invalid_client_metadata_exception(), "{err:?}");
    assert_eq!(err.message(), None);
    let err = register("public", "https://example.com/cb")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_redirect_uri_exception(), "{err:?}");
    let aws_sdk_ssooidc::operation::register_client::RegisterClientError::InvalidRedirectUriException(e) = &err
    else {
        unreachable!()
    };
    assert!(
        e.error_description()
            .unwrap()
            .contains("https://example.com/cb")
    );

    let code_only = register("public", "http://127.0.0.1/cb").await.unwrap();
    let reg = c
        .register_client()
        .client_name("t")
        .client_type("public")
        .grant_types(GRANT_AUTHORIZATION_CODE)
        .grant_types(GRANT_REFRESH_TOKEN)
        .redirect_uris("http://127.0.0.1/cb")
        .send()
        .await
        .unwrap();
    use aws_sdk_ssooidc::operation::create_token::CreateTokenError as E;
    type Is = fn(&E) -> bool;
    let cases: [(&str, u16, Is); 11] = [
        ("AccessDeniedException", 400, E::is_access_denied_exception),
        (
            "AuthorizationPendingException",
            400,
            E::is_authorization_pending_exception,
        ),
        ("ExpiredTokenException", 400, E::is_expired_token_exception),
        (
            "InternalServerException",
            500,
            E::is_internal_server_exception,
        ),
        (
            "InvalidClientException",
            401,
            E::is_invalid_client_exception,
        ),
        ("InvalidGrantException", 400, E::is_invalid_grant_exception),
        (
            "InvalidRequestException",
            400,
            E::is_invalid_request_exception,
        ),
        ("InvalidScopeException", 400, E::is_invalid_scope_exception),
        ("SlowDownException", 400, E::is_slow_down_exception),
        (
            "UnauthorizedClientException",
            400,
            E::is_unauthorized_client_exception,
        ),
        (
            "UnsupportedGrantTypeException",
            400,
            E::is_unsupported_grant_type_exception,
        ),
    ];
    for (code, status, is) in cases {
        s.push(Op::CreateToken, Fault::error(code, "described"));
        let err = c
            .create_token()
            .client_id(reg.client_id().unwrap())
            .client_secret(reg.client_secret().unwrap())
            .grant_type(GRANT_REFRESH_TOKEN)
            .refresh_token("r")
            .send()
            .await
            .expect_err(code);
        assert_eq!(
            err.raw_response().map(|r| r.status().as_u16()),
            Some(status),
            "{code}"
        );
        let err = err.into_service_error();
        assert!(is(&err), "{code}: {err:?}");
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.message(), None, "{code}");
    }
    // A client registered without refresh_token: the grant is not authorized.
    let err = c
        .create_token()
        .client_id(code_only.client_id().unwrap())
        .client_secret(code_only.client_secret().unwrap())
        .grant_type(GRANT_REFRESH_TOKEN)
        .refresh_token("r")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_client_exception(), "{err:?}");
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}
