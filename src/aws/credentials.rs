//! AWS credentials: what aws-config's chain resolved (for `doctor`, without secrets), the
//! chain's failures in fix terms, and the identity-enhanced role credentials of a sign-in.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_types::SdkConfig;
use tracing::debug;

use super::errors::chain;
use crate::error::{Error, one_line};
use crate::token::Secret;

/// What the credential chain resolved, without any secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialsInfo {
    pub access_key_id: String,
    /// A session token came with the keys (temporary credentials).
    pub temporary: bool,
    pub expiry: Option<SystemTime>,
    /// The provider, as the SDK itself reported it on the credentials (if it did).
    pub reported_source: Option<&'static str>,
}

/// Resolves credentials the way a token run does (aws-config's default chain), for `doctor`.
pub trait ProbeCredentials {
    fn credentials(&self, call: super::Call<'_>) -> Result<CredentialsInfo, Error>;
}

/// The credentials of `config`'s provider (aws-config's chain), each failure with its error.
pub async fn chain_credentials(config: &SdkConfig, timeout: u64) -> Result<Credentials, Error> {
    let provider = config
        .credentials_provider()
        .ok_or_else(|| Error::NoCredentials {
            detail: "no credential provider configured".into(),
        })?;
    provider
        .provide_credentials()
        .await
        .map_err(|e| credentials_error(e, timeout))
}

/// The provider named by the SDK's credential feature ids; the outermost provider wins (a
/// role assumed from an SSO profile is "assume role").
pub fn reported_source(features: &[AwsCredentialFeature]) -> Option<&'static str> {
    use AwsCredentialFeature as F;
    let has = |f: &[F]| features.iter().any(|x| f.contains(x));
    let order: [(&[F], &'static str); 8] = [
        (
            &[F::CredentialsStsAssumeRole, F::CredentialsStsAssumeRoleSaml],
            "assume role",
        ),
        (
            &[
                F::CredentialsStsAssumeRoleWebId,
                F::CredentialsEnvVarsStsWebIdToken,
                F::CredentialsProfileStsWebIdToken,
            ],
            "web identity",
        ),
        (
            &[F::CredentialsSso, F::CredentialsProfileSso],
            "IAM Identity Center (SSO)",
        ),
        (
            &[F::CredentialsProcess, F::CredentialsProfileProcess],
            "credential_process",
        ),
        (&[F::CredentialsEnvVars], "environment variables"),
        (&[F::CredentialsProfile], "shared credentials file"),
        (&[F::CredentialsHttp], "container metadata"),
        (&[F::CredentialsImds], "instance metadata"),
    ];
    order
        .into_iter()
        .find(|(f, _)| has(f))
        .map(|(_, name)| name)
}

pub fn credentials_error(e: CredentialsError, timeout: u64) -> Error {
    let detail = one_line(&chain(&e));
    debug!(%detail, "credential provider failed");
    match e {
        CredentialsError::CredentialsNotLoaded(_) => Error::NoCredentials { detail },
        CredentialsError::ProviderTimedOut(_) => Error::Timeout {
            seconds: timeout,
            during: "resolving AWS credentials",
        },
        _ => Error::CredentialsProvider { detail },
    }
}

/// Identity-enhanced role credentials from AssumeRole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleCredentials {
    pub access_key_id: String,
    pub secret_access_key: Secret,
    pub session_token: Secret,
    pub expiration: SystemTime,
}

impl RoleCredentials {
    /// The credentials as the AWS SDK takes them.
    pub fn to_sdk(&self) -> aws_credential_types::Credentials {
        aws_credential_types::Credentials::new(
            self.access_key_id.clone(),
            self.secret_access_key.expose().to_owned(),
            Some(self.session_token.expose().to_owned()),
            Some(self.expiration),
            "redshift-idc-token sign-in",
        )
    }
}
