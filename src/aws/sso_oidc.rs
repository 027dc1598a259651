//! sso-oidc for Identity Center access tokens: `RegisterClient`, `CreateToken` and
//! `StartDeviceAuthorization`, unsigned, behind the [`SsoOidc`] trait.
//!
//! These are the calls the drivers' `BrowserIdcAuthPlugin` makes on every connection
//! (aws/amazon-redshift-python-driver `redshift_connector/plugin/browser_idc_auth_plugin.py`:
//! `register_client(clientName, clientType="public", scopes=["redshift:connect"], issuerUrl,
//! redirectUris, grantTypes=["authorization_code"])`, then `/authorize` with PKCE, then
//! `create_token(clientId, clientSecret, code, grantType="authorization_code", codeVerifier,
//! redirectUri)`; aws/amazon-redshift-jdbc-driver `BrowserIdcAuthPlugin.java` the same). We make
//! them once and cache the result, and we also register `refresh_token` and the device-code
//! grant, so a session renews without a browser and a machine without one can sign in
//! (API reference: <https://docs.aws.amazon.com/singlesignon/latest/OIDCAPIReference/API_RegisterClient.html>,
//! `API_CreateToken.html`, `API_StartDeviceAuthorization.html`). None of the three is signed:
//! no AWS credentials are needed or sent. Every modeled error gets a sentence in fix terms.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_sdk_ssooidc::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_types::region::Region;
use tracing::{debug, info};

use super::config::shared_config::SharedConfig;
use super::errors::{chain, network_cause};
use super::runtime::{bounded, timeouts};
use crate::error::{Error, SigninError, one_line};
use crate::token::Secret;

/// The scope an access token needs for Redshift (the drivers' `REDSHIFT_IDC_CONNECT_SCOPE`).
pub const REDSHIFT_CONNECT_SCOPE: &str = "redshift:connect";
pub const GRANT_AUTHORIZATION_CODE: &str = "authorization_code";
pub const GRANT_REFRESH_TOKEN: &str = "refresh_token";
pub const GRANT_DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// A client registration: one serves every sign-in until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub client_id: String,
    pub client_secret: Secret,
    pub expires_at: SystemTime,
}

/// The grant of one `CreateToken` call.
#[derive(Debug, Clone, Copy)]
pub enum TokenGrant<'a> {
    AuthorizationCode {
        code: &'a Secret,
        redirect_uri: &'a str,
        code_verifier: &'a Secret,
    },
    RefreshToken {
        refresh_token: &'a Secret,
    },
    DeviceCode {
        device_code: &'a Secret,
    },
}

impl TokenGrant<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            TokenGrant::AuthorizationCode { .. } => GRANT_AUTHORIZATION_CODE,
            TokenGrant::RefreshToken { .. } => GRANT_REFRESH_TOKEN,
            TokenGrant::DeviceCode { .. } => GRANT_DEVICE_CODE,
        }
    }
}

/// What `CreateToken` answered.
#[derive(Debug, Clone)]
pub struct AccessTokens {
    pub access_token: Secret,
    pub expires_at: SystemTime,
    /// Only when the registration has the `refresh_token` grant.
    pub refresh_token: Option<Secret>,
}

/// What `StartDeviceAuthorization` answered.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_at: Instant,
    pub interval: Duration,
}

/// How a device-code poll ended when it did not yield tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Poll {
    /// `AuthorizationPendingException`: the person has not answered yet.
    Pending,
    /// `SlowDownException`: poll less often.
    SlowDown,
}

/// sso-oidc, as the access-token policy needs it.
pub trait SsoOidc {
    /// `RegisterClient` of a public client for `redshift:connect`.
    fn register_client(&self, redirect_uri: &str, deadline: Instant)
    -> Result<Registration, Error>;

    /// `CreateToken`; a device-code poll that is not done yet is `Ok(Err(Poll))`.
    fn create_token(
        &self,
        registration: &Registration,
        grant: TokenGrant<'_>,
        deadline: Instant,
    ) -> Result<Result<AccessTokens, Poll>, Error>;

    /// `StartDeviceAuthorization` for the access portal `start_url`.
    fn start_device_authorization(
        &self,
        registration: &Registration,
        start_url: &str,
        deadline: Instant,
    ) -> Result<DeviceAuthorization, Error>;
}

/// The real sso-oidc, through aws-sdk-ssooidc without credentials.
pub struct AwsSsoOidc {
    /// The Identity Center region (the drivers' `idc_region`).
    pub region: String,
    /// What `RegisterClient` sends as `issuerUrl` (the drivers' `issuer_url`).
    pub issuer_url: String,
    pub client_name: String,
    /// `--timeout`, for messages.
    pub timeout: Duration,
    /// The shared files as read once (the sso-oidc endpoint settings of the profile).
    pub files: SharedConfig,
    pub profile: String,
}

impl AwsSsoOidc {
    fn run<T>(
        &self,
        during: &'static str,
        deadline: Instant,
        f: impl AsyncFnOnce(aws_sdk_ssooidc::Client) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let phase = Cell::new(during);
        bounded(self.timeout.as_secs(), remaining, &phase, async {
            let config = aws_config::defaults(BehaviorVersion::latest())
                .region(Region::new(self.region.clone()))
                .profile_name(&self.profile)
                .profile_files(self.files.profile_files())
                .no_credentials()
                .timeout_config(timeouts(remaining))
                .load()
                .await;
            f(aws_sdk_ssooidc::Client::new(&config)).await
        })
    }

    /// An sso-oidc error in fix terms; `Ok(poll)` for the two device-code signals.
    fn error<E>(&self, e: SdkError<E, HttpResponse>, grant: Option<&str>) -> Result<Poll, Error>
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let seconds = self.timeout.as_secs();
        let ctx = match e {
            SdkError::ServiceError(ctx) => ctx,
            SdkError::TimeoutError(_) => {
                return Err(Error::Timeout {
                    seconds,
                    during: "waiting for sso-oidc",
                });
            }
            SdkError::DispatchFailure(d) if d.is_timeout() => {
                return Err(Error::Timeout {
                    seconds,
                    during: "connecting to sso-oidc",
                });
            }
            SdkError::DispatchFailure(d) => {
                return Err(Error::Network {
                    endpoint: format!("sso-oidc in {}", self.region),
                    detail: d.as_connector_error().map_or_else(
                        || "the request could not be sent".to_owned(),
                        |c| network_cause(c),
                    ),
                    fix: "check the network, the proxy settings, redshift_idc_region (the drivers' idc_region) and AWS_ENDPOINT_URL_SSO_OIDC".into(),
                });
            }
            SdkError::ResponseError(_) => {
                return Err(Error::BadReply {
                    service: "sso-oidc",
                    problem: "the reply is not a valid answer".into(),
                });
            }
            other => {
                return Err(Error::Internal(format!(
                    "could not build the sso-oidc request: {}",
                    one_line(&chain(&other))
                )));
            }
        };
        let status = ctx.raw().status().as_u16();
        let code = ctx.err().code().unwrap_or_default().to_owned();
        // sso-oidc explains in `error_description`; the SDK's message() is usually empty.
        let description = one_line(
            ctx.err()
                .message()
                .filter(|m| !m.is_empty())
                .or_else(|| ctx.err().meta().extra("error_description"))
                .unwrap_or("no description"),
        );
        debug!(status, %code, %description, "sso-oidc error");
        let setup = |fix: &'static str| {
            Err(SigninError::AccessSetup {
                code: code.clone(),
                description: description.clone(),
                fix,
            }
            .into())
        };
        match code.as_str() {
            "AuthorizationPendingException" => Ok(Poll::Pending),
            "SlowDownException" => Ok(Poll::SlowDown),
            "InvalidClientException" | "InvalidClientMetadataException" => setup(
                "check redshift_idc_issuer_url (the drivers' issuer_url) and redshift_idc_region (idc_region): they must name your IAM Identity Center instance",
            ),
            "InvalidScopeException" => setup(
                "the Redshift IAM Identity Center application must be enabled for the redshift:connect scope (ask the administrator)",
            ),
            "UnauthorizedClientException" | "UnsupportedGrantTypeException" => setup(
                "the client registration does not allow this grant; run `redshift-idc-token logout` to register again",
            ),
            "InvalidRequestException" if grant.is_none() => setup(
                "check redshift_idc_issuer_url and redshift_idc_start_url: sso-oidc refused them",
            ),
            "AccessDeniedException" => Err(SigninError::AccessRefused { description }.into()),
            "ExpiredTokenException" | "InvalidGrantException"
                if grant == Some(GRANT_REFRESH_TOKEN) =>
            {
                Err(SigninError::RefreshExpired.into())
            }
            "ExpiredTokenException" => Err(SigninError::DeviceCodeExpired.into()),
            "InvalidGrantException" => Err(SigninError::Rejected { code, description }.into()),
            "InternalServerException" => Err(Error::ServiceFailure {
                code,
                message: description,
            }),
            _ if status >= 500 => Err(Error::ServiceFailure {
                code: if code.is_empty() {
                    format!("HTTP {status}")
                } else {
                    code
                },
                message: description,
            }),
            _ => Err(SigninError::Rejected { code, description }.into()),
        }
    }
}

fn expiry_after(seconds: i32) -> SystemTime {
    SystemTime::now() + Duration::from_secs(u64::try_from(seconds).unwrap_or(0))
}

fn bad(problem: &str) -> Error {
    Error::BadReply {
        service: "sso-oidc",
        problem: problem.to_owned(),
    }
}

impl SsoOidc for AwsSsoOidc {
    fn register_client(
        &self,
        redirect_uri: &str,
        deadline: Instant,
    ) -> Result<Registration, Error> {
        self.run("calling sso-oidc RegisterClient", deadline, async |c| {
            let out = c
                .register_client()
                .client_name(&self.client_name)
                .client_type("public")
                .scopes(REDSHIFT_CONNECT_SCOPE)
                .issuer_url(&self.issuer_url)
                .redirect_uris(redirect_uri)
                .grant_types(GRANT_AUTHORIZATION_CODE)
                .grant_types(GRANT_REFRESH_TOKEN)
                .grant_types(GRANT_DEVICE_CODE)
                .send()
                .await
                .map_err(|e| {
                    self.error(e, None)
                        .err()
                        .unwrap_or_else(|| bad("a poll signal"))
                })?;
            info!("RegisterClient answered");
            let (Some(id), Some(secret)) = (out.client_id(), out.client_secret()) else {
                return Err(bad("the reply has no clientId or clientSecret"));
            };
            let expires_at = SystemTime::UNIX_EPOCH
                + Duration::from_secs(u64::try_from(out.client_secret_expires_at()).unwrap_or(0));
            Ok(Registration {
                client_id: id.to_owned(),
                client_secret: Secret::new(secret.to_owned()),
                expires_at,
            })
        })
    }

    fn create_token(
        &self,
        registration: &Registration,
        grant: TokenGrant<'_>,
        deadline: Instant,
    ) -> Result<Result<AccessTokens, Poll>, Error> {
        self.run("calling sso-oidc CreateToken", deadline, async |c| {
            let mut req = c
                .create_token()
                .client_id(&registration.client_id)
                .client_secret(registration.client_secret.expose())
                .grant_type(grant.name());
            req = match grant {
                TokenGrant::AuthorizationCode {
                    code,
                    redirect_uri,
                    code_verifier,
                } => req
                    .code(code.expose())
                    .redirect_uri(redirect_uri)
                    .code_verifier(code_verifier.expose()),
                TokenGrant::RefreshToken { refresh_token } => {
                    req.refresh_token(refresh_token.expose())
                }
                TokenGrant::DeviceCode { device_code } => req.device_code(device_code.expose()),
            };
            let out = match req.send().await {
                Ok(out) => out,
                Err(e) => return self.error(e, Some(grant.name())).map(Err),
            };
            info!(grant = grant.name(), "CreateToken answered");
            let token = out
                .access_token()
                .filter(|t| !t.is_empty())
                .ok_or_else(|| bad("the reply has no accessToken"))?;
            if out.expires_in() <= 0 {
                return Err(bad("the reply's expiresIn is not positive"));
            }
            Ok(Ok(AccessTokens {
                access_token: Secret::new(token.to_owned()),
                expires_at: expiry_after(out.expires_in()),
                refresh_token: out
                    .refresh_token()
                    .filter(|t| !t.is_empty())
                    .map(|t| Secret::new(t.to_owned())),
            }))
        })
    }

    fn start_device_authorization(
        &self,
        registration: &Registration,
        start_url: &str,
        deadline: Instant,
    ) -> Result<DeviceAuthorization, Error> {
        self.run(
            "calling sso-oidc StartDeviceAuthorization",
            deadline,
            async |c| {
                let out = c
                    .start_device_authorization()
                    .client_id(&registration.client_id)
                    .client_secret(registration.client_secret.expose())
                    .start_url(start_url)
                    .send()
                    .await
                    .map_err(|e| {
                        self.error(e, None)
                            .err()
                            .unwrap_or_else(|| bad("a poll signal"))
                    })?;
                let (Some(device), Some(user), Some(uri)) =
                    (out.device_code(), out.user_code(), out.verification_uri())
                else {
                    return Err(bad(
                        "the reply has no deviceCode, userCode or verificationUri",
                    ));
                };
                Ok(DeviceAuthorization {
                    device_code: Secret::new(device.to_owned()),
                    user_code: one_line(user),
                    verification_uri: one_line(uri),
                    verification_uri_complete: out.verification_uri_complete().map(one_line),
                    expires_at: Instant::now()
                        + Duration::from_secs(u64::try_from(out.expires_in()).unwrap_or(0)),
                    interval: Duration::from_secs(
                        u64::try_from(out.interval()).unwrap_or(5).max(1),
                    ),
                })
            },
        )
    }
}
