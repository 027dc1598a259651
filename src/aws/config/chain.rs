//! Who a run is: the inputs of aws-config's credential chain, fingerprinted.
//!
//! A cached token or session may be served only to the identity it was made for. The chain
//! decides that identity from the environment, the shared files and a few files they point
//! at (SSO and sign-in token caches, web identity tokens); this module knows which, and
//! digests them into a [`Fingerprint`] the cache keys carry. The cache itself knows only keys.

use std::path::PathBuf;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::shared_config::SharedConfig;
use crate::cache::Fingerprint;
use crate::cache::key::{field, optional};
use crate::env::{self, Env};
use crate::small_file;

/// Fingerprints the inputs of aws-config's credential chain for `profile`, reading any
/// file without blocking past `deadline`. A file that is missing or unreadable counts as
/// absent (and differs from any content).
///
/// What each link of the chain reads, and what the key covers of it:
/// - the variables of [`IDENTITY_VARS`] (credentials, profile and files, web identity,
///   container, instance metadata, the STS and SSO endpoints), and no other: a variable that
///   only tunes how a call is made (`AWS_MAX_ATTEMPTS`, `AWS_RETRY_MODE`, the AWS CLI's
///   `AWS_DATA_PATH` in a `credential_process` child) neither splits a session nor hides it
///   from `logout`.
/// - the profile (`AWS_PROFILE`/`--profile`, `AWS_CONFIG_FILE`,
///   `AWS_SHARED_CREDENTIALS_FILE`): the variables, `HOME` (where the default files and
///   the SSO cache live) and the bytes of both shared files as read once this run, so any
///   change to keys, `role_arn`, `source_profile`, `credential_source`, `sso_*`,
///   `credential_process` or `web_identity_token_file` settings changes the key.
/// - `source_profile` chains: walked from the chosen profile (cycles stopped); each
///   profile on the way contributes what it points at outside the shared files:
/// - SSO (`sso_session`, or the legacy `sso_start_url`): the token cache file aws-config
///   reads, `~/.aws/sso/cache/<sha1 hex of the session name or start URL>.json`; it is
///   what `aws sso login` rewrites, so another person's login changes the key.
/// - AWS Sign-In (`login_session`, written by `aws login`): its token cache file,
///   `~/.aws/login/cache/<sha256 hex of the session ARN>.json` (or under
///   `AWS_LOGIN_CACHE_DIRECTORY`), for the same reason.
/// - web identity (`web_identity_token_file` in a profile, `AWS_WEB_IDENTITY_TOKEN_FILE`):
///   the token file's content (a new pod token is a new identity document).
/// - container credentials (`AWS_CONTAINER_CREDENTIALS_*`, EKS Pod Identity's
///   `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`): the variables and the token file's
///   content.
/// - `credential_process` and instance metadata: what they return is not read on the
///   hit path (running the process on every hit would cost more than the hit itself, and
///   may prompt). The key covers the command line (it is in the config file); the entry
///   records when the credentials it was fetched with expire and is never served past
///   that (see `Entry::trusted_until`); after switching identity behind the same command,
///   `cache clear` is the documented step (README, "The cache").
///
/// Computed once per run and profile (`SharedConfig::fingerprint`): one run has one
/// environment and one reading of the files.
pub fn fingerprint(
    env: &Env,
    files: &SharedConfig,
    profile: &str,
    deadline: Instant,
) -> Fingerprint {
    Fingerprint::from_bytes(files.fingerprint(profile, || compute(env, files, profile, deadline)))
}

/// The environment variables that decide who a run is: the one list. Each is read by a link
/// of aws-config's credential chain (or by the sign-in's own calls) to choose *whose*
/// credentials it gets; a variable not listed here may change how a call is made, never as
/// whom. Empty counts as unset, as in the SDKs.
pub const IDENTITY_VARS: &[&str] = &[
    // Static credentials, the chain's first link: "AWS access keys"
    // <https://docs.aws.amazon.com/sdkref/latest/guide/feature-static-credentials.html>.
    env::AWS_ACCESS_KEY_ID,
    env::AWS_SECRET_ACCESS_KEY,
    env::AWS_SESSION_TOKEN,
    // The profile and the files it is read from: "Location of the shared config and
    // credentials files" <https://docs.aws.amazon.com/sdkref/latest/guide/file-location.html>
    // and `AWS_PROFILE` <https://docs.aws.amazon.com/sdkref/latest/guide/file-format.html>.
    env::AWS_PROFILE,
    env::AWS_CONFIG_FILE,
    env::AWS_SHARED_CREDENTIALS_FILE,
    // Web identity (assume role with a web identity token from the environment): "Assume role
    // credential provider"
    // <https://docs.aws.amazon.com/sdkref/latest/guide/feature-assume-role-credentials.html>.
    env::AWS_ROLE_ARN,
    env::AWS_ROLE_SESSION_NAME,
    env::AWS_WEB_IDENTITY_TOKEN_FILE,
    // Containers (ECS task roles, EKS Pod Identity): "Container credential provider"
    // <https://docs.aws.amazon.com/sdkref/latest/guide/feature-container-credentials.html>.
    env::AWS_CONTAINER_CREDENTIALS_RELATIVE_URI,
    env::AWS_CONTAINER_CREDENTIALS_FULL_URI,
    env::AWS_CONTAINER_AUTHORIZATION_TOKEN,
    env::AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE,
    // Instance metadata: "IMDS credential provider"
    // <https://docs.aws.amazon.com/sdkref/latest/guide/feature-imds-credentials.html>.
    env::AWS_EC2_METADATA_DISABLED,
    env::AWS_EC2_METADATA_SERVICE_ENDPOINT,
    env::AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE,
    // The services that say who you are: STS (assume role, web identity), SSO (the portal's
    // GetRoleCredentials) and sso-oidc (the sign-in's CreateTokenWithIAM, SSO token refresh).
    // "Service-specific endpoints"
    // <https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html>.
    env::AWS_ENDPOINT_URL,
    env::AWS_ENDPOINT_URL_STS,
    env::AWS_ENDPOINT_URL_SSO,
    env::AWS_ENDPOINT_URL_SSO_OIDC,
    env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS,
    // AWS Sign-In (`login_session`, `aws login`): where its token cache lives (aws-config's
    // login provider reads it; see `login_cache_dir`).
    env::AWS_LOGIN_CACHE_DIRECTORY,
];

fn compute(env: &Env, files: &SharedConfig, profile: &str, deadline: Instant) -> [u8; 32] {
    let mut h = Sha256::new();
    // Only the variables that are set, each as its name and value (length-prefixed, in the
    // list's order, so no two environments hash alike): hashing every name of the list was a
    // fifth of a cache hit's instructions.
    for name in IDENTITY_VARS {
        if let Some(value) = env.get(name) {
            field(&mut h, name.as_bytes());
            field(&mut h, value.as_bytes());
        }
    }
    field(&mut h, env.get(env::HOME).unwrap_or_default().as_bytes());
    for snapshot in [&files.config, &files.credentials] {
        optional(&mut h, snapshot.bytes.as_deref().map(|b| b.as_slice()));
    }
    let mut outside: Vec<PathBuf> = [
        env::AWS_WEB_IDENTITY_TOKEN_FILE,
        env::AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE,
    ]
    .into_iter()
    .filter_map(|v| env.get(v).map(PathBuf::from))
    .collect();
    outside.extend(chain_files(env, files, profile));
    for path in outside {
        field(&mut h, path.as_os_str().as_encoded_bytes());
        // Only regular files: a pipe here would be consumed before aws-config reads it.
        let regular = std::fs::metadata(&path).is_ok_and(|m| m.is_file());
        let bytes = regular
            .then(|| small_file::read(&path, deadline).bytes())
            .flatten();
        optional(&mut h, bytes.as_deref().map(|b| b.as_slice()));
    }
    h.finalize().into()
}

/// The files outside the shared files that the profiles of `profile`'s `source_profile`
/// chain make aws-config read: SSO and sign-in token caches and web identity token files.
pub fn chain_files(env: &Env, files: &SharedConfig, profile: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut seen = Vec::new();
    let mut name = Some(profile.to_owned());
    while let Some(p) = name.take() {
        if seen.contains(&p) || seen.len() >= 16 {
            break;
        }
        let sso_id = match files.get(&p, "sso_session") {
            Some(session) => Some(session.to_owned()),
            None => files.get(&p, "sso_start_url").map(str::to_owned),
        };
        if let (Some(id), Some(home)) = (sso_id, env.home()) {
            out.push(sso_cache_file(&home, &id));
        }
        if let Some(session) = files.get(&p, "login_session")
            && let Some(dir) = login_cache_dir(env)
        {
            out.push(login_cache_file(&dir, session));
        }
        if let Some(f) = files.get(&p, "web_identity_token_file") {
            out.push(PathBuf::from(f));
        }
        name = files
            .get(&p, "source_profile")
            .filter(|_| files.get(&p, "role_arn").is_some())
            .map(str::to_owned);
        seen.push(p);
    }
    out
}

/// Where aws-config keeps the SSO token for a session name (or, for the legacy form, a start
/// URL): `~/.aws/sso/cache/<sha1 hex>.json`.
pub fn sso_cache_file(home: &std::path::Path, identifier: &str) -> PathBuf {
    use sha1::Digest as _;
    home.join(".aws/sso/cache").join(format!(
        "{}.json",
        hex::encode(sha1::Sha1::digest(identifier.as_bytes()))
    ))
}

/// Where aws-config's AWS Sign-In provider (`login_session`, written by `aws login`) keeps its
/// tokens: `AWS_LOGIN_CACHE_DIRECTORY`, else `~/.aws/login/cache`.
fn login_cache_dir(env: &Env) -> Option<PathBuf> {
    env.get(env::AWS_LOGIN_CACHE_DIRECTORY)
        .map(PathBuf::from)
        .or_else(|| env.home().map(|h| h.join(".aws/login/cache")))
}

/// The token file of a login session: `<dir>/<sha256 hex of the trimmed session ARN>.json`.
pub fn login_cache_file(dir: &std::path::Path, session: &str) -> PathBuf {
    dir.join(format!(
        "{}.json",
        hex::encode(Sha256::digest(session.trim().as_bytes()))
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(env: &Env) -> Fingerprint {
        let deadline = Instant::now() + std::time::Duration::from_secs(5);
        let files = SharedConfig::load(env, std::time::Duration::from_secs(5)).unwrap();
        fingerprint(env, &files, "default", deadline)
    }

    #[test]
    fn the_sso_caches_and_token_files_of_the_whole_source_profile_chain_are_covered() {
        let files = SharedConfig::from_texts(
            "[default]\nrole_arn = r\nsource_profile = mid\n\
             [profile mid]\nrole_arn = r2\nsource_profile = sso\nweb_identity_token_file = /t\n\
             [profile sso]\nsso_session = corp\nrole_arn = r3\nsource_profile = default\n\
             [profile legacy]\nsso_start_url = https://x/start\n",
            "",
        )
        .unwrap();
        let env = Env::from_pairs([("HOME", "/h")]);
        let files_of = |p| chain_files(&env, &files, p);
        let sso = sso_cache_file(std::path::Path::new("/h"), "corp");
        assert_eq!(
            sso.file_name().unwrap().to_str().unwrap(),
            // printf corp | sha1sum
            "ee0bfd2552fbd840c02cc48b6e823320543c450f.json"
        );
        assert_eq!(
            files_of("default"),
            [PathBuf::from("/t"), sso.clone()],
            "cycle stopped"
        );
        assert_eq!(
            files_of("legacy"),
            [sso_cache_file(
                std::path::Path::new("/h"),
                "https://x/start"
            )]
        );
    }

    #[test]
    fn the_sign_in_token_cache_is_covered_too() {
        // The file name aws-config's own test expects for this ARN.
        assert_eq!(
            login_cache_file(
                std::path::Path::new("/c"),
                " arn:aws:iam::0123456789012:user/Admin "
            )
            .to_str()
            .unwrap(),
            "/c/36db1d138ff460920374e4c3d8e01f53f9f73537e89c88d639f68393df0e2726.json"
        );
        let files = SharedConfig::from_texts(
            "[default]\nlogin_session = arn:aws:iam::0123456789012:user/Admin\n",
            "",
        )
        .unwrap();
        let env = Env::from_pairs([("AWS_LOGIN_CACHE_DIRECTORY", "/c")]);
        assert_eq!(chain_files(&env, &files, "default").len(), 1);
    }

    #[test]
    fn a_new_sso_login_changes_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        std::fs::create_dir_all(dir.path().join(".aws/sso/cache")).unwrap();
        std::fs::write(
            dir.path().join(".aws/config"),
            "[default]\nsso_session = corp\n",
        )
        .unwrap();
        let env = Env::from_pairs([("HOME", home)]);
        let cache = sso_cache_file(dir.path(), "corp");
        let before = fp(&env);
        std::fs::write(&cache, "{\"accessToken\":\"alice\"}").unwrap();
        let alice = fp(&env);
        std::fs::write(&cache, "{\"accessToken\":\"bob\"}").unwrap();
        assert_ne!(before, alice);
        assert_ne!(alice, fp(&env));
    }

    #[test]
    fn only_the_variables_that_decide_who_you_are_change_the_fingerprint() {
        let base = [("HOME", "/nonexistent-home"), ("AWS_ACCESS_KEY_ID", "AKID")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            fp(&Env::from_pairs(pairs))
        };
        let plain = with(&[]);
        for harmless in [
            ("AWS_DATA_PATH", "/usr/share/awscli/data"),
            ("AWS_MAX_ATTEMPTS", "5"),
            ("AWS_RETRY_MODE", "adaptive"),
            ("AWS_REGION", "eu-west-1"),
            ("AWS_SDK_UA_APP_ID", "bi-tool"),
            ("AWS_ENDPOINT_URL_REDSHIFT", "http://127.0.0.1:9"),
        ] {
            assert_eq!(with(&[harmless]), plain, "{harmless:?}");
        }
        for name in IDENTITY_VARS {
            assert_ne!(with(&[(name, "/x")]), plain, "{name}");
        }
        assert_eq!(with(&[("AWS_ROLE_ARN", "")]), plain, "empty is unset");
    }

    #[test]
    fn config_file_contents_change_the_fingerprint() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        let path = cfg.to_str().unwrap();
        let env = Env::from_pairs([("AWS_CONFIG_FILE", path)]);
        let missing = fp(&env);
        std::fs::write(&cfg, "").unwrap();
        let empty = fp(&env);
        std::fs::write(&cfg, "[default]\nrole_arn=x\n").unwrap();
        let role = fp(&env);
        assert_ne!(missing, empty);
        assert_ne!(empty, role);
        assert_eq!(role, fp(&env));
    }
}
