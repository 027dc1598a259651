//! The `sign-in` step: whether the built-in sign-in is configured, and who is signed in.
//!
//! Why it exists: with sign-in, the credentials that reach Redshift are the cached session's
//! identity-enhanced role credentials, not the chain's; this step says whose they are, until
//! when, and whether the next run renews them silently (refresh token) or needs the person
//! (browser), without ever signing in itself. Never shows a token or key, only the user id.

use std::time::SystemTime;

use super::report::{Status, Step};
use crate::serve::signed_in::Status as SigninStatus;
use crate::signin::SigninKind;
use crate::target::printable;
use crate::token::rfc3339;

/// The `login` command line that signs the profile's person in.
pub(super) fn login_command(s: &SigninStatus) -> String {
    format!(
        "redshift-idc-token login --profile {}",
        printable(&s.config.profile)
    )
}

/// The `credentials` step when sign-in is configured and no cached session has role
/// credentials that still work: the profile's own credential chain is not what a token run
/// calls with, so it is not probed; the step says who must sign in and how (exit 6).
pub(super) fn credentials_need_signin(s: &SigninStatus, now: SystemTime) -> Step {
    let cfg = &s.config;
    let profile = printable(&cfg.profile);
    let summary = match &s.session {
        Some(session) => {
            let ended = if session.credentials.expiration > now {
                "expire within a minute"
            } else {
                "expired"
            };
            let next = if session.refresh_token.is_some() {
                "a token run renews them without the person"
            } else if cfg.kind == SigninKind::Browser {
                "they must sign in again in the browser"
            } else {
                "a token run signs in again with the configured JWT"
            };
            format!(
                "the role credentials of {}'s session (profile {profile}) {ended} ({}): {next}",
                printable(&session.user),
                rfc3339(session.credentials.expiration)
            )
        }
        None if cfg.kind == SigninKind::Browser => format!(
            "no role credentials yet: nobody has signed in with profile {profile}; a person signs in in the browser"
        ),
        None => format!(
            "no role credentials yet: nobody has signed in with profile {profile}; the sign-in uses the configured JWT (a token run also signs in by itself)"
        ),
    };
    let mut step = Step::new("credentials", Status::Action, summary)
        .detail("source", "sign-in")
        .detail("profile", cfg.profile.clone())
        .fix(format!("run `{}`", login_command(s)));
    step.error = Some(
        crate::error::SigninError::NotSignedIn {
            profile: cfg.profile.clone(),
        }
        .into(),
    );
    step
}

pub(super) fn signin_step(s: &SigninStatus, now: SystemTime) -> Step {
    let cfg = &s.config;
    let base = |status, summary: String| {
        Step::new("sign-in", status, summary)
            .note("kind", cfg.kind.name())
            .note("application", cfg.application_arn.clone())
            .note("role", cfg.role_arn.clone())
            .note(
                "identity_center_region",
                s.idc_region.clone().unwrap_or_else(|| "none".into()),
            )
            .detail("bootstrap_profile", cfg.bootstrap_profile().to_owned())
            .detail("issuer_url", cfg.issuer_url.clone())
    };
    if s.idc_region.is_none() {
        let mut step = base(Status::Fail, "no Identity Center region".into())
            .fix("set redshift_idc_region in the profile, or pass --idc-region");
        step.error = Some(crate::error::Error::NoRegion);
        return step;
    }
    let interactive = cfg.kind == SigninKind::Browser;
    match &s.session {
        Some(session) if session.is_fresh(now) => {
            let left = session
                .credentials
                .expiration
                .duration_since(now)
                .unwrap_or_default()
                .as_secs();
            base(
                Status::Ok,
                format!(
                    "signed in as {}; role credentials until {} ({}m{:02}s left){}",
                    session.user,
                    rfc3339(session.credentials.expiration),
                    left / 60,
                    left % 60,
                    if session.refresh_token.is_some() {
                        ", renewed automatically"
                    } else {
                        ""
                    }
                ),
            )
            .detail("user", session.user.clone())
            .detail("expiration", rfc3339(session.credentials.expiration))
            .detail("refresh_token", session.refresh_token.is_some())
        }
        Some(session) if session.refresh_token.is_some() || !interactive => base(
            Status::Ok,
            format!(
                "signed in as {}; the role credentials expire at {}: the next run renews them without the person",
                session.user,
                rfc3339(session.credentials.expiration)
            ),
        )
        .detail("user", session.user.clone()),
        _ if !interactive => base(
            Status::Ok,
            "not signed in yet: the next run signs in with the configured JWT".into(),
        ),
        _ if cfg.no_browser => {
            let mut step = base(
                Status::Fail,
                "not signed in, and --no-browser forbids a browser sign-in".into(),
            )
            .fix(format!("run `{}` where a browser is available", login_command(s)));
            step.error = Some(
                crate::error::SigninError::NotSignedIn {
                    profile: cfg.profile.clone(),
                }
                .into(),
            );
            step
        }
        _ => base(
            Status::Warn,
            "not signed in: the next token run opens a browser to sign in".into(),
        )
        .fix(format!("run `{}` now", login_command(s))),
    }
}

/// The `secret-store` step: where the refresh token of the next sign-in goes
/// (`redshift_idc_secret_store`) and whether that store answers now. Asks the keyring only
/// whether it answers (no item is read or written), bounded by a few seconds.
pub(super) fn secret_store_step(cfg: &crate::signin::SigninConfig) -> Step {
    use crate::secret_store::{self, Choice};
    let bound = cfg.signin_timeout.min(std::time::Duration::from_secs(5));
    let choice = cfg.secret_store;
    let (store, problem) = secret_store::status(choice, std::time::Instant::now() + bound);
    let step = |status, summary: String| {
        Step::new("secret-store", status, summary)
            .note("setting", choice.name())
            .note("store", store)
    };
    match (choice, problem) {
        (Choice::File, _) => step(
            Status::Ok,
            "refresh tokens are kept in the private cache file (redshift_idc_secret_store = file)"
                .into(),
        ),
        (_, None) => step(
            Status::Ok,
            "refresh tokens are kept in the OS keyring, which answers".into(),
        ),
        (Choice::Auto, Some(e)) => step(
            Status::Warn,
            "the OS keyring does not answer: refresh tokens are kept in the private cache file"
                .into(),
        )
        .detail("reason", e.to_string())
        .fix("set redshift_idc_secret_store = file to keep them there without trying the keyring"),
        (Choice::Keyring, Some(e)) => {
            let mut s = step(
                Status::Fail,
                "the OS keyring does not answer, and redshift_idc_secret_store = keyring refuses the file".into(),
            )
            .fix("unlock the keyring or start a desktop session with a Secret Service, or set redshift_idc_secret_store = file");
            s.error = Some(e.into());
            s
        }
    }
}
