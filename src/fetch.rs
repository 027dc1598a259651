//! The network boundary: the two `GetIdentityCenterAuthToken` calls behind one small trait.
//!
//! `Fetch` is synchronous on purpose. The cache logic calls it while holding a file lock and
//! can be tested with a fake; only the AWS implementation builds a tokio runtime, the HTTP
//! client and the credential chain, and it does so only when a token must really be fetched.
//! This module also turns SDK errors into our `Error`, by error code, with messages that say
//! what to do.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_redshift::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use aws_types::region::Region;
use tracing::{debug, info};

use crate::error::{Error, one_line};
use crate::settings::TokenRequest;
use crate::target::{Service, Targets};
use crate::token::{AuthToken, rfc3339};

/// One call to make: the request and the region it goes to.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub request: &'a TokenRequest,
    pub region: &'a str,
    /// The whole run's deadline (`--timeout`); the call must give up by then.
    pub deadline: Instant,
}

/// Where tokens come from.
pub trait Fetch {
    /// Fetches a new token for `call`.
    fn fetch(&self, call: Call<'_>) -> Result<AuthToken, Error>;

    /// The region from sources that need more than the environment and config file (e.g. the
    /// instance metadata service), for when none was found offline.
    fn discover_region(&self, request: &TokenRequest, deadline: Instant) -> Option<String>;

    /// When the credentials of the last fetch expire, if they do (a cached token is not
    /// served past it).
    fn credentials_expiration(&self) -> Option<SystemTime> {
        None
    }
}

/// The real thing: aws-config's credential chain and the AWS SDK clients.
///
/// Credentials resolved once (by [`ProbeCredentials::credentials`] or a first fetch) are
/// kept and reused, so `doctor` does not run a `credential_process` (which may prompt for
/// MFA) twice.
#[derive(Debug, Default)]
pub struct AwsFetcher {
    resolved: std::sync::Mutex<Option<Credentials>>,
    /// The credentials are a signed-in session's, whose person is part of the cache key:
    /// their expiry then does not bound a cached token (the session is renewed silently;
    /// the bound exists for chains whose identity the key cannot see, see `Entry`).
    identity_in_key: bool,
}

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
    fn credentials(
        &self,
        request: &TokenRequest,
        region: &str,
        deadline: Instant,
    ) -> Result<CredentialsInfo, Error>;
}

impl ProbeCredentials for AwsFetcher {
    fn credentials(
        &self,
        req: &TokenRequest,
        region: &str,
        deadline: Instant,
    ) -> Result<CredentialsInfo, Error> {
        let seconds = req.timeout.as_secs();
        let remaining = deadline.saturating_duration_since(Instant::now());
        let phase = Cell::new(RESOLVING_CREDENTIALS);
        bounded(seconds, remaining, &phase, async {
            let config = sdk_config(req, region, remaining).await;
            let creds = self.credentials_for(&config, seconds).await?;
            Ok(CredentialsInfo {
                access_key_id: creds.access_key_id().to_owned(),
                temporary: creds.session_token().is_some(),
                expiry: creds.expiry(),
                reported_source: creds
                    .get_property::<Vec<AwsCredentialFeature>>()
                    .and_then(|f| reported_source(f)),
            })
        })
    }
}

/// The step of a run that the time limit can interrupt, named in its message.
const LOADING_CONFIG: &str = "loading the AWS configuration";
const RESOLVING_CREDENTIALS: &str = "resolving AWS credentials";
const CALLING: &str = "waiting for GetIdentityCenterAuthToken";

/// Runs `fut` on a fresh runtime until it finishes or `remaining` passes, whatever blocks.
///
/// On the deadline the future is dropped, every process this run started (a hung
/// `credential_process`) is killed, and the runtime is shut down without waiting for its
/// blocking threads: a `getaddrinfo` call stuck on a DNS server that never answers cannot
/// be cancelled, and waiting for it (what dropping a runtime does) kept the process alive
/// for the resolver's own 10+ seconds. The thread dies with the process.
fn bounded<T>(
    seconds: u64,
    remaining: Duration,
    phase: &Cell<&'static str>,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let rt = runtime()?;
    let out = rt.block_on(async { tokio::time::timeout(remaining, fut).await });
    rt.shutdown_background();
    match out {
        Ok(result) => {
            if matches!(result, Err(Error::Timeout { .. })) {
                crate::children::kill_descendants();
            }
            result
        }
        Err(_) => {
            let killed = crate::children::kill_descendants();
            if killed > 0 {
                debug!(killed, "killed the processes still running at the deadline");
            }
            Err(Error::Timeout {
                seconds,
                during: phase.get(),
            })
        }
    }
}

impl AwsFetcher {
    /// A fetcher that calls with `credentials` (the signed-in session's role credentials)
    /// instead of the credential chain's.
    pub fn with_credentials(credentials: Credentials) -> Self {
        AwsFetcher {
            resolved: std::sync::Mutex::new(Some(credentials)),
            identity_in_key: true,
        }
    }

    /// The credentials resolved earlier in this run, or the chain's answer now.
    ///
    /// Resolving them ourselves, before the call, gives "none found", "expired" and "the
    /// provider failed" each their own message instead of a generic dispatch failure.
    async fn credentials_for(
        &self,
        config: &SdkConfig,
        timeout: u64,
    ) -> Result<Credentials, Error> {
        if let Some(c) = self.resolved.lock().ok().and_then(|g| g.clone()) {
            return Ok(c);
        }
        let started = Instant::now();
        let creds = chain_credentials(config, timeout).await?;
        info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            temporary = creds.session_token().is_some(),
            expires = creds.expiry().map(rfc3339).as_deref().unwrap_or("never"),
            "resolved AWS credentials"
        );
        if let Ok(mut slot) = self.resolved.lock() {
            *slot = Some(creds.clone());
        }
        Ok(creds)
    }
}

/// The credentials of `config`'s provider (aws-config's chain), each failure with its error.
pub(crate) async fn chain_credentials(
    config: &SdkConfig,
    timeout: u64,
) -> Result<Credentials, Error> {
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

/// How long the metadata service may take to tell a region before we give up on it.
const REGION_DISCOVERY_LIMIT: Duration = Duration::from_secs(3);
/// Connecting to the endpoint should be quick; a dead endpoint should fail fast enough for
/// the SDK to retry within the run's time limit.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl Fetch for AwsFetcher {
    fn fetch(&self, call: Call<'_>) -> Result<AuthToken, Error> {
        let seconds = call.request.timeout.as_secs();
        let remaining = call.deadline.saturating_duration_since(Instant::now());
        let phase = Cell::new(LOADING_CONFIG);
        bounded(
            seconds,
            remaining,
            &phase,
            fetch(self, call, remaining, &phase),
        )
    }

    fn credentials_expiration(&self) -> Option<SystemTime> {
        if self.identity_in_key {
            return None;
        }
        self.resolved
            .lock()
            .ok()
            .and_then(|c| c.as_ref().and_then(Credentials::expiry))
    }

    fn discover_region(&self, _request: &TokenRequest, deadline: Instant) -> Option<String> {
        let limit = deadline
            .saturating_duration_since(Instant::now())
            .min(REGION_DISCOVERY_LIMIT);
        // The environment and both shared files were searched offline already
        // (`TokenRequest::from_args`); what is left of aws-config's region chain is the
        // instance metadata service.
        let phase = Cell::new("asking the instance metadata service for the region");
        bounded(limit.as_secs(), limit, &phase, async {
            let imds = aws_config::imds::region::ImdsRegionProvider::builder().build();
            Ok(aws_config::meta::region::ProvideRegion::region(&imds)
                .await
                .map(|r| r.to_string()))
        })
        .ok()
        .flatten()
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}

/// aws-config's shared configuration for one run: region, profile, endpoint and timeouts.
async fn sdk_config(req: &TokenRequest, region: &str, remaining: Duration) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // The shared files as read once this run: aws-config never opens them itself.
        .profile_files(req.files.profile_files())
        .region(Region::new(region.to_owned()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT.min(remaining))
                .operation_timeout(remaining)
                .build(),
        );
    if let Some(p) = &req.profile {
        loader = loader.profile_name(&p.value);
    }
    if let Some(e) = &req.endpoint {
        loader = loader.endpoint_url(&e.value);
    }
    loader.load().await
}

async fn fetch(
    fetcher: &AwsFetcher,
    call: Call<'_>,
    remaining: Duration,
    phase: &Cell<&'static str>,
) -> Result<AuthToken, Error> {
    let req = call.request;
    let config = sdk_config(req, call.region, remaining).await;
    phase.set(RESOLVING_CREDENTIALS);
    let creds = fetcher
        .credentials_for(&config, req.timeout.as_secs())
        .await?;
    if let Some(expiry) = creds.expiry()
        && expiry <= SystemTime::now()
    {
        return Err(Error::ExpiredCredentials {
            provider: "the credential chain".into(),
            expired_at: rfc3339(expiry),
        });
    }
    let creds = SharedCredentialsProvider::new(creds);

    phase.set(CALLING);
    let started = Instant::now();
    let service = req.service();
    let reply = match &req.targets {
        Targets::Clusters(ids) => {
            let conf = aws_sdk_redshift::config::Builder::from(&config)
                .credentials_provider(creds)
                .interceptor(CompleteXmlReply)
                .build();
            aws_sdk_redshift::Client::from_conf(conf)
                .get_identity_center_auth_token()
                .set_cluster_ids(Some(ids.iter().map(|i| i.as_str().to_owned()).collect()))
                .send()
                .await
                .map(|o| (o.token, o.expiration_time))
                .map_err(|e| sdk_error(e, call))?
        }
        Targets::Workgroups(names) => {
            let conf = aws_sdk_redshiftserverless::config::Builder::from(&config)
                .credentials_provider(creds)
                .build();
            aws_sdk_redshiftserverless::Client::from_conf(conf)
                .get_identity_center_auth_token()
                .set_workgroup_names(Some(names.iter().map(|n| n.as_str().to_owned()).collect()))
                .send()
                .await
                .map(|o| (o.token, o.expiration_time))
                .map_err(|e| sdk_error(e, call))?
        }
    };
    info!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        service = service.name(),
        "GetIdentityCenterAuthToken answered"
    );
    let (token, expiration) = reply;
    let expiration = expiration.and_then(|d| SystemTime::try_from(d).ok());
    AuthToken::from_reply(token, expiration, SystemTime::now()).map_err(|p| Error::BadReply {
        service: service.name(),
        problem: p.to_string(),
    })
}

/// The provider named by the SDK's credential feature ids; the outermost provider wins (a
/// role assumed from an SSO profile is "assume role").
fn reported_source(features: &[AwsCredentialFeature]) -> Option<&'static str> {
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

/// Rejects a Redshift success reply whose XML document is not complete.
///
/// The SDK's XML reader is lenient: a body cut off inside `<Token>` still yields the part
/// that arrived as "the token". A reply that does not end with the closing root element is
/// therefore refused here, before its output reaches us.
#[derive(Debug)]
struct CompleteXmlReply;

impl Intercept for CompleteXmlReply {
    fn name(&self) -> &'static str {
        "CompleteXmlReply"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        // An error already there (e.g. a body cut off mid-read, which the SDK retries) must
        // stay: replacing it makes the SDK log it at ERROR and stops the retry.
        if !response.status().is_success() || context.output_or_error().is_err() {
            return Ok(());
        }
        match response.body().bytes() {
            Some(body) if is_complete_reply(body) => Ok(()),
            _ => Err("the XML reply is incomplete or not well-formed".into()),
        }
    }
}

/// Whether `body` is one well-formed XML document whose root is the operation's response
/// element: every start tag closed by an end tag of the same name, nothing after the root.
pub fn is_complete_reply(body: &[u8]) -> bool {
    use quick_xml::events::Event;
    const ROOT: &str = "GetIdentityCenterAuthTokenResponse";
    let mut reader = quick_xml::Reader::from_reader(body);
    reader.config_mut().check_end_names = true;
    let mut depth = 0usize;
    let mut roots = 0usize;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(tag)) => {
                if depth == 0 {
                    roots += 1;
                    if tag.local_name().into_inner() != ROOT || roots > 1 {
                        return false;
                    }
                }
                depth += 1;
            }
            Ok(Event::End(_)) => depth -= 1,
            Ok(Event::Empty(_)) if depth == 0 => return false,
            Ok(Event::Text(t)) if depth == 0 && !t.as_ref().trim().is_empty() => {
                return false;
            }
            Ok(Event::Eof) => return depth == 0 && roots == 1,
            Ok(_) => {}
            Err(_) => return false,
        }
        buf.clear();
    }
}

fn credentials_error(e: CredentialsError, timeout: u64) -> Error {
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

/// Maps any SDK error of either operation to our error, by the AWS error code.
fn sdk_error<E>(e: SdkError<E, HttpResponse>, call: Call<'_>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let service = call.request.service();
    let endpoint = call.request.endpoint.as_ref().map_or_else(
        || format!("{} in {}", service.name(), call.region),
        |e| e.value.clone(),
    );
    match e {
        // A 2xx reply only lands here when its body could not be read as a reply at all.
        SdkError::ServiceError(ctx) if ctx.raw().status().is_success() => Error::BadReply {
            service: service.name(),
            problem: not_a_reply(service, ctx.raw().status().as_u16()),
        },
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let err = ctx.err();
            let code = err.code().unwrap_or_default().to_owned();
            let message = one_line(err.message().unwrap_or("no message"));
            debug!(status, %code, %message, "service error");
            service_error(service, call.region, status, code, message)
        }
        SdkError::TimeoutError(_) => Error::Timeout {
            seconds: call.request.timeout.as_secs(),
            during: "waiting for AWS",
        },
        SdkError::DispatchFailure(d) if d.is_timeout() => Error::Timeout {
            seconds: call.request.timeout.as_secs(),
            during: "connecting to AWS",
        },
        SdkError::DispatchFailure(d) => {
            if let Some(c) = d.as_connector_error() {
                debug!(error = %chain(c), "the request could not be sent");
            }
            Error::Network {
                endpoint,
                detail: match d.as_connector_error() {
                    Some(c) => network_cause(c),
                    None => "the request could not be sent".to_owned(),
                },
            }
        }
        // The reply's body could hold a token; say only what failed, never the body.
        SdkError::ResponseError(r) => Error::BadReply {
            service: service.name(),
            problem: not_a_reply(service, r.raw().status().as_u16()),
        },
        other => Error::Internal(format!(
            "could not build the request: {}",
            one_line(&chain(&other))
        )),
    }
}

/// An error and its causes, each by its `Display`, joined with ": " (a cause already quoted
/// by its parent's message is not repeated). Unlike the SDK's `DisplayErrorContext` it never
/// appends the `Debug` form, which is a Rust structure, not a sentence.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = e.source();
    }
    out
}

/// The cause of a connection failure in words, from the error's source chain: the kind of
/// the `io::Error` at its root where there is one, else what the layers say (hyper and rustls
/// name DNS and TLS failures in their messages). Never a `Debug` structure.
fn network_cause(err: &(dyn std::error::Error + 'static)) -> String {
    use std::io::ErrorKind as K;
    let mut texts = String::new();
    let mut kind = None;
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            kind = Some(io.kind());
        }
        texts.push_str(&e.to_string().to_ascii_lowercase());
        texts.push(' ');
        source = e.source();
    }
    let has = |w: &str| texts.contains(w);
    if has("dns error") || has("failed to lookup address") || has("name resolution") {
        return "the DNS lookup of its host name failed".to_owned();
    }
    if has("tls") || has("certificate") || has("handshake") || has("corrupt message") {
        return "the TLS handshake failed (is it an https:// endpoint with a certificate this machine trusts?)".to_owned();
    }
    match kind {
        Some(K::ConnectionRefused) => "connection refused (nothing listens there)".to_owned(),
        Some(K::ConnectionReset) | Some(K::ConnectionAborted) | Some(K::BrokenPipe) => {
            "the connection was closed by the other side".to_owned()
        }
        Some(K::TimedOut) => "the connection timed out".to_owned(),
        Some(K::HostUnreachable) | Some(K::NetworkUnreachable) => {
            "the host or network is unreachable".to_owned()
        }
        Some(K::AddrNotAvailable) => "the address is not available on this machine".to_owned(),
        _ if has("connection refused") => "connection refused (nothing listens there)".to_owned(),
        _ if has("timed out") => "the connection timed out".to_owned(),
        _ => "the connection failed".to_owned(),
    }
}

fn not_a_reply(service: Service, status: u16) -> String {
    let format = match service {
        Service::Redshift => "XML",
        Service::Serverless => "JSON",
    };
    format!("HTTP {status} with a body that is not a valid {format} reply")
}

/// The error for an AWS error code: the modeled errors of both operations, plus the common
/// AWS-wide codes for bad credentials and throttling.
pub fn service_error(
    service: Service,
    region: &str,
    status: u16,
    code: String,
    message: String,
) -> Error {
    let what = match service {
        Service::Redshift => "cluster",
        Service::Serverless => "workgroup",
    };
    match code.as_str() {
        "UnsupportedOperation" | "UnsupportedOperationFault" => {
            Error::NotIdentityEnhanced { code, message }
        }
        "AccessDenied"
        | "AccessDeniedException"
        | "AccessDeniedFault"
        | "UnauthorizedOperation" => Error::AccessDenied {
            code,
            message,
            action: match service {
                Service::Redshift => "redshift:GetIdentityCenterAuthToken",
                Service::Serverless => "redshift-serverless:GetIdentityCenterAuthToken",
            },
            resource: match service {
                Service::Redshift => "cluster ARN",
                Service::Serverless => "workgroup ARN",
            },
        },
        "ClusterNotFound" | "ClusterNotFoundFault" | "ResourceNotFoundException" => {
            Error::TargetNotFound {
                code,
                message,
                what,
                region: region.to_owned(),
            }
        }
        "InvalidClusterState" | "InvalidClusterStateFault" | "ConflictException" => {
            Error::TargetState {
                code,
                message,
                what,
            }
        }
        "RedshiftInvalidParameter"
        | "ValidationException"
        | "DryRunException"
        | "InvalidParameterValue"
        | "InvalidParameterCombination" => Error::InvalidRequest { code, message },
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException" => Error::Throttled { code, message },
        "ExpiredToken"
        | "ExpiredTokenException"
        | "RequestExpired"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "SignatureDoesNotMatch"
        | "InvalidSignatureException"
        | "IncompleteSignature"
        | "MissingAuthenticationToken"
        | "AuthFailure" => Error::RejectedCredentials { code, message },
        "InternalServerException" | "InternalFailure" | "InternalError" | "ServiceUnavailable" => {
            Error::ServiceFailure { code, message }
        }
        "" => Error::ServiceFailure {
            code: format!("HTTP {status}"),
            message,
        },
        _ if status >= 500 => Error::ServiceFailure { code, message },
        _ => Error::InvalidRequest { code, message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_complete_well_formed_replies_pass() {
        let ok = br#"<?xml version="1.0"?>
<GetIdentityCenterAuthTokenResponse xmlns="http://redshift.amazonaws.com/doc/2012-12-01/">
  <GetIdentityCenterAuthTokenResult><Token>t</Token><ExpirationTime>2026-11-23T04:58:31Z</ExpirationTime></GetIdentityCenterAuthTokenResult>
  <ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>
</GetIdentityCenterAuthTokenResponse>
"#;
        assert!(is_complete_reply(ok));
        let cut = &ok[..ok.len() / 2];
        assert!(!is_complete_reply(cut), "truncated");
        let mismatched = br#"<GetIdentityCenterAuthTokenResponse><GetIdentityCenterAuthTokenResult><Token>X<Token></ExpirationTime></GetIdentityCenterAuthTokenResult></GetIdentityCenterAuthTokenResponse>"#;
        assert!(!is_complete_reply(mismatched), "mismatched end tag");
        assert!(!is_complete_reply(b"<Other></Other>"), "wrong root");
        assert!(!is_complete_reply(b""), "empty");
        let two = b"<GetIdentityCenterAuthTokenResponse></GetIdentityCenterAuthTokenResponse><GetIdentityCenterAuthTokenResponse></GetIdentityCenterAuthTokenResponse>";
        assert!(!is_complete_reply(two), "two roots");
        let trailing =
            b"<GetIdentityCenterAuthTokenResponse></GetIdentityCenterAuthTokenResponse>junk";
        assert!(!is_complete_reply(trailing), "text after the root");
    }

    #[test]
    fn error_codes_map_to_categories() {
        let e = |code: &str, status| {
            service_error(
                Service::Redshift,
                "us-east-1",
                status,
                code.into(),
                "m".into(),
            )
            .exit_code() as u8
        };
        assert_eq!(e("UnsupportedOperation", 400), 4);
        assert_eq!(e("ExpiredToken", 403), 3);
        assert_eq!(e("Throttling", 400), 5);
        assert_eq!(e("SomethingNew", 503), 5);
        assert_eq!(e("SomethingNew", 400), 4);
        assert_eq!(e("", 502), 5);
    }

    proptest::proptest! {
        #[test]
        fn reply_check_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = is_complete_reply(&body);
        }

        #[test]
        fn any_cut_of_a_reply_is_refused(cut in 0usize..200) {
            let ok = b"<GetIdentityCenterAuthTokenResponse><GetIdentityCenterAuthTokenResult><Token>t</Token></GetIdentityCenterAuthTokenResult></GetIdentityCenterAuthTokenResponse>";
            let cut = cut.min(ok.len() - 1);
            proptest::prop_assert!(!is_complete_reply(&ok[..cut]));
        }
    }
}
