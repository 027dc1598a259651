//! The access-token settings: which Identity Center instance, how the person signs in, or
//! which AWS CLI sso-session to reuse. Profile keys, overridden by variables, by flags, as
//! for the identity-enhanced sign-in (`signin::config`), and validated once, here.
//!
//! The mode follows from what is configured: an application and a role select the
//! identity-enhanced sign-in; an issuer URL or start URL without them selects this mode with
//! our own sign-in; `redshift_idc_sso_session` selects this mode with the AWS CLI's token.
//! The keys of two modes together are an error naming the keys.

use std::time::Duration;

use crate::aws::config::shared_config::SharedConfig;
use crate::cli::{SigninArgs, SigninKind};
use crate::env::{self, Env};
use crate::error::Error;
use crate::signin::config::{DEFAULT_LISTEN_PORT, DEFAULT_SIGNIN_TIMEOUT};

/// Where the access token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Our own sign-in: `RegisterClient`, then the browser or the device code.
    SignIn {
        /// `RegisterClient`'s `issuerUrl` (the drivers' `issuer_url`; the access portal URL
        /// is accepted there too).
        issuer_url: String,
        /// `StartDeviceAuthorization`'s `startUrl` (the access portal): the device kind
        /// needs it.
        start_url: Option<String>,
        kind: SigninKind,
    },
    /// The AWS CLI's `[sso-session NAME]`, its token read (and refreshed) with aws-config's
    /// own SSO token provider.
    SsoSession { name: String, start_url: String },
}

/// Validated access-token settings for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessConfig {
    pub profile: String,
    pub source: Source,
    /// The Identity Center region (the drivers' `idc_region`).
    pub idc_region: String,
    pub listen_port: u16,
    pub signin_timeout: Duration,
    pub no_browser: bool,
    /// The browser hook: a command line the URL is appended to, or `none`.
    pub browser: Option<String>,
    /// Where the refresh token and the client secret go (`redshift_idc_secret_store`).
    pub secret_store: crate::secret_store::Choice,
}

impl AccessConfig {
    /// The settings for `profile`; `Ok(None)` when this mode is not configured.
    /// `run_region` is the run's region, the default of the Identity Center region.
    pub fn resolve(
        args: &SigninArgs,
        profile: &str,
        run_region: Option<&str>,
        env: &Env,
        files: &SharedConfig,
    ) -> Result<Option<AccessConfig>, Error> {
        let pick = |flag: Option<String>, flag_name: &str, var: &str, key: &str| {
            flag.map(|v| (v, flag_name.to_owned()))
                .or_else(|| env.get(var).map(|v| (v.to_owned(), var.to_owned())))
                .or_else(|| {
                    files
                        .get(profile, key)
                        .map(|v| (v.to_owned(), key.to_owned()))
                })
        };
        let application = pick(
            args.application_arn.clone(),
            "--application-arn",
            env::SIGNIN_APPLICATION_ARN,
            "redshift_idc_application_arn",
        );
        let role = pick(
            args.role_arn.clone(),
            "--role-arn",
            env::SIGNIN_ROLE_ARN,
            "redshift_idc_role_arn",
        );
        let sso_session = pick(
            args.sso_session.clone(),
            "--sso-session",
            env::SIGNIN_SSO_SESSION,
            "redshift_idc_sso_session",
        );
        let issuer = url(pick(
            args.issuer_url.clone(),
            "--issuer-url",
            env::SIGNIN_ISSUER_URL,
            "redshift_idc_issuer_url",
        ))?;
        let start = url(pick(
            args.start_url.clone(),
            "--start-url",
            env::SIGNIN_START_URL,
            "redshift_idc_start_url",
        ))?;
        let role_mode = application.is_some() || role.is_some();
        if let Some((_, from)) = &sso_session {
            let other = [&application, &role, &issuer, &start]
                .into_iter()
                .flatten()
                .map(|(_, f)| f.as_str())
                .collect::<Vec<_>>();
            if !other.is_empty() {
                return Err(Error::MissingSetting {
                    what: format!(
                        "{from} selects the AWS CLI's session, and {} select another sign-in",
                        other.join(", ")
                    ),
                    fix: "keep one: remove the sso-session or the other keys from the profile"
                        .into(),
                });
            }
        }
        if role_mode || (sso_session.is_none() && issuer.is_none() && start.is_none()) {
            return Ok(None);
        }
        let idc_region = pick(
            args.idc_region.clone(),
            "--idc-region",
            env::SIGNIN_IDC_REGION,
            "redshift_idc_region",
        );
        crate::signin::config::check_idc_region(idc_region.as_ref())?;
        let kind_flag = args.signin.map(|k| k.name().to_owned());
        let kind = match pick(
            kind_flag,
            "--signin",
            env::SIGNIN_KIND,
            "redshift_idc_signin",
        ) {
            None => SigninKind::Browser,
            Some((v, from)) => match v.to_ascii_lowercase().as_str() {
                "browser" => SigninKind::Browser,
                "device" => SigninKind::Device,
                _ => {
                    return Err(Error::invalid(
                        "sign-in kind",
                        &v,
                        Some(&from),
                        "expected browser or device in the access-token mode (jwt needs an application and a role)",
                    ));
                }
            },
        };
        let (source, region_default) = match sso_session {
            Some((name, _)) => {
                let get = |k: &str| files.sso_session(&name, k).map(str::to_owned);
                let start_url = get("sso_start_url").ok_or_else(|| Error::MissingSetting {
                    what: format!("the sso-session {name} has no sso_start_url"),
                    fix: format!("add it to [sso-session {name}] (aws configure sso-session)"),
                })?;
                let scopes = get("sso_registration_scopes").unwrap_or_default();
                if !scopes
                    .split([',', ' '])
                    .any(|s| s.trim() == crate::aws::sso_oidc::REDSHIFT_CONNECT_SCOPE)
                {
                    return Err(Error::MissingSetting {
                        what: format!(
                            "the sso-session {name} does not register the redshift:connect scope"
                        ),
                        fix: format!(
                            "add `sso_registration_scopes = sso:account:access, redshift:connect` to [sso-session {name}], then run `aws sso login --sso-session {name}`"
                        ),
                    });
                }
                let region = get("sso_region");
                (Source::SsoSession { name, start_url }, region)
            }
            None => {
                let issuer_url = match (&issuer, &start) {
                    (Some((i, _)), _) => i.clone(),
                    (None, Some((s, _))) => s.clone(),
                    (None, None) => unreachable!("checked above"),
                };
                if kind == SigninKind::Device && start.is_none() {
                    return Err(Error::MissingSetting {
                        what: "the device sign-in needs the AWS access portal URL".into(),
                        fix: "set redshift_idc_start_url (https://d-xxxxxxxxxx.awsapps.com/start), REDSHIFT_IDC_TOKEN_START_URL or --start-url".into(),
                    });
                }
                let source = Source::SignIn {
                    issuer_url,
                    start_url: start.map(|(s, _)| s),
                    kind,
                };
                (source, None)
            }
        };
        let idc_region = idc_region
            .map(|(r, _)| r)
            .or(region_default)
            .or_else(|| run_region.map(str::to_owned))
            .ok_or_else(|| Error::MissingSetting {
                what: "the access-token mode needs the Identity Center region".into(),
                fix: "set redshift_idc_region (the drivers' idc_region), REDSHIFT_IDC_TOKEN_IDC_REGION or --idc-region".into(),
            })?;
        let number = |v: Option<(String, String)>, max: u64| -> Result<Option<u64>, Error> {
            v.map(|(s, from)| match s.parse::<u64>() {
                Ok(n) if n <= max => Ok(n),
                _ => Err(Error::invalid(
                    "value",
                    &s,
                    Some(&from),
                    format!("expected a whole number from 0 to {max}"),
                )),
            })
            .transpose()
        };
        let listen_port = number(
            pick(
                args.listen_port.map(|n| n.to_string()),
                "--listen-port",
                env::SIGNIN_LISTEN_PORT,
                "redshift_idc_listen_port",
            ),
            65_535,
        )?
        .map_or(DEFAULT_LISTEN_PORT, |p| p as u16);
        let signin_timeout = number(
            pick(
                args.signin_timeout.map(|n| n.to_string()),
                "--signin-timeout",
                env::SIGNIN_TIMEOUT,
                "redshift_idc_signin_timeout",
            ),
            3600,
        )?
        .filter(|n| *n > 0)
        .map_or(DEFAULT_SIGNIN_TIMEOUT, Duration::from_secs);
        Ok(Some(AccessConfig {
            profile: profile.to_owned(),
            source,
            idc_region,
            listen_port,
            signin_timeout,
            no_browser: args.no_browser || env.is_true(env::SIGNIN_NO_BROWSER),
            browser: pick(None, "", env::SIGNIN_BROWSER, "redshift_idc_browser").map(|(b, _)| b),
            secret_store: crate::signin::config::secret_store(pick(
                None,
                "",
                env::SECRET_STORE,
                crate::secret_store::SETTING,
            ))?,
        }))
    }
}

/// A URL setting: https (http only for loopback stand-ins), without a trailing slash.
fn url(v: Option<(String, String)>) -> Result<Option<(String, String)>, Error> {
    match v {
        Some((u, from)) if !(u.starts_with("https://") || u.starts_with("http://")) => Err(
            Error::invalid("URL", &u, Some(&from), "must start with https://"),
        ),
        other => Ok(other.map(|(u, from)| (u.trim_end_matches('/').to_owned(), from))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(config: &str, env: &[(&str, &str)]) -> Result<Option<AccessConfig>, Error> {
        let files = SharedConfig::from_texts(config, "").unwrap();
        let env = Env::from_pairs(env.iter().copied());
        AccessConfig::resolve(
            &SigninArgs::default(),
            "default",
            Some("eu-west-1"),
            &env,
            &files,
        )
    }

    #[test]
    fn the_mode_follows_from_what_is_configured() {
        assert_eq!(
            resolve("[default]\nregion = us-east-1\n", &[]).unwrap(),
            None
        );
        let app = "[default]\nredshift_idc_application_arn = a\nredshift_idc_role_arn = r\nredshift_idc_issuer_url = https://i\n";
        assert_eq!(
            resolve(app, &[]).unwrap(),
            None,
            "identity-enhanced keeps the issuer URL"
        );
        let c = resolve(
            "[default]\nredshift_idc_issuer_url = https://identitycenter.amazonaws.com/ssoins-1/\nredshift_idc_region = us-east-1\n",
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.idc_region, "us-east-1");
        assert_eq!(
            c.source,
            Source::SignIn {
                issuer_url: "https://identitycenter.amazonaws.com/ssoins-1".into(),
                start_url: None,
                kind: SigninKind::Browser
            }
        );
        let c = resolve("[default]\nredshift_idc_issuer_url = https://i\n", &[])
            .unwrap()
            .unwrap();
        assert_eq!(c.idc_region, "eu-west-1", "the run's region by default");
    }

    #[test]
    fn conflicts_and_gaps_name_the_keys() {
        let e = resolve(
            "[default]\nredshift_idc_sso_session = corp\nredshift_idc_issuer_url = https://i\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("redshift_idc_sso_session") && e.contains("redshift_idc_issuer_url"),
            "{e}"
        );
        let e = resolve(
            "[default]\nredshift_idc_issuer_url = https://i\nredshift_idc_signin = device\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("redshift_idc_start_url"), "{e}");
        let e = resolve(
            "[default]\nredshift_idc_sso_session = corp\n[sso-session corp]\nsso_start_url = https://d/start\nsso_region = us-east-2\nsso_registration_scopes = sso:account:access\n",
            &[],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("redshift:connect"), "{e}");
        let c = resolve(
            "[default]\nredshift_idc_sso_session = corp\n[sso-session corp]\nsso_start_url = https://d/start\nsso_region = us-east-2\nsso_registration_scopes = sso:account:access, redshift:connect\n",
            &[],
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.idc_region, "us-east-2");
        let e = resolve("[default]\nredshift_idc_issuer_url = i\n", &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("invalid URL 'i' (from redshift_idc_issuer_url)"),
            "{e}"
        );
    }
}
