//! The one error type of the program, and the only place that knows exit codes.
//!
//! Each variant's message says what went wrong and what to do about it, in one line; the
//! underlying cause (if any) is kept in `#[source]` and printed only with `-v`. No variant
//! holds a token or a secret key, so printing an error can never leak one.

use std::path::PathBuf;

use crate::target::{InvalidHost, InvalidTarget, TargetsError};
use crate::token::TokenProblem;

/// Documented, stable exit statuses (see the README's "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0,
    /// A bug or an unexpected local failure (I/O on stdout, a runtime that cannot start).
    Internal = 1,
    /// Bad arguments, invalid targets, no region: fix the command line or configuration.
    Usage = 2,
    /// No usable AWS credentials: missing, expired, or rejected by AWS.
    Credentials = 3,
    /// AWS refused this identity or these targets: permissions, identity-enhanced credentials,
    /// unknown or unavailable cluster/workgroup.
    Denied = 4,
    /// Throttling, a service-side failure, a bad reply, the network, or the time limit:
    /// retrying later may work.
    Transient = 5,
    /// Sign-in needed or not completed: not signed in with --no-browser, the session ended,
    /// the browser sign-in was refused or timed out. Run `redshift-idc-token login`.
    SignIn = 6,
    /// `exec`: the command exists but could not be run (as in POSIX shells).
    CannotExecute = 126,
    /// `exec`: the command was not found (as in POSIX shells).
    CommandNotFound = 127,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

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

    #[error(
        "could not reach {endpoint}: {detail} (check the network, proxy settings and --endpoint-url)"
    )]
    Network { endpoint: String, detail: String },

    #[error("gave up after {seconds} s (--timeout): {during}")]
    Timeout { seconds: u64, during: &'static str },

    #[error("could not write the output: {source}")]
    Output {
        #[source]
        source: std::io::Error,
    },

    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot run '{command}': {source}")]
    Exec {
        command: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Signin(#[from] crate::signin::SigninError),

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
    /// The exit status for this error; the only mapping from errors to statuses.
    pub fn exit_code(&self) -> ExitCode {
        use Error::*;
        match self {
            Usage(_) | InvalidTarget(_) | Targets(_) | InvalidHost(_) | NoRegion => ExitCode::Usage,
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
            | Timeout { .. } => ExitCode::Transient,
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
