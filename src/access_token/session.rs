//! An access-token session as the cache keeps it: the Identity Center access token, its
//! refresh token and the client registration they came with, under a key of everything that
//! decides which session is the right one.
//!
//! `CreateToken` returns no ID token, so the program cannot learn who signed in: the key is
//! the profile, the issuer and start URLs, the Identity Center region and the sign-in kind.
//! Two profiles never share a session; `login --force` and `logout` are how a person
//! switches. The entry records its whole key and a read checks it, so an entry copied or
//! renamed onto another key is never served.

use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::config::{AccessConfig, Source};
use crate::aws::sso_oidc::Registration;
use crate::cache::{Miss, check_schema};
use crate::secret_store::{Kept, SecretId};
use crate::token::{Secret, parse_rfc3339, rfc3339};

/// Bump when the key or the entry format changes; the store's folder carries it.
pub const SCHEMA: u32 = 1;
/// The store's directory under the cache root, named from [`SCHEMA`].
pub fn store_name() -> String {
    format!("access-v{SCHEMA}")
}
/// An access token is renewed this long before it expires (aws-config's SSO token provider
/// uses the same five minutes).
pub const REFRESH_BUFFER: Duration = Duration::from_secs(300);

/// What decides which session is the right one; kept in the entry and checked on read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessMeta {
    pub profile: String,
    /// `issuer <url>` or `sso-session <name>`.
    pub source: String,
    pub start_url: Option<String>,
    pub idc_region: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessKey {
    /// 32 hex digits: the entry's file name.
    pub id: String,
    pub meta: AccessMeta,
}

impl AccessKey {
    pub fn new(cfg: &AccessConfig) -> AccessKey {
        let (source, start_url) = match &cfg.source {
            Source::SignIn {
                issuer_url,
                start_url,
                ..
            } => (format!("issuer {issuer_url}"), start_url.clone()),
            Source::SsoSession { name, start_url } => {
                (format!("sso-session {name}"), Some(start_url.clone()))
            }
        };
        let meta = AccessMeta {
            profile: cfg.profile.clone(),
            source,
            start_url,
            idc_region: cfg.idc_region.clone(),
        };
        AccessKey {
            id: digest(
                "access session",
                &serde_json::to_string(&meta).unwrap_or_default(),
            ),
            meta,
        }
    }

    /// The key of the client registration these settings use: one registration serves every
    /// sign-in of the instance, region, sso-oidc endpoint (`endpoint`, where the client was
    /// registered: another endpoint never issued it) and redirect URI until it expires.
    pub fn registration(&self, endpoint: &str, redirect_uri: &str) -> String {
        format!(
            "reg-{}",
            digest(
                "registration",
                &format!(
                    "{}\0{}\0{endpoint}\0{redirect_uri}",
                    self.meta.source, self.meta.idc_region
                )
            )
        )
    }

    /// The keyring item of this session's refresh token (`redshift_idc_secret_store`).
    pub fn refresh_token_id(&self) -> Option<SecretId> {
        SecretId::of("access", &self.id, "refresh_token")
    }

    /// Where a failed sign-in is recorded for the callers that waited for it.
    pub fn failure(&self) -> String {
        format!("{}-failed", self.id)
    }
}

fn digest(what: &str, text: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("redshift-idc-token {what}, schema {SCHEMA}\0"));
    h.update(text.as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// A client registration as the cache keeps it: its secret in the entry, or where it is
/// (the OS keyring), revealed only when a call needs it ([`StoredRegistration::reveal`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRegistration {
    pub client_id: String,
    pub client_secret: Kept,
    pub expires_at: SystemTime,
}

impl StoredRegistration {
    pub fn inline(r: Registration) -> StoredRegistration {
        StoredRegistration {
            client_id: r.client_id,
            client_secret: Kept::Inline(r.client_secret),
            expires_at: r.expires_at,
        }
    }

    /// The registration with its secret, read from the keyring if it is kept there.
    pub fn reveal(
        &self,
        deadline: std::time::Instant,
    ) -> Result<Registration, crate::secret_store::Unavailable> {
        Ok(Registration {
            client_id: self.client_id.clone(),
            client_secret: crate::secret_store::reveal(&self.client_secret, deadline)?,
            expires_at: self.expires_at,
        })
    }
}

/// A cached access-token session. The access token is short-lived and read on every hit, so
/// it is in the entry; the refresh token and the client secret are long-lived, so they may be
/// in the OS keyring, the entry keeping a reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSession {
    pub meta: AccessMeta,
    pub access_token: Secret,
    pub expires_at: SystemTime,
    pub refresh_token: Option<Kept>,
    pub registration: Option<StoredRegistration>,
    pub signed_in: SystemTime,
}

impl AccessSession {
    /// Usable for at least `REFRESH_BUFFER` and `min_validity` more.
    pub fn is_fresh(&self, now: SystemTime, min_validity: Duration) -> bool {
        self.expires_at
            .duration_since(now)
            .is_ok_and(|left| left > REFRESH_BUFFER.max(min_validity))
    }

    /// Not expired yet (served after a failed renewal while it lasts).
    pub fn is_valid(&self, now: SystemTime) -> bool {
        self.expires_at > now
    }
}

#[derive(Serialize, Deserialize)]
struct Doc {
    schema: u32,
    meta: AccessMeta,
    access_token: Zeroizing<String>,
    expires_at: String,
    refresh_token: Option<Zeroizing<String>>,
    /// Where the refresh token is kept when not in this entry (`keyring:...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token_ref: Option<String>,
    client_id: Option<String>,
    client_secret: Option<Zeroizing<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    client_secret_ref: Option<String>,
    client_expires_at: Option<String>,
    signed_in: String,
}

/// A kept secret as the entry's two fields: the secret itself, or the reference.
fn fields(kept: Option<&Kept>) -> (Option<Zeroizing<String>>, Option<String>) {
    match kept {
        Some(Kept::Inline(s)) => (Some(Zeroizing::new(s.expose().to_owned())), None),
        Some(k) => (None, k.reference()),
        None => (None, None),
    }
}

/// The entry's two fields back as a kept secret; a reference this version does not know is
/// none (the session then signs in again).
fn kept(inline: Option<Zeroizing<String>>, reference: Option<String>) -> Option<Kept> {
    match (inline, reference) {
        (Some(s), _) => Some(Kept::Inline(Secret::new(s.to_string()))),
        (None, Some(r)) => Kept::from_reference(&r),
        (None, None) => None,
    }
}

impl AccessSession {
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let (refresh_token, refresh_token_ref) = fields(self.refresh_token.as_ref());
        let (client_secret, client_secret_ref) =
            fields(self.registration.as_ref().map(|r| &r.client_secret));
        let doc = Doc {
            schema: SCHEMA,
            meta: self.meta.clone(),
            access_token: Zeroizing::new(self.access_token.expose().to_owned()),
            expires_at: rfc3339(self.expires_at),
            refresh_token,
            refresh_token_ref,
            client_id: self.registration.as_ref().map(|r| r.client_id.clone()),
            client_secret,
            client_secret_ref,
            client_expires_at: self.registration.as_ref().map(|r| rfc3339(r.expires_at)),
            signed_in: rfc3339(self.signed_in),
        };
        Zeroizing::new(serde_json::to_vec(&doc).unwrap_or_default())
    }

    /// Decodes an entry and checks it belongs to `expected` (when given).
    pub fn decode(bytes: &[u8], expected: Option<&AccessMeta>) -> Result<AccessSession, Miss> {
        check_schema(bytes, SCHEMA)?;
        let doc: Doc = serde_json::from_slice(bytes).map_err(|_| Miss::Corrupt)?;
        if expected.is_some_and(|m| *m != doc.meta) {
            return Err(Miss::OtherKey);
        }
        let time = |s: &str| parse_rfc3339(s).ok_or(Miss::Corrupt);
        let secret = kept(doc.client_secret, doc.client_secret_ref);
        let registration = match (doc.client_id, secret, doc.client_expires_at) {
            (Some(id), Some(secret), Some(at)) => Some(StoredRegistration {
                client_id: id,
                client_secret: secret,
                expires_at: time(&at)?,
            }),
            _ => None,
        };
        Ok(AccessSession {
            meta: doc.meta,
            access_token: Secret::new(doc.access_token.to_string()),
            expires_at: time(&doc.expires_at)?,
            refresh_token: kept(doc.refresh_token, doc.refresh_token_ref),
            registration,
            signed_in: time(&doc.signed_in)?,
        })
    }
}

/// A client registration on its own (`reg-*` entries).
pub fn encode_registration(r: &StoredRegistration) -> Zeroizing<Vec<u8>> {
    let (secret, reference) = fields(Some(&r.client_secret));
    Zeroizing::new(
        serde_json::to_vec(&serde_json::json!({
            "schema": SCHEMA,
            "client_id": r.client_id,
            "client_secret": secret.as_deref().map(String::as_str),
            "client_secret_ref": reference,
            "expires_at": rfc3339(r.expires_at),
        }))
        .unwrap_or_default(),
    )
}

pub fn decode_registration(bytes: &[u8]) -> Result<StoredRegistration, Miss> {
    check_schema(bytes, SCHEMA)?;
    let v: serde_json::Value = serde_json::from_slice(bytes).map_err(|_| Miss::Corrupt)?;
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    let secret = kept(
        s("client_secret").map(Zeroizing::new),
        s("client_secret_ref"),
    )
    .ok_or(Miss::Corrupt)?;
    Ok(StoredRegistration {
        client_id: s("client_id").ok_or(Miss::Corrupt)?,
        client_secret: secret,
        expires_at: parse_rfc3339(&s("expires_at").ok_or(Miss::Corrupt)?).ok_or(Miss::Corrupt)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::SigninKind;

    fn cfg(profile: &str) -> AccessConfig {
        AccessConfig {
            profile: profile.into(),
            source: Source::SignIn {
                issuer_url: "https://i".into(),
                start_url: None,
                kind: SigninKind::Browser,
            },
            idc_region: "us-east-1".into(),
            listen_port: 7890,
            signin_timeout: Duration::from_secs(120),
            no_browser: false,
            browser: None,
            secret_store: crate::secret_store::Choice::File,
        }
    }

    #[test]
    fn an_entry_round_trips_and_refuses_another_key() {
        let key = AccessKey::new(&cfg("a"));
        let now = parse_rfc3339("2026-12-07T00:00:00Z").unwrap();
        let s = AccessSession {
            meta: key.meta.clone(),
            access_token: Secret::new("at".into()),
            expires_at: now + Duration::from_secs(3600),
            refresh_token: Some(Kept::Inline(Secret::new("rt".into()))),
            registration: Some(StoredRegistration::inline(Registration {
                client_id: "c".into(),
                client_secret: Secret::new("s".into()),
                expires_at: now + Duration::from_secs(86_400),
            })),
            signed_in: now,
        };
        let bytes = s.encode();
        assert_eq!(AccessSession::decode(&bytes, Some(&key.meta)).unwrap(), s);
        let other = AccessKey::new(&cfg("b"));
        assert_ne!(key.id, other.id, "two profiles never share a session");
        assert_eq!(
            AccessSession::decode(&bytes, Some(&other.meta)),
            Err(Miss::OtherKey)
        );
        assert!(s.is_fresh(now, Duration::from_secs(300)));
        assert!(!s.is_fresh(now + Duration::from_secs(3400), Duration::ZERO));
        assert!(s.is_valid(now + Duration::from_secs(3400)));
        assert!(
            !format!("{s:?}").contains("\"at\""),
            "Debug hides the token"
        );
    }
}
