//! The token and its lifetime, in types that keep the secret out of logs and error messages.
//!
//! `Secret` has no `Display`, a `Debug` that prints a placeholder, zeroizes its memory on drop,
//! and hands out its contents only through `expose()`, so every place that reads a secret is
//! visible in a grep.

use std::fmt;
use std::time::{Duration, SystemTime};

use zeroize::Zeroizing;

/// A secret string: a token, or an AWS secret key.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret itself. Callers must not log or format it into an error.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The largest token we accept: real ones are a few KiB; anything near this is not a token.
pub const MAX_TOKEN_LEN: usize = 64 * 1024;

/// What a token is, as the drivers' `IdpTokenAuthPlugin` names it in `token_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenType {
    /// A `GetIdentityCenterAuthToken` token (credential chain or identity-enhanced sign-in).
    #[default]
    Subject,
    /// An IAM Identity Center access token with the `redshift:connect` scope (the drivers'
    /// `BrowserIdcAuthPlugin` setup), valid for every cluster and workgroup of the application.
    Access,
}

impl TokenType {
    pub fn name(self) -> &'static str {
        match self {
            TokenType::Subject => "SUBJECT_TOKEN",
            TokenType::Access => "ACCESS_TOKEN",
        }
    }
}

/// A token for the drivers: from `GetIdentityCenterAuthToken`, or an Identity Center access
/// token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthToken {
    pub token: Secret,
    pub kind: TokenType,
    /// When the service says the token stops working; `None` if the reply had no expiration
    /// (such a token is printed, flagged, and never cached).
    pub expiration: Option<SystemTime>,
}

/// Why a token in a reply is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenProblem {
    #[error("the reply has no token")]
    Missing,
    #[error("the reply's token is empty")]
    Empty,
    #[error("the reply's token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLong,
    #[error("the reply's token contains a NUL or line-break character")]
    BadCharacter,
    #[error("the reply's token expired already, at {0}")]
    Expired(String),
}

impl AuthToken {
    /// Checks a reply's token before anyone sees it: a token that cannot be passed to a driver
    /// intact (empty, huge, with NUL or line breaks that would split a properties line) or that
    /// is already expired is an error, not output.
    pub fn from_reply(
        token: Option<String>,
        expiration: Option<SystemTime>,
        now: SystemTime,
    ) -> Result<Self, TokenProblem> {
        let token = Secret::new(token.ok_or(TokenProblem::Missing)?);
        let t = token.expose();
        if t.is_empty() {
            return Err(TokenProblem::Empty);
        }
        if t.len() > MAX_TOKEN_LEN {
            return Err(TokenProblem::TooLong);
        }
        if t.contains(['\0', '\n', '\r']) {
            return Err(TokenProblem::BadCharacter);
        }
        if let Some(exp) = expiration
            && exp <= now
        {
            return Err(TokenProblem::Expired(rfc3339(exp)));
        }
        // An expiration past year 9999 cannot be written in RFC 3339; it means "far", and
        // the cache trusts no token for more than 12 hours anyway.
        let expiration = expiration.map(|e| e.min(latest_time()));
        Ok(AuthToken {
            token,
            kind: TokenType::Subject,
            expiration,
        })
    }

    /// Time left before expiration, zero once expired, `None` when unknown.
    pub fn remaining(&self, now: SystemTime) -> Option<Duration> {
        self.expiration
            .map(|e| e.duration_since(now).unwrap_or(Duration::ZERO))
    }
}

/// `2026-11-23T04:58:31Z`: RFC 3339, UTC, whole seconds.
///
/// Total: a time outside the years 1970-9999 (which [`AuthToken::from_reply`] and
/// [`parse_rfc3339`] never let in) prints as `invalid-time` rather than panicking.
pub fn rfc3339(t: SystemTime) -> String {
    let formatted = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| time::Duration::try_from(Duration::from_secs(d.as_secs())).ok())
        .and_then(|d| time::OffsetDateTime::UNIX_EPOCH.checked_add(d))
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    formatted.unwrap_or_else(|| "invalid-time".to_owned())
}

/// Parses an RFC 3339 time, as written by [`rfc3339`]; only years 1970-9999 in UTC count
/// (a cache entry claiming year 10000 or 1969 is not an entry).
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()?;
    let utc = t.checked_to_offset(time::UtcOffset::UTC)?;
    (1970..=9999)
        .contains(&utc.year())
        .then(|| SystemTime::from(utc))
}

/// 9999-12-31T23:59:59Z, the latest expiration kept: RFC 3339 has four-digit years.
pub fn latest_time() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(253_402_300_799)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL: &str = "SENTINEL-TOKEN-0123456789";

    #[test]
    fn debug_never_shows_the_secret() {
        let t = AuthToken::from_reply(Some(SENTINEL.into()), None, SystemTime::now()).unwrap();
        assert!(!format!("{t:?}").contains(SENTINEL));
        assert!(!format!("{:?}", t.token).contains(SENTINEL));
        assert_eq!(t.token.expose(), SENTINEL);
    }

    #[test]
    fn reply_checks() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let chk = |t: Option<&str>, e| AuthToken::from_reply(t.map(str::to_owned), e, now);
        assert_eq!(chk(None, None), Err(TokenProblem::Missing));
        assert_eq!(chk(Some(""), None), Err(TokenProblem::Empty));
        assert_eq!(chk(Some("a\nb"), None), Err(TokenProblem::BadCharacter));
        assert_eq!(
            chk(Some(&"x".repeat(MAX_TOKEN_LEN + 1)), None),
            Err(TokenProblem::TooLong)
        );
        assert_eq!(
            chk(Some("t"), Some(now)),
            Err(TokenProblem::Expired("2027-01-15T08:00:00Z".into()))
        );
        let ok = chk(Some("t;={}'\""), Some(now + Duration::from_secs(60))).unwrap();
        assert_eq!(ok.remaining(now), Some(Duration::from_secs(60)));
    }

    #[test]
    fn times_outside_four_digit_years_never_panic() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let far = now + Duration::from_secs(400 * 365 * 86_400 * 100);
        let t = AuthToken::from_reply(Some("t".into()), Some(far), now).unwrap();
        assert_eq!(rfc3339(t.expiration.unwrap()), "9999-12-31T23:59:59Z");
        assert_eq!(rfc3339(far), "invalid-time");
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH - Duration::from_secs(1)),
            "invalid-time"
        );
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59-00:01"), None);
        assert_eq!(parse_rfc3339("0000-01-01T00:00:00+00:01"), None);
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
        assert_eq!(parse_rfc3339("9999-12-31T23:59:59Z"), Some(latest_time()));
    }

    #[test]
    fn rfc3339_round_trips_in_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_928_311_500);
        assert_eq!(rfc3339(t), "2026-11-29T04:58:31Z");
        assert_eq!(
            parse_rfc3339("2026-11-29T04:58:31Z"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_928_311))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
