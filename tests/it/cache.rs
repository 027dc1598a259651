//! The on-disk cache, end to end: real processes, real files, the local AWS stand-in.
//!
//! Every test counts the stand-in's requests, so "served from the cache" and "fetched" are
//! checked from outside the binary as well as through its `source` field and `-v` log.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::aws_standin::Recorded;
use crate::common::*;

/// The token and source of a `json` document.
fn token(v: &Value) -> String {
    v["token"].as_str().expect("token is a string").to_owned()
}

fn source(v: &Value) -> &str {
    v["source"].as_str().expect("source is a string")
}

/// Runs, requires success, and returns the JSON document and stderr.
fn run_json(sb: &Sandbox, args: &[&str]) -> (Value, String) {
    let out = sb.run(args);
    assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    (v, stderr(&out))
}

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    with(C1, extra)
}

/// The integer value of `name=` in a log text (the first occurrence).
fn log_field(log: &str, name: &str) -> Option<u64> {
    let pat = format!("{name}=");
    let at = log.find(&pat)? + pat.len();
    log[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// The only entry file in the sandbox.
fn only_entry(sb: &Sandbox) -> PathBuf {
    let e = sb.entries();
    assert_eq!(e.len(), 1, "exactly one entry expected, got {e:?}");
    e.into_iter().next().unwrap()
}

/// Names of the files in the entry directory that are neither entries nor locks.
fn stray_files(sb: &Sandbox) -> Vec<String> {
    let Ok(rd) = fs::read_dir(sb.entry_dir()) else {
        return Vec::new();
    };
    rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
            // The prune stamp is the one file that is neither an entry nor a lock.
            !(n.strip_suffix(".json").is_some_and(hex)
                || n.strip_suffix(".lock").is_some_and(hex)
                || n == "prune.stamp")
        })
        .collect()
}

/// Parses an entry file; panics unless it is a current-schema entry.
fn read_entry(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap();
    let v: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "entry {} is not JSON ({e}): {:?}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        )
    });
    assert_eq!(v["schema"], 1, "{v}");
    v
}

// ---------------------------------------------------------------------------------------------
// Hits and misses
// ---------------------------------------------------------------------------------------------

#[test]
fn second_call_is_a_hit_with_its_remaining_life_logged() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);

    let (first, err1) = run_json(&sb, &args(&["-v"]));
    assert_eq!(source(&first), "aws");
    assert!(err1.contains("cache miss: no entry"), "{err1}");
    assert!(err1.contains("cached the token"), "{err1}");
    assert_eq!(standin.request_count(), 1);

    let (second, err2) = run_json(&sb, &args(&["-v"]));
    assert_eq!(source(&second), "cache");
    assert_eq!(token(&second), token(&first));
    assert_eq!(second["expiration"], first["expiration"]);
    assert_eq!(second["token_type"], "SUBJECT_TOKEN");
    assert_eq!(second["targets"], serde_json::json!(["c1"]));
    assert_eq!(standin.request_count(), 1, "the hit made no request");
    assert_eq!(
        standin.requests()[0].token.as_deref(),
        Some(token(&first).as_str())
    );

    assert!(err2.contains("cache hit"), "{err2}");
    let remaining = log_field(&err2, "remaining_s").expect("remaining_s in the hit line");
    assert!(
        (880..=900).contains(&remaining),
        "remaining {remaining}: {err2}"
    );
    let expires_in = second["expires_in_seconds"].as_u64().unwrap();
    assert!((880..=900).contains(&expires_in), "{second}");
    for text in [&err1, &err2] {
        assert_no_secrets(text, Some(&token(&first)));
    }
    // Without -v a hit is silent.
    let out = sb.run(C1);
    assert_success(&out);
    assert_eq!(stderr(&out), "");
    assert_eq!(standin.request_count(), 1);
}

#[test]
fn min_validity_longer_than_the_remaining_life_is_a_miss() {
    let standin = StandIn::start_with(Config {
        ttl: Duration::from_secs(200),
        ..Default::default()
    });
    let sb = Sandbox::new(&standin);
    let (a, _) = run_json(&sb, C1);
    let (b, err) = run_json(&sb, &args(&["-v"]));
    assert_eq!(source(&b), "aws");
    assert_ne!(token(&a), token(&b));
    assert_eq!(standin.request_count(), 2);
    assert!(
        err.contains("cache miss: the cached token expires too soon"),
        "{err}"
    );
    assert_eq!(log_field(&err, "min_validity_s"), Some(300), "{err}");
    let remaining = log_field(&err, "remaining_s").unwrap();
    assert!((180..=200).contains(&remaining), "{err}");

    // The newer token replaced the entry; a smaller --min-validity accepts it.
    let (c, _) = run_json(&sb, &args(&["--min-validity", "150"]));
    assert_eq!(source(&c), "cache");
    assert_eq!(token(&c), token(&b));
    assert_eq!(standin.request_count(), 2);
    let (d, _) = run_json(&sb, &args(&["--min-validity", "250"]));
    assert_eq!(source(&d), "aws");
    assert_eq!(standin.request_count(), 3);
}

#[test]
fn no_cache_neither_reads_nor_writes() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    let (a, _) = run_json(&sb, &args(&["--no-cache"]));
    let (b, _) = run_json(&sb, &args(&["--no-cache"]));
    assert_eq!((source(&a), source(&b)), ("aws", "aws"));
    assert_ne!(token(&a), token(&b));
    assert_eq!(standin.request_count(), 2);
    assert!(
        !sb.cache_root().exists(),
        "--no-cache must not even create the cache directory"
    );

    // With an entry present, --no-cache still fetches and leaves the entry alone.
    let (c, _) = run_json(&sb, C1);
    let entry = only_entry(&sb);
    let before = fs::read(&entry).unwrap();
    let (d, _) = run_json(&sb, &args(&["--no-cache"]));
    assert_eq!(source(&d), "aws");
    assert_eq!(standin.request_count(), 4);
    assert_eq!(
        fs::read(&entry).unwrap(),
        before,
        "--no-cache rewrote the entry"
    );
    let (e, _) = run_json(&sb, C1);
    assert_eq!((source(&e), token(&e)), ("cache", token(&c)));
}

#[test]
fn force_refresh_fetches_and_the_next_call_serves_the_new_token() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    let (a, _) = run_json(&sb, C1);
    let (b, _) = run_json(&sb, &args(&["--force-refresh"]));
    assert_eq!(source(&b), "aws");
    assert_ne!(token(&a), token(&b));
    assert_eq!(standin.request_count(), 2);
    let (c, _) = run_json(&sb, C1);
    assert_eq!(source(&c), "cache");
    assert_eq!(
        token(&c),
        token(&b),
        "the refreshed token must replace the old one"
    );
    assert_eq!(standin.request_count(), 2);
    assert_eq!(sb.entries().len(), 1);
}

/// Runs `extra` twice in `sb`: the first must be a fetch (request number `n`), the second a hit.
/// Returns the token and the stand-in's record of the fetch.
fn miss_then_hit(standin: &StandIn, sb: &Sandbox, extra: &[&str], n: usize) -> (String, Recorded) {
    let (a, _) = run_json(sb, &args(extra));
    assert_eq!(source(&a), "aws", "{extra:?} should miss");
    assert_eq!(standin.request_count(), n, "{extra:?}");
    let (b, _) = run_json(sb, &args(extra));
    assert_eq!(source(&b), "cache", "{extra:?} repeated should hit");
    assert_eq!(token(&b), token(&a));
    assert_eq!(standin.request_count(), n);
    let rec = standin.requests()[n - 1].clone();
    assert_eq!(rec.token.as_deref(), Some(token(&a).as_str()));
    (token(&a), rec)
}

#[test]
fn another_profile_is_another_entry() {
    let standin = StandIn::start();
    let mut sb = Sandbox::new(&standin);
    sb.write_aws_config(
        "[default]\nregion = us-east-1\n\
         [profile dev]\nregion = us-east-1\n\
         [profile ops]\nregion = us-east-1\n",
    );
    let (base, _) = miss_then_hit(&standin, &sb, &[], 1);
    let (dev, rec) = miss_then_hit(&standin, &sb, &["--profile", "dev"], 2);
    assert_ne!(dev, base);
    assert_eq!(rec.access_key_id.as_deref(), Some(ACCESS_KEY));
    sb.set("AWS_PROFILE", "ops");
    let (ops, _) = miss_then_hit(&standin, &sb, &[], 3);
    assert_ne!(ops, dev);
    sb.unset("AWS_PROFILE");
    // The first entry was not overwritten by the others.
    let (again, _) = run_json(&sb, C1);
    assert_eq!((source(&again), token(&again)), ("cache", base));
    assert_eq!(standin.request_count(), 3);
    assert_eq!(sb.entries().len(), 3);
}

#[test]
fn another_access_key_is_another_entry() {
    let standin = StandIn::start();
    let mut sb = Sandbox::new(&standin);
    let (base, _) = miss_then_hit(&standin, &sb, &[], 1);
    let other = "AKIDSANDBOX1111TEST";
    sb.set("AWS_ACCESS_KEY_ID", other);
    let (tok, rec) = miss_then_hit(&standin, &sb, &[], 2);
    assert_eq!(rec.access_key_id.as_deref(), Some(other));
    assert!(tok.contains(&format!(".{other}.")), "{tok}");
    assert_ne!(tok, base);
    sb.set("AWS_ACCESS_KEY_ID", ACCESS_KEY);
    let (again, _) = run_json(&sb, C1);
    assert_eq!((source(&again), token(&again)), ("cache", base));
    assert_eq!(standin.request_count(), 2);
}

#[test]
fn another_region_is_another_entry() {
    let standin = StandIn::start();
    let mut sb = Sandbox::new(&standin);
    let (_, rec) = miss_then_hit(&standin, &sb, &[], 1);
    assert_eq!(rec.region.as_deref(), Some("us-east-1"));
    let (tok, rec) = miss_then_hit(&standin, &sb, &["--region", "us-west-2"], 2);
    assert_eq!(rec.region.as_deref(), Some("us-west-2"));
    assert!(tok.starts_with("idc.rs.us-west-2."), "{tok}");
    sb.set("AWS_REGION", "eu-west-1");
    let (tok, rec) = miss_then_hit(&standin, &sb, &[], 3);
    assert_eq!(rec.region.as_deref(), Some("eu-west-1"));
    assert!(tok.starts_with("idc.rs.eu-west-1."), "{tok}");
    assert_eq!(sb.entries().len(), 3);
}

// ---------------------------------------------------------------------------------------------
// Concurrency and crashes
// ---------------------------------------------------------------------------------------------

#[test]
fn thirty_two_concurrent_cold_starts_make_one_request() {
    let standin = StandIn::start_with(Config {
        delay: Duration::from_secs(1),
        ..Default::default()
    });
    let sb = Sandbox::new(&standin);
    let outs = run_concurrently(&sb, 32, C1, Duration::from_secs(60));
    let mut tokens = Vec::new();
    let mut sources = Vec::new();
    for out in &outs {
        assert_success(out);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        tokens.push(token(&v));
        sources.push(source(&v).to_owned());
    }
    assert_eq!(standin.request_count(), 1, "exactly one process may fetch");
    let want = standin.requests()[0].token.clone().unwrap();
    assert!(
        tokens.iter().all(|t| *t == want),
        "all print the fetched token: {tokens:?}"
    );
    assert_eq!(
        sources.iter().filter(|s| *s == "aws").count(),
        1,
        "{sources:?}"
    );
    assert_eq!(
        sources.iter().filter(|s| *s == "cache").count(),
        31,
        "{sources:?}"
    );
    assert_eq!(sb.entries().len(), 1);
    assert_eq!(stray_files(&sb), Vec::<String>::new());
}

#[test]
fn a_lock_holder_killed_mid_fetch_does_not_block_the_next_run() {
    let standin = StandIn::start();
    standin.push(Reply::Delay(
        Duration::from_secs(10),
        Box::new(Reply::Token),
    ));
    let sb = Sandbox::new(&standin);
    let mut victim = sb.spawn(C1);
    // The request arrives only while the victim holds the key's lock (it fetches under it).
    assert!(
        saw_requests(&standin, 1, Duration::from_secs(10)),
        "the first process never reached the stand-in"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        victim.try_wait().unwrap().is_none(),
        "the victim should still be waiting"
    );
    victim.kill().unwrap(); // SIGKILL
    let status = victim.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert!(sb.entries().is_empty(), "the killed process wrote nothing");

    let started = Instant::now();
    let out = sb.run(&args(&["--timeout", "20"]));
    let took = started.elapsed();
    assert_success(&out);
    assert!(took < Duration::from_secs(5), "the next run took {took:?}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(source(&v), "aws");
    assert_eq!(standin.request_count(), 2);
    assert_eq!(
        standin.requests()[1].token.as_deref(),
        Some(token(&v).as_str())
    );

    // The cache is consistent: one entry holding that token, served by the next call.
    let entry = read_entry(&only_entry(&sb));
    assert_eq!(entry["token"].as_str(), Some(token(&v).as_str()));
    assert_eq!(stray_files(&sb), Vec::<String>::new());
    let (w, _) = run_json(&sb, C1);
    assert_eq!((source(&w), token(&w)), ("cache", token(&v)));
    assert_eq!(standin.request_count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Bad entries
// ---------------------------------------------------------------------------------------------

/// Creates an entry, lets `spoil` damage it, then checks: a miss logged with `reason`, the
/// entry rewritten with the new token, and the next call a hit.
fn bad_entry_is_replaced(reason: &str, spoil: impl FnOnce(&Path)) {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    run_json(&sb, C1);
    let path = only_entry(&sb);
    spoil(&path);

    let (v, err) = run_json(&sb, &args(&["-v"]));
    assert_eq!(source(&v), "aws", "{reason}: {err}");
    assert_eq!(standin.request_count(), 2, "{reason}");
    assert!(
        err.contains("cache miss: unusable entry, it will be replaced"),
        "{reason}: {err}"
    );
    assert!(err.contains(reason), "expected {reason:?} in: {err}");
    assert_no_secrets(&err, Some(&token(&v)));

    let meta = fs::symlink_metadata(&path).unwrap();
    assert!(
        meta.file_type().is_file(),
        "{reason}: the entry is a regular file again"
    );
    assert_eq!(meta.mode() & 0o777, 0o600, "{reason}");
    assert_eq!(
        read_entry(&path)["token"].as_str(),
        Some(token(&v).as_str()),
        "{reason}"
    );
    assert_eq!(stray_files(&sb), Vec::<String>::new());

    let (w, _) = run_json(&sb, C1);
    assert_eq!((source(&w), token(&w)), ("cache", token(&v)), "{reason}");
    assert_eq!(standin.request_count(), 2, "{reason}");
}

/// Rewrites the entry file `p` with its document as `edit` leaves it.
fn edit_entry(p: &Path, edit: impl FnOnce(&mut Value)) {
    let mut v = read_entry(p);
    edit(&mut v);
    fs::write(p, v.to_string()).unwrap();
}

const CORRUPT: &str = "reason=entry is not valid JSON of the expected shape";

#[test]
fn garbage_entry_is_a_miss_and_is_replaced() {
    bad_entry_is_replaced(CORRUPT, |p| {
        fs::write(p, b"\x00\xffnot json at all{{{").unwrap()
    });
}

#[test]
fn truncated_entry_is_a_miss_and_is_replaced() {
    bad_entry_is_replaced(CORRUPT, |p| {
        let good = fs::read(p).unwrap();
        fs::write(p, &good[..good.len() / 2]).unwrap();
    });
}

#[test]
fn empty_entry_is_a_miss_and_is_replaced() {
    bad_entry_is_replaced(CORRUPT, |p| fs::write(p, b"").unwrap());
}

#[test]
fn future_schema_entry_is_a_miss_and_is_replaced() {
    bad_entry_is_replaced("reason=entry has schema 2, expected 1", |p| {
        edit_entry(p, |v| v["schema"] = 2.into())
    });
}

#[test]
fn entry_fetched_in_the_future_is_a_miss_and_is_replaced() {
    bad_entry_is_replaced("reason=entry claims to be fetched in the future", |p| {
        edit_entry(p, |v| {
            v["fetched"] = "2099-01-01T00:00:00Z".into();
            v["expiration"] = "2099-01-01T00:15:00Z".into();
        })
    });
}

#[test]
fn entry_of_another_key_is_a_miss_and_is_replaced() {
    bad_entry_is_replaced("reason=entry belongs to a different key", |p| {
        edit_entry(p, |v| v["targets"] = serde_json::json!(["c2"]))
    });
}

#[test]
fn entry_replaced_by_a_symlink_is_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let decoy = dir.path().join("decoy.json");
    let decoy_bytes = std::cell::RefCell::new(Vec::new());
    bad_entry_is_replaced(
        "reason=entry is not a regular file owned by this user, or too large",
        |p| {
            // Valid content for this very key: only refusing the link makes this a miss.
            fs::rename(p, &decoy).unwrap();
            std::os::unix::fs::symlink(&decoy, p).unwrap();
            *decoy_bytes.borrow_mut() = fs::read(&decoy).unwrap();
        },
    );
    assert_eq!(
        fs::read(&decoy).unwrap(),
        *decoy_bytes.borrow(),
        "the link target was modified"
    );
    assert!(fs::symlink_metadata(&decoy).unwrap().is_file());
}

#[test]
fn entry_replaced_by_a_fifo_is_a_miss_without_hanging() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    run_json(&sb, C1);
    let path = only_entry(&sb);
    fs::remove_file(&path).unwrap();
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo");

    let started = Instant::now();
    let out = wait_until(
        sb.spawn(&args(&["-v"])),
        Instant::now() + Duration::from_secs(10),
        "a run with a FIFO as its entry",
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_success(&out);
    let err = stderr(&out);
    assert!(err.contains("cache miss: unusable entry"), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(source(&v), "aws");
    assert_eq!(standin.request_count(), 2);
    assert!(
        fs::symlink_metadata(&path).unwrap().is_file(),
        "the FIFO was replaced"
    );
    let (w, _) = run_json(&sb, C1);
    assert_eq!((source(&w), token(&w)), ("cache", token(&v)));
}

// ---------------------------------------------------------------------------------------------
// Unsafe cache directories
// ---------------------------------------------------------------------------------------------

/// Two runs against a refused directory: both succeed with a fetched token and a one-line
/// warning naming the directory and `problem`; nothing is cached.
fn refused_dir_runs_uncached(standin: &StandIn, sb: &Sandbox, dir: &Path, problem: &str) {
    for n in 1..=2 {
        let out = sb.run(C1);
        assert_success(&out);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(source(&v), "aws");
        assert_eq!(standin.request_count(), n);
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "one warning line: {err}");
        assert!(err.contains("WARN"), "{err}");
        assert!(
            err.contains(&format!("cache directory {} is {problem}", dir.display())),
            "{err}"
        );
        assert!(err.contains("continuing without the cache"), "{err}");
        assert_no_secrets(&err, Some(&token(&v)));
    }
    assert!(sb.entries().is_empty());
}

#[test]
fn world_writable_cache_root_is_refused() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    fs::create_dir_all(sb.cache_root()).unwrap();
    set_mode(&sb.cache_root(), 0o777);
    refused_dir_runs_uncached(
        &standin,
        &sb,
        &sb.cache_root(),
        "writable by group or others",
    );
    assert!(
        !sb.entry_dir().exists(),
        "nothing was created inside the refused root"
    );
    assert_eq!(
        mode(&sb.cache_root()),
        0o777,
        "the directory's mode is left alone"
    );
}

#[test]
fn group_writable_entry_dir_is_refused() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    fs::create_dir_all(sb.entry_dir()).unwrap();
    set_mode(&sb.cache_root(), 0o700);
    set_mode(&sb.entry_dir(), 0o770);
    refused_dir_runs_uncached(
        &standin,
        &sb,
        &sb.entry_dir(),
        "writable by group or others",
    );
}

#[test]
fn foreign_owned_cache_root_is_refused() {
    if euid() != 0 {
        skipped("foreign_owned_cache_root_is_refused needs root to chown");
        return;
    }
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    create_private_dir(&sb.cache_root());
    std::os::unix::fs::chown(sb.cache_root(), Some(65534), Some(65534)).unwrap();
    refused_dir_runs_uncached(&standin, &sb, &sb.cache_root(), "owned by another user");
    assert!(!sb.entry_dir().exists());
}

#[test]
fn symlinked_cache_root_is_refused() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    let real = sb.home().join("real-cache");
    create_private_dir(&real);
    fs::create_dir_all(sb.cache_root().parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(&real, sb.cache_root()).unwrap();
    refused_dir_runs_uncached(&standin, &sb, &sb.cache_root(), "a symbolic link");
    assert_eq!(
        fs::read_dir(&real).unwrap().count(),
        0,
        "nothing written through the link"
    );
}

// ---------------------------------------------------------------------------------------------
// Read-only and full file systems (a private mount namespace)
// ---------------------------------------------------------------------------------------------

/// Output `name` of a step run inside the namespace: the parsed document and stderr.
fn step(out: &Path, name: &str) -> (Value, String) {
    let stdout = fs::read(out.join(format!("{name}.out"))).unwrap();
    let err = fs::read_to_string(out.join(format!("{name}.err"))).unwrap();
    let v = serde_json::from_slice(&stdout)
        .unwrap_or_else(|e| panic!("step {name}: stdout not JSON ({e}); stderr: {err}"));
    (v, err)
}

#[test]
fn read_only_cache_still_serves_and_fetches_with_a_warning() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    let script = r#"
        mount -t tmpfs -o size=1m,mode=0700 tmpfs "$CACHE"
        "$BIN" --cluster-id c1 >"$OUT/fill.out" 2>"$OUT/fill.err"
        mount -o remount,ro "$CACHE"
        "$BIN" --cluster-id c1 >"$OUT/hit.out" 2>"$OUT/hit.err"
        "$BIN" --cluster-id c1 --force-refresh >"$OUT/refresh.out" 2>"$OUT/refresh.err"
        "$BIN" --cluster-id c2 >"$OUT/new.out" 2>"$OUT/new.err"
        mkdir "$OUT/empty"
        mount -t tmpfs -o ro,size=1m,mode=0700 tmpfs "$OUT/empty"
        "$BIN" --cluster-id c3 --cache-dir "$OUT/empty" >"$OUT/empty.out" 2>"$OUT/empty.err"
    "#;
    let Some(out) = in_mount_namespace(&sb, script) else {
        return;
    };
    assert_eq!(
        standin.request_count(),
        4,
        "fill, refresh, c2 and c3 fetch; the hit does not"
    );

    let (fill, err) = step(&out, "fill");
    assert_eq!((source(&fill), err.as_str()), ("aws", ""));
    let (hit, err) = step(&out, "hit");
    assert_eq!(
        (source(&hit), token(&hit), err.as_str()),
        ("cache", token(&fill), "")
    );

    for (name, want) in [
        (
            "refresh",
            "cannot lock the cache; fetching without the cache",
        ),
        ("new", "cannot lock the cache; fetching without the cache"),
        ("empty", "cannot be created"),
    ] {
        let (v, err) = step(&out, name);
        assert_eq!(source(&v), "aws", "{name}");
        assert_ne!(token(&v), token(&fill), "{name}");
        assert_eq!(err.lines().count(), 1, "{name}: one warning line: {err}");
        assert!(err.contains("WARN") && err.contains(want), "{name}: {err}");
        assert!(err.contains("Read-only file system"), "{name}: {err}");
        assert_no_secrets(&err, Some(&token(&v)));
    }
    // The namespace (and its tmpfs) is gone; the real directory below it was never written.
    assert_eq!(fs::read_dir(sb.cache_root()).unwrap().count(), 0);
}

#[test]
fn full_disk_fetches_with_a_warning_and_leaves_no_temporary_file() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    let script = r#"
        mount -t tmpfs -o size=16k,mode=0700 tmpfs "$CACHE"
        mkdir -m 0700 "$CACHE/v1"
        head -c 1048576 /dev/zero >"$CACHE/filler" 2>/dev/null || true
        "$BIN" --cluster-id c1 >"$OUT/a.out" 2>"$OUT/a.err"
        "$BIN" --cluster-id c1 >"$OUT/b.out" 2>"$OUT/b.err"
        ls -A "$CACHE/v1" >"$OUT/ls"
        stat -c %s "$CACHE/filler" >"$OUT/filler-size"
    "#;
    let Some(out) = in_mount_namespace(&sb, script) else {
        return;
    };
    let filler: u64 = fs::read_to_string(out.join("filler-size"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        filler > 0 && filler < 1048576,
        "the filler should have hit ENOSPC, size {filler}"
    );
    assert_eq!(
        standin.request_count(),
        2,
        "nothing could be cached, so both runs fetch"
    );
    let mut tokens = Vec::new();
    for name in ["a", "b"] {
        let (v, err) = step(&out, name);
        assert_eq!(source(&v), "aws", "{name}");
        assert_eq!(err.lines().count(), 1, "{name}: one warning line: {err}");
        assert!(err.contains("WARN"), "{name}: {err}");
        assert!(
            err.contains("could not write the cache; the token was not cached"),
            "{name}: {err}"
        );
        assert!(err.contains("No space left on device"), "{name}: {err}");
        assert_no_secrets(&err, Some(&token(&v)));
        tokens.push(token(&v));
    }
    assert_ne!(tokens[0], tokens[1]);
    let listing = fs::read_to_string(out.join("ls")).unwrap();
    let names: Vec<&str> = listing.lines().filter(|n| *n != "prune.stamp").collect();
    assert_eq!(
        names.len(),
        1,
        "only the lock file (and the prune stamp), no entry and no temporary file: {names:?}"
    );
    assert!(
        names[0].ends_with(".lock") && names[0].len() == 37,
        "{names:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Permissions
// ---------------------------------------------------------------------------------------------

#[test]
fn everything_created_is_private_even_with_a_permissive_umask() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    for target in ["c1", "c2"] {
        let out = sb
            .command("sh")
            .args([
                "-c",
                "umask 000 && exec \"$0\" \"$@\"",
                BIN,
                "--cluster-id",
                target,
            ])
            .output()
            .unwrap();
        assert_success(&out);
    }
    // The force-refresh path rewrites an existing entry.
    let out = sb
        .command("sh")
        .args([
            "-c",
            "umask 000 && exec \"$0\" \"$@\"",
            BIN,
            "--cluster-id",
            "c1",
            "--force-refresh",
        ])
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(standin.request_count(), 3);

    assert_eq!(mode(&sb.cache_root()), 0o700, "cache root");
    assert_eq!(mode(&sb.entry_dir()), 0o700, "v1");
    let mut entries = 0;
    let mut locks = 0;
    for item in fs::read_dir(sb.entry_dir()).unwrap() {
        let path = item.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(!name.starts_with(".tmp."), "leftover temporary file {name}");
        let meta = fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "{name} is a regular file");
        assert_eq!(meta.mode() & 0o7777, 0o600, "{name}");
        assert_eq!(meta.uid(), euid(), "{name}");
        match path.extension().and_then(|e| e.to_str()) {
            Some("json") => entries += 1,
            Some("lock") => locks += 1,
            _ if name == "prune.stamp" => {}
            _ => panic!("unexpected file {name}"),
        }
    }
    assert_eq!((entries, locks), (2, 2));
    assert_eq!(
        fs::read_dir(sb.cache_root()).unwrap().count(),
        1,
        "only v1 in the root"
    );
}

// ---------------------------------------------------------------------------------------------
// The cache subcommands
// ---------------------------------------------------------------------------------------------

#[test]
fn cache_path_prints_the_root_and_creates_nothing() {
    let standin = StandIn::start();
    let mut sb = Sandbox::new(&standin);
    let out = sb.run(&["cache", "path"]);
    assert_success(&out);
    assert_eq!(stdout(&out), format!("{}\n", sb.cache_root().display()));
    assert!(!sb.cache_root().exists());

    let custom = sb.home().join("elsewhere");
    let out = sb.run(&["cache", "path", "--cache-dir", custom.to_str().unwrap()]);
    assert_eq!(stdout(&out), format!("{}\n", custom.display()));
    sb.set("REDSHIFT_IDC_TOKEN_CACHE_DIR", custom.to_str().unwrap());
    let out = sb.run(&["cache", "path"]);
    assert_eq!(stdout(&out), format!("{}\n", custom.display()));

    // And a token run then uses that directory.
    run_json(&sb, C1);
    assert_eq!(
        fs::read_dir(custom.join("v1"))
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count(),
        1
    );
    assert!(
        sb.entries().is_empty(),
        "the default directory stays unused"
    );
    assert_eq!(standin.request_count(), 1);
}

/// Three entries: c1 us-east-1 default, c2 us-west-2 default, c1 us-east-1 profile dev.
/// Returns their json documents in that order.
fn three_entries(standin: &StandIn, sb: &Sandbox) -> Vec<Value> {
    sb.write_aws_config("[profile dev]\nregion = us-east-1\n");
    let docs = vec![
        run_json(sb, &["--cluster-id", "c1"]).0,
        run_json(sb, &["--cluster-id", "c2", "--region", "us-west-2"]).0,
        run_json(sb, &["--cluster-id", "c1", "--profile", "dev"]).0,
    ];
    assert_eq!(standin.request_count(), 3);
    assert_eq!(sb.entries().len(), 3);
    docs
}

#[test]
fn cache_list_shows_entries_but_never_tokens() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    let docs = three_entries(&standin, &sb);
    let want = [
        ("c1", "us-east-1", "default"),
        ("c2", "us-west-2", "default"),
        ("c1", "us-east-1", "dev"),
    ];

    let out = sb.run(&["cache", "list"]);
    assert_success(&out);
    let table = stdout(&out);
    for d in &docs {
        assert_no_secrets(&table, Some(&token(d)));
    }
    assert_no_secrets(&stderr(&out), None);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    assert!(
        lines[0].starts_with("SERVICE") && lines[0].contains("REMAINING"),
        "{table}"
    );
    for ((target, region, profile), d) in want.iter().zip(&docs) {
        let exp = d["expiration"].as_str().unwrap();
        let row = lines[1..]
            .iter()
            .find(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.len() == 6 && cols[..5] == ["redshift", target, region, profile, exp]
            })
            .unwrap_or_else(|| panic!("no row for {target} {region} {profile} {exp}:\n{table}"));
        let remaining = row.split_whitespace().last().unwrap();
        assert!(
            remaining.starts_with("14m") || remaining == "15m00s",
            "remaining {remaining:?} in {row:?}"
        );
    }
    assert_eq!(standin.request_count(), 3, "listing makes no request");

    let out = sb.run(&["cache", "list", "--json"]);
    assert_success(&out);
    let text = stdout(&out);
    for d in &docs {
        assert_no_secrets(&text, Some(&token(d)));
    }
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{text}");
    let ids: Vec<String> = sb
        .entries()
        .iter()
        .map(|p| p.file_stem().unwrap().to_str().unwrap().to_owned())
        .collect();
    for ((target, region, profile), d) in want.iter().zip(&docs) {
        let row = rows
            .iter()
            .find(|r| {
                r["targets"] == serde_json::json!([target])
                    && r["region"] == *region
                    && r["profile"] == *profile
            })
            .unwrap_or_else(|| panic!("no row for {target} {region} {profile}: {text}"));
        assert!(row.get("token").is_none(), "{row}");
        assert_eq!(row["service"], "redshift");
        assert_eq!(row["expiration"], d["expiration"]);
        assert_eq!(row["endpoint"], standin.url());
        assert_eq!(row["busy"], false);
        let remaining = row["remaining_seconds"].as_u64().unwrap();
        assert!((880..=900).contains(&remaining), "{row}");
        assert!(
            ids.contains(&row["id"].as_str().unwrap().to_owned()),
            "{row}"
        );
    }

    // An unusable entry is listed as such, by id and reason.
    fs::write(
        sb.entry_dir().join(format!("{}.json", "0".repeat(32))),
        b"{",
    )
    .unwrap();
    let out = sb.run(&["cache", "list", "--json"]);
    assert_success(&out);
    let text = stdout(&out);
    let bad: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r.get("unusable").is_some())
        .collect();
    assert_eq!(bad.len(), 1, "{text}");
    assert_eq!(bad[0]["id"], "0".repeat(32));
    assert_eq!(
        bad[0]["unusable"],
        "entry is not valid JSON of the expected shape"
    );
}

#[test]
fn cache_clear_removes_matching_entries_only() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    three_entries(&standin, &sb);
    let list = |sb: &Sandbox| -> Vec<(String, String, String)> {
        let out = sb.run(&["cache", "list", "--json"]);
        assert_success(&out);
        let mut v: Vec<_> = stdout(&out)
            .lines()
            .map(|l| {
                let r: Value = serde_json::from_str(l).unwrap();
                (
                    r["targets"][0].as_str().unwrap().to_owned(),
                    r["region"].as_str().unwrap().to_owned(),
                    r["profile"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    };
    let triple = |t: &str, r: &str, p: &str| (t.to_owned(), r.to_owned(), p.to_owned());

    let out = sb.run(&["cache", "clear", "--target", "c9"]);
    assert_eq!(stdout(&out), "removed 0 cache entries\n");
    assert_eq!(sb.entries().len(), 3);

    let out = sb.run(&["cache", "clear", "--target", "c1", "--profile", "dev"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "removed 1 cache entry\n");
    assert_eq!(
        list(&sb),
        vec![
            triple("c1", "us-east-1", "default"),
            triple("c2", "us-west-2", "default")
        ]
    );

    let out = sb.run(&["cache", "clear", "--region", "us-west-2"]);
    assert_eq!(stdout(&out), "removed 1 cache entry\n");
    assert_eq!(list(&sb), vec![triple("c1", "us-east-1", "default")]);

    // The survivor is still served.
    let (v, _) = run_json(&sb, C1);
    assert_eq!(source(&v), "cache");
    assert_eq!(standin.request_count(), 3);

    // A bare clear removes everything, unusable entries and temporary leftovers included.
    fs::write(
        sb.entry_dir().join(format!("{}.json", "f".repeat(32))),
        b"junk",
    )
    .unwrap();
    fs::write(sb.entry_dir().join(".tmp.leftover.json"), b"junk").unwrap();
    let out = sb.run(&["cache", "clear"]);
    assert_success(&out);
    assert_eq!(stdout(&out), "removed 2 cache entries\n");
    assert!(sb.entries().is_empty());
    assert_eq!(stray_files(&sb), Vec::<String>::new());
    let (v, _) = run_json(&sb, C1);
    assert_eq!(source(&v), "aws", "cleared means the next call fetches");
    assert_eq!(standin.request_count(), 4);
}

// ---------------------------------------------------------------------------------------------
// Issue 15: session rows of `cache list` are escaped and the columns stay aligned
// ---------------------------------------------------------------------------------------------

#[test]
fn session_rows_are_escaped_and_columns_fit_their_content() {
    use crate::idc_standin::{DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, IdcStandIn};
    let rs = StandIn::start();
    let idc = IdcStandIn::start();
    let mut sb = Sandbox::new(&rs);
    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
    sb.set("AWS_ENDPOINT_URL_STS", &idc.url());
    let profile: String = "redshift-analytics-".repeat(4).chars().take(60).collect();
    std::fs::write(
        sb.home().join("jwt"),
        idc.jwt_for("alice", std::time::Duration::from_secs(600)),
    )
    .unwrap();
    sb.write_aws_config(&format!(
        "[profile {profile}]\nregion = us-east-1\nredshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\nredshift_idc_role_arn = {DEFAULT_ROLE_ARN}\nredshift_idc_jwt_file = ~/jwt\n"
    ));
    sb.json(&["--profile", &profile, "--cluster-id", "c1"]);

    // A session file whose user id would colour the terminal and forge a line of its own.
    let evil = "alice\x1b[31m\nsign-in              user mallory";
    let mut sessions = Vec::new();
    for dir in std::fs::read_dir(sb.cache_root()).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let Ok(mut v) = serde_json::from_str::<serde_json::Value>(&text) else {
                continue;
            };
            if v["kind"] == "session" {
                v["user"] = evil.into();
                std::fs::write(&f, v.to_string()).unwrap();
                sessions.push(f);
            }
        }
    }
    assert_eq!(sessions.len(), 1, "one session file");

    let out = sb.run(&["cache", "list"]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(
        !text.contains('\x1b'),
        "a raw escape on the terminal: {text:?}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "header, the token, the session: {text}");
    let session = lines[2];
    assert!(session.starts_with("sign-in"), "{text}");
    assert!(
        session.contains(r"alice\u{1b}[31m\nsign-in"),
        "the user id escaped: {session}"
    );
    // Every column starts where its header does, whatever the content's length.
    let header = lines[0];
    for name in ["TARGETS", "REGION", "PROFILE", "EXPIRES", "REMAINING"] {
        let at = header.find(name).unwrap();
        for row in &lines[1..] {
            assert!(
                at == 0 || row.as_bytes()[at - 1] == b' ' && row.as_bytes()[at] != b' ',
                "column {name} at {at} in {row:?}\n{text}"
            );
        }
    }
    for row in &lines[1..] {
        assert!(row.contains(&profile), "the whole profile name: {row}");
        let expires = header.find("EXPIRES").unwrap();
        assert!(
            row[expires..].starts_with("20") && row.as_bytes()[expires + 4] == b'-',
            "the expiry under EXPIRES: {row}\n{text}"
        );
    }

    // The JSON form is unchanged: the values as stored, escaped by JSON itself.
    let out = sb.run(&["cache", "list", "--json"]);
    assert_success(&out);
    let rows: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let s = rows.iter().find(|r| r["kind"] == "session").unwrap();
    assert_eq!(
        (s["user"].as_str(), s["profile"].as_str()),
        (Some(evil), Some(profile.as_str()))
    );
    let t = rows.iter().find(|r| r["kind"] != "session").unwrap();
    assert_eq!(t["profile"], profile.as_str());
}
