//! The `credentials` step: which credentials the AWS SDK resolves, from where, and whether
//! they can work.
//!
//! Why it exists: the SDK's default chain picks a provider silently, and long-term or nearly
//! expired credentials only fail later, at the call. This step resolves the credentials once
//! (masking the key id, never showing a secret), names the provider the SDK reports or the
//! one the environment and profile imply, and warns about credentials that cannot be
//! identity-enhanced or expire within minutes.

use std::time::{Duration, Instant};

use super::Inputs;
use super::report::{Status, Step, human};
use super::shared_files::SharedFiles;
use crate::env::{self, Env};
use crate::error::Error;
use crate::settings::TokenRequest;
use crate::token::rfc3339;

/// Credentials expiring sooner than this get a warning: a token fetched now would outlive them
/// by little, and the next run will need fresh ones.
const EXPIRY_WARNING: Duration = Duration::from_secs(5 * 60);

/// Where the credentials should come from, judged from the environment and the profile the
/// way the default chain searches: environment, profile, web identity, container, instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Inferred {
    pub(super) source: &'static str,
    pub(super) basis: String,
}

pub(super) fn infer_source(env: &Env, profile: &str, files: &SharedFiles) -> Inferred {
    let inferred = |source, basis: String| Inferred { source, basis };
    if env.get(env::AWS_ACCESS_KEY_ID).is_some() && env.get(env::AWS_SECRET_ACCESS_KEY).is_some() {
        return inferred(
            "environment variables",
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set".into(),
        );
    }
    if files.has("role_arn") {
        let base = match (
            files.value("source_profile"),
            files.value("credential_source"),
        ) {
            (Some(sp), _) => format!(", from source_profile {sp}"),
            (None, Some(cs)) => format!(", from credential_source {cs}"),
            _ => String::new(),
        };
        return inferred(
            "assume role",
            format!("profile {profile} has role_arn{base}"),
        );
    }
    if files.has("web_identity_token_file") {
        return inferred(
            "web identity",
            format!("profile {profile} has web_identity_token_file"),
        );
    }
    if files.has("sso_session") || files.has("sso_start_url") {
        return inferred(
            "IAM Identity Center (SSO)",
            format!("profile {profile} has sso_session/sso_start_url"),
        );
    }
    if files.has("credential_process") {
        return inferred(
            "credential_process",
            format!("profile {profile} has credential_process"),
        );
    }
    if files.credentials_has("aws_access_key_id") {
        return inferred(
            "shared credentials file",
            format!("profile {profile} has aws_access_key_id in the credentials file"),
        );
    }
    if files.config_has("aws_access_key_id") {
        return inferred(
            "shared config file",
            format!("profile {profile} has aws_access_key_id in the config file"),
        );
    }
    if env.get(env::AWS_WEB_IDENTITY_TOKEN_FILE).is_some() {
        return inferred("web identity", "AWS_WEB_IDENTITY_TOKEN_FILE is set".into());
    }
    if env
        .get(env::AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)
        .is_some()
        || env.get(env::AWS_CONTAINER_CREDENTIALS_FULL_URI).is_some()
    {
        return inferred(
            "container metadata",
            "AWS_CONTAINER_CREDENTIALS_* is set".into(),
        );
    }
    if env.is_true(env::AWS_EC2_METADATA_DISABLED) {
        return inferred(
            "none",
            "nothing in the environment or the profile, and AWS_EC2_METADATA_DISABLED=true".into(),
        );
    }
    inferred(
        "container/instance metadata",
        "nothing in the environment or the profile: the SDK asks the instance metadata service"
            .into(),
    )
}

/// `AKIDSANDBOX0000TEST` → `AKID****TEST`.
pub fn mask_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 12 {
        return "****".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

pub(super) fn credentials_step(
    inp: &Inputs<'_>,
    req: &TokenRequest,
    region: &str,
    inferred: &Inferred,
    session_user: Option<&str>,
) -> Step {
    let deadline = Instant::now() + req.timeout;
    match inp.credentials.credentials(req.call(region, deadline)) {
        Err(e) => {
            let fix = match inferred.source {
                "IAM Identity Center (SSO)" => format!(
                    "sign in again: aws sso login --profile {}",
                    req.profile_name()
                ),
                "credential_process" => {
                    "run the profile's credential_process command by hand to see why it fails"
                        .to_owned()
                }
                "none" | "container/instance metadata" => {
                    "configure credentials: a profile with --profile/AWS_PROFILE (see plugin-config/aws/config.example), or export identity-enhanced role credentials".to_owned()
                }
                other => format!("check the credentials from {other} ({})", inferred.basis),
            };
            Step::failed("credentials", e)
                .note("expected_source", inferred.source)
                .note("basis", inferred.basis.as_str())
                .fix(fix)
        }
        Ok(c) => {
            let now = (inp.clock)();
            let signed_in = session_user
                .map(|u| format!("the sign-in session of {}", crate::target::printable(u)));
            let (source, basis) = match (&signed_in, c.reported_source) {
                (Some(s), _) => (
                    s.as_str(),
                    "the cached session's identity-enhanced role credentials".to_owned(),
                ),
                (None, Some(s)) => (s, "reported by the AWS SDK".to_owned()),
                (None, None) => (inferred.source, format!("inferred: {}", inferred.basis)),
            };
            let expiry = c
                .expiry
                .map(|e| (rfc3339(e), e.duration_since(now).unwrap_or_default()));
            if let Some((at, left)) = &expiry
                && left.is_zero()
            {
                return Step::failed(
                    "credentials",
                    Error::ExpiredCredentials {
                        provider: source.to_owned(),
                        expired_at: at.clone(),
                    },
                )
                .detail("source", source);
            }
            let life = match &expiry {
                Some((at, left)) => format!("expire {at} (in {})", human(*left)),
                None => "no expiry given".to_owned(),
            };
            let mut step = Step::new(
                "credentials",
                Status::Ok,
                format!(
                    "{source}: {}, {}, {life}",
                    mask_key_id(&c.access_key_id),
                    if c.temporary {
                        "temporary (session token present)"
                    } else {
                        "long-term (no session token)"
                    },
                ),
            )
            .detail("source", source)
            .note("basis", basis)
            .detail("access_key_id", mask_key_id(&c.access_key_id))
            .detail("temporary", c.temporary)
            .detail("expiration", expiry.as_ref().map(|(at, _)| at.clone()))
            .detail(
                "remaining_seconds",
                expiry.as_ref().map(|(_, l)| l.as_secs()),
            );
            if !c.temporary {
                step.status = Status::Warn;
                step.fix = Some("long-term access keys are never identity-enhanced: use a role session assumed with an IAM Identity Center context (see plugin-config/aws/config.example)".into());
            } else if let Some((_, left)) = &expiry
                && *left < EXPIRY_WARNING
            {
                step.status = Status::Warn;
                step.fix = Some(if signed_in.is_some() {
                    "the role credentials expire within minutes: the next token run renews them (with the refresh token, or by signing in again)".into()
                } else {
                    "the credentials expire within minutes: refresh them (e.g. aws sso login) before a long session".into()
                });
            }
            step
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_inference() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        let creds = dir.path().join("credentials");
        std::fs::write(
            &cfg,
            "[profile sso]\nsso_session = corp\n[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = sso\n[profile proc]\ncredential_process = /bin/x\n[default]\nregion = us-east-1\n",
        )
        .unwrap();
        std::fs::write(&creds, "[keys]\naws_access_key_id = AKIA\n").unwrap();
        let env = Env::from_pairs([
            ("AWS_CONFIG_FILE", cfg.to_str().unwrap()),
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ]);
        let shared =
            crate::aws::config::shared_config::SharedConfig::load(&env, Duration::from_secs(5))
                .unwrap();
        let src = |p: &str| infer_source(&env, p, &SharedFiles::read(&shared, p)).source;
        assert_eq!(src("sso"), "IAM Identity Center (SSO)");
        assert_eq!(src("role"), "assume role");
        assert_eq!(src("proc"), "credential_process");
        assert_eq!(src("keys"), "shared credentials file");
        assert_eq!(src("default"), "container/instance metadata");
        let env2 = Env::from_pairs([("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]);
        assert_eq!(
            infer_source(&env2, "sso", &SharedFiles::default()).source,
            "environment variables"
        );
    }

    #[test]
    fn masking() {
        assert_eq!(mask_key_id("AKIDSANDBOX0000TEST"), "AKID****TEST");
        assert_eq!(mask_key_id("SHORT"), "****");
    }
}
