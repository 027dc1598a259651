//! `exec` end to end: the command runs in place of the program (same process), with the
//! token in its environment and never in any argv, and with stdin, stdout, stderr, signals and
//! the exit status its own.

use std::time::{Duration, Instant};

use crate::common::*;

/// `exec` for the usual target, up to the `--` before the command.
const EXEC_C1: &[&str] = &["exec", "--cluster-id", "c1", "--"];

#[test]
fn the_child_sees_the_token_variables() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let out = sb.run(&[
        "exec",
        "-vv",
        "--cluster-id",
        "c1",
        "--",
        "sh",
        "-c",
        r#"printf '%s\n%s\n%s\n' "$REDSHIFT_IDC_TOKEN" "$REDSHIFT_IDC_TOKEN_TYPE" "$REDSHIFT_IDC_TOKEN_EXPIRATION""#,
    ]);
    assert_success(&out);
    let token = only_token(&s);
    assert_no_secrets(&stderr(&out), Some(&token));
    let stdout = stdout(&out);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert_eq!(lines[0], token);
    assert_eq!(lines[1], "SUBJECT_TOKEN");
    let exp = lines[2];
    assert!(
        exp.ends_with('Z') && exp.len() == 20,
        "RFC 3339 UTC, whole seconds: {exp}"
    );
    let at = redshift_idc_token::token::parse_rfc3339(exp).expect("RFC 3339");
    let left = at
        .duration_since(std::time::SystemTime::now())
        .unwrap()
        .as_secs();
    assert!((880..=900).contains(&left), "{left}");
}

#[test]
fn stdin_stdout_and_stderr_pass_through() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let data = "line one\nline two with \u{e9}\n".repeat(1000);
    let out = sb
        .cmd()
        .args(with(EXEC_C1, &["sh", "-c", "cat; echo to-stderr >&2"]))
        .write_stdin(data.clone())
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        data,
        "stdin reaches the child, its stdout is ours"
    );
    assert_eq!(
        stderr(&out),
        "to-stderr\n",
        "the child's stderr is ours, and nothing else"
    );
}

#[test]
fn the_exit_status_passes_through() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let out = sb.run(&with(EXEC_C1, &["sh", "-c", "exit 7"]));
    assert_eq!(out.status.code(), Some(7));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
    let out = sb.run(&with(EXEC_C1, &["true"]));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_termination_signal_reaches_the_command() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let marker = sb.home().join("trapped");
    let script = format!(
        "trap 'echo trapped > {}; exit 143' TERM; echo ready; while :; do sleep 0.05; done",
        marker.display()
    );
    let mut child = sb.spawn(&with(EXEC_C1, &["sh", "-c", &script]));
    assert_eq!(wait_ready(&mut child), "ready\n");
    let pid = child.id();
    // Replaced by execvp: the process we started IS the shell now.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        cmdline.starts_with(b"sh\0-c\0"),
        "{:?}",
        String::from_utf8_lossy(&cmdline)
    );
    // SAFETY: kill has no memory-safety preconditions; the pid is our own live child.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, libc::SIGTERM) }, 0);
    let status = wait_until(
        child,
        Instant::now() + Duration::from_secs(10),
        "the trapping shell",
    )
    .status;
    assert_eq!(status.code(), Some(143), "{status:?}");
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "trapped\n");
}

#[test]
fn the_token_is_in_no_argv() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let mut child = sb.spawn(&with(
        EXEC_C1,
        &["sh", "-c", "echo ready; sleep 30; echo unreachable"],
    ));
    assert_eq!(wait_ready(&mut child), "ready\n");
    let token = only_token(&s);
    let pid = child.id();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(
        !contains(&cmdline, token.as_bytes()),
        "token in argv of {pid}"
    );
    // The shell's children (sleep) and every other process we can see: no argv has it.
    let all = proc_cmdlines();
    for (proc_dir, cmdline) in &all {
        assert!(
            !contains(cmdline, token.as_bytes()),
            "token in argv of {proc_dir:?}"
        );
    }
    assert!(all.len() > 1);
    // It is where it belongs: in the environment of the command.
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    assert!(contains(
        &environ,
        format!("REDSHIFT_IDC_TOKEN={token}\0").as_bytes()
    ));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_missing_command_exits_127() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let out = sb.run(&with(EXEC_C1, &["no-such-command-xyz", "arg"]));
    let line = assert_failure(&out, 127, &["no-such-command-xyz"]);
    assert!(
        line.starts_with("error: cannot run 'no-such-command-xyz'"),
        "{line}"
    );
    let token = only_token(&s);
    assert_no_secrets(&stderr(&out), Some(&token));
}

#[test]
fn an_error_before_exec_does_not_run_the_command() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    s.push(Reply::error(
        "AccessDeniedException",
        "User is not authorized",
    ));
    let marker = sb.home().join("ran");
    let script = format!("touch {}", marker.display());
    let out = sb.run(&with(EXEC_C1, &["sh", "-c", &script]));
    assert_failure(
        &out,
        4,
        &[
            "AccessDeniedException",
            "redshift:GetIdentityCenterAuthToken",
        ],
    );
    assert!(!marker.exists(), "the command must not run");
    assert_eq!(s.request_count(), 1);
}
