//! Access-token mode: one sign-in for the drivers' common Identity Center setup.
//!
//! Most Redshift users of IAM Identity Center have a Redshift Identity Center application and
//! use the drivers' `BrowserIdcAuthPlugin` (`issuer_url` + `idc_region`), which opens a browser
//! window for every connection and caches nothing. This mode does what that plugin does once
//! (register a public client for `redshift:connect`, sign in in the browser or with a device
//! code, `CreateToken`), keeps the access token and its refresh token in the cache, renews it
//! silently, and hands every driver the access token with `token_type=ACCESS_TOKEN`. Or it
//! reuses the AWS CLI's own sso-session token (`aws sso login --sso-session X`).
//!
//! Files: `config` (settings and the mode), `session` (the cached entry and its key), `flow`
//! (the policy, tested with fakes), `sso_session` (the AWS CLI's token). The sso-oidc calls
//! are at the AWS boundary (`aws::sso_oidc`); the browser side is the sign-in's.

pub mod config;
pub mod flow;
pub mod listing;
pub mod session;
pub mod sso_session;

use std::time::{Duration, SystemTime};

use crate::aws::config::shared_config::SharedConfig;
use crate::aws::sso_oidc::AwsSsoOidc;
use crate::cache::Cache;
use crate::env::Env;
use crate::error::{Error, SigninError};
use crate::signin::browser::BrowserCommand;
use crate::signin::loopback::Loopback;
use crate::signin::{Origin, Want};
use config::{AccessConfig, Source};
use session::{AccessKey, AccessSession};

/// The client name sso-oidc shows for our registrations.
pub const CLIENT_NAME: &str = "redshift-idc-token";

/// One run's access-token settings and bounds.
pub struct Access<'a> {
    pub config: &'a AccessConfig,
    /// `--timeout`: the bound of each network call.
    pub call_timeout: Duration,
    /// `--min-validity`.
    pub min_validity: Duration,
    pub env: &'a Env,
    pub files: &'a SharedConfig,
}

impl Access<'_> {
    fn store(&self, cache: Option<&Cache>) -> Option<crate::cache::Store> {
        cache.and_then(|c| match c.store(&session::store_name()) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("{e}; signing in without the cache");
                None
            }
        })
    }

    /// The cached session, fresh or not, without the network.
    pub fn cached(&self, cache: Option<&Cache>) -> Option<AccessSession> {
        let store = self.store(cache)?;
        flow::cached(Some(&store), &AccessKey::new(self.config))
    }

    /// The AWS CLI's token for an sso-session, if its cache holds a fresh one (no network).
    pub fn cached_cli_token(&self) -> Result<AccessSession, Error> {
        let Source::SsoSession { name, start_url } = &self.config.source else {
            return Err(Error::Internal("not an sso-session".into()));
        };
        sso_session::cached(&self.sso_request(name, start_url)).ok_or_else(|| {
            SigninError::SsoSessionToken {
                session: name.clone(),
                detail: "no fresh token in its cache".into(),
            }
            .into()
        })
    }

    fn sso_request<'b>(&'b self, name: &'b str, start_url: &'b str) -> sso_session::Request<'b> {
        sso_session::Request {
            key: AccessKey::new(self.config),
            name,
            start_url,
            region: &self.config.idc_region,
            files: self.files,
            profile: &self.config.profile,
            timeout: self.call_timeout,
            min_validity: self.min_validity,
            home: self.env.home(),
        }
    }

    /// A usable access token: cached, renewed, signed in, or the AWS CLI's.
    pub fn token(
        &self,
        cache: Option<&Cache>,
        want: Want,
    ) -> Result<(AccessSession, Origin), Error> {
        let cfg = self.config;
        let store = self.store(cache);
        match &cfg.source {
            Source::SsoSession { name, start_url } => {
                sso_session::token(&self.sso_request(name, start_url), store.as_ref())
            }
            Source::SignIn { issuer_url, .. } => {
                let oidc = AwsSsoOidc {
                    region: cfg.idc_region.clone(),
                    issuer_url: issuer_url.clone(),
                    client_name: CLIENT_NAME.to_owned(),
                    timeout: self.call_timeout,
                    files: self.files.clone(),
                    profile: cfg.profile.clone(),
                };
                let opener = BrowserCommand {
                    hook: cfg.browser.clone(),
                };
                let authorizer = Loopback {
                    port: cfg.listen_port,
                    opener: &opener,
                    timeout_seconds: cfg.signin_timeout.as_secs(),
                };
                let endpoint =
                    crate::signin::oidc_authorize_endpoint(None, &cfg.idc_region, self.env);
                flow::token(
                    &flow::Plan {
                        config: cfg,
                        authorize_endpoint: &endpoint,
                        call_timeout: self.call_timeout,
                        min_validity: self.min_validity,
                    },
                    &flow::Deps {
                        oidc: &oidc,
                        authorizer: &authorizer,
                        store: store.as_ref(),
                        clock: &SystemTime::now,
                        tell: &|line| {
                            use std::io::Write as _;
                            let _ = writeln!(std::io::stderr(), "{line}");
                        },
                    },
                    want,
                )
            }
        }
    }
}
