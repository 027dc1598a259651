//! No secret ever leaks: not the token (outside the one place it is printed), not the secret
//! access key, not the session token. Every command runs at `-vv` in every outcome (success and
//! each error category); stderr, the stdout of commands that never print a token, and the
//! names and contents of everything under the cache directory (except the token field of the
//! entry files, which must instead be private) are searched for every secret. The token also
//! never appears in the argv of the running binary or of an `exec` child.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::common::*;

/// In a malformed reply's cut-off token: must not be echoed either.
const MALFORMED_SENTINEL: &str = "MALFORMEDTOKENSENTINEL42";

/// The outcomes every command is run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Success,
    Usage,
    NoCredentials,
    RejectedCredentials,
    AccessDenied,
    NotIdentityEnhanced,
    Throttled,
    Timeout,
    Malformed,
    Refused,
}

/// One mode's world: the stand-in (if any), the sandbox, the target arguments.
struct World {
    standin: Option<StandIn>,
    sb: Sandbox,
    targets: Vec<&'static str>,
    extra: Vec<&'static str>,
}

impl World {
    fn new(mode: Mode) -> World {
        let mut extra = vec![];
        let (standin, mut sb) = if mode == Mode::Refused {
            (None, Sandbox::with_endpoint(&refused_endpoint()))
        } else {
            let s = StandIn::start();
            let sb = Sandbox::new(&s);
            (Some(s), sb)
        };
        let stock = |reply: Reply| {
            for _ in 0..300 {
                standin.as_ref().unwrap().push(reply.clone());
            }
        };
        match mode {
            Mode::Success | Mode::Usage | Mode::Refused => {}
            Mode::NoCredentials => {
                // The secrets are on disk, for another profile: still never shown.
                sb.unset_credentials();
                sb.write_shared_profile("other", None, ACCESS_KEY, Some(SESSION_TOKEN));
                extra = vec!["--timeout", "10"];
            }
            Mode::RejectedCredentials => stock(Reply::error("ExpiredToken", "The security token included in the request is expired")),
            Mode::AccessDenied => stock(Reply::error("AccessDenied", "User is not authorized")),
            Mode::NotIdentityEnhanced => {
                stock(Reply::error("UnsupportedOperation", "identity-enhanced credentials are required"))
            }
            Mode::Throttled => stock(Reply::error("Throttling", "Rate exceeded")),
            Mode::Timeout => {
                stock(Reply::Hang);
                extra = vec!["--timeout", "2"];
            }
            Mode::Malformed => stock(Reply::Raw {
                status: 200,
                content_type: "text/xml".into(),
                body: format!(
                    "<GetIdentityCenterAuthTokenResponse><GetIdentityCenterAuthTokenResult><Token>{MALFORMED_SENTINEL}"
                )
                .into_bytes(),
            }),
        }
        let targets = if mode == Mode::Usage {
            vec!["--cluster-id", "1-not-valid"]
        } else {
            vec!["--cluster-id", "c1"]
        };
        World {
            standin,
            sb,
            targets,
            extra,
        }
    }

    /// Every secret that must not appear: the credentials' secret parts and every token the
    /// stand-in has handed out (or tried to).
    fn secrets(&self) -> Vec<String> {
        let mut v = vec![
            SECRET_KEY.to_owned(),
            SESSION_TOKEN.to_owned(),
            MALFORMED_SENTINEL.to_owned(),
        ];
        if let Some(s) = &self.standin {
            v.extend(issued_tokens::<Vec<_>>(s));
        }
        v
    }

    fn token_args(&self, more: &[&'static str]) -> Vec<&'static str> {
        let mut v = self.targets.clone();
        v.extend_from_slice(&self.extra);
        v.extend_from_slice(more);
        v.push("-vv");
        v
    }
}

/// Where a secret was found, if anywhere, in `text`.
fn leaks(text: &[u8], secrets: &[String]) -> Vec<String> {
    secrets
        .iter()
        .filter(|s| text.windows(s.len()).any(|w| w == s.as_bytes()))
        .cloned()
        .collect()
}

/// Names and contents of everything under `root` (the token field of entry files excepted).
fn scan_cache_dir(root: &Path, secrets: &[String], problems: &mut Vec<String>, when: &str) {
    let Ok(rd) = fs::read_dir(root) else {
        return;
    };
    for item in rd.flatten() {
        let path = item.path();
        let name = item.file_name();
        for s in leaks(name.as_bytes(), secrets) {
            problems.push(format!(
                "{when}: secret {s:?} in the file name {}",
                path.display()
            ));
        }
        let meta = fs::symlink_metadata(&path).unwrap();
        let mode = meta.mode() & 0o777;
        if meta.is_dir() {
            if mode != 0o700 {
                problems.push(format!(
                    "{when}: directory {} has mode {mode:o}",
                    path.display()
                ));
            }
            scan_cache_dir(&path, secrets, problems, when);
            continue;
        }
        if mode != 0o600 {
            problems.push(format!(
                "{when}: {} has mode {mode:o}, not 600",
                path.display()
            ));
        }
        let bytes = fs::read(&path).unwrap_or_default();
        let scanned = if is_entry_name(&name) {
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(Value::Object(mut m)) => {
                    m.remove("token");
                    Value::Object(m).to_string().into_bytes()
                }
                _ => bytes,
            }
        } else {
            bytes
        };
        for s in leaks(&scanned, secrets) {
            problems.push(format!(
                "{when}: secret {s:?} in the contents of {}",
                path.display()
            ));
        }
    }
}

/// Runs `args`, then checks stderr (and stdout unless `token_on_stdout`) for every secret.
fn check_run(
    w: &World,
    args: &[&str],
    token_on_stdout: bool,
    problems: &mut Vec<String>,
) -> Output {
    let out = w.sb.run(args);
    let secrets = w.secrets();
    if out.status.code().is_none() || String::from_utf8_lossy(&out.stderr).contains("panicked") {
        problems.push(format!(
            "{args:?}: crashed: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for s in leaks(&out.stderr, &secrets) {
        problems.push(format!(
            "{args:?} (exit {:?}): secret {s:?} on stderr",
            out.status.code()
        ));
    }
    if !token_on_stdout || !out.status.success() {
        for s in leaks(&out.stdout, &secrets) {
            problems.push(format!(
                "{args:?} (exit {:?}): secret {s:?} on stdout",
                out.status.code()
            ));
        }
    } else {
        // The token is printed, but never a credential.
        for s in leaks(
            &out.stdout,
            &[SECRET_KEY.to_owned(), SESSION_TOKEN.to_owned()],
        ) {
            problems.push(format!("{args:?}: credential {s:?} on stdout"));
        }
    }
    out
}

fn every_command_in(mode: Mode, expect: i32) {
    let w = World::new(mode);
    let mut problems = Vec::new();
    let mut codes = Vec::new();
    for format in ["json", "token", "jdbc", "odbc", "python", "env"] {
        for refresh in [&[][..], &["--force-refresh"][..]] {
            let mut more = vec!["--format", format];
            more.extend_from_slice(refresh);
            let out = check_run(&w, &w.token_args(&more), true, &mut problems);
            codes.push(out.status.code());
        }
    }
    let mut exec = vec!["exec"];
    exec.extend(w.token_args(&[]));
    exec.extend(["--", "sh", "-c", "exit 0"]);
    codes.push(check_run(&w, &exec, false, &mut problems).status.code());
    // doctor reports on everything but must never show a secret, whatever its verdict.
    for json in [&[][..], &["--json"][..]] {
        let mut doctor = vec!["doctor"];
        doctor.extend(w.token_args(json));
        check_run(&w, &doctor, false, &mut problems);
    }
    for cache in [
        &["cache", "list", "-vv"][..],
        &["cache", "list", "--json", "-vv"],
        &["cache", "path", "-vv"],
    ] {
        let out = check_run(&w, cache, false, &mut problems);
        if !out.status.success() {
            problems.push(format!(
                "{cache:?}: exit {:?}: {}",
                out.status.code(),
                stderr(&out)
            ));
        }
    }
    let secrets = w.secrets();
    scan_cache_dir(
        &w.sb.cache_root(),
        &secrets,
        &mut problems,
        "before cache clear",
    );
    let out = check_run(&w, &["cache", "clear", "-vv"], false, &mut problems);
    if !out.status.success() {
        problems.push(format!(
            "cache clear: exit {:?}: {}",
            out.status.code(),
            stderr(&out)
        ));
    }
    scan_cache_dir(
        &w.sb.cache_root(),
        &secrets,
        &mut problems,
        "after cache clear",
    );
    // The mode really is the outcome it claims to be.
    for c in &codes {
        if *c != Some(expect) {
            problems.push(format!(
                "{mode:?}: expected exit {expect} from token commands, got {codes:?}"
            ));
            break;
        }
    }
    if mode == Mode::Success {
        let n = w.secrets().len();
        assert!(n > 3, "the stand-in issued tokens");
    }
    assert!(
        problems.is_empty(),
        "{mode:?}: {} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn no_secret_leaks_on_success() {
    every_command_in(Mode::Success, 0);
}

#[test]
fn no_secret_leaks_on_usage_errors() {
    every_command_in(Mode::Usage, 2);
}

#[test]
fn no_secret_leaks_without_credentials() {
    every_command_in(Mode::NoCredentials, 3);
}

#[test]
fn no_secret_leaks_with_rejected_credentials() {
    every_command_in(Mode::RejectedCredentials, 3);
}

#[test]
fn no_secret_leaks_on_access_denied() {
    every_command_in(Mode::AccessDenied, 4);
}

#[test]
fn no_secret_leaks_when_not_identity_enhanced() {
    every_command_in(Mode::NotIdentityEnhanced, 4);
}

#[test]
fn no_secret_leaks_when_throttled() {
    every_command_in(Mode::Throttled, 5);
}

#[test]
fn no_secret_leaks_on_timeout() {
    every_command_in(Mode::Timeout, 5);
}

#[test]
fn no_secret_leaks_on_a_malformed_reply() {
    every_command_in(Mode::Malformed, 5);
}

#[test]
fn no_secret_leaks_when_the_connection_is_refused() {
    every_command_in(Mode::Refused, 5);
}

// ---------------------------------------------------------------------------------------------
// argv
// ---------------------------------------------------------------------------------------------

/// Every process's argv that holds `token`.
fn argv_holding(token: &str) -> Vec<String> {
    proc_cmdlines()
        .into_iter()
        .filter(|(_, cmdline)| contains(cmdline, token.as_bytes()))
        .map(|(proc_dir, cmdline)| {
            format!(
                "{}: {}",
                proc_dir.display(),
                String::from_utf8_lossy(&cmdline)
            )
        })
        .collect()
}

/// A pipe whose buffer is already full, so the binary blocks writing its document to it
/// while it holds the token; returns (read end, write end).
fn full_pipe() -> (fs::File, fs::File) {
    let mut fds = [0; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just created and are owned by nobody else.
    let (r, wr) = unsafe {
        use std::os::fd::FromRawFd;
        (fs::File::from_raw_fd(fds[0]), fs::File::from_raw_fd(fds[1]))
    };
    let fd = std::os::fd::AsRawFd::as_raw_fd(&wr);
    // SAFETY: fcntl on our own descriptor.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let chunk = [b'#'; 4096];
    loop {
        // SAFETY: writing from a valid buffer to our own descriptor.
        let n = unsafe { libc::write(fd, chunk.as_ptr().cast(), chunk.len()) };
        if n <= 0 {
            break;
        }
    }
    // SAFETY: as above; the child must block, not fail, on the full pipe.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
    }
    (r, wr)
}

#[test]
fn the_token_is_never_in_the_argv_of_the_running_binary() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for (round, force) in [(0, true), (1, false)] {
        let (mut r, w) = full_pipe();
        let mut args = vec!["--cluster-id", "c1", "-vv", "--format", "token"];
        if force {
            args.push("--force-refresh");
        }
        let child = sb
            .std_cmd()
            .args(&args)
            .stdin(Stdio::null())
            .stdout(w)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let token = s.requests().last().and_then(|r| r.token.clone());
        // Wait until the binary is blocked writing the token to the full pipe (or gone).
        let pid = child.id();
        let blocked = poll(Duration::from_secs(10), || {
            fs::read_to_string(format!("/proc/{pid}/wchan"))
                .unwrap_or_default()
                .contains("pipe")
        });
        let token = s
            .requests()
            .last()
            .and_then(|r| r.token.clone())
            .or(token)
            .expect("a token was issued");
        let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        assert!(
            !contains(&cmdline, token.as_bytes()),
            "round {round}: token in the binary's argv"
        );
        assert!(
            argv_holding(&token).is_empty(),
            "round {round}: {:?}",
            argv_holding(&token)
        );
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            !contains(&environ, token.as_bytes()),
            "round {round}: token in the binary's environment"
        );
        // Let it finish: drain the pipe, and the token comes out where it belongs.
        let mut printed = Vec::new();
        let reader = std::thread::spawn(move || {
            std::io::Read::read_to_end(&mut r, &mut printed).unwrap();
            printed
        });
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let printed = reader.join().unwrap();
        assert!(contains(&printed, format!("{token}\n").as_bytes()));
        assert_no_secrets(&stderr(&out), Some(&token));
        if !blocked {
            eprintln!("note: round {round}: the binary was not seen blocked on the full pipe");
        }
    }
}

#[test]
fn the_token_is_never_in_the_argv_of_an_exec_child() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for round in 0..2 {
        // Round 0 fetches, round 1 is served from the cache.
        let mut child = sb.spawn(&[
            "exec",
            "--cluster-id",
            "c1",
            "-vv",
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 30",
        ]);
        assert_eq!(wait_ready(&mut child), "ready\n");
        let token = s.requests()[0].token.clone().unwrap();
        let found = argv_holding(&token);
        assert!(found.is_empty(), "round {round}: token in argv: {found:?}");
        let pid = child.id();
        // The shell prints "ready" and then execs sleep; while that exec is under way the
        // kernel may show an empty environment, so look again until the new image is there.
        let wanted = format!("REDSHIFT_IDC_TOKEN={token}\0");
        let in_environ = poll(Duration::from_secs(5), || {
            fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|environ| contains(&environ, wanted.as_bytes()))
        });
        assert!(
            in_environ,
            "round {round}: the token is in the child's environment"
        );
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        assert_no_secrets(&stderr(&out), Some(&token));
    }
    assert_eq!(s.request_count(), 1);
    assert_eq!(mode(&sb.entries()[0]) & 0o777, 0o600);
}
