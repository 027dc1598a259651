//! Which endpoint a call went to, and which setting chose it: what a connection failure must
//! name so the person can fix it. The SDK's dispatch error carries neither the request's URL
//! nor where its endpoint came from, so the URL is noted by an interceptor just before it is
//! sent, and the SDK's own endpoint lookup is asked again with one source left out at a time.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_types::SdkConfig;
use aws_types::service_config::ServiceConfigKey;

use crate::error::one_line;

/// The two services of the sign-in, as the AWS SDKs name them in endpoint settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Svc {
    SsoOidc,
    Sts,
}

impl Svc {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Svc::SsoOidc => "sso-oidc",
            Svc::Sts => "sts",
        }
    }

    /// The SDK's service id, from which `AWS_ENDPOINT_URL_<ID>` and the key of the
    /// `services` section derive (AWS SDKs and Tools reference guide, "Service-specific
    /// endpoints").
    pub(crate) fn sdk_id(self) -> &'static str {
        match self {
            Svc::SsoOidc => "SSO OIDC",
            Svc::Sts => "STS",
        }
    }

    pub(crate) fn variable(self) -> &'static str {
        match self {
            Svc::SsoOidc => crate::env::AWS_ENDPOINT_URL_SSO_OIDC,
            Svc::Sts => "AWS_ENDPOINT_URL_STS",
        }
    }

    /// The key of the `services` section, as the Rust SDK looks it up.
    pub(crate) fn profile_key(self) -> String {
        self.sdk_id().to_lowercase().replace(' ', "-")
    }
}

/// One call's context for its errors: the configuration it was made with, and the URL the
/// SDK sent it to.
pub(crate) struct Attempt<'a> {
    pub(crate) config: &'a SdkConfig,
    pub(crate) svc: Svc,
    pub(crate) tried: &'a TriedUrl,
}

/// Notes the URL a request is sent to, so a connection failure can name it: the SDK's
/// dispatch error does not carry the request, and the endpoint may be the SDK's own regional
/// one, which no setting of ours holds.
#[derive(Debug, Clone, Default)]
pub(crate) struct TriedUrl(Arc<Mutex<Option<String>>>);

impl TriedUrl {
    pub(crate) fn url(&self) -> Option<String> {
        self.0.lock().ok().and_then(|g| g.clone())
    }
}

impl Intercept for TriedUrl {
    fn name(&self) -> &'static str {
        "TriedUrl"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(shown_url(context.request().uri()));
        }
        Ok(())
    }
}

/// A request URL as a message shows it: no query or fragment, no user information, one line.
pub(crate) fn shown_url(uri: &str) -> String {
    let uri = uri.split(['?', '#']).next().unwrap_or_default();
    let (scheme, rest) = uri.split_once("://").unwrap_or(("", uri));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let sep = if scheme.is_empty() { "" } else { "://" };
    one_line(&format!("{scheme}{sep}{host}{path}"))
}

/// Which setting chose a service's endpoint.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum EndpointOrigin {
    /// `AWS_ENDPOINT_URL_<SERVICE>` or `AWS_ENDPOINT_URL`.
    Variable(&'static str),
    /// The `services` section the profile names.
    ProfileServices,
    /// The profile's `endpoint_url`.
    Profile,
    /// None: the SDK's regional endpoint.
    Regional,
}

/// Where the SDK took `svc`'s endpoint from. The SDK's own lookup (`service_config`, as the
/// client's `From<&SdkConfig>` asks it) is asked again with one source at a time left out
/// (by names that are never set), so precedence and `ignore_configured_endpoint_urls` stay
/// the SDK's: service variable, `AWS_ENDPOINT_URL`, the services section, `endpoint_url`.
pub(crate) fn endpoint_origin(config: &SdkConfig, svc: Svc) -> EndpointOrigin {
    const ENV: &str = "AWS_ENDPOINT_URL";
    const KEY: &str = "endpoint_url";
    const NO_SERVICE: &str = "redshift idc token unset";
    const NO_ENV: &str = "REDSHIFT_IDC_TOKEN_UNSET";
    const NO_KEY: &str = "redshift_idc_token_unset";
    let load = |service: &str, env: &str, key: &str| {
        let k = ServiceConfigKey::builder()
            .service_id(service)
            .env(env)
            .profile(key)
            .build()
            .ok()?;
        config.service_config()?.load_config(k)
    };
    let Some(value) = load(svc.sdk_id(), ENV, KEY) else {
        return EndpointOrigin::Regional;
    };
    let same = |v: Option<String>| v.as_deref() == Some(value.as_str());
    if same(load(svc.sdk_id(), ENV, NO_KEY)) {
        if same(load(NO_SERVICE, ENV, NO_KEY)) {
            EndpointOrigin::Variable(ENV)
        } else {
            EndpointOrigin::Variable(svc.variable())
        }
    } else if same(load(NO_SERVICE, NO_ENV, KEY)) {
        EndpointOrigin::Profile
    } else {
        EndpointOrigin::ProfileServices
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_shown_without_query_or_user_information() {
        assert_eq!(
            shown_url("https://oidc.us-east-1.amazonaws.com/token"),
            "https://oidc.us-east-1.amazonaws.com/token"
        );
        assert_eq!(
            shown_url("http://user:pw@127.0.0.1:8/x?a=b#f"),
            "http://127.0.0.1:8/x"
        );
        assert_eq!(shown_url("http://h\n:1"), "http://h :1");
    }
}
