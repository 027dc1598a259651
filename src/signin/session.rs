//! A signed-in session as the cache keeps it: the identity-enhanced role credentials, the
//! refresh token (a secret of the same rank as the token) and who signed in, with its key.
//!
//! Stored in the cache's `signin-v<SCHEMA>/` store (the same locking, atomic private writes
//! and versioning as token entries) and served until [`REFRESH_BUFFER`] before the role
//! credentials expire, so a token fetched with them never starts with credentials about to
//! lapse.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::config::SigninConfig;
pub use crate::aws::credentials::RoleCredentials;
use crate::cache::{Fingerprint, LockGuard, Miss, Store, check_schema};
use crate::token::{Secret, parse_rfc3339, rfc3339};
use tracing::{info, warn};

/// Bump when the meaning of a session key or the entry format changes.
pub const SCHEMA: u32 = 1;
/// The store's directory name under the cache root.
pub const STORE: &str = "signin-v1";
/// Role credentials are renewed this long before they expire.
pub const REFRESH_BUFFER: Duration = Duration::from_secs(300);
/// Clock skew tolerated before an entry "signed in in the future" is distrusted.
const FUTURE_SLACK: Duration = Duration::from_secs(300);

/// What decides which session is the right one; kept in the entry and checked on read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMeta {
    pub profile: String,
    pub application_arn: String,
    pub role_arn: String,
    pub idc_region: String,
    pub signin: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// 32 hex digits: the entry's file name.
    pub id: String,
    pub meta: SessionMeta,
}

impl SessionKey {
    /// The key of the session for `cfg` in `idc_region`, as the identity the credential chain
    /// would use (`fingerprint`) and, where the JWT can be read for free, the person it names.
    pub fn new(
        cfg: &SigninConfig,
        idc_region: &str,
        fingerprint: &Fingerprint,
        person: Option<&str>,
    ) -> SessionKey {
        let meta = SessionMeta {
            profile: cfg.profile.clone(),
            application_arn: cfg.application_arn.clone(),
            role_arn: cfg.role_arn.clone(),
            idc_region: idc_region.to_owned(),
            signin: cfg.kind.name().to_owned(),
        };
        let mut h = Sha256::new();
        h.update(format!(
            "redshift-idc-token sign-in session, schema {SCHEMA}\0"
        ));
        for part in [
            meta.profile.as_str(),
            meta.application_arn.as_str(),
            meta.role_arn.as_str(),
            meta.idc_region.as_str(),
            meta.signin.as_str(),
            cfg.bootstrap_profile(),
            &fingerprint.digest(),
            person.unwrap_or("-"),
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        SessionKey {
            id: hex::encode(&h.finalize()[..16]),
            meta,
        }
    }
}

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub meta: SessionMeta,
    /// The Identity Center user (`sub` of the ID token).
    pub user: String,
    pub signed_in: SystemTime,
    pub refresh_token: Option<Secret>,
    pub credentials: RoleCredentials,
}

impl Session {
    /// Whether the role credentials can still be handed out at `now`.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.credentials.expiration > now + REFRESH_BUFFER
    }

    /// Whether the role credentials still work at all (a failed refresh may fall back on them).
    pub fn is_valid(&self, now: SystemTime) -> bool {
        self.credentials.expiration > now + Duration::from_secs(60)
    }

    /// Who this session is, for the Redshift token's cache key: a different person, role or
    /// application never shares a token entry.
    pub fn identity(&self) -> String {
        format!(
            "{}\0{}\0{}",
            self.meta.application_arn, self.meta.role_arn, self.user
        )
    }

    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let c = &self.credentials;
        let stored = Stored {
            schema: SCHEMA,
            kind: "session".into(),
            meta: self.meta.clone(),
            user: self.user.clone(),
            signed_in: rfc3339(self.signed_in),
            refresh_token: self
                .refresh_token
                .as_ref()
                .map(|t| Zeroizing::new(t.expose().to_owned())),
            access_key_id: c.access_key_id.clone(),
            secret_access_key: Zeroizing::new(c.secret_access_key.expose().to_owned()),
            session_token: Zeroizing::new(c.session_token.expose().to_owned()),
            expiration: rfc3339(c.expiration),
        };
        let mut out = Zeroizing::new(Vec::with_capacity(4096));
        // Serialising plain strings into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, &stored);
        out
    }
}

#[derive(Serialize, Deserialize)]
struct Stored {
    schema: u32,
    kind: String,
    #[serde(flatten)]
    meta: SessionMeta,
    user: String,
    signed_in: String,
    refresh_token: Option<Zeroizing<String>>,
    access_key_id: String,
    secret_access_key: Zeroizing<String>,
    session_token: Zeroizing<String>,
    expiration: String,
}

/// Decodes a session entry for `expected` (any key when `None`, for listing).
pub fn decode(
    bytes: &[u8],
    expected: Option<&SessionMeta>,
    now: SystemTime,
) -> Result<Session, Miss> {
    check_schema(bytes, SCHEMA)?;
    let s: Stored = serde_json::from_slice(bytes).map_err(|_| Miss::Corrupt)?;
    if s.kind != "session" {
        return Err(Miss::Corrupt);
    }
    if expected.is_some_and(|m| *m != s.meta) {
        return Err(Miss::OtherKey);
    }
    let signed_in = parse_rfc3339(&s.signed_in).ok_or(Miss::Corrupt)?;
    let expiration = parse_rfc3339(&s.expiration).ok_or(Miss::Corrupt)?;
    if signed_in > now + FUTURE_SLACK {
        return Err(Miss::FutureDated);
    }
    let usable = |v: &str| !v.is_empty() && !v.contains(['\0', '\n', '\r']);
    if !usable(&s.access_key_id) || !usable(&s.secret_access_key) || !usable(&s.session_token) {
        return Err(Miss::BadToken);
    }
    Ok(Session {
        meta: s.meta,
        user: s.user,
        signed_in,
        refresh_token: s
            .refresh_token
            .filter(|t| usable(t))
            .map(|t| Secret::new(t.to_string())),
        credentials: RoleCredentials {
            access_key_id: s.access_key_id,
            secret_access_key: Secret::new(s.secret_access_key.to_string()),
            session_token: Secret::new(s.session_token.to_string()),
            expiration,
        },
    })
}

/// The session cached for `key`, whatever its freshness.
pub fn cached(store: Option<&Store>, key: &SessionKey, now: SystemTime) -> Result<Session, Miss> {
    let store = store.ok_or(Miss::Absent)?;
    decode(&store.read(&key.id)?, Some(&key.meta), now)
}

/// `redshift-idc-token-` and 16 hex digits of the user id: valid for RoleSessionName
/// (`[\w+=,.@-]{2,64}`) whatever the id looks like, and the same for the same person.
pub fn session_name(user: &str) -> String {
    format!(
        "redshift-idc-token-{}",
        &hex::encode(Sha256::digest(user.as_bytes()))[..16]
    )
}

pub fn store_session(
    store: Option<&Store>,
    guard: Option<&LockGuard>,
    key: &SessionKey,
    s: &Session,
) {
    if let (Some(store), Some(guard)) = (store, guard) {
        match store.write(guard, &key.id, &s.encode()) {
            Ok(()) => info!(key = %key.id, "cached the sign-in session"),
            Err(e) => warn!(error = %e, "could not cache the sign-in session"),
        }
    }
}

#[cfg(test)]
pub(crate) fn test_session(user: &str, now: SystemTime, ttl: u64) -> Session {
    Session {
        meta: SessionMeta {
            profile: "default".into(),
            application_arn: "arn:aws:sso::123456789012:application/ssoins-1/apl-1".into(),
            role_arn: "arn:aws:iam::123456789012:role/R".into(),
            idc_region: "us-east-1".into(),
            signin: "jwt".into(),
        },
        user: user.into(),
        signed_in: now,
        refresh_token: Some(Secret::new("SENTINEL-REFRESH".into())),
        credentials: RoleCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: Secret::new("SENTINEL-SECRET".into()),
            session_token: Secret::new("SENTINEL-SESSION".into()),
            expiration: now + Duration::from_secs(ttl),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Duration = Duration::from_secs(1_795_927_411);

    #[test]
    fn round_trip_freshness_and_no_secret_in_debug() {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let s = test_session("ann", now, 3600);
        let back = decode(&s.encode(), Some(&s.meta), now).unwrap();
        assert_eq!(back, s);
        assert!(s.is_fresh(now + Duration::from_secs(3299)));
        assert!(!s.is_fresh(now + Duration::from_secs(3300)));
        assert!(s.is_valid(now + Duration::from_secs(3500)));
        let debug = format!("{s:?}");
        assert!(!debug.contains("SENTINEL"), "{debug}");
        let mut other = s.meta.clone();
        other.role_arn.push('2');
        assert_eq!(decode(&s.encode(), Some(&other), now), Err(Miss::OtherKey));
        let text = String::from_utf8(s.encode().to_vec()).unwrap();
        let foreign = text.replace("\"schema\":1", "\"schema\":7");
        assert_eq!(
            decode(foreign.as_bytes(), None, now),
            Err(Miss::ForeignSchema(7))
        );
        assert_eq!(decode(b"{\"schema\":1}", None, now), Err(Miss::Corrupt));
        let early = now - Duration::from_secs(3600);
        assert_eq!(decode(&s.encode(), None, early), Err(Miss::FutureDated));
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes, None, SystemTime::UNIX_EPOCH + NOW);
        }
    }
}
