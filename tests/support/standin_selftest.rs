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
use aws_sdk_redshift::error::ProvideErrorMetadata;

/// One of the SDK's `GetIdentityCenterAuthTokenError::is_*` checks.
type IsVariant<E> = fn(&E) -> bool;

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

fn assert_clean(rec: &Recorded) {
    assert!(rec.problems.is_empty(), "stand-in objected: {rec:#?}");
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
    assert_clean(rec);
    assert_eq!(rec.service, Some(Service::Redshift));
    assert_eq!(rec.targets, ["c1", "c-2"]);
    assert_eq!(rec.access_key_id.as_deref(), Some("AKIDTEST"));
    assert_eq!(rec.region.as_deref(), Some("us-east-1"));
    assert_eq!(rec.signing_service.as_deref(), Some("redshift"));
    assert!(!rec.has_security_token);

    let token = out.token().expect("token");
    assert_eq!(Some(token), rec.token.as_deref());
    assert!(
        token.starts_with("idc.rs.us-east-1.AKIDTEST.c1+c-2.1."),
        "{token}"
    );
    let exp = out.expiration_time().expect("expiration").secs();
    let want = time::OffsetDateTime::now_utc().unix_timestamp() + 3600;
    assert!(
        (exp - want).abs() <= 2,
        "expiration {exp}, expected about {want}"
    );
}

#[tokio::test]
async fn sdk_serverless_success_parses_and_is_recorded() {
    let s = StandIn::start();
    let out = serverless(&s, RetryConfig::disabled(), Some("SESSION"))
        .get_identity_center_auth_token()
        .workgroup_names("wg1")
        .send()
        .await
        .expect("serverless call");
    let rec = &s.requests()[0];
    assert_clean(rec);
    assert_eq!(rec.service, Some(Service::Serverless));
    assert_eq!(rec.targets, ["wg1"]);
    assert_eq!(rec.access_key_id.as_deref(), Some("AKIDTEST"));
    assert_eq!(rec.region.as_deref(), Some("eu-central-1"));
    assert_eq!(rec.signing_service.as_deref(), Some("redshift-serverless"));
    assert!(rec.has_security_token);

    let token = out.token().expect("token");
    assert_eq!(Some(token), rec.token.as_deref());
    assert!(
        token.starts_with("idc.rss.eu-central-1.AKIDTEST.wg1.1."),
        "{token}"
    );
    let exp = out.expiration_time().expect("expiration").secs();
    let want = time::OffsetDateTime::now_utc().unix_timestamp() + 900;
    assert!(
        (exp - want).abs() <= 2,
        "expiration {exp}, expected about {want}"
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
    let rs = redshift(&s, RetryConfig::disabled());
    let out = rs
        .get_identity_center_auth_token()
        .cluster_ids("c1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.token(), None);
    assert_eq!(out.expiration_time().unwrap().secs(), 1_795_409_911);
    let out = serverless(&s, RetryConfig::disabled(), None)
        .get_identity_center_auth_token()
        .workgroup_names("wg1")
        .send()
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
        let err = rs
            .get_identity_center_auth_token()
            .cluster_ids("c1")
            .send()
            .await
            .expect_err(code)
            .into_service_error();
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
        let err = rss
            .get_identity_center_auth_token()
            .workgroup_names("wg1")
            .send()
            .await
            .expect_err(code);
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
    let out = redshift(&s, RetryConfig::standard())
        .get_identity_center_auth_token()
        .cluster_ids("c1")
        .send()
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
    let out = serverless(&s, RetryConfig::standard(), None)
        .get_identity_center_auth_token()
        .workgroup_names("wg1")
        .send()
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
    let err = rs
        .get_identity_center_auth_token()
        .cluster_ids("c1")
        .send()
        .await;
    assert!(err.is_err(), "{err:?}");
    let err = rss
        .get_identity_center_auth_token()
        .workgroup_names("wg1")
        .send()
        .await;
    assert!(err.is_err(), "{err:?}");
    let err = rss
        .get_identity_center_auth_token()
        .workgroup_names("wg1")
        .send()
        .await;
    assert!(err.is_err(), "{err:?}");
    assert_eq!(s.request_count(), 3);
}

#[tokio::test]
async fn sdk_gets_a_dripped_answer_whole() {
    let s = StandIn::start();
    s.push(Reply::Drip {
        bytes_per_sec: 2000,
    });
    let out = serverless(&s, RetryConfig::disabled(), None)
        .get_identity_center_auth_token()
        .workgroup_names("wg1")
        .send()
        .await
        .expect("dripped answer");
    assert_eq!(out.token(), s.requests()[0].token.as_deref());
}

#[tokio::test]
async fn sdk_retries_cut_connections_and_bare_500s() {
    let s = StandIn::start();
    s.push(Reply::Reset);
    let out = serverless(&s, RetryConfig::standard(), None)
        .get_identity_center_auth_token()
        .workgroup_names("wg1")
        .send()
        .await
        .expect("retried after the cut");
    assert_eq!(s.request_count(), 2);
    assert_eq!(out.token(), s.requests()[1].token.as_deref());

    s.push(Reply::Status(500));
    s.push(Reply::Reset);
    let out = redshift(&s, RetryConfig::standard())
        .get_identity_center_auth_token()
        .cluster_ids("c1")
        .send()
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
    let err = redshift(&s, RetryConfig::disabled())
        .get_identity_center_auth_token()
        .cluster_ids("c1")
        .send()
        .await
        .expect_err("garbage must not parse");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(200));
}
