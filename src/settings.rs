//! Raw arguments turned, once, into validated settings: the targets, and the region, profile
//! and endpoint resolved the way aws-config resolves them, without touching the network.
//!
//! Resolving these offline is what lets a cache hit answer without building the SDK: the
//! cache key needs the region and profile, and reading a few variables and one small INI file
//! is cheap. Only when no region is found offline does the program ask the SDK's full chain
//! (which may query the instance metadata service).

use std::time::Duration;

use crate::aws::config::profile::{self, FileKind};
use crate::aws::config::shared_config::SharedConfig;
use crate::cli::{SessionArgs, TokenArgs};
use crate::env::{self, Env};
use crate::error::Error;
use crate::signin::SigninConfig;
use crate::target::{self, Service, Targets};

/// The source of a region found in the credentials file's profile (aws-config reads it there).
pub const PROFILE_IN_CREDENTIALS_FILE: &str = "profile (credentials file)";

/// How the cache takes part in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheMode {
    /// Serve a fresh cached token, else fetch and store.
    Use,
    /// Fetch, then store.
    Refresh,
    /// Neither read nor write.
    Off,
}

/// Where a setting came from, for `-v` and `doctor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced<T> {
    pub value: T,
    pub from: &'static str,
}

/// A validated request for a token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub targets: Targets,
    /// The region, if it could be resolved offline.
    pub region: Option<Sourced<String>>,
    /// The profile name explicitly chosen (`--profile` or `AWS_PROFILE`), if any.
    pub profile: Option<Sourced<String>>,
    /// An endpoint override (`--endpoint-url` or the endpoint variables), if any.
    pub endpoint: Option<Sourced<String>>,
    pub timeout: Duration,
    pub min_validity: Duration,
    pub cache: CacheMode,
    /// The built-in sign-in, when the profile (or flags, or variables) configure one.
    pub signin: Option<crate::signin::SigninConfig>,
    /// The access-token mode, when configured instead (issuer or start URL, or sso-session).
    pub access: Option<crate::access_token::config::AccessConfig>,
    /// The shared config and credentials files, as read once for this run.
    pub files: SharedConfig,
}

impl TokenRequest {
    pub fn service(&self) -> Service {
        self.targets.service()
    }

    /// The AWS call this request makes in `region`, by `deadline`: what the boundary needs of it.
    pub fn call<'a>(
        &'a self,
        region: &'a str,
        deadline: std::time::Instant,
    ) -> crate::aws::redshift::Call<'a> {
        crate::aws::redshift::Call {
            targets: &self.targets,
            region,
            profile: self.profile.as_ref().map(|p| p.value.as_str()),
            endpoint: self.endpoint.as_ref().map(|e| e.value.as_str()),
            files: &self.files,
            timeout: self.timeout,
            deadline,
        }
    }

    /// The profile whose settings apply: the chosen one or `default`.
    pub fn profile_name(&self) -> &str {
        self.profile
            .as_ref()
            .map_or("default", |p| p.value.as_str())
    }
}

impl TokenRequest {
    pub fn from_args(args: &TokenArgs, env: &Env) -> Result<Self, Error> {
        let mut host_region = None;
        let targets = if let Some(host) = &args.host {
            let parsed = target::parse_host(host)?;
            host_region = Some(parsed.region);
            parsed.targets
        } else if !args.workgroups.is_empty() {
            Targets::workgroups(args.workgroups.clone())?
        } else {
            Targets::clusters(args.clusters.clone())?
        };

        let profile = chosen_profile(args.profile.as_deref(), env)?;
        let profile_name = profile.as_ref().map_or("default", |p| p.value.as_str());

        // The shared files are read once, here, for the whole run (see `shared_config`).
        let timeout = Duration::from_secs(args.timeout);
        let files = SharedConfig::load(env, timeout)?;
        let region = offline_region(args.region.clone(), host_region, profile_name, env, &files)?;

        let endpoint = match &args.endpoint_url {
            Some(url) => Some(Sourced {
                value: url.clone(),
                from: "--endpoint-url",
            }),
            None => endpoint_from_env(targets.service(), env),
        };
        let endpoint = endpoint.or_else(|| {
            if env.is_true(env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) {
                return None;
            }
            let (value, from) = files.endpoint(profile_name, targets.service())?;
            Some(Sourced { value, from })
        });
        if let Some(e) = &endpoint
            && !(e.value.starts_with("http://") || e.value.starts_with("https://"))
        {
            return Err(Error::invalid(
                "endpoint URL",
                &e.value,
                Some(e.from),
                "must start with http:// or https://",
            ));
        }
        crate::aws::config::sdk_settings::check(env, &files, profile_name)?;

        let cache = match (args.no_cache, args.force_refresh) {
            (true, _) => CacheMode::Off,
            (false, true) => CacheMode::Refresh,
            (false, false) => CacheMode::Use,
        };
        let signin = crate::signin::SigninConfig::resolve(&args.signin, profile_name, env, &files)?;
        let access = crate::access_token::config::AccessConfig::resolve(
            &args.signin,
            profile_name,
            region.as_ref().map(|r| r.value.as_str()),
            env,
            &files,
        )?;
        Ok(TokenRequest {
            signin,
            access,
            targets,
            region,
            profile,
            endpoint,
            timeout,
            min_validity: Duration::from_secs(args.min_validity),
            cache,
            files,
        })
    }
}

/// The region as aws-config would resolve it, from what can be read without the network:
/// the flag, the region in `--host`, the variables, the profile (either shared file), checked
/// wherever it came from the way `--region` is.
pub fn offline_region(
    explicit: Option<String>,
    host_region: Option<String>,
    profile_name: &str,
    env: &Env,
    files: &SharedConfig,
) -> Result<Option<Sourced<String>>, Error> {
    let profile_region = || {
        let v = files.get(profile_name, "region")?;
        Some(Sourced {
            value: v.to_owned(),
            // aws-config lets the credentials file's profile override the config file's.
            from: match profile::section(
                files.credentials.text(),
                profile_name,
                FileKind::Credentials,
            ) {
                Some(keys) if keys.iter().any(|(k, v)| k == "region" && !v.is_empty()) => {
                    PROFILE_IN_CREDENTIALS_FILE
                }
                _ => "profile",
            },
        })
    };
    let region = sourced(explicit, "--region")
        // The host names the region the cluster lives in; any other region would answer
        // ClusterNotFound, so it wins over the general defaults.
        .or_else(|| sourced(host_region, "--host"))
        .or_else(|| sourced(env.get(env::AWS_REGION).map(str::to_owned), env::AWS_REGION))
        .or_else(|| {
            sourced(
                env.get(env::AWS_DEFAULT_REGION).map(str::to_owned),
                env::AWS_DEFAULT_REGION,
            )
        })
        .or_else(profile_region);
    if let Some(r) = &region {
        check_region(r, profile_name)?;
    }
    Ok(region)
}

/// The profile chosen by `--profile`, else `AWS_PROFILE` (`None`: the SDK's `default`), with
/// the same check whichever gave it. Every command that takes a profile resolves it here.
pub(crate) fn chosen_profile(
    flag: Option<&str>,
    env: &Env,
) -> Result<Option<Sourced<String>>, Error> {
    let profile = sourced(flag.map(str::to_owned), "--profile").or_else(|| {
        sourced(
            env.get(env::AWS_PROFILE).map(str::to_owned),
            env::AWS_PROFILE,
        )
    });
    if let Some(p) = &profile {
        check_profile_name(p)?;
    }
    Ok(profile)
}

/// A profile name from `--profile` or `AWS_PROFILE`: one the shared files can hold.
fn check_profile_name(p: &Sourced<String>) -> Result<(), Error> {
    if p.value.is_empty() || p.value.chars().any(|c| c.is_control() || c == ']') {
        return Err(Error::invalid(
            "profile name",
            &p.value,
            Some(p.from),
            "must be non-empty, without ']' or control characters",
        ));
    }
    Ok(())
}

/// Every region source gets the check `--region` gets: a value the SDK cannot put in a host
/// name would otherwise fail deep inside it as "internal error".
fn check_region(r: &Sourced<String>, profile: &str) -> Result<(), Error> {
    if target::is_region(&r.value) {
        return Ok(());
    }
    let from = match r.from {
        "profile" | PROFILE_IN_CREDENTIALS_FILE => {
            crate::aws::config::shared_config::profile_origin(profile)
        }
        other => other.to_owned(),
    };
    Err(Error::invalid(
        "region",
        &r.value,
        (r.from != "--region").then_some(from.as_str()),
        "expected a region name such as us-east-1",
    ))
}

fn sourced(value: Option<String>, from: &'static str) -> Option<Sourced<String>> {
    value.map(|value| Sourced { value, from })
}

/// The service-specific endpoint variable wins over the general one, as in the AWS SDKs.
fn endpoint_from_env(service: Service, env: &Env) -> Option<Sourced<String>> {
    if env.is_true(env::AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) {
        return None;
    }
    let specific = match service {
        Service::Redshift => env::AWS_ENDPOINT_URL_REDSHIFT,
        Service::Serverless => env::AWS_ENDPOINT_URL_REDSHIFT_SERVERLESS,
    };
    [specific, env::AWS_ENDPOINT_URL]
        .into_iter()
        .find_map(|name| sourced(env.get(name).map(str::to_owned), name))
}

/// The profile, region and sign-in settings of a session command.
pub struct SessionRequest {
    pub config: SigninConfig,
    pub region: Option<String>,
    pub timeout: Duration,
    pub files: SharedConfig,
}

impl SessionRequest {
    /// The settings of `login`, `logout` and `credentials`: the profile's sign-in, required.
    pub fn from_args(args: &SessionArgs, env: &Env) -> Result<Self, Error> {
        let profile = chosen_profile(args.profile.as_deref(), env)?
            .map_or_else(|| "default".to_owned(), |p| p.value);
        let timeout = Duration::from_secs(args.timeout);
        // The shared files are read once for the run, as for a token (see `shared_config`).
        let files = SharedConfig::load(env, timeout)?;
        let config = SigninConfig::resolve(&args.signin, &profile, env, &files)?.ok_or_else(|| {
        Error::MissingSetting {
            what: format!(
                "sign-in is not configured for the profile {}",
                crate::target::printable(&profile)
            ),
            fix: "set redshift_idc_application_arn and redshift_idc_role_arn in it (see plugin-config/aws/), or pass --application-arn and --role-arn".into(),
        }
    })?;
        let region =
            offline_region(args.region.clone(), None, &profile, env, &files)?.map(|r| r.value);
        Ok(SessionRequest {
            config,
            region,
            timeout,
            files,
        })
    }

    /// The sign-in these settings describe, in their region and bounds.
    pub fn signin<'a>(&'a self, env: &'a Env) -> crate::signin::Signin<'a> {
        crate::signin::Signin {
            config: &self.config,
            run_region: self.region.as_deref(),
            call_timeout: self.timeout,
            env,
            files: &self.files,
        }
    }
}

/// The access-token settings of `login`, `logout` and `credentials`, when the profile
/// selects that mode.
pub struct AccessRequest {
    pub config: crate::access_token::config::AccessConfig,
    pub timeout: Duration,
    pub files: SharedConfig,
}

impl AccessRequest {
    /// `Ok(None)`: the profile does not select the access-token mode.
    pub fn from_args(args: &SessionArgs, env: &Env) -> Result<Option<Self>, Error> {
        let profile = chosen_profile(args.profile.as_deref(), env)?
            .map_or_else(|| "default".to_owned(), |p| p.value);
        let timeout = Duration::from_secs(args.timeout);
        let files = SharedConfig::load(env, timeout)?;
        let region =
            offline_region(args.region.clone(), None, &profile, env, &files)?.map(|r| r.value);
        let config = crate::access_token::config::AccessConfig::resolve(
            &args.signin,
            &profile,
            region.as_deref(),
            env,
            &files,
        )?;
        Ok(config.map(|config| AccessRequest {
            config,
            timeout,
            files,
        }))
    }

    pub fn access<'a>(&'a self, env: &'a Env) -> crate::access_token::Access<'a> {
        crate::access_token::Access {
            config: &self.config,
            call_timeout: self.timeout,
            min_validity: Duration::ZERO,
            env,
            files: &self.files,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cli::test_token_args as args;

    #[test]
    fn region_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        std::fs::write(
            &cfg,
            "[default]\nregion = eu-west-1\n[profile dev]\nregion=ap-south-1 # mumbai\n",
        )
        .unwrap();
        let cfg_s = cfg.to_str().unwrap();
        let env = Env::from_pairs([("AWS_CONFIG_FILE", cfg_s)]);
        let r = TokenRequest::from_args(&args(|_| {}), &env).unwrap();
        assert_eq!(
            r.region.unwrap(),
            Sourced {
                value: "eu-west-1".into(),
                from: "profile"
            }
        );

        let env = Env::from_pairs([("AWS_CONFIG_FILE", cfg_s), ("AWS_PROFILE", "dev")]);
        let r = TokenRequest::from_args(&args(|_| {}), &env).unwrap();
        assert_eq!(r.region.as_ref().unwrap().value, "ap-south-1");
        assert_eq!(r.profile_name(), "dev");

        let env = Env::from_pairs([("AWS_CONFIG_FILE", cfg_s), ("AWS_REGION", "us-west-1")]);
        let r = TokenRequest::from_args(&args(|_| {}), &env).unwrap();
        assert_eq!(r.region.unwrap().from, "AWS_REGION");

        let host = "c.x.us-east-2.redshift.amazonaws.com".to_owned();
        let r = TokenRequest::from_args(&args(|a| a.host = Some(host.clone())), &env).unwrap();
        assert_eq!(r.region.unwrap().value, "us-east-2");

        let r = TokenRequest::from_args(
            &args(|a| {
                a.host = Some(host);
                a.region = Some("eu-north-1".into())
            }),
            &env,
        )
        .unwrap();
        assert_eq!(r.region.unwrap().value, "eu-north-1");

        let env = Env::from_pairs([("HOME", dir.path().to_str().unwrap())]);
        assert!(
            TokenRequest::from_args(&args(|_| {}), &env)
                .unwrap()
                .region
                .is_none()
        );
    }

    #[test]
    fn endpoint_precedence() {
        let env = Env::from_pairs([
            ("AWS_ENDPOINT_URL", "http://general"),
            ("AWS_ENDPOINT_URL_REDSHIFT_SERVERLESS", "http://rss"),
        ]);
        let r = TokenRequest::from_args(&args(|_| {}), &env).unwrap();
        assert_eq!(r.endpoint.unwrap().value, "http://general");
        let wg = |a: &mut TokenArgs| {
            a.clusters.clear();
            a.workgroups = vec!["wg1".parse().unwrap()];
        };
        let r = TokenRequest::from_args(&args(wg), &env).unwrap();
        assert_eq!(r.endpoint.unwrap().value, "http://rss");
        let r = TokenRequest::from_args(&args(|a| a.endpoint_url = Some("https://x".into())), &env)
            .unwrap();
        assert_eq!(r.endpoint.unwrap().from, "--endpoint-url");
        let err = TokenRequest::from_args(&args(|a| a.endpoint_url = Some("ftp://x".into())), &env)
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("must start with http:// or https://")
        );
    }

    #[test]
    fn bad_region_and_no_targets() {
        let env = Env::default();
        let err =
            TokenRequest::from_args(&args(|a| a.region = Some("Mars".into())), &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid region 'Mars': expected a region name such as us-east-1"
        );
        let err = TokenRequest::from_args(&args(|a| a.clusters.clear()), &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no target given: pass --cluster-id, --workgroup or --host"
        );
    }
}
