//! What can go wrong while signing in, each case with a message that says what to fix and
//! the exit status it maps to.
//!
//! The causes are the three services' modeled errors (sso-oidc `CreateTokenWithIAM`, STS
//! `AssumeRole`) read by code, the person's browser, and the local JWT sources. sso-oidc puts
//! its explanation in `error_description` (its `message` is empty), so that is what the
//! `description` fields hold. No variant holds a token, a JWT, a code or a key.

use std::path::PathBuf;

use crate::error::ExitCode;

#[derive(Debug, thiserror::Error)]
pub enum SigninError {
    #[error(
        "the JWT command `{command}` failed: {detail} (fix the command in redshift_idc_jwt_command / --jwt-command)"
    )]
    JwtCommand { command: String, detail: String },

    #[error("cannot read the JWT file {path} (check redshift_idc_jwt_file / --jwt-file)")]
    JwtFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "no JWT in the environment variable {var}: set it, or configure redshift_idc_jwt_command or redshift_idc_jwt_file"
    )]
    JwtMissing { var: String },

    #[error("{what} within {seconds} s (--timeout): {hint}")]
    JwtTimedOut {
        what: String,
        seconds: u64,
        hint: &'static str,
    },

    #[error("the JWT from {from} is not a JWT: {problem}")]
    BadJwt { from: String, problem: &'static str },

    #[error(
        "{code}: {description} (the application {application} does not accept this JWT: add its issuer as a trusted token issuer of the Identity Center instance, and allow it with the application's JWT bearer grant and the right audience (aud))"
    )]
    UntrustedIssuer {
        code: String,
        description: String,
        application: String,
    },

    #[error(
        "{code}: {description} (the sign-in code was refused: check that the application's authorization code grant lists the redirect URI {redirect_uri}, then sign in again with `redshift-idc-token login`)"
    )]
    CodeRefused {
        code: String,
        description: String,
        redirect_uri: String,
    },

    #[error(
        "the sign-in session ended (the refresh token expired or was revoked): run `redshift-idc-token login` to sign in again"
    )]
    RefreshExpired,

    #[error(
        "{code}: {description} (the bootstrap identity may not call sso-oauth:CreateTokenWithIAM on {application}: allow it in its IAM policy and in the application's authentication policy (PutApplicationAuthenticationMethod))"
    )]
    CreateTokenDenied {
        code: String,
        description: String,
        application: String,
    },

    #[error(
        "{code}: {description} ({application} is not a customer managed application of this Identity Center instance and region: check redshift_idc_application_arn and redshift_idc_region)"
    )]
    UnknownApplication {
        code: String,
        description: String,
        application: String,
    },

    #[error(
        "{code}: {description} (the application has no {grant} grant: add it with sso-admin put-application-grant)"
    )]
    GrantNotAllowed {
        code: String,
        description: String,
        grant: &'static str,
    },

    #[error(
        "{code}: {description} (the requested scopes are not assigned to the application: check redshift_idc_scopes and the application's scopes)"
    )]
    BadScope { code: String, description: String },

    #[error(
        "{code}: {description} (the Identity Center instance is in another region than {region}: set redshift_idc_region / --idc-region)"
    )]
    WrongRegion {
        code: String,
        description: String,
        region: String,
    },

    #[error("{code}: {description} (sso-oidc rejected the sign-in request)")]
    Rejected { code: String, description: String },

    #[error(
        "{code}: {description} (the sign-in was not completed: run `redshift-idc-token login`)"
    )]
    Pending { code: String, description: String },

    #[error(
        "{code}: {message} (the role's trust policy must allow sts:AssumeRole and sts:SetContext for the bootstrap identity, and the bootstrap identity's IAM policy must allow sts:AssumeRole on {role})"
    )]
    AssumeRoleDenied {
        code: String,
        message: String,
        role: String,
    },

    #[error(
        "{code}: {message} (STS is not activated in {region}: activate it in the IAM account settings, or use another region)"
    )]
    RegionDisabled {
        code: String,
        message: String,
        region: String,
    },

    #[error(
        "{code}: {message} (STS refused the session: check redshift_idc_role_arn, redshift_idc_session_duration (at most the role's maximum session duration) and the identity context)"
    )]
    AssumeRoleRejected { code: String, message: String },

    #[error(
        "the sign-in was refused in the browser: {error}{description} (sign in again with `redshift-idc-token login`)"
    )]
    BrowserRefused { error: String, description: String },

    #[error(
        "the sign-in did not complete within {seconds} s (--signin-timeout): finish it in the browser sooner, or run `redshift-idc-token login`"
    )]
    TimedOut { seconds: u64 },

    #[error(
        "another process's sign-in did not finish within {seconds} s (--signin-timeout and its calls' --timeout): complete it in the browser, or run `redshift-idc-token login`"
    )]
    WaitTimedOut { seconds: u64 },

    /// The sign-in this run waited for failed: its line and status, as that process said them
    /// (see `signin::session::Failure`).
    #[error("{line}")]
    Relayed { line: String, status: ExitCode },

    #[error(
        "not signed in (profile {profile}) and --no-browser was given: run `redshift-idc-token login` first"
    )]
    NotSignedIn { profile: String },

    #[error(
        "IAM Identity Center issued no identity context (sts:identity_context) for the scopes '{scopes}': the sign-in must ask for the sts:identity_context scope (redshift_idc_scopes; the default is 'openid aws sts:identity_context') and the customer managed application must allow it (its access scopes, sso-admin PutApplicationAccessScope)"
    )]
    NoIdentityContext { scopes: String },

    #[error("sso-oidc refused the access-token sign-in ({code}: {description}): {fix}")]
    AccessSetup {
        code: String,
        description: String,
        fix: &'static str,
    },

    #[error(
        "the sign-in was refused ({description}): sign in again with `redshift-idc-token login`, as the person who may use Redshift"
    )]
    AccessRefused { description: String },

    #[error(
        "the device code expired before the sign-in was approved: run `redshift-idc-token login` again and approve it within its time"
    )]
    DeviceCodeExpired,

    #[error(
        "the AWS CLI's SSO session {session} has no usable token ({detail}): run `aws sso login --sso-session {session}`"
    )]
    SsoSessionToken { session: String, detail: String },

    #[error(
        "another process's sign-in for this profile ended without a token a moment ago ({message}): retry, or run `redshift-idc-token login`"
    )]
    FailedElsewhere { message: String },

    #[error(
        "cannot listen on 127.0.0.1:{port} for the sign-in redirect (another sign-in may be running; or choose a free port with redshift_idc_listen_port / --listen-port, and list its redirect URI in the application's grant)"
    )]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
}

impl SigninError {
    pub fn exit_code(&self) -> ExitCode {
        use SigninError::*;
        match self {
            JwtCommand { .. }
            | JwtFile { .. }
            | JwtMissing { .. }
            | BadJwt { .. }
            | Listen { .. } => ExitCode::Usage,
            JwtTimedOut { .. } => ExitCode::Transient,
            // The application itself does not allow this sign-in: signing in again cannot help.
            UnknownApplication { .. }
            | GrantNotAllowed { .. }
            | BadScope { .. }
            | NoIdentityContext { .. }
            | AccessSetup { .. } => ExitCode::Setup,
            UntrustedIssuer { .. }
            | CreateTokenDenied { .. }
            | WrongRegion { .. }
            | Rejected { .. }
            | AssumeRoleDenied { .. }
            | RegionDisabled { .. }
            | AssumeRoleRejected { .. } => ExitCode::Denied,
            CodeRefused { .. }
            | RefreshExpired
            | Pending { .. }
            | BrowserRefused { .. }
            | TimedOut { .. }
            | WaitTimedOut { .. }
            | NotSignedIn { .. }
            | AccessRefused { .. }
            | DeviceCodeExpired
            | SsoSessionToken { .. }
            | FailedElsewhere { .. } => ExitCode::SignIn,
            Relayed { status, .. } => *status,
        }
    }
}
