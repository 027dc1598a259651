//! The AWS boundary: everything that talks to AWS or decides what aws-config would do.
//!
//! - `config/`: what aws-config resolves from the shared files and the environment (profiles,
//!   regions, SDK settings, the credential chain's inputs), read once per run, offline;
//! - `runtime`: the one tokio runtime and time limit every call runs under;
//! - `redshift`: the two `GetIdentityCenterAuthToken` calls ([`redshift::Fetch`]);
//! - `identity_center`: sso-oidc and STS for the sign-in ([`identity_center::IdentityCenter`]);
//! - `credentials`: resolved credentials and their failures;
//! - `errors`: SDK errors in words, by AWS error code.
//!
//! The traits are the boundary: the policy above (`serve`, `signin`) talks only to them and is
//! tested with fakes. Nothing here knows the cache, the command line or the output formats.

pub mod config;
pub mod credentials;
pub mod endpoint;
pub mod errors;
pub mod identity_center;
pub mod redshift;
pub mod runtime;
pub mod sso_oidc;

use std::time::{Duration, Instant};

use crate::target::{Service, Targets};
use config::shared_config::SharedConfig;

/// One call to make, with what it needs of the run's settings (the policy builds it from
/// the validated request, so this boundary never sees a raw flag).
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub targets: &'a Targets,
    pub region: &'a str,
    /// The profile explicitly chosen, if any (aws-config's default otherwise).
    pub profile: Option<&'a str>,
    /// An endpoint override, if any.
    pub endpoint: Option<&'a str>,
    /// The shared files as read once for the run.
    pub files: &'a SharedConfig,
    /// `--timeout`, for messages.
    pub timeout: Duration,
    /// The whole run's deadline (`--timeout`); the call must give up by then.
    pub deadline: Instant,
}

impl Call<'_> {
    pub fn service(&self) -> Service {
        self.targets.service()
    }
}
