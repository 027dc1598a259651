//! The built-in sign-in from the command line, jwt kind: the real executable, through the
//! real SDK, against the Identity Center stand-in (sso-oidc + STS) and the Redshift stand-in.
//! The browser flow, concurrency and the error catalogue are in `signin_e2e`.

use std::time::Duration;

use crate::aws_standin::StandIn;
use crate::common::*;
use crate::idc_standin::{DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, IdcConfig, IdcStandIn, Op};

/// Both stand-ins, and a sandbox whose default profile signs in with a JWT file for `person`.
fn jwt_world(person: &str) -> (StandIn, IdcStandIn, Sandbox) {
    jwt_world_with(person, IdcConfig::default())
}

fn jwt_world_with(person: &str, cfg: IdcConfig) -> (StandIn, IdcStandIn, Sandbox) {
    let rs = StandIn::start();
    let idc = IdcStandIn::start_with(cfg);
    let mut sb = Sandbox::new(&rs);
    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
    sb.set("AWS_ENDPOINT_URL_STS", &idc.url());
    write_jwt(&sb, &idc, person);
    sb.write_aws_config(&format!(
        "[default]\nregion = us-east-1\nredshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\nredshift_idc_role_arn = {DEFAULT_ROLE_ARN}\nredshift_idc_jwt_file = ~/jwt\n"
    ));
    (rs, idc, sb)
}

fn write_jwt(sb: &Sandbox, idc: &IdcStandIn, person: &str) {
    std::fs::write(
        sb.home().join("jwt"),
        idc.jwt_for(person, Duration::from_secs(600)),
    )
    .unwrap();
}

#[test]
fn jwt_sign_in_gets_a_token_for_the_person_then_everything_is_cached() {
    let (rs, idc, sb) = jwt_world("alice");
    let first = sb.json(C1);
    let token = first["token"].as_str().unwrap();
    let issued = parse_issued(token).expect("a stand-in token");
    assert!(issued.access_key.starts_with("ASIAALICE"), "{issued:?}");
    assert_eq!(idc.count_ok(Op::CreateTokenWithIam), 1);
    assert_eq!(idc.count_ok(Op::AssumeRole), 1);
    assert!(idc.problems().is_empty(), "{:?}", idc.problems());

    let second = sb.json(C1);
    assert_eq!(second["source"], "cache");
    assert_eq!(second["token"], first["token"]);
    assert_eq!(
        idc.count(Op::CreateTokenWithIam),
        1,
        "a hit signs in no more"
    );
    assert_eq!(rs.request_count(), 1);

    // Another person's JWT is another identity: a new sign-in and a token of their own.
    write_jwt(&sb, &idc, "bob");
    let bob = sb.json(C1);
    assert_eq!(bob["source"], "aws");
    assert!(
        parse_issued(bob["token"].as_str().unwrap())
            .unwrap()
            .access_key
            .starts_with("ASIABOB")
    );
    assert_eq!(idc.count_ok(Op::CreateTokenWithIam), 2);
}

#[test]
fn a_cached_token_is_served_while_the_session_is_due_for_renewal() {
    // Role credentials that live 200 s are always inside the 300 s renewal window.
    let (rs, idc, sb) = jwt_world_with(
        "alice",
        IdcConfig {
            max_role_ttl: Duration::from_secs(200),
            ..IdcConfig::default()
        },
    );
    let first = sb.json(C1);
    assert_eq!(idc.count(Op::CreateTokenWithIam), 1);
    let second = sb.json(&with(C1, &["--no-browser"]));
    assert_eq!(
        (second["source"].as_str(), &second["token"]),
        (Some("cache"), &first["token"])
    );
    assert_eq!(
        idc.count(Op::CreateTokenWithIam),
        1,
        "a token hit renews nothing"
    );
    // Another target needs a call, and so fresh credentials: renewed with the refresh token.
    sb.json(&["--cluster-id", "c2"]);
    assert_eq!(idc.count_grant("refresh_token"), 1, "{}", idc.counts());
    assert_eq!(rs.request_count(), 2);
}

#[test]
fn credentials_prints_the_credential_process_document() {
    let (_rs, idc, sb) = jwt_world("alice");
    let out = sb.run(&["credentials"]);
    assert_success(&out);
    let doc = one_document(&out);
    assert_eq!(doc["Version"], 1);
    assert!(
        doc["AccessKeyId"]
            .as_str()
            .unwrap()
            .starts_with("ASIAALICE")
    );
    for k in ["SecretAccessKey", "SessionToken", "Expiration"] {
        assert!(!doc[k].as_str().unwrap().is_empty(), "{k}");
    }
    assert!(doc["Expiration"].as_str().unwrap().ends_with('Z'));
    let err = stderr(&out);
    for secret in idc.issued_secrets() {
        assert!(!err.contains(&secret), "a secret on stderr");
    }
    // The same session serves the token command: no second sign-in.
    sb.json(C1);
    assert_eq!(idc.count(Op::AssumeRole), 1);
}

#[test]
fn login_logout_and_the_listing() {
    let (_rs, idc, sb) = jwt_world("alice");
    let out = sb.run(&["login"]);
    assert_success(&out);
    assert!(out.stdout.is_empty());
    assert!(
        stderr(&out).starts_with("signed in as "),
        "{}",
        stderr(&out)
    );
    sb.json(C1);
    let list = sb.run(&["cache", "list", "--json"]);
    assert_success(&list);
    let rows: Vec<serde_json::Value> = stdout(&list)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1]["kind"], "session");
    assert_eq!(rows[1]["role"], DEFAULT_ROLE_ARN);
    assert_eq!(rows[1]["refresh_token"], true);
    let text = stdout(&sb.run(&["cache", "list"]));
    for secret in idc.issued_secrets() {
        assert!(!text.contains(&secret) && !stdout(&list).contains(&secret));
    }
    let out = sb.run(&["logout"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "signed out: removed 1 sign-in session and 1 cached token\n"
    );
    // Signed out: the next run signs in again.
    sb.json(C1);
    assert_eq!(idc.count_ok(Op::CreateTokenWithIam), 2);
}

#[test]
fn doctor_says_who_is_signed_in_and_calls_with_their_session() {
    let (rs, idc, mut sb) = jwt_world("alice");
    sb.set("REDSHIFT_IDC_TOKEN_SIGNIN", "browser");
    let v: serde_json::Value =
        serde_json::from_slice(&sb.run(&["doctor", "--json", "--cluster-id", "c1"]).stdout)
            .unwrap();
    let step = |v: &serde_json::Value, id: &str| {
        v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(step(&v, "sign-in")["status"], "warn", "{v}");
    assert_eq!(step(&v, "call")["status"], "skipped");
    assert_eq!(
        rs.request_count(),
        0,
        "doctor never signs in or calls without a session"
    );
    sb.unset("REDSHIFT_IDC_TOKEN_SIGNIN");
    assert_success(&sb.run(&["login"]));
    let out = sb.run(&["doctor", "-vv", "--json", "--cluster-id", "c1"]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let signin = step(&v, "sign-in");
    assert_eq!(signin["status"], "ok", "{v}");
    assert!(
        signin["summary"]
            .as_str()
            .unwrap()
            .starts_with("signed in as ")
    );
    assert_eq!(signin["details"]["refresh_token"], true);
    assert_eq!(step(&v, "call")["status"], "ok");
    let last = rs.requests().last().unwrap().clone();
    assert!(last.access_key_id.unwrap().starts_with("ASIAALICE"));
    let text = format!("{}{}", stdout(&out), stderr(&out));
    for secret in idc.issued_secrets() {
        assert!(
            !text.contains(&secret),
            "a sign-in secret in doctor's output"
        );
    }
}

#[test]
fn no_sign_in_secret_at_vv_in_any_command() {
    let (_rs, idc, sb) = jwt_world("alice");
    let jwt = std::fs::read_to_string(sb.home().join("jwt")).unwrap();
    let mut seen = String::new();
    for args in [
        &["-vv", "login"][..],
        &["-vv", "--cluster-id", "c1"],
        &["-vv", "--cluster-id", "c1", "--force-refresh"],
        &["-vv", "cache", "list"],
        &["-vv", "cache", "list", "--json"],
        &["-vv", "logout"],
    ] {
        let out = sb.run(args);
        assert_success(&out);
        seen.push_str(&stderr(&out));
        if args[1] == "cache" || args[1] == "logout" || args[1] == "login" {
            seen.push_str(&stdout(&out));
        }
    }
    let mut secrets = idc.issued_secrets();
    secrets.push(jwt.trim().to_owned());
    assert!(secrets.len() > 3, "{secrets:?}");
    for secret in secrets {
        assert!(!seen.contains(&secret), "a secret at -vv: {secret:.12}...");
    }
    assert_no_secrets(&seen, None);
}

#[test]
fn configuration_errors_are_usage_errors_without_a_call() {
    let (rs, idc, sb) = jwt_world("alice");
    let out = sb.run(&with(C1, &["--role-arn", "arn:aws:iam::123:role/x"]));
    assert_failure(
        &out,
        2,
        &["invalid ARN 'arn:aws:iam::123:role/x' (from --role-arn)"],
    );
    std::fs::remove_file(sb.home().join("jwt")).unwrap();
    let out = sb.run(C1);
    assert_failure(&out, 2, &["cannot read the JWT file"]);
    let out = sb.run(&["login", "--profile", "nosuch"]);
    assert_failure(
        &out,
        2,
        &["sign-in is not configured for the profile nosuch"],
    );
    assert_eq!(idc.requests().len(), 0);
    assert_eq!(rs.request_count(), 0);
}

#[test]
fn no_browser_without_a_session_says_to_log_in() {
    let (_rs, idc, mut sb) = jwt_world("alice");
    sb.set("REDSHIFT_IDC_TOKEN_SIGNIN", "browser");
    let out = sb.run(&with(C1, &["--no-browser"]));
    assert_failure(
        &out,
        6,
        &[
            "not signed in (profile default) and --no-browser was given: run `redshift-idc-token login` first",
        ],
    );
    assert_eq!(idc.requests().len(), 0);
}

/// Every modeled error of CreateTokenWithIAM and AssumeRole, answered in the services' own
/// formats by the stand-in: its exit status and a message in fix terms quoting sso-oidc's
/// `error_description` (its `message` is empty) or STS's `Message`.
#[test]
fn every_modeled_error_has_its_exit_status_and_a_fix() {
    use crate::idc_standin::Fault;
    let oidc: &[(&str, i32, &str)] = &[
        (
            "InvalidGrantException",
            4,
            "does not accept this JWT: add its issuer as a trusted token issuer",
        ),
        (
            "AccessDeniedException",
            4,
            "may not call sso-oauth:CreateTokenWithIAM",
        ),
        (
            "InvalidClientException",
            7,
            "is not a customer managed application",
        ),
        (
            "UnauthorizedClientException",
            7,
            "has no urn:ietf:params:oauth:grant-type:jwt-bearer grant",
        ),
        (
            "UnsupportedGrantTypeException",
            7,
            "has no urn:ietf:params:oauth:grant-type:jwt-bearer grant",
        ),
        (
            "InvalidScopeException",
            7,
            "scopes are not assigned to the application",
        ),
        (
            "InvalidRequestRegionException",
            4,
            "in another region than us-east-1",
        ),
        (
            "InvalidRequestException",
            4,
            "sso-oidc rejected the sign-in request",
        ),
        (
            "ExpiredTokenException",
            4,
            "sso-oidc rejected the sign-in request",
        ),
        (
            "AuthorizationPendingException",
            6,
            "the sign-in was not completed",
        ),
        ("SlowDownException", 5, "throttling"),
        ("InternalServerException", 5, "a failure on the AWS side"),
    ];
    let sts: &[(&str, i32, &str)] = &[
        (
            "AccessDenied",
            4,
            "must allow sts:AssumeRole and sts:SetContext",
        ),
        (
            "RegionDisabledException",
            4,
            "STS is not activated in us-east-1",
        ),
        ("MalformedPolicyDocument", 4, "STS refused the session"),
        ("PackedPolicyTooLarge", 4, "STS refused the session"),
        ("ValidationError", 4, "STS refused the session"),
        ("ExpiredToken", 3, "invalid or expired"),
        ("InvalidClientTokenId", 3, "invalid or expired"),
    ];
    for (op, cases) in [(Op::CreateTokenWithIam, oidc), (Op::AssumeRole, sts)] {
        for &(code, status, fix) in cases {
            let (rs, idc, sb) = jwt_world("alice");
            let description = format!("described-{code}");
            // Enough for every retry of the transient ones.
            for _ in 0..4 {
                idc.push(op, Fault::error(code, &description));
            }
            let out = sb.run(C1);
            let line = assert_failure(&out, status, &[code, fix]);
            assert!(
                line.contains(&description),
                "{code}: the service's text is quoted: {line}"
            );
            assert_eq!(rs.request_count(), 0, "{code}: no token call");
            // Nothing was cached: without faults the next run signs in.
            while idc.pending_faults() > 0 {
                let _ = sb.run(C1);
            }
            assert_success(&sb.run(C1));
        }
    }
}

/// Identity Center issues the identity context only with the `sts:identity_context` scope
/// (CreateTokenWithIAM API reference, `scope`; user guide, "Identity-enhanced IAM role
/// sessions"): scopes configured without it are a setup problem, exit 7 with a sentence naming
/// the scope and the settings, and no AssumeRole or Redshift call.
#[test]
fn scopes_without_the_identity_context_scope_are_a_setup_error() {
    let (rs, idc, mut sb) = jwt_world("alice");
    sb.set("REDSHIFT_IDC_TOKEN_SCOPES", "openid");
    let out = sb.run(C1);
    let line = assert_failure(
        &out,
        7,
        &[
            "no identity context (sts:identity_context)",
            "scopes 'openid'",
            "redshift_idc_scopes",
            "PutApplicationAccessScope",
        ],
    );
    assert!(!line.contains("unusable reply"), "{line}");
    assert_eq!(idc.count(Op::AssumeRole), 0);
    assert_eq!(rs.request_count(), 0);

    // The default scopes carry it.
    sb.unset("REDSHIFT_IDC_TOKEN_SCOPES");
    assert_eq!(sb.json(C1)["source"], "aws");
}
