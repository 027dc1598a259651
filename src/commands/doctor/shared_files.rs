//! The selected profile's sections of the shared config and credentials files, and the
//! `profile` step that reports them.
//!
//! Why it exists: a misspelt or undefined profile is silently empty to the AWS SDK; reading
//! the two files once here lets the `profile` step say so, and lets the credentials step infer
//! where the SDK will look, while only key names (never values of secrets) are ever shown.

use std::path::PathBuf;

use super::report::{Status, Step};
use crate::aws::config::profile::{self, FileKind};
use crate::aws::config::shared_config::SharedConfig;
use crate::settings::TokenRequest;

/// The selected profile's keys in the two shared files (names only are ever shown).
#[derive(Debug, Default)]
pub(super) struct SharedFiles {
    config_path: Option<PathBuf>,
    config_exists: bool,
    /// The profile's section in the config file: its keys (lower case) and values.
    config: Option<Vec<(String, String)>>,
    credentials_path: Option<PathBuf>,
    credentials_exists: bool,
    credentials: Option<Vec<(String, String)>>,
}

impl SharedFiles {
    /// The profile's sections in the files as the run read them (once: a FIFO or a pipe
    /// is not read again here).
    pub(super) fn read(files: &SharedConfig, profile: &str) -> SharedFiles {
        SharedFiles {
            config_exists: files.config.exists(),
            config: profile::section(files.config.text(), profile, FileKind::Config),
            config_path: files.config.path.clone(),
            credentials_exists: files.credentials.exists(),
            credentials: profile::section(files.credentials.text(), profile, FileKind::Credentials),
            credentials_path: files.credentials.path.clone(),
        }
    }

    pub(super) fn config_has(&self, key: &str) -> bool {
        has_key(self.config.as_deref(), key)
    }

    pub(super) fn credentials_has(&self, key: &str) -> bool {
        has_key(self.credentials.as_deref(), key)
    }

    pub(super) fn has(&self, key: &str) -> bool {
        self.config_has(key) || self.credentials_has(key)
    }

    pub(super) fn value(&self, key: &str) -> Option<&str> {
        [&self.credentials, &self.config]
            .into_iter()
            .flatten()
            .flat_map(|s| s.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn has_key(section: Option<&[(String, String)]>, key: &str) -> bool {
    section.is_some_and(|s| s.iter().any(|(k, v)| k == key && !v.is_empty()))
}

pub(super) fn profile_step(req: &TokenRequest, files: &SharedFiles) -> Step {
    let name = req.profile_name();
    let (chosen, from) = match &req.profile {
        Some(p) => (true, p.from),
        None => (false, "default"),
    };
    let file_state = |path: &Option<PathBuf>, exists: bool| match path {
        Some(p) => format!(
            "{} ({})",
            crate::target::printable(&p.display().to_string()),
            if exists { "exists" } else { "missing" }
        ),
        None => "unknown (no home directory)".to_owned(),
    };
    let defined = files.config.is_some() || files.credentials.is_some();
    let mut step = Step::new(
        "profile",
        Status::Ok,
        format!(
            "{name} ({}){}",
            if chosen {
                format!("from {from}")
            } else {
                "no --profile or AWS_PROFILE".to_owned()
            },
            match (defined, chosen) {
                (true, _) => "",
                (false, false) => ", not defined in the shared files",
                (false, true) => ", NOT defined in the shared files",
            }
        ),
    )
    .detail("profile", name)
    .detail("from", from)
    .detail("defined", defined)
    .note(
        "config_file",
        file_state(&files.config_path, files.config_exists),
    )
    .note(
        "credentials_file",
        file_state(&files.credentials_path, files.credentials_exists),
    );
    if chosen && !defined {
        step.status = Status::Warn;
        step.fix = Some(format!(
            "add [profile {name}] to the config file (see plugin-config/aws/config.example), or fix the name given with {from}"
        ));
    }
    step
}
