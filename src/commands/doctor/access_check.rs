//! The `sign-in` step in access-token mode: which mode and why, and whether a usable access
//! token is cached, read without signing in. In this mode no AWS credentials are used and no
//! AWS call is made: the drivers connect with the access token itself.

use std::time::SystemTime;

use super::report::{Status, Step};
use crate::access_token::Access;
use crate::access_token::config::Source;
use crate::cache::Cache;
use crate::env::Env;
use crate::error::{Error, SigninError};
use crate::settings::TokenRequest;
use crate::token::rfc3339;

pub(super) fn access_step(
    req: &TokenRequest,
    cache: Option<&Cache>,
    env: &Env,
    now: SystemTime,
) -> Option<Step> {
    let cfg = req.access.as_ref()?;
    let (why, source) = match &cfg.source {
        Source::SignIn {
            issuer_url, kind, ..
        } => (
            "an issuer or start URL without an application and role",
            format!("{} sign-in, issuer {issuer_url}", kind.name()),
        ),
        Source::SsoSession { name, .. } => (
            "redshift_idc_sso_session",
            format!("the AWS CLI's sso-session {name}"),
        ),
    };
    let access = Access {
        config: cfg,
        call_timeout: req.timeout,
        min_validity: req.min_validity,
        env,
        files: &req.files,
    };
    let base = |status, summary: String| {
        Step::new("sign-in", status, summary)
            .note("mode", "access token (token_type=ACCESS_TOKEN)")
            .note("why", why)
            .note("source", source.clone())
            .note("identity_center_region", cfg.idc_region.clone())
    };
    let login = format!("redshift-idc-token login --profile {}", cfg.profile);
    let cached = match &cfg.source {
        Source::SsoSession { name, .. } => access.cached_cli_token().map_err(|_| name.clone()),
        Source::SignIn { .. } => access.cached(cache).ok_or_else(String::new),
    };
    Some(match cached {
        Ok(s) if s.is_fresh(now, req.min_validity) => base(
            Status::Ok,
            format!("an access token is cached until {}", rfc3339(s.expires_at)),
        ),
        Ok(s) if s.refresh_token.is_some() => base(
            Status::Warn,
            format!(
                "the cached access token ends {}; the next run renews it with the refresh token",
                rfc3339(s.expires_at)
            ),
        ),
        Err(session) if !session.is_empty() => {
            let mut step = base(
                Status::Fail,
                format!("the AWS CLI's sso-session {session} has no usable token"),
            )
            .fix(format!("run `aws sso login --sso-session {session}`"));
            step.error = Some(Error::Signin(SigninError::SsoSessionToken {
                session,
                detail: "no fresh token in its cache".into(),
            }));
            step
        }
        _ => {
            let mut step = base(Status::Fail, format!("{} is not signed in", cfg.profile))
                .fix(format!("run `{login}` (one sign-in serves every driver)"));
            step.error = Some(Error::Signin(SigninError::NotSignedIn {
                profile: cfg.profile.clone(),
            }));
            step
        }
    })
}
