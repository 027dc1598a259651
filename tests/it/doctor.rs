//! `doctor` end to end: the real binary against the stand-in, in text and JSON, for a
//! healthy setup and for each kind of failure, always at -vv and always without secrets.

use std::process::Output;

use crate::aws_standin::Service;
use crate::common::*;
use crate::idc_standin::{DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, IdcConfig, IdcStandIn, Op};

/// Runs `doctor` at -vv and checks that neither stream holds a secret (nor `token`).
fn doctor(sb: &Sandbox, args: &[&str], token: Option<&str>) -> Output {
    let mut all = vec!["doctor", "-vv"];
    all.extend_from_slice(args);
    let out = sb.run(&all);
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_no_secrets(&text, token);
    out
}

/// The text report's `(step, status)` pairs, in order.
fn statuses(report: &str) -> Vec<(String, String)> {
    report
        .lines()
        .filter(|l| !l.starts_with(' '))
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let status = w.next()?;
            let step = w.next()?;
            ["ok", "warn", "fail", "skipped", "action"]
                .contains(&status)
                .then(|| (step.to_owned(), status.to_owned()))
        })
        .collect()
}

fn line<'a>(report: &'a str, step: &str) -> &'a str {
    report
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(step))
        .unwrap_or_else(|| panic!("no {step} line in:\n{report}"))
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

const ALL_OK: [(&str, &str); 7] = [
    ("targets", "ok"),
    ("region", "ok"),
    ("endpoint", "ok"),
    ("profile", "ok"),
    ("credentials", "ok"),
    ("cache", "ok"),
    ("call", "ok"),
];

#[test]
fn all_ok_text_report_makes_exactly_one_call() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    // A token cached by a normal run must not be what doctor reports on.
    sb.json(&["--cluster-id", "c1"]);
    let out = doctor(&sb, &["--cluster-id", "c1"], None);
    let reqs = s.requests();
    assert_eq!(
        reqs.len(),
        2,
        "one call for the token run, exactly one for doctor: {reqs:?}"
    );
    let issued = reqs[1].token.clone().unwrap();
    assert_no_secrets(&format!("{}{}", stdout(&out), stderr(&out)), Some(&issued));
    assert_success(&out);
    let report = stdout(&out);
    assert_eq!(statuses(&report), pairs(&ALL_OK), "{report}");
    assert!(line(&report, "targets").contains("cluster c1"), "{report}");
    assert!(
        line(&report, "region").contains("us-east-1 (from AWS_REGION)"),
        "{report}"
    );
    assert!(line(&report, "endpoint").contains(&format!("{} (from AWS_ENDPOINT_URL)", s.url())));
    assert!(
        line(&report, "profile").starts_with("ok       profile      default"),
        "{report}"
    );
    let creds = line(&report, "credentials");
    assert!(creds.contains("environment variables"), "{creds}");
    assert!(
        creds.contains("AKID****TEST") && creds.contains("temporary"),
        "{creds}"
    );
    assert!(
        !report.contains(ACCESS_KEY),
        "the access key id is shown masked"
    );
    assert!(line(&report, "cache").contains("1 entry"), "{report}");
    let call = line(&report, "call");
    assert!(
        call.contains("valid until") && call.contains("left"),
        "{call}"
    );
    assert!(
        report.trim_end().ends_with("result: all checks passed"),
        "{report}"
    );
    assert_eq!(
        sb.entries().len(),
        1,
        "doctor neither adds to nor replaces the cache"
    );
}

#[test]
fn all_ok_json_report_for_a_host() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let host = "analytics.123456789012.eu-central-1.redshift-serverless.amazonaws.com";
    let out = doctor(&sb, &["--host", host, "--json"], None);
    let reqs = s.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].service, Some(Service::Serverless));
    assert_eq!(reqs[0].region.as_deref(), Some("eu-central-1"));
    let issued = reqs[0].token.clone().unwrap();
    assert_no_secrets(&format!("{}{}", stdout(&out), stderr(&out)), Some(&issued));
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["version"], 1);
    assert_eq!(v["ok"], true);
    assert_eq!(v["exit_code"], 0);
    let steps = v["steps"].as_array().unwrap();
    let got: Vec<(String, String)> = steps
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_owned(),
                s["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(got, pairs(&ALL_OK));
    let step = |id: &str| steps.iter().find(|s| s["step"] == id).unwrap();
    assert_eq!(step("targets")["details"]["service"], "redshift-serverless");
    assert_eq!(
        step("targets")["details"]["targets"],
        serde_json::json!(["analytics"])
    );
    assert_eq!(
        step("targets")["details"]["derived"],
        "workgroup analytics in region eu-central-1"
    );
    assert_eq!(step("region")["details"]["region"], "eu-central-1");
    assert_eq!(step("region")["details"]["from"], "--host");
    assert_eq!(step("endpoint")["details"]["from"], "AWS_ENDPOINT_URL");
    assert_eq!(
        step("credentials")["details"]["source"],
        "environment variables"
    );
    assert_eq!(
        step("credentials")["details"]["access_key_id"],
        "AKID****TEST"
    );
    assert_eq!(step("credentials")["details"]["temporary"], true);
    let exp = step("call")["details"]["expiration"].as_str().unwrap();
    assert!(
        redshift_idc_token::token::parse_rfc3339(exp).is_some() && exp.ends_with('Z'),
        "{exp}"
    );
    let left = step("call")["details"]["remaining_seconds"]
        .as_u64()
        .unwrap();
    assert!((880..=900).contains(&left), "{left}");
}

#[test]
fn not_identity_enhanced_is_explained() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    s.push(Reply::error(
        "UnsupportedOperation",
        "The credentials are not identity-enhanced.",
    ));
    let out = doctor(&sb, &["--cluster-id", "c1"], None);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let report = stdout(&out);
    let mut want = pairs(&ALL_OK);
    want[6].1 = "fail".into();
    assert_eq!(statuses(&report), want, "{report}");
    let call = line(&report, "call");
    assert!(
        call.contains("UnsupportedOperation") && call.contains("not identity-enhanced"),
        "{call}"
    );
    assert!(report.contains(
        "fix: the credentials (from environment variables) carry no IAM Identity Center identity"
    ));
    assert!(report.contains("ProvidedContexts"), "{report}");
    assert!(
        report
            .trim_end()
            .ends_with("result: failed at step 'call' (exit status 4)"),
        "{report}"
    );
    assert_eq!(s.request_count(), 1);
}

#[test]
fn access_denied_names_the_action_and_arn() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    s.push(Reply::error(
        "AccessDeniedException",
        "User is not authorized",
    ));
    let out = doctor(
        &sb,
        &["--workgroup", "wg1", "--region", "us-west-2", "--json"],
        None,
    );
    assert_eq!(out.status.code(), Some(4));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["exit_code"], 4);
    let call = &v["steps"][6];
    assert_eq!(call["step"], "call");
    assert_eq!(call["status"], "fail");
    let summary = call["summary"].as_str().unwrap();
    assert!(summary.contains("AccessDeniedException"), "{summary}");
    assert!(
        summary.contains(
            "must allow redshift-serverless:GetIdentityCenterAuthToken on the workgroup ARN"
        ),
        "{summary}"
    );
    let fix = call["fix"].as_str().unwrap();
    assert!(
        fix.contains("arn:aws:redshift-serverless:us-west-2:<account-id>:workgroup/"),
        "{fix}"
    );

    // The provisioned wording, in the text report.
    s.push(Reply::error("AccessDenied", "User is not authorized"));
    let out = doctor(&sb, &["--cluster-id", "c1"], None);
    assert_eq!(out.status.code(), Some(4));
    let report = stdout(&out);
    assert!(
        report.contains("must allow redshift:GetIdentityCenterAuthToken on the cluster ARN"),
        "{report}"
    );
    assert!(
        report.contains("arn:aws:redshift:us-east-1:<account-id>:cluster:c1"),
        "{report}"
    );
}

#[test]
fn no_credentials_fails_the_credentials_step_with_exit_3() {
    let s = StandIn::start();
    let mut sb = Sandbox::new(&s);
    sb.unset_credentials();
    assert!(
        !sb.home().join(".aws/config").exists() && !sb.home().join(".aws/credentials").exists()
    );
    let out = doctor(&sb, &["--cluster-id", "c1"], None);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let report = stdout(&out);
    let mut want = pairs(&ALL_OK);
    want[4].1 = "fail".into();
    want[6].1 = "skipped".into();
    assert_eq!(statuses(&report), want, "{report}");
    assert!(
        line(&report, "credentials").contains("no AWS credentials found"),
        "{report}"
    );
    assert!(
        report.contains("(missing)"),
        "the absent shared files are reported: {report}"
    );
    assert!(report.contains("expected_source: none"), "{report}");
    assert_eq!(s.request_count(), 0);

    let out = doctor(&sb, &["--cluster-id", "c1", "--json"], None);
    assert_eq!(out.status.code(), Some(3));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["steps"][4]["status"], "fail");
    assert_eq!(v["steps"][6]["status"], "skipped");
}

#[test]
fn invalid_target_exits_2_and_skips_the_rest() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let out = doctor(&sb, &["--host", "db.example.com"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let report = stdout(&out);
    let want = pairs(&[
        ("targets", "fail"),
        ("region", "skipped"),
        ("endpoint", "skipped"),
        ("profile", "skipped"),
        ("credentials", "skipped"),
        ("cache", "ok"),
        ("call", "skipped"),
    ]);
    assert_eq!(statuses(&report), want, "{report}");
    assert!(
        line(&report, "targets")
            .contains("cannot derive a cluster or workgroup from host 'db.example.com'")
    );

    let out = doctor(&sb, &["--host", "db.example.com", "--json"], None);
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["exit_code"], 2);
    assert_eq!(v["steps"][0]["status"], "fail");

    // A target clap already rejects: the usual one-line usage error.
    let out = doctor(&sb, &["--cluster-id", "a--b"], None);
    assert_failure(&out, 2, &["a--b", "two consecutive hyphens"]);
    // A region that is not one: the region step fails.
    let out = doctor(&sb, &["--cluster-id", "c1", "--region", "Mars"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        line(&stdout(&out), "region").starts_with("fail"),
        "{}",
        stdout(&out)
    );
    assert_eq!(s.request_count(), 0);
}

#[test]
fn shared_profile_and_its_sources_are_reported() {
    let s = StandIn::start();
    let mut sb = Sandbox::new(&s);
    sb.unset_credentials();
    sb.unset("AWS_REGION");
    sb.write_shared_profile(
        "idc",
        Some("ap-southeast-2"),
        ACCESS_KEY,
        Some(SESSION_TOKEN),
    );
    let out = doctor(
        &sb,
        &["--cluster-id", "c1", "--profile", "idc", "--json"],
        None,
    );
    let issued = s.requests()[0].token.clone().unwrap();
    assert_no_secrets(&format!("{}{}", stdout(&out), stderr(&out)), Some(&issued));
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["steps"][1]["details"]["region"], "ap-southeast-2");
    assert_eq!(v["steps"][1]["details"]["from"], "profile");
    assert_eq!(v["steps"][3]["details"]["profile"], "idc");
    assert_eq!(v["steps"][3]["details"]["from"], "--profile");
    assert_eq!(v["steps"][3]["details"]["defined"], true);
    assert_eq!(
        v["steps"][4]["details"]["source"],
        "shared credentials file"
    );
    assert_eq!(s.requests()[0].region.as_deref(), Some("ap-southeast-2"));

    // A profile that does not exist: a warning on the profile, then the credentials fail.
    let out = doctor(
        &sb,
        &[
            "--cluster-id",
            "c1",
            "--profile",
            "nope",
            "--region",
            "us-east-1",
        ],
        None,
    );
    let report = stdout(&out);
    assert!(line(&report, "profile").starts_with("warn"), "{report}");
    assert_eq!(out.status.code(), Some(3), "{report}");
}

// ---------------------------------------------------------------------------------------------
// Issue 15: doctor with the built-in sign-in
// ---------------------------------------------------------------------------------------------

/// A correct sign-in setup: the profile `redshift` signs in with a JWT file of alice and the
/// bootstrap profile `boot`, whose keys are in the credentials file; no credentials in the
/// environment, so the profile's own chain has none.
fn signin_setup(cfg: IdcConfig) -> (StandIn, IdcStandIn, Sandbox) {
    let rs = StandIn::start();
    let idc = IdcStandIn::start_with(cfg);
    let mut sb = Sandbox::new(&rs);
    sb.unset_credentials();
    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
    sb.set("AWS_ENDPOINT_URL_STS", &idc.url());
    std::fs::write(
        sb.home().join("jwt"),
        idc.jwt_for("alice", std::time::Duration::from_secs(600)),
    )
    .unwrap();
    sb.write_aws_config(&format!(
        "[profile redshift]\nregion = us-east-1\nredshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\nredshift_idc_role_arn = {DEFAULT_ROLE_ARN}\nredshift_idc_jwt_file = ~/jwt\nredshift_idc_bootstrap_profile = boot\n[profile boot]\nregion = us-east-1\n"
    ));
    std::fs::write(
        sb.home().join(".aws/credentials"),
        format!("[boot]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\n"),
    )
    .unwrap();
    (rs, idc, sb)
}

const PROFILE: &[&str] = &["--profile", "redshift", "--cluster-id", "c1"];

#[test]
fn before_the_first_sign_in_doctor_says_who_signs_in_and_how_with_exit_6() {
    let (rs, idc, mut sb) = signin_setup(IdcConfig::default());
    for (kind, how) in [("jwt", "JWT"), ("browser", "browser")] {
        sb.set("REDSHIFT_IDC_TOKEN_SIGNIN", kind);
        let out = doctor(&sb, PROFILE, None);
        let report = stdout(&out);
        assert_eq!(out.status.code(), Some(6), "{kind}: {report}");
        let creds = line(&report, "credentials");
        assert!(creds.starts_with("action "), "{kind}: {report}");
        assert!(
            creds.contains("profile redshift") && creds.contains(how),
            "{kind}: {creds}"
        );
        assert!(
            report.contains("fix: run `redshift-idc-token login --profile redshift`"),
            "{kind}: {report}"
        );
        for wrong in ["aws sso login", "no AWS credentials found"] {
            assert!(!report.contains(wrong), "{kind}: {wrong:?} in {report}");
        }
        assert!(
            report.contains("result: sign-in needed at step 'credentials' (exit status 6)"),
            "{kind}: {report}"
        );
        assert_eq!(
            statuses(&report).last(),
            Some(&("call".to_owned(), "skipped".to_owned()))
        );

        let out = doctor(&sb, &with(PROFILE, &["--json"]), None);
        assert_eq!(out.status.code(), Some(6));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["exit_code"], 6);
        assert_eq!(v["ok"], false);
        let step = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == "credentials")
            .unwrap();
        assert_eq!(step["status"], "action", "{v}");
        assert_eq!(
            step["fix"],
            "run `redshift-idc-token login --profile redshift`"
        );
    }
    assert_eq!(
        rs.request_count(),
        0,
        "doctor never calls without a session"
    );
    assert_eq!(
        idc.count(Op::CreateTokenWithIam),
        0,
        "doctor never signs in"
    );
}

#[test]
fn in_the_last_minutes_of_a_session_doctor_calls_with_it() {
    // Role credentials that live 200 s are always inside the 300 s renewal window.
    let (rs, idc, sb) = signin_setup(IdcConfig {
        max_role_ttl: std::time::Duration::from_secs(200),
        ..IdcConfig::default()
    });
    assert_success(&sb.run(&["login", "--profile", "redshift"]));
    let out = doctor(&sb, PROFILE, None);
    let report = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{report}");
    let creds = line(&report, "credentials");
    assert!(creds.contains("the sign-in session of"), "{report}");
    assert!(!report.contains("aws sso login"), "{report}");
    assert!(line(&report, "call").starts_with("ok "), "{report}");
    let last = rs.requests().last().unwrap().clone();
    assert!(last.access_key_id.unwrap().starts_with("ASIAALICE"));
    assert_eq!(
        idc.count(Op::CreateTokenWithIam),
        1,
        "doctor renews nothing"
    );
}
