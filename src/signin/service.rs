//! The person's browser, as a trait ([`Authorize`]): the interactive half of the sign-in.
//!
//! The policy in `flow.rs` talks to it and to the Identity Center boundary
//! (`aws::identity_center::IdentityCenter`) only, so it is unit-tested with fakes and no
//! HTTP; `loopback.rs` is the real implementation. Synchronous, like `Fetch`, because the
//! policy runs while holding a file lock.

use std::time::Instant;

use crate::error::Error;
use crate::token::Secret;

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
