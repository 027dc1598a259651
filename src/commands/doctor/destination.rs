//! The `targets`, `region` and `endpoint` steps: what the call is about and where it goes.
//!
//! Why it exists: these three are settings a token run derives before any AWS call, and a
//! wrong one is the most common reason a call fails; each step shows the value and where it
//! came from (flag, environment, profile, host name, instance metadata, regional default).

use std::time::Instant;

use super::Inputs;
use super::report::{Status, Step};
use crate::cli::TokenArgs;
use crate::error::Error;
use crate::settings::{Sourced, TokenRequest};
use crate::target::{self, Service, Targets};

/// The targets exactly as `TokenRequest::from_args` derives them, and the host parse if any.
pub(super) fn parse_targets(
    args: &TokenArgs,
) -> Result<(Targets, Option<target::HostTarget>), Error> {
    if let Some(host) = &args.host {
        let parsed = target::parse_host(host)?;
        return Ok((parsed.targets.clone(), Some(parsed)));
    }
    let targets = if args.workgroups.is_empty() {
        Targets::clusters(args.clusters.clone())?
    } else {
        Targets::workgroups(args.workgroups.clone())?
    };
    Ok((targets, None))
}

/// Which of the settings `from_args` rejected, given that the targets were fine.
pub(super) fn bad_setting(args: &TokenArgs, e: &Error) -> &'static str {
    let setting = match e {
        Error::InvalidSetting { setting, .. } => setting.as_str(),
        _ => "",
    };
    if args
        .region
        .as_deref()
        .is_some_and(|r| !target::is_region(r))
        || setting == "region"
    {
        "region"
    } else if setting == "endpoint URL" {
        "endpoint"
    } else {
        "profile"
    }
}

pub(super) fn targets_step(
    targets: &Targets,
    host: Option<&target::HostTarget>,
    args: &TokenArgs,
) -> Step {
    let service = targets.service();
    let mut step = Step::new(
        "targets",
        Status::Ok,
        format!("{} ({}): {targets}", service.name(), service_title(service)),
    )
    .detail("service", service.name())
    .detail("targets", targets.names());
    if let (Some(h), Some(input)) = (host, &args.host) {
        step = step
            .note("host", target::printable(input))
            .note("derived", format!("{} in region {}", h.targets, h.region));
    }
    step
}

fn service_title(service: Service) -> &'static str {
    match service {
        Service::Redshift => "Amazon Redshift provisioned",
        Service::Serverless => "Amazon Redshift Serverless",
    }
}

/// The region step; returns the region when there is one.
pub(super) fn region_step(
    inp: &Inputs<'_>,
    req: &TokenRequest,
    steps: &mut Vec<Step>,
) -> Option<String> {
    if let Some(Sourced { value, from }) = &req.region {
        steps.push(
            Step::new(
                "region",
                Status::Ok,
                format!("{value} (from {})", describe_source(from)),
            )
            .detail("region", value.as_str())
            .detail("from", *from),
        );
        return Some(value.clone());
    }
    let deadline = Instant::now() + req.timeout;
    match inp.fetcher.discover_region(deadline) {
        Some(r) => {
            steps.push(
                Step::new(
                    "region",
                    Status::Warn,
                    format!("{r} (from the instance metadata service: nothing configured locally)"),
                )
                .detail("region", r.as_str())
                .detail("from", "instance metadata")
                .fix("set the region explicitly (--region, AWS_REGION or `region` in the profile) so a run needs no metadata lookup"),
            );
            Some(r)
        }
        None => {
            steps.push(Step::failed("region", Error::NoRegion).fix(
                "pass --region, set AWS_REGION, set `region = ...` in the profile, or pass --host with the endpoint host name",
            ));
            None
        }
    }
}

fn describe_source(from: &str) -> String {
    match from {
        "profile" => "the profile's `region` setting".to_owned(),
        crate::settings::PROFILE_IN_CREDENTIALS_FILE => {
            "the profile's `region` setting in the credentials file".to_owned()
        }
        "--host" => "the --host name".to_owned(),
        other => other.to_owned(),
    }
}

pub(super) fn endpoint_step(req: &TokenRequest, region: Option<&str>) -> Step {
    let service = req.service();
    match (&req.endpoint, region) {
        (Some(Sourced { value, from }), _) => {
            let shown = target::printable(value);
            let origin = crate::aws::config::shared_config::profile_origin(req.profile_name());
            let described = match *from {
                crate::aws::config::shared_config::ENDPOINT_FROM_PROFILE => {
                    format!("`endpoint_url` in {origin}")
                }
                crate::aws::config::shared_config::ENDPOINT_FROM_SERVICES => {
                    format!("the `services` section named by {origin}")
                }
                other => other.to_owned(),
            };
            let step = Step::new(
                "endpoint",
                Status::Ok,
                format!("{shown} (from {described})"),
            )
            .detail("endpoint", shown.as_str())
            .detail("from", *from);
            if plain_http_off_host(value) {
                Step {
                    status: Status::Warn,
                    ..step
                }
                .fix("use an https:// endpoint: over plain HTTP the token travels unencrypted")
            } else {
                step
            }
        }
        (None, Some(region)) => {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            let url = format!("https://{}.{region}.{suffix}", service.name());
            Step::new(
                "endpoint",
                Status::Ok,
                format!("{url} (the service's regional default)"),
            )
            .detail("endpoint", url)
            .detail("from", "regional default")
        }
        (None, None) => Step::skipped("endpoint", "the default endpoint depends on the region"),
    }
}

/// `http://` to anything but this machine.
fn plain_http_off_host(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    !(host == "localhost" || host.starts_with("127.") || host == "[::1]")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http() {
        assert!(plain_http_off_host("http://10.0.0.1:80/"));
        assert!(!plain_http_off_host("http://127.0.0.1:4566"));
        assert!(!plain_http_off_host("https://x"));
    }
}
