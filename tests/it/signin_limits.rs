//! The limits of the sign-in, end to end: everything it starts or reads ends within
//! `--timeout` / `--signin-timeout`, whatever the other side does, and a person without a
//! working browser still gets a URL that works.
//!
//! The real executable signs in against the Identity Center stand-in. The adversaries are
//! real too: a FIFO nobody writes, `<(...)` from bash, a JWT command whose background child
//! keeps its output open, `/dev/zero`, a client dripping one byte at a time into the loopback
//! listener, a `xdg-open` that fails or hangs. Every run is bounded by the test (timeout plus
//! 5 s of slack for a loaded 2-core machine); a run still going then is killed and fails.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::{Sandbox, StandIn, one_document, parse_issued, poll, set_mode};
use crate::idc_standin::{
    DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, GRANT_AUTHORIZATION_CODE, GRANT_JWT_BEARER,
    IdcConfig, IdcStandIn, Op, person_in_access_key,
};

const HEADLESS_BROWSER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/headless-browser");
const C1: &[&str] = &["--cluster-id", "c1"];
/// Exit statuses (plugin-config/exit-codes.json): a bad setting or source; the time limit.
const EXIT_USAGE: i32 = 2;
const EXIT_TRANSIENT: i32 = 5;
const EXIT_SIGNIN: i32 = 6;
/// What a loaded machine may add to a bounded run before the test calls it a hang.
const SLACK: Duration = Duration::from_secs(5);

/// Both stand-ins and a sandbox whose default profile signs in through them.
struct Setup {
    _redshift: StandIn,
    idc: IdcStandIn,
    sb: Sandbox,
}

impl Setup {
    fn new() -> Setup {
        let redshift = StandIn::start();
        let idc = IdcStandIn::start_with(IdcConfig::default());
        let mut sb = Sandbox::new(&redshift);
        let home = sb.home().to_path_buf();
        std::fs::create_dir_all(home.join("tmp")).unwrap();
        std::fs::create_dir_all(home.join("bin")).unwrap();
        for (k, v) in [
            ("AWS_ENDPOINT_URL_SSO_OIDC", idc.url()),
            ("AWS_ENDPOINT_URL_STS", idc.url()),
            ("REDSHIFT_IDC_TOKEN_LISTEN_PORT", "0".into()),
            ("REDSHIFT_IDC_TOKEN_BROWSER", HEADLESS_BROWSER.into()),
            ("HEADLESS_BROWSER_TIMEOUT", "30".into()),
            ("TMPDIR", path(&home.join("tmp"))),
            // ~/bin first: a test's own `xdg-open` is found before any installed one.
            (
                "PATH",
                format!("{}:/usr/local/bin:/usr/bin:/bin", path(&home.join("bin"))),
            ),
        ] {
            sb.set(k, &v);
        }
        sb.write_aws_config(&format!(
            "[default]\nregion = us-east-1\n\
             redshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\n\
             redshift_idc_role_arn = {DEFAULT_ROLE_ARN}\n"
        ));
        Setup {
            _redshift: redshift,
            idc,
            sb,
        }
    }

    fn home(&self) -> PathBuf {
        self.sb.home().to_path_buf()
    }

    /// A file holding a JWT of the trusted issuer for `person`.
    fn jwt_file(&self, person: &str) -> PathBuf {
        let file = self.home().join(format!("{person}.jwt"));
        std::fs::write(
            &file,
            self.idc.jwt_for(person, Duration::from_secs(600)) + "\n",
        )
        .unwrap();
        file
    }

    /// An executable script in the sandbox.
    fn script(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.home().join(rel);
        std::fs::write(&p, text).unwrap();
        set_mode(&p, 0o755);
        p
    }

    /// The person the token of a successful run was issued to.
    fn person_of(&self, out: &Output) -> String {
        let doc = one_document(out);
        let token = doc["token"].as_str().expect("token");
        let issued = parse_issued(token).expect("a stand-in token");
        person_in_access_key(&issued.access_key).expect("identity-enhanced credentials")
    }
}

fn path(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_owned()
}

/// Runs `cmd` with stdout and stderr in files (so that a process left holding them cannot
/// stall the test), killing it and failing if it is still running after `limit`.
fn run_bounded(mut cmd: Command, limit: Duration) -> (Output, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let (o, e) = (dir.path().join("out"), dir.path().join("err"));
    let t0 = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .spawn()
        .expect("spawn");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "still running after {limit:?} (a hang); stderr so far: {}",
                std::fs::read_to_string(&e).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let elapsed = t0.elapsed();
    let out = Output {
        status,
        stdout: std::fs::read(&o).unwrap(),
        stderr: std::fs::read(&e).unwrap(),
    };
    (out, elapsed)
}

/// The binary in `s`'s sandbox with `args`, bounded by `limit`.
fn run(s: &Setup, args: &[&str], limit: Duration) -> (Output, Duration) {
    let mut c = s.sb.std_cmd();
    c.args(args);
    run_bounded(c, limit)
}

/// A failed run: `code`, nothing on stdout, and one stderr line (the last) with every
/// needle; no line of stderr holds `secret`. Returns that line.
fn assert_one_line_failure(
    out: &Output,
    code: i32,
    needles: &[&str],
    secret: Option<&str>,
) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let last = err.lines().last().unwrap_or_default().to_owned();
    for n in needles {
        assert!(last.contains(n), "{last:?} lacks {n:?}\nstderr: {err}");
    }
    if let Some(secret) = secret {
        assert!(!err.contains(secret), "the JWT leaked into stderr: {err}");
    }
    assert!(!err.contains("panicked"), "{err}");
    last
}

/// Whether process `pid` is gone (or a zombie nobody reaped yet).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(path(p)).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");
}

// ---------------------------------------------------------------------------------------
// JWT sources
// ---------------------------------------------------------------------------------------

#[test]
fn a_jwt_file_that_is_a_fifo_without_a_writer_fails_within_the_timeout() {
    let s = Setup::new();
    let fifo = s.home().join("jwt.fifo");
    mkfifo(&fifo);
    let (out, took) = run(
        &s,
        &[
            "--timeout",
            "2",
            "--jwt-file",
            &path(&fifo),
            "--cluster-id",
            "c1",
        ],
        Duration::from_secs(2) + SLACK,
    );
    let line = assert_one_line_failure(
        &out,
        EXIT_TRANSIENT,
        &[
            &path(&fifo),
            "(a pipe or device) was not written and closed within 2 s",
            "--timeout",
        ],
        None,
    );
    assert_eq!(
        s.idc.count(Op::CreateTokenWithIam),
        0,
        "no network call: {line}"
    );
    eprintln!("note: a FIFO without a writer ended in {took:?}");
}

#[test]
fn a_jwt_file_that_is_a_fifo_works_whether_its_writer_comes_early_or_late() {
    // Late: the writer opens the FIFO after the run started. Early: it is already waiting in
    // `open` (which returns once a reader opens), so any reader that opens the FIFO and
    // closes it again (a peek) would leave it writing into a pipe nobody reads.
    for delay in [700, 0] {
        let s = Setup::new();
        let jwt = s.idc.jwt_for("bob", Duration::from_secs(600));
        let fifo = s.home().join("jwt.fifo");
        mkfifo(&fifo);
        let (f, j) = (fifo.clone(), jwt.clone());
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(delay));
            let mut w = std::fs::OpenOptions::new().write(true).open(&f).unwrap();
            w.write_all(j.as_bytes())
        });
        if delay == 0 {
            std::thread::sleep(Duration::from_millis(300));
        }
        let (out, _) = run(
            &s,
            &[
                "--timeout",
                "10",
                "--jwt-file",
                &path(&fifo),
                "--cluster-id",
                "c1",
            ],
            Duration::from_secs(10) + SLACK,
        );
        let wrote = writer.join().unwrap();
        assert_eq!(
            s.person_of(&out),
            "bob",
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(wrote.is_ok(), "the writer's JWT was not read: {wrote:?}");
        assert_eq!(s.idc.count_grant(GRANT_JWT_BEARER), 1);
    }
}

#[test]
fn a_jwt_file_given_as_process_substitution_is_read_once_and_works() {
    let s = Setup::new();
    let file = s.jwt_file("bob");
    let mut c = s.sb.command("bash");
    c.args([
        "-c",
        r#"exec "$BIN" --timeout 10 --jwt-file <(cat "$JWT_FILE") --cluster-id c1"#,
    ])
    .env("BIN", crate::common::BIN)
    .env("JWT_FILE", path(&file));
    let (out, _) = run_bounded(c, Duration::from_secs(10) + SLACK);
    assert_eq!(
        s.person_of(&out),
        "bob",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.idc.count_grant(GRANT_JWT_BEARER), 1);
}

#[test]
fn a_jwt_command_whose_background_child_holds_its_output_is_ended_at_the_timeout() {
    let s = Setup::new();
    let file = s.jwt_file("bob");
    let pidfile = s.home().join("child.pid");
    // The JWT, then a background child that keeps the command's output open for 5 minutes.
    let command = format!(
        "cat '{}'; sleep 300 & echo $! > '{}'",
        path(&file),
        path(&pidfile)
    );
    let (out, took) = run(
        &s,
        &[
            "--timeout",
            "2",
            "--jwt-command",
            &command,
            "--cluster-id",
            "c1",
        ],
        Duration::from_secs(2) + SLACK,
    );
    let jwt = std::fs::read_to_string(&file).unwrap();
    assert_one_line_failure(
        &out,
        EXIT_USAGE,
        &[
            "the JWT command",
            "sleep 300",
            "2 s",
            "--timeout",
            "background",
        ],
        Some(jwt.trim()),
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .expect("the command ran")
        .trim()
        .parse()
        .unwrap();
    let ended = poll(Duration::from_secs(2), || gone(pid));
    if !ended {
        // SAFETY: kill has no memory preconditions.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    assert!(ended, "the background child {pid} outlived the run");
    assert_eq!(s.idc.count(Op::CreateTokenWithIam), 0);
    eprintln!("note: a held JWT command output ended in {took:?}");

    // A command that hangs in the foreground: it and its children end at the deadline too.
    let command = format!("sleep 300 & echo $! > '{}'; wait", path(&pidfile));
    let (out, _) = run(
        &s,
        &[
            "--timeout",
            "2",
            "--jwt-command",
            &command,
            "--cluster-id",
            "c1",
        ],
        Duration::from_secs(2) + SLACK,
    );
    assert_one_line_failure(
        &out,
        EXIT_TRANSIENT,
        &["the JWT command", "did not finish within 2 s", "--timeout"],
        None,
    );
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let ended = poll(Duration::from_secs(2), || gone(pid));
    if !ended {
        // SAFETY: as above.
        unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    }
    assert!(ended, "the command's child {pid} outlived the run");
}

#[test]
fn a_jwt_command_printing_megabytes_or_dev_zero_stops_at_the_size_limit() {
    let s = Setup::new();
    for command in [
        "cat /dev/zero",
        "head -c 5000000 /dev/zero | tr '\\0' a",
        "yes eyJhbGciOiJSUzI1NiJ9",
    ] {
        let (out, took) = run(
            &s,
            &[
                "--timeout",
                "30",
                "--jwt-command",
                command,
                "--cluster-id",
                "c1",
            ],
            Duration::from_secs(10),
        );
        assert_one_line_failure(
            &out,
            EXIT_USAGE,
            &[
                "the JWT command",
                command.split('|').next().unwrap().trim(),
                "output was longer than 64 KiB",
            ],
            None,
        );
        assert!(took < Duration::from_secs(10), "{command}: {took:?}");
    }
    assert_eq!(s.idc.count(Op::CreateTokenWithIam), 0);
}

#[test]
fn a_jwt_file_of_megabytes_or_dev_zero_stops_at_the_size_limit() {
    let s = Setup::new();
    let big = s.home().join("big.jwt");
    std::fs::write(&big, "a".repeat(5_000_000)).unwrap();
    let fifo = s.home().join("yes.fifo");
    mkfifo(&fifo);
    // A writer that never stops: `yes` into the FIFO, ended with the test.
    let mut yes = Command::new("sh")
        .args(["-c", &format!("exec yes > '{}'", path(&fifo))])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for file in [big.clone(), PathBuf::from("/dev/zero"), fifo.clone()] {
        let (out, took) = run(
            &s,
            &[
                "--timeout",
                "30",
                "--jwt-file",
                &path(&file),
                "--cluster-id",
                "c1",
            ],
            Duration::from_secs(10),
        );
        assert_one_line_failure(
            &out,
            EXIT_USAGE,
            &[&path(&file), "longer than 64 KiB"],
            None,
        );
        assert!(took < Duration::from_secs(10), "{file:?}: {took:?}");
    }
    let _ = yes.kill();
    let _ = yes.wait();
    assert_eq!(s.idc.count(Op::CreateTokenWithIam), 0);
}

#[test]
fn a_jwt_variable_longer_than_the_limit_is_refused_with_the_limit() {
    let mut s = Setup::new();
    let long = format!("eyJhbGciOiJSUzI1NiJ9.{}.sig", "A".repeat(70 * 1024));
    s.sb.set("MY_JWT", &long);
    s.sb.write_aws_config(&format!(
        "[default]\nregion = us-east-1\n\
         redshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\n\
         redshift_idc_role_arn = {DEFAULT_ROLE_ARN}\n\
         redshift_idc_signin = jwt\nredshift_idc_jwt_env = MY_JWT\n"
    ));
    let (out, _) = run(&s, C1, Duration::from_secs(30) + SLACK);
    assert_one_line_failure(
        &out,
        EXIT_USAGE,
        &["the environment variable MY_JWT", "longer than 64 KiB"],
        Some(&long[..200]),
    );
    assert_eq!(s.idc.count(Op::CreateTokenWithIam), 0);
}

// ---------------------------------------------------------------------------------------
// The loopback listener
// ---------------------------------------------------------------------------------------

/// A free port on 127.0.0.1 (bound and released; the run binds it next).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// `n` clients that connect to `port` as soon as it listens and send one byte of a request
/// every 200 ms, never finishing it, until `stop` (or 60 s) passes.
fn drippers(port: u16, n: usize, stop: Instant) -> Vec<std::thread::JoinHandle<usize>> {
    (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = loop {
                    if Instant::now() > stop {
                        return 0;
                    }
                    match TcpStream::connect(("127.0.0.1", port)) {
                        Ok(s) => break s,
                        Err(_) => std::thread::sleep(Duration::from_millis(20)),
                    }
                };
                let request = b"GET /oauth/callback?code=x&state=y HTTP/1.1\r\nHost: x\r\nX-Pad: ";
                let mut sent = 0;
                let pad = std::iter::repeat(&b'a');
                for b in request.iter().chain(pad) {
                    if Instant::now() > stop || s.write_all(&[*b]).is_err() {
                        break;
                    }
                    sent += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                sent
            })
        })
        .collect()
}

#[test]
fn a_client_dripping_into_the_listener_cannot_outlast_the_signin_timeout() {
    let mut s = Setup::new();
    let port = free_port();
    s.sb.set("REDSHIFT_IDC_TOKEN_LISTEN_PORT", &port.to_string());
    s.sb.set("REDSHIFT_IDC_TOKEN_BROWSER", "none");
    let stop = Instant::now() + Duration::from_secs(60);
    let clients = drippers(port, 1, stop);
    let (out, took) = run(
        &s,
        &["--signin-timeout", "3", "--cluster-id", "c1"],
        Duration::from_secs(3) + SLACK,
    );
    assert_one_line_failure(
        &out,
        EXIT_SIGNIN,
        &["did not complete within 3 s", "--signin-timeout"],
        None,
    );
    for c in clients {
        assert!(c.join().unwrap() > 2, "the client did connect and drip");
    }
    eprintln!("note: a dripping client ended with the sign-in after {took:?}");
}

#[test]
fn dripping_clients_do_not_keep_the_real_redirect_out() {
    let mut s = Setup::new();
    let port = free_port();
    s.sb.set("REDSHIFT_IDC_TOKEN_LISTEN_PORT", &port.to_string());
    // The browser starts a second late, when the drippers hold their connections.
    let hook = s.script(
        "late-browser",
        &format!("#!/bin/sh\nsleep 1\nexec '{HEADLESS_BROWSER}' \"$@\"\n"),
    );
    s.sb.set("REDSHIFT_IDC_TOKEN_BROWSER", &path(&hook));
    let stop = Instant::now() + Duration::from_secs(60);
    let clients = drippers(port, 6, stop);
    let (out, took) = run(
        &s,
        &["--signin-timeout", "25", "--cluster-id", "c1"],
        Duration::from_secs(25) + SLACK,
    );
    assert_eq!(
        s.person_of(&out),
        "alice",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.idc.count_grant(GRANT_AUTHORIZATION_CODE), 1);
    for c in clients {
        assert!(c.join().unwrap() > 0, "every client connected and dripped");
    }
    eprintln!("note: signed in past 6 dripping clients in {took:?}");
}

// ---------------------------------------------------------------------------------------
// A person who cannot get a browser
// ---------------------------------------------------------------------------------------

/// Starts the binary with `args` and collects its stderr lines as they come.
struct Live {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Live {
    fn start(s: &Setup, args: &[&str]) -> Live {
        let mut child =
            s.sb.std_cmd()
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Live {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// The first stderr line matching `pred` within `limit`.
    fn line(&mut self, limit: Duration, pred: impl Fn(&str) -> bool) -> Option<String> {
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if pred(&l) {
                        return Some(l);
                    }
                }
                Err(_) => return None,
            }
        }
    }

    /// Waits for the end within `limit` (killing and failing otherwise); stdout and all of
    /// stderr.
    fn finish(mut self, limit: Duration) -> (std::process::ExitStatus, Vec<u8>, String) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("still running after {limit:?}: {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut stdout = Vec::new();
        std::io::Read::read_to_end(&mut self.child.stdout.take().unwrap(), &mut stdout).unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.seen.push(l);
        }
        (status, stdout, self.seen.join("\n"))
    }
}

/// Opens `url` in the real headless browser (the person copying the URL), bounded.
fn open_by_hand(s: &Setup, url: &str) -> Output {
    let mut c = s.sb.command(HEADLESS_BROWSER);
    c.arg(url);
    run_bounded(c, Duration::from_secs(40)).0
}

/// The URL a run printed for the person, checked against what the listener expects.
fn assert_authorize_url(s: &Setup, url: &str) {
    assert!(
        url.starts_with(&format!("{}/authorize?", s.idc.url())),
        "{url}"
    );
    let query: std::collections::HashMap<String, String> =
        form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    assert!(
        query["redirect_uri"].starts_with("http://127.0.0.1:"),
        "{url}"
    );
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(!query.contains_key("code_verifier"), "{url}");
}

/// A `xdg-open` (the default opener, found first on PATH) that runs `body`.
fn fake_xdg_open(s: &Setup, body: &str) {
    s.script("bin/xdg-open", &format!("#!/bin/sh\n{body}\n"));
}

fn check_browserless_sign_in(s: &Setup, expect_why: &str) {
    let mut live = Live::start(s, &["--signin-timeout", "60", "--cluster-id", "c1"]);
    let url = live
        .line(Duration::from_secs(10) + SLACK, |l| l.starts_with("http"))
        .unwrap_or_else(|| panic!("no URL printed within 15 s: {:?}", live.seen));
    let told = live.seen.join("\n");
    assert!(
        !told.contains("browser window that opened"),
        "the URL is the way in, not a window: {told}"
    );
    assert!(told.contains(expect_why), "{told:?} lacks {expect_why:?}");
    assert_authorize_url(s, &url);
    let t0 = Instant::now();
    let browser = open_by_hand(s, &url);
    assert!(browser.status.success(), "{browser:?}");
    let (status, stdout, err) = live.finish(Duration::from_secs(20));
    assert!(status.success(), "{err}");
    let out = Output {
        status,
        stdout,
        stderr: err.clone().into_bytes(),
    };
    assert_eq!(s.person_of(&out), "alice");
    // The verifier never shows; the state only inside the one URL line.
    for secret in s.idc.issued_secrets() {
        assert!(!err.contains(&secret), "a secret leaked: {err}");
    }
    let state = form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned();
    assert_eq!(err.matches(state.as_str()).count(), 1, "{err}");
    eprintln!("note: signed in by hand {:?} after the URL", t0.elapsed());
}

#[test]
fn when_xdg_open_fails_the_url_is_printed_and_signs_in() {
    let mut s = Setup::new();
    s.sb.unset("REDSHIFT_IDC_TOKEN_BROWSER");
    // As xdg-open over SSH without a display: "no method available", exit 3.
    fake_xdg_open(
        &s,
        "echo 'xdg-open: no method available for opening' >&2\nexit 3",
    );
    check_browserless_sign_in(&s, "xdg-open");
    assert_eq!(s.idc.count_grant(GRANT_AUTHORIZATION_CODE), 1);
}

#[test]
fn when_the_opener_hangs_the_url_is_printed_and_the_sign_in_goes_on() {
    let mut s = Setup::new();
    s.sb.unset("REDSHIFT_IDC_TOKEN_BROWSER");
    let pidfile = s.home().join("opener.pid");
    fake_xdg_open(
        &s,
        &format!("echo $$ > '{}'\nexec sleep 300", path(&pidfile)),
    );
    check_browserless_sign_in(&s, "xdg-open");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // The opener is not ours to kill (it may be the browser itself); the test ends it.
    // SAFETY: kill has no memory preconditions.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
}

#[test]
fn when_no_opener_exists_the_url_is_printed_and_signs_in() {
    let mut s = Setup::new();
    s.sb.set("REDSHIFT_IDC_TOKEN_BROWSER", "/nonexistent/browser --flag");
    check_browserless_sign_in(&s, "/nonexistent/browser");
}

#[test]
fn when_the_opener_succeeds_no_url_is_printed() {
    let mut s = Setup::new();
    s.sb.unset("REDSHIFT_IDC_TOKEN_BROWSER");
    // As xdg-open does: hand the URL to a browser that runs on, and exit 0 at once.
    fake_xdg_open(
        &s,
        &format!("'{HEADLESS_BROWSER}' \"$1\" >/dev/null 2>&1 </dev/null &\nexit 0"),
    );
    let (out, _) = run(
        &s,
        &["--signin-timeout", "40", "--cluster-id", "c1"],
        Duration::from_secs(40) + SLACK,
    );
    assert_eq!(
        s.person_of(&out),
        "alice",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("browser window that opened"), "{err}");
    assert!(
        !err.contains("http"),
        "no URL when the browser opened: {err}"
    );
}
