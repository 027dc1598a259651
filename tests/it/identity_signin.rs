//! The right person, always, and waiters and renewal under failure (issue 15, second pass):
//! the real executable through the real SDK against the Identity Center stand-in (sso-oidc and
//! STS) and the Redshift stand-in.
//!
//! Proven here: a JWT command that starts naming another person is noticed when the session
//! is renewed; a session entry copied onto another key is never served; variables that do not
//! decide who a run is (`AWS_DATA_PATH`, `AWS_MAX_ATTEMPTS`) neither split sessions nor hide
//! them from `logout`; `logout --all` finds the tokens of a profile that uses `sso_session`, and
//! `logout` leaves no lock file; 16 callers waiting on an abandoned sign-in end with its
//! message and one browser window; a failed renewal keeps serving the still-valid credentials
//! and is not retried before the minimum interval.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::aws_standin::StandIn;
use crate::common::*;
use crate::idc_standin::{
    DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, Fault, GRANT_JWT_BEARER, GRANT_REFRESH_TOKEN,
    IdcConfig, IdcStandIn, Op, person_in_access_key,
};

/// Exit status of "sign-in needed or did not complete" (README: exit codes).
const EXIT_SIGNIN: i32 = 6;

/// Role credentials that live 200 s are always inside the 300 s renewal window but still
/// valid: every run that needs them renews them first.
const STALE_BUT_VALID: Duration = Duration::from_secs(200);

struct World {
    rs: StandIn,
    idc: IdcStandIn,
    sb: Sandbox,
}

impl World {
    /// Both stand-ins and a sandbox whose default profile signs in with `signin` (the profile
    /// lines after the application and role).
    fn new(cfg: IdcConfig, signin: &str) -> World {
        let rs = StandIn::start();
        let idc = IdcStandIn::start_with(cfg);
        let mut sb = Sandbox::new(&rs);
        sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
        sb.set("AWS_ENDPOINT_URL_STS", &idc.url());
        let w = World { rs, idc, sb };
        w.configure("default", signin);
        w
    }

    fn configure(&self, section: &str, signin: &str) {
        self.sb.write_aws_config(&format!(
            "[{section}]\nregion = us-east-1\nredshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\n\
             redshift_idc_role_arn = {DEFAULT_ROLE_ARN}\n{signin}"
        ));
    }

    /// Writes `~/jwt`, the JWT of `person`.
    fn write_jwt(&self, person: &str) {
        std::fs::write(
            self.sb.home().join("jwt"),
            self.idc.jwt_for(person, Duration::from_secs(600)) + "\n",
        )
        .unwrap();
    }

    /// A token run that must succeed; the person whose role credentials fetched the token.
    fn person(&self, args: &[&str]) -> String {
        let doc = one_document(&self.sb.run(args));
        let token = doc["token"].as_str().unwrap();
        let issued = parse_issued(token).unwrap_or_else(|| panic!("not a stand-in token: {token}"));
        person_in_access_key(&issued.access_key)
            .unwrap_or_else(|| panic!("{token} was not fetched with identity-enhanced credentials"))
    }

    /// The session store's directory (`signin-v<schema>`; there is one).
    fn session_dir(&self) -> PathBuf {
        let dirs: Vec<PathBuf> = std::fs::read_dir(self.sb.cache_root())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("signin-v")
            })
            .collect();
        assert_eq!(dirs.len(), 1, "{dirs:?}");
        dirs[0].clone()
    }

    fn session_files(&self) -> Vec<PathBuf> {
        entry_files(&self.session_dir())
    }
}

fn files_with_extension(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect()
}

/// The last line of stderr: the error (lines before it may say where to sign in).
fn last_line(out: &Output) -> String {
    stderr(out).lines().last().unwrap_or_default().to_owned()
}

#[test]
fn a_jwt_command_that_names_another_person_is_noticed_when_the_session_is_renewed() {
    let w = World::new(
        IdcConfig {
            max_role_ttl: STALE_BUT_VALID,
            ..IdcConfig::default()
        },
        "redshift_idc_jwt_command = cat ~/jwt\n",
    );
    w.write_jwt("alice");
    assert_eq!(w.person(&["--cluster-id", "c1"]), "alice");
    assert_eq!(w.idc.count_grant(GRANT_JWT_BEARER), 1);

    // The IdP login behind the command is now bob's. The next run that needs role credentials
    // renews the session, runs the command, sees another person and signs bob in: it never
    // renews alice's session with her refresh token.
    w.write_jwt("bob");
    assert_eq!(w.person(&["--cluster-id", "c2"]), "bob");
    assert_eq!(
        w.idc.count_grant(GRANT_REFRESH_TOKEN),
        0,
        "{}",
        w.idc.counts()
    );
    assert_eq!(w.idc.count_grant(GRANT_JWT_BEARER), 2);
    // alice's cached token for c1 belonged to alice's session, which is gone; bob's session
    // (due for renewal again) is renewed with his refresh token: the command still names him.
    assert_eq!(w.person(&["--cluster-id", "c1"]), "bob");
    assert_eq!(
        w.idc.count_grant(GRANT_REFRESH_TOKEN),
        1,
        "{}",
        w.idc.counts()
    );
    assert_eq!(w.idc.count_grant(GRANT_JWT_BEARER), 2);
    assert!(w.idc.problems().is_empty(), "{:?}", w.idc.problems());
}

#[test]
fn a_session_entry_copied_onto_another_key_is_never_served() {
    let w = World::new(IdcConfig::default(), "redshift_idc_jwt_file = ~/jwt\n");
    w.write_jwt("alice");
    assert_eq!(w.person(&["--cluster-id", "c1"]), "alice");
    let alice = w.session_files();
    assert_eq!(alice.len(), 1);
    w.write_jwt("bob");
    assert_eq!(w.person(&["--cluster-id", "c1"]), "bob");
    let bob: Vec<PathBuf> = w
        .session_files()
        .into_iter()
        .filter(|p| *p != alice[0])
        .collect();
    assert_eq!(bob.len(), 1);

    // alice's entry lands under bob's key (a copy, a restore, a rename): bob is not alice.
    std::fs::copy(&alice[0], &bob[0]).unwrap();
    let sign_ins = w.idc.count_grant(GRANT_JWT_BEARER);
    assert_eq!(w.person(&["--cluster-id", "c1"]), "bob");
    assert_eq!(w.person(&["--cluster-id", "c2"]), "bob");
    assert_eq!(w.idc.count_grant(GRANT_JWT_BEARER), sign_ins + 1);
}

#[test]
fn variables_that_do_not_decide_the_identity_share_the_session_and_logout_finds_it() {
    let mut w = World::new(IdcConfig::default(), "redshift_idc_jwt_file = ~/jwt\n");
    w.write_jwt("alice");
    assert_eq!(w.person(&["--cluster-id", "c1"]), "alice");

    // The AWS CLI's credential_process child exports AWS_DATA_PATH; a shell sets
    // AWS_MAX_ATTEMPTS. Neither changes who signs in: the session and token are shared.
    w.sb.set("AWS_DATA_PATH", "/usr/share/awscli/data");
    w.sb.set("AWS_MAX_ATTEMPTS", "5");
    let hit = w.sb.json(&["--cluster-id", "c1"]);
    assert_eq!(hit["source"], "cache", "{hit}");
    assert_eq!(w.person(&["--cluster-id", "c2"]), "alice");
    assert_eq!(
        w.idc.count_grant(GRANT_JWT_BEARER),
        1,
        "no second sign-in: {}",
        w.idc.counts()
    );
    assert_eq!(w.rs.request_count(), 2);

    // logout from a shell whose environment differs in such variables signs the person out.
    w.sb.unset("AWS_DATA_PATH");
    w.sb.set("AWS_MAX_ATTEMPTS", "2");
    let out = w.sb.run(&["logout"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "signed out: removed 1 sign-in session and 2 cached tokens\n"
    );
    assert!(w.session_files().is_empty());
    assert!(w.sb.entries().is_empty(), "{:?}", w.sb.entries());
}

#[test]
fn logout_all_removes_the_tokens_of_an_sso_session_profile_and_no_lock_file_is_left() {
    let w = World::new(IdcConfig::default(), "");
    w.write_jwt("alice");
    // A sign-in profile whose chain also names an SSO session (its token cache is part of
    // its fingerprint), next to the default profile.
    w.sb.write_aws_config(&format!(
        "[default]\nregion = us-east-1\n\
         [profile analyst]\nregion = us-east-1\nsso_session = corp\n\
         redshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\n\
         redshift_idc_role_arn = {DEFAULT_ROLE_ARN}\nredshift_idc_jwt_file = ~/jwt\n\
         [sso-session corp]\nsso_region = us-east-1\nsso_start_url = https://d-9067c2e1f0.awsapps.com/start\n"
    ));
    assert_eq!(
        w.person(&["--profile", "analyst", "--cluster-id", "c1"]),
        "alice"
    );
    assert_eq!(w.sb.entries().len(), 1);
    // A session left by an older version (schema 1), holding a refresh token.
    let old_store = w.sb.cache_root().join("signin-v1");
    create_private_dir(&old_store);
    std::fs::write(old_store.join("0123.json"), "{\"schema\":1}").unwrap();
    set_mode(&old_store.join("0123.json"), 0o600);
    let out = w.sb.run(&["logout", "--all"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "signed out: removed 2 sign-in sessions and 1 cached token\n"
    );
    assert!(w.sb.entries().is_empty(), "{:?}", w.sb.entries());
    assert!(!old_store.exists());

    // logout (of one profile) leaves neither the entry nor its lock file.
    assert_eq!(
        w.person(&["--profile", "analyst", "--cluster-id", "c1"]),
        "alice"
    );
    assert!(!files_with_extension(&w.session_dir(), "lock").is_empty());
    let out = w.sb.run(&["logout", "--profile", "analyst"]);
    assert_success(&out);
    assert_eq!(
        stdout(&out),
        "signed out: removed 1 sign-in session and 1 cached token\n"
    );
    assert_eq!(
        files_with_extension(&w.session_dir(), "lock"),
        Vec::<PathBuf>::new()
    );
    assert!(w.session_files().is_empty());
}

#[test]
fn sixteen_callers_of_an_abandoned_sign_in_learn_its_outcome_and_open_no_browser() {
    let mut w = World::new(IdcConfig::default(), "");
    // A "browser" that starts, records it, and never signs in: the person walked away.
    let hook = w.sb.home().join("walk-away");
    std::fs::write(
        &hook,
        "#!/bin/sh\necho \"open $*\" >> \"$HOME/opens.log\"\n",
    )
    .unwrap();
    set_mode(&hook, 0o755);
    w.sb.set("REDSHIFT_IDC_TOKEN_BROWSER", hook.to_str().unwrap());
    w.sb.set("REDSHIFT_IDC_TOKEN_LISTEN_PORT", "0");
    let t0 = std::time::Instant::now();
    let outs = run_concurrently(
        &w.sb,
        16,
        &["--signin-timeout", "3", "--cluster-id", "c1"],
        Duration::from_secs(60),
    );
    let took = t0.elapsed();
    let opens = std::fs::read_to_string(w.sb.home().join("opens.log")).unwrap_or_default();
    assert_eq!(opens.lines().count(), 1, "one browser window: {opens}");
    let first = last_line(&outs[0]);
    assert!(first.contains("did not complete within 3 s"), "{first:?}");
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(
            out.status.code(),
            Some(EXIT_SIGNIN),
            "run {i}: {}",
            stderr(out)
        );
        assert!(out.stdout.is_empty());
        assert_eq!(last_line(out), first, "run {i}: {}", stderr(out));
    }
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_eq!(w.idc.count(Op::CreateTokenWithIam), 0);
    assert_eq!(w.rs.request_count(), 0);

    // The outcome was for those who waited: a later run asks the person again.
    let out = w.sb.run(&["--signin-timeout", "1", "--cluster-id", "c1"]);
    assert_eq!(out.status.code(), Some(EXIT_SIGNIN), "{}", stderr(&out));
    let opens = std::fs::read_to_string(w.sb.home().join("opens.log")).unwrap_or_default();
    assert_eq!(opens.lines().count(), 2, "{opens}");
}

#[test]
fn a_failed_renewal_serves_the_valid_credentials_and_is_not_retried_at_once() {
    let w = World::new(
        IdcConfig {
            max_role_ttl: STALE_BUT_VALID,
            ..IdcConfig::default()
        },
        "redshift_idc_jwt_file = ~/jwt\n",
    );
    w.write_jwt("alice");
    assert_eq!(w.person(&["--cluster-id", "c1"]), "alice");
    // sso-oidc is down for the renewal (the SDK tries 3 times).
    for _ in 0..3 {
        w.idc.push(
            Op::CreateTokenWithIam,
            Fault::error("InternalServerException", "down for maintenance"),
        );
    }
    let out = w.sb.run(&["-v", "--cluster-id", "c2"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("could not renew the session"),
        "{}",
        stderr(&out)
    );
    assert_eq!(w.idc.pending_faults(), 0);
    let attempts = w.idc.count_grant(GRANT_REFRESH_TOKEN);
    assert_eq!(attempts, 3, "{}", w.idc.counts());

    // Runs right after a failed renewal serve the still-valid credentials without trying
    // again (and without holding anyone up for --timeout).
    for c in ["c3", "c4"] {
        assert_eq!(w.person(&["--cluster-id", c]), "alice");
    }
    let out = w.sb.run(&["credentials"]);
    assert_success(&out);
    assert_eq!(
        w.idc.count_grant(GRANT_REFRESH_TOKEN),
        attempts,
        "no renewal before the minimum interval: {}",
        w.idc.counts()
    );
    assert_eq!(w.rs.request_count(), 4);
}

#[test]
fn sixteen_callers_of_a_sign_in_refused_in_the_browser_end_with_the_refusal() {
    let mut w = World::new(IdcConfig::default(), "");
    let home = w.sb.home().to_path_buf();
    std::fs::create_dir_all(home.join("tmp")).unwrap();
    let log = home.join("browser.log");
    for (k, v) in [
        (
            "REDSHIFT_IDC_TOKEN_BROWSER",
            concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/headless-browser").to_owned(),
        ),
        ("REDSHIFT_IDC_TOKEN_LISTEN_PORT", "0".to_owned()),
        ("HEADLESS_BROWSER_LOG", log.to_str().unwrap().to_owned()),
        ("HEADLESS_BROWSER_TIMEOUT", "30".to_owned()),
        ("TMPDIR", home.join("tmp").to_str().unwrap().to_owned()),
    ] {
        w.sb.set(k, &v);
    }
    // The person declines on the sign-in page (Identity Center redirects with the error).
    w.idc.push(
        Op::Approve,
        Fault::error("access_denied", "The person declined"),
    );
    let outs = run_concurrently(
        &w.sb,
        16,
        &["--signin-timeout", "30", "--cluster-id", "c1"],
        Duration::from_secs(90),
    );
    let opens = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        opens.lines().filter(|l| l.starts_with("open ")).count(),
        1,
        "one browser window: {opens}"
    );
    let first = last_line(&outs[0]);
    assert!(first.contains("access_denied"), "{first:?}");
    for (i, out) in outs.iter().enumerate() {
        assert_eq!(
            out.status.code(),
            Some(EXIT_SIGNIN),
            "run {i}: {}",
            stderr(out)
        );
        assert!(out.stdout.is_empty());
        assert_eq!(last_line(out), first, "run {i}: {}", stderr(out));
    }
    assert_eq!(w.idc.count(Op::CreateTokenWithIam), 0);
    assert_eq!(w.rs.request_count(), 0);
    // Chromium and its helpers are gone (they carry the sandbox's TMPDIR in their argv).
    let tmp = home.join("tmp").to_str().unwrap().to_owned();
    assert!(
        poll(Duration::from_secs(40), || {
            proc_cmdlines()
                .into_iter()
                .all(|(_, argv)| !contains(&argv, tmp.as_bytes()))
        }),
        "browser processes left behind"
    );
}
