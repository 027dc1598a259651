//! Issue 8, class 4: messages a person can read.
//!
//! Every error line is a sentence: what failed, the cause in words, what to do; never a Rust
//! `Debug` structure. clap's errors keep the part naming the problem. `doctor` and `-v` say
//! where the endpoint and region really came from.

use std::process::Output;

use crate::common::*;
use crate::idc_standin::{DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, IdcStandIn, Op};

/// No Rust `Debug` structure in an error line.
fn assert_readable(line: &str) {
    for debug in [
        "ConnectorError",
        "{ kind",
        "Os {",
        "hyper_util",
        "Some(",
        "source:",
        "DispatchFailure",
    ] {
        assert!(!line.contains(debug), "Debug text {debug:?} in {line:?}");
    }
}

#[test]
fn a_refused_connection_is_said_in_words() {
    let (_standin, mut sb) = standin_issuing(None);
    sb.set("AWS_ENDPOINT_URL", &refused_endpoint());
    let line = assert_failure(
        &sb.run(&with(C1, &["--no-cache"])),
        5,
        &["connection refused"],
    );
    assert_readable(&line);
    assert!(line.contains("check"), "says what to do: {line}");
}

#[test]
fn a_tls_failure_is_said_in_words() {
    let (standin, mut sb) = standin_issuing(None);
    // https to a plain-HTTP server: the handshake fails.
    sb.set(
        "AWS_ENDPOINT_URL",
        &standin.url().replace("http://", "https://"),
    );
    let line = assert_failure(
        &sb.run(&with(C1, &["--no-cache", "--timeout", "10"])),
        5,
        &["TLS"],
    );
    assert_readable(&line);
}

#[test]
fn a_name_that_does_not_resolve_is_said_in_words() {
    // A loopback-only namespace with no resolver: the lookup fails at once and nothing leaves.
    let sb = Sandbox::with_endpoint("http://redshift.standin.test:80");
    let out = sb
        .command("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up; exec \"$BIN\" --cluster-id c1 --no-cache --timeout 10",
        ])
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("BIN", BIN)
        .output()
        .unwrap();
    if out.status.code() == Some(1) && stderr(&out).contains("unshare") {
        skipped(format!("no network namespace: {}", stderr(&out)));
        return;
    }
    let line = assert_failure(&out, 5, &["redshift.standin.test", "DNS"]);
    assert_readable(&line);
}

fn clap_line(out: &Output) -> String {
    assert_failure(out, 2, &[])
}

#[test]
fn clap_errors_name_the_missing_argument() {
    let (_standin, sb) = standin_issuing(None);
    let line = clap_line(&sb.run(&["exec", "--cluster-id", "c1"]));
    assert!(
        line.contains("required arguments were not provided") && line.contains("<COMMAND>"),
        "{line}"
    );
    let line = clap_line(&sb.run(&["completions"]));
    assert!(line.contains("<SHELL>"), "{line}");
}

#[test]
fn the_come_after_hint_is_only_for_options_the_subcommand_takes() {
    let (_standin, sb) = standin_issuing(None);
    let line = clap_line(&sb.run(&["--cluster-id", "c1", "doctor"]));
    assert!(
        line.contains(
            "'--cluster-id' must come after the subcommand: redshift-idc-token doctor --cluster-id"
        ),
        "{line}"
    );
    for (args, flag, sub) in [
        (&["--format", "env", "doctor"][..], "--format", "doctor"),
        (
            &["--cluster-id", "c1", "cache", "list"][..],
            "--cluster-id",
            "cache",
        ),
        (
            &["--no-cache", "completions", "bash"][..],
            "--no-cache",
            "completions",
        ),
    ] {
        let line = clap_line(&sb.run(args));
        assert!(!line.contains("must come after"), "{line}");
        assert!(
            line.contains(&format!("'{flag}'")) && line.contains(&format!("`{sub}`")),
            "{line}"
        );
    }
}

#[test]
fn doctor_and_verbose_report_the_endpoint_actually_used() {
    for how in ["endpoint_url", "services"] {
        let (standin, mut sb) = standin_issuing(None);
        sb.unset("AWS_ENDPOINT_URL");
        let url = standin.url();
        let config = match how {
            "endpoint_url" => format!("[default]\nendpoint_url = {url}\n"),
            _ => format!(
                "[default]\nservices = local\n[services local]\nredshift =\n  endpoint_url = {url}\n"
            ),
        };
        sb.write_aws_config(&config);
        let out = sb.run(&with(C1, &["-v", "--no-cache"]));
        assert_success(&out);
        let log = stderr(&out);
        assert!(log.contains(&format!("endpoint=\"{url}\"")), "{how}: {log}");
        let doctor = sb.run(&with(&["doctor"], C1));
        let report = stdout(&doctor);
        assert_eq!(doctor.status.code(), Some(0), "{report}");
        let line = report.lines().find(|l| l.contains("endpoint")).unwrap();
        assert!(
            line.contains(&url) && line.contains("profile default"),
            "{how}: {line}"
        );
        assert!(!report.contains("regional default"), "{report}");
        assert_eq!(standin.request_count(), 2);
    }
}

#[test]
fn verbose_names_the_real_source_of_a_region_from_a_file() {
    let (_standin, mut sb) = standin_issuing(None);
    sb.unset("AWS_REGION");
    // aws-config also reads `region` from the credentials file's profile.
    std::fs::write(
        sb.home().join(".aws/credentials"),
        "[default]\nregion = eu-west-3\n",
    )
    .unwrap();
    let out = sb.run(&with(C1, &["-v", "--no-cache"]));
    assert_success(&out);
    let log = stderr(&out);
    assert!(!log.contains("instance metadata"), "{log}");
    assert!(log.contains("region=eu-west-3"), "{log}");
    assert!(log.contains("credentials file"), "{log}");
}

/// Help and version are documents on stdout: written whole or the run fails (exit 1). An
/// unwritable stderr never changes the documented status (`eprintln!` would make it 101).
#[test]
fn unwritable_stdout_or_stderr_keep_the_documented_status() {
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let bin = env!("CARGO_BIN_EXE_redshift-idc-token");
    for args in [&["--help"][..], &["--version"], &["help"]] {
        let out = std::process::Command::new(bin)
            .args(args)
            .stdout(full())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?} to /dev/full");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("could not write the output"), "{err}");
    }
    for (args, code) in [
        (&["--cluster-id", "-bad"][..], 2),
        (&["--cluster-id", "Bad--id", "--region", "us-east-1"], 2),
        (&["exec"], 2),
    ] {
        let out = std::process::Command::new(bin)
            .args(args)
            .env("REDSHIFT_IDC_TOKEN_CACHE_DIR", std::env::temp_dir())
            .stderr(full())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?} with stderr on /dev/full"
        );
        assert!(out.stdout.is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Issue 15: network failures on the way to sso-oidc and STS read like the Redshift call's
// ---------------------------------------------------------------------------------------------

/// A failed sign-in call: exit 5, one line naming `url` (the endpoint tried), the cause in
/// words and the setting that chose the endpoint; no `Debug` text and no `--endpoint-url`,
/// which neither service uses.
fn assert_unreachable(out: &Output, url: &str, cause: &str, setting: &str) -> String {
    let line = assert_failure(out, 5, &[url, cause, setting]);
    assert_readable(&line);
    for debug in ["{", "Some(", "kind:"] {
        assert!(!line.contains(debug), "Debug text {debug:?} in {line:?}");
    }
    assert!(!line.contains("--endpoint-url"), "{line}");
    line
}

/// A sandbox whose default profile signs in with a JWT file of the Identity Center stand-in
/// `idc` (its URL is not set: each test points sso-oidc and STS where it wants).
fn signin_sandbox(rs: &StandIn, idc: &IdcStandIn) -> Sandbox {
    let mut sb = Sandbox::new(rs);
    // The Redshift endpoint by its own variable, so `AWS_ENDPOINT_URL` cannot reach sso-oidc.
    sb.unset("AWS_ENDPOINT_URL");
    sb.set("AWS_ENDPOINT_URL_REDSHIFT", &rs.url());
    std::fs::write(
        sb.home().join("jwt"),
        idc.jwt_for("alice", std::time::Duration::from_secs(600)),
    )
    .unwrap();
    sb.write_aws_config(&format!(
        "[default]\nregion = us-east-1\nredshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\nredshift_idc_role_arn = {DEFAULT_ROLE_ARN}\nredshift_idc_jwt_file = ~/jwt\n"
    ));
    sb
}

#[test]
fn a_refused_connection_to_sso_oidc_or_sts_names_the_url_and_its_setting() {
    let rs = StandIn::start();
    let idc = IdcStandIn::start();
    let mut sb = signin_sandbox(&rs, &idc);
    let refused = refused_endpoint();
    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &refused);
    sb.set("AWS_ENDPOINT_URL_STS", &idc.url());
    let out = sb.run(&with(C1, &["--timeout", "10"]));
    assert_unreachable(
        &out,
        &refused,
        "connection refused",
        "AWS_ENDPOINT_URL_SSO_OIDC",
    );
    assert!(stderr(&out).contains("sso-oidc"), "{}", stderr(&out));

    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
    sb.set("AWS_ENDPOINT_URL_STS", &refused);
    let out = sb.run(&with(C1, &["--timeout", "10"]));
    let line = assert_unreachable(&out, &refused, "connection refused", "AWS_ENDPOINT_URL_STS");
    assert!(line.contains("sts"), "{line}");
    assert_eq!(idc.count_ok(Op::CreateTokenWithIam), 1, "{}", idc.counts());
    assert_eq!(rs.request_count(), 0);
}

#[test]
fn an_endpoint_from_the_profile_is_named_as_such() {
    let rs = StandIn::start();
    let idc = IdcStandIn::start();
    let sb = signin_sandbox(&rs, &idc);
    let refused = refused_endpoint();
    // The profile's general `endpoint_url` (sso-oidc and STS both go there; Redshift keeps
    // its own variable, which wins). Never a `services` section here: a key the SDK did not
    // take would send the run to the real regional endpoint.
    let config = std::fs::read_to_string(sb.home().join(".aws/config")).unwrap();
    sb.write_aws_config(&format!("{config}endpoint_url = {refused}\n"));
    let out = sb.run(&with(C1, &["--timeout", "10"]));
    let line = assert_unreachable(&out, &refused, "connection refused", "endpoint_url");
    assert!(line.contains("profile default"), "{line}");
    assert!(!line.contains("AWS_ENDPOINT_URL_SSO_OIDC"), "{line}");
}

#[test]
fn a_tls_failure_with_sso_oidc_or_sts_is_said_in_words() {
    let rs = StandIn::start();
    let idc = IdcStandIn::start();
    let mut sb = signin_sandbox(&rs, &idc);
    // https to the plain-HTTP stand-in: the handshake fails.
    let https = idc.url().replace("http://", "https://");
    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &https);
    sb.set("AWS_ENDPOINT_URL_STS", &idc.url());
    let out = sb.run(&with(C1, &["--timeout", "10"]));
    assert_unreachable(&out, &https, "TLS", "AWS_ENDPOINT_URL_SSO_OIDC");

    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
    sb.set("AWS_ENDPOINT_URL_STS", &https);
    let out = sb.run(&with(C1, &["--timeout", "10"]));
    assert_unreachable(&out, &https, "TLS", "AWS_ENDPOINT_URL_STS");
    assert_eq!(rs.request_count(), 0);
}

/// Runs `script` (after `ip link set lo up`) in a loopback-only network namespace with the
/// sandbox's environment plus `BIN`, `STANDIN` and `OUT`; returns the binary's output from
/// `$OUT/status`, `$OUT/stdout` and `$OUT/stderr`, or `None` without namespaces.
fn in_namespace(sb: &Sandbox, script: &str) -> Option<Output> {
    use std::os::unix::process::ExitStatusExt;
    let out_dir = sb.home().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let standin = std::path::Path::new(BIN)
        .parent()
        .unwrap()
        .join("examples/aws-standin");
    assert!(standin.exists(), "build it with `cargo build --examples`");
    let run = sb
        .command("timeout")
        .args(["60", "unshare", "--net", "sh", "-euc"])
        .arg(format!("ip link set lo up\n{script}"))
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("BIN", BIN)
        .env("STANDIN", standin)
        .env("OUT", &out_dir)
        .output()
        .unwrap();
    if !run.status.success() && stderr(&run).contains("unshare") {
        skipped(format!("no network namespace: {}", stderr(&run)));
        return None;
    }
    assert!(run.status.success(), "namespace script: {}", stderr(&run));
    let read = |f: &str| std::fs::read(out_dir.join(f)).unwrap();
    let code: i32 = String::from_utf8(read("status"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    Some(Output {
        status: std::process::ExitStatus::from_raw(code << 8),
        stdout: read("stdout"),
        stderr: read("stderr"),
    })
}

#[test]
fn a_dns_failure_of_the_regional_sso_oidc_endpoint_names_it_and_the_region_setting() {
    // No endpoint configured for sso-oidc: the SDK's regional one, whose name cannot resolve
    // in a loopback-only namespace (nothing leaves the machine).
    let rs = StandIn::start();
    let idc = IdcStandIn::start();
    let sb = signin_sandbox(&rs, &idc);
    let script = r#"
        set +e
        "$BIN" --cluster-id c1 --timeout 10 > "$OUT/stdout" 2> "$OUT/stderr"
        echo $? > "$OUT/status"
    "#;
    let Some(out) = in_namespace(&sb, script) else {
        return;
    };
    let line = assert_unreachable(
        &out,
        "https://oidc.us-east-1.amazonaws.com",
        "DNS",
        "redshift_idc_region",
    );
    assert!(line.contains("AWS_ENDPOINT_URL_SSO_OIDC"), "{line}");
}

#[test]
fn a_dns_failure_of_sts_names_the_url_and_its_setting() {
    // sso-oidc is the stand-in inside the namespace; STS has a name that does not resolve.
    let rs = StandIn::start();
    let idc = IdcStandIn::start();
    let mut sb = signin_sandbox(&rs, &idc);
    sb.unset("AWS_ENDPOINT_URL_REDSHIFT");
    sb.set("AWS_ENDPOINT_URL_STS", "http://sts.standin.test:80");
    let script = r#"
        "$STANDIN" --idc --max-seconds 30 --max-requests 5 > "$OUT/urls" &
        standin=$!
        trap 'kill $standin' EXIT
        for _ in $(seq 100); do [ "$(wc -l < "$OUT/urls")" -ge 2 ] && break; sleep 0.1; done
        idc=$(sed -n 2p "$OUT/urls")
        curl -sf "$idc/standin/jwt?person=alice" > "$HOME/jwt"
        set +e
        AWS_ENDPOINT_URL_SSO_OIDC=$idc AWS_ENDPOINT_URL_REDSHIFT=$(sed -n 1p "$OUT/urls") \
            "$BIN" --cluster-id c1 --timeout 10 > "$OUT/stdout" 2> "$OUT/stderr"
        echo $? > "$OUT/status"
    "#;
    let Some(out) = in_namespace(&sb, script) else {
        return;
    };
    assert_unreachable(
        &out,
        "http://sts.standin.test",
        "DNS",
        "AWS_ENDPOINT_URL_STS",
    );
}

#[test]
fn an_endpoint_from_the_profiles_services_section_is_named_as_such() {
    // Inside the namespace: were the section not taken, the regional endpoint would fail
    // to resolve instead of leaving the machine.
    let rs = StandIn::start();
    let idc = IdcStandIn::start();
    let sb = signin_sandbox(&rs, &idc);
    let config = std::fs::read_to_string(sb.home().join(".aws/config")).unwrap();
    // The Rust SDK's key for sso-oidc in a services section is `sso-oidc`.
    sb.write_aws_config(&format!(
        "{config}services = local\n[services local]\nsso-oidc =\n  endpoint_url = http://127.0.0.1:9\n"
    ));
    let script = r#"
        set +e
        "$BIN" --cluster-id c1 --timeout 10 > "$OUT/stdout" 2> "$OUT/stderr"
        echo $? > "$OUT/status"
    "#;
    let Some(out) = in_namespace(&sb, script) else {
        return;
    };
    let line = assert_unreachable(
        &out,
        "http://127.0.0.1:9",
        "connection refused",
        "services section of profile default",
    );
    assert!(!line.contains("AWS_ENDPOINT_URL"), "{line}");
}
