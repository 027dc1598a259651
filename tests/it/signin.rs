//! The built-in sign-in, end to end: the real executable, the real AWS SDK over real HTTP to
//! the Identity Center stand-in (sso-oidc, `/authorize`, STS) and the Redshift stand-in, and a
//! real headless Chromium (`scripts/headless-browser`) as the person's browser.
//!
//! What is proven here is what a person sees: one browser sign-in yields a token issued for
//! that person (the role access key id carries the person's name into the Redshift stand-in's
//! token); a JWT from a command, a file or a variable does the same without a browser; stale
//! role credentials are renewed with the refresh token and no browser; an expired refresh token
//! means "run login"; 16 cold callers cause one sign-in and one call of each API; a second
//! person never gets the first one's token; and no secret reaches stderr, argv or `cache list`.

use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

use crate::common::{
    SECRET_KEY, SESSION_TOKEN, Sandbox, StandIn, assert_failure, assert_success, one_document,
    parse_issued, poll, proc_cmdlines, run_concurrently, stderr, wait_until,
};
use crate::idc_standin::{
    DEFAULT_APPLICATION_ARN, DEFAULT_ROLE_ARN, Fault, GRANT_AUTHORIZATION_CODE, GRANT_JWT_BEARER,
    GRANT_REFRESH_TOKEN, IdcConfig, IdcStandIn, NO_SET_CONTEXT_ROLE_ARN, Op, person_in_access_key,
};

/// The sign-in's browser hook in every test.
const HEADLESS_BROWSER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/headless-browser");

/// Exit status of "sign-in needed or did not complete" (README: exit codes).
const EXIT_SIGNIN: i32 = 6;
/// Exit status of "AWS refused" (a fixable setup problem).
const EXIT_DENIED: i32 = 4;
const EXIT_SETUP: i32 = 7;

const C1: &[&str] = &["--cluster-id", "c1"];

/// Both stand-ins and a sandbox whose default profile signs in through them.
struct SignIn {
    redshift: StandIn,
    idc: IdcStandIn,
    sb: Sandbox,
}

impl SignIn {
    /// Browser sign-in (the default kind) with the application and role of the stand-in.
    fn start() -> SignIn {
        SignIn::with(IdcConfig::default(), "")
    }

    /// Role credentials that last 2 minutes, inside the refresh buffer: stale at once, so
    /// every run after the sign-in renews them.
    fn with_stale_role_credentials() -> SignIn {
        SignIn::with(
            IdcConfig {
                max_role_ttl: Duration::from_secs(120),
                ..IdcConfig::default()
            },
            "",
        )
    }

    /// `extra` lines go into the default profile after the sign-in keys.
    fn with(cfg: IdcConfig, extra: &str) -> SignIn {
        let redshift = StandIn::start();
        let idc = IdcStandIn::start_with(cfg);
        let mut sb = Sandbox::new(&redshift);
        let home = sb.home().to_path_buf();
        std::fs::create_dir_all(home.join("tmp")).unwrap();
        for (k, v) in [
            ("AWS_ENDPOINT_URL_SSO_OIDC", idc.url()),
            ("AWS_ENDPOINT_URL_STS", idc.url()),
            ("REDSHIFT_IDC_TOKEN_LISTEN_PORT", "0".into()),
            ("REDSHIFT_IDC_TOKEN_BROWSER", HEADLESS_BROWSER.into()),
            ("HEADLESS_BROWSER_LOG", path(&home.join("browser.log"))),
            ("HEADLESS_BROWSER_TIMEOUT", "30".into()),
            // Chromium's profile directories land here, so leftovers are findable.
            ("TMPDIR", path(&home.join("tmp"))),
        ] {
            sb.set(k, &v);
        }
        let s = SignIn { redshift, idc, sb };
        s.configure(extra);
        s
    }

    fn configure(&self, extra: &str) {
        self.sb.write_aws_config(&format!(
            "[default]\nregion = us-east-1\n\
             redshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\n\
             redshift_idc_role_arn = {DEFAULT_ROLE_ARN}\n{extra}"
        ));
    }

    fn run(&self, args: &[&str]) -> Output {
        self.sb.run(args)
    }

    /// A token run that must succeed; returns the token.
    fn token(&self, args: &[&str]) -> String {
        let doc = one_document(&self.run(args));
        doc["token"].as_str().expect("token").to_owned()
    }

    fn browser_log(&self) -> String {
        std::fs::read_to_string(self.sb.home().join("browser.log")).unwrap_or_default()
    }

    /// How many times the browser hook ran (each run logs one `open` line).
    fn browser_opens(&self) -> usize {
        self.browser_log()
            .lines()
            .filter(|l| l.starts_with("open "))
            .count()
    }

    /// Waits until every browser the hook started has exited and no process of this sandbox
    /// (Chromium and its helpers carry the profile path under its TMPDIR) is left running.
    fn assert_browsers_gone(&self) {
        let opened = self.browser_opens();
        let exited = || {
            self.browser_log()
                .lines()
                .filter(|l| l.starts_with("exit "))
                .count()
        };
        assert!(
            poll(Duration::from_secs(40), || exited() == opened),
            "a browser did not exit: {}",
            self.browser_log()
        );
        let tmp = path(&self.sb.home().join("tmp"));
        let mine = || {
            proc_cmdlines()
                .into_iter()
                .filter(|(_, argv)| crate::common::contains(argv, tmp.as_bytes()))
                .count()
        };
        assert!(
            poll(Duration::from_secs(10), || mine() == 0),
            "processes left behind: {:?}",
            proc_cmdlines()
                .into_iter()
                .filter(|(_, argv)| crate::common::contains(argv, tmp.as_bytes()))
                .map(|(p, argv)| (p, String::from_utf8_lossy(&argv).into_owned()))
                .collect::<Vec<_>>()
        );
    }

    /// The person whose role credentials the Redshift stand-in's `token` was issued to.
    fn person_of(&self, token: &str) -> String {
        let issued = parse_issued(token).unwrap_or_else(|| panic!("not a stand-in token: {token}"));
        let by_key = person_in_access_key(&issued.access_key);
        assert_eq!(by_key, self.idc.person_of_access_key(&issued.access_key));
        by_key.unwrap_or_else(|| panic!("{token} was not made with identity-enhanced credentials"))
    }

    /// No request to either stand-in was malformed.
    fn assert_clean(&self) {
        assert!(self.idc.problems().is_empty(), "{:?}", self.idc.problems());
        let bad: Vec<_> = self
            .redshift
            .requests()
            .into_iter()
            .filter(|r| !r.problems.is_empty())
            .collect();
        assert!(bad.is_empty(), "{bad:#?}");
    }

    /// Every secret of the run: the stand-ins' (JWTs, tokens, contexts, keys), the sandbox's
    /// bootstrap secret key and session token, and the Redshift tokens.
    fn secrets(&self) -> Vec<String> {
        let mut s = self.idc.issued_secrets();
        s.extend([SECRET_KEY.to_owned(), SESSION_TOKEN.to_owned()]);
        s.extend(self.redshift.requests().into_iter().filter_map(|r| r.token));
        s
    }
}

fn path(p: &std::path::Path) -> String {
    p.to_str().expect("UTF-8 path").to_owned()
}

/// `text` contains none of `secrets`.
fn assert_none_in(text: &str, secrets: &[String], what: &str) {
    for s in secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret ({}...) leaked into {what}: {text}",
            &s[..12.min(s.len())]
        );
    }
}

/// A failed sign-in: the exit status, nothing on stdout, and a last stderr line (the error;
/// lines before it may say where to sign in) holding every needle. Returns that line.
fn assert_signin_failure(out: &Output, code: i32, needles: &[&str]) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {err}");
    assert!(
        out.stdout.is_empty(),
        "stdout: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let last = err.lines().last().unwrap_or_default().to_owned();
    for n in needles {
        assert!(last.contains(n), "{last:?} lacks {n:?}");
    }
    last
}

#[test]
fn browser_sign_in_with_headless_chromium_prints_a_token_for_that_person() {
    let s = SignIn::start();
    s.idc.set_browser_person("bob");
    let t0 = Instant::now();
    let token = s.token(C1);
    let cold = t0.elapsed();
    assert_eq!(s.person_of(&token), "bob");
    assert_eq!(s.idc.sign_ins(), 1);
    assert_eq!(s.idc.count(Op::Authorize), 1);
    assert_eq!(s.idc.count_grant(GRANT_AUTHORIZATION_CODE), 1);
    assert_eq!(s.idc.count_ok(Op::CreateTokenWithIam), 1);
    assert_eq!(s.idc.count_ok(Op::AssumeRole), 1);
    assert_eq!(s.redshift.request_count(), 1);
    assert!(s.redshift.requests()[0].has_security_token);
    // What the bootstrap credentials signed: CreateTokenWithIAM and AssumeRole.
    for r in s
        .idc
        .requests()
        .iter()
        .filter(|r| matches!(r.op, Op::CreateTokenWithIam | Op::AssumeRole))
    {
        assert_eq!(
            r.access_key_id.as_deref(),
            Some(crate::common::ACCESS_KEY),
            "{r:?}"
        );
        assert_eq!(r.person.as_deref(), Some("bob"));
    }
    assert_eq!(s.browser_opens(), 1);
    s.assert_browsers_gone();
    let log = s.browser_log();
    assert!(
        log.contains("close this window"),
        "the loopback page: {log}"
    );
    assert!(log.contains("exit 0"), "{log}");
    s.assert_clean();

    // Signed in: the next run is served from the caches, touching nothing.
    let again = s.token(C1);
    assert_eq!(again, token);
    assert_eq!(
        s.idc.requests().len(),
        3 + 1,
        "Authorize, Approve, CreateTokenWithIAM, AssumeRole"
    );
    assert_eq!(s.redshift.request_count(), 1);
    assert_eq!(s.browser_opens(), 1);
    eprintln!("note: cold browser sign-in and token in {cold:?}");
}

#[test]
fn login_then_token_needs_no_browser() {
    let s = SignIn::start();
    let out = s.run(&["login"]);
    assert_success(&out);
    assert!(out.stdout.is_empty(), "login prints nothing on stdout");
    let err = stderr(&out);
    assert!(err.contains("signed in as"), "{err}");
    assert_eq!(s.idc.sign_ins(), 1);
    assert_eq!(s.redshift.request_count(), 0, "login makes no token call");
    let token = s.token(&["--no-browser", "--cluster-id", "c1"]);
    assert_eq!(s.person_of(&token), "alice");
    assert_eq!(s.idc.sign_ins(), 1);
    assert_eq!(s.browser_opens(), 1);
    s.assert_browsers_gone();
    s.assert_clean();
}

/// A JWT sign-in: no browser, one jwt-bearer grant, one AssumeRole, clean requests.
fn assert_jwt_only(s: &SignIn) {
    assert_eq!(s.idc.count(Op::Authorize), 0, "no browser in a JWT sign-in");
    assert_eq!(s.browser_opens(), 0);
    assert_eq!(s.idc.count_grant(GRANT_JWT_BEARER), 1);
    assert_eq!(s.idc.count_ok(Op::AssumeRole), 1);
    s.assert_clean();
}

#[test]
fn jwt_from_a_command_a_file_and_a_variable() {
    // A command (only the file's path is in its argv), for alice.
    let s = SignIn::start();
    let file = s.sb.home().join("alice.jwt");
    std::fs::write(
        &file,
        s.idc.jwt_for("alice", Duration::from_secs(600)) + "\n",
    )
    .unwrap();
    s.configure(&format!(
        "redshift_idc_signin = jwt\nredshift_idc_jwt_command = cat '{}'\n",
        path(&file)
    ));
    let token = s.token(C1);
    assert_eq!(s.person_of(&token), "alice");
    assert_jwt_only(&s);

    // A file, for bob.
    let s = SignIn::start();
    let file = s.sb.home().join("bob.jwt");
    std::fs::write(&file, s.idc.jwt_for("bob", Duration::from_secs(600))).unwrap();
    s.configure(&format!("redshift_idc_jwt_file = {}\n", path(&file)));
    let token = s.token(C1);
    assert_eq!(s.person_of(&token), "bob");
    assert_jwt_only(&s);

    // The environment variable, for alice, on Serverless this time.
    let mut s = SignIn::with(IdcConfig::default(), "redshift_idc_signin = jwt\n");
    let jwt = s.idc.jwt_for("alice", Duration::from_secs(600));
    s.sb.set("REDSHIFT_IDC_TOKEN_JWT", &jwt);
    let token = s.token(&["--workgroup", "wg1"]);
    assert!(token.starts_with("idc.rss."), "{token}");
    assert_eq!(s.person_of(&token), "alice");
    assert_jwt_only(&s);
}

#[test]
fn an_untrusted_jwt_or_a_role_without_set_context_is_a_clear_refusal() {
    let mut s = SignIn::with(IdcConfig::default(), "redshift_idc_signin = jwt\n");
    let jwt = s.idc.jwt_with(
        "alice",
        Duration::from_secs(600),
        "https://evil.test",
        "redshift-idc-token",
    );
    s.sb.set("REDSHIFT_IDC_TOKEN_JWT", &jwt);
    let out = s.run(&["-vv", "--cluster-id", "c1"]);
    assert_eq!(out.status.code(), Some(EXIT_DENIED), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains("not a trusted token issuer"),
        "the error_description reaches the user: {err}"
    );
    assert_none_in(&err, &s.secrets(), "stderr");
    assert_eq!(s.redshift.request_count(), 0);

    let mut s = SignIn::start();
    s.sb.write_aws_config(&format!(
        "[default]\nregion = us-east-1\nredshift_idc_application_arn = {DEFAULT_APPLICATION_ARN}\n\
         redshift_idc_role_arn = {NO_SET_CONTEXT_ROLE_ARN}\nredshift_idc_signin = jwt\n"
    ));
    let jwt = s.idc.jwt_for("bob", Duration::from_secs(600));
    s.sb.set("REDSHIFT_IDC_TOKEN_JWT", &jwt);
    let out = s.run(C1);
    let line = assert_failure(&out, EXIT_DENIED, &["sts:SetContext"]);
    assert_none_in(&line, &s.secrets(), "stderr");
    assert_eq!(s.idc.count(Op::AssumeRole), 1);
    assert_eq!(s.redshift.request_count(), 0);
}

#[test]
fn stale_role_credentials_are_renewed_with_the_refresh_token_and_no_browser() {
    let s = SignIn::with_stale_role_credentials();
    assert_success(&s.run(&["login"]));
    assert_eq!(s.idc.sign_ins(), 1);
    let creds = one_document(&s.run(&["credentials", "--no-browser"]));
    assert_eq!(creds["Version"], 1);
    let key = creds["AccessKeyId"].as_str().unwrap();
    assert_eq!(key, "ASIAALICE0002", "renewed credentials: {creds}");
    assert!(
        creds["SecretAccessKey"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    assert!(
        creds["SessionToken"]
            .as_str()
            .is_some_and(|k| !k.is_empty())
    );
    assert!(
        creds["Expiration"]
            .as_str()
            .is_some_and(|e| e.ends_with('Z'))
    );
    assert_eq!(s.idc.count_grant(GRANT_REFRESH_TOKEN), 1);
    assert_eq!(s.idc.count_ok(Op::AssumeRole), 2);
    assert_eq!(s.idc.sign_ins(), 1, "no second browser sign-in");
    assert_eq!(s.browser_opens(), 1);
    // The rotated refresh token was kept: the next renewal works too.
    let creds = one_document(&s.run(&["credentials", "--no-browser"]));
    assert_eq!(creds["AccessKeyId"], "ASIAALICE0003");
    assert_eq!(s.idc.count_ok(Op::CreateTokenWithIam), 3);
    s.assert_browsers_gone();
    s.assert_clean();
}

#[test]
fn an_expired_refresh_token_means_sign_in_again() {
    let s = SignIn::with_stale_role_credentials();
    assert_success(&s.run(&["login"]));
    s.idc.expire_refresh_tokens();
    let out = s.run(&["credentials", "--no-browser"]);
    assert_failure(&out, EXIT_SIGNIN, &["login"]);
    assert_eq!(s.idc.count_grant(GRANT_REFRESH_TOKEN), 1);
    assert_eq!(s.idc.sign_ins(), 1);
    let refused = s
        .idc
        .requests()
        .into_iter()
        .find(|r| r.grant_type.as_deref() == Some(GRANT_REFRESH_TOKEN))
        .unwrap();
    assert_eq!(refused.reply, "error:InvalidGrantException");

    // With a browser allowed, the run signs in again by itself.
    let token = s.token(C1);
    assert_eq!(s.person_of(&token), "alice");
    assert_eq!(s.idc.sign_ins(), 2);
    assert_eq!(s.browser_opens(), 2);
    s.assert_browsers_gone();
    s.assert_clean();
}

#[test]
fn sixteen_cold_callers_cause_one_sign_in_and_one_call_of_each_api() {
    let s = SignIn::start();
    s.idc.set_browser_person("bob");
    let outs = run_concurrently(
        &s.sb,
        16,
        &["--format", "token", "--cluster-id", "c1"],
        Duration::from_secs(90),
    );
    let tokens: Vec<String> = outs
        .iter()
        .map(|o| {
            assert_success(o);
            String::from_utf8(o.stdout.clone())
                .unwrap()
                .trim_end()
                .to_owned()
        })
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "one token for all: {tokens:?}"
    );
    assert_eq!(s.person_of(&tokens[0]), "bob");
    assert_eq!(s.browser_opens(), 1, "{}", s.browser_log());
    assert_eq!(s.idc.count(Op::Authorize), 1);
    assert_eq!(s.idc.sign_ins(), 1);
    assert_eq!(s.idc.count(Op::CreateTokenWithIam), 1);
    assert_eq!(s.idc.count(Op::AssumeRole), 1);
    assert_eq!(s.redshift.request_count(), 1);
    s.assert_browsers_gone();
    s.assert_clean();
}

#[test]
fn two_people_one_after_the_other_get_their_own_tokens() {
    let s = SignIn::start();
    let alice = s.token(C1);
    assert_eq!(s.person_of(&alice), "alice");

    // Bob signs in on the same machine and profile: his token is never alice's.
    s.idc.set_browser_person("bob");
    assert_success(&s.run(&["login", "--force"]));
    let bob = s.token(C1);
    assert_ne!(bob, alice);
    assert_eq!(s.person_of(&bob), "bob");
    assert_eq!(s.redshift.request_count(), 2);

    // After logout and alice's sign-in, alice's token again (fresh or cached, but hers).
    let out = s.run(&["logout"]);
    assert_success(&out);
    s.idc.set_browser_person("alice");
    let again = s.token(C1);
    assert_eq!(s.person_of(&again), "alice");
    assert_eq!(s.idc.sign_ins(), 3);
    s.assert_browsers_gone();
    s.assert_clean();
}

#[test]
fn a_sign_in_that_never_completes_times_out_with_exit_6() {
    let mut s = SignIn::start();
    s.sb.set("HEADLESS_BROWSER_TIMEOUT", "8");
    s.idc.push(Op::Approve, Fault::Hang);
    let t0 = Instant::now();
    let out = s.run(&["--signin-timeout", "3", "--cluster-id", "c1"]);
    assert!(t0.elapsed() < Duration::from_secs(20), "{:?}", t0.elapsed());
    assert_signin_failure(
        &out,
        EXIT_SIGNIN,
        &["did not complete within 3 s", "--signin-timeout"],
    );
    assert_eq!(s.redshift.request_count(), 0);
    assert_eq!(s.idc.count(Op::CreateTokenWithIam), 0);

    // A refusal in the browser comes back through the redirect.
    s.idc.push(
        Op::Approve,
        Fault::error("access_denied", "The person declined"),
    );
    let out = s.run(&["--signin-timeout", "20", "--cluster-id", "c1"]);
    assert_signin_failure(&out, EXIT_SIGNIN, &["access_denied"]);

    // A code the application refuses (exit 6: sign in again), with AWS's reason.
    s.idc.push(
        Op::CreateTokenWithIam,
        Fault::error(
            "InvalidGrantException",
            "Invalid authorization code provided",
        ),
    );
    let out = s.run(&["--signin-timeout", "20", "--cluster-id", "c1"]);
    assert_signin_failure(&out, EXIT_SIGNIN, &["Invalid authorization code provided"]);
    assert_eq!(s.idc.count_grant(GRANT_AUTHORIZATION_CODE), 1);
    assert_eq!(s.redshift.request_count(), 0);
    s.assert_browsers_gone();
}

#[test]
fn no_secret_on_stderr_at_vv_in_argv_or_in_cache_list() {
    let mut s = SignIn::with_stale_role_credentials();
    let mut transcript = String::new();

    // A browser sign-in held open on the sign-in page while every process's argv is read.
    s.idc
        .push(Op::Approve, Fault::Slow(Duration::from_millis(1500)));
    let child = s.sb.spawn(&["-vv", "--cluster-id", "c1"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut argvs: Vec<Vec<u8>> = Vec::new();
    while Instant::now() < deadline && s.redshift.request_count() == 0 {
        argvs.extend(proc_cmdlines().into_iter().map(|(_, a)| a));
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = wait_until(child, deadline, "browser sign-in");
    assert_success(&out);
    transcript += &stderr(&out);

    // Renewals, a JWT sign-in and doctor, all at -vv (printing credentials or a token is the
    // purpose of stdout there, so only doctor's stdout counts).
    let jwt = s.idc.jwt_for("bob", Duration::from_secs(600));
    s.sb.set("REDSHIFT_IDC_TOKEN_JWT", &jwt);
    for args in [
        &["-vv", "credentials"][..],
        &["-vv", "login", "--force", "--signin", "jwt"],
        &["-vv", "--workgroup", "wg1"],
        &["-vv", "doctor"],
    ] {
        let out = s.run(args);
        transcript += &stderr(&out);
        if args[1] == "doctor" {
            transcript += &String::from_utf8_lossy(&out.stdout);
        }
    }
    assert!(
        s.idc.count_grant(GRANT_REFRESH_TOKEN) >= 2,
        "{:?}",
        s.idc.counts()
    );
    // Failures at -vv: an expired refresh token, a role without sts:SetContext.
    s.idc.expire_refresh_tokens();
    let out = s.run(&["-vv", "credentials", "--no-browser", "--signin", "browser"]);
    assert_eq!(out.status.code(), Some(EXIT_SIGNIN), "{}", stderr(&out));
    transcript += &stderr(&out);
    let out = s.run(&[
        "-vv",
        "login",
        "--force",
        "--signin",
        "jwt",
        "--role-arn",
        NO_SET_CONTEXT_ROLE_ARN,
    ]);
    assert_eq!(out.status.code(), Some(EXIT_DENIED), "{}", stderr(&out));
    transcript += &stderr(&out);
    let list = s.run(&["cache", "list"]);
    assert_success(&list);
    transcript += &String::from_utf8_lossy(&list.stdout);
    transcript += &stderr(&list);

    let secrets = s.secrets();
    assert!(secrets.len() >= 8, "{} secrets", secrets.len());
    assert_none_in(&transcript, &secrets, "stderr, doctor or cache list");
    for argv in &argvs {
        assert_none_in(&String::from_utf8_lossy(argv), &secrets, "a process's argv");
    }
    assert!(!argvs.is_empty());
    s.assert_browsers_gone();
}

/// The browser hook itself: bounded, tidy, and honest about a missing URL.
#[test]
fn headless_browser_wrapper_is_bounded_and_leaves_nothing_behind() {
    let s = SignIn::start();
    let out =
        s.sb.command(HEADLESS_BROWSER)
            .arg("not-a-url")
            .output()
            .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("http(s) URL"), "{}", stderr(&out));

    // A page that never answers: killed at the timeout, with its helpers.
    s.idc.push(Op::Authorize, Fault::Hang);
    let t0 = Instant::now();
    let child =
        s.sb.command(HEADLESS_BROWSER)
            .env("HEADLESS_BROWSER_TIMEOUT", "2")
            .arg(format!(
                "{}/authorize?response_type=code&client_id={}&redirect_uri={}&state=s\
             &code_challenge_method=S256&scopes=openid&code_challenge={}",
                s.idc.url(),
                DEFAULT_APPLICATION_ARN
                    .replace(':', "%3A")
                    .replace('/', "%2F"),
                "http%3A%2F%2F127.0.0.1%3A9%2Foauth%2Fcallback",
                // RFC 7636 appendix B.
                "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
            ))
            .spawn()
            .unwrap();
    let out = wait_until(
        child,
        Instant::now() + Duration::from_secs(30),
        "headless-browser",
    );
    assert!(t0.elapsed() < Duration::from_secs(15), "{:?}", t0.elapsed());
    assert_eq!(out.status.code(), Some(124), "timeout's status");
    assert!(s.browser_log().contains("exit 124"), "{}", s.browser_log());
    s.assert_browsers_gone();
    let leftovers: Vec<PathBuf> = std::fs::read_dir(s.sb.home().join("tmp"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(
        leftovers.is_empty(),
        "profile directories left: {leftovers:?}"
    );
}

/// Every modeled error of the two sign-in calls, injected into a JWT sign-in: its exit status
/// (contract: 4 a setup problem to fix, 3 the bootstrap credentials, 5 transient, 6 sign in
/// again), one clear line that says what AWS said (sso-oidc's text is only in
/// `error_description`), nothing on stdout, no token call, no secret.
#[test]
fn every_modeled_sign_in_error_has_its_exit_status_and_says_why() {
    // (operation, code, exit status, how many to inject: the SDK retries transient ones).
    let cases: &[(Op, &str, i32, usize)] = &[
        (
            Op::CreateTokenWithIam,
            "AccessDeniedException",
            EXIT_DENIED,
            1,
        ),
        (
            Op::CreateTokenWithIam,
            "AuthorizationPendingException",
            EXIT_SIGNIN,
            1,
        ),
        (
            Op::CreateTokenWithIam,
            "InvalidClientException",
            EXIT_SETUP,
            1,
        ),
        (
            Op::CreateTokenWithIam,
            "InvalidGrantException",
            EXIT_DENIED,
            1,
        ),
        (
            Op::CreateTokenWithIam,
            "InvalidRequestException",
            EXIT_DENIED,
            1,
        ),
        (
            Op::CreateTokenWithIam,
            "InvalidRequestRegionException",
            EXIT_DENIED,
            1,
        ),
        (
            Op::CreateTokenWithIam,
            "InvalidScopeException",
            EXIT_SETUP,
            1,
        ),
        (
            Op::CreateTokenWithIam,
            "UnauthorizedClientException",
            EXIT_SETUP,
            1,
        ),
        (
            Op::CreateTokenWithIam,
            "UnsupportedGrantTypeException",
            EXIT_SETUP,
            1,
        ),
        (Op::CreateTokenWithIam, "SlowDownException", 5, 1),
        (Op::CreateTokenWithIam, "InternalServerException", 5, 3),
        (Op::AssumeRole, "AccessDenied", EXIT_DENIED, 1),
        (Op::AssumeRole, "RegionDisabledException", EXIT_DENIED, 1),
        (Op::AssumeRole, "MalformedPolicyDocument", EXIT_DENIED, 1),
        (Op::AssumeRole, "PackedPolicyTooLarge", EXIT_DENIED, 1),
        (Op::AssumeRole, "InvalidParameterValue", EXIT_DENIED, 1),
        (Op::AssumeRole, "ExpiredTokenException", 3, 1),
    ];
    let mut s = SignIn::with(IdcConfig::default(), "redshift_idc_signin = jwt\n");
    let jwt = s.idc.jwt_for("alice", Duration::from_secs(600));
    s.sb.set("REDSHIFT_IDC_TOKEN_JWT", &jwt);
    let mut report = Vec::new();
    for &(op, code, status, times) in cases {
        let why = format!("stand-in says {code} because of reasons");
        for _ in 0..times {
            s.idc.push(op, Fault::error(code, &why));
        }
        let out = s.run(&["-vv", "--cluster-id", "c1"]);
        let err = stderr(&out);
        let last = err.lines().last().unwrap_or_default().to_owned();
        let ok = out.status.code() == Some(status)
            && out.stdout.is_empty()
            && last.contains(&why)
            && !last.contains("Error {")
            && !last.contains("service error");
        if !ok {
            report.push(format!(
                "{code}: exit {:?} (want {status}), last line {last:?}",
                out.status.code()
            ));
        }
        assert_none_in(&err, &s.secrets(), "stderr");
        assert_eq!(
            s.idc.pending_faults(),
            0,
            "{code}: every injected fault was met"
        );
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
    assert_eq!(s.redshift.request_count(), 0);
    // After all that, the same configuration signs in.
    let token = s.token(C1);
    assert_eq!(s.person_of(&token), "alice");
}

/// A "browser" that first attacks the loopback listener, then signs in for real.
const HOSTILE_BROWSER: &str = r#"#!/usr/bin/env python3
import json, os, socket, sys, urllib.error, urllib.parse, urllib.request

url = sys.argv[-1]
query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
redirect = query["redirect_uri"]
port = urllib.parse.urlsplit(redirect).port

def status(u):
    try:
        with urllib.request.urlopen(u, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except Exception as e:
        return str(e)

def reachable(addr):
    try:
        socket.create_connection((addr, port), timeout=2).close()
        return True
    except OSError:
        return False

def own_address():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 9))  # UDP: picks the outgoing address, sends nothing
        return s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()

report = {
    "redirect_uri": redirect,
    "wrong_state": status(redirect + "?code=forged&state=wrong"),
    "no_state": status(redirect + "?code=forged"),
    "other_path": status("http://127.0.0.1:%d/elsewhere?code=forged&state=%s" % (port, query["state"])),
}
addr = own_address()
if addr and not addr.startswith("127."):
    report["reachable_on_" + addr] = reachable(addr)
with open(os.environ["HOOK_REPORT"], "w") as f:
    json.dump(report, f)
os.execv(os.environ["REAL_BROWSER"], [os.environ["REAL_BROWSER"], url])
"#;

#[test]
fn the_loopback_listener_refuses_forged_redirects_and_stops_after_the_real_one() {
    let mut s = SignIn::start();
    let hook = s.sb.home().join("hostile-browser");
    std::fs::write(&hook, HOSTILE_BROWSER).unwrap();
    crate::common::set_mode(&hook, 0o755);
    let report = s.sb.home().join("hook.json");
    s.sb.set("REDSHIFT_IDC_TOKEN_BROWSER", &path(&hook));
    s.sb.set("REAL_BROWSER", HEADLESS_BROWSER);
    s.sb.set("HOOK_REPORT", &path(&report));
    let token = s.token(C1);
    assert_eq!(s.person_of(&token), "alice");

    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&report).expect("the hook ran")).unwrap();
    assert_eq!(report["wrong_state"], 400, "{report}");
    assert_eq!(report["no_state"], 400, "{report}");
    assert_eq!(report["other_path"], 404, "{report}");
    for (k, v) in report.as_object().unwrap() {
        if k.starts_with("reachable_on_") {
            assert_eq!(
                v.as_bool(),
                Some(false),
                "the listener must bind 127.0.0.1 only: {report}"
            );
        }
    }
    let redirect = report["redirect_uri"].as_str().unwrap();
    assert!(
        redirect.starts_with("http://127.0.0.1:") && redirect.ends_with("/oauth/callback"),
        "{redirect}"
    );
    // Only the real code reached CreateTokenWithIAM, and the listener is gone.
    assert_eq!(s.idc.count_grant(GRANT_AUTHORIZATION_CODE), 1);
    assert_eq!(s.idc.count_ok(Op::CreateTokenWithIam), 1);
    let addr = redirect
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap();
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "the listener on {addr} still accepts"
    );
    s.assert_browsers_gone();
    s.assert_clean();
}
