//! A signed-in session as the cache keeps it: the identity-enhanced role credentials, the
//! refresh token (a secret of the same rank as the token) and who signed in, with its key.
//!
//! Stored in the cache's `signin-v<SCHEMA>/` store (the same locking, atomic private writes
//! and versioning as token entries) and served until [`REFRESH_BUFFER`] before the role
//! credentials expire, so a token fetched with them never starts with credentials about to
//! lapse.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::config::SigninConfig;
pub use crate::aws::credentials::RoleCredentials;
use crate::cache::{Fingerprint, LockGuard, Miss, Store, check_schema};
use crate::error::Error;
use crate::secret_store::{self, Choice, Fallback, Kept, SecretId};
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
    /// The refresh token, or where it is kept (the OS keyring): see [`keep_refresh_token`].
    pub refresh_token: Option<Kept>,
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
            refresh_token: inline_refresh_token(&self.refresh_token),
            refresh_token_ref: self.refresh_token.as_ref().and_then(Kept::reference),
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
    /// Where the refresh token is instead (`keyring:<id>`); absent when it is inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token_ref: Option<String>,
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
        refresh_token: kept_refresh_token(
            s.refresh_token.filter(|t| usable(t)),
            s.refresh_token_ref,
        ),
        credentials: RoleCredentials {
            access_key_id: s.access_key_id,
            secret_access_key: Secret::new(s.secret_access_key.to_string()),
            session_token: Secret::new(s.session_token.to_string()),
            expiration,
        },
    })
}

fn inline_refresh_token(kept: &Option<Kept>) -> Option<Zeroizing<String>> {
    match kept {
        Some(Kept::Inline(t)) => Some(Zeroizing::new(t.expose().to_owned())),
        _ => None,
    }
}

/// The refresh token as an entry holds it: inline, or a reference this version understands
/// (any other reference reads as no refresh token: the person signs in again).
fn kept_refresh_token(
    inline: Option<Zeroizing<String>>,
    reference: Option<String>,
) -> Option<Kept> {
    match inline {
        Some(t) => Some(Kept::Inline(Secret::new(t.to_string()))),
        None => Kept::from_reference(reference.as_deref()?),
    }
}

/// The keyring item a session's refresh token goes to.
fn refresh_token_id(key: &SessionKey) -> Option<SecretId> {
    SecretId::of("signin", &key.id, "refresh_token")
}

/// Puts a new or renewed session's refresh token where `choice` says before the session is
/// cached: the OS keyring (the entry keeps a reference) or the entry itself. `previous` is the
/// session it replaces (with `renewal`, the one it renews). Under `auto` the fallback notice
/// comes once: a session whose refresh token fell back to the file renews in the file, and a
/// later sign-in tries the keyring again quietly. A keyring item no longer needed is removed.
/// Bounded by `deadline`; `keyring` fails rather than fall back to the file.
pub fn keep_refresh_token(
    mut s: Session,
    key: &SessionKey,
    choice: Choice,
    previous: Option<&Session>,
    renewal: bool,
    deadline: Instant,
) -> Result<Session, Error> {
    let old = previous.and_then(|p| p.refresh_token.as_ref());
    // Under `auto`, a session whose refresh token fell back to the file was told so already.
    let told = choice == Choice::Auto && matches!(old, Some(Kept::Inline(_)));
    let (choice, fallback) = match (told, renewal) {
        (true, true) => (Choice::File, Fallback::Quiet),
        (true, false) => (choice, Fallback::Quiet),
        (false, _) => (choice, Fallback::Notice),
    };
    if let Some(Kept::Inline(t)) = &s.refresh_token
        && let Some(id) = refresh_token_id(key)
    {
        s.refresh_token = Some(secret_store::keep(choice, &id, t, deadline, fallback)?);
    }
    if let Some(old @ Kept::Keyring(_)) = old
        && s.refresh_token.as_ref() != Some(old)
        && let Err(e) = secret_store::forget(old, deadline)
    {
        // After an `auto` fallback the keyring is known not to answer: said once already.
        if matches!(s.refresh_token, Some(Kept::Inline(_))) && choice == Choice::Auto {
            info!("could not remove the previous refresh token from the OS keyring: {e}");
        } else {
            warn!("could not remove the previous refresh token from the OS keyring: {e}");
        }
    }
    Ok(s)
}

/// Caches a new (`renewal`: renewed) session under its lock, its refresh token first put
/// where `cfg.secret_store` says ([`keep_refresh_token`], bounded by the sign-in timeout).
/// Without a store or its lock nothing is cached, and nothing is put in the keyring either.
pub fn keep_session(
    store: Option<&Store>,
    guard: Option<&LockGuard>,
    key: &SessionKey,
    s: Session,
    cfg: &SigninConfig,
    previous: Option<&Session>,
    renewal: bool,
) -> Result<Session, Error> {
    if store.is_none() || guard.is_none() {
        return Ok(s);
    }
    let deadline = Instant::now() + cfg.signin_timeout;
    let s = keep_refresh_token(s, key, cfg.secret_store, previous, renewal, deadline)?;
    store_session(store, guard, key, &s);
    Ok(s)
}

/// The refresh token of a cached session, read from the keyring if it is kept there (only
/// when the session is to be renewed: never on a cache hit). `None`, with a warning, when it
/// cannot be had by `deadline`: the caller signs in again.
pub fn reveal_refresh_token(s: &Session, deadline: Instant) -> Option<Secret> {
    let kept = s.refresh_token.as_ref()?;
    match secret_store::reveal(kept, deadline) {
        Ok(t) => Some(t),
        Err(e) => {
            warn!("cannot read the refresh token, so the session cannot be renewed silently: {e}");
            None
        }
    }
}

/// Removes what a removed session kept outside its entry (its keyring item), for `logout`;
/// whether there was one. A keyring that does not answer is reported, not fatal: the entry
/// is gone either way.
pub fn forget_refresh_token(s: &Session, deadline: Instant) -> bool {
    let Some(kept) = &s.refresh_token else {
        return false;
    };
    match secret_store::forget(kept, deadline) {
        Ok(removed) => removed,
        Err(e) => {
            warn!("the session is removed, but its refresh token is still in the OS keyring: {e}");
            false
        }
    }
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
        refresh_token: Some(Kept::Inline(Secret::new("SENTINEL-REFRESH".into()))),
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

    #[test]
    fn a_refresh_token_in_the_keyring_is_a_reference_in_the_entry() {
        let now = SystemTime::UNIX_EPOCH + NOW;
        let mut s = test_session("ann", now, 3600);
        let id = SecretId::of("signin", "0123abcd", "refresh_token").unwrap();
        s.refresh_token = Some(Kept::Keyring(id));
        let text = String::from_utf8(s.encode().to_vec()).unwrap();
        assert!(text.contains(r#""refresh_token":null"#), "{text}");
        assert!(
            text.contains(r#""refresh_token_ref":"keyring:signin/0123abcd/refresh_token""#),
            "{text}"
        );
        assert_eq!(decode(text.as_bytes(), Some(&s.meta), now).unwrap(), s);
        // A reference this version does not know is no refresh token: sign in again.
        let other = text.replace("keyring:signin", "vault:signin");
        let back = decode(other.as_bytes(), Some(&s.meta), now).unwrap();
        assert_eq!(back.refresh_token, None);
        // Inline, the entry is as before the keyring: no reference field at all.
        let inline = String::from_utf8(test_session("ann", now, 60).encode().to_vec()).unwrap();
        assert!(!inline.contains("refresh_token_ref"), "{inline}");
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = decode(&bytes, None, SystemTime::UNIX_EPOCH + NOW);
        }
    }
}
