//! The token command end to end: both services, every format parsed back, every validation
//! rule (with no request reaching AWS), every modeled error, retries, bad replies, time limits.

use std::process::Command as StdCommand;
use std::time::{Duration, Instant};

use crate::aws_standin::Service;
use crate::common::*;

#[test]
fn provisioned_json_with_the_real_sdk_wire_format() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let v = sb.json(&[
        "--cluster-id",
        "Beta,alpha",
        "--cluster-id",
        "alpha",
        "--no-cache",
    ]);
    let reqs = s.requests();
    assert_eq!(reqs.len(), 1);
    let r = &reqs[0];
    assert_eq!(r.service, Some(Service::Redshift));
    assert_eq!(
        r.targets,
        ["alpha", "beta"],
        "sorted, deduplicated, lower-cased"
    );
    assert_eq!(r.access_key_id.as_deref(), Some(ACCESS_KEY));
    assert_eq!(r.region.as_deref(), Some("us-east-1"));
    assert_eq!(r.signing_service.as_deref(), Some("redshift"));
    assert!(r.has_security_token);
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(v["version"], 1);
    assert_eq!(v["token"], r.token.clone().unwrap().as_str());
    assert_eq!(v["token_type"], "SUBJECT_TOKEN");
    assert_eq!(v["service"], "redshift");
    assert_eq!(v["targets"], serde_json::json!(["alpha", "beta"]));
    let exp = v["expiration"].as_str().unwrap();
    assert!(exp.ends_with('Z') && exp.len() == 20, "RFC 3339 UTC: {exp}");
    let left = v["expires_in_seconds"].as_u64().unwrap();
    assert!((890..=900).contains(&left), "{left}");
}

#[test]
fn serverless_json() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let v = sb.json(&["--workgroup", "wg-b,wg-a", "--no-cache"]);
    let r = &s.requests()[0];
    assert_eq!(r.service, Some(Service::Serverless));
    assert_eq!(r.targets, ["wg-a", "wg-b"]);
    assert_eq!(r.signing_service.as_deref(), Some("redshift-serverless"));
    assert_eq!(v["token"], r.token.clone().unwrap().as_str());
    assert_eq!(v["service"], "redshift-serverless");
}

#[test]
fn host_derives_target_and_region() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    sb.json(&[
        "--host",
        "jdbc:redshift://Sales.abc123xyz.eu-west-1.redshift.amazonaws.com:5439/dev",
        "--no-cache",
    ]);
    sb.json(&[
        "--host",
        "analytics.123456789012.ap-south-1.redshift-serverless.amazonaws.com",
        "--no-cache",
    ]);
    let reqs = s.requests();
    assert_eq!(reqs[0].targets, ["sales"]);
    assert_eq!(
        reqs[0].region.as_deref(),
        Some("eu-west-1"),
        "the host's region wins over AWS_REGION"
    );
    assert_eq!(reqs[1].service, Some(Service::Serverless));
    assert_eq!(reqs[1].region.as_deref(), Some("ap-south-1"));
}

#[test]
fn service_specific_endpoint_variable_wins() {
    let s = StandIn::start();
    let mut sb = Sandbox::with_endpoint("http://127.0.0.1:9");
    sb.set("AWS_ENDPOINT_URL_REDSHIFT", &s.url());
    sb.json(&["--cluster-id", "c1", "--no-cache"]);
    sb.unset("AWS_ENDPOINT_URL_REDSHIFT");
    sb.set("AWS_ENDPOINT_URL_REDSHIFT_SERVERLESS", &s.url());
    sb.json(&["--workgroup", "wg1", "--no-cache"]);
    sb.unset("AWS_ENDPOINT_URL");
    sb.unset("AWS_ENDPOINT_URL_REDSHIFT_SERVERLESS");
    sb.json(&[
        "--workgroup",
        "wg1",
        "--no-cache",
        "--endpoint-url",
        &s.url(),
    ]);
    assert_eq!(s.request_count(), 3);
}

#[test]
fn profile_from_shared_files() {
    let s = StandIn::start();
    let mut sb = Sandbox::new(&s);
    sb.unset_credentials();
    sb.unset("AWS_REGION");
    sb.write_shared_profile("team", Some("eu-central-1"), "AKIDPROFILE", None);
    sb.json(&["--cluster-id", "c1", "--profile", "team", "--no-cache"]);
    sb.set("AWS_PROFILE", "team");
    sb.json(&["--cluster-id", "c1", "--no-cache"]);
    for r in s.requests() {
        assert_eq!(r.access_key_id.as_deref(), Some("AKIDPROFILE"));
        assert_eq!(r.region.as_deref(), Some("eu-central-1"));
        assert!(!r.has_security_token);
    }
}

/// A token with every character that could break out of a properties line, an ODBC
/// attribute, a JSON string or a shell word.
const TRICKY: &str = "t0k=en;{x}:y#z!w\\v 'q' \"d\" $(echo pwned) `id` &a%b+c\té";

#[test]
fn token_format() {
    let (s, sb) = fixed(TRICKY);
    let out = sb.run(&["--cluster-id", "c1", "--format", "token", "--no-cache"]);
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{TRICKY}\n"));
    assert_eq!(only_token(&s), TRICKY);
}

#[test]
fn python_format_is_exactly_the_connect_kwargs() {
    let (_s, sb) = fixed(TRICKY);
    let out = sb.run(&["--cluster-id", "c1", "--format", "python", "--no-cache"]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"credentials_provider":"IdpTokenAuthPlugin","token":TRICKY,"token_type":"SUBJECT_TOKEN"})
    );
}

#[test]
fn env_format_is_read_back_by_a_real_shell() {
    let (_s, sb) = fixed(TRICKY);
    let out = sb.run(&["--cluster-id", "c1", "--format", "env", "--no-cache"]);
    assert_success(&out);
    let script = format!(
        "{}\nprintf '%s\\n%s\\n%s' \"$REDSHIFT_IDC_TOKEN\" \"$REDSHIFT_IDC_TOKEN_TYPE\" \"$REDSHIFT_IDC_TOKEN_EXPIRATION\"",
        stdout(&out)
    );
    let sh = StdCommand::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let text = String::from_utf8(sh.stdout).unwrap();
    let lines: Vec<&str> = text.split('\n').collect();
    assert_eq!(
        lines[0], TRICKY,
        "no command substitution ran, the value is intact"
    );
    assert_eq!(lines[1], "SUBJECT_TOKEN");
    assert!(lines[2].ends_with('Z'));
}

#[test]
fn odbc_format_round_trips() {
    let (_s, sb) = fixed(TRICKY);
    let out = sb.run(&["--cluster-id", "c1", "--format", "odbc", "--no-cache"]);
    assert_success(&out);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1);
    assert_eq!(
        parse_odbc(text.trim_end_matches('\n')).unwrap(),
        [
            ("plugin_name".to_owned(), "IdpTokenAuthPlugin".to_owned()),
            ("token".to_owned(), TRICKY.to_owned()),
            ("token_type".to_owned(), "SUBJECT_TOKEN".to_owned()),
        ]
    );
}

#[test]
fn jdbc_format_is_read_back_by_java_util_properties() {
    let (_s, sb) = fixed(TRICKY);
    let out = sb.run(&["--cluster-id", "c1", "--format", "jdbc", "--no-cache"]);
    assert_success(&out);
    let props = sb.home().join("token.properties");
    std::fs::write(&props, &out.stdout).unwrap();
    let src = sb.home().join("Read.java");
    std::fs::write(
        &src,
        r#"import java.io.*; import java.util.*;
public class Read { public static void main(String[] a) throws Exception {
  Properties p = new Properties(); try (InputStream in = new FileInputStream(a[0])) { p.load(in); }
  System.out.print(p.size() + "\n" + p.getProperty("plugin_name") + "\n" + p.getProperty("token_type") + "\n" + p.getProperty("token"));
}}"#,
    )
    .unwrap();
    let java = StdCommand::new("java")
        .arg("-Dfile.encoding=UTF-8")
        .arg("-Dstdout.encoding=UTF-8")
        .arg(&src)
        .arg(&props)
        .output()
        .expect("java is installed (Java 17)");
    assert!(
        java.status.success(),
        "{}",
        String::from_utf8_lossy(&java.stderr)
    );
    let text = String::from_utf8(java.stdout).unwrap();
    let lines: Vec<&str> = text.splitn(4, '\n').collect();
    assert_eq!(
        lines,
        [
            "3",
            "com.amazon.redshift.plugin.IdpTokenAuthPlugin",
            "SUBJECT_TOKEN",
            TRICKY
        ]
    );
}

#[test]
fn missing_expiration_is_printed_but_flagged() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    s.push(Reply::Custom {
        token: Some("tok-no-exp".into()),
        expiration: None,
    });
    let out = sb.run(&["--cluster-id", "c1"]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["token"], "tok-no-exp");
    assert_eq!(v["expiration"], serde_json::Value::Null);
    assert_eq!(v["warnings"][0], "the service returned no expiration time");
    assert!(
        stderr(&out).contains("no expiration time"),
        "{}",
        stderr(&out)
    );
    assert!(
        sb.entries().is_empty(),
        "a token without expiration is not cached"
    );
}

/// Each validation rule: exit 2, one line naming the value and the rule, no request.
#[test]
fn validation_rules_reject_before_any_request() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let many: Vec<String> = (0..21).map(|i| format!("c{i}")).collect();
    let many = many.join(",");
    let long = "a".repeat(64);
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--cluster-id", "1abc"],
            vec!["'1abc'", "must start with a letter"],
        ),
        (
            vec!["--cluster-id", "abc-"],
            vec!["'abc-'", "must not end with a hyphen"],
        ),
        (
            vec!["--cluster-id", "a--b"],
            vec!["'a--b'", "two consecutive hyphens"],
        ),
        (vec!["--cluster-id", &long], vec!["1-63 characters"]),
        (
            vec!["--cluster-id", "a_b"],
            vec!["'a_b'", "letters, digits and hyphens"],
        ),
        (vec!["--cluster-id", ""], vec!["1-63 characters"]),
        (vec!["--workgroup", "ab"], vec!["'ab'", "3-64 characters"]),
        (vec!["--workgroup", "Abc"], vec!["'Abc'", "[a-z0-9-]"]),
        (
            vec!["--cluster-id", &many],
            vec!["21 targets", "at most 20"],
        ),
        (vec![], vec!["no target given"]),
        (
            vec!["--cluster-id", "a", "--workgroup", "abc"],
            vec!["cannot be used with"],
        ),
        (
            vec!["--host", "db.example.com"],
            vec![
                "'db.example.com'",
                "--cluster-id or --workgroup, and --region",
            ],
        ),
        (
            vec!["--cluster-id", "a", "--region", "Moon-1"],
            vec!["'Moon-1'", "region"],
        ),
        (
            vec!["--cluster-id", "a", "--timeout", "0"],
            vec!["'0'", "--timeout"],
        ),
        (
            vec!["--cluster-id", "a", "--format", "xml"],
            vec!["'xml'", "--format"],
        ),
        (
            vec!["--cluster-id", "a", "--endpoint-url", "localhost:1"],
            vec!["'localhost:1'", "http://"],
        ),
        (vec!["--cluster-id", "a", "--bogus"], vec!["--bogus"]),
    ];
    for (args, needles) in cases {
        let out = sb.run(&args);
        assert_failure(&out, 2, &needles);
    }
    assert_eq!(
        s.request_count(),
        0,
        "no validation failure reached the network"
    );
}

#[test]
fn every_modeled_error_has_its_own_message_and_exit_code() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let rs = ["--cluster-id", "c1", "--no-cache"];
    let rss = ["--workgroup", "wg1", "--no-cache"];
    let cases: &[(&[&str], &str, i32, &[&str])] = &[
        (
            &rs,
            "ClusterNotFound",
            4,
            &["ClusterNotFound", "check the cluster name", "us-east-1"],
        ),
        (
            &rs,
            "InvalidClusterState",
            4,
            &["InvalidClusterState", "not available"],
        ),
        (
            &rs,
            "UnsupportedOperation",
            4,
            &["UnsupportedOperation", "not identity-enhanced"],
        ),
        (
            &rs,
            "RedshiftInvalidParameter",
            4,
            &["RedshiftInvalidParameter", "parameters"],
        ),
        (
            &rs,
            "AccessDenied",
            4,
            &[
                "AccessDenied",
                "redshift:GetIdentityCenterAuthToken",
                "cluster ARN",
            ],
        ),
        (&rs, "ExpiredToken", 3, &["ExpiredToken", "refresh them"]),
        (
            &rss,
            "AccessDeniedException",
            4,
            &[
                "redshift-serverless:GetIdentityCenterAuthToken",
                "workgroup ARN",
            ],
        ),
        (
            &rss,
            "ConflictException",
            4,
            &["ConflictException", "not available"],
        ),
        (
            &rss,
            "DryRunException",
            4,
            &["DryRunException", "parameters"],
        ),
        (
            &rss,
            "ResourceNotFoundException",
            4,
            &["ResourceNotFoundException", "check the workgroup name"],
        ),
        (
            &rss,
            "ValidationException",
            4,
            &["ValidationException", "parameters"],
        ),
        (
            &rss,
            "UnrecognizedClientException",
            3,
            &["UnrecognizedClientException", "invalid or expired"],
        ),
    ];
    for (args, code, exit, needles) in cases {
        s.push(Reply::error(code, "the message from AWS"));
        let out = sb.run(args);
        let mut needles = needles.to_vec();
        needles.push("the message from AWS");
        let line = assert_failure(&out, *exit, &needles);
        assert!(line.starts_with("error: "), "{line}");
    }
    assert_eq!(s.pending_replies(), 0);
}

#[test]
fn retried_errors_give_up_with_their_own_message() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for _ in 0..3 {
        s.push(Reply::error("ThrottlingException", "slow down"));
    }
    let out = sb.run(&["--workgroup", "wg1", "--no-cache"]);
    assert_failure(&out, 5, &["ThrottlingException", "throttling"]);
    assert_eq!(
        s.request_count(),
        3,
        "the SDK's standard retry made 3 attempts"
    );
    for _ in 0..3 {
        s.push(Reply::error("InternalServerException", "boom"));
    }
    let out = sb.run(&["--workgroup", "wg1", "--no-cache"]);
    assert_failure(&out, 5, &["InternalServerException", "AWS side"]);
}

#[test]
fn throttling_then_success() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    s.push(Reply::error("Throttling", "Rate exceeded"));
    s.push(Reply::Status(503));
    let v = sb.json(&["--cluster-id", "c1", "--no-cache"]);
    let reqs = s.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(v["token"], reqs[2].token.clone().unwrap().as_str());
}

#[test]
fn malformed_and_empty_replies_are_errors() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    s.push(Reply::Raw {
        status: 200,
        content_type: "text/xml".into(),
        body: b"<GetIdentityCenterAuthTokenResponse><GetIdentityCenterAuthTokenResult><Token>SECRETPART"
            .to_vec(),
    });
    let out = sb.run(&["--cluster-id", "c1", "--no-cache"]);
    let line = assert_failure(&out, 5, &["unusable reply", "not a valid XML reply"]);
    assert!(!line.contains("SECRETPART"));
    s.push(Reply::Custom {
        token: None,
        expiration: Some("2030-01-01T00:00:00Z".into()),
    });
    assert_failure(
        &sb.run(&["--workgroup", "wg1", "--no-cache"]),
        5,
        &["has no token"],
    );
    s.push(Reply::Custom {
        token: Some(String::new()),
        expiration: Some("2030-01-01T00:00:00Z".into()),
    });
    assert_failure(
        &sb.run(&["--cluster-id", "c1", "--no-cache"]),
        5,
        &["token is empty"],
    );
    s.push(Reply::Custom {
        token: Some("t".into()),
        expiration: Some("2001-01-01T00:00:00Z".into()),
    });
    assert_failure(
        &sb.run(&["--cluster-id", "c1", "--no-cache"]),
        5,
        &["expired already"],
    );
}

#[test]
fn timeout_bounds_the_whole_run() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    s.push(Reply::Hang);
    let t = Instant::now();
    let out = sb.run(&["--cluster-id", "c1", "--timeout", "2", "--no-cache"]);
    let took = t.elapsed();
    assert_failure(&out, 5, &["gave up after 2 s"]);
    assert!(
        took < Duration::from_secs(4),
        "exited within timeout + 2 s: {took:?}"
    );
}

#[test]
fn unreachable_endpoint_is_a_network_error() {
    let sb = Sandbox::with_endpoint("http://127.0.0.1:9");
    assert_failure(
        &sb.run(&["--cluster-id", "c1", "--no-cache"]),
        5,
        &["could not reach http://127.0.0.1:9"],
    );
}

#[test]
fn no_credentials_and_no_region() {
    let s = StandIn::start();
    let mut sb = Sandbox::new(&s);
    sb.unset_credentials();
    assert_failure(
        &sb.run(&["--cluster-id", "c1", "--no-cache", "--timeout", "10"]),
        3,
        &["no AWS credentials found"],
    );
    sb.unset("AWS_REGION");
    assert_failure(
        &sb.run(&["--cluster-id", "c1", "--no-cache"]),
        2,
        &["no AWS region configured", "--region"],
    );
    assert_eq!(s.request_count(), 0);
}

#[test]
fn diagnostics_never_show_secrets() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let out = sb.run(&["--cluster-id", "c1", "-vv"]);
    assert_success(&out);
    let token = only_token(&s);
    let err = stderr(&out);
    assert!(
        err.contains("us-east-1") && err.contains("cluster c1"),
        "-vv says what was resolved: {err}"
    );
    assert_no_secrets(&err, Some(&token));
    let out = sb.run(&["--cluster-id", "c1", "-vv"]);
    assert!(stderr(&out).contains("cache hit"));
    assert_no_secrets(&stderr(&out), Some(&token));
}

#[test]
fn help_version_completions_and_man() {
    let sb = Sandbox::with_endpoint("http://127.0.0.1:9");
    let help = sb.run(&["--help"]);
    assert_success(&help);
    let text = stdout(&help);
    for flag in [
        "--cluster-id",
        "--workgroup",
        "--host",
        "--region",
        "--profile",
        "--endpoint-url",
        "--format",
        "--timeout",
        "--min-validity",
        "--no-cache",
        "--force-refresh",
        "--cache-dir",
        "Exit codes:",
    ] {
        assert!(text.contains(flag), "--help mentions {flag}");
    }
    let v = sb.run(&["--version"]);
    assert_eq!(
        stdout(&v),
        format!("redshift-idc-token {}\n", env!("CARGO_PKG_VERSION"))
    );
    let bash = sb.run(&["completions", "bash"]);
    assert_success(&bash);
    assert!(stdout(&bash).contains("--cluster-id"));
    let man = sb.run(&["man"]);
    assert!(
        stdout(&man).starts_with(".ie") || stdout(&man).contains(".TH"),
        "roff man page"
    );
}

#[test]
fn never_reads_stdin() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    // stdin stays open and empty for the whole run; a read would hang until the timeout.
    let mut child = sb
        .std_cmd()
        .args(["--cluster-id", "c1", "--no-cache"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let _stdin = child.stdin.take();
    let t = Instant::now();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(t.elapsed() < Duration::from_secs(10));
}
