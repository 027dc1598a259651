//! Issue 8, class 4: messages a person can read.
//!
//! Every error line is a sentence: what failed, the cause in words, what to do; never a Rust
//! `Debug` structure. clap's errors keep the part naming the problem. `doctor` and `-v` say
//! where the endpoint and region really came from.

use std::process::Output;

use crate::common::*;

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
