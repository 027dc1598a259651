//! The Identity Center boundary: the [`IdentityCenter`] trait the sign-in policy talks to, and
//! its real implementation, `CreateTokenWithIAM` with aws-sdk-ssooidc and `AssumeRole` with
//! aws-sdk-sts, both signed with the bootstrap credentials of aws-config's default chain.
//!
//! Endpoints are aws-config's: `AWS_ENDPOINT_URL_SSO_OIDC`, `AWS_ENDPOINT_URL_STS`,
//! `AWS_ENDPOINT_URL` and the profile's endpoint settings, as in every AWS SDK (never the
//! Redshift `--endpoint-url`). Every modeled error of both operations gets its own error in
//! fix terms; sso-oidc's explanation is read from `error_description()`, because its
//! `message()` is empty (the service sends `{"error": ..., "error_description": ...}`).

use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ssooidc::operation::create_token_with_iam::CreateTokenWithIAMError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_types::SdkConfig;
use aws_types::region::Region;
use tracing::{debug, info};

use super::config::shared_config::SharedConfig;
use super::credentials::{RoleCredentials, chain_credentials};
use super::endpoint::{Attempt, EndpointOrigin, Svc, TriedUrl, endpoint_origin};
use super::errors::{chain, network_cause};
use super::runtime::{runtime, timeouts};
use crate::error::{Error, SigninError, one_line};
use crate::jwt_claims as jwt;
use crate::token::{Secret, rfc3339};

/// The grant of one `CreateTokenWithIAM` call.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` with a trusted token issuer's JWT.
    JwtBearer { assertion: &'a Secret },
    /// `authorization_code` from the browser sign-in, with the PKCE verifier.
    AuthorizationCode {
        code: &'a Secret,
        redirect_uri: &'a str,
        code_verifier: &'a Secret,
    },
    /// `refresh_token`, to renew a session without the person.
    RefreshToken { refresh_token: &'a Secret },
}

impl Grant<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Grant::JwtBearer { .. } => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken { .. } => "refresh_token",
        }
    }
}

/// What `CreateTokenWithIAM` answered that sign-in uses.
#[derive(Debug, Clone)]
pub struct IdcTokens {
    /// The Identity Center user: `sub` of the ID token.
    pub user: String,
    /// `awsAdditionalDetails.identityContext`, or the ID token's `sts:identity_context`.
    pub identity_context: Secret,
    pub refresh_token: Option<Secret>,
}

/// sso-oidc and STS.
pub trait IdentityCenter {
    /// Makes sure the bootstrap credentials can be had, before a person is asked to sign in
    /// (so a missing profile fails at once, not after the browser).
    fn prepare(&self, _deadline: Instant) -> Result<(), Error> {
        Ok(())
    }

    /// `CreateTokenWithIAM` for the application, signed with the bootstrap credentials.
    fn create_token_with_iam(
        &self,
        grant: Grant<'_>,
        deadline: Instant,
    ) -> Result<IdcTokens, Error>;

    /// `AssumeRole` of the configured role with the Identity Center context.
    fn assume_role(
        &self,
        session_name: &str,
        duration: Duration,
        identity_context: &Secret,
        deadline: Instant,
    ) -> Result<RoleCredentials, Error>;
}

/// The context provider of Identity Center identity contexts (IAM Identity Center user guide,
/// "Identity-enhanced IAM role sessions").
pub const IDENTITY_CENTER_PROVIDER: &str = "arn:aws:iam::aws:contextProvider/IdentityCenter";

/// sso-oidc and STS through the AWS SDK.
pub struct AwsIdentityCenter {
    pub application_arn: String,
    pub role_arn: String,
    /// The Identity Center region; STS is called there too.
    pub region: String,
    pub bootstrap_profile: String,
    /// `--timeout`, for messages.
    pub timeout: Duration,
    /// The shared files as read once for the run: handed to aws-config as contents, so it
    /// never opens them again (a pipe is read once; a FIFO cannot block it).
    pub files: SharedConfig,
    /// The scopes asked for (the same as at `/authorize`), sent with every grant so that a
    /// token never carries fewer than the sign-in needs.
    pub scopes: Vec<String>,
    rt: Mutex<Option<tokio::runtime::Runtime>>,
    config: Mutex<Option<SdkConfig>>,
}

impl AwsIdentityCenter {
    pub fn new(
        application_arn: String,
        role_arn: String,
        region: String,
        bootstrap_profile: String,
        timeout: Duration,
        files: SharedConfig,
    ) -> Self {
        AwsIdentityCenter {
            application_arn,
            role_arn,
            region,
            bootstrap_profile,
            timeout,
            files,
            scopes: Vec::new(),
            rt: Mutex::new(None),
            config: Mutex::new(None),
        }
    }

    /// Runs `f` with the bootstrap configuration on this boundary's runtime, by `deadline`.
    fn call<T>(
        &self,
        during: &'static str,
        deadline: Instant,
        f: impl AsyncFnOnce(SdkConfig) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut rt = self
            .rt
            .lock()
            .map_err(|_| Error::Internal("runtime lock".into()))?;
        if rt.is_none() {
            *rt = Some(runtime()?);
        }
        let rt = rt.as_ref().expect("just set");
        let seconds = self.timeout.as_secs();
        let remaining = deadline.saturating_duration_since(Instant::now());
        rt.block_on(async {
            let work = async {
                let config = self.config(remaining).await?;
                f(config).await
            };
            tokio::time::timeout(remaining, work).await
        })
        .unwrap_or_else(|_| {
            // As in `runtime::bounded`: a hung credential_process of the bootstrap profile
            // dies with the time limit, not after it.
            crate::children::kill_descendants();
            Err(Error::Timeout { seconds, during })
        })
    }

    /// The bootstrap configuration, loaded once, with its credentials resolved up front so
    /// "none", "expired" and "the provider failed" get their own messages.
    async fn config(&self, remaining: Duration) -> Result<SdkConfig, Error> {
        if let Some(c) = self.config.lock().ok().and_then(|g| g.clone()) {
            return Ok(c);
        }
        let config = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(self.region.clone()))
            .profile_name(&self.bootstrap_profile)
            .profile_files(self.files.profile_files())
            .timeout_config(timeouts(remaining))
            .load()
            .await;
        let creds = chain_credentials(&config, self.timeout.as_secs()).await?;
        if let Some(expiry) = creds.expiry()
            && expiry <= SystemTime::now()
        {
            return Err(Error::ExpiredCredentials {
                provider: format!("the bootstrap profile {}", self.bootstrap_profile),
                expired_at: rfc3339(expiry),
            });
        }
        info!(
            profile = %self.bootstrap_profile,
            temporary = creds.session_token().is_some(),
            "resolved the bootstrap credentials"
        );
        if let Ok(mut slot) = self.config.lock() {
            *slot = Some(config.clone());
        }
        Ok(config)
    }
}

impl Drop for AwsIdentityCenter {
    /// Shuts the runtime down without waiting for its blocking threads: a `getaddrinfo`
    /// stuck on a DNS server that never answers must not keep the process alive past the
    /// time limit (see `runtime::bounded`).
    fn drop(&mut self) {
        if let Some(rt) = self.rt.get_mut().ok().and_then(Option::take) {
            rt.shutdown_background();
        }
    }
}

impl IdentityCenter for AwsIdentityCenter {
    fn prepare(&self, deadline: Instant) -> Result<(), Error> {
        self.call(
            "resolving the bootstrap credentials",
            deadline,
            async |_| Ok(()),
        )
    }

    fn create_token_with_iam(
        &self,
        grant: Grant<'_>,
        deadline: Instant,
    ) -> Result<IdcTokens, Error> {
        self.call(
            "calling sso-oidc CreateTokenWithIAM",
            deadline,
            async |config| {
                let started = Instant::now();
                let client = aws_sdk_ssooidc::Client::new(&config);
                let mut req = client
                    .create_token_with_iam()
                    .client_id(&self.application_arn)
                    .grant_type(grant.name())
                    .set_scope((!self.scopes.is_empty()).then(|| self.scopes.clone()));
                req = match grant {
                    Grant::JwtBearer { assertion } => req.assertion(assertion.expose()),
                    Grant::AuthorizationCode {
                        code,
                        redirect_uri,
                        code_verifier,
                    } => req
                        .code(code.expose())
                        .redirect_uri(redirect_uri)
                        .code_verifier(code_verifier.expose()),
                    Grant::RefreshToken { refresh_token } => {
                        req.refresh_token(refresh_token.expose())
                    }
                };
                let tried = TriedUrl::default();
                let out = req
                    .customize()
                    .interceptor(tried.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        self.oidc_error(e, grant, &self.attempt(&config, Svc::SsoOidc, &tried))
                    })?;
                info!(
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    grant = grant.name(),
                    "CreateTokenWithIAM answered"
                );
                let bad = |problem: &str| bad_reply("sso-oidc", problem);
                let id_token = out
                    .id_token()
                    .ok_or_else(|| bad("the reply has no idToken"))?;
                let user = jwt::claim(id_token, "sub")
                    .ok_or_else(|| bad("the reply's idToken has no sub claim"))?;
                let context = out
                    .aws_additional_details()
                    .and_then(|d| d.identity_context())
                    .map(str::to_owned)
                    .or_else(|| jwt::claim(id_token, "sts:identity_context"))
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| SigninError::NoIdentityContext {
                        scopes: self.scopes.join(" "),
                    })?;
                Ok(IdcTokens {
                    user: one_line(&user),
                    identity_context: Secret::new(context),
                    refresh_token: out
                        .refresh_token()
                        .filter(|t| !t.is_empty())
                        .map(|t| Secret::new(t.to_owned())),
                })
            },
        )
    }

    fn assume_role(
        &self,
        session_name: &str,
        duration: Duration,
        identity_context: &Secret,
        deadline: Instant,
    ) -> Result<RoleCredentials, Error> {
        self.call("calling STS AssumeRole", deadline, async |config| {
            let started = Instant::now();
            let context = aws_sdk_sts::types::ProvidedContext::builder()
                .provider_arn(IDENTITY_CENTER_PROVIDER)
                .context_assertion(identity_context.expose())
                .build();
            let tried = TriedUrl::default();
            let out = aws_sdk_sts::Client::new(&config)
                .assume_role()
                .role_arn(&self.role_arn)
                .role_session_name(session_name)
                .duration_seconds(duration.as_secs().min(43_200) as i32)
                .provided_contexts(context)
                .customize()
                .interceptor(tried.clone())
                .send()
                .await
                .map_err(|e| self.sts_error(e, &self.attempt(&config, Svc::Sts, &tried)))?;
            info!(
                elapsed_ms = started.elapsed().as_millis() as u64,
                "AssumeRole answered"
            );
            let bad = |problem: &str| bad_reply("sts", problem);
            let c = out
                .credentials()
                .ok_or_else(|| bad("the reply has no Credentials"))?;
            let expiration = SystemTime::try_from(*c.expiration())
                .map_err(|_| bad("the reply's Expiration is out of range"))?;
            if c.access_key_id().is_empty()
                || c.secret_access_key().is_empty()
                || c.session_token().is_empty()
            {
                return Err(bad("the reply's Credentials are incomplete"));
            }
            Ok(RoleCredentials {
                access_key_id: c.access_key_id().to_owned(),
                secret_access_key: Secret::new(c.secret_access_key().to_owned()),
                session_token: Secret::new(c.session_token().to_owned()),
                expiration,
            })
        })
    }
}

impl AwsIdentityCenter {
    fn attempt<'a>(&self, config: &'a SdkConfig, svc: Svc, tried: &'a TriedUrl) -> Attempt<'a> {
        Attempt { config, svc, tried }
    }

    fn oidc_error(
        &self,
        e: SdkError<CreateTokenWithIAMError, HttpResponse>,
        grant: Grant<'_>,
        attempt: &Attempt<'_>,
    ) -> Error {
        let SdkError::ServiceError(ctx) = &e else {
            return self.transport_error(e, attempt);
        };
        let status = ctx.raw().status().as_u16();
        let err = ctx.err();
        let code = err.code().unwrap_or_default().to_owned();
        let description = one_line(description(err).unwrap_or("no description"));
        debug!(status, %code, %description, grant = grant.name(), "sso-oidc error");
        let application = self.application_arn.clone();
        let ended = matches!(grant, Grant::RefreshToken { .. });
        let signin = match code.as_str() {
            "InvalidGrantException" | "ExpiredTokenException" if ended => {
                SigninError::RefreshExpired
            }
            "InvalidGrantException" => match grant {
                Grant::AuthorizationCode { redirect_uri, .. } => SigninError::CodeRefused {
                    code,
                    description,
                    redirect_uri: redirect_uri.to_owned(),
                },
                _ => SigninError::UntrustedIssuer {
                    code,
                    description,
                    application,
                },
            },
            "AccessDeniedException" => SigninError::CreateTokenDenied {
                code,
                description,
                application,
            },
            "InvalidClientException" => SigninError::UnknownApplication {
                code,
                description,
                application,
            },
            "UnauthorizedClientException" | "UnsupportedGrantTypeException" => {
                SigninError::GrantNotAllowed {
                    code,
                    description,
                    grant: grant.name(),
                }
            }
            "InvalidScopeException" => SigninError::BadScope { code, description },
            "InvalidRequestRegionException" => SigninError::WrongRegion {
                code,
                description,
                region: self.region.clone(),
            },
            "AuthorizationPendingException" => SigninError::Pending { code, description },
            "SlowDownException" => {
                return Error::Throttled {
                    code,
                    message: description,
                };
            }
            "InternalServerException" => {
                return Error::ServiceFailure {
                    code,
                    message: description,
                };
            }
            c if is_credentials_code(c) => {
                return Error::RejectedCredentials {
                    code,
                    message: description,
                };
            }
            _ if status >= 500 => {
                return Error::ServiceFailure {
                    code: if code.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        code
                    },
                    message: description,
                };
            }
            _ => SigninError::Rejected { code, description },
        };
        signin.into()
    }

    fn sts_error(
        &self,
        e: SdkError<AssumeRoleError, HttpResponse>,
        attempt: &Attempt<'_>,
    ) -> Error {
        let SdkError::ServiceError(ctx) = &e else {
            return self.transport_error(e, attempt);
        };
        let status = ctx.raw().status().as_u16();
        let err = ctx.err();
        let code = err.code().unwrap_or_default().to_owned();
        let message = one_line(err.message().unwrap_or("no message"));
        debug!(status, %code, %message, "sts error");
        match code.as_str() {
            "AccessDenied" | "AccessDeniedException" => SigninError::AssumeRoleDenied {
                code,
                message,
                role: self.role_arn.clone(),
            }
            .into(),
            "RegionDisabledException" => SigninError::RegionDisabled {
                code,
                message,
                region: self.region.clone(),
            }
            .into(),
            "ExpiredTokenException" | "ExpiredToken" => {
                Error::RejectedCredentials { code, message }
            }
            "Throttling" | "ThrottlingException" => Error::Throttled { code, message },
            c if is_credentials_code(c) => Error::RejectedCredentials { code, message },
            _ if status >= 500 => Error::ServiceFailure {
                code: if code.is_empty() {
                    format!("HTTP {status}")
                } else {
                    code
                },
                message,
            },
            _ => SigninError::AssumeRoleRejected { code, message }.into(),
        }
    }

    /// Errors before or around an answer: time limits, the network, unreadable replies.
    fn transport_error<E, R>(&self, e: SdkError<E, R>, attempt: &Attempt<'_>) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + 'static,
    {
        let service = attempt.svc.name();
        let seconds = self.timeout.as_secs();
        match e {
            SdkError::TimeoutError(_) => Error::Timeout {
                seconds,
                during: "waiting for AWS",
            },
            SdkError::DispatchFailure(d) if d.is_timeout() => Error::Timeout {
                seconds,
                during: "connecting to AWS",
            },
            SdkError::DispatchFailure(d) => {
                if let Some(c) = d.as_connector_error() {
                    debug!(error = %chain(c), "the {service} request could not be sent");
                }
                Error::Network {
                    endpoint: match attempt.tried.url() {
                        Some(url) => format!("{service} at {url}"),
                        None => format!("{service} in {}", self.region),
                    },
                    detail: match d.as_connector_error() {
                        Some(c) => network_cause(c),
                        None => "the request could not be sent".to_owned(),
                    },
                    fix: self.endpoint_fix(attempt),
                }
            }
            // The body could hold a token; say only what failed.
            SdkError::ResponseError(_) | SdkError::ServiceError(_) => Error::BadReply {
                service,
                problem: "the reply is not a valid answer".into(),
            },
            other => Error::Internal(format!(
                "could not build the {service} request: {}",
                one_line(&chain(&other))
            )),
        }
    }
}

impl AwsIdentityCenter {
    /// What to check when `attempt`'s endpoint cannot be reached, naming the setting that
    /// chose it (never `--endpoint-url`: it is Redshift's alone).
    fn endpoint_fix(&self, attempt: &Attempt<'_>) -> String {
        let svc = attempt.svc;
        let profile = crate::target::printable(&self.bootstrap_profile);
        let check = "check the network, the proxy settings and";
        match endpoint_origin(attempt.config, svc) {
            EndpointOrigin::Variable(var) => format!("{check} {var}, which chose this endpoint"),
            EndpointOrigin::ProfileServices => format!(
                "{check} the {} endpoint_url of the services section of profile {profile}, which chose this endpoint",
                svc.profile_key()
            ),
            EndpointOrigin::Profile => {
                format!("{check} endpoint_url of profile {profile}, which chose this endpoint")
            }
            EndpointOrigin::Regional => format!(
                "{check} the Identity Center region {} (redshift_idc_region / --idc-region); {} sets another endpoint",
                self.region,
                svc.variable()
            ),
        }
    }
}

fn bad_reply(service: &'static str, problem: &str) -> Error {
    Error::BadReply {
        service,
        problem: problem.to_owned(),
    }
}

/// The codes AWS uses for credentials it does not accept (bad signature, unknown key).
fn is_credentials_code(code: &str) -> bool {
    matches!(
        code,
        "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "IncompleteSignature"
            | "MissingAuthenticationToken"
    )
}

/// sso-oidc's explanation of an error: `error_description`, which every modeled error has.
fn description(e: &CreateTokenWithIAMError) -> Option<&str> {
    use CreateTokenWithIAMError as E;
    let d = match e {
        E::AccessDeniedException(x) => x.error_description(),
        E::AuthorizationPendingException(x) => x.error_description(),
        E::ExpiredTokenException(x) => x.error_description(),
        E::InternalServerException(x) => x.error_description(),
        E::InvalidClientException(x) => x.error_description(),
        E::InvalidGrantException(x) => x.error_description(),
        E::InvalidRequestException(x) => x.error_description(),
        E::InvalidRequestRegionException(x) => x.error_description(),
        E::InvalidScopeException(x) => x.error_description(),
        E::SlowDownException(x) => x.error_description(),
        E::UnauthorizedClientException(x) => x.error_description(),
        E::UnsupportedGrantTypeException(x) => x.error_description(),
        _ => None,
    };
    d.filter(|s| !s.is_empty())
        .or_else(|| e.message().filter(|s| !s.is_empty()))
}
