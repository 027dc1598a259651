//! Sign in once: identity-enhanced role credentials built in (trusted identity propagation).
//!
//! `GetIdentityCenterAuthToken` needs role credentials that carry an Identity Center identity
//! context, which no AWS CLI or SDK configuration produces. This module makes them, following
//! the IAM Identity Center user guide's "Identity-enhanced IAM role sessions"
//! (<https://docs.aws.amazon.com/singlesignon/latest/userguide/trustedidentitypropagation-identity-enhanced-iam-role-sessions.html>):
//!
//! 1. an Identity Center token for the person from sso-oidc `CreateTokenWithIAM`
//!    (<https://docs.aws.amazon.com/singlesignon/latest/OIDCAPIReference/API_CreateTokenWithIAM.html>),
//!    signed with *bootstrap* credentials from the ordinary chain, with one of three grants:
//!    - `jwt`: `urn:ietf:params:oauth:grant-type:jwt-bearer` with a JWT of a trusted token
//!      issuer, `clientId` = the customer managed application's ARN;
//!    - `browser`: `authorization_code` with PKCE. The customer managed application's
//!      AuthorizationCode grant lists the redirect URIs Identity Center may send the code to
//!      (sso-admin `PutApplicationGrant`, `AuthorizationCodeGrant.RedirectUris`:
//!      <https://docs.aws.amazon.com/singlesignon/latest/APIReference/API_AuthorizationCodeGrant.html>),
//!      and `CreateTokenWithIAM` takes that code "obtained through a redirect from IAM Identity
//!      Center to a redirect URI persisted in the Authorization Code GrantOptions for the
//!      application" with `redirectUri` and `codeVerifier`. So the code goes straight to
//!      `CreateTokenWithIAM` for the application: one call, no client registration, and the
//!      ID token comes back with the identity context. The drivers' BrowserIdcAuthPlugin
//!      (aws/amazon-redshift-python-driver `redshift_connector/plugin/browser_idc_auth_plugin.py`,
//!      aws/amazon-redshift-jdbc-driver `BrowserIdcAuthPlugin.java`) shows the browser side we
//!      follow: a loopback listener on 127.0.0.1 (default port 7890), `state`, an S256 code
//!      challenge, and `/authorize?response_type=code&client_id=…&redirect_uri=…&state=…&
//!      code_challenge=…&code_challenge_method=S256&scopes=…`; the drivers then call
//!      `RegisterClient` + `CreateToken`, which yields an access token for Redshift but no
//!      identity context, so that second half is not what identity-enhanced sessions need
//!      (the token-exchange grant would need exactly that extra client and call);
//!    - `refresh`: `refresh_token`, renewing a signed-in person silently until the session ends.
//! 2. STS `AssumeRole` of the configured role with
//!    `ProvidedContexts=[{ProviderArn: arn:aws:iam::aws:contextProvider/IdentityCenter,
//!    ContextAssertion: <identity context>}]`, signed with the bootstrap credentials
//!    (<https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html>).
//! 3. `GetIdentityCenterAuthToken` with those role credentials, as without sign-in.
//!
//! Files: `config` (settings), `flow` (the policy, tested with fakes), `service` (the traits
//! at the network boundary), `aws` (the SDK implementation), `loopback` + `browser` + `pkce`
//! (the browser side), `jwt` (JWT sources and claims), `session` (the cached session),
//! `commands` (`login`, `logout`, `credentials`), `error`.

// The browser side (`browser`, `loopback`, `pkce`, `service`) serves the access-token mode
// too, which is why it is public.
pub mod browser;
pub mod config;
mod flow;
mod jwt;
pub mod loopback;
pub mod pkce;
pub mod service;
pub mod session;

use std::time::{Duration, SystemTime};

pub use config::{SigninConfig, SigninKind};
pub use flow::{Origin, Want};
pub use session::{RoleCredentials, Session};

// The sign-in's own files name these as their neighbours.
use crate::base64url;
use crate::error::SigninError;

use crate::aws::config::shared_config::SharedConfig;
use crate::aws::identity_center::AwsIdentityCenter;
use crate::cache::Cache;
use crate::env::{self, Env};
use crate::error::Error;

/// Where a run signs in: the settings and the regions and bounds that apply.
pub struct Signin<'a> {
    pub config: &'a SigninConfig,
    /// The run's region, the default of the Identity Center region.
    pub run_region: Option<&'a str>,
    /// `--timeout`: the bound of each network step.
    pub call_timeout: Duration,
    pub env: &'a Env,
    /// The shared files as read once for the run.
    pub files: &'a SharedConfig,
}

impl Signin<'_> {
    pub fn idc_region(&self) -> Result<String, Error> {
        self.config
            .idc_region
            .clone()
            .or_else(|| self.run_region.map(str::to_owned))
            .ok_or(Error::NoRegion)
    }

    /// Who the cached session for these settings is signed in as (`Session::identity`),
    /// whether or not its credentials are still fresh; `None` without one. No network.
    pub fn cached_identity(&self, cache: Option<&Cache>) -> Option<String> {
        let s = self.cached_session(cache)?;
        tracing::info!(user = %s.user, "signed in (cached session)");
        Some(s.identity())
    }

    /// The cached session for these settings, fresh or not; `None` without one. No network.
    pub fn cached_session(&self, cache: Option<&Cache>) -> Option<Session> {
        let idc_region = self.idc_region().ok()?;
        let store = cache?.store(session::STORE).ok()?;
        session::cached(Some(&store), &self.key(&idc_region)?, SystemTime::now()).ok()
    }

    /// The key of the session for these settings in `idc_region`.
    pub fn key(&self, idc_region: &str) -> Option<session::SessionKey> {
        let plan = flow::Plan {
            config: self.config,
            idc_region,
            authorize_endpoint: "",
            call_timeout: self.call_timeout,
            files: self.files,
        };
        Some(plan.key(self.env))
    }

    /// A fresh session, with the real sso-oidc, STS, browser and the cache.
    pub fn session(&self, cache: Option<&Cache>, want: Want) -> Result<(Session, Origin), Error> {
        let cfg = self.config;
        let idc_region = self.idc_region()?;
        let store = cache.and_then(|c| match c.store(session::STORE) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("{e}; signing in without the cache");
                None
            }
        });
        let mut idc = AwsIdentityCenter::new(
            cfg.application_arn.clone(),
            cfg.role_arn.clone(),
            idc_region.clone(),
            cfg.bootstrap_profile().to_owned(),
            self.call_timeout,
            self.files.clone(),
        );
        idc.scopes = cfg.scopes.clone();
        let opener = browser::BrowserCommand {
            hook: cfg.browser.clone(),
        };
        let authorizer = loopback::Loopback {
            port: cfg.listen_port,
            opener: &opener,
            timeout_seconds: cfg.signin_timeout.as_secs(),
        };
        let endpoint = authorize_endpoint(cfg, &idc_region, self.env);
        flow::session(
            &flow::Plan {
                config: cfg,
                idc_region: &idc_region,
                authorize_endpoint: &endpoint,
                call_timeout: self.call_timeout,
                files: self.files,
            },
            &flow::Deps {
                idc: &idc,
                authorizer: &authorizer,
                env: self.env,
                store: store.as_ref(),
                clock: &SystemTime::now,
            },
            want,
        )
    }
}

/// The `/authorize` page: `redshift_idc_authorize_url`, else the sso-oidc endpoint override
/// (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL`), else Identity Center's regional OIDC
/// endpoint, the page the drivers open too.
fn authorize_endpoint(cfg: &SigninConfig, region: &str, env: &Env) -> String {
    oidc_authorize_endpoint(cfg.authorize_url.clone(), region, env)
}

/// The `/authorize` page of `region`'s sso-oidc: `configured`, else the endpoint override
/// (`AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL`), else `https://oidc.REGION.amazonaws.com`.
pub fn oidc_authorize_endpoint(configured: Option<String>, region: &str, env: &Env) -> String {
    let configured = configured.or_else(|| {
        if env.is_true(env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) {
            return None;
        }
        [env::AWS_ENDPOINT_URL_SSO_OIDC, env::AWS_ENDPOINT_URL]
            .into_iter()
            .find_map(|v| env.get(v))
            .map(|u| u.trim_end_matches('/').to_owned())
    });
    let base = configured.unwrap_or_else(|| {
        let suffix = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        format!("https://oidc.{region}.{suffix}")
    });
    format!("{base}/authorize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorize_endpoint_follows_the_sso_oidc_endpoint() {
        let mut cfg = flow_config();
        let env = Env::default();
        assert_eq!(
            authorize_endpoint(&cfg, "eu-west-1", &env),
            "https://oidc.eu-west-1.amazonaws.com/authorize"
        );
        assert_eq!(
            authorize_endpoint(&cfg, "cn-north-1", &env),
            "https://oidc.cn-north-1.amazonaws.com.cn/authorize"
        );
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9/"),
            ("AWS_ENDPOINT_URL_SSO_OIDC", "http://127.0.0.1:8"),
        ]);
        assert_eq!(
            authorize_endpoint(&cfg, "eu-west-1", &env),
            "http://127.0.0.1:8/authorize"
        );
        cfg.authorize_url = Some("https://sso.example".into());
        assert_eq!(
            authorize_endpoint(&cfg, "eu-west-1", &env),
            "https://sso.example/authorize"
        );
    }

    fn flow_config() -> SigninConfig {
        let env = Env::from_pairs([
            (
                "REDSHIFT_IDC_TOKEN_APPLICATION_ARN",
                "arn:aws:sso::123456789012:application/ssoins-1/apl-1",
            ),
            (
                "REDSHIFT_IDC_TOKEN_ROLE_ARN",
                "arn:aws:iam::123456789012:role/R",
            ),
        ]);
        let files = crate::aws::config::shared_config::SharedConfig::from_texts("", "")
            .expect("empty files");
        SigninConfig::resolve(&crate::cli::SigninArgs::default(), "default", &env, &files)
            .unwrap()
            .unwrap()
    }
}
