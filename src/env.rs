//! Every environment variable the program reads, by name, and a snapshot of the environment
//! taken once at start-up.
//!
//! Code below `main` never calls `std::env::var`: it gets an `Env` value, so tests can hand it
//! any environment, and what the program depends on is listed here in one place.

use std::collections::BTreeMap;
use std::path::PathBuf;

pub const AWS_PROFILE: &str = "AWS_PROFILE";
pub const AWS_REGION: &str = "AWS_REGION";
pub const AWS_DEFAULT_REGION: &str = "AWS_DEFAULT_REGION";
pub const AWS_CONFIG_FILE: &str = "AWS_CONFIG_FILE";
pub const AWS_SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
pub const AWS_ENDPOINT_URL: &str = "AWS_ENDPOINT_URL";
pub const AWS_ENDPOINT_URL_REDSHIFT: &str = "AWS_ENDPOINT_URL_REDSHIFT";
pub const AWS_ENDPOINT_URL_REDSHIFT_SERVERLESS: &str = "AWS_ENDPOINT_URL_REDSHIFT_SERVERLESS";
pub const AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: &str = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS";
pub const AWS_EC2_METADATA_DISABLED: &str = "AWS_EC2_METADATA_DISABLED";
pub const AWS_WEB_IDENTITY_TOKEN_FILE: &str = "AWS_WEB_IDENTITY_TOKEN_FILE";
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// Select the container credential provider (read only to explain where credentials come from).
pub const AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: &str = "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI";
pub const AWS_CONTAINER_CREDENTIALS_FULL_URI: &str = "AWS_CONTAINER_CREDENTIALS_FULL_URI";
/// EKS Pod Identity's token file for the container provider (part of the identity).
pub const AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE";
/// Where aws-config's AWS Sign-In provider keeps its tokens (part of the identity).
pub const AWS_LOGIN_CACHE_DIRECTORY: &str = "AWS_LOGIN_CACHE_DIRECTORY";
// The rest of what decides an identity (see `aws::config::chain::IDENTITY_VARS`).
pub const AWS_ROLE_ARN: &str = "AWS_ROLE_ARN";
pub const AWS_ROLE_SESSION_NAME: &str = "AWS_ROLE_SESSION_NAME";
pub const AWS_CONTAINER_AUTHORIZATION_TOKEN: &str = "AWS_CONTAINER_AUTHORIZATION_TOKEN";
pub const AWS_EC2_METADATA_SERVICE_ENDPOINT: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT";
pub const AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE: &str = "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE";
pub const AWS_ENDPOINT_URL_STS: &str = "AWS_ENDPOINT_URL_STS";
pub const AWS_ENDPOINT_URL_SSO: &str = "AWS_ENDPOINT_URL_SSO";
pub const HOME: &str = "HOME";
/// Overrides the cache directory (as `--cache-dir` does).
pub const CACHE_DIR: &str = "REDSHIFT_IDC_TOKEN_CACHE_DIR";
// Sign-in settings (each overrides its `redshift_idc_*` key in the profile; see signin/config.rs).
pub const SIGNIN_APPLICATION_ARN: &str = "REDSHIFT_IDC_TOKEN_APPLICATION_ARN";
pub const SIGNIN_ROLE_ARN: &str = "REDSHIFT_IDC_TOKEN_ROLE_ARN";
pub const SIGNIN_KIND: &str = "REDSHIFT_IDC_TOKEN_SIGNIN";
pub const SIGNIN_JWT_COMMAND: &str = "REDSHIFT_IDC_TOKEN_JWT_COMMAND";
pub const SIGNIN_JWT_FILE: &str = "REDSHIFT_IDC_TOKEN_JWT_FILE";
/// The default variable holding the JWT itself (`redshift_idc_jwt_env` names another).
pub const SIGNIN_JWT: &str = "REDSHIFT_IDC_TOKEN_JWT";
pub const SIGNIN_IDC_REGION: &str = "REDSHIFT_IDC_TOKEN_IDC_REGION";
pub const SIGNIN_ISSUER_URL: &str = "REDSHIFT_IDC_TOKEN_ISSUER_URL";
pub const SIGNIN_START_URL: &str = "REDSHIFT_IDC_TOKEN_START_URL";
pub const SIGNIN_SSO_SESSION: &str = "REDSHIFT_IDC_TOKEN_SSO_SESSION";
pub const SIGNIN_AUTHORIZE_URL: &str = "REDSHIFT_IDC_TOKEN_AUTHORIZE_URL";
pub const SIGNIN_SCOPES: &str = "REDSHIFT_IDC_TOKEN_SCOPES";
pub const SIGNIN_BOOTSTRAP_PROFILE: &str = "REDSHIFT_IDC_TOKEN_BOOTSTRAP_PROFILE";
pub const SIGNIN_SESSION_DURATION: &str = "REDSHIFT_IDC_TOKEN_SESSION_DURATION";
pub const SIGNIN_LISTEN_PORT: &str = "REDSHIFT_IDC_TOKEN_LISTEN_PORT";
pub const SIGNIN_TIMEOUT: &str = "REDSHIFT_IDC_TOKEN_SIGNIN_TIMEOUT";
/// The browser hook: a command line the sign-in URL is appended to, or `none`.
pub const SIGNIN_BROWSER: &str = "REDSHIFT_IDC_TOKEN_BROWSER";
pub const SIGNIN_NO_BROWSER: &str = "REDSHIFT_IDC_TOKEN_NO_BROWSER";
/// Where refresh tokens go: `auto`, `keyring` or `file` (`redshift_idc_secret_store`).
pub const SECRET_STORE: &str = "REDSHIFT_IDC_TOKEN_SECRET_STORE";
pub const AWS_ENDPOINT_URL_SSO_OIDC: &str = "AWS_ENDPOINT_URL_SSO_OIDC";
/// A `tracing` filter for diagnostics beyond `-v`/`-vv` (e.g. `aws_config=debug`).
pub const LOG: &str = "REDSHIFT_IDC_TOKEN_LOG";

/// The process environment, as read once at start-up (variables that are not UTF-8 are
/// ignored, as the AWS SDK ignores them).
#[derive(Debug, Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

impl Env {
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
        }
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    /// A variable's value; empty values count as unset, as in the AWS SDKs.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn is_true(&self, name: &str) -> bool {
        self.get(name)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub fn home(&self) -> Option<PathBuf> {
        self.get(HOME).map(PathBuf::from)
    }

    /// The shared config file, as the SDK finds it.
    pub fn config_file(&self) -> Option<PathBuf> {
        self.get(AWS_CONFIG_FILE)
            .map(expand_home(self))
            .or_else(|| self.home().map(|h| h.join(".aws").join("config")))
    }

    /// The shared credentials file, as the SDK finds it.
    pub fn credentials_file(&self) -> Option<PathBuf> {
        self.get(AWS_SHARED_CREDENTIALS_FILE)
            .map(expand_home(self))
            .or_else(|| self.home().map(|h| h.join(".aws").join("credentials")))
    }
}

fn expand_home(env: &Env) -> impl Fn(&str) -> PathBuf + '_ {
    move |p| match (p.strip_prefix("~/"), env.home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(p),
    }
}
