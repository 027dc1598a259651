//! Refresh tokens in the OS keyring (`redshift_idc_secret_store`), end to end: the real binary
//! against a real Secret Service, `gnome-keyring-daemon` on a private D-Bus session bus that
//! each test starts (and stops), unlocked with a test password; `secret-tool` (libsecret) looks
//! at its items as a person would.
//!
//! The bus has no service files, so nothing is started behind the test's back: the keyring is
//! exactly the daemon the test runs (or none, or one stopped with SIGSTOP that never answers).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::aws_standin::StandIn;
use crate::common::*;
use crate::idc_standin::{DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, IdcConfig, IdcStandIn, Op};

const VAR: &str = "REDSHIFT_IDC_TOKEN_SECRET_STORE";
const SERVICE: &str = "redshift-idc-token";

/// A private D-Bus session bus, and on it (unless stopped) an unlocked GNOME Keyring.
struct SecretService {
    dir: tempfile::TempDir,
    address: String,
    bus_pid: i32,
    daemon: Option<Child>,
}

impl SecretService {
    /// The bus and an unlocked keyring on it; `None` (after `skipped`) without the tools.
    fn start() -> Option<SecretService> {
        let mut s = SecretService::bus_only()?;
        let mut daemon = s
            .command("gnome-keyring-daemon")
            .args(["--foreground", "--unlock", "--components=secrets"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start gnome-keyring-daemon");
        // `--unlock` reads the login keyring's password from stdin (and creates the keyring).
        let mut stdin = daemon.stdin.take().unwrap();
        stdin.write_all(b"test-keyring-password").unwrap();
        drop(stdin);
        s.daemon = Some(daemon);
        let ready = poll(Duration::from_secs(10), || {
            let out = s.secret_tool(&["search", "service", "readiness-probe"]);
            out.stderr.is_empty()
        });
        assert!(
            ready,
            "gnome-keyring-daemon did not come up on the test bus"
        );
        Some(s)
    }

    /// A private session bus with nothing on it.
    fn bus_only() -> Option<SecretService> {
        for tool in ["dbus-daemon", "gnome-keyring-daemon", "secret-tool"] {
            if Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .map_or(true, |o| !o.status.success())
            {
                skipped(format!(
                    "{tool} is not installed (apt-get install dbus-daemon gnome-keyring libsecret-tools)"
                ));
                return None;
            }
        }
        let dir = tempfile::tempdir().unwrap();
        for d in ["run", "services", "home"] {
            create_private_dir(&dir.path().join(d));
        }
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={run}</listen>
  <servicedir>{services}</servicedir>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                run = dir.path().join("run").display(),
                services = dir.path().join("services").display()
            ),
        )
        .unwrap();
        let out = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args([
                "--fork",
                "--print-address=1",
                "--print-pid=1",
                "--nopidfile",
            ])
            .stdin(Stdio::null())
            .output()
            .expect("start dbus-daemon");
        assert!(out.status.success(), "dbus-daemon: {}", stderr(&out));
        let text = stdout(&out);
        let mut lines = text.lines();
        let address = lines.next().unwrap().to_owned();
        let bus_pid = lines.next().unwrap().trim().parse().unwrap();
        Some(SecretService {
            dir,
            address,
            bus_pid,
            daemon: None,
        })
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// What a program needs to find this bus (and nothing else of the machine's).
    fn vars(&self) -> Vec<(&'static str, String)> {
        let home = self.home();
        vec![
            ("DBUS_SESSION_BUS_ADDRESS", self.address.clone()),
            (
                "XDG_RUNTIME_DIR",
                self.dir.path().join("run").display().to_string(),
            ),
            ("HOME", home.display().to_string()),
            (
                "XDG_DATA_HOME",
                home.join(".local/share").display().to_string(),
            ),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
        ]
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env_clear();
        for (k, v) in self.vars() {
            c.env(k, v);
        }
        c
    }

    /// Points the sandbox's runs at this bus, with `store` as the secret store.
    fn apply(&self, sb: &mut Sandbox, store: &str) {
        sb.set("DBUS_SESSION_BUS_ADDRESS", &self.address);
        sb.set(
            "XDG_RUNTIME_DIR",
            self.dir.path().join("run").to_str().unwrap(),
        );
        sb.set(VAR, store);
    }

    fn secret_tool(&self, args: &[&str]) -> Output {
        let mut child = self
            .command("secret-tool")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run secret-tool");
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    /// The secret of our item `id`, as `secret-tool lookup` finds it.
    fn lookup(&self, id: &str) -> Option<String> {
        let out = self.secret_tool(&["lookup", "service", SERVICE, "username", id]);
        out.status.success().then(|| stdout(&out))
    }

    /// Every item of ours with its attributes (`secret-tool search --all`), as text.
    fn our_items(&self) -> String {
        let out = self.secret_tool(&["search", "--all", "service", SERVICE]);
        format!("{}{}", stdout(&out), stderr(&out))
    }

    /// Stops the keyring daemon (SIGSTOP): it holds its bus name and never answers.
    fn freeze(&self) {
        let pid = self.daemon.as_ref().unwrap().id() as i32;
        assert_eq!(unsafe { libc::kill(pid, libc::SIGSTOP) }, 0);
    }
}

impl Drop for SecretService {
    fn drop(&mut self) {
        if let Some(mut d) = self.daemon.take() {
            unsafe { libc::kill(d.id() as i32, libc::SIGCONT) };
            let _ = d.kill();
            let _ = d.wait();
        }
        unsafe { libc::kill(self.bus_pid, libc::SIGTERM) };
    }
}

/// The stand-ins and a sandbox whose default profile signs `person` in with a JWT file; role
/// credentials live 200 s, always inside the 300 s renewal window, so every run that needs
/// credentials renews the session with its refresh token.
fn world(person: &str) -> (StandIn, IdcStandIn, Sandbox) {
    let rs = StandIn::start();
    let idc = IdcStandIn::start_with(IdcConfig {
        max_role_ttl: Duration::from_secs(200),
        ..IdcConfig::default()
    });
    let mut sb = Sandbox::new(&rs);
    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
    sb.set("AWS_ENDPOINT_URL_STS", &idc.url());
    std::fs::write(
        sb.home().join("jwt"),
        idc.jwt_for(person, Duration::from_secs(600)),
    )
    .unwrap();
    sb.write_aws_config(&format!(
        "[default]\nregion = us-east-1\nredshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\nredshift_idc_role_arn = {DEFAULT_ROLE_ARN}\nredshift_idc_jwt_file = ~/jwt\n"
    ));
    (rs, idc, sb)
}

/// Every refresh token the stand-in handed out (they start with `aor.`).
fn refresh_tokens(idc: &IdcStandIn) -> Vec<String> {
    idc.issued_secrets()
        .into_iter()
        .filter(|s| s.starts_with("aor."))
        .collect()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_owned()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Fails if any file under the sandbox's cache directory holds any of `secrets`.
fn assert_not_in_cache(sb: &Sandbox, secrets: &[String]) {
    let files = files_under(&sb.cache_root());
    assert!(
        !files.is_empty(),
        "the cache directory has files to look at"
    );
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        for s in secrets {
            assert!(
                !contains(&bytes, s.as_bytes()),
                "a refresh token in {}",
                f.display()
            );
        }
    }
}

/// The one sign-in session's id, from `cache list --json`.
fn session_id(sb: &Sandbox) -> String {
    let out = sb.run(&["cache", "list", "--json"]);
    assert_success(&out);
    let ids: Vec<String> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["kind"] == "session")
        .map(|v| v["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "{}", stdout(&out));
    ids[0].clone()
}

#[test]
fn the_refresh_token_lives_in_the_keyring_renews_from_it_and_logout_removes_it() {
    let Some(keyring) = SecretService::start() else {
        return;
    };
    let (rs, idc, mut sb) = world("alice");
    keyring.apply(&mut sb, "keyring");

    let out = sb.run(C1);
    assert_success(&out);
    assert_eq!(stderr(&out), "", "a sign-in into the keyring says nothing");
    assert_eq!(idc.count_ok(Op::CreateTokenWithIam), 1);
    let id = session_id(&sb);
    let item = format!("signin/{id}/refresh_token");
    let issued = refresh_tokens(&idc);
    assert_eq!(issued.len(), 1, "{issued:?}");
    assert_eq!(keyring.lookup(&item).as_deref(), Some(issued[0].as_str()));
    assert_not_in_cache(&sb, &issued);
    let entry = std::fs::read_to_string(sb.cache_root().join(format!(
        "{}/{id}.json",
        redshift_idc_token::signin::session::STORE
    )))
    .expect("the session entry");
    assert!(
        entry.contains(&format!("\"refresh_token_ref\":\"keyring:{item}\"")),
        "{entry}"
    );
    assert!(entry.contains("\"refresh_token\":null"), "{entry}");

    // A hit touches nothing: the same token, no call, even with the keyring frozen.
    keyring.freeze();
    let started = Instant::now();
    let hit = sb.json(C1);
    assert_eq!(hit["source"], "cache");
    assert!(started.elapsed() < Duration::from_secs(5));
    unsafe { libc::kill(keyring.daemon.as_ref().unwrap().id() as i32, libc::SIGCONT) };

    // Another target needs fresh role credentials: renewed with the token from the keyring.
    let out = sb.run(&["--cluster-id", "c2"]);
    assert_success(&out);
    assert_eq!(idc.count_grant("refresh_token"), 1, "{}", idc.counts());
    assert_eq!(rs.request_count(), 2);
    let issued = refresh_tokens(&idc);
    assert_eq!(issued.len(), 2, "the stand-in rotates refresh tokens");
    assert_eq!(
        keyring.lookup(&item).as_deref(),
        Some(issued[1].as_str()),
        "the rotated refresh token replaced the old one"
    );
    assert_not_in_cache(&sb, &issued);

    // `cache list` shows the session, never the keyring's item or a secret.
    for args in [&["cache", "list"][..], &["cache", "list", "--json"]] {
        let out = sb.run(args);
        assert_success(&out);
        let text = stdout(&out);
        let sessions = text
            .lines()
            .filter(|l| l.starts_with("sign-in") || l.contains(r#""kind":"session""#));
        assert_eq!(sessions.count(), 1, "{text}");
        for secret in idc.issued_secrets() {
            assert!(!text.contains(&secret), "a secret in `cache list`: {text}");
        }
        assert!(!text.contains("keyring"), "{text}");
    }

    let out = sb.run(&["logout"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "signed out: removed 1 sign-in session and 2 cached tokens\n"
    );
    assert_eq!(
        keyring.lookup(&item),
        None,
        "logout removes the keyring item"
    );
    assert_eq!(keyring.our_items(), "", "no item of ours is left");
}

#[test]
fn keyring_mode_without_a_dbus_session_fails_clearly() {
    let (rs, idc, mut sb) = world("alice");
    let run = tempfile::tempdir().unwrap();
    sb.unset("DBUS_SESSION_BUS_ADDRESS");
    sb.set("XDG_RUNTIME_DIR", run.path().to_str().unwrap());
    sb.set(VAR, "keyring");
    let out = sb.run(C1);
    let err = assert_failure(
        &out,
        2,
        &[
            "the OS keyring cannot be used (",
            "or set redshift_idc_secret_store = file (REDSHIFT_IDC_TOKEN_SECRET_STORE=file)",
        ],
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    for secret in idc.issued_secrets() {
        assert!(!err.contains(&secret), "a secret on stderr");
    }
    assert_eq!(
        rs.request_count(),
        0,
        "no token without a place for the secret"
    );
    assert_not_in_cache(&sb, &refresh_tokens(&idc));
    assert!(
        files_under(
            &sb.cache_root()
                .join(redshift_idc_token::signin::session::STORE)
        )
        .iter()
        // A failed sign-in's record (`failed/`) tells the runs that waited; it is no session.
        .filter(|f| !f.parent().is_some_and(|p| p.ends_with("failed")))
        .all(|f| f.extension().is_none_or(|e| e != "json")),
        "no session cached"
    );

    // A bad value is a usage error naming the value and the rule, before any network call.
    sb.set(VAR, "vault");
    assert_failure(
        &sb.run(C1),
        2,
        &[
            "invalid redshift_idc_secret_store 'vault' (from REDSHIFT_IDC_TOKEN_SECRET_STORE): expected auto, keyring or file",
        ],
    );
    assert_eq!(
        idc.count(Op::CreateTokenWithIam),
        1,
        "no call for a bad setting"
    );
}

#[test]
fn auto_falls_back_to_the_file_with_one_notice_at_the_first_sign_in() {
    let (_rs, idc, mut sb) = world("alice");
    let run = tempfile::tempdir().unwrap();
    sb.unset("DBUS_SESSION_BUS_ADDRESS");
    sb.set("XDG_RUNTIME_DIR", run.path().to_str().unwrap());
    sb.set(VAR, "auto");
    let out = sb.run(C1);
    assert_success(&out);
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("so long-lived secrets stay in the private cache file"),
        "{err}"
    );
    assert!(
        err.contains("set redshift_idc_secret_store = file"),
        "{err}"
    );
    // The file holds the refresh token, as with `file`.
    let id = session_id(&sb);
    let entry = std::fs::read(sb.cache_root().join(format!(
        "{}/{id}.json",
        redshift_idc_token::signin::session::STORE
    )))
    .unwrap();
    assert!(contains(&entry, refresh_tokens(&idc)[0].as_bytes()));

    // Renewing it says nothing more.
    let out = sb.run(&["--cluster-id", "c2"]);
    assert_success(&out);
    assert_eq!(idc.count_grant("refresh_token"), 1);
    assert_eq!(stderr(&out), "", "one notice, at the first sign-in");
}

#[test]
fn auto_uses_the_keyring_when_it_answers() {
    let Some(keyring) = SecretService::start() else {
        return;
    };
    let (_rs, idc, mut sb) = world("bob");
    keyring.apply(&mut sb, "auto");
    let out = sb.run(C1);
    assert_success(&out);
    assert_eq!(stderr(&out), "");
    let item = format!("signin/{}/refresh_token", session_id(&sb));
    let issued = refresh_tokens(&idc);
    assert_eq!(keyring.lookup(&item).as_deref(), Some(issued[0].as_str()));
    assert_not_in_cache(&sb, &issued);

    // doctor names the store and says it answers.
    let out = sb.run(&["doctor", "--json", "--cluster-id", "c1"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "secret-store")
        .cloned()
        .unwrap_or_else(|| panic!("no secret-store step: {v}"));
    assert_eq!(step["status"], "ok", "{step}");
    assert_eq!(
        step["summary"],
        "refresh tokens are kept in the OS keyring, which answers"
    );
}

#[test]
fn a_keyring_that_never_answers_is_bounded_by_the_signin_timeout() {
    let Some(keyring) = SecretService::start() else {
        return;
    };
    let (_rs, idc, mut sb) = world("alice");
    keyring.apply(&mut sb, "keyring");
    keyring.freeze();

    let started = Instant::now();
    let out = sb.run(&with(C1, &["--signin-timeout", "2"]));
    let took = started.elapsed();
    let err = assert_failure(
        &out,
        2,
        &[
            "the OS keyring did not answer within 2 s",
            "unlock it (e.g. log in to the desktop session) and retry, or set redshift_idc_secret_store = file",
        ],
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
    for secret in idc.issued_secrets() {
        assert!(!err.contains(&secret), "a secret on stderr");
    }
    assert_not_in_cache(&sb, &refresh_tokens(&idc));

    // `auto` waits as long, then keeps the secret in the file and says so.
    sb.set(VAR, "auto");
    let started = Instant::now();
    let out = sb.run(&with(C1, &["--signin-timeout", "2"]));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_success(&out);
    let err = stderr(&out);
    assert!(err.contains("did not answer within 2 s"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // `file` never asks the keyring: a new sign-in goes at full speed, silently.
    sb.set(VAR, "file");
    let started = Instant::now();
    let out = sb.run(&["login", "--force", "--signin-timeout", "30"]);
    assert_success(&out);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(!stderr(&out).contains("keyring"), "{}", stderr(&out));

    // doctor says which store is in use and that the keyring does not answer, in bounded time.
    sb.set(VAR, "keyring");
    let started = Instant::now();
    let out = sb.run(&[
        "doctor",
        "--json",
        "--cluster-id",
        "c1",
        "--signin-timeout",
        "2",
    ]);
    assert!(started.elapsed() < Duration::from_secs(15));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let step = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "secret-store")
        .cloned()
        .unwrap_or_else(|| panic!("no secret-store step: {v}"));
    assert_eq!(step["status"], "fail", "{step}");
}

/// The access-token mode keeps its long-lived secrets the same way: the refresh token and the
/// client registration's secret go to the keyring, the cache files hold references, renewal
/// reads them back, and logout removes the session's item.
#[test]
fn the_access_token_modes_refresh_token_and_client_secret_live_in_the_keyring() {
    use std::io::{BufRead, BufReader};
    let Some(keyring) = SecretService::start() else {
        return;
    };
    let rs = StandIn::start();
    // Access tokens live 200 s, inside the renewal window: the second run renews.
    let idc = IdcStandIn::start_with(IdcConfig {
        access_ttl: Duration::from_secs(200),
        ..IdcConfig::default()
    });
    let mut sb = Sandbox::new(&rs);
    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
    sb.write_aws_config(&format!(
        "[default]\nregion = us-east-1\nredshift_idc_issuer_url = {}\nredshift_idc_region = us-east-1\n\
         redshift_idc_signin = device\nredshift_idc_start_url = {}\n",
        idc.config().issuer_url,
        idc.config().start_url
    ));
    keyring.apply(&mut sb, "keyring");

    let mut child = sb
        .std_cmd()
        .args(C1)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let said = BufReader::new(child.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find(|l| l.contains("confirm the code"))
        .expect("the device paragraph");
    let url = said
        .split_whitespace()
        .find(|w| w.contains("user_code="))
        .expect("the verification URL");
    assert_eq!(idc.device_sign_in(url, "alice", true), 200);
    let out = wait_until(
        child,
        Instant::now() + Duration::from_secs(30),
        "device sign-in",
    );
    assert_success(&out);

    let long_lived: Vec<String> = idc
        .issued_secrets()
        .into_iter()
        .filter(|s| s.starts_with("aor.") || s.starts_with("cs."))
        .collect();
    assert_eq!(long_lived.len(), 2, "one refresh token, one client secret");
    assert_not_in_cache(&sb, &long_lived);
    let listed = keyring.our_items();
    for secret in &long_lived {
        assert!(
            listed.contains(secret.as_str()),
            "{secret:.6}… not in the keyring: {listed}"
        );
    }

    // Renewal reads both back from the keyring: no second device code.
    let renewed = sb.run(C1);
    assert_success(&renewed);
    assert_eq!(idc.count(Op::StartDeviceAuthorization), 1);
    assert_eq!(idc.count_create_token_grant("refresh_token"), 1);
    assert_not_in_cache(
        &sb,
        &idc.issued_secrets()
            .into_iter()
            .filter(|s| s.starts_with("aor."))
            .collect::<Vec<_>>(),
    );

    // logout removes the session's refresh token item (the registration stays for reuse).
    assert_success(&sb.run(&["logout"]));
    let listed = keyring.our_items();
    assert!(!listed.contains("/refresh_token"), "{listed}");
    assert!(
        listed.contains("/client_secret"),
        "the registration stays: {listed}"
    );
}
