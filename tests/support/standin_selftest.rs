//! Proof that the AWS stand-in speaks both wire formats as the real SDK expects them.
//!
//! Every other test trusts the stand-in, so it is checked here with the very SDK clients the
//! CLI uses: success answers parse, each modeled error reaches the caller as the right error
//! variant, the SDK's retries see throttling as retryable, and what the stand-in records
//! (targets, key, region, signing name) is what the SDK sent.
//!
//! Included next to `aws_standin` (`#[path = "../support/standin_selftest.rs"] mod ...;`).

use std::time::Duration;

use crate::aws_standin::{Config, Recorded, Reply, Service, StandIn};

use aws_sdk_redshift::config::retry::RetryConfig;
use aws_sdk_redshift::config::{Credentials, Region};
use aws_sdk_redshift::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_redshift::operation::get_identity_center_auth_token as rs_op;
use aws_sdk_redshiftserverless::operation::get_identity_center_auth_token as rss_op;
use aws_smithy_types::DateTime;

/// One of the SDK's `GetIdentityCenterAuthTokenError::is_*` checks.
type IsVariant<E> = fn(&E) -> bool;

type RsResult = Result<
    rs_op::GetIdentityCenterAuthTokenOutput,
    SdkError<rs_op::GetIdentityCenterAuthTokenError>,
>;
type RssResult = Result<
    rss_op::GetIdentityCenterAuthTokenOutput,
    SdkError<rss_op::GetIdentityCenterAuthTokenError>,
>;

fn creds(session_token: Option<&str>) -> Credentials {
    Credentials::new(
        "AKIDTEST",
        "secret",
        session_token.map(str::to_string),
        None,
        "test",
    )
}

fn redshift(s: &StandIn, retry: RetryConfig) -> aws_sdk_redshift::Client {
    aws_sdk_redshift::Client::from_conf(
        aws_sdk_redshift::Config::builder()
            .behavior_version_latest()
            .region(Region::new("us-east-1"))
            .endpoint_url(s.url())
            .credentials_provider(creds(None))
            .retry_config(retry)
            .build(),
    )
}

fn serverless(
    s: &StandIn,
    retry: RetryConfig,
    session_token: Option<&str>,
) -> aws_sdk_redshiftserverless::Client {
    aws_sdk_redshiftserverless::Client::from_conf(
        aws_sdk_redshiftserverless::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_redshiftserverless::config::Region::new(
                "eu-central-1",
            ))
            .endpoint_url(s.url())
            .credentials_provider(creds(session_token))
            .retry_config(retry)
            .build(),
    )
}

/// The token call for cluster `c1`.
async fn call_c1(rs: &aws_sdk_redshift::Client) -> RsResult {
    rs.get_identity_center_auth_token()
        .cluster_ids("c1")
        .send()
        .await
}

/// The token call for workgroup `wg1`.
async fn call_wg1(rss: &aws_sdk_redshiftserverless::Client) -> RssResult {
    rss.get_identity_center_auth_token()
        .workgroup_names("wg1")
        .send()
        .await
}

fn assert_clean(rec: &Recorded) {
    assert!(rec.problems.is_empty(), "stand-in objected: {rec:#?}");
}

/// What the stand-in recorded of one call: the service, the targets, the SDK's test key, the
/// region, the signing name, and whether a session token was sent.
fn assert_recorded(
    rec: &Recorded,
    service: Service,
    targets: &[&str],
    region: &str,
    signing_name: &str,
    session_token: bool,
) {
    assert_clean(rec);
    assert_eq!(rec.service, Some(service));
    assert_eq!(rec.targets, targets);
    assert_eq!(rec.access_key_id.as_deref(), Some("AKIDTEST"));
    assert_eq!(rec.region.as_deref(), Some(region));
    assert_eq!(rec.signing_service.as_deref(), Some(signing_name));
    assert_eq!(rec.has_security_token, session_token);
}

/// The SDK's parsed answer: the recorded token, starting with `prefix`, and an expiration
/// about `ttl_secs` from now.
fn assert_answer(
    rec: &Recorded,
    token: Option<&str>,
    expiration: Option<&DateTime>,
    prefix: &str,
    ttl_secs: i64,
) {
    let token = token.expect("token");
    assert_eq!(Some(token), rec.token.as_deref());
    assert!(token.starts_with(prefix), "{token}");
    let exp = expiration.expect("expiration").secs();
    let want = time::OffsetDateTime::now_utc().unix_timestamp() + ttl_secs;
    assert!(
        (exp - want).abs() <= 2,
        "expiration {exp}, expected about {want}"
    );
}

#[tokio::test]
async fn sdk_redshift_success_parses_and_is_recorded() {
    let s = StandIn::start_with(Config {
        ttl: Duration::from_secs(3600),
        ..Config::default()
    });
    let out = redshift(&s, RetryConfig::disabled())
        .get_identity_center_auth_token()
        .cluster_ids("c1")
        .cluster_ids("c-2")
        .send()
        .await
        .expect("redshift call");
    let rec = &s.requests()[0];
    assert_recorded(
        rec,
        Service::Redshift,
        &["c1", "c-2"],
        "us-east-1",
        "redshift",
        false,
    );
    assert_answer(
        rec,
        out.token(),
        out.expiration_time(),
        "idc.rs.us-east-1.AKIDTEST.c1+c-2.1.",
        3600,
    );
}

#[tokio::test]
async fn sdk_serverless_success_parses_and_is_recorded() {
    let s = StandIn::start();
    let out = call_wg1(&serverless(&s, RetryConfig::disabled(), Some("SESSION")))
        .await
        .expect("serverless call");
    let rec = &s.requests()[0];
    assert_recorded(
        rec,
        Service::Serverless,
        &["wg1"],
        "eu-central-1",
        "redshift-serverless",
        true,
    );
    assert_answer(
        rec,
        out.token(),
        out.expiration_time(),
        "idc.rss.eu-central-1.AKIDTEST.wg1.1.",
        900,
    );
}

#[tokio::test]
async fn sdk_custom_answers_parse_field_by_field() {
    let s = StandIn::start();
    s.push(Reply::Custom {
        token: None,
        expiration: Some("2026-11-23T04:58:31Z".into()),
    });
    s.push(Reply::Custom {
        token: Some(String::new()),
        expiration: None,
    });
    let out = call_c1(&redshift(&s, RetryConfig::disabled()))
        .await
        .unwrap();
    assert_eq!(out.token(), None);
    assert_eq!(out.expiration_time().unwrap().secs(), 1_795_409_911);
    let out = call_wg1(&serverless(&s, RetryConfig::disabled(), None))
        .await
        .unwrap();
    assert_eq!(out.token(), Some(""));
    assert_eq!(out.expiration_time(), None);
}

#[tokio::test]
async fn sdk_sees_each_redshift_error_as_its_variant() {
    use aws_sdk_redshift::operation::get_identity_center_auth_token::GetIdentityCenterAuthTokenError as E;
    let s = StandIn::start();
    let rs = redshift(&s, RetryConfig::disabled());
    let cases: [(&str, IsVariant<E>); 5] = [
        ("ClusterNotFound", E::is_cluster_not_found_fault),
        ("InvalidClusterState", E::is_invalid_cluster_state_fault),
        ("UnsupportedOperation", E::is_unsupported_operation_fault),
        (
            "RedshiftInvalidParameter",
            E::is_redshift_invalid_parameter_fault,
        ),
        ("SomethingNew", |e: &E| e.code() == Some("SomethingNew")),
    ];
    for (code, is_variant) in cases {
        s.push(Reply::error(code, &format!("msg for {code}")));
        let err = call_c1(&rs).await.expect_err(code).into_service_error();
        assert!(is_variant(&err), "{code}: got {err:?}");
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.message(), Some(format!("msg for {code}").as_str()));
    }
    assert!(s.requests().iter().all(|r| r.problems.is_empty()));
}

#[tokio::test]
async fn sdk_sees_each_serverless_error_as_its_variant() {
    use aws_sdk_redshiftserverless::error::ProvideErrorMetadata;
    use aws_sdk_redshiftserverless::operation::get_identity_center_auth_token::GetIdentityCenterAuthTokenError as E;
    let s = StandIn::start();
    let rss = serverless(&s, RetryConfig::disabled(), None);
    let cases: [(&str, IsVariant<E>); 7] = [
        ("AccessDeniedException", E::is_access_denied_exception),
        ("ConflictException", E::is_conflict_exception),
        ("DryRunException", E::is_dry_run_exception),
        ("InternalServerException", E::is_internal_server_exception),
        (
            "ResourceNotFoundException",
            E::is_resource_not_found_exception,
        ),
        ("ThrottlingException", E::is_throttling_exception),
        ("ValidationException", E::is_validation_exception),
    ];
    for (code, is_variant) in cases {
        s.push(Reply::error(code, &format!("msg for {code}")));
        let err = call_wg1(&rss).await.expect_err(code);
        let status = err.raw_response().map(|r| r.status().as_u16());
        let err = err.into_service_error();
        assert!(is_variant(&err), "{code}: got {err:?}");
        assert_eq!(err.code(), Some(code));
        assert_eq!(err.message(), Some(format!("msg for {code}").as_str()));
        let want = if code == "InternalServerException" {
            500
        } else {
            400
        };
        assert_eq!(status, Some(want), "{code}");
    }
}

#[tokio::test]
async fn sdk_retries_throttling_then_succeeds() {
    let s = StandIn::start();
    s.push(Reply::error("Throttling", "Rate exceeded"));
    let out = call_c1(&redshift(&s, RetryConfig::standard()))
        .await
        .expect("retried to success");
    let recs = s.requests();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[0].reply, "error:Throttling");
    assert_eq!(out.token(), recs[1].token.as_deref());
    assert!(recs[1].token.as_deref().unwrap().contains(".c1.2."));

    // The standard retry policy makes 3 attempts in all.
    s.push(Reply::error("ThrottlingException", "Rate exceeded"));
    s.push(Reply::Status(503));
    let out = call_wg1(&serverless(&s, RetryConfig::standard(), None))
        .await
        .expect("retried to success");
    let recs = s.requests();
    assert_eq!(recs.len(), 5, "{recs:#?}");
    assert_eq!(recs[2].reply, "error:ThrottlingException");
    assert_eq!(recs[3].reply, "status:503");
    assert_eq!(out.token(), recs[4].token.as_deref());
    assert!(recs.iter().all(|r| r.problems.is_empty()));
}

#[tokio::test]
async fn sdk_fails_cleanly_on_broken_answers() {
    let s = StandIn::start();
    s.push(Reply::Raw {
        status: 200,
        content_type: "text/xml".into(),
        body: b"<GetIdentityCenterAuthTokenResponse><GetIdentity".to_vec(),
    });
    s.push(Reply::Raw {
        status: 200,
        content_type: "application/x-amz-json-1.1".into(),
        body: br#"{"token": 12"#.to_vec(),
    });
    s.push(Reply::Reset);
    let rs = redshift(&s, RetryConfig::disabled());
    let rss = serverless(&s, RetryConfig::disabled(), None);
    let err = call_c1(&rs).await;
    assert!(err.is_err(), "{err:?}");
    let err = call_wg1(&rss).await;
    assert!(err.is_err(), "{err:?}");
    let err = call_wg1(&rss).await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(s.request_count(), 3);
}

#[tokio::test]
async fn sdk_gets_a_dripped_answer_whole() {
    let s = StandIn::start();
    s.push(Reply::Drip {
        bytes_per_sec: 2000,
    });
    let out = call_wg1(&serverless(&s, RetryConfig::disabled(), None))
        .await
        .expect("dripped answer");
    assert_eq!(out.token(), s.requests()[0].token.as_deref());
}

#[tokio::test]
async fn sdk_retries_cut_connections_and_bare_500s() {
    let s = StandIn::start();
    s.push(Reply::Reset);
    let out = call_wg1(&serverless(&s, RetryConfig::standard(), None))
        .await
        .expect("retried after the cut");
    assert_eq!(s.request_count(), 2);
    assert_eq!(out.token(), s.requests()[1].token.as_deref());

    s.push(Reply::Status(500));
    s.push(Reply::Reset);
    let out = call_c1(&redshift(&s, RetryConfig::standard()))
        .await
        .expect("retried twice");
    let recs = s.requests();
    assert_eq!(recs.len(), 5);
    assert_eq!(out.token(), recs[4].token.as_deref());
}

#[tokio::test]
async fn sdk_rejects_a_10_mb_garbage_answer() {
    let s = StandIn::start();
    s.push(Reply::Raw {
        status: 200,
        content_type: "text/xml".into(),
        body: vec![b'x'; 10 * 1024 * 1024],
    });
    let err = call_c1(&redshift(&s, RetryConfig::disabled()))
        .await
        .expect_err("garbage must not parse");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(200));
}
