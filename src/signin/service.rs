//! The network boundary of sign-in, as traits: sso-oidc's `CreateTokenWithIAM` and STS's
//! `AssumeRole` ([`IdentityCenter`]), and the person's browser ([`Authorize`]).
//!
//! The policy in `flow.rs` (when to refresh, when to open a browser, who waits) talks only to
//! these, so it is unit-tested with fakes and no HTTP; `aws.rs` and `loopback.rs` are the real
//! implementations. Methods are synchronous, like `Fetch`, because the policy runs while
//! holding a file lock.

use std::time::{Duration, Instant};

use super::session::RoleCredentials;
use crate::error::Error;
use crate::token::Secret;

/// The grant of one `CreateTokenWithIAM` call.
#[derive(Debug, Clone, Copy)]
pub enum Grant<'a> {
    /// `urn:ietf:params:oauth:grant-type:jwt-bearer` with a trusted token issuer's JWT.
    JwtBearer { assertion: &'a Secret },
    /// `authorization_code` from the browser sign-in, with the PKCE verifier.
    AuthorizationCode {
        code: &'a Secret,
        redirect_uri: &'a str,
        code_verifier: &'a Secret,
    },
    /// `refresh_token`, to renew a session without the person.
    RefreshToken { refresh_token: &'a Secret },
}

impl Grant<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Grant::JwtBearer { .. } => "urn:ietf:params:oauth:grant-type:jwt-bearer",
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::RefreshToken { .. } => "refresh_token",
        }
    }
}

/// What `CreateTokenWithIAM` answered that sign-in uses.
#[derive(Debug, Clone)]
pub struct IdcTokens {
    /// The Identity Center user: `sub` of the ID token.
    pub user: String,
    /// `awsAdditionalDetails.identityContext`, or the ID token's `sts:identity_context`.
    pub identity_context: Secret,
    pub refresh_token: Option<Secret>,
}

/// sso-oidc and STS.
pub trait IdentityCenter {
    /// Makes sure the bootstrap credentials can be had, before a person is asked to sign in
    /// (so a missing profile fails at once, not after the browser).
    fn prepare(&self, _deadline: Instant) -> Result<(), Error> {
        Ok(())
    }

    /// `CreateTokenWithIAM` for the application, signed with the bootstrap credentials.
    fn create_token_with_iam(
        &self,
        grant: Grant<'_>,
        deadline: Instant,
    ) -> Result<IdcTokens, Error>;

    /// `AssumeRole` of the configured role with the Identity Center context.
    fn assume_role(
        &self,
        session_name: &str,
        duration: Duration,
        identity_context: &Secret,
        deadline: Instant,
    ) -> Result<RoleCredentials, Error>;
}

/// The authorization request the person's browser is sent to.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest<'a> {
    /// `.../authorize`, without a query.
    pub endpoint: &'a str,
    pub client_id: &'a str,
    pub scopes: &'a [String],
    pub code_challenge: &'a str,
    pub state: &'a str,
}

/// The authorization code the redirect carried, and the redirect URI it came to.
pub struct Authorized {
    pub code: Secret,
    pub redirect_uri: String,
}

/// The interactive part: show the person the authorization page and wait for the redirect.
pub trait Authorize {
    fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
        deadline: Instant,
    ) -> Result<Authorized, Error>;
}
