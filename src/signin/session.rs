//! A signed-in session as the cache keeps it: the identity-enhanced role credentials, the
//! refresh token (a secret of the same rank as the token) and who signed in, with its whole
//! key, so an entry copied or renamed onto another key is refused on read.
//!
//! Stored in the cache's `signin-v<SCHEMA>/` store (the same locking, atomic private writes
//! and versioning as token entries) and served until [`REFRESH_BUFFER`] before the role
//! credentials expire, so a token fetched with them never starts with credentials about to
//! lapse. As in aws-config's SSO token provider (`sso/token.rs`: a refresh buffer and a
//! minimum time between refreshes), a renewal that failed while the credentials still work
//! is not tried again for [`MIN_TIME_BETWEEN_RENEWALS`]; the still-valid credentials are
//! served meanwhile.
//!
//! Next to the sessions, `failed/` keeps for a short while ([`FAILURE_LIFETIME`]) the outcome
//! of a sign-in that failed, written under the session's lock, so the runs that waited for it
//! end with the same status and message instead of each asking the person again.

use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::config::SigninConfig;
pub use crate::aws::credentials::RoleCredentials;
use crate::cache::{Fingerprint, LockGuard, Miss, Store, check_schema};
use crate::error::{Error, ExitCode};
use crate::secret_store::{self, Choice, Fallback, Kept, SecretId};
use crate::token::{Secret, parse_rfc3339, rfc3339};
use tracing::{info, warn};

/// The schema, set once here: [`SCHEMA`] and [`STORE`] are both made from it.
macro_rules! session_schema {
    () => {
        2
    };
}
/// Bump (in `session_schema!`) when the meaning of a session key or the entry format changes.
pub const SCHEMA: u32 = session_schema!();
/// The store's directory name under the cache root.
pub const STORE: &str = concat!("signin-v", session_schema!());
/// The failure records' directory under [`STORE`].
const FAILURES: &str = "failed";
/// Role credentials are renewed this long before they expire.
pub const REFRESH_BUFFER: Duration = Duration::from_secs(300);
/// After a renewal failed, the next is not tried before this much time has passed (the
/// still-valid credentials are served meanwhile): aws-config's `MIN_TIME_BETWEEN_REFRESH`.
pub const MIN_TIME_BETWEEN_RENEWALS: Duration = Duration::from_secs(30);
/// How long the outcome of a failed sign-in is kept for the runs that waited for it.
pub const FAILURE_LIFETIME: Duration = Duration::from_secs(30);
/// Clock skew tolerated before an entry "signed in in the future" is distrusted.
const FUTURE_SLACK: Duration = Duration::from_secs(300);

/// What decides which session is the right one, all of it; kept in the entry and checked on
/// read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMeta {
    pub profile: String,
    pub application_arn: String,
    pub role_arn: String,
    pub idc_region: String,
    pub signin: String,
    /// A one-way digest of the rest of the key: the bootstrap profile, the fingerprint of its
    /// credential chain and the person a JWT file or variable names. The file name is a hash
    /// over it too, but a file can be copied or renamed; checking it on read means an entry
    /// that lands under another identity's name is never served to that identity.
    pub identity: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    /// 32 hex digits: the entry's file name.
    pub id: String,
    pub meta: SessionMeta,
    /// Whether the key names the person (a JWT file or variable read for free); when not
    /// (a JWT command), the person is checked whenever the command is run.
    pub names_person: bool,
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
        let identity = digest(
            "identity",
            &[
                cfg.bootstrap_profile(),
                &fingerprint.digest(),
                person.unwrap_or("-"),
            ],
        );
        let meta = SessionMeta {
            profile: cfg.profile.clone(),
            application_arn: cfg.application_arn.clone(),
            role_arn: cfg.role_arn.clone(),
            idc_region: idc_region.to_owned(),
            signin: cfg.kind.name().to_owned(),
            identity,
        };
        let id = digest(
            "session",
            &[
                &meta.profile,
                &meta.application_arn,
                &meta.role_arn,
                &meta.idc_region,
                &meta.signin,
                &meta.identity,
            ],
        );
        SessionKey {
            id,
            meta,
            names_person: person.is_some(),
        }
    }
}

/// 32 hex digits of a SHA-256 over length-prefixed `parts`, for `what`.
fn digest(what: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(format!(
        "redshift-idc-token sign-in {what}, schema {SCHEMA}\0"
    ));
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..16])
}

/// A one-way digest of the person a JWT names (`iss` and `sub`), as a session records it.
pub fn person_digest(person: &str) -> String {
    digest("person", &[person])
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
    /// For the `jwt` kind, [`person_digest`] of the person the JWT named at sign-in: a
    /// session made from a JWT command is bound to what the command printed.
    pub jwt_person: Option<String>,
    /// When the last renewal failed while the credentials still worked (see
    /// [`MIN_TIME_BETWEEN_RENEWALS`]).
    pub renewal_failed: Option<SystemTime>,
}

impl Session {
    /// Whether the role credentials can still be handed out at `now` without a renewal.
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        self.credentials.expiration > now + REFRESH_BUFFER
    }

    /// Whether the role credentials still work at all (a failed refresh may fall back on them).
    pub fn is_valid(&self, now: SystemTime) -> bool {
        self.credentials.expiration > now + Duration::from_secs(60)
    }

    /// Whether a renewal should be tried at `now`: inside the refresh buffer, and not within
    /// [`MIN_TIME_BETWEEN_RENEWALS`] of a failed one (a clock that went back makes it due).
    pub fn renewal_due(&self, now: SystemTime) -> bool {
        !self.is_fresh(now)
            && self
                .renewal_failed
                .is_none_or(|t| now < t || now >= t + MIN_TIME_BETWEEN_RENEWALS)
    }

    /// Whether a run may use this session at `now` as it is: fresh, or still valid while a
    /// failed renewal waits out its minimum interval.
    pub fn servable(&self, now: SystemTime) -> bool {
        self.is_fresh(now) || (self.is_valid(now) && !self.renewal_due(now))
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
            jwt_person: self.jwt_person.clone(),
            renewal_failed: self.renewal_failed.map(unix_millis),
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
    jwt_person: Option<String>,
    /// Milliseconds since the epoch.
    renewal_failed: Option<u64>,
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn from_unix_millis(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
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
        jwt_person: s.jwt_person,
        renewal_failed: s.renewal_failed.map(from_unix_millis),
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
        // A sign-in that worked ends the tale of the one that failed.
        if let Some(failures) = failures(store) {
            remove_failure(&failures, &key.id);
        }
    }
}

/// The outcome of a failed sign-in, for the runs that waited for it: the line the failing
/// run printed (never a secret: error lines carry none) and its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub at: SystemTime,
    pub line: String,
    pub status: ExitCode,
}

impl Failure {
    /// Whether it was recorded at or after `since` (to the millisecond, as it is stored): a
    /// run that began waiting before the failure learns it; one that came later asks again.
    pub fn recorded_since(&self, since: SystemTime) -> bool {
        unix_millis(self.at) >= unix_millis(since)
    }
}

#[derive(Serialize, Deserialize)]
struct StoredFailure {
    schema: u32,
    kind: String,
    #[serde(flatten)]
    meta: SessionMeta,
    /// Milliseconds since the epoch: a waiter compares it with when it began waiting.
    at: u64,
    line: String,
    status: u8,
}

/// The failure records next to `sessions` (`<STORE>/failed/`).
pub fn failures(sessions: &Store) -> Option<Store> {
    Store::open(sessions.dir(), FAILURES)
        .inspect_err(|e| warn!(error = %e, "cannot keep sign-in failures"))
        .ok()
}

/// Records `failure` for `key`. `_session_lock` proves the caller holds the session's lock,
/// under which waiters read it.
pub fn record_failure(
    sessions: &Store,
    _session_lock: &LockGuard,
    key: &SessionKey,
    failure: &Failure,
) {
    let Some(store) = failures(sessions) else {
        return;
    };
    let stored = StoredFailure {
        schema: SCHEMA,
        kind: "failure".into(),
        meta: key.meta.clone(),
        at: unix_millis(failure.at),
        line: failure.line.clone(),
        status: failure.status as u8,
    };
    let bytes = serde_json::to_vec(&stored).unwrap_or_default();
    // Taken only under the session's lock, so never waited for.
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    match store.lock(&key.id, crate::cache::Mode::Exclusive, deadline) {
        Ok(Some(guard)) => {
            if let Err(e) = store.write(&guard, &key.id, &bytes) {
                warn!(error = %e, "could not record the failed sign-in");
            }
        }
        _ => warn!("could not record the failed sign-in"),
    }
}

/// The failure recorded for `key`, if it is younger than [`FAILURE_LIFETIME`] at `now`.
pub fn failure(sessions: &Store, key: &SessionKey, now: SystemTime) -> Option<Failure> {
    let store = failures(sessions)?;
    let bytes = store.read(&key.id).ok()?;
    check_schema(&bytes, SCHEMA).ok()?;
    let f: StoredFailure = serde_json::from_slice(&bytes).ok()?;
    let at = from_unix_millis(f.at);
    let young = at <= now + FUTURE_SLACK && now < at + FAILURE_LIFETIME;
    let status = ExitCode::ALL.into_iter().find(|c| *c as u8 == f.status)?;
    (f.kind == "failure" && f.meta == key.meta && young).then_some(Failure {
        at,
        line: f.line,
        status,
    })
}

/// Removes `id`'s failure record and its lock file, if any.
pub fn remove_failure(failures: &Store, id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(1);
    if let Ok(Some(guard)) = failures.lock(id, crate::cache::Mode::Exclusive, deadline) {
        let _ = failures.remove(&guard, id);
        failures.remove_lock_file(guard);
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
            identity: "0".repeat(32),
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
        jwt_person: Some(person_digest("https://idp\0ann")),
        renewal_failed: None,
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
