//! Shared test fixtures: a sandbox (private HOME, AWS config, cache) in which the real binary
//! runs as a subprocess against the in-process AWS stand-in.

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;

pub use crate::aws_standin::{Config, Reply, StandIn};

/// Static test credentials; the secret parts are sentinels that tests search for in output.
pub const ACCESS_KEY: &str = "AKIDSANDBOX0000TEST";
pub const SECRET_KEY: &str = "SECRETSENTINELdoNotLeak0123456789abcdef";
pub const SESSION_TOKEN: &str = "SESSIONSENTINELdoNotLeak";
pub const BIN: &str = env!("CARGO_BIN_EXE_redshift-idc-token");

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

    /// The binary with exactly this sandbox's environment, as a std `Command` (to spawn).
    pub fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(BIN);
        c.env_clear();
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
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
