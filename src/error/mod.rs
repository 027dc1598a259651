//! The one error type of the program, and the only place that knows exit codes.
//!
//! Each variant's message says what went wrong and what to do about it, in one line; the
//! underlying cause (if any) is kept in `#[source]`, never formatted into the message too:
//! [`Error::line`] joins the chain once. No variant
//! holds a token or a secret key, so printing an error can never leak one.

use std::path::PathBuf;

mod exit_code;
mod signin;

pub use exit_code::ExitCode;
pub use signin::SigninError;

use crate::target::{InvalidHost, InvalidTarget, TargetsError};
use crate::token::TokenProblem;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{what} stayed locked by another process (a sign-in in progress?); retry when it ends")]
    Locked { what: String },

    /// A setting whose value breaks its rule: the setting, the value (escaped), where it
    /// came from, and the rule.
    #[error("invalid {setting} '{value}'{}: {rule}", from.as_deref().map(|f| format!(" (from {f})")).unwrap_or_default())]
    InvalidSetting {
        setting: String,
        value: String,
        from: Option<String>,
        rule: String,
    },

    /// A setting a mode needs and nobody gave.
    #[error("{what}: {fix}")]
    MissingSetting { what: String, fix: String },

    /// A file of settings that cannot be parsed.
    #[error("{path} cannot be parsed ({detail}): {fix}")]
    Unparsable {
        path: String,
        detail: String,
        fix: &'static str,
    },

    #[error("{0}")]
    Cache(crate::cache::Unavailable),

    /// The secret store chosen cannot keep a secret (`keyring` never falls back to the file).
    #[error(transparent)]
    SecretStore(#[from] crate::secret_store::Unavailable),

    #[error(transparent)]
    InvalidTarget(#[from] InvalidTarget),

    #[error(transparent)]
    Targets(#[from] TargetsError),

    #[error(transparent)]
    InvalidHost(#[from] InvalidHost),

    #[error(
        "no AWS region configured: pass --region, set AWS_REGION, set `region` in the profile, or pass a --host that contains the region"
    )]
    NoRegion,

    #[error(
        "no AWS credentials found ({detail}): run `aws sso login`, set a profile with --profile/AWS_PROFILE, or export identity-enhanced role credentials"
    )]
    NoCredentials { detail: String },

    #[error(
        "the AWS credentials from {provider} expired at {expired_at}: refresh them (e.g. `aws sso login`) and retry"
    )]
    ExpiredCredentials {
        provider: String,
        expired_at: String,
    },

    #[error(
        "AWS rejected the credentials ({code}: {message}): they are invalid or expired; refresh them and retry"
    )]
    RejectedCredentials { code: String, message: String },

    #[error("the AWS credentials could not be loaded: {detail}")]
    CredentialsProvider { detail: String },

    #[error(
        "{code}: {message} (the credentials are not identity-enhanced: assume the role with an IAM Identity Center context, e.g. sts:AssumeRole with ProvidedContexts, or sign in through an Identity Center-enabled application)"
    )]
    NotIdentityEnhanced { code: String, message: String },

    #[error(
        "{code}: {message} (the IAM policy of this identity must allow {action} on the {resource})"
    )]
    AccessDenied {
        code: String,
        message: String,
        action: &'static str,
        resource: &'static str,
    },

    #[error("{code}: {message} (check the {what} name and the region {region})")]
    TargetNotFound {
        code: String,
        message: String,
        what: &'static str,
        region: String,
    },

    #[error(
        "{code}: {message} (the {what} is not available for sign-in right now, e.g. paused, resizing or being modified; retry when it is available)"
    )]
    TargetState {
        code: String,
        message: String,
        what: &'static str,
    },

    #[error("{code}: {message} (the service rejected the request's parameters)")]
    InvalidRequest { code: String, message: String },

    #[error(
        "{code}: {message} (AWS is throttling this account's requests; retry later or lower the call rate, e.g. keep the cache enabled)"
    )]
    Throttled { code: String, message: String },

    #[error("{code}: {message} (a failure on the AWS side; retry later)")]
    ServiceFailure { code: String, message: String },

    #[error("the {service} service returned an unusable reply: {problem}")]
    BadReply {
        service: &'static str,
        problem: String,
    },

    /// An endpoint that could not be reached: which one (its URL where known), the cause in
    /// words, and what to check, naming the setting that chose the endpoint.
    #[error("could not reach {endpoint}: {detail} ({fix})")]
    Network {
        endpoint: String,
        detail: String,
        fix: String,
    },

    #[error("gave up after {seconds} s (--timeout): {during}")]
    Timeout { seconds: u64, during: &'static str },

    #[error("could not write the output")]
    Output {
        #[source]
        source: std::io::Error,
    },

    #[error("{what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot run '{command}'")]
    Exec {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Signin(#[from] SigninError),

    #[error("{0}")]
    Internal(String),
}

impl From<TokenProblem> for Error {
    fn from(p: TokenProblem) -> Self {
        Error::BadReply {
            service: "AWS",
            problem: p.to_string(),
        }
    }
}

impl Error {
    /// The message and its causes on one line (`app::report` prints it): each cause once,
    /// in its own words, escaped.
    pub fn line(&self) -> String {
        let mut out = self.to_string();
        let mut source = std::error::Error::source(self);
        while let Some(s) = source {
            let text = s.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            source = s.source();
        }
        // One line whatever a cause holds; each part is bounded where it is made.
        out.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    }

    /// A setting's value that breaks `rule`; `value` is shown escaped.
    pub fn invalid(
        setting: impl Into<String>,
        value: &str,
        from: Option<&str>,
        rule: impl Into<String>,
    ) -> Error {
        Error::InvalidSetting {
            setting: setting.into(),
            value: crate::target::printable(value),
            from: from.map(str::to_owned),
            rule: rule.into(),
        }
    }

    /// The exit status for this error; the only mapping from errors to statuses.
    pub fn exit_code(&self) -> ExitCode {
        use Error::*;
        match self {
            InvalidSetting { .. }
            | MissingSetting { .. }
            | Unparsable { .. }
            | Cache(_)
            | SecretStore(_)
            | InvalidTarget(_)
            | Targets(_)
            | InvalidHost(_)
            | NoRegion => ExitCode::Usage,
            NoCredentials { .. }
            | ExpiredCredentials { .. }
            | RejectedCredentials { .. }
            | CredentialsProvider { .. } => ExitCode::Credentials,
            NotIdentityEnhanced { .. }
            | AccessDenied { .. }
            | TargetNotFound { .. }
            | TargetState { .. }
            | InvalidRequest { .. } => ExitCode::Denied,
            Throttled { .. }
            | ServiceFailure { .. }
            | BadReply { .. }
            | Network { .. }
            | Timeout { .. }
            | Locked { .. } => ExitCode::Transient,
            Exec { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ExitCode::CommandNotFound
            }
            Exec { .. } => ExitCode::CannotExecute,
            Signin(e) => e.exit_code(),
            Output { .. } | Io { .. } | Internal(_) => ExitCode::Internal,
        }
    }
}

/// Makes text from a server safe for a one-line message: no control characters (a hostile
/// endpoint cannot move the cursor or forge extra lines) and a bounded length.
pub fn one_line(s: &str) -> String {
    const MAX: usize = 300;
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX)
        .collect();
    if s.chars().count() > MAX {
        out.push_str("...");
    }
    out.trim().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_by_category() {
        assert_eq!(Error::NoRegion.exit_code() as u8, 2);
        let nc = Error::NoCredentials { detail: "x".into() };
        assert_eq!(nc.exit_code() as u8, 3);
        let ie = Error::NotIdentityEnhanced {
            code: "UnsupportedOperation".into(),
            message: "m".into(),
        };
        assert_eq!(ie.exit_code() as u8, 4);
        let t = Error::Timeout {
            seconds: 1,
            during: "x",
        };
        assert_eq!(t.exit_code() as u8, 5);
        assert_eq!(Error::Internal("x".into()).exit_code() as u8, 1);
    }

    #[test]
    fn server_text_is_made_one_line() {
        assert_eq!(one_line("a\nb\x1b[2J"), "a b [2J");
        assert_eq!(one_line(&"x".repeat(400)).len(), 303);
    }
}
