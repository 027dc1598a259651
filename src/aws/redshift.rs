//! Redshift's two `GetIdentityCenterAuthToken` calls behind one small trait.
//!
//! `Fetch` is synchronous on purpose. The serving policy calls it while holding a file lock
//! and is tested with a fake; only the AWS implementation builds a tokio runtime, the HTTP
//! client and the credential chain, and it does so only when a token must really be fetched.
//! SDK errors are turned into our `Error` by code, in `errors.rs`.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

use aws_config::BehaviorVersion;
use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::SharedCredentialsProvider;
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

pub use super::Call;
use super::credentials::{CredentialsInfo, ProbeCredentials, chain_credentials, reported_source};
use super::errors::{chain, network_cause, not_a_reply, service_error};
use super::runtime::{bounded, timeouts};
use crate::error::{Error, one_line};
use crate::target::Targets;
use crate::token::{AuthToken, rfc3339};

/// Where tokens come from.
pub trait Fetch {
    /// Fetches a new token for `call`.
    fn fetch(&self, call: Call<'_>) -> Result<AuthToken, Error>;

    /// The region from sources that need more than the environment and config file (e.g. the
    /// instance metadata service), for when none was found offline.
    fn discover_region(&self, deadline: Instant) -> Option<String>;

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

impl ProbeCredentials for AwsFetcher {
    fn credentials(&self, call: Call<'_>) -> Result<CredentialsInfo, Error> {
        let seconds = call.timeout.as_secs();
        let remaining = call.deadline.saturating_duration_since(Instant::now());
        let phase = Cell::new(RESOLVING_CREDENTIALS);
        bounded(seconds, remaining, &phase, async {
            let config = sdk_config(call, remaining).await;
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

/// How long the metadata service may take to tell a region before we give up on it.
const REGION_DISCOVERY_LIMIT: Duration = Duration::from_secs(3);

impl Fetch for AwsFetcher {
    fn fetch(&self, call: Call<'_>) -> Result<AuthToken, Error> {
        let seconds = call.timeout.as_secs();
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

    fn discover_region(&self, deadline: Instant) -> Option<String> {
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

/// aws-config's shared configuration for one run: region, profile, endpoint and timeouts.
async fn sdk_config(call: Call<'_>, remaining: Duration) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        // The shared files as read once this run: aws-config never opens them itself.
        .profile_files(call.files.profile_files())
        .region(Region::new(call.region.to_owned()))
        .timeout_config(timeouts(remaining));
    if let Some(p) = call.profile {
        loader = loader.profile_name(p);
    }
    if let Some(e) = call.endpoint {
        loader = loader.endpoint_url(e);
    }
    loader.load().await
}

async fn fetch(
    fetcher: &AwsFetcher,
    call: Call<'_>,
    remaining: Duration,
    phase: &Cell<&'static str>,
) -> Result<AuthToken, Error> {
    let config = sdk_config(call, remaining).await;
    phase.set(RESOLVING_CREDENTIALS);
    let creds = fetcher
        .credentials_for(&config, call.timeout.as_secs())
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
    let service = call.service();
    let reply = match call.targets {
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

/// Maps any SDK error of either operation to our error, by the AWS error code.
fn sdk_error<E>(e: SdkError<E, HttpResponse>, call: Call<'_>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let service = call.service();
    let endpoint = call.endpoint.map_or_else(
        || format!("{} in {}", service.name(), call.region),
        str::to_owned,
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
            seconds: call.timeout.as_secs(),
            during: "waiting for AWS",
        },
        SdkError::DispatchFailure(d) if d.is_timeout() => Error::Timeout {
            seconds: call.timeout.as_secs(),
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
                fix: "check the network, proxy settings and --endpoint-url".to_owned(),
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
