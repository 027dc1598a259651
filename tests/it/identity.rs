//! Issue 8, class 1: a different identity never gets another's token.
//!
//! Identity lives outside the `AWS_*` variables and the shared files too: in the SSO token
//! cache that `aws sso login` rewrites, and behind a `credential_process`. These tests switch
//! the person behind one unchanged configuration and check who the served token was issued to.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::common::*;

const SSO_PROFILE_SESSION: &str = "\
[profile dev]
sso_session = corp
sso_account_id = 111122223333
sso_role_name = Analyst
region = us-east-1
[sso-session corp]
sso_start_url = https://corp.awsapps.com/start
sso_region = us-east-1
";

const SSO_PROFILE_LEGACY: &str = "\
[profile dev]
sso_start_url = https://legacy.awsapps.com/start
sso_region = us-east-1
sso_account_id = 111122223333
sso_role_name = Analyst
region = us-east-1
";

/// Writes what `aws sso login` leaves behind for `person`: the token cache file aws-config
/// reads, `~/.aws/sso/cache/<sha1 of the session name or start URL>.json`.
fn sso_login(sb: &Sandbox, cache_name: &str, person: &str) {
    let dir = sb.home().join(".aws/sso/cache");
    fs::create_dir_all(&dir).unwrap();
    let doc = serde_json::json!({
        "accessToken": person,
        "expiresAt": "2099-01-01T00:00:00Z",
        "region": "us-east-1",
        "startUrl": "https://corp.awsapps.com/start",
    });
    fs::write(dir.join(format!("{cache_name}.json")), doc.to_string()).unwrap();
}

fn sha1_hex(s: &str) -> String {
    let out = std::process::Command::new("sha1sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(s.as_bytes())?;
            c.wait_with_output()
        })
        .expect("sha1sum");
    String::from_utf8(out.stdout).unwrap()[..40].to_owned()
}

fn issued_to(doc: &serde_json::Value) -> String {
    let token = doc["token"].as_str().expect("a token");
    parse_issued(token).expect("a stand-in token").access_key
}

#[test]
fn an_sso_login_as_another_person_is_never_served_the_first_persons_token() {
    for (config, identifier) in [
        (SSO_PROFILE_SESSION, "corp"),
        (SSO_PROFILE_LEGACY, "https://legacy.awsapps.com/start"),
    ] {
        let (standin, mut sb) = standin_issuing(None);
        sb.unset_credentials();
        sb.write_aws_config(config);
        let cache_name = sha1_hex(identifier);
        let args = with(C1, &["--profile", "dev"]);

        sso_login(&sb, &cache_name, "alice");
        let first = sb.json(&args);
        assert_eq!(first["source"], "aws");
        assert_eq!(issued_to(&first), "ASIAALICE00000000000", "{config}");
        assert_eq!(sb.json(&args)["source"], "cache", "same person: a hit");

        sso_login(&sb, &cache_name, "bob");
        let second = sb.json(&args);
        assert_eq!(
            (second["source"].as_str(), issued_to(&second).as_str()),
            (Some("aws"), "ASIABOB0000000000000"),
            "after bob's sso login ({identifier}) bob must get his own token"
        );
        assert_eq!(standin.request_count(), 2);
    }
}

/// A `credential_process` that hands out a new identity on every run (`ASIAPROC000000001`,
/// `...2`, ...), with credentials that expire `expires_in` seconds from now.
fn credential_process(sb: &Sandbox, expires_in: u64) {
    let script = sb.home().join("creds.sh");
    let counter = sb.home().join("creds.count");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\n\
             n=$(( $(cat '{c}' 2>/dev/null || echo 0) + 1 ))\n\
             echo $n > '{c}'\n\
             exp=$(date -u -d \"@$(( $(date +%s) + {expires_in} ))\" +%Y-%m-%dT%H:%M:%SZ)\n\
             printf '{{\"Version\":1,\"AccessKeyId\":\"ASIAPROC%012d\",\"SecretAccessKey\":\"{SECRET_KEY}\",\"SessionToken\":\"{SESSION_TOKEN}\",\"Expiration\":\"%s\"}}' $n $exp\n",
            c = counter.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    sb.write_aws_config(&format!(
        "[profile proc]\nregion = us-east-1\ncredential_process = {}\n",
        script.display()
    ));
}

#[test]
fn a_cached_token_is_never_served_past_the_expiry_of_the_credentials_it_was_fetched_with() {
    let (standin, mut sb) = standin_issuing(None);
    sb.unset_credentials();
    // The credentials live 400 s; the token 900 s.
    credential_process(&sb, 400);
    let args = with(C1, &["--profile", "proc"]);
    let first = sb.json(&args);
    assert_eq!(issued_to(&first), "ASIAPROC000000000001");
    // Well inside both lifetimes: a hit, and the process is not run (the hit stays cheap).
    let hit = sb.json(&args);
    assert_eq!(hit["source"], "cache");
    assert_eq!(standin.request_count(), 1);
    // A caller who needs 600 s: the token would have them, the credentials behind it do not.
    // The entry is trusted only as long as those credentials, so this is a fresh fetch, with
    // whoever the process says the caller is now.
    let longer = sb.json(&with(&args, &["--min-validity", "600"]));
    assert_eq!(
        (longer["source"].as_str(), issued_to(&longer).as_str()),
        (Some("aws"), "ASIAPROC000000000002")
    );
    let remaining = longer["expires_in_seconds"].as_u64().unwrap();
    assert!(
        remaining > 800,
        "the token itself still lives {remaining} s"
    );
    // `cache list` shows the shorter, honest lifetime.
    let list = sb.run(&["cache", "list", "--json"]);
    assert_success(&list);
    let row: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let left = row["remaining_seconds"].as_u64().unwrap();
    assert!(
        (380..=400).contains(&left),
        "bounded by the credentials: {left}"
    );
}
