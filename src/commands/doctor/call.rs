//! The `call` step: one real GetIdentityCenterAuthToken call, bypassing the cache, and the
//! fix for its failure.
//!
//! Why it exists: only AWS can say whether this identity may have a token for these targets;
//! this step makes the call a token run would make, never shows the token, and turns a
//! denial or a missing identity context into the concrete change to make (the IAM action and
//! ARN to allow, the kind of session needed).

use std::time::Instant;

use super::Inputs;
use super::credentials::Inferred;
use super::report::{Status, Step, human};
use crate::error::Error;
use crate::settings::TokenRequest;
use crate::target::Service;
use crate::token::rfc3339;

pub(super) fn call_step(
    inp: &Inputs<'_>,
    req: &TokenRequest,
    region: &str,
    inferred: &Inferred,
) -> Step {
    let service = req.service();
    let deadline = Instant::now() + req.timeout;
    let call = req.call(region, deadline);
    match inp.fetcher.fetch(call) {
        Ok(token) => {
            let now = (inp.clock)();
            match token.expiration {
                Some(exp) => {
                    let left = exp.duration_since(now).unwrap_or_default();
                    Step::new(
                        "call",
                        Status::Ok,
                        format!(
                            "GetIdentityCenterAuthToken ({}) issued a token (not shown), valid until {} ({} left)",
                            service.name(),
                            rfc3339(exp),
                            human(left)
                        ),
                    )
                    .detail("operation", format!("{}:GetIdentityCenterAuthToken", service.name()))
                    .detail("expiration", rfc3339(exp))
                    .detail("remaining_seconds", left.as_secs())
                }
                None => Step::new(
                    "call",
                    Status::Warn,
                    "GetIdentityCenterAuthToken issued a token (not shown) without an expiration time; it will not be cached",
                )
                .detail("operation", format!("{}:GetIdentityCenterAuthToken", service.name())),
            }
        }
        Err(e) => {
            let fix = call_fix(&e, req, region, inferred);
            let mut step = Step::failed("call", e).detail(
                "operation",
                format!("{}:GetIdentityCenterAuthToken", service.name()),
            );
            step.fix = fix;
            step
        }
    }
}

/// What to change, concretely, for the errors whose fix depends on this request.
fn call_fix(e: &Error, req: &TokenRequest, region: &str, inferred: &Inferred) -> Option<String> {
    let names = req.targets.names();
    match e {
        Error::NotIdentityEnhanced { .. } => Some(format!(
            "the credentials (from {}) carry no IAM Identity Center identity: use a role session assumed with ProvidedContexts (sts:AssumeRole --provided-contexts with the identity context from sso-oidc CreateTokenWithIAM), e.g. a credential_process profile as in plugin-config/aws/config.example",
            inferred.source
        )),
        Error::AccessDenied { .. } => Some(match req.service() {
            Service::Redshift => format!(
                "allow redshift:GetIdentityCenterAuthToken on {} in the IAM policy of this identity",
                names
                    .iter()
                    .map(|n| format!("arn:aws:redshift:{region}:<account-id>:cluster:{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Service::Serverless => format!(
                "allow redshift-serverless:GetIdentityCenterAuthToken on arn:aws:redshift-serverless:{region}:<account-id>:workgroup/<workgroup-id> for {} (the ARN uses the workgroup's id: aws redshift-serverless get-workgroup --workgroup-name NAME)",
                names.join(", ")
            ),
        }),
        Error::TargetNotFound { .. } => Some(format!(
            "check that {} exists in {region} (the region comes from {})",
            names.join(", "),
            req.region.as_ref().map_or("instance metadata", |r| r.from)
        )),
        Error::Network { .. } | Error::Timeout { .. } => Some(
            "check the network path to the endpoint shown in the endpoint step (proxy: HTTPS_PROXY/NO_PROXY), or raise --timeout".into(),
        ),
        _ => None,
    }
}
