//! The on-disk form of a cached token and the rules for trusting one.
//!
//! Decoding is strict and total: anything that is not exactly a current-schema entry for the
//! expected key, with a sane fetch time and a usable token, is a `Miss` with a reason, never
//! an error and never a panic. A bad file therefore costs one fetch and is then overwritten.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::key::{CacheKey, KeyMeta, SCHEMA};
use crate::token::{AuthToken, Secret, parse_rfc3339, rfc3339};

/// Entries larger than this are not entries (a token is at most 64 KiB).
pub const MAX_ENTRY_BYTES: u64 = 256 * 1024;
/// However far away the service says expiry is, a cached token is trusted for at most this
/// long after it was fetched: a wrong or absurd expiration cannot pin a token forever.
pub const MAX_CACHED_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Clock skew tolerated before an entry "fetched in the future" is distrusted.
const FUTURE_SLACK: Duration = Duration::from_secs(300);

#[derive(Serialize, Deserialize)]
struct Stored {
    schema: u32,
    #[serde(flatten)]
    meta: KeyMeta,
    fetched: String,
    expiration: String,
    /// When the AWS credentials the token was fetched with expire, if they do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    credentials_expiration: Option<String>,
    token: Zeroizing<String>,
}

/// A cached token with its key's description.
#[derive(Debug, Clone)]
pub struct Entry {
    pub meta: KeyMeta,
    pub fetched: SystemTime,
    pub expiration: SystemTime,
    /// When the credentials the token was fetched with expire: the entry is not served past
    /// it. A token outliving its credentials would be served to whoever asks after the
    /// identity behind the same configuration changed (a `credential_process` re-login, a
    /// rotated role session) without anything in the key noticing.
    pub credentials_expiration: Option<SystemTime>,
    pub token: Secret,
}

impl Entry {
    pub fn new(key: &CacheKey, token: &AuthToken, expiration: SystemTime, now: SystemTime) -> Self {
        Entry {
            meta: key.meta.clone(),
            fetched: now,
            expiration,
            credentials_expiration: None,
            token: token.token.clone(),
        }
    }

    /// The entry, bounded by the expiry of the credentials its token was fetched with.
    pub fn with_credentials_expiration(mut self, at: Option<SystemTime>) -> Self {
        self.credentials_expiration = at;
        self
    }

    /// The moment after which this entry is no longer served, whatever `--min-validity` says.
    pub fn trusted_until(&self) -> SystemTime {
        let until = self.expiration.min(self.fetched + MAX_CACHED_LIFETIME);
        self.credentials_expiration.map_or(until, |c| until.min(c))
    }

    /// Time left before `trusted_until`, zero if past.
    pub fn remaining(&self, now: SystemTime) -> Duration {
        self.trusted_until()
            .duration_since(now)
            .unwrap_or(Duration::ZERO)
    }

    /// Whether the entry can be served to a caller who needs `min_validity` of it left.
    pub fn is_fresh(&self, now: SystemTime, min_validity: Duration) -> bool {
        self.remaining(now) > min_validity
    }

    pub fn to_auth_token(&self) -> AuthToken {
        AuthToken {
            token: self.token.clone(),
            kind: crate::token::TokenType::Subject,
            expiration: Some(self.expiration),
        }
    }

    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let stored = Stored {
            schema: SCHEMA,
            meta: self.meta.clone(),
            fetched: rfc3339(self.fetched),
            expiration: rfc3339(self.expiration),
            credentials_expiration: self.credentials_expiration.map(rfc3339),
            token: Zeroizing::new(self.token.expose().to_owned()),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(self.token.expose().len() * 2 + 512));
        // Serialising plain strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &stored);
        out
    }
}

/// Why a file was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Miss {
    #[error("no entry")]
    Absent,
    #[error("entry is not valid JSON of the expected shape")]
    Corrupt,
    #[error("entry has schema {0}, expected {SCHEMA}")]
    ForeignSchema(u32),
    #[error("entry belongs to a different key")]
    OtherKey,
    #[error("entry claims to be fetched in the future")]
    FutureDated,
    #[error("entry's token is not usable")]
    BadToken,
    #[error("entry is not a regular file owned by this user, or too large")]
    Unsafe,
}

/// Decodes `bytes` as an entry for `expected` (or for any key when `None`, for listing).
pub fn decode(bytes: &[u8], expected: Option<&KeyMeta>, now: SystemTime) -> Result<Entry, Miss> {
    check_schema(bytes, SCHEMA)?;
    let stored: Stored = serde_json::from_slice(bytes).map_err(|_| Miss::Corrupt)?;
    if expected.is_some_and(|m| *m != stored.meta) {
        return Err(Miss::OtherKey);
    }
    let fetched = parse_rfc3339(&stored.fetched).ok_or(Miss::Corrupt)?;
    let expiration = parse_rfc3339(&stored.expiration).ok_or(Miss::Corrupt)?;
    let credentials_expiration = match &stored.credentials_expiration {
        Some(t) => Some(parse_rfc3339(t).ok_or(Miss::Corrupt)?),
        None => None,
    };
    if fetched > now + FUTURE_SLACK {
        return Err(Miss::FutureDated);
    }
    let token = AuthToken::from_reply(Some(stored.token.to_string()), None, now)
        .map_err(|_| Miss::BadToken)?;
    Ok(Entry {
        meta: stored.meta,
        fetched,
        expiration,
        credentials_expiration,
        token: token.token,
    })
}

/// Checks an entry's `"schema"` field before its codec reads the rest, so that an entry of
/// another format version is a clean miss rather than a parse error in some field.
pub fn check_schema(bytes: &[u8], expected: u32) -> Result<(), Miss> {
    #[derive(serde::Deserialize)]
    struct Schema {
        schema: u32,
    }
    let schema: Schema = serde_json::from_slice(bytes).map_err(|_| Miss::Corrupt)?;
    if schema.schema != expected {
        return Err(Miss::ForeignSchema(schema.schema));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cache::key::test_key as key;

    fn entry(now: SystemTime, ttl: u64) -> Entry {
        let t = AuthToken {
            token: Secret::new("tok\"en".into()),
            kind: crate::token::TokenType::Subject,
            expiration: None,
        };
        Entry::new(&key("c1"), &t, now + Duration::from_secs(ttl), now)
    }

    const NOW: Duration = Duration::from_secs(1_795_927_411);

    #[test]
    fn round_trip_and_freshness() {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let e = entry(now, 900);
        let back = decode(&e.encode(), Some(&key("c1").meta), now).unwrap();
        assert_eq!(back.token.expose(), "tok\"en");
        assert_eq!(back.expiration, now + Duration::from_secs(900));
        assert!(back.is_fresh(now, Duration::from_secs(300)));
        assert!(!back.is_fresh(now + Duration::from_secs(600), Duration::from_secs(300)));
        assert!(back.is_fresh(now + Duration::from_secs(599), Duration::from_secs(300)));
        assert_eq!(
            decode(&e.encode(), Some(&key("c2").meta), now).unwrap_err(),
            Miss::OtherKey
        );
    }

    #[test]
    fn an_entry_is_not_trusted_past_its_credentials() {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let e = entry(now, 900).with_credentials_expiration(Some(now + Duration::from_secs(400)));
        let back = decode(&e.encode(), Some(&key("c1").meta), now).unwrap();
        assert_eq!(back.remaining(now), Duration::from_secs(400));
        assert!(!back.is_fresh(now, Duration::from_secs(600)));
        assert!(back.is_fresh(now, Duration::from_secs(300)));
    }

    #[test]
    fn absurd_expiration_is_capped() {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let e = entry(now, 10 * 365 * 86400);
        assert_eq!(e.remaining(now), MAX_CACHED_LIFETIME);
    }

    #[test]
    fn bad_files_are_misses() {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let good = String::from_utf8(entry(now, 900).encode().to_vec()).unwrap();
        let m = Some(&key("c1").meta);
        assert_eq!(decode(b"", m, now).unwrap_err(), Miss::Corrupt);
        assert_eq!(decode(b"\x00garbage", m, now).unwrap_err(), Miss::Corrupt);
        assert_eq!(
            decode(&good.as_bytes()[..good.len() / 2], m, now).unwrap_err(),
            Miss::Corrupt
        );
        let future = good.replace("\"schema\":1", "\"schema\":2");
        assert_eq!(
            decode(future.as_bytes(), m, now).unwrap_err(),
            Miss::ForeignSchema(2)
        );
        let later = now - Duration::from_secs(3600);
        assert_eq!(
            decode(good.as_bytes(), m, later).unwrap_err(),
            Miss::FutureDated
        );
        let empty_token = good.replace("tok\\\"en", "");
        assert_eq!(
            decode(empty_token.as_bytes(), m, now).unwrap_err(),
            Miss::BadToken
        );
    }

    /// Found with the `cache_fields` fuzz target: times that leave the four-digit years once
    /// converted to UTC used to panic in the time conversion.
    #[test]
    fn out_of_range_times_are_corrupt_not_a_panic() {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let good = String::from_utf8(entry(now, 900).encode().to_vec()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&good).unwrap();
        for (field, value) in [
            ("expiration", "9999-12-31T23:59:59-00:01"),
            ("fetched", "0000-01-01T00:00:00+00:01"),
        ] {
            let mut bad = v.clone();
            bad[field] = value.into();
            let bytes = serde_json::to_vec(&bad).unwrap();
            assert_eq!(
                decode(&bytes, None, now).unwrap_err(),
                Miss::Corrupt,
                "{field}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes, None, SystemTime::UNIX_EPOCH + NOW);
        }
    }
}
