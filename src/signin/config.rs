//! The sign-in settings: our own keys in the profile's section of the shared AWS config file,
//! overridden by environment variables, overridden by flags; validated once, here.
//!
//! Why the shared config file and not a file of our own: the profile is already how people
//! (and every driver's `profile` setting) choose an AWS identity, region and endpoints, so the
//! application and role belong next to them, one profile per Identity Center application;
//! the AWS CLI and SDKs ignore keys they do not know (and `aws configure set` can write ours);
//! and the file is already part of the cache key's fingerprint, so editing a sign-in setting
//! can never serve a session made under the old one. Every key starts with `redshift_idc_`.

use std::path::PathBuf;
use std::time::Duration;

use super::jwt::JwtSource;
use crate::aws::config::shared_config::SharedConfig;
use crate::cli::SigninArgs;
pub use crate::cli::SigninKind;
use crate::env::{self, Env};
use crate::error::Error;

/// The AssumeRole session duration when none is configured (STS's own default).
pub const DEFAULT_SESSION_DURATION: Duration = Duration::from_secs(3600);
/// How long a run waits for a sign-in (its own browser, or another process's) by default.
pub const DEFAULT_SIGNIN_TIMEOUT: Duration = Duration::from_secs(120);
/// The drivers' BrowserIdcAuthPlugin default, so one registered redirect URI serves both.
pub const DEFAULT_LISTEN_PORT: u16 = 7890;
/// Scopes asked for at /authorize (and sent to `CreateTokenWithIAM`) when none are configured.
///
/// The identity context is issued with the `sts:identity_context` scope, and an authorization
/// code carries only the scopes asked for at `/authorize`; `openid` and `aws` are the other
/// two scopes Identity Center grants by default ("If the value is not specified, IAM Identity
/// Center authorizes all scopes configured for the application, including the following
/// default scopes: openid, aws, sts:identity_context":
/// <https://docs.aws.amazon.com/singlesignon/latest/OIDCAPIReference/API_CreateTokenWithIAM.html>;
/// the identity context as `sts:identity_context` in the ID token:
/// <https://docs.aws.amazon.com/singlesignon/latest/userguide/trustedidentitypropagation-identity-enhanced-iam-role-sessions.html>).
pub const DEFAULT_SCOPES: &str = "openid aws sts:identity_context";

/// Validated sign-in settings for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigninConfig {
    /// The profile the keys were read from (also the bootstrap profile unless one is set).
    pub profile: String,
    pub application_arn: String,
    pub role_arn: String,
    pub kind: SigninKind,
    pub jwt: Option<JwtSource>,
    /// The Identity Center region; `None`: the run's region.
    pub idc_region: Option<String>,
    pub issuer_url: Option<String>,
    pub authorize_url: Option<String>,
    pub scopes: Vec<String>,
    pub bootstrap_profile: Option<String>,
    pub session_duration: Duration,
    pub listen_port: u16,
    /// The browser hook: a command line the URL is appended to, or `none`.
    pub browser: Option<String>,
    pub signin_timeout: Duration,
    pub no_browser: bool,
    /// Where the refresh token goes (`redshift_idc_secret_store`); not part of the session
    /// key: the session is the same wherever its refresh token is kept.
    pub secret_store: crate::secret_store::Choice,
}

impl SigninConfig {
    /// The profile whose credentials sign CreateTokenWithIAM and AssumeRole.
    pub fn bootstrap_profile(&self) -> &str {
        self.bootstrap_profile.as_deref().unwrap_or(&self.profile)
    }

    /// Reads the settings for `profile`. `Ok(None)`: sign-in is not configured (neither an
    /// application nor a role anywhere), and the run uses the credential chain directly.
    ///
    /// The keys come from `files`, the shared files as read once for the run (never from the
    /// paths again: a pipe is read once, and a FIFO must not block).
    pub fn resolve(
        args: &SigninArgs,
        profile: &str,
        env: &Env,
        files: &SharedConfig,
    ) -> Result<Option<SigninConfig>, Error> {
        let key = |name: &str| files.get(profile, name).map(str::to_owned);
        // flag > variable > key, each with the name to blame when it is invalid.
        let pick = |flag: &Option<String>, flag_name: &'static str, var: &'static str, k: &str| {
            flag.clone()
                .map(|v| (v, flag_name.to_owned()))
                .or_else(|| env.get(var).map(|v| (v.to_owned(), var.to_owned())))
                .or_else(|| key(k).map(|v| (v, k.to_owned())))
        };
        let application = pick(
            &args.application_arn,
            "--application-arn",
            env::SIGNIN_APPLICATION_ARN,
            "redshift_idc_application_arn",
        );
        let role = pick(
            &args.role_arn,
            "--role-arn",
            env::SIGNIN_ROLE_ARN,
            "redshift_idc_role_arn",
        );
        let (application, role) = match (application, role) {
            (None, None) => return Ok(None),
            (Some(a), Some(r)) => (a, r),
            (None, Some(_)) => {
                return Err(missing(
                    "an application ARN",
                    "--application-arn",
                    env::SIGNIN_APPLICATION_ARN,
                    "redshift_idc_application_arn",
                    profile,
                ));
            }
            (Some(_), None) => {
                return Err(missing(
                    "a role ARN",
                    "--role-arn",
                    env::SIGNIN_ROLE_ARN,
                    "redshift_idc_role_arn",
                    profile,
                ));
            }
        };
        check_arn(&application, "sso", "application/")?;
        check_arn(&role, "iam", "role/")?;
        let (application, role) = (application.0, role.0);

        let kind_flag = args.signin.map(|k| k.name().to_owned());
        let kind = match pick(
            &kind_flag,
            "--signin",
            env::SIGNIN_KIND,
            "redshift_idc_signin",
        ) {
            None => None,
            Some((v, from)) => Some(match v.to_ascii_lowercase().as_str() {
                "jwt" => SigninKind::Jwt,
                "browser" => SigninKind::Browser,
                _ => {
                    return Err(Error::invalid(
                        "sign-in kind",
                        &v,
                        Some(&from),
                        "expected jwt or browser (device is for the access-token mode: an issuer or start URL without application and role)",
                    ));
                }
            }),
        };

        let command = pick(
            &args.jwt_command,
            "--jwt-command",
            env::SIGNIN_JWT_COMMAND,
            "redshift_idc_jwt_command",
        );
        let file = pick(
            &args.jwt_file.as_ref().map(|p| p.display().to_string()),
            "--jwt-file",
            env::SIGNIN_JWT_FILE,
            "redshift_idc_jwt_file",
        );
        let jwt = match (command, file) {
            (Some((c, _)), _) => Some(JwtSource::Command(c)),
            (None, Some((f, _))) => Some(JwtSource::File(expand_home(&f, env))),
            (None, None) => {
                let var = key("redshift_idc_jwt_env").unwrap_or_else(|| env::SIGNIN_JWT.to_owned());
                // A JWT in the environment is only a source if the kind asks for one (below).
                Some(JwtSource::Env(var))
            }
        };
        // Without an explicit kind: a configured JWT command or file means jwt, else browser.
        let explicit_jwt = !matches!(jwt, Some(JwtSource::Env(_)));
        let kind = kind.unwrap_or(if explicit_jwt {
            SigninKind::Jwt
        } else {
            SigninKind::Browser
        });
        let jwt = (kind == SigninKind::Jwt).then_some(jwt).flatten();

        let idc_region = pick(
            &args.idc_region,
            "--idc-region",
            env::SIGNIN_IDC_REGION,
            "redshift_idc_region",
        );
        check_idc_region(idc_region.as_ref())?;
        let url_setting = |v: Option<(String, String)>| -> Result<Option<String>, Error> {
            match v {
                Some((u, from)) if !(u.starts_with("https://") || u.starts_with("http://")) => Err(
                    Error::invalid("URL", &u, Some(&from), "must start with https://"),
                ),
                other => Ok(other.map(|(u, _)| u.trim_end_matches('/').to_owned())),
            }
        };
        let issuer_url = url_setting(pick(
            &args.issuer_url,
            "--issuer-url",
            env::SIGNIN_ISSUER_URL,
            "redshift_idc_issuer_url",
        ))?;
        let authorize_url = url_setting(pick(
            &None,
            "",
            env::SIGNIN_AUTHORIZE_URL,
            "redshift_idc_authorize_url",
        ))?;
        let scopes = pick(&None, "", env::SIGNIN_SCOPES, "redshift_idc_scopes")
            .map_or_else(|| DEFAULT_SCOPES.to_owned(), |(s, _)| s)
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        let bootstrap_profile = pick(
            &args.bootstrap_profile,
            "--bootstrap-profile",
            env::SIGNIN_BOOTSTRAP_PROFILE,
            "redshift_idc_bootstrap_profile",
        )
        .map(|(p, _)| p);

        let number =
            |v: Option<(String, String)>, min: u64, max: u64| -> Result<Option<u64>, Error> {
                match v {
                    None => Ok(None),
                    Some((s, from)) => match s.parse::<u64>() {
                        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                        _ => Err(Error::invalid(
                            "value",
                            &s,
                            Some(&from),
                            format!("expected a whole number from {min} to {max}"),
                        )),
                    },
                }
            };
        let session_duration = number(
            pick(
                &args.session_duration.map(|n| n.to_string()),
                "--session-duration",
                env::SIGNIN_SESSION_DURATION,
                "redshift_idc_session_duration",
            ),
            900,
            43_200,
        )?
        .map_or(DEFAULT_SESSION_DURATION, Duration::from_secs);
        let listen_port = number(
            pick(
                &args.listen_port.map(|n| n.to_string()),
                "--listen-port",
                env::SIGNIN_LISTEN_PORT,
                "redshift_idc_listen_port",
            ),
            0,
            65_535,
        )?
        .map_or(DEFAULT_LISTEN_PORT, |p| p as u16);
        let signin_timeout = number(
            pick(
                &args.signin_timeout.map(|n| n.to_string()),
                "--signin-timeout",
                env::SIGNIN_TIMEOUT,
                "redshift_idc_signin_timeout",
            ),
            1,
            3600,
        )?
        .map_or(DEFAULT_SIGNIN_TIMEOUT, Duration::from_secs);
        let browser = pick(&None, "", env::SIGNIN_BROWSER, "redshift_idc_browser").map(|(b, _)| b);
        let no_browser = args.no_browser || env.is_true(env::SIGNIN_NO_BROWSER);
        let secret_store = secret_store(pick(&None, "", env::SECRET_STORE, SECRET_STORE_KEY))?;

        Ok(Some(SigninConfig {
            profile: profile.to_owned(),
            application_arn: application,
            role_arn: role,
            kind,
            jwt,
            idc_region: idc_region.map(|(r, _)| r),
            issuer_url,
            authorize_url,
            scopes,
            bootstrap_profile,
            session_duration,
            listen_port,
            browser,
            signin_timeout,
            no_browser,
            secret_store,
        }))
    }
}

const SECRET_STORE_KEY: &str = crate::secret_store::SETTING;

/// `auto` (the default), `keyring` or `file`.
pub fn secret_store(v: Option<(String, String)>) -> Result<crate::secret_store::Choice, Error> {
    use crate::secret_store::Choice;
    match v {
        None => Ok(Choice::default()),
        Some((s, from)) => Choice::parse(&s)
            .ok_or_else(|| Error::invalid(SECRET_STORE_KEY, &s, Some(&from), Choice::RULE)),
    }
}

/// The Identity Center region setting (either mode's), checked like `--region`.
pub fn check_idc_region(setting: Option<&(String, String)>) -> Result<(), Error> {
    match setting {
        Some((r, from)) if !crate::target::is_region(r) => Err(Error::invalid(
            "Identity Center region",
            r,
            Some(from),
            "expected a region name such as us-east-1",
        )),
        _ => Ok(()),
    }
}

fn missing(what: &str, flag: &str, var: &str, key: &str, profile: &str) -> Error {
    Error::MissingSetting {
        what: format!("sign-in needs {what} too"),
        fix: format!("pass {flag}, set {var}, or set {key} in the profile {profile}"),
    }
}

/// A loose ARN check that catches a swapped or truncated value: `arn:PARTITION:SERVICE::ACCOUNT:RESOURCE`.
fn check_arn((arn, from): &(String, String), service: &str, resource: &str) -> Result<(), Error> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = parts.len() == 6
        && parts[0] == "arn"
        && parts[1].starts_with("aws")
        && parts[2] == service
        && parts[4].len() == 12
        && parts[4].bytes().all(|b| b.is_ascii_digit())
        && parts[5].starts_with(resource)
        && parts[5].len() > resource.len()
        && !arn.chars().any(char::is_whitespace);
    if ok {
        return Ok(());
    }
    let example = match service {
        "iam" => "arn:aws:iam::123456789012:role/RedshiftIdc",
        _ => "arn:aws:sso::123456789012:application/ssoins-1111111111111111/apl-2222222222222222",
    };
    Err(Error::invalid(
        "ARN",
        arn,
        Some(from),
        format!("expected an ARN such as {example}"),
    ))
}

fn expand_home(path: &str, env: &Env) -> PathBuf {
    match (path.strip_prefix("~/"), env.home()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Resolves as a run does: the shared files read once, then the settings.
    fn resolve(args: &SigninArgs, profile: &str, env: &Env) -> Result<Option<SigninConfig>, Error> {
        let files = SharedConfig::load(env, Duration::from_secs(5)).expect("readable files");
        SigninConfig::resolve(args, profile, env, &files)
    }

    const APP: &str = "arn:aws:sso::123456789012:application/ssoins-1/apl-1";
    const ROLE: &str = "arn:aws:iam::123456789012:role/R";

    fn with_config(text: &str) -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config");
        std::fs::write(&p, text).unwrap();
        let s = p.to_str().unwrap().to_owned();
        (dir, s)
    }

    #[test]
    fn not_configured_is_none_and_half_configured_is_an_error() {
        let none = resolve(&SigninArgs::default(), "default", &Env::default());
        assert_eq!(none.unwrap(), None);
        let env = Env::from_pairs([("REDSHIFT_IDC_TOKEN_ROLE_ARN", ROLE)]);
        let err = resolve(&SigninArgs::default(), "dev", &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sign-in needs an application ARN too: pass --application-arn, set REDSHIFT_IDC_TOKEN_APPLICATION_ARN, or set redshift_idc_application_arn in the profile dev"
        );
    }

    #[test]
    fn keys_then_variables_then_flags() {
        let (_d, path) = with_config(&format!(
            "[profile dev]\nregion = us-east-1\nredshift_idc_application_arn = {APP}\nredshift_idc_role_arn = {ROLE}\nredshift_idc_jwt_file = ~/jwt\nredshift_idc_session_duration = 1800\nredshift_idc_browser = none\n"
        ));
        let env = Env::from_pairs([("AWS_CONFIG_FILE", path.as_str()), ("HOME", "/h")]);
        let c = resolve(&SigninArgs::default(), "dev", &env)
            .unwrap()
            .unwrap();
        assert_eq!(c.kind, SigninKind::Jwt, "a JWT file implies the jwt kind");
        assert_eq!(c.jwt, Some(JwtSource::File("/h/jwt".into())));
        assert_eq!(c.session_duration, Duration::from_secs(1800));
        assert_eq!(c.browser.as_deref(), Some("none"));
        assert_eq!(c.listen_port, DEFAULT_LISTEN_PORT);
        assert_eq!(c.scopes, ["openid", "aws", "sts:identity_context"]);
        assert_eq!(c.bootstrap_profile(), "dev");

        let env = Env::from_pairs([
            ("AWS_CONFIG_FILE", path.as_str()),
            ("REDSHIFT_IDC_TOKEN_SIGNIN", "browser"),
            ("REDSHIFT_IDC_TOKEN_SESSION_DURATION", "900"),
        ]);
        let args = SigninArgs {
            session_duration: Some(1000),
            ..SigninArgs::default()
        };
        let c = resolve(&args, "dev", &env).unwrap().unwrap();
        assert_eq!(c.kind, SigninKind::Browser);
        assert_eq!(c.jwt, None);
        assert_eq!(
            c.session_duration,
            Duration::from_secs(1000),
            "the flag wins"
        );
    }

    #[test]
    fn bad_values_name_the_source_and_the_rule() {
        let (_d, path) = with_config(&format!(
            "[default]\nredshift_idc_application_arn = {ROLE}\nredshift_idc_role_arn = {ROLE}\n"
        ));
        let env = Env::from_pairs([("AWS_CONFIG_FILE", path.as_str())]);
        let err = resolve(&SigninArgs::default(), "default", &env).unwrap_err();
        assert!(err.to_string().starts_with(&format!("invalid ARN '{ROLE}' (from redshift_idc_application_arn): expected an ARN such as arn:aws:sso::")), "{err}");
        assert_eq!(err.exit_code() as u8, 2);
        let env = Env::from_pairs([
            ("REDSHIFT_IDC_TOKEN_APPLICATION_ARN", APP),
            ("REDSHIFT_IDC_TOKEN_ROLE_ARN", ROLE),
            ("REDSHIFT_IDC_TOKEN_SESSION_DURATION", "60"),
        ]);
        let err = resolve(&SigninArgs::default(), "default", &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid value '60' (from REDSHIFT_IDC_TOKEN_SESSION_DURATION): expected a whole number from 900 to 43200"
        );
        let env = Env::from_pairs([
            ("REDSHIFT_IDC_TOKEN_APPLICATION_ARN", APP),
            ("REDSHIFT_IDC_TOKEN_ROLE_ARN", ROLE),
            ("REDSHIFT_IDC_TOKEN_SIGNIN", "saml"),
        ]);
        let err = resolve(&SigninArgs::default(), "default", &env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid sign-in kind 'saml' (from REDSHIFT_IDC_TOKEN_SIGNIN): expected jwt or browser (device is for the access-token mode: an issuer or start URL without application and role)"
        );
    }
}
