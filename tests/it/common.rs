//! Shared test fixtures: a sandbox (private HOME, AWS config, cache) in which the real binary
//! runs as a subprocess against the in-process AWS stand-in, and the helpers the test modules
//! share (processes, files and modes, the stand-in's tokens, output parsers).

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use assert_cmd::Command;
use serde_json::Value;

pub use crate::aws_standin::{Config, Reply, StandIn};

/// Static test credentials; the secret parts are sentinels that tests search for in output.
pub const ACCESS_KEY: &str = "AKIDSANDBOX0000TEST";
pub const SECRET_KEY: &str = "SECRETSENTINELdoNotLeak0123456789abcdef";
pub const SESSION_TOKEN: &str = "SESSIONSENTINELdoNotLeak";
pub const BIN: &str = env!("CARGO_BIN_EXE_redshift-idc-token");

/// The environment variables that carry the static credentials.
pub const CREDENTIAL_VARS: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The arguments of the usual provisioned target.
pub const C1: &[&str] = &["--cluster-id", "c1"];

/// A private HOME with empty AWS config and an empty cache, and an environment that can
/// only reach the given endpoint.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub endpoint: String,
    pub env: Vec<(String, String)>,
}

impl Sandbox {
    pub fn new(standin: &StandIn) -> Sandbox {
        Sandbox::with_endpoint(&standin.url())
    }

    pub fn with_endpoint(endpoint: &str) -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
        let mut sb = Sandbox {
            endpoint: endpoint.to_owned(),
            env: Vec::new(),
            dir,
        };
        let home = sb.home().to_str().unwrap().to_owned();
        for (k, v) in [
            ("HOME", home.as_str()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            ("AWS_SESSION_TOKEN", SESSION_TOKEN),
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ENDPOINT_URL", endpoint),
            // Retries with full backoff would make error tests slow; the SDK's standard
            // mode with 3 attempts still runs (see the throttling tests).
            ("AWS_RETRY_MODE", "standard"),
            // Refresh tokens stay in the cache file unless a test says otherwise: the
            // keyring tests (keyring.rs) give each run its own Secret Service, and no test
            // reaches the keyring of the person running the tests.
            ("REDSHIFT_IDC_TOKEN_SECRET_STORE", "file"),
        ] {
            sb.env.push((k.to_owned(), v.to_owned()));
        }
        sb.set("XDG_CACHE_HOME", sb.home().join(".cache").to_str().unwrap());
        sb
    }

    pub fn home(&self) -> &Path {
        self.dir.path()
    }

    /// The cache root the binary uses by default in this sandbox.
    pub fn cache_root(&self) -> PathBuf {
        self.home().join(".cache").join("redshift-idc-token")
    }

    /// The versioned entry directory.
    pub fn entry_dir(&self) -> PathBuf {
        self.cache_root().join("v1")
    }

    /// Sets (or replaces) an environment variable for every later command.
    pub fn set(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    pub fn unset(&mut self, key: &str) {
        self.env.retain(|(k, _)| k != key);
    }

    /// Removes the static credentials (not the region) from the environment.
    pub fn unset_credentials(&mut self) {
        for k in CREDENTIAL_VARS {
            self.unset(k);
        }
    }

    /// Writes the shared config file (`~/.aws/config`).
    pub fn write_aws_config(&self, text: &str) {
        fs::write(self.home().join(".aws/config"), text).unwrap();
    }

    /// Writes the shared credentials file `[profile]` with `access_key`, the secret sentinel and,
    /// if given, `session_token`; and, if `region` is given, the shared config file with
    /// `[profile <profile>]` in that region.
    pub fn write_shared_profile(
        &self,
        profile: &str,
        region: Option<&str>,
        access_key: &str,
        session_token: Option<&str>,
    ) {
        if let Some(region) = region {
            self.write_aws_config(&format!("[profile {profile}]\nregion = {region}\n"));
        }
        let mut credentials = format!(
            "[{profile}]\naws_access_key_id = {access_key}\naws_secret_access_key = {SECRET_KEY}\n"
        );
        if let Some(t) = session_token {
            credentials.push_str(&format!("aws_session_token = {t}\n"));
        }
        fs::write(self.home().join(".aws/credentials"), credentials).unwrap();
    }

    /// `program` with exactly this sandbox's environment, as a std `Command`.
    pub fn command(&self, program: impl AsRef<OsStr>) -> std::process::Command {
        let mut c = std::process::Command::new(program);
        c.env_clear();
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }

    /// The binary with exactly this sandbox's environment, as a std `Command` (to spawn).
    pub fn std_cmd(&self) -> std::process::Command {
        self.command(BIN)
    }

    /// The binary started with `args`, stdin empty and stdout and stderr piped, not waited for.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.std_cmd()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the binary")
    }

    /// The binary with exactly this sandbox's environment, killed after 60 s.
    pub fn cmd(&self) -> Command {
        let mut c = Command::from_std(self.std_cmd());
        c.timeout(std::time::Duration::from_secs(60));
        c
    }

    /// Runs the binary with `args` and returns the raw output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run binary")
    }

    /// Runs and requires success; returns stdout parsed as the `json` format.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.run(args);
        assert_success(&out);
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document")
    }

    /// Every cache entry file in the sandbox.
    pub fn entries(&self) -> Vec<PathBuf> {
        let Ok(rd) = std::fs::read_dir(self.entry_dir()) else {
            return Vec::new();
        };
        let mut v: Vec<PathBuf> = rd
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        v.sort();
        v
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).expect("stderr is UTF-8")
}

pub fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "expected success, got {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A failed run: the exit code, nothing on stdout, and exactly one line on stderr, which
/// contains every one of `needles`. Returns that line.
pub fn assert_failure(out: &Output, code: i32, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit code; stderr: {err}; stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty, got {:?}",
        stdout(out)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr, got: {err}");
    for n in needles {
        assert!(
            lines[0].contains(n),
            "stderr {:?} should contain {:?}",
            lines[0],
            n
        );
    }
    lines[0].to_owned()
}

/// Asserts that no secret sentinel (nor `token`) appears in `text`.
pub fn assert_no_secrets(text: &str, token: Option<&str>) {
    for s in [SECRET_KEY, SESSION_TOKEN].into_iter().chain(token) {
        assert!(!text.contains(s), "secret {s:?} leaked into: {text}");
    }
}

/// `base` followed by `extra`.
pub fn with<'a>(base: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = base.to_vec();
    v.extend_from_slice(extra);
    v
}

// ---------------------------------------------------------------------------------------------
// The stand-in's tokens
// ---------------------------------------------------------------------------------------------

/// A stand-in that issues `token` for every request (`None`: its own self-describing tokens),
/// and a sandbox using it.
pub fn standin_issuing(token: Option<&str>) -> (StandIn, Sandbox) {
    let s = StandIn::start_with(Config {
        fixed_token: token.map(str::to_owned),
        ..Config::default()
    });
    let sb = Sandbox::new(&s);
    (s, sb)
}

/// A stand-in that issues `token` for every request, and a sandbox using it.
pub fn fixed(token: &str) -> (StandIn, Sandbox) {
    standin_issuing(Some(token))
}

/// The token of the only request the stand-in has seen.
pub fn only_token(standin: &StandIn) -> String {
    let reqs = standin.requests();
    assert_eq!(reqs.len(), 1, "exactly one request: {reqs:?}");
    reqs[0].token.clone().expect("the stand-in issued a token")
}

/// The token of the last request the stand-in has seen.
pub fn last_token(standin: &StandIn) -> String {
    standin
        .requests()
        .last()
        .and_then(|r| r.token.clone())
        .expect("a token was issued")
}

/// Every token the stand-in has issued so far.
pub fn issued_tokens<C: FromIterator<String>>(standin: &StandIn) -> C {
    standin
        .requests()
        .into_iter()
        .filter_map(|r| r.token)
        .collect()
}

/// What a stand-in token says about the request it was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// `rs` or `rss`.
    pub service: String,
    pub region: String,
    pub access_key: String,
    pub targets: Vec<String>,
    pub seq: usize,
}

/// Parses `idc.<rs|rss>.<region>.<access key>.<targets joined by '+'>.<seq>.<16 hex>`.
pub fn parse_issued(token: &str) -> Option<Issued> {
    let parts: Vec<&str> = token.split('.').collect();
    let [idc, service, region, access_key, targets, seq, hex] = parts[..] else {
        return None;
    };
    let ok = idc == "idc"
        && matches!(service, "rs" | "rss")
        && hex.len() == 16
        && hex.bytes().all(|b| b.is_ascii_hexdigit());
    if !ok {
        return None;
    }
    Some(Issued {
        service: service.to_owned(),
        region: region.to_owned(),
        access_key: access_key.to_owned(),
        targets: targets.split('+').map(str::to_owned).collect(),
        seq: seq.parse().ok()?,
    })
}

/// An endpoint on which nothing listens: every connection is refused.
pub fn refused_endpoint() -> String {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    format!("http://127.0.0.1:{port}")
}

// ---------------------------------------------------------------------------------------------
// Output documents
// ---------------------------------------------------------------------------------------------

/// A successful run whose stdout is exactly one JSON document followed by a newline.
pub fn one_document(out: &Output) -> Value {
    assert_success(out);
    exactly_one_document(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Parses `bytes` as exactly one JSON document and a final newline, or says why not.
pub fn exactly_one_document(bytes: &[u8]) -> Result<Value, String> {
    if !bytes.ends_with(b"\n") {
        return Err("stdout does not end with a newline (incomplete document?)".into());
    }
    let mut docs = serde_json::Deserializer::from_slice(bytes).into_iter::<Value>();
    let first = match docs.next() {
        Some(Ok(v)) => v,
        Some(Err(e)) => return Err(format!("stdout is not JSON: {e}")),
        None => return Err("stdout is empty".into()),
    };
    match docs.next() {
        None => Ok(first),
        Some(_) => Err("stdout holds more than one document".into()),
    }
}

/// Reads an ODBC connection string (without a final newline) as the driver manager does:
/// `KEY=VALUE` pairs separated by `;`, where a value that starts with `{` runs to the matching
/// `}` and `}}` inside it stands for `}`. Anything else, or a repeated key, is an error.
pub fn parse_odbc(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' {
                break;
            }
            if matches!(c, ';' | '{' | '}') {
                return Err(format!("bad key character {c:?} in {s:?}"));
            }
            key.push(c);
            chars.next();
        }
        if key.is_empty() && chars.peek().is_none() {
            break;
        }
        if chars.next() != Some('=') {
            return Err(format!("no '=' after key {key:?} in {s:?}"));
        }
        let mut value = String::new();
        if chars.peek() == Some(&'{') {
            chars.next();
            loop {
                match chars.next() {
                    Some('}') if chars.peek() == Some(&'}') => {
                        chars.next();
                        value.push('}');
                    }
                    Some('}') => break,
                    Some(c) => value.push(c),
                    None => return Err(format!("unterminated braced value in {s:?}")),
                }
            }
            if !matches!(chars.peek(), None | Some(';')) {
                return Err(format!("junk after a braced value in {s:?}"));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ';' {
                    break;
                }
                if matches!(c, '{' | '}') {
                    return Err(format!("unbraced {c:?} in {s:?}"));
                }
                value.push(c);
                chars.next();
            }
        }
        if out.iter().any(|(k, _)| *k == key) {
            return Err(format!("duplicate key {key} in {s:?}"));
        }
        out.push((key, value));
        if chars.next().is_none() {
            break;
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Cache files and modes
// ---------------------------------------------------------------------------------------------

/// The fields of a current-schema entry file, exactly.
const ENTRY_FIELDS: [&str; 10] = [
    "schema",
    "service",
    "region",
    "endpoint",
    "profile",
    "targets",
    "identity",
    "fetched",
    "expiration",
    "token",
];

fn is_rfc3339(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
    })
}

/// Checks that `bytes` is one complete current-schema entry (never a torn or mixed one) whose
/// token the stand-in issued for exactly the entry's own service, region and targets, and for
/// `access_key` when given. Returns the parsed entry.
pub fn check_entry(bytes: &[u8], access_key: Option<&str>) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| {
        format!(
            "entry is not JSON ({e}): {:?}",
            String::from_utf8_lossy(bytes)
        )
    })?;
    let obj = v.as_object().ok_or("entry is not an object")?;
    let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
    let want: BTreeSet<&str> = ENTRY_FIELDS.into_iter().collect();
    if keys != want {
        return Err(format!("entry fields {keys:?}, expected {want:?}"));
    }
    let ok = v["schema"] == 1
        && matches!(
            v["service"].as_str(),
            Some("redshift" | "redshift-serverless")
        )
        && v["region"].is_string()
        && (v["endpoint"].is_string() || v["endpoint"].is_null())
        && v["profile"].is_string()
        && v["targets"]
            .as_array()
            .is_some_and(|t| !t.is_empty() && t.iter().all(Value::is_string))
        && is_rfc3339(&v["fetched"])
        && is_rfc3339(&v["expiration"])
        && v["token"].as_str().is_some_and(|t| !t.is_empty());
    if !ok {
        return Err(format!("entry does not have the expected schema: {v}"));
    }
    let token = v["token"].as_str().unwrap();
    let issued = parse_issued(token)
        .ok_or_else(|| format!("entry token {token:?} was not issued by the stand-in"))?;
    let targets: Vec<&str> = v["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let tag = if v["service"] == "redshift" {
        "rs"
    } else {
        "rss"
    };
    if issued.service != tag
        || issued.region != v["region"].as_str().unwrap()
        || issued.targets != targets
        || access_key.is_some_and(|a| a != issued.access_key)
    {
        return Err(format!(
            "entry for {} {} {:?} (key {:?}) holds a token issued for another key: {token}",
            v["service"], v["region"], targets, access_key
        ));
    }
    Ok(v)
}

/// Whether `name` is an entry file's name: `*.json`, not hidden (temporary files are).
pub fn is_entry_name(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.ends_with(b".json") && !name.starts_with(b".")
}

/// The entry files (not the temporary ones) in the entry directory `dir`, sorted.
pub fn entry_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.file_name().is_some_and(is_entry_name))
        .collect();
    v.sort();
    v
}

/// Names of the temporary files (`.tmp.*`) in the entry directory `dir`.
pub fn tmp_files(dir: &Path) -> BTreeSet<String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return BTreeSet::new();
    };
    rd.filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".tmp."))
        .collect()
}

/// The permission bits (with setuid, setgid and sticky) of `path` itself, not following a link.
pub fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .mode()
        & 0o7777
}

pub fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Creates `path` (and its parents) and makes it private (0700).
pub fn create_private_dir(path: &Path) {
    fs::create_dir_all(path).unwrap();
    set_mode(path, 0o700);
}

pub fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Every process's `/proc/<pid>` directory and argv (`cmdline`), for those that can be read.
pub fn proc_cmdlines() -> Vec<(PathBuf, Vec<u8>)> {
    fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let cmdline = fs::read(entry.path().join("cmdline")).ok()?;
            Some((entry.path(), cmdline))
        })
        .collect()
}

/// Polls `cond` until it holds or `limit` passes; returns whether it held.
pub fn poll(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits up to `limit` until the stand-in has seen exactly `n` requests; returns whether it did.
pub fn saw_requests(standin: &StandIn, n: usize, limit: Duration) -> bool {
    poll(limit, || standin.request_count() == n)
}

/// Waits for `child` until `deadline`; kills it and panics if it is still running then.
pub fn wait_until(mut child: Child, deadline: Instant, what: &str) -> Output {
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output();
            panic!("{what}: still running at the deadline; output so far: {out:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts `n` runs of the binary with `args` at once and collects their outputs, all within
/// `limit`.
pub fn run_concurrently(sb: &Sandbox, n: usize, args: &[&str], limit: Duration) -> Vec<Output> {
    let children: Vec<Child> = (0..n).map(|_| sb.spawn(args)).collect();
    let deadline = Instant::now() + limit;
    children
        .into_iter()
        .enumerate()
        .map(|(i, c)| wait_until(c, deadline, &format!("process {i}")))
        .collect()
}

/// Reads one line of the child's stdout (a script's "ready" handshake), then keeps the pipe
/// drained so that the child never blocks or gets SIGPIPE.
pub fn wait_ready(child: &mut Child) -> String {
    let out = child.stdout.take().unwrap();
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .expect("read the child's first line");
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    line
}

/// Runs `script` with `sh` in a private mount namespace, with the sandbox's environment plus
/// `BIN`, `CACHE` (the default cache root, created empty) and `OUT` (a scratch directory).
/// Returns `OUT`, or `None` (after saying why) when mount namespaces are not available here.
pub fn in_mount_namespace(sb: &Sandbox, script: &str) -> Option<PathBuf> {
    let probe = std::process::Command::new("unshare")
        .args([
            "--mount",
            "sh",
            "-c",
            "mount -t tmpfs -o size=16k tmpfs /mnt",
        ])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            skipped(format!(
                "cannot mount in a private namespace: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
            return None;
        }
        Err(e) => {
            skipped(format!("cannot run unshare: {e}"));
            return None;
        }
    }
    let out_dir = sb.home().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    fs::create_dir_all(sb.cache_root()).unwrap();
    let out = sb
        .command("unshare")
        .args(["--mount", "sh", "-euc", script])
        .env("BIN", BIN)
        .env("CACHE", sb.cache_root())
        .env("OUT", &out_dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_script_ok(&out);
    Some(out_dir)
}

/// A namespace script's run succeeded; else panics with its output.
pub fn assert_script_ok(out: &Output) {
    assert!(
        out.status.success(),
        "namespace script failed: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Randomness
// ---------------------------------------------------------------------------------------------

/// xorshift64*: enough randomness for scheduling faults, reproducible from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// Seeded from `TORTURE_SEED` or the clock; returns the seed so a run can be replayed.
    pub fn seeded() -> (Rng, u64) {
        let seed = std::env::var("TORTURE_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                let t = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or_default();
                (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 32)
            });
        (Rng::new(seed), seed)
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + self.below(hi - lo + 1))
    }
}

/// Says that a test cannot run on this machine, and why (no namespaces, not root, no Java).
///
/// A developer's laptop may lack these; `scripts/test` (which CI runs) sets
/// `RIT_REQUIRE_ALL=1`, and there a test that cannot run fails instead: a skipped check is no
/// check.
pub fn skipped(reason: impl std::fmt::Display) {
    if std::env::var_os("RIT_REQUIRE_ALL").is_some() {
        panic!("this test cannot run here: {reason} (RIT_REQUIRE_ALL is set: every test must run)");
    }
    eprintln!("note: skipped: {reason}");
}
