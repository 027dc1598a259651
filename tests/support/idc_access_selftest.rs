//! Proof of the Identity Center stand-in's scope rules and of its access-token mode, driven by
//! the real `aws-sdk-ssooidc` over HTTP, as the drivers' `BrowserIdcAuthPlugin` and the AWS
//! CLI use the service: which scopes a grant carries and what the reply then holds
//! (`idToken`, `sts:identity_context`), public clients (`issuerUrl`, `redshift:connect`,
//! registration expiry, grant types), access tokens that name the person and expire,
//! refresh tokens that can be revoked, and the device grant with its polling errors.
//!
//! Included by `idc_selftest.rs`, whose browser and SDK helpers it uses.

use std::time::Duration;

use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssooidc::operation::create_token::{CreateTokenError, CreateTokenOutput};
use aws_sdk_ssooidc::operation::register_client::RegisterClientOutput;

use super::{
    APP_SCOPES, IamResult, REDIRECT, app_code, assert_oidc_error, authorize_path_with, browse,
    context_of, http, jwt_bearer, location, oidc, param, pkce,
};
use crate::idc_standin::jwt;
use crate::idc_standin::{
    DEFAULT_APPLICATION_ARN, DEFAULT_ISSUER_URL, DEFAULT_START_URL, GRANT_AUTHORIZATION_CODE,
    GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN, IdcConfig, IdcStandIn, Op, Person,
};

/// What the drivers' BrowserIdcAuthPlugin registers (and the lead's client will).
const DRIVER_GRANTS: [&str; 3] = [
    GRANT_AUTHORIZATION_CODE,
    GRANT_REFRESH_TOKEN,
    GRANT_DEVICE_CODE,
];

async fn register(
    c: &aws_sdk_ssooidc::Client,
    issuer_url: &str,
    redirect: &str,
    grants: &[&str],
) -> Result<RegisterClientOutput, String> {
    let mut req = c
        .register_client()
        .client_name("redshift-idc-token")
        .client_type("public")
        .scopes("redshift:connect")
        .issuer_url(issuer_url)
        .redirect_uris(redirect);
    for g in grants {
        req = req.grant_types(*g);
    }
    req.send().await.map_err(|e| {
        let e = e.into_service_error();
        format!("{}: {e:?}", e.code().unwrap_or("?"))
    })
}

type TokenResult = Result<CreateTokenOutput, SdkError<CreateTokenError>>;

/// Asserts a CreateToken failure: its code, HTTP status, and a description containing `needle`.
fn assert_token_error(r: TokenResult, code: &str, status: u16, needle: &str) {
    let err = r.expect_err(code);
    assert_eq!(
        err.raw_response().map(|r| r.status().as_u16()),
        Some(status)
    );
    let err = err.into_service_error();
    assert_eq!(err.code(), Some(code), "{err:?}");
    assert_eq!(err.message(), None, "AWS sends no message");
    let desc = format!("{err:?}");
    assert!(desc.contains(needle), "{code}: {desc} lacks {needle:?}");
}

async fn refresh_public(
    c: &aws_sdk_ssooidc::Client,
    reg: &RegisterClientOutput,
    token: &str,
) -> TokenResult {
    c.create_token()
        .client_id(reg.client_id().unwrap())
        .client_secret(reg.client_secret().unwrap())
        .grant_type(GRANT_REFRESH_TOKEN)
        .refresh_token(token)
        .send()
        .await
}

async fn poll(
    c: &aws_sdk_ssooidc::Client,
    reg: &RegisterClientOutput,
    device: &str,
) -> TokenResult {
    c.create_token()
        .client_id(reg.client_id().unwrap())
        .client_secret(reg.client_secret().unwrap())
        .grant_type(GRANT_DEVICE_CODE)
        .device_code(device)
        .send()
        .await
}

/// CreateTokenWithIAM for an authorization code of the application, with optional `scope`.
async fn exchange(s: &IdcStandIn, scopes: &str, downscope: &[&str]) -> IamResult {
    let (verifier, challenge) = pkce(scopes);
    let q = browse(
        s,
        &authorize_path_with(DEFAULT_APPLICATION_ARN, REDIRECT, "st", &challenge, scopes),
    );
    let code = param(&q, "code").expect("code").to_owned();
    let mut req = oidc(s, false)
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(GRANT_AUTHORIZATION_CODE)
        .code(code)
        .code_verifier(verifier)
        .redirect_uri(REDIRECT);
    for d in downscope {
        req = req.scope(*d);
    }
    req.send().await
}

#[tokio::test]
async fn the_code_carries_its_scopes_and_only_sts_identity_context_brings_the_context() {
    let s = IdcStandIn::start();
    // Issue 15: a sign-in asking for `openid` alone gets an ID token without the context.
    let out = exchange(&s, "openid", &[]).await.expect("openid only");
    let (_, claims) = jwt::parts(out.id_token().expect("idToken")).unwrap();
    assert_eq!(claims["sub"], Person::new("alice").user_id.as_str());
    assert!(claims.get("sts:identity_context").is_none(), "{claims}");
    assert!(claims.get("aws:identity_store_id").is_none(), "{claims}");
    assert!(out.aws_additional_details().is_none());
    assert_eq!(out.scope(), ["openid"]);

    // The three default scopes: ID token, aws: claims, the context in both places.
    let out = exchange(&s, APP_SCOPES, &[]).await.expect("all three");
    let context = context_of(&out, "alice");
    let (_, claims) = jwt::parts(out.id_token().unwrap()).unwrap();
    assert_eq!(claims["aws:identity_store_id"], "d-9067c2e1f0");
    assert_eq!(out.scope(), ["openid", "aws", "sts:identity_context"]);
    assert!(!context.is_empty());

    // The context without openid: no ID token, the context only in awsAdditionalDetails.
    let out = exchange(&s, "sts:identity_context", &[]).await.unwrap();
    assert_eq!(out.id_token(), None);
    assert!(
        out.aws_additional_details()
            .unwrap()
            .identity_context()
            .is_some()
    );

    // `scope` on CreateTokenWithIAM only narrows what the code carries.
    let out = exchange(&s, APP_SCOPES, &["openid"]).await.unwrap();
    assert!(out.aws_additional_details().is_none());
    assert_eq!(out.scope(), ["openid"]);
    assert_oidc_error(
        exchange(&s, "openid", &["openid", "sts:identity_context"]).await,
        "InvalidScopeException",
        400,
        "sts:identity_context",
    );

    // A refresh keeps the refresh token's scopes, and may narrow them too.
    let out = exchange(&s, "openid", &[]).await.unwrap();
    let again = super::refresh(&oidc(&s, false), out.refresh_token().unwrap())
        .await
        .unwrap();
    assert!(
        again.aws_additional_details().is_none(),
        "still openid only"
    );
    let full = exchange(&s, APP_SCOPES, &[]).await.unwrap();
    let narrowed = oidc(&s, false)
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(GRANT_REFRESH_TOKEN)
        .refresh_token(full.refresh_token().unwrap())
        .scope("openid")
        .send()
        .await
        .unwrap();
    assert!(narrowed.aws_additional_details().is_none());
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}

#[tokio::test]
async fn jwt_bearer_without_scope_gets_the_application_scopes_and_the_defaults() {
    let s = IdcStandIn::start_with(IdcConfig {
        allowed_scopes: vec!["redshift:connect".into()],
        ..IdcConfig::default()
    });
    let c = oidc(&s, false);
    let out = jwt_bearer(&c, &s.jwt_for("bob", Duration::from_secs(60)))
        .await
        .unwrap();
    context_of(&out, "bob");
    assert_eq!(
        out.scope(),
        ["redshift:connect", "openid", "aws", "sts:identity_context"]
    );
    let narrowed = c
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(crate::idc_standin::GRANT_JWT_BEARER)
        .assertion(s.jwt_for("bob", Duration::from_secs(60)))
        .scope("openid")
        .send()
        .await
        .unwrap();
    assert!(narrowed.aws_additional_details().is_none());
    assert!(narrowed.id_token().is_some());
    // The defaults need no configuration, anything else does.
    let r = c
        .create_token_with_iam()
        .client_id(DEFAULT_APPLICATION_ARN)
        .grant_type(crate::idc_standin::GRANT_JWT_BEARER)
        .assertion(s.jwt_for("bob", Duration::from_secs(60)))
        .scope("s3:access_grants:read_write")
        .send()
        .await;
    assert_oidc_error(r, "InvalidScopeException", 400, "s3:access_grants");
}

#[tokio::test]
async fn browser_idc_plugin_flow_gives_an_access_token_naming_the_person() {
    let key = b"0123456789abcdef0123456789abcdef".to_vec();
    let s = IdcStandIn::start_with(IdcConfig {
        access_token_key: Some(key.clone()),
        access_ttl: Duration::from_secs(60),
        client_ttl: Duration::from_secs(7200),
        ..IdcConfig::default()
    });
    s.set_browser_person("bob");
    let c = oidc(&s, false);
    let redirect = "http://127.0.0.1:7890";
    let reg = register(&c, DEFAULT_ISSUER_URL, redirect, &DRIVER_GRANTS)
        .await
        .expect("register");
    assert_eq!(
        reg.client_secret_expires_at() - reg.client_id_issued_at(),
        7200
    );
    let (verifier, challenge) = pkce("browser-idc");
    let q = browse(
        &s,
        &authorize_path_with(
            reg.client_id().unwrap(),
            redirect,
            "xyz",
            &challenge,
            "redshift:connect",
        ),
    );
    let code = param(&q, "code").expect("code");
    let out = c
        .create_token()
        .client_id(reg.client_id().unwrap())
        .client_secret(reg.client_secret().unwrap())
        .grant_type(GRANT_AUTHORIZATION_CODE)
        .code(code)
        .code_verifier(&verifier)
        .redirect_uri(redirect)
        .send()
        .await
        .expect("create token");
    assert_eq!(out.expires_in(), 60);
    assert_eq!(out.token_type(), Some("Bearer"));
    assert_eq!(
        out.id_token(),
        None,
        "CreateToken's idToken is not supported"
    );
    let access = out.access_token().unwrap();
    // Signed with the key the test gave, naming bob, with the registration's scopes.
    let claims = jwt::verify(access, &key).expect("signed with the test's key");
    assert_eq!(claims["username"], "bob");
    assert_eq!(claims["sub"], Person::new("bob").user_id.as_str());
    assert_eq!(claims["scope"], "redshift:connect");
    assert_eq!(claims["iss"], DEFAULT_ISSUER_URL);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        60
    );
    assert_eq!(s.access_token_claims(access).unwrap()["username"], "bob");
    assert!(jwt::verify(access, b"another key").is_err());

    // Renewal with the refresh token: a new access token for the same person.
    let refresh = out.refresh_token().expect("registered for refresh_token");
    let renewed = refresh_public(&c, &reg, refresh).await.expect("refresh");
    assert_ne!(renewed.access_token(), out.access_token());
    assert_eq!(
        s.access_token_claims(renewed.access_token().unwrap())
            .unwrap()["username"],
        "bob"
    );
    // Revoked by the test ("refresh token refused").
    assert_eq!(s.revoke_refresh_tokens(Some("alice")), 0);
    assert_eq!(s.revoke_refresh_tokens(Some("bob")), 1);
    assert_token_error(
        refresh_public(&c, &reg, renewed.refresh_token().unwrap()).await,
        "InvalidGrantException",
        400,
        "Invalid refresh token provided",
    );
    assert_eq!(s.count(Op::RegisterClient), 1);
    assert_eq!(s.count_create_token_grant(GRANT_AUTHORIZATION_CODE), 1);
    assert_eq!(s.count_create_token_grant(GRANT_REFRESH_TOKEN), 2);
    let counts = s.counts();
    assert_eq!(counts["grants"]["CreateToken:refresh_token"], 2);
    assert!(s.issued_secrets().iter().any(|x| x == access));
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}

#[tokio::test]
async fn registration_checks_issuer_url_scopes_and_expiry() {
    let s = IdcStandIn::start_with(IdcConfig {
        allowed_scopes: vec!["openid".into()],
        ..IdcConfig::default()
    });
    let c = oidc(&s, false);
    // An instance whose applications are not enabled for redshift:connect.
    let err = register(
        &c,
        DEFAULT_ISSUER_URL,
        "http://127.0.0.1:7890",
        &DRIVER_GRANTS,
    )
    .await
    .unwrap_err();
    assert!(err.starts_with("InvalidScopeException"), "{err}");
    assert!(err.contains("redshift:connect"), "{err}");
    let (_, challenge) = pkce("x");
    let (status, headers, _) = http(
        &s.url(),
        "GET",
        &authorize_path_with(
            DEFAULT_APPLICATION_ARN,
            REDIRECT,
            "s",
            &challenge,
            "openid redshift:connect",
        ),
        None,
    );
    assert_eq!(status, 302);
    assert!(location(&headers).unwrap().contains("error=invalid_scope"));

    let s = IdcStandIn::start();
    let c = oidc(&s, false);
    let err = register(
        &c,
        "https://elsewhere.test/start",
        "http://127.0.0.1:1",
        &DRIVER_GRANTS,
    )
    .await
    .unwrap_err();
    assert!(err.starts_with("InvalidRequestException"), "{err}");
    assert!(err.contains("https://elsewhere.test/start"), "{err}");
    // The start URL is accepted as issuerUrl too (the AWS CLI sends it).
    let by_start = register(&c, DEFAULT_START_URL, "http://127.0.0.1:1", &DRIVER_GRANTS)
        .await
        .expect("start URL as issuerUrl");
    assert_eq!(
        by_start.client_secret_expires_at() - by_start.client_id_issued_at(),
        90 * 86400
    );

    // Past clientSecretExpiresAt: every call with the client is refused, 401.
    s.expire_clients();
    assert_token_error(
        refresh_public(&c, &by_start, "r").await,
        "InvalidClientException",
        401,
        "expired",
    );
    let err = c
        .start_device_authorization()
        .client_id(by_start.client_id().unwrap())
        .client_secret(by_start.client_secret().unwrap())
        .start_url(DEFAULT_START_URL)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(401));
    assert!(err.into_service_error().is_invalid_client_exception());
    let (status, _, body) = http(
        &s.url(),
        "GET",
        &authorize_path_with(
            by_start.client_id().unwrap(),
            "http://127.0.0.1:1",
            "s",
            &challenge,
            "redshift:connect",
        ),
        None,
    );
    assert_eq!(status, 400, "{body}");
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}

#[tokio::test]
async fn a_short_client_ttl_expires_the_registration_by_itself() {
    let s = IdcStandIn::start_with(IdcConfig {
        client_ttl: Duration::from_secs(1),
        ..IdcConfig::default()
    });
    let c = oidc(&s, false);
    let reg = register(&c, DEFAULT_ISSUER_URL, "http://127.0.0.1:1", &DRIVER_GRANTS)
        .await
        .unwrap();
    assert_eq!(
        reg.client_secret_expires_at() - reg.client_id_issued_at(),
        1
    );
    let fresh = c
        .start_device_authorization()
        .client_id(reg.client_id().unwrap())
        .client_secret(reg.client_secret().unwrap())
        .start_url(DEFAULT_START_URL)
        .send()
        .await;
    assert!(fresh.is_ok(), "{fresh:?}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_token_error(
        refresh_public(&c, &reg, "r").await,
        "InvalidClientException",
        401,
        "expired",
    );
}

#[tokio::test]
async fn device_grant_pending_slow_down_allow_deny_and_expiry() {
    let s = IdcStandIn::start_with(IdcConfig {
        device_interval: Duration::from_secs(1),
        slow_down_increment: Duration::from_secs(1),
        device_ttl: Duration::from_secs(30),
        ..IdcConfig::default()
    });
    s.set_browser_person("bob");
    let c = oidc(&s, false);
    let reg = register(
        &c,
        DEFAULT_ISSUER_URL,
        "http://127.0.0.1:7890",
        &DRIVER_GRANTS,
    )
    .await
    .unwrap();
    let start = |start_url: &'static str| {
        c.start_device_authorization()
            .client_id(reg.client_id().unwrap())
            .client_secret(reg.client_secret().unwrap())
            .start_url(start_url)
            .send()
    };
    let err = start("https://d-other.awsapps.com/start")
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_invalid_request_exception(), "{err:?}");
    assert!(format!("{err:?}").contains("startUrl"));

    let auth = start(DEFAULT_START_URL).await.expect("start");
    assert_eq!((auth.expires_in(), auth.interval()), (30, 1));
    let user_code = auth.user_code().unwrap();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(
        auth.verification_uri(),
        Some(&*format!("{}/device", s.url()))
    );
    assert_eq!(
        auth.verification_uri_complete(),
        Some(&*format!("{}/device?user_code={user_code}", s.url()))
    );
    let device = auth.device_code().unwrap();
    assert_token_error(
        poll(&c, &reg, device).await,
        "AuthorizationPendingException",
        400,
        "pending",
    );
    assert_token_error(
        poll(&c, &reg, device).await,
        "SlowDownException",
        400,
        "2 s",
    );
    // The person (alice, not the browser's bob) allows it on the verification page.
    assert_eq!(
        s.device_sign_in(auth.verification_uri_complete().unwrap(), "alice", true),
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let tokens = poll(&c, &reg, device).await.expect("allowed");
    let claims = s
        .access_token_claims(tokens.access_token().unwrap())
        .unwrap();
    assert_eq!(claims["username"], "alice");
    assert!(tokens.refresh_token().is_some());
    assert_token_error(
        poll(&c, &reg, device).await,
        "InvalidGrantException",
        400,
        "Invalid device code",
    );
    // A used code's page is gone.
    let (status, _, _) = http(
        &s.url(),
        "GET",
        &format!("/device?user_code={user_code}"),
        None,
    );
    assert_eq!(status, 400);

    // Denied: AccessDeniedException, and it stays denied.
    let denied = start(DEFAULT_START_URL).await.unwrap();
    assert_eq!(
        s.device_sign_in(denied.verification_uri_complete().unwrap(), "bob", false),
        200
    );
    for _ in 0..2 {
        assert_token_error(
            poll(&c, &reg, denied.device_code().unwrap()).await,
            "AccessDeniedException",
            400,
            "denied",
        );
    }
    // The counters a "one StartDeviceAuthorization" test reads.
    assert_eq!(s.count(Op::StartDeviceAuthorization), 3);
    assert_eq!(s.count_ok(Op::StartDeviceAuthorization), 2);
    assert_eq!(s.count_create_token_grant(GRANT_DEVICE_CODE), 6);
    assert_eq!(s.count_ok(Op::DeviceApprove), 2);
    assert_eq!(
        s.counts()["grants"]["CreateToken:urn:ietf:params:oauth:grant-type:device_code"],
        6
    );
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}

#[tokio::test]
async fn an_unanswered_device_authorization_expires() {
    let s = IdcStandIn::start_with(IdcConfig {
        device_ttl: Duration::from_secs(1),
        ..IdcConfig::default()
    });
    let c = oidc(&s, false);
    let reg = register(
        &c,
        DEFAULT_ISSUER_URL,
        "http://127.0.0.1:7890",
        &DRIVER_GRANTS,
    )
    .await
    .unwrap();
    let late = c
        .start_device_authorization()
        .client_id(reg.client_id().unwrap())
        .client_secret(reg.client_secret().unwrap())
        .start_url(DEFAULT_START_URL)
        .send()
        .await
        .unwrap();
    assert_eq!(late.expires_in(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_token_error(
        poll(&c, &reg, late.device_code().unwrap()).await,
        "ExpiredTokenException",
        400,
        "expired",
    );
    assert_eq!(
        s.device_sign_in(late.verification_uri_complete().unwrap(), "bob", true),
        400
    );
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}

#[tokio::test]
async fn grant_types_restrict_the_client() {
    let s = IdcStandIn::start();
    let c = oidc(&s, false);
    // The drivers' own registration: authorization_code only.
    let code_only = register(
        &c,
        DEFAULT_ISSUER_URL,
        "http://127.0.0.1:7890",
        &[GRANT_AUTHORIZATION_CODE],
    )
    .await
    .unwrap();
    let err = c
        .start_device_authorization()
        .client_id(code_only.client_id().unwrap())
        .client_secret(code_only.client_secret().unwrap())
        .start_url(DEFAULT_START_URL)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_unauthorized_client_exception(), "{err:?}");
    assert_token_error(
        poll(&c, &code_only, "dc.x").await,
        "UnauthorizedClientException",
        400,
        "device_code",
    );
    // Its code grant gives no refresh token, and it cannot refresh.
    let (verifier, challenge) = pkce("code-only");
    let q = browse(
        &s,
        &authorize_path_with(
            code_only.client_id().unwrap(),
            "http://127.0.0.1:7890",
            "s",
            &challenge,
            "redshift:connect",
        ),
    );
    let out = c
        .create_token()
        .client_id(code_only.client_id().unwrap())
        .client_secret(code_only.client_secret().unwrap())
        .grant_type(GRANT_AUTHORIZATION_CODE)
        .code(param(&q, "code").unwrap())
        .code_verifier(verifier)
        .redirect_uri("http://127.0.0.1:7890")
        .send()
        .await
        .unwrap();
    assert_eq!(out.refresh_token(), None);
    assert_token_error(
        refresh_public(&c, &code_only, "r").await,
        "UnauthorizedClientException",
        400,
        "refresh_token",
    );
    // A code for the application does not serve a public client's token call.
    let (_, challenge) = pkce("app");
    let app = app_code(&s, "s", &challenge);
    assert_token_error(
        c.create_token()
            .client_id(code_only.client_id().unwrap())
            .client_secret(code_only.client_secret().unwrap())
            .grant_type(GRANT_AUTHORIZATION_CODE)
            .code(app)
            .code_verifier("x".repeat(43))
            .redirect_uri(REDIRECT)
            .send()
            .await,
        "InvalidGrantException",
        400,
        "another client",
    );
    assert!(s.problems().is_empty(), "{:?}", s.problems());
}
