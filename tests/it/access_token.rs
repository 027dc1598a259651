//! Access-token mode end to end: the real executable, the real AWS SDK over real HTTP to the
//! Identity Center stand-in (sso-oidc as the drivers' `BrowserIdcAuthPlugin` calls it), real
//! headless Chromium as the person's browser, and no Redshift call at all: the access token
//! itself is the token (`token_type=ACCESS_TOKEN`), valid for every target.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

use crate::common::{
    Sandbox, StandIn, assert_failure, assert_success, one_document, run_concurrently, stderr,
    wait_until,
};
use crate::idc_standin::cli_sso_cache::{self, CliSsoToken};
use crate::idc_standin::{
    GRANT_AUTHORIZATION_CODE, GRANT_DEVICE_CODE, GRANT_REFRESH_TOKEN, IdcConfig, IdcStandIn, Op,
    Person,
};

const HEADLESS_BROWSER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/headless-browser");
const C1: &[&str] = &["--cluster-id", "c1"];

/// The stand-ins and a sandbox whose default profile is in access-token mode.
struct Access {
    idc: IdcStandIn,
    redshift: StandIn,
    sb: Sandbox,
}

impl Access {
    fn start(mut cfg: IdcConfig, extra: &str) -> Access {
        for name in ["carol", "dave", "erin", "fay", "gus", "hana"] {
            cfg.persons.push(Person::new(name));
        }
        let redshift = StandIn::start();
        let idc = IdcStandIn::start_with(cfg);
        let mut sb = Sandbox::new(&redshift);
        let home = sb.home().to_path_buf();
        std::fs::create_dir_all(home.join("tmp")).unwrap();
        for (k, v) in [
            ("AWS_ENDPOINT_URL_SSO_OIDC", idc.url()),
            ("REDSHIFT_IDC_TOKEN_LISTEN_PORT", "0".into()),
            ("REDSHIFT_IDC_TOKEN_BROWSER", HEADLESS_BROWSER.into()),
            (
                "HEADLESS_BROWSER_LOG",
                home.join("browser.log").display().to_string(),
            ),
            ("HEADLESS_BROWSER_TIMEOUT", "30".into()),
            ("TMPDIR", home.join("tmp").display().to_string()),
        ] {
            sb.set(k, &v);
        }
        let a = Access { idc, redshift, sb };
        a.configure(extra);
        a
    }

    fn configure(&self, extra: &str) {
        self.sb.write_aws_config(&format!(
            "[default]\nregion = us-east-1\n\
             redshift_idc_issuer_url = {}\nredshift_idc_region = us-east-1\n{extra}",
            self.idc.config().issuer_url
        ));
    }

    fn doc(&self, args: &[&str]) -> serde_json::Value {
        one_document(&self.sb.run(args))
    }

    /// The person the stand-in issued `token` to.
    fn person(&self, token: &str) -> String {
        let claims = self
            .idc
            .access_token_claims(token)
            .unwrap_or_else(|| panic!("not an access token of the stand-in"));
        claims["username"].as_str().unwrap().to_owned()
    }

    fn browser_opens(&self) -> usize {
        std::fs::read_to_string(self.sb.home().join("browser.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.starts_with("open "))
            .count()
    }
}

#[test]
fn one_browser_sign_in_serves_every_target_and_format_as_an_access_token() {
    let a = Access::start(IdcConfig::default(), "");
    a.idc.set_browser_person("bob");
    let first = a.doc(C1);
    let token = first["token"].as_str().unwrap().to_owned();
    assert_eq!(first["token_type"], "ACCESS_TOKEN");
    assert_eq!(first["source"], "aws");
    assert_eq!(a.person(&token), "bob");
    assert_eq!(a.idc.count_ok(Op::RegisterClient), 1);
    assert_eq!(a.idc.count_create_token_grant(GRANT_AUTHORIZATION_CODE), 1);
    assert_eq!(a.browser_opens(), 1);
    assert_eq!(
        a.redshift.request_count(),
        0,
        "no GetIdentityCenterAuthToken"
    );
    assert!(a.idc.problems().is_empty(), "{:?}", a.idc.problems());

    // Every target and format from the one cached token, with no call and no window.
    let wg = a.doc(&["--workgroup", "wg-1"]);
    assert_eq!(
        (wg["token"].as_str(), wg["source"].as_str()),
        (Some(token.as_str()), Some("cache"))
    );
    let jdbc = a.sb.run(&["--cluster-id", "other", "--format", "jdbc"]);
    assert_success(&jdbc);
    let jdbc = String::from_utf8(jdbc.stdout).unwrap();
    assert!(jdbc.contains("token_type=ACCESS_TOKEN"), "{jdbc}");
    let env = a.sb.run(&["--cluster-id", "c2", "--format", "env"]);
    assert!(
        String::from_utf8_lossy(&env.stdout).contains("REDSHIFT_IDC_TOKEN_TYPE='ACCESS_TOKEN'")
    );
    // Targets are still validated.
    assert_failure(&a.sb.run(&["--cluster-id", "bad--id"]), 2, &["bad--id"]);
    assert_eq!(a.idc.count(Op::RegisterClient), 1);
    assert_eq!(a.idc.count_create_token_grant(GRANT_AUTHORIZATION_CODE), 1);
    assert_eq!(a.browser_opens(), 1);

    // exec hands the token and its type to the command.
    let out = a.sb.run(&[
        "exec",
        "--cluster-id",
        "c1",
        "--",
        "sh",
        "-c",
        "echo $REDSHIFT_IDC_TOKEN_TYPE",
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ACCESS_TOKEN");

    // cache list shows the session, never the token; credentials refuses with a reason.
    let list = a.sb.run(&["cache", "list"]);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(text.contains("access-token"), "{text}");
    assert!(!text.contains(&token));
    assert_failure(
        &a.sb.run(&["credentials"]),
        2,
        &["access-token mode", "ACCESS_TOKEN"],
    );

    // logout removes the session: the next run signs in again.
    let out = a.sb.run(&["logout"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed 1 access-token session"));
    let again = a.doc(C1);
    assert_ne!(again["token"].as_str(), Some(token.as_str()));
    assert_eq!(a.browser_opens(), 2);
    assert_eq!(
        a.idc.count(Op::RegisterClient),
        1,
        "the registration is reused"
    );
}

#[test]
fn the_access_token_is_renewed_with_the_refresh_token_and_never_past_its_end() {
    // Tokens live 200 s, inside the 5-minute renewal window: every run after the sign-in
    // renews, without a browser.
    let a = Access::start(
        IdcConfig {
            access_ttl: Duration::from_secs(200),
            ..IdcConfig::default()
        },
        "",
    );
    a.idc.set_browser_person("carol");
    let first = a.doc(&["--cluster-id", "c1", "--min-validity", "0"]);
    let renewed = a.doc(&["--cluster-id", "c1", "--min-validity", "0"]);
    assert_ne!(first["token"], renewed["token"]);
    assert_eq!(a.person(renewed["token"].as_str().unwrap()), "carol");
    assert_eq!(a.idc.count_create_token_grant(GRANT_REFRESH_TOKEN), 1);
    assert_eq!(a.browser_opens(), 1);

    // A refused refresh token: under --no-browser, "run login" (exit 6); without, a new sign-in.
    assert!(a.idc.revoke_refresh_tokens(None) > 0);
    assert_failure(
        &a.sb
            .run(&["--cluster-id", "c1", "--min-validity", "0", "--no-browser"]),
        6,
        &["login"],
    );
    let signed_in = a.doc(&["--cluster-id", "c1", "--min-validity", "0"]);
    assert_eq!(signed_in["source"], "aws");
    assert_eq!(a.browser_opens(), 2);
}

#[test]
fn the_device_code_signs_in_from_another_device() {
    let a = Access::start(IdcConfig::default(), "");
    a.configure(&format!(
        "redshift_idc_signin = device\nredshift_idc_start_url = {}\n",
        a.idc.config().start_url
    ));
    let mut child =
        a.sb.std_cmd()
            .args(C1)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let said = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("confirm the code"))
        .expect("the device paragraph on stderr");
    let url = said
        .split_whitespace()
        .find(|w| w.starts_with("http") && w.contains("user_code="))
        .expect("the verification URL");
    assert_eq!(a.idc.device_sign_in(url, "dave", true), 200);
    let out = wait_until(
        child,
        Instant::now() + Duration::from_secs(30),
        "device sign-in",
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one document");
    assert_eq!(a.person(doc["token"].as_str().unwrap()), "dave");
    assert_eq!(a.idc.count_ok(Op::StartDeviceAuthorization), 1);
    assert!(a.idc.count_create_token_grant(GRANT_DEVICE_CODE) >= 1);
    assert_eq!(a.browser_opens(), 0, "no browser on this machine");
}

#[test]
fn sixteen_cold_callers_make_one_registration_one_sign_in_and_one_token() {
    let a = Access::start(IdcConfig::default(), "");
    a.idc.set_browser_person("erin");
    let outs = run_concurrently(&a.sb, 16, C1, Duration::from_secs(90));
    let tokens: Vec<String> = outs
        .iter()
        .map(|o| one_document(o)["token"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "all print the same token"
    );
    assert_eq!(a.idc.count(Op::RegisterClient), 1);
    assert_eq!(a.idc.count_create_token_grant(GRANT_AUTHORIZATION_CODE), 1);
    assert_eq!(a.browser_opens(), 1);
}

#[test]
fn two_profiles_never_share_a_token() {
    let a = Access::start(IdcConfig::default(), "");
    let issuer = a.idc.config().issuer_url.clone();
    a.sb.write_aws_config(&format!(
        "[profile a]\nregion = us-east-1\nredshift_idc_issuer_url = {issuer}\n\
         [profile b]\nregion = us-east-1\nredshift_idc_issuer_url = {issuer}\n"
    ));
    a.idc.set_browser_person("fay");
    let fay = a.doc(&["--cluster-id", "c1", "--profile", "a"]);
    a.idc.set_browser_person("gus");
    let gus = a.doc(&["--cluster-id", "c1", "--profile", "b"]);
    assert_eq!(a.person(fay["token"].as_str().unwrap()), "fay");
    assert_eq!(a.person(gus["token"].as_str().unwrap()), "gus");
    let fay_again = a.doc(&["--cluster-id", "c1", "--profile", "a"]);
    assert_eq!(fay_again["token"], fay["token"]);
}

#[test]
fn a_redshift_application_without_redshift_connect_is_a_setup_error() {
    let scopes: Vec<String> = IdcConfig::default()
        .allowed_scopes
        .into_iter()
        .filter(|s| s != "redshift:connect")
        .collect();
    let a = Access::start(
        IdcConfig {
            allowed_scopes: scopes,
            ..IdcConfig::default()
        },
        "",
    );
    let line = assert_failure(
        &a.sb.run(C1),
        7,
        &["InvalidScopeException", "redshift:connect"],
    );
    assert!(!line.contains('{'), "{line}");
    assert_eq!(a.browser_opens(), 0);
}

/// Registers a client at the stand-in and signs `person` in with the device code, as
/// `aws sso login --use-device-code` would, returning what the AWS CLI caches.
fn cli_login(idc: &IdcStandIn, person: &str, expires_in: Duration) -> CliSsoToken {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conf = aws_sdk_ssooidc::Config::builder()
            .behavior_version(aws_sdk_ssooidc::config::BehaviorVersion::latest())
            .region(aws_sdk_ssooidc::config::Region::new("us-east-1"))
            .endpoint_url(idc.url())
            .build();
        let c = aws_sdk_ssooidc::Client::from_conf(conf);
        let reg = c
            .register_client()
            .client_name("botocore-client-corp")
            .client_type("public")
            .scopes("sso:account:access")
            .scopes("redshift:connect")
            .grant_types(GRANT_DEVICE_CODE)
            .grant_types(GRANT_REFRESH_TOKEN)
            .issuer_url(&idc.config().start_url)
            .send()
            .await
            .unwrap();
        let dev = c
            .start_device_authorization()
            .client_id(reg.client_id().unwrap())
            .client_secret(reg.client_secret().unwrap())
            .start_url(&idc.config().start_url)
            .send()
            .await
            .unwrap();
        assert_eq!(
            idc.device_sign_in(dev.verification_uri_complete().unwrap(), person, true),
            200
        );
        let tok = loop {
            let r = c
                .create_token()
                .client_id(reg.client_id().unwrap())
                .client_secret(reg.client_secret().unwrap())
                .grant_type(GRANT_DEVICE_CODE)
                .device_code(dev.device_code().unwrap())
                .send()
                .await;
            match r {
                Ok(t) => break t,
                Err(_) => tokio::time::sleep(Duration::from_millis(1100)).await,
            }
        };
        let now = OffsetDateTime::now_utc();
        CliSsoToken {
            start_url: idc.config().start_url.clone(),
            region: "us-east-1".into(),
            access_token: tok.access_token().unwrap().to_owned(),
            expires_at: now + expires_in,
            client_id: reg.client_id().map(str::to_owned),
            client_secret: reg.client_secret().map(str::to_owned),
            registration_expires_at: Some(now + Duration::from_secs(86_400)),
            refresh_token: tok.refresh_token().map(str::to_owned),
        }
    })
}

#[test]
fn the_aws_cli_sso_session_is_reused_and_refreshed_once_under_our_lock() {
    let a = Access::start(IdcConfig::default(), "");
    a.sb.write_aws_config(&format!(
        "[default]\nregion = us-east-1\nredshift_idc_sso_session = corp\n\
         [sso-session corp]\nsso_start_url = {}\nsso_region = us-east-1\n\
         sso_registration_scopes = sso:account:access, redshift:connect\n",
        a.idc.config().start_url
    ));
    // A fresh CLI token: served as it is, no call of ours.
    let cli = cli_login(&a.idc, "hana", Duration::from_secs(3600));
    cli_sso_cache::write(a.sb.home(), "corp", &cli).unwrap();
    let before = a.idc.requests().len();
    let doc = a.doc(C1);
    assert_eq!(doc["token"].as_str(), Some(cli.access_token.as_str()));
    assert_eq!(doc["token_type"], "ACCESS_TOKEN");
    assert_eq!(
        a.idc.requests().len(),
        before,
        "the CLI's token, read from its cache"
    );

    // Due for renewal: 16 callers make one refresh, written back in the CLI's format.
    let mut stale = cli.clone();
    stale.expires_at = OffsetDateTime::now_utc() + Duration::from_secs(120);
    cli_sso_cache::write(a.sb.home(), "corp", &stale).unwrap();
    let outs = run_concurrently(&a.sb, 16, C1, Duration::from_secs(60));
    let tokens: Vec<String> = outs
        .iter()
        .map(|o| one_document(o)["token"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        tokens.iter().all(|t| *t == tokens[0]),
        "{:?}",
        stderr(&outs[0])
    );
    assert_ne!(tokens[0], cli.access_token);
    assert_eq!(a.person(&tokens[0]), "hana");
    assert_eq!(a.idc.count_create_token_grant(GRANT_REFRESH_TOKEN), 1);
    let written = cli_sso_cache::read(a.sb.home(), "corp").unwrap();
    assert_eq!(
        written.access_token, tokens[0],
        "written back for the AWS CLI"
    );

    // Keys of two modes together are refused, naming them.
    a.sb.write_aws_config(
        "[default]\nregion = us-east-1\nredshift_idc_sso_session = corp\nredshift_idc_issuer_url = https://x\n",
    );
    assert_failure(
        &a.sb.run(C1),
        2,
        &["redshift_idc_sso_session", "redshift_idc_issuer_url"],
    );
}

#[test]
fn doctor_says_which_mode_and_who_must_sign_in_without_signing_in() {
    let a = Access::start(IdcConfig::default(), "");
    let before = a.sb.run(&["doctor", "--cluster-id", "c1"]);
    assert_eq!(
        before.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&before.stdout)
    );
    let text = String::from_utf8_lossy(&before.stdout);
    assert!(
        text.contains("access token (token_type=ACCESS_TOKEN)"),
        "{text}"
    );
    assert!(
        text.contains("redshift-idc-token login --profile default"),
        "{text}"
    );
    assert!(!text.contains("aws sso login"), "{text}");
    assert_eq!(a.browser_opens(), 0, "doctor never signs in");
    assert_eq!(a.idc.requests().len(), 0);

    assert_success(&a.sb.run(&["login"]));
    let after = a.sb.run(&["doctor", "--cluster-id", "c1"]);
    let text = String::from_utf8_lossy(&after.stdout);
    assert_eq!(after.status.code(), Some(0), "{text}");
    assert!(text.contains("an access token is cached until"), "{text}");
    assert_eq!(a.redshift.request_count(), 0);
}

#[test]
fn a_wrong_issuer_url_is_a_setup_error_before_any_window() {
    let a = Access::start(IdcConfig::default(), "");
    a.sb.write_aws_config(
        "[default]\nregion = us-east-1\nredshift_idc_issuer_url = https://identitycenter.amazonaws.com/ssoins-0000000000000000\n",
    );
    let line = assert_failure(
        &a.sb.run(C1),
        7,
        &["redshift_idc_issuer_url", "sso-oidc refused"],
    );
    assert!(!line.contains("Some("), "{line}");
    assert_eq!(
        a.browser_opens(),
        0,
        "no window for a setup that cannot work"
    );
}

#[test]
fn callers_waiting_for_a_refused_device_sign_in_end_with_it_and_start_no_other() {
    let a = Access::start(IdcConfig::default(), "");
    a.configure(&format!(
        "redshift_idc_signin = device\nredshift_idc_start_url = {}\n",
        a.idc.config().start_url
    ));
    let spawn = || {
        a.sb.std_cmd()
            .args(C1)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = spawn();
    let mut lines = BufReader::new(first.stderr.take().unwrap()).lines();
    let said = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("confirm the code"))
        .expect("the device paragraph on stderr");
    // Three more callers arrive while the person is being asked: they wait on the lock.
    let waiters: Vec<_> = (0..3).map(|_| spawn()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let url = said
        .split_whitespace()
        .find(|w| w.contains("user_code="))
        .expect("the verification URL");
    assert_eq!(
        a.idc.device_sign_in(url, "dave", false),
        200,
        "the person refuses"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let out = wait_until(first, deadline, "the refused sign-in");
    assert_eq!(out.status.code(), Some(6));
    for (i, w) in waiters.into_iter().enumerate() {
        let out = wait_until(w, deadline, &format!("waiter {i}"));
        assert_eq!(out.status.code(), Some(6), "waiter {i}: {}", stderr(&out));
        assert!(out.stdout.is_empty());
        assert!(
            !stderr(&out).contains("confirm the code"),
            "no second sign-in"
        );
    }
    assert_eq!(
        a.idc.count(Op::StartDeviceAuthorization),
        1,
        "one person asked, once"
    );
}

/// A client registration belongs to the sso-oidc endpoint that made it: after the endpoint
/// changes (another Identity Center, a proxy, a test stand-in), the next sign-in registers
/// there instead of presenting a client the new endpoint never issued.
#[test]
fn a_registration_is_not_reused_at_another_sso_oidc_endpoint() {
    let mut a = Access::start(IdcConfig::default(), "");
    a.idc.set_browser_person("bob");
    assert_success(&a.sb.run(&["login"]));
    assert_success(&a.sb.run(&["logout"]));
    let other = IdcStandIn::start_with(IdcConfig::default());
    other.set_browser_person("bob");
    a.sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &other.url());
    let out = a.sb.run(&["login", "--signin-timeout", "20"]);
    assert_success(&out);
    assert_eq!(
        other.count_ok(Op::RegisterClient),
        1,
        "registered where it signs in"
    );
    assert_eq!(a.idc.count(Op::RegisterClient), 1);
}
