//! The shared AWS config and credentials files, read once per run and parsed by aws-config's
//! own parser; the same bytes feed our region and endpoint lookup, the cache fingerprint and
//! the SDK.
//!
//! Why it exists: reading the files in three places (our reader, the fingerprint, aws-config)
//! had three costs. A FIFO or `<(...)` pipe was read more than once (the second reader got
//! nothing, or blocked forever); our reader's comment rules differed from aws-config's, so a
//! value like `region = eu-west-1 ; Ireland` meant two things; and a `region` in the
//! credentials file or an `endpoint_url`/`services` setting was used by the SDK but invisible
//! to us. Here the files are read without blocking ([`crate::small_file`]), parsed with
//! `aws_config::profile::load` (the parser the SDK uses), and handed to aws-config as
//! contents, so it never opens them itself.

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::profile::ProfileSet;
use aws_runtime::env_config::file::{
    EnvConfigFileKind as ProfileFileKind, EnvConfigFiles as ProfileFiles,
};
use zeroize::Zeroizing;

use crate::env::Env;
use crate::error::Error;
use crate::small_file::{self, Contents};
use crate::target::{Service, printable};

/// One of the two files as read this run.
#[derive(Clone, Default)]
pub struct FileSnapshot {
    pub path: Option<PathBuf>,
    /// The bytes, `None` when the file is missing or was not read.
    pub bytes: Option<Arc<Zeroizing<Vec<u8>>>>,
    /// Why an existing file was not read (not a regular file, too large, ...).
    pub problem: Option<&'static str>,
}

impl FileSnapshot {
    /// `None` when the file is a pipe that did not finish before `deadline`.
    fn read(path: Option<PathBuf>, deadline: Instant) -> Option<Self> {
        let Some(p) = path else {
            return Some(FileSnapshot::default());
        };
        let (bytes, problem) = match small_file::read(&p, deadline) {
            Contents::Bytes(b) => (Some(Arc::new(b)), None),
            Contents::Missing => (None, None),
            Contents::Unusable(why) => (None, Some(why)),
            Contents::TimedOut => return None,
        };
        Some(FileSnapshot {
            path: Some(p),
            bytes,
            problem,
        })
    }

    /// The text as aws-config takes it: a file that is not UTF-8 counts as empty.
    pub fn text(&self) -> &str {
        self.bytes
            .as_deref()
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or_default()
    }

    pub fn exists(&self) -> bool {
        self.bytes.is_some()
    }
}

/// Both shared files and their parse.
#[derive(Clone, Default)]
pub struct SharedConfig {
    pub config: FileSnapshot,
    pub credentials: FileSnapshot,
    parsed: Arc<ProfileSet>,
    /// Identity fingerprints already computed from these files this run, by profile (see
    /// `aws::config::chain::fingerprint`): a signed-in hit needs the same one for the session and for
    /// the token, and a miss twice more; the inputs do not change within a run.
    fingerprints: Arc<Mutex<Vec<(String, Digest)>>>,
}

/// A SHA-256 digest.
type Digest = [u8; 32];

/// The files hold secrets (keys in the credentials file): never print their contents.
impl std::fmt::Debug for SharedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedConfig")
            .field("config", &self.config.path)
            .field("credentials", &self.credentials.path)
            .finish_non_exhaustive()
    }
}

/// The source of an endpoint from the profile's `services` section.
pub const ENDPOINT_FROM_SERVICES: &str = "profile services section";
/// The source of an endpoint from the profile's `endpoint_url`.
pub const ENDPOINT_FROM_PROFILE: &str = "profile endpoint_url";

/// Where a profile value was found, for messages: "the profile dev".
pub fn profile_origin(profile: &str) -> String {
    format!("the profile {}", printable(profile))
}

impl SharedConfig {
    /// Reads the two files the SDK would read (`AWS_CONFIG_FILE`, `AWS_SHARED_CREDENTIALS_FILE`
    /// or their `~/.aws` defaults), waiting for a pipe at most `timeout`, and parses
    /// them. A file aws-config could not parse is a usage error, as it makes every AWS
    /// setting of the run unknowable.
    pub fn load(env: &Env, timeout: Duration) -> Result<Self, Error> {
        let deadline = Instant::now() + timeout;
        let read = |path| {
            FileSnapshot::read(path, deadline).ok_or(Error::Timeout {
                seconds: timeout.as_secs(),
                during: "reading the shared AWS config and credentials files (a pipe that was never closed)",
            })
        };
        let config = read(env.config_file())?;
        let credentials = read(env.credentials_file())?;
        let parsed = parse(config.text(), credentials.text()).map_err(|e| {
            // The parser does not know the path of contents: find which file it was.
            let culprit = if parse(config.text(), "").is_err() {
                &config
            } else {
                &credentials
            };
            let path = culprit.path.as_ref().map_or_else(
                || "the shared AWS config".to_owned(),
                |p| printable(&p.display().to_string()),
            );
            let detail = e
                .split_once(" on line ")
                .map_or(e.clone(), |(_, rest)| format!("line {rest}"));
            Error::Unparsable {
                path,
                detail: crate::error::one_line(&detail),
                fix: "fix the file (the AWS SDKs refuse it too)",
            }
        })?;
        Ok(SharedConfig {
            config,
            credentials,
            parsed: Arc::new(parsed),
            fingerprints: Arc::default(),
        })
    }

    /// The fingerprint of `profile`'s credential chain, computed at most once per run.
    pub(crate) fn fingerprint(
        &self,
        profile: &str,
        compute: impl FnOnce() -> [u8; 32],
    ) -> [u8; 32] {
        let known =
            |memo: &[(String, [u8; 32])]| memo.iter().find(|(p, _)| p == profile).map(|(_, f)| *f);
        if let Some(f) = self.fingerprints.lock().ok().and_then(|m| known(&m)) {
            return f;
        }
        let f = compute();
        if let Ok(mut memo) = self.fingerprints.lock() {
            memo.push((profile.to_owned(), f));
        }
        f
    }

    /// Parses given texts (for tests).
    pub fn from_texts(config: &str, credentials: &str) -> Result<Self, String> {
        let snapshot = |t: &str| FileSnapshot {
            path: None,
            bytes: Some(Arc::new(Zeroizing::new(t.as_bytes().to_vec()))),
            problem: None,
        };
        Ok(SharedConfig {
            config: snapshot(config),
            credentials: snapshot(credentials),
            parsed: Arc::new(parse(config, credentials)?),
            fingerprints: Arc::default(),
        })
    }

    /// A profile's setting, merged over both files as aws-config merges them (empty values
    /// count as unset).
    pub fn get(&self, profile: &str, key: &str) -> Option<&str> {
        self.parsed
            .get_profile(profile)
            .and_then(|p| p.get(key))
            .filter(|v| !v.is_empty())
    }

    /// Whether the profile is defined in either file.
    pub fn has_profile(&self, profile: &str) -> bool {
        self.parsed.get_profile(profile).is_some()
    }

    /// A setting of an `[sso-session NAME]` section.
    pub fn sso_session(&self, name: &str, key: &str) -> Option<&str> {
        self.parsed.sso_session(name).and_then(|s| s.get(key))
    }

    /// The endpoint the profile configures for `service`, as aws-config resolves it: the
    /// `services` section's `<service> = endpoint_url = ...` first, then `endpoint_url`.
    pub fn endpoint(&self, profile: &str, service: Service) -> Option<(String, &'static str)> {
        if self
            .get(profile, "ignore_configured_endpoint_urls")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return None;
        }
        if let Some(section) = self.get(profile, "services") {
            let key = aws_runtime::env_config::property::PropertiesKey::builder()
                .section_key("services")
                .section_name(section)
                .property_name(service.name())
                .sub_property_name("endpoint_url")
                .build()
                .ok()?;
            if let Some(v) = self.parsed.other_sections().get(&key) {
                return Some((v.clone(), ENDPOINT_FROM_SERVICES));
            }
        }
        self.get(profile, "endpoint_url")
            .map(|v| (v.to_owned(), ENDPOINT_FROM_PROFILE))
    }

    /// The files as aws-config takes them: contents only, so it never opens a file itself.
    pub fn profile_files(&self) -> ProfileFiles {
        ProfileFiles::builder()
            .with_contents(ProfileFileKind::Config, self.config.text())
            .with_contents(ProfileFileKind::Credentials, self.credentials.text())
            .build()
    }
}

/// `aws_config::profile::load` over in-memory contents. It is an `async fn` only because it
/// can read files; given contents it finishes on the first poll, so no runtime is needed
/// (the cache-hit path never starts one).
fn parse(config: &str, credentials: &str) -> Result<ProfileSet, String> {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    let files = ProfileFiles::builder()
        .with_contents(ProfileFileKind::Config, config)
        .with_contents(ProfileFileKind::Credentials, credentials)
        .build();
    let fs = aws_types::os_shim_internal::Fs::from_slice(&[]);
    let env = aws_types::os_shim_internal::Env::from_slice(&[]);
    let fut = aws_config::profile::load(&fs, &env, &files, Some(Cow::Borrowed("default")));
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(Ok(set)) => Ok(set),
        Poll::Ready(Err(e)) => Err(match std::error::Error::source(&e) {
            Some(cause) => format!("{e}: {cause}"),
            None => e.to_string(),
        }),
        Poll::Pending => Err("the profile parser did not finish".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_merging_and_endpoints_follow_aws_config() {
        let c = SharedConfig::from_texts(
            "[default]\nregion = eu-west-1 ; Ireland\n[profile a]\nregion = eu-west-1;x\nservices = s\n[services s]\nredshift =\n  endpoint_url = http://r\n[profile b]\nendpoint_url = http://b # c\n",
            "[c]\nregion = ap-south-1\n",
        )
        .unwrap();
        assert_eq!(c.get("default", "region"), Some("eu-west-1"));
        assert_eq!(c.get("a", "region"), Some("eu-west-1;x"));
        assert_eq!(c.get("c", "region"), Some("ap-south-1"), "credentials file");
        assert_eq!(
            c.endpoint("a", Service::Redshift).unwrap().0,
            "http://r".to_owned()
        );
        assert_eq!(c.endpoint("a", Service::Serverless), None);
        assert_eq!(c.endpoint("b", Service::Serverless).unwrap().0, "http://b");
        assert!(SharedConfig::from_texts("region = x\n", "").is_err());
    }
}
