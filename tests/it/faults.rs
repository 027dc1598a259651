//! Faults: the network, the process, the disk and the command line misbehave, and every run
//! still ends in bounded time with one complete document on stdout or nothing at all, and one
//! clear line on stderr when it fails.
//!
//! - Network: refused connections, answers cut mid-body, silence, trickles, 5xx, throttling,
//!   malformed and huge bodies, unusable tokens and expirations (through the stand-in).
//! - Process: SIGKILL before the lock, while the lock is held, and between the temporary
//!   file's write and its rename; the cache then holds the old entry or the new one.
//! - Disk: a cache directory that is a file or a symlink, entries and locks that are symlinks,
//!   FIFOs, devices or directories, a full file system (in a private mount namespace).
//! - Arguments: non-UTF-8, 100 KB and control-character values; tokens built to break out of
//!   the `jdbc`, `odbc` and `env` formats.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command as StdCommand, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::aws_standin::JSON_CONTENT_TYPE;
use crate::common::*;

const WG: &[&str] = &["--workgroup", "wg-one"];

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs with OS-string arguments (which may not be UTF-8).
fn run_os(sb: &Sandbox, args: &[OsString]) -> Output {
    sb.cmd().args(args).output().expect("run binary")
}

fn timed(sb: &Sandbox, args: &[&str]) -> (Output, Duration) {
    let t = Instant::now();
    let out = sb.run(args);
    (out, t.elapsed())
}

// ---------------------------------------------------------------------------------------------
// Network
// ---------------------------------------------------------------------------------------------

#[test]
fn connection_refused_is_transient_and_quick() {
    let url = refused_endpoint();
    let sb = Sandbox::with_endpoint(&url);
    for args in [C1, WG] {
        let (out, took) = timed(&sb, &with(args, &["--timeout", "10"]));
        assert_failure(&out, 5, &["could not reach", &url, "connection refused"]);
        assert!(took < Duration::from_secs(12), "bounded: {took:?}");
    }
    assert!(sb.entries().is_empty());
}

#[test]
fn connection_reset_mid_answer_on_every_attempt_is_transient() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for args in [C1, WG] {
        let before = s.request_count();
        for _ in 0..3 {
            s.push(Reply::Reset);
        }
        let (out, took) = timed(&sb, args);
        assert_failure(&out, 5, &[]);
        assert_eq!(
            s.request_count() - before,
            3,
            "the SDK retried a cut answer twice"
        );
        assert!(took < Duration::from_secs(30));
    }
    assert!(sb.entries().is_empty(), "nothing cached from a cut answer");
}

#[test]
fn connection_reset_once_then_success() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for args in [C1, WG] {
        let before = s.request_count();
        s.push(Reply::Reset);
        let v = one_document(&sb.run(args));
        let reqs = s.requests();
        assert_eq!(reqs.len() - before, 2, "one cut answer, one retry");
        assert_eq!(
            v["token"],
            reqs.last().unwrap().token.clone().unwrap().as_str()
        );
        assert_eq!(v["source"], "aws");
    }
}

#[test]
fn a_server_that_never_answers_is_cut_off_at_the_timeout() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for args in [C1, WG] {
        for _ in 0..3 {
            s.push(Reply::Hang);
        }
        let (out, took) = timed(&sb, &with(args, &["--timeout", "3"]));
        assert_failure(&out, 5, &["gave up after 3 s"]);
        assert!(
            took < Duration::from_secs(5),
            "within --timeout + 2 s: {took:?}"
        );
    }
    assert!(sb.entries().is_empty());
}

#[test]
fn a_slow_drip_within_the_timeout_succeeds() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    // The XML answer is ~450 bytes: ~1.5 s at 300 B/s; the JSON one ~120 bytes.
    for (args, rate) in [(C1, 300), (WG, 100)] {
        s.push(Reply::Drip {
            bytes_per_sec: rate,
        });
        let (out, took) = timed(&sb, &with(args, &["--timeout", "15"]));
        let v = one_document(&out);
        assert_eq!(
            v["token"],
            s.requests().last().unwrap().token.clone().unwrap().as_str()
        );
        assert!(took > Duration::from_millis(500), "it did drip: {took:?}");
    }
}

#[test]
fn a_drip_too_slow_for_the_timeout_is_cut_off() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for args in [C1, WG] {
        for _ in 0..3 {
            s.push(Reply::Drip { bytes_per_sec: 10 });
        }
        let (out, took) = timed(&sb, &with(args, &["--timeout", "2"]));
        assert_failure(&out, 5, &["gave up after 2 s"]);
        assert!(
            took < Duration::from_secs(4),
            "within --timeout + 2 s: {took:?}"
        );
    }
    assert!(
        sb.entries().is_empty(),
        "nothing cached from a partial answer"
    );
}

#[test]
fn server_errors_then_success() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for args in [C1, WG] {
        let before = s.request_count();
        s.push(Reply::Status(500));
        s.push(Reply::Status(503));
        let v = one_document(&sb.run(&with(args, &["--no-cache"])));
        let reqs = s.requests();
        assert_eq!(reqs.len() - before, 3);
        assert_eq!(
            v["token"],
            reqs.last().unwrap().token.clone().unwrap().as_str()
        );
        let before = s.request_count();
        s.push(Reply::error("InternalServerException", "boom"));
        one_document(&sb.run(&with(args, &["--no-cache"])));
        assert_eq!(s.request_count() - before, 2);
    }
}

#[test]
fn throttling_beyond_the_retry_budget_gives_up_after_three_attempts() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for (args, code) in [(C1, "Throttling"), (WG, "ThrottlingException")] {
        let before = s.request_count();
        for _ in 0..4 {
            s.push(Reply::error(code, "Rate exceeded"));
        }
        let (out, took) = timed(&sb, args);
        assert_failure(&out, 5, &[code, "throttling"]);
        assert_eq!(s.request_count() - before, 3, "exactly 3 attempts");
        assert!(took < Duration::from_secs(30));
        // Leave the queue empty for the next service.
        while s.pending_replies() > 0 {
            one_document(&sb.run(&with(args, &["--no-cache"])));
        }
    }
}

fn raw(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Reply {
    Reply::Raw {
        status,
        content_type: content_type.into(),
        body: body.into(),
    }
}

const XML_OK_HEAD: &str = "<GetIdentityCenterAuthTokenResponse xmlns=\"http://redshift.amazonaws.com/doc/2012-12-01/\"><GetIdentityCenterAuthTokenResult>";
const XML_OK_TAIL: &str = "</GetIdentityCenterAuthTokenResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></GetIdentityCenterAuthTokenResponse>\n";

#[test]
fn malformed_replies_are_transient_and_print_nothing() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let xml = |body: &str| raw(200, "text/xml", body.as_bytes().to_vec());
    let json = |body: &str| raw(200, JSON_CONTENT_TYPE, body.as_bytes().to_vec());
    let cases: Vec<(&[&str], Reply)> = vec![
        (C1, xml("<GetIdentityCenterAuthTokenResponse><GetIdenti")),
        (C1, xml("this is not XML at all {\"token\":\"x\"}")),
        (
            C1,
            raw(
                200,
                "text/html",
                b"<html><body>proxy login</body></html>".to_vec(),
            ),
        ),
        (C1, xml("<Other/>")),
        (
            C1,
            xml(&format!(
                "{XML_OK_HEAD}<Token>MALFORMEDSENTINEL</Token><ExpirationTime>tomorrow</ExpirationTime>{XML_OK_TAIL}"
            )),
        ),
        (
            C1,
            xml(&format!(
                "{XML_OK_HEAD}<Token>MALFORMEDSENTINEL<Token></ExpirationTime>{XML_OK_TAIL}"
            )),
        ),
        (C1, xml("")),
        (WG, json("{\"token\": \"MALFORMEDSENTINEL\", ")),
        (WG, json("[1,2,3]")),
        (WG, json("null")),
        (WG, json("")),
        (WG, json("{\"token\": 12}")),
        (
            WG,
            json("{\"token\":\"MALFORMEDSENTINEL\",\"expirationTime\":\"yesterday\"}"),
        ),
        (
            WG,
            json("{\"token\":\"MALFORMEDSENTINEL\",\"expirationTime\":1900000000}"),
        ),
        (
            WG,
            raw(200, "text/html", b"<html>proxy login</html>".to_vec()),
        ),
    ];
    let mut problems = Vec::new();
    for (i, (args, reply)) in cases.into_iter().enumerate() {
        let desc = format!("case {i} ({reply:?})");
        for _ in 0..3 {
            s.push(reply.clone());
        }
        let (out, took) = timed(&sb, args);
        let err = stderr(&out);
        if out.status.code() != Some(5)
            || !out.stdout.is_empty()
            || err.lines().count() != 1
            || err.contains("MALFORMEDSENTINEL")
            || took > Duration::from_secs(30)
        {
            problems.push(format!(
                "{desc}: exit {:?} in {took:?}, stdout {:?}, stderr {err:?}",
                out.status.code(),
                String::from_utf8_lossy(&out.stdout)
            ));
        }
        // Play out the copies the SDK did not retry, so the next case starts clean.
        while s.pending_replies() > 0 {
            sb.run(&with(args, &["--no-cache"]));
        }
    }
    assert!(
        problems.is_empty(),
        "malformed replies mishandled:\n{}",
        problems.join("\n")
    );
    assert!(sb.entries().is_empty(), "nothing was cached");
}

/// A 200 whose body cannot be read is the service's reply being unusable, and the message
/// says so; it is not "a failure on the AWS side" with no message.
#[test]
fn an_unparsable_success_body_is_called_an_unusable_reply() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let mut problems = Vec::new();
    let cases: [(&[&str], &str, &str); 4] = [
        (C1, "text/xml", "this is not XML at all"),
        (C1, "text/html", "<html><body>proxy login</body></html>"),
        (WG, JSON_CONTENT_TYPE, "{\"token\": \"x\", "),
        (WG, "text/html", "<html><body>proxy login</body></html>"),
    ];
    for (args, content_type, body) in cases {
        for _ in 0..3 {
            s.push(raw(200, content_type, body.as_bytes().to_vec()));
        }
        let line = assert_failure(&sb.run(&with(args, &["--no-cache"])), 5, &[]);
        if !line.contains("unusable reply") {
            problems.push(format!("{args:?} {body:?}: {line}"));
        }
        while s.pending_replies() > 0 {
            sb.run(&with(args, &["--no-cache"]));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn missing_and_empty_tokens_are_transient() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for args in [C1, WG] {
        s.push(Reply::Custom {
            token: None,
            expiration: Some("2099-01-01T00:00:00Z".into()),
        });
        assert_failure(&sb.run(args), 5, &["has no token"]);
        s.push(Reply::Custom {
            token: Some(String::new()),
            expiration: Some("2099-01-01T00:00:00Z".into()),
        });
        assert_failure(&sb.run(args), 5, &["token is empty"]);
        s.push(Reply::Custom {
            token: None,
            expiration: None,
        });
        assert_failure(&sb.run(args), 5, &["has no token"]);
    }
    assert!(sb.entries().is_empty());
}

#[test]
fn an_expiration_in_the_past_is_transient() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for args in [C1, WG] {
        s.push(Reply::Custom {
            token: Some("PASTSENTINEL".into()),
            expiration: Some("2001-02-03T04:05:06Z".into()),
        });
        let line = assert_failure(
            &sb.run(args),
            5,
            &["expired already", "2001-02-03T04:05:06Z"],
        );
        assert!(!line.contains("PASTSENTINEL"));
    }
    assert!(sb.entries().is_empty());
}

#[test]
fn an_absurd_expiration_is_printed_but_cached_for_at_most_twelve_hours() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    for (args, token) in [(C1, "far-future-rs"), (WG, "far-future-rss")] {
        s.push(Reply::Custom {
            token: Some(token.into()),
            expiration: Some("9999-12-31T23:59:59Z".into()),
        });
        let v = one_document(&sb.run(args));
        assert_eq!(v["token"], token);
        assert_eq!(v["expiration"], "9999-12-31T23:59:59Z");
        assert_eq!(v["source"], "aws");
        let again = one_document(&sb.run(args));
        assert_eq!(
            (again["token"].as_str(), again["source"].as_str()),
            (Some(token), Some("cache"))
        );
    }
    let out = sb.run(&["cache", "list", "--json"]);
    assert_success(&out);
    let rows: Vec<Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    for row in rows {
        let left = row["remaining_seconds"]
            .as_u64()
            .expect("remaining_seconds");
        assert!(
            left <= 43_200,
            "served for at most 12 hours, not {left} s: {row}"
        );
        assert!(left >= 43_200 - 120, "{row}");
    }
    assert_eq!(s.request_count(), 2);
}

#[test]
fn a_ten_megabyte_body_is_refused_without_hanging() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let big = "A".repeat(10 * 1024 * 1024);
    let cases: Vec<(&[&str], Reply)> = vec![
        (
            C1,
            raw(
                200,
                "text/xml",
                format!(
                    "{XML_OK_HEAD}<Token>{big}</Token><ExpirationTime>2099-01-01T00:00:00Z</ExpirationTime>{XML_OK_TAIL}"
                ),
            ),
        ),
        (C1, raw(200, "text/xml", big.clone())),
        (
            WG,
            raw(
                200,
                JSON_CONTENT_TYPE,
                format!("{{\"token\":\"{big}\",\"expirationTime\":\"2099-01-01T00:00:00Z\"}}"),
            ),
        ),
        (WG, raw(200, JSON_CONTENT_TYPE, big.clone())),
    ];
    for (i, (args, reply)) in cases.into_iter().enumerate() {
        for _ in 0..3 {
            s.push(reply.clone());
        }
        let (out, took) = timed(&sb, &with(args, &["--timeout", "20"]));
        let line = assert_failure(&out, 5, &[]);
        assert!(
            line.len() < 1000,
            "case {i}: short message, got {} bytes",
            line.len()
        );
        assert!(took < Duration::from_secs(22), "case {i}: {took:?}");
        while s.pending_replies() > 0 {
            sb.run(&with(args, &["--no-cache"]));
        }
    }
    assert!(sb.entries().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Process: SIGKILL at random points of a miss
// ---------------------------------------------------------------------------------------------

fn quiet_spawn(sb: &Sandbox, args: &[&str]) -> std::process::Child {
    sb.std_cmd()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the binary")
}

/// The single entry file's token, after checking the entry is whole and for c1.
fn entry_token(sb: &Sandbox) -> Option<String> {
    let entries = entry_files(&sb.entry_dir());
    assert!(entries.len() <= 1, "{entries:?}");
    let path = entries.first()?;
    let bytes = fs::read(path).unwrap();
    let v = check_entry(&bytes, Some(ACCESS_KEY)).unwrap_or_else(|e| panic!("broken entry: {e}"));
    assert_eq!(v["targets"], serde_json::json!(["c1"]));
    assert_eq!(mode(path) & 0o777, 0o600);
    Some(v["token"].as_str().unwrap().to_owned())
}

/// A successful c1 run's token (a fetch or a hit).
fn c1_token(sb: &Sandbox) -> String {
    one_document(&sb.run(C1))["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[test]
fn sigkill_before_the_lock_leaves_the_cache_usable() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let (mut rng, _) = Rng::seeded();
    let old = c1_token(&sb);
    for _ in 0..20 {
        let mut child = quiet_spawn(&sb, &["--cluster-id", "c1", "--force-refresh"]);
        std::thread::sleep(Duration::from_micros(rng.below(3000)));
        let _ = child.kill();
        child.wait().unwrap();
        let now = entry_token(&sb).expect("the entry is still there");
        assert!(now == old || issued_tokens::<HashSet<_>>(&s).contains(&now));
    }
    let v = one_document(&sb.run(C1));
    assert_eq!(v["source"], "cache");
}

#[test]
fn sigkill_while_holding_the_lock_keeps_the_old_entry_and_frees_the_lock() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let old = c1_token(&sb);
    let lock_path = sb.entries()[0].with_extension("lock");
    s.push(Reply::Delay(
        Duration::from_secs(20),
        Box::new(Reply::Token),
    ));
    let mut child = quiet_spawn(
        &sb,
        &["--cluster-id", "c1", "--force-refresh", "--timeout", "60"],
    );
    assert!(
        saw_requests(&s, 2, Duration::from_secs(15)),
        "the slow fetch started"
    );
    // The binary holds the key's lock while it waits for AWS.
    let lock = fs::File::open(&lock_path).unwrap();
    let fd = std::os::fd::AsRawFd::as_raw_fd(&lock);
    // SAFETY: flock on a descriptor we own.
    let busy = unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) };
    assert_eq!(busy, -1, "the lock is held during the fetch");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    // SAFETY: as above.
    let got = poll(
        Duration::from_secs(2),
        || unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0,
    );
    assert!(got, "the dead holder's lock is released");
    // SAFETY: as above.
    unsafe { libc::flock(fd, libc::LOCK_UN) };
    drop(lock);
    assert_eq!(
        entry_token(&sb).as_deref(),
        Some(old.as_str()),
        "the old entry, intact"
    );
    assert!(
        tmp_files(&sb.entry_dir()).is_empty(),
        "the kill came before any write"
    );
    let v = one_document(&sb.run(C1));
    assert_eq!(
        (v["token"].as_str(), v["source"].as_str()),
        (Some(old.as_str()), Some("cache"))
    );
    let (out, took) = timed(
        &sb,
        &["--cluster-id", "c1", "--force-refresh", "--timeout", "10"],
    );
    let v = one_document(&out);
    assert_ne!(v["token"], old.as_str());
    assert!(
        took < Duration::from_secs(3),
        "no wait for a dead lock holder: {took:?}"
    );
    assert!(!stderr(&out).contains("lock"), "{}", stderr(&out));
}

/// Kills `--force-refresh` runs (each rewrites the entry) at random moments around the end
/// of the run, steering the moment towards the write window: a kill that left a `.tmp.*`
/// file landed after the temporary file was created and before the rename. After every kill
/// the entry must be the old one or the new one, complete.
#[test]
fn sigkill_in_the_write_window_never_leaves_a_broken_entry() {
    let s = StandIn::start_with(Config {
        max_requests: 100_000,
        max_lifetime: Duration::from_secs(600),
        ..Config::default()
    });
    let sb = Sandbox::new(&s);
    let args = ["--cluster-id", "c1", "--force-refresh", "--timeout", "10"];
    let (mut rng, seed) = Rng::seeded();
    one_document(&sb.run(C1));
    let mut runs: Vec<Duration> = (0..9)
        .map(|_| {
            let t = Instant::now();
            let mut child = quiet_spawn(&sb, &args);
            assert!(child.wait().unwrap().success());
            t.elapsed()
        })
        .collect();
    runs.sort();
    let median = runs[runs.len() / 2].as_micros() as f64;
    let mut target = median * 0.8;
    let step = (median / 40.0).max(50.0);
    let (mut tries, mut early, mut late, mut window) = (0, 0, 0, 0);
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && tries < 1500 && window < 5 {
        tries += 1;
        let before_tmp = tmp_files(&sb.entry_dir());
        let before = entry_token(&sb).expect("entry");
        let jitter = (rng.below(2001) as f64 - 1000.0) / 1000.0 * median * 0.15;
        let delay = Duration::from_micros((target + jitter).max(0.0) as u64);
        let mut child = quiet_spawn(&sb, &args);
        std::thread::sleep(delay);
        let _ = child.kill();
        let status = child.wait().unwrap();
        let killed = status.signal() == Some(libc::SIGKILL);
        if !killed {
            assert!(status.success(), "{status:?}");
        }
        let after = entry_token(&sb).expect("the entry survives every kill");
        let issued = issued_tokens::<HashSet<_>>(&s).contains(&after);
        assert!(issued, "the entry holds a token the stand-in issued");
        let new_tmp: Vec<String> = tmp_files(&sb.entry_dir())
            .difference(&before_tmp)
            .cloned()
            .collect();
        if !new_tmp.is_empty() {
            window += 1;
            assert!(killed);
            assert_eq!(
                after, before,
                "killed before the rename: the old entry stays"
            );
            for name in new_tmp {
                assert_eq!(
                    mode(&sb.entry_dir().join(&name)) & 0o777,
                    0o600,
                    "temporary file {name} is private"
                );
            }
        } else if !killed || after != before {
            late += 1;
            target -= step;
        } else {
            early += 1;
            target += step;
        }
        target = target.clamp(0.0, median * 3.0);
    }
    eprintln!(
        "write-window kills (seed {seed}): {tries} kills, median run {median:.0} µs, {early} before the write, \
         {window} between temporary write and rename, {late} after the rename"
    );
    assert!(
        window > 0,
        "no kill landed in the write window in {tries} tries (early {early}, late {late})"
    );
    // The next call succeeds, and `cache clear` sweeps the leftover temporary files.
    let v = one_document(&sb.run(C1));
    assert_eq!(v["source"], "cache");
    assert_success(&sb.run(&["cache", "clear"]));
    assert!(
        tmp_files(&sb.entry_dir()).is_empty(),
        "cache clear removes temporary files"
    );
    one_document(&sb.run(C1));
}

// ---------------------------------------------------------------------------------------------
// Disk
// ---------------------------------------------------------------------------------------------

/// A success with the token printed, fetched from AWS, and one warning line naming `want`.
fn warned_success(out: &Output, want: &str) -> Value {
    let v = one_document(out);
    assert_eq!(v["source"], "aws");
    let err = stderr(out);
    assert_eq!(err.lines().count(), 1, "one warning line: {err}");
    assert!(
        err.contains("WARN") && err.contains(want),
        "warning about {want:?}: {err}"
    );
    v
}

#[test]
fn a_cache_directory_that_is_a_regular_file_is_bypassed() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    fs::create_dir_all(sb.cache_root().parent().unwrap()).unwrap();
    fs::write(sb.cache_root(), "not a directory\n").unwrap();
    for _ in 0..2 {
        warned_success(&sb.run(C1), "continuing without the cache");
    }
    assert_eq!(s.request_count(), 2, "nothing could be cached");
    assert_eq!(
        fs::read_to_string(sb.cache_root()).unwrap(),
        "not a directory\n"
    );
    // The same with the entry directory as the file.
    let sb = Sandbox::new(&s);
    create_private_dir(&sb.cache_root());
    fs::write(sb.entry_dir(), "").unwrap();
    warned_success(&sb.run(C1), "continuing without the cache");
}

#[test]
fn an_entry_directory_that_is_a_symlink_is_refused() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let elsewhere = sb.home().join("elsewhere");
    create_private_dir(&elsewhere);
    create_private_dir(&sb.cache_root());
    std::os::unix::fs::symlink(&elsewhere, sb.entry_dir()).unwrap();
    warned_success(&sb.run(C1), "symbolic link");
    warned_success(&sb.run(C1), "symbolic link");
    assert_eq!(
        fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "nothing written through the link"
    );
    // A dangling link too.
    fs::remove_file(sb.entry_dir()).unwrap();
    std::os::unix::fs::symlink(sb.home().join("nowhere"), sb.entry_dir()).unwrap();
    let out = sb.run(C1);
    let v = one_document(&out);
    assert_eq!(v["source"], "aws");
    assert!(stderr(&out).contains("WARN"), "{}", stderr(&out));
    assert!(
        !sb.home().join("nowhere").exists(),
        "the link was not followed to create a directory"
    );
}

/// Replaces c1's entry (or lock) file by something odd; every run must still print a token
/// within its time limit.
fn odd_file(name: &str, lock: bool, make: impl Fn(&Path, &Path, &[u8])) {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let good = c1_token(&sb);
    let entry = sb.entries()[0].clone();
    let original = fs::read(&entry).unwrap();
    let path = if lock {
        entry.with_extension("lock")
    } else {
        entry.clone()
    };
    fs::remove_file(&path).unwrap();
    if lock {
        // Make the next run a miss, so that it needs the lock.
        fs::remove_file(&entry).unwrap();
    }
    make(&path, sb.home(), &original);
    let mut first = None;
    for round in 0..2 {
        let (out, took) = timed(&sb, &["--cluster-id", "c1", "--timeout", "5"]);
        let v = one_document(&out);
        assert!(took < Duration::from_secs(7), "{name}: no hang: {took:?}");
        assert_ne!(v["token"], good.as_str(), "{name}");
        assert_ne!(v["token"], "PLANTED-TOKEN", "{name}");
        if round == 0 {
            assert_eq!(v["source"], "aws", "{name}: an odd file is a miss");
            first = Some(v["token"].clone());
        } else if v["source"] == "cache" {
            // The first run replaced the odd entry with a real one.
            assert!(!lock, "{name}: nothing can be cached without a usable lock");
            assert_eq!(Some(&v["token"]), first.as_ref(), "{name}");
        }
    }
}

#[test]
fn odd_entry_and_lock_files_are_misses_without_hanging() {
    let mkfifo = |p: &Path| {
        let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    };
    // An entry linked to a valid entry elsewhere: the link is not followed, so a planted
    // token cannot be served.
    odd_file("symlink to a planted entry", false, |p, home, original| {
        let planted = home.join("planted.json");
        let text = String::from_utf8(original.to_vec()).unwrap();
        let token = serde_json::from_str::<Value>(&text).unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        fs::write(&planted, text.replace(&token, "PLANTED-TOKEN")).unwrap();
        set_mode(&planted, 0o600);
        std::os::unix::fs::symlink(&planted, p).unwrap();
    });
    odd_file("symlink to /dev/zero", false, |p, _, _| {
        std::os::unix::fs::symlink("/dev/zero", p).unwrap()
    });
    odd_file("symlink to /dev/urandom", false, |p, _, _| {
        std::os::unix::fs::symlink("/dev/urandom", p).unwrap()
    });
    odd_file("fifo entry", false, |p, _, _| mkfifo(p));
    odd_file("fifo lock", true, |p, _, _| mkfifo(p));
    odd_file("symlinked lock", true, |p, home, _| {
        let target = home.join("lock-target");
        fs::write(&target, "").unwrap();
        std::os::unix::fs::symlink(&target, p).unwrap();
    });
    odd_file("directory entry", false, |p, _, _| {
        fs::create_dir(p).unwrap()
    });
    odd_file("directory lock", true, |p, _, _| fs::create_dir(p).unwrap());
}

#[test]
fn no_space_left_still_prints_the_token_with_a_warning() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    // The first runs meet a full, empty cache root; the last one a full entry directory.
    let script = r#"
        mount -t tmpfs -o size=64k,mode=0700 tmpfs "$CACHE"
        head -c 1048576 /dev/zero >"$CACHE/fill" 2>/dev/null || true
        for f in json env jdbc; do
            rc=0; "$BIN" --cluster-id c1 --format $f >"$OUT/$f.out" 2>"$OUT/$f.err" || rc=$?
            echo $rc >"$OUT/$f.rc"
        done
        rc=0; "$BIN" cache list --json >"$OUT/list.out" 2>"$OUT/list.err" || rc=$?
        echo $rc >"$OUT/list.rc"
        ls -A "$CACHE" "$CACHE/v1" >"$OUT/ls" 2>&1 || true
    "#;
    let Some(out) = in_mount_namespace(&sb, script) else {
        return;
    };
    let read = |n: &str| fs::read_to_string(out.join(n)).unwrap();
    let tokens: Vec<String> = issued_tokens(&s);
    assert_eq!(tokens.len(), 3, "nothing could be cached: three fetches");
    for (i, f) in ["json", "env", "jdbc"].into_iter().enumerate() {
        assert_eq!(
            read(&format!("{f}.rc")).trim(),
            "0",
            "{f}: {}",
            read(&format!("{f}.err"))
        );
        let printed = read(&format!("{f}.out"));
        assert!(
            printed.contains(&tokens[i]),
            "{f}: token printed: {printed}"
        );
        let err = read(&format!("{f}.err"));
        assert_eq!(err.lines().count(), 1, "{f}: one warning: {err}");
        assert!(
            err.contains("WARN") && err.contains("No space left on device"),
            "{f}: {err}"
        );
        assert_no_secrets(&err, Some(&tokens[i]));
    }
    exactly_one_document(read("json.out").as_bytes()).unwrap();
    assert_eq!(
        read("list.rc").trim(),
        "0",
        "cache list on a full disk: {}",
        read("list.err")
    );
    assert!(
        !read("ls").contains(".tmp."),
        "no temporary file left: {}",
        read("ls")
    );
}

// ---------------------------------------------------------------------------------------------
// Bad arguments
// ---------------------------------------------------------------------------------------------

/// Each option that takes a value, with the arguments around it: (before, after).
fn value_slots() -> Vec<(Vec<&'static str>, Vec<&'static str>)> {
    vec![
        (vec!["--cluster-id"], vec![]),
        (vec!["--workgroup"], vec![]),
        (vec!["--host"], vec![]),
        (vec!["--cluster-id", "c1", "--region"], vec![]),
        (vec!["--cluster-id", "c1", "--profile"], vec![]),
        (vec!["--cluster-id", "c1", "--endpoint-url"], vec![]),
        (vec!["--cluster-id", "c1", "--format"], vec![]),
        (vec!["--cluster-id", "c1", "--timeout"], vec![]),
        (vec!["--cluster-id", "c1", "--min-validity"], vec![]),
        (vec!["doctor", "--cluster-id"], vec![]),
        (vec!["exec", "--cluster-id"], vec!["--", "true"]),
        (vec![], vec![]),
    ]
}

fn slot_args(before: &[&str], value: &OsStr, after: &[&str]) -> Vec<OsString> {
    before
        .iter()
        .map(OsString::from)
        .chain([value.to_owned()])
        .chain(after.iter().map(OsString::from))
        .collect()
}

/// A usage failure: exit 2, stdout empty, exactly one stderr line, no panic.
fn usage_problem(out: &Output) -> Option<String> {
    let err = String::from_utf8_lossy(&out.stderr);
    if out.status.code() != Some(2) {
        return Some(format!("exit {:?} (stderr {err:?})", out.status.code()));
    }
    if !out.stdout.is_empty() {
        return Some("stdout not empty".into());
    }
    if err.contains("panicked") {
        return Some(format!("panic: {err}"));
    }
    if err.lines().count() != 1 || !err.ends_with('\n') {
        return Some(format!("not exactly one stderr line: {err:?}"));
    }
    None
}

#[test]
fn non_utf8_values_are_usage_errors() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let value = OsStr::from_bytes(b"c\xff\xfe1");
    let mut slots = value_slots();
    slots.push((vec!["cache", "clear", "--target"], vec![]));
    slots.push((vec!["cache", "list", "--json", "--bogus"], vec![]));
    let mut problems = Vec::new();
    for (before, after) in slots {
        let args = slot_args(&before, value, &after);
        let out = run_os(&sb, &args);
        if let Some(p) = usage_problem(&out) {
            problems.push(format!("{before:?} <non-UTF-8> {after:?}: {p}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(s.request_count(), 0);
    // A non-UTF-8 cache directory is a valid path, not an error.
    let dir = sb.home().join(OsStr::from_bytes(b"cache-\xff"));
    let out = sb
        .cmd()
        .args(["--cluster-id", "c1", "--cache-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    one_document(&out);
    assert!(dir.join("v1").is_dir());
}

/// Values that break a rule of each option, ~100 KB long.
fn long_value(before: &[&str]) -> String {
    let body = "a".repeat(100 * 1024);
    match before.last().copied() {
        Some("--profile") => format!("{body}]"),
        Some("--endpoint-url") => format!("x{body}"),
        Some("--timeout" | "--min-validity") => "9".repeat(100 * 1024),
        _ => body,
    }
}

#[test]
fn very_long_values_are_truncated_in_the_message() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let mut problems = Vec::new();
    for (before, after) in value_slots() {
        let value = long_value(&before);
        let out = run_os(&sb, &slot_args(&before, OsStr::new(&value), &after));
        if let Some(p) = usage_problem(&out) {
            problems.push(format!("{before:?} <100 KB>: {}", &p[..p.len().min(300)]));
            continue;
        }
        let len = out.stderr.len();
        if len > 1000 {
            problems.push(format!(
                "{before:?} <100 KB>: the message is {len} bytes, the value was not truncated: {}...",
                String::from_utf8_lossy(&out.stderr[..200])
            ));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    assert_eq!(s.request_count(), 0);
}

/// Control characters and the escapes a line could show for each.
const CONTROLS: &[(&str, &[&str])] = &[
    (
        "\u{1b}[31m",
        &[
            "\\u{1b}", "\\x1b", "\\x1B", "\\e", "\\033", "^[", "\\u001b", "\\u001B",
        ],
    ),
    (
        "\u{1b}]0;pwned\u{7}",
        &[
            "\\u{1b}", "\\x1b", "\\x1B", "\\e", "\\033", "^[", "\\u001b", "\\u001B",
        ],
    ),
    ("\r", &["\\r", "\\u{d}", "\\x0d", "\\x0D", "^M"]),
    ("\n", &["\\n", "\\u{a}", "\\x0a", "\\x0A"]),
    ("\u{7}", &["\\u{7}", "\\a", "\\x07", "^G"]),
    ("\u{8}", &["\\u{8}", "\\b", "\\x08", "^H"]),
    (
        "\u{9b}2J",
        &["\\u{9b}", "\\x9b", "\\x9B", "\\u009b", "\\u009B"],
    ),
];

/// Whether `text` holds a control character other than its final newline.
fn raw_control(text: &str) -> Option<char> {
    text.strip_suffix('\n')
        .unwrap_or(text)
        .chars()
        .find(|c| c.is_control())
}

#[test]
fn control_characters_in_values_are_escaped_in_the_error_line() {
    let s = StandIn::start();
    let sb = Sandbox::new(&s);
    let mut problems = Vec::new();
    for (before, after) in value_slots() {
        for (ctl, escapes) in CONTROLS {
            let value = match before.last().copied() {
                Some("--endpoint-url") => format!("x{ctl}y"),
                Some("--timeout" | "--min-validity") => format!("1{ctl}"),
                _ => format!("c{ctl}x"),
            };
            let out = run_os(&sb, &slot_args(&before, OsStr::new(&value), &after));
            let what = format!("{before:?} {value:?}");
            if let Some(p) = usage_problem(&out) {
                problems.push(format!("{what}: {p}"));
                continue;
            }
            let err = String::from_utf8_lossy(&out.stderr);
            if out.stderr.contains(&0x1b) {
                problems.push(format!("{what}: raw ESC on stderr: {err:?}"));
            } else if let Some(c) = raw_control(&err) {
                problems.push(format!(
                    "{what}: raw control character {c:?} on stderr: {err:?}"
                ));
            } else if !escapes.iter().any(|e| err.contains(e)) {
                problems.push(format!(
                    "{what}: the control character is dropped, not escaped: {err:?}"
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert_eq!(s.request_count(), 0);
}

// ---------------------------------------------------------------------------------------------
// Tokens built to break out of the output formats
// ---------------------------------------------------------------------------------------------

/// Tokens the service could (in theory) return that try to add a property, an ODBC attribute
/// or a shell command. Only NUL, CR and LF are refused by the product; these all pass.
const HOSTILE: &[&str] = &[
    "abc;Driver={/tmp/evil.so};PWD=x",
    "x}};UID=root;{y",
    "={};=",
    "}",
    "{",
    ";plugin_name=Evil;",
    "a=b\u{b}plugin_name=evil\u{c}token_type=X",
    "#comment\u{85}plugin_name=evil\u{2028}x\u{2029}y",
    "\\u000Aplugin_name=evil",
    " lead and trail ",
    "$(touch MARKER_1)`touch MARKER_2`",
    "';touch MARKER_3;'",
    "\"; touch MARKER_4; \"",
    "a'b\\'c$(touch MARKER_5)\\",
    "${IFS}$(touch${IFS}MARKER_6)|touch MARKER_7&",
    "\t!x:y=z\\u0041",
];

/// Each hostile token with the service(s) to get it from: Redshift's XML cannot carry the
/// C0 control characters other than tab (XML 1.0 forbids them), Serverless' JSON carries all.
fn hostile_cases() -> Vec<(&'static str, &'static [&'static str])> {
    let mut v = Vec::new();
    for &t in HOSTILE {
        v.push((t, WG));
        if !t.chars().any(|c| c < ' ' && c != '\t') {
            v.push((t, C1));
        }
    }
    v
}

#[test]
fn hostile_tokens_stay_inside_odbc_and_env_and_token_formats() {
    let mut problems = Vec::new();
    for (token, service) in hostile_cases() {
        let (_s, sb) = fixed(token);
        let run = |format: &str| {
            let mut args = service.to_vec();
            args.extend(["--format", format, "--no-cache"]);
            sb.run(&args)
        };
        let work = sb.home().join("work");
        fs::create_dir_all(&work).unwrap();
        // odbc: exactly three attributes, the token intact.
        let out = run("odbc");
        assert_success(&out);
        let text = stdout(&out);
        let want = vec![
            ("plugin_name".to_owned(), "IdpTokenAuthPlugin".to_owned()),
            ("token".to_owned(), token.to_owned()),
            ("token_type".to_owned(), "SUBJECT_TOKEN".to_owned()),
        ];
        let parsed = text
            .strip_suffix('\n')
            .ok_or_else(|| "no final newline".to_owned())
            .and_then(parse_odbc);
        match parsed {
            Ok(got) if got == want => {}
            Ok(got) => problems.push(format!("odbc {token:?} {service:?}: read back as {got:?}")),
            Err(e) => problems.push(format!("odbc {token:?} {service:?}: {e}: {text:?}")),
        }
        if text.matches('\n').count() != 1 {
            problems.push(format!(
                "odbc {token:?} {service:?}: more than one line: {text:?}"
            ));
        }
        // env: a real shell runs it; nothing but the exports happens.
        let out = run("env");
        assert_success(&out);
        let script = format!("{}\nprintf '%s' \"$REDSHIFT_IDC_TOKEN\"", stdout(&out));
        let sh = StdCommand::new("sh")
            .arg("-c")
            .arg(&script)
            .current_dir(&work)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .output()
            .unwrap();
        if String::from_utf8_lossy(&sh.stdout) != token || !sh.status.success() {
            problems.push(format!(
                "env {token:?} {service:?}: the shell read back {:?} ({:?}, {})",
                String::from_utf8_lossy(&sh.stdout),
                sh.status,
                String::from_utf8_lossy(&sh.stderr)
            ));
        }
        let made: Vec<_> = fs::read_dir(&work)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        if !made.is_empty() {
            problems.push(format!(
                "env {token:?} {service:?}: the shell ran an injected command: {made:?}"
            ));
        }
        // token: the bytes and a newline.
        let out = run("token");
        if stdout(&out) != format!("{token}\n") {
            problems.push(format!(
                "token {token:?} {service:?}: printed {:?}",
                stdout(&out)
            ));
        }
        // python and json: JSON strings.
        let out = run("python");
        let v = one_document(&out);
        if v["token"] != token || v.as_object().unwrap().len() != 3 {
            problems.push(format!("python {token:?} {service:?}: {v}"));
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn hostile_tokens_stay_inside_jdbc_properties() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let cases = hostile_cases();
    for (i, (token, service)) in cases.iter().enumerate() {
        let (_s, sb) = fixed(token);
        let mut args = service.to_vec();
        args.extend(["--format", "jdbc", "--no-cache"]);
        let out = sb.run(&args);
        assert_success(&out);
        assert_eq!(
            stdout(&out).lines().count(),
            3,
            "{token:?}: three lines: {}",
            stdout(&out)
        );
        let f = dir.path().join(format!("{i}.properties"));
        fs::write(&f, &out.stdout).unwrap();
        files.push(f);
    }
    // java.util.Properties.load is what the JDBC driver's configuration path uses. Each file
    // is reported as: number of keys, plugin_name, token_type, hex of the token's UTF-8.
    let src = dir.path().join("Read.java");
    fs::write(
        &src,
        r#"import java.io.*; import java.util.*; import java.nio.charset.StandardCharsets;
public class Read { public static void main(String[] a) throws Exception {
  for (String f : a) {
    Properties p = new Properties(); try (InputStream in = new FileInputStream(f)) { p.load(in); }
    StringBuilder hex = new StringBuilder();
    for (byte b : p.getProperty("token", "").getBytes(StandardCharsets.UTF_8)) hex.append(String.format("%02x", b));
    System.out.println(p.size() + " " + p.getProperty("plugin_name") + " " + p.getProperty("token_type") + " " + hex);
  }
}}"#,
    )
    .unwrap();
    let java = StdCommand::new("java").arg(&src).args(&files).output();
    let java = match java {
        Ok(j) => j,
        Err(e) => {
            skipped(format!("java not available ({e}): the jdbc read-back"));
            return;
        }
    };
    assert!(
        java.status.success(),
        "{}",
        String::from_utf8_lossy(&java.stderr)
    );
    let text = String::from_utf8(java.stdout).unwrap();
    let mut problems = Vec::new();
    for (line, (token, service)) in text.lines().zip(&cases) {
        let hex: String = token.bytes().map(|b| format!("{b:02x}")).collect();
        let want = format!("3 com.amazon.redshift.plugin.IdpTokenAuthPlugin SUBJECT_TOKEN {hex}");
        if line != want {
            problems.push(format!("{token:?} {service:?}: java read {line:?}"));
        }
    }
    assert_eq!(text.lines().count(), cases.len());
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn tokens_with_nul_cr_or_lf_are_unusable_replies() {
    let mut problems = Vec::new();
    for token in ["a\0b", "ab\r", "a\nplugin_name=evil", "\r\n", "x\r\ny"] {
        for args in [C1, WG] {
            let (_s, sb) = fixed(token);
            let out = sb.run(args);
            let err = stderr(&out);
            // In XML, NUL is not even a legal character: then the reply fails to parse.
            let ok = out.status.code() == Some(5)
                && out.stdout.is_empty()
                && err.lines().count() == 1
                && (args == C1 || err.contains("unusable reply"));
            if !ok {
                problems.push(format!(
                    "{token:?} {args:?}: exit {:?}, stdout {:?}, stderr {err:?}",
                    out.status.code(),
                    stdout(&out)
                ));
            }
            if args == WG && !err.contains("NUL or line-break") {
                problems.push(format!(
                    "{token:?} {args:?}: the reason is not named: {err:?}"
                ));
            }
            if !sb.entries().is_empty() {
                problems.push(format!("{token:?} {args:?}: cached"));
            }
        }
    }
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}
