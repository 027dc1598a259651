//! Host names resolve the way the system resolves them, also in the shipped static build.
//!
//! The release executable is linked statically against glibc (scripts/build-release), and a
//! static glibc program must still find real host names: `/etc/hosts` and DNS, as
//! `/etc/nsswitch.conf` says. Each check runs the executable in a loopback-only network
//! namespace (`unshare -n`, so nothing can leave the machine) and a private mount namespace
//! whose `/etc/hosts` names the stand-in, which runs inside the same namespace.
//!
//! The debug binary is always checked. `RIT_RELEASE_BIN` names another executable to check the
//! same way: `scripts/test` sets it to the one inside the release tarball.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{ACCESS_KEY, BIN, Sandbox, parse_issued, skipped};

/// The name the private `/etc/hosts` gives to 127.0.0.1, and one it does not know.
const KNOWN: &str = "redshift.stand-in.test";
const UNKNOWN: &str = "unknown.stand-in.test";

/// The aws-standin example program, built next to the binary by `cargo test`/`cargo build --examples`.
fn standin_program() -> PathBuf {
    let p = Path::new(BIN)
        .parent()
        .unwrap()
        .join("examples/aws-standin");
    assert!(
        p.exists(),
        "{} is missing: build it with `cargo build --examples`",
        p.display()
    );
    p
}

/// Runs the stand-in and then `bin` (as `--endpoint-url http://HOST:PORT`) inside the
/// namespaces; returns the binary's exit code, stdout and stderr.
fn run_in_namespace(bin: &Path, host: &str) -> (i32, String, String) {
    let sb = Sandbox::with_endpoint("http://unused.invalid");
    let dir = sb.home().join("ns");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("hosts"),
        format!("127.0.0.1 localhost\n127.0.0.1 {KNOWN}\n"),
    )
    .unwrap();
    // No name server is reachable in the namespace: names outside /etc/hosts fail at once.
    std::fs::write(
        dir.join("resolv.conf"),
        "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
    )
    .unwrap();
    let script = r#"
        ip link set lo up
        mount --bind "$DIR/hosts" /etc/hosts
        mount --bind "$DIR/resolv.conf" /etc/resolv.conf
        "$STANDIN" --max-seconds 30 --max-requests 5 > "$DIR/url" &
        standin=$!
        for _ in $(seq 100); do [ -s "$DIR/url" ] && break; sleep 0.1; done
        port=$(head -n 1 "$DIR/url" | sed 's/.*://')
        set +e
        "$BIN" --cluster-id c1 --region us-east-1 --no-cache --timeout 10 \
            --endpoint-url "http://$HOST:$port" > "$DIR/stdout" 2> "$DIR/stderr"
        echo $? > "$DIR/status"
        kill "$standin"
    "#;
    let out = sb
        .command("unshare")
        .args(["--net", "--mount", "sh", "-euc", script])
        .env("DIR", &dir)
        .env("BIN", bin)
        .env("HOST", host)
        .env("STANDIN", standin_program())
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .output()
        .expect("run unshare");
    assert!(
        out.status.success(),
        "namespace script failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
    let code = read("status").trim().parse().unwrap();
    (code, read("stdout"), read("stderr"))
}

/// Whether this machine lets us make network and mount namespaces (root, or user namespaces).
fn namespaces_available() -> bool {
    Command::new("unshare")
        .args(["--net", "--mount", "true"])
        .status()
        .is_ok_and(|s| s.success())
}

fn check(bin: &Path) {
    let (code, out, err) = run_in_namespace(bin, KNOWN);
    assert_eq!(code, 0, "{}: {KNOWN} did not resolve: {err}", bin.display());
    let doc: serde_json::Value = serde_json::from_str(&out).expect("one JSON document");
    let issued = parse_issued(doc["token"].as_str().unwrap()).expect("a stand-in token");
    assert_eq!(
        (issued.access_key.as_str(), issued.targets),
        (ACCESS_KEY, vec!["c1".to_owned()])
    );

    let (code, out, err) = run_in_namespace(bin, UNKNOWN);
    assert_eq!(
        code,
        5,
        "{}: an unknown name is a network failure: {err}",
        bin.display()
    );
    assert_eq!(out, "", "nothing on stdout");
    assert_eq!(err.lines().count(), 1, "one line on stderr: {err}");
}

#[test]
fn names_resolve_from_etc_hosts_in_a_loopback_only_namespace() {
    if !namespaces_available() {
        // CI runs as root; a developer without user namespaces is told, not misled.
        skipped("cannot create network and mount namespaces here");
        return;
    }
    check(Path::new(BIN));
    match std::env::var_os("RIT_RELEASE_BIN") {
        Some(release) => check(Path::new(&release)),
        None => eprintln!("note: RIT_RELEASE_BIN not set: only the debug binary was checked"),
    }
}
