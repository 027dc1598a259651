//! The torture loop: many invocations of the real binary over a small set of keys, from
//! several threads at once, while a stand-in with a short token lifetime answers after random
//! delays, random invocations are SIGKILLed mid-flight, and a saboteur truncates, overwrites,
//! deletes and swaps cache files. Every invocation that completes must have printed exactly
//! one JSON document with a live token issued for exactly its own key; killed invocations are
//! not checked; any other outcome is a failure.
//!
//! Knobs (environment): `TORTURE_ITERATIONS` (default 300, about 10-40 s under `cargo test`),
//! `TORTURE_WORKERS` (default 4), `TORTURE_SEED` (to replay a run), `TORTURE_BIN` (the binary
//! to torture; `scripts/torture` points it at the release build), `TORTURE_SWAP_IDENTITIES=0`
//! (never swap the entries of two keys that differ only by identity).

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------------------------

/// 3 target sets x 2 access keys x 2 regions.
const TARGETS: [(&[&str], &str, &[&str]); 3] = [
    (&["--cluster-id", "c1"], "rs", &["c1"]),
    (&["--cluster-id", "c3,C2"], "rs", &["c2", "c3"]),
    (&["--workgroup", "wg-a"], "rss", &["wg-a"]),
];
const ACCESS_KEYS: [&str; 2] = ["AKIDTORTUREAAAA", "AKIDTORTUREBBBB"];
const REGIONS: [&str; 2] = ["us-east-1", "eu-west-1"];
/// Served from the cache only while this many seconds remain; tokens live `TTL`.
const MIN_VALIDITY: u64 = 2;
const TTL: Duration = Duration::from_secs(6);

#[derive(Debug, Clone, Copy)]
struct Key {
    target: usize,
    access_key: usize,
    region: usize,
}

impl Key {
    fn all() -> Vec<Key> {
        let mut v = Vec::new();
        for target in 0..TARGETS.len() {
            for access_key in 0..ACCESS_KEYS.len() {
                for region in 0..REGIONS.len() {
                    v.push(Key {
                        target,
                        access_key,
                        region,
                    });
                }
            }
        }
        v
    }

    fn describe(&self) -> String {
        format!(
            "{} {} {}",
            TARGETS[self.target].0.join(" "),
            REGIONS[self.region],
            ACCESS_KEYS[self.access_key]
        )
    }

    /// Why `doc` (a completed run's stdout) is not a valid answer for this key, if it is not.
    fn check(
        &self,
        stdout: &[u8],
        finished: SystemTime,
        issued: &HashSet<String>,
    ) -> Result<(), String> {
        let v = exactly_one_document(stdout)?;
        let token = v["token"].as_str().ok_or("no token field")?;
        let got = parse_issued(token).ok_or_else(|| format!("not a stand-in token: {token:?}"))?;
        let (_, tag, targets) = TARGETS[self.target];
        let want = Issued {
            service: tag.to_owned(),
            region: REGIONS[self.region].to_owned(),
            access_key: ACCESS_KEYS[self.access_key].to_owned(),
            targets: targets.iter().map(|t| (*t).to_owned()).collect(),
            seq: got.seq,
        };
        if got != want {
            return Err(format!("WRONG KEY: got a token issued for {got:?}"));
        }
        if !issued.contains(token) {
            return Err(format!("token {token} was never issued by the stand-in"));
        }
        let exp = v["expiration"].as_str().ok_or("no expiration")?;
        let exp = time::OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339)
            .map_err(|e| format!("bad expiration {exp:?}: {e}"))?;
        let exp = SystemTime::from(exp);
        // Expirations are whole seconds; allow for that truncation.
        if exp + Duration::from_secs(1) < finished {
            return Err(format!(
                "expired token: expiration {v}, process ended later"
            ));
        }
        match v["expires_in_seconds"].as_u64() {
            Some(s) if s >= 1 => {}
            other => {
                return Err(format!(
                    "expires_in_seconds {other:?}: served a dying token"
                ));
            }
        }
        let service = if tag == "rs" {
            "redshift"
        } else {
            "redshift-serverless"
        };
        if v["service"] != service || v["targets"] != serde_json::json!(targets) {
            return Err(format!("document describes another target: {v}"));
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The loop
// ---------------------------------------------------------------------------------------------

#[derive(Default)]
struct Counts {
    invocations: AtomicUsize,
    completed: AtomicUsize,
    from_cache: AtomicUsize,
    with_warnings: AtomicUsize,
    kills: AtomicUsize,
    kills_too_late: AtomicUsize,
    failures: AtomicUsize,
    truncations: AtomicUsize,
    garbage: AtomicUsize,
    deletions: AtomicUsize,
    swaps: AtomicUsize,
    identity_swaps: AtomicUsize,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn binary() -> PathBuf {
    std::env::var_os("TORTURE_BIN").map_or_else(|| PathBuf::from(BIN), PathBuf::from)
}

fn command(sb: &Sandbox, key: Key) -> StdCommand {
    let mut c = sb.command(binary());
    c.env("AWS_ACCESS_KEY_ID", ACCESS_KEYS[key.access_key])
        .args(TARGETS[key.target].0)
        .args(["--region", REGIONS[key.region], "--timeout", "20"])
        .args(["--min-validity", &MIN_VALIDITY.to_string()])
        .stdin(Stdio::null());
    c
}

/// One worker: runs the binary `n` times, killing some runs; returns failure descriptions.
fn worker(
    sb: &Sandbox,
    id: usize,
    n: usize,
    seed: u64,
    counts: &Counts,
    issued: &dyn Fn() -> HashSet<String>,
) -> Vec<String> {
    let mut rng = Rng::new(seed);
    let keys = Key::all();
    let out_path = sb.home().join(format!("worker-{id}.out"));
    let err_path = sb.home().join(format!("worker-{id}.err"));
    let mut failures = Vec::new();
    // Checked after the loop, when every issued token is known.
    let mut to_check: Vec<(Key, Vec<u8>, SystemTime)> = Vec::new();
    // Kills land anywhere in a run: their moment is drawn from 0 to a bit more than the
    // typical run time, which is measured as we go (debug and release binaries differ ~5x).
    let mut typical_us = 50_000.0_f64;
    for _ in 0..n {
        let key = keys[rng.below(keys.len() as u64) as usize];
        let mut cmd = command(sb, key);
        if rng.chance(8) {
            cmd.arg("--force-refresh");
        }
        let out = fs::File::create(&out_path).unwrap();
        let err = fs::File::create(&err_path).unwrap();
        let mut child = cmd
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn the binary");
        counts.invocations.fetch_add(1, Ordering::Relaxed);
        let kill_at = rng
            .chance(20)
            .then(|| Duration::from_micros(rng.below((typical_us * 1.2) as u64 + 1)));
        let started = Instant::now();
        let (status, hung) = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break (status, false);
            }
            let elapsed = started.elapsed();
            if kill_at.is_some_and(|k| elapsed >= k) {
                let _ = child.kill();
                break (child.wait().unwrap(), false);
            }
            if elapsed > Duration::from_secs(30) {
                let _ = child.kill();
                break (child.wait().unwrap(), true);
            }
            std::thread::sleep(Duration::from_micros(500));
        };
        if hung {
            failures.push(format!(
                "{}: still running after 30 s (hang)",
                key.describe()
            ));
            continue;
        }
        let finished = SystemTime::now();
        if kill_at.is_none() && !hung {
            typical_us = 0.9 * typical_us + 0.1 * started.elapsed().as_micros() as f64;
        }
        let stdout = fs::read(&out_path).unwrap();
        let stderr = fs::read_to_string(&err_path).unwrap_or_default();
        if status.signal() == Some(libc::SIGKILL) {
            counts.kills.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if kill_at.is_some() {
            counts.kills_too_late.fetch_add(1, Ordering::Relaxed);
        }
        if !status.success() {
            failures.push(format!(
                "{}: exit {status:?}, stderr: {}",
                key.describe(),
                stderr.trim()
            ));
            continue;
        }
        counts.completed.fetch_add(1, Ordering::Relaxed);
        if !stderr.is_empty() {
            counts.with_warnings.fetch_add(1, Ordering::Relaxed);
        }
        const FROM_CACHE: &[u8] = b"\"source\":\"cache\"";
        if stdout.windows(FROM_CACHE.len()).any(|w| w == FROM_CACHE) {
            counts.from_cache.fetch_add(1, Ordering::Relaxed);
        }
        to_check.push((key, stdout, finished));
    }
    let issued = issued();
    for (key, stdout, finished) in to_check {
        if let Err(e) = key.check(&stdout, finished, &issued) {
            failures.push(format!("{}: {e}", key.describe()));
        }
    }
    counts.failures.fetch_add(failures.len(), Ordering::Relaxed);
    failures
}

/// Atomically exchanges two paths (renameat2 RENAME_EXCHANGE).
fn exchange(a: &Path, b: &Path) -> bool {
    let ca = std::ffi::CString::new(a.as_os_str().as_bytes()).unwrap();
    let cb = std::ffi::CString::new(b.as_os_str().as_bytes()).unwrap();
    // SAFETY: two valid NUL-terminated paths.
    unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            ca.as_ptr(),
            libc::AT_FDCWD,
            cb.as_ptr(),
            libc::RENAME_EXCHANGE,
        ) == 0
    }
}

/// Whose an entry file is: what its content claims (service, region, targets) and the access
/// key its token was issued for. A file's name is a hash of its key, so this never changes;
/// it is learned from the first content seen, which the product wrote (the saboteur touches
/// only files it has learned).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Owner {
    claim: String,
    access_key: String,
}

fn owner(path: &Path) -> Option<Owner> {
    let v: Value = serde_json::from_slice(&fs::read(path).ok()?).ok()?;
    let issued = parse_issued(v["token"].as_str()?)?;
    Some(Owner {
        claim: format!("{} {} {}", v["service"], v["region"], v["targets"]),
        access_key: issued.access_key,
    })
}

/// The saboteur: until `stop`, every few milliseconds, damages one cache file.
fn saboteur(dir: &Path, seed: u64, swap_identities: bool, stop: &AtomicBool, counts: &Counts) {
    let mut rng = Rng::new(seed);
    let mut owners: BTreeMap<PathBuf, Owner> = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(rng.millis(3, 30));
        let mut files = Vec::new();
        for f in entry_files(dir) {
            if !owners.contains_key(&f)
                && let Some(o) = owner(&f)
            {
                owners.insert(f.clone(), o);
            }
            if owners.contains_key(&f) {
                files.push(f);
            }
        }
        if files.is_empty() {
            continue;
        }
        let victim = &files[rng.below(files.len() as u64) as usize];
        match rng.below(100) {
            0..=19 => {
                let Ok(len) = fs::metadata(victim).map(|m| m.len()) else {
                    continue;
                };
                let ok = fs::OpenOptions::new()
                    .write(true)
                    .open(victim)
                    .and_then(|f| f.set_len(rng.below(len.max(1))));
                if ok.is_ok() {
                    counts.truncations.fetch_add(1, Ordering::Relaxed);
                }
            }
            20..=34 => {
                let garbage: Vec<u8> = match rng.below(3) {
                    0 => (0..rng.below(400)).map(|_| rng.next() as u8).collect(),
                    1 => b"{\"schema\":2,\"token\":\"idc.rs.us-east-1.X.c1.1.0000000000000000\"}"
                        .to_vec(),
                    _ => b"{\"schema\":1}".to_vec(),
                };
                // In place, as a stray editor or a crashing tool would.
                let ok = fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(victim)
                    .and_then(|mut f| std::io::Write::write_all(&mut f, &garbage));
                if ok.is_ok() {
                    counts.garbage.fetch_add(1, Ordering::Relaxed);
                }
            }
            35..=49 => {
                if fs::remove_file(victim).is_ok() {
                    counts.deletions.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {
                // Swap two entries' files. Half of the time (if allowed) two keys that differ
                // only by identity: same service, region and targets, another access key, where
                // serving the other file's token hands out the wrong identity's token.
                let mut pair = None;
                if swap_identities && rng.chance(50) {
                    let mut pairs = Vec::new();
                    for a in &files {
                        for b in &files {
                            let (oa, ob) = (&owners[a], &owners[b]);
                            if a < b && oa.claim == ob.claim && oa.access_key != ob.access_key {
                                pairs.push((a, b));
                            }
                        }
                    }
                    if !pairs.is_empty() {
                        let (a, b) = pairs[rng.below(pairs.len() as u64) as usize];
                        pair = Some((a.clone(), b.clone()));
                    }
                }
                if pair.is_none() && files.len() >= 2 {
                    let other = &files[rng.below(files.len() as u64) as usize];
                    // Without identity swaps, contents never move to another access key's
                    // file, not even through a chain of swaps.
                    let same_identity = owners[victim].access_key == owners[other].access_key;
                    if other != victim && (swap_identities || same_identity) {
                        pair = Some((victim.clone(), other.clone()));
                    }
                }
                if let Some((a, b)) = pair
                    && exchange(&a, &b)
                {
                    counts.swaps.fetch_add(1, Ordering::Relaxed);
                    let (oa, ob) = (&owners[&a], &owners[&b]);
                    if oa.claim == ob.claim && oa.access_key != ob.access_key {
                        counts.identity_swaps.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

/// Keeps the stand-in's queue stocked with tokens answered after random delays.
fn feeder(standin: &StandIn, seed: u64, stop: &AtomicBool) {
    let mut rng = Rng::new(seed);
    while !stop.load(Ordering::Relaxed) {
        while standin.pending_replies() < 64 {
            let reply = if rng.chance(60) {
                Reply::Delay(rng.millis(1, 80), Box::new(Reply::Token))
            } else {
                Reply::Token
            };
            standin.push(reply);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn torture_loop() {
    let iterations = env_usize("TORTURE_ITERATIONS", 300);
    let workers = env_usize("TORTURE_WORKERS", 4).max(1);
    let swap_identities = std::env::var("TORTURE_SWAP_IDENTITIES").map_or(true, |v| v != "0");
    let (mut rng, seed) = Rng::seeded();
    let standin = StandIn::start_with(Config {
        ttl: TTL,
        max_requests: usize::MAX,
        max_lifetime: Duration::from_secs(4 * 3600),
        ..Config::default()
    });
    let sb = Sandbox::new(&standin);
    let counts = Counts::default();
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let issued_so_far = || -> HashSet<String> { issued_tokens(&standin) };
    let failures = Mutex::new(Vec::new());
    let entry_dir = sb.entry_dir();
    let seeds: Vec<u64> = (0..workers + 2).map(|_| rng.next()).collect();
    std::thread::scope(|scope| {
        let stop = &stop;
        let counts = &counts;
        scope.spawn(|| feeder(&standin, seeds[0], stop));
        scope.spawn(|| saboteur(&entry_dir, seeds[1], swap_identities, stop, counts));
        let mut handles = Vec::new();
        for w in 0..workers {
            let n = iterations / workers + usize::from(w < iterations % workers);
            let sb = &sb;
            let failures = &failures;
            let issued = &issued_so_far;
            let seed = seeds[w + 2];
            handles.push(scope.spawn(move || {
                let f = worker(sb, w, n, seed, counts, issued);
                failures.lock().unwrap().extend(f);
            }));
        }
        for h in handles {
            h.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });

    // With the saboteur gone, every key is served correctly again, and every entry left on
    // disk is whole.
    let issued = issued_so_far();
    let mut after = Vec::new();
    for key in Key::all() {
        let out = command(&sb, key).output().unwrap();
        let issued = if out.status.success() {
            issued_so_far()
        } else {
            issued.clone()
        };
        if !out.status.success() {
            after.push(format!(
                "{}: exit {:?}: {}",
                key.describe(),
                out.status,
                stderr(&out).trim()
            ));
        } else if let Err(e) = key.check(&out.stdout, SystemTime::now(), &issued) {
            after.push(format!("after the storm, {}: {e}", key.describe()));
        }
    }
    for f in entry_files(&sb.entry_dir()) {
        if let Err(e) = check_entry(&fs::read(&f).unwrap(), None) {
            after.push(format!(
                "entry {} is broken after a fresh write: {e}",
                f.display()
            ));
        }
    }
    let mut failures = failures.into_inner().unwrap();
    counts.failures.fetch_add(after.len(), Ordering::Relaxed);
    failures.extend(after);

    let c = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    let corruptions =
        c(&counts.truncations) + c(&counts.garbage) + c(&counts.deletions) + c(&counts.swaps);
    eprintln!(
        "torture (seed {seed}, {workers} workers, binary {}, identity swaps {}): {:.1} s\n\
         invocations         {}\n\
         completed           {} ({} from the cache, {} with a warning on stderr)\n\
         kills               {} (SIGKILL mid-flight; {} more finished before the kill)\n\
         corruptions         {} (truncated {}, garbage {}, deleted {}, swapped {} of which {} between identities)\n\
         failures            {}\n\
         stand-in requests   {}",
        binary().display(),
        if swap_identities { "on" } else { "off" },
        started.elapsed().as_secs_f64(),
        c(&counts.invocations),
        c(&counts.completed),
        c(&counts.from_cache),
        c(&counts.with_warnings),
        c(&counts.kills),
        c(&counts.kills_too_late),
        corruptions,
        c(&counts.truncations),
        c(&counts.garbage),
        c(&counts.deletions),
        c(&counts.swaps),
        c(&counts.identity_swaps),
        c(&counts.failures),
        standin.request_count(),
    );
    for f in failures.iter().take(20) {
        eprintln!("FAILURE: {f}");
    }
    assert_eq!(c(&counts.invocations), iterations);
    assert!(
        failures.is_empty(),
        "{} failures (seed {seed}); first: {}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The deterministic core of the dangerous corruption: two keys that differ only by the
/// access key (same service, region, endpoint, profile and targets) have their entry files
/// swapped. Each identity must still get its own token.
#[test]
fn an_entry_swapped_between_identities_is_never_served() {
    let standin = StandIn::start();
    let sb = Sandbox::new(&standin);
    let key_a = Key {
        target: 0,
        access_key: 0,
        region: 0,
    };
    let key_b = Key {
        access_key: 1,
        ..key_a
    };
    let run = |key: Key| {
        let out = command(&sb, key).output().unwrap();
        assert_success(&out);
        out.stdout
    };
    run(key_a);
    run(key_b);
    let files = entry_files(&sb.entry_dir());
    assert_eq!(files.len(), 2, "one entry per identity");
    assert!(exchange(&files[0], &files[1]));
    let mut problems = Vec::new();
    for key in [key_a, key_b] {
        let stdout = run(key);
        let issued: HashSet<String> = issued_tokens(&standin);
        if let Err(e) = key.check(&stdout, SystemTime::now(), &issued) {
            problems.push(format!("{}: {e}", key.describe()));
        }
    }
    assert!(
        problems.is_empty(),
        "a cache entry moved to another identity's file was served:\n{}",
        problems.join("\n")
    );
}
