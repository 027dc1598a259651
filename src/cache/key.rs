//! The cache key: a hash over everything that decides which token is the right one.
//!
//! Two runs share a cache entry only if they would ask the same service, in the same region,
//! at the same endpoint, for the same sorted targets, as the same identity. The identity is a
//! [`Fingerprint`] the caller computes (`aws::config::chain` digests what the credential
//! chain reads); the cache only hashes it into the key and checks it on read.

use sha2::{Digest, Sha256};

use crate::target::Targets;

/// Bump when the meaning of a key or the entry format changes; old entries then simply miss.
pub const SCHEMA: u32 = 1;

/// What a key is made of, kept in the entry so that `cache list` can show it and a read can
/// double-check that an entry really belongs to the key it was found under.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyMeta {
    pub service: String,
    pub region: String,
    pub endpoint: Option<String>,
    pub profile: String,
    pub targets: Vec<String>,
    /// A one-way digest of the identity fingerprint. The file name is a hash over it too,
    /// but a file can be renamed or copied; checking it on read means an entry that lands
    /// under another identity's name is never served to that identity.
    pub identity: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// 32 hex digits (128 bits of SHA-256): the entry's file name.
    pub id: String,
    pub meta: KeyMeta,
}

impl CacheKey {
    pub fn new(
        targets: &Targets,
        region: &str,
        endpoint: Option<&str>,
        profile: &str,
        identity: &Fingerprint,
    ) -> Self {
        let meta = KeyMeta {
            service: targets.service().name().to_owned(),
            region: region.to_owned(),
            endpoint: endpoint.map(str::to_owned),
            profile: profile.to_owned(),
            targets: targets.names().into_iter().map(str::to_owned).collect(),
            identity: identity.digest(),
        };
        let mut h = Sha256::new();
        h.update(format!("redshift-idc-token cache key, schema {SCHEMA}\0"));
        for part in [
            meta.service.as_str(),
            meta.region.as_str(),
            meta.endpoint.as_deref().unwrap_or("-"),
            meta.profile.as_str(),
        ] {
            field(&mut h, part.as_bytes());
        }
        field(&mut h, meta.targets.join(",").as_bytes());
        field(&mut h, &identity.0);
        CacheKey {
            id: hex::encode(&h.finalize()[..16]),
            meta,
        }
    }
}

/// A length-prefixed field, so that no two different tuples hash the same bytes.
pub(crate) fn field(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// A one-way digest of the credential chain's inputs. It holds no secret in readable form.
#[derive(Clone, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fingerprint({}...)", hex::encode(&self.0[..4]))
    }
}

impl Fingerprint {
    /// 128 bits of a hash of the fingerprint, as hex: safe to store, enough to tell apart.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"redshift-idc-token identity\0");
        h.update(self.0);
        hex::encode(&h.finalize()[..16])
    }

    /// This fingerprint narrowed to one signed-in identity (see `signin::Session::identity`):
    /// the same credential chain signed in as another person is another identity.
    pub fn with_signed_in(&self, identity: &str) -> Fingerprint {
        let mut h = Sha256::new();
        h.update(b"redshift-idc-token signed in\0");
        h.update(self.0);
        field(&mut h, identity.as_bytes());
        Fingerprint(h.finalize().into())
    }

    /// A fingerprint from its 32 bytes (see `aws::config::chain`, which computes it).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Fingerprint(bytes)
    }
}

/// A field that may be absent; absent differs from every content, the empty one included.
pub(crate) fn optional(h: &mut Sha256, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => {
            h.update([1]);
            field(h, b);
        }
        None => h.update([0]),
    }
}

/// A key for one cluster in us-east-1 with an empty environment, for tests.
#[cfg(test)]
pub(crate) fn test_key(cluster: &str) -> CacheKey {
    let t =
        Targets::clusters(vec![cluster.parse().expect("valid cluster id")]).expect("one target");
    CacheKey::new(
        &t,
        "us-east-1",
        None,
        "default",
        &Fingerprint::from_bytes([0; 32]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::ClusterId;

    fn targets(ids: &[&str]) -> Targets {
        Targets::clusters(
            ids.iter()
                .map(|s| s.parse::<ClusterId>().unwrap())
                .collect(),
        )
        .unwrap()
    }

    #[test]
    fn every_input_changes_the_key() {
        let fp1 = Fingerprint::from_bytes([1; 32]);
        let base = CacheKey::new(&targets(&["a", "b"]), "us-east-1", None, "default", &fp1);
        assert_eq!(base.id.len(), 32);
        assert_eq!(
            base,
            CacheKey::new(&targets(&["b", "a"]), "us-east-1", None, "default", &fp1),
            "target order does not matter"
        );
        let fp2 = Fingerprint::from_bytes([2; 32]);
        let others = [
            CacheKey::new(&targets(&["a"]), "us-east-1", None, "default", &fp1),
            CacheKey::new(&targets(&["a", "b"]), "us-east-2", None, "default", &fp1),
            CacheKey::new(
                &targets(&["a", "b"]),
                "us-east-1",
                Some("http://x"),
                "default",
                &fp1,
            ),
            CacheKey::new(&targets(&["a", "b"]), "us-east-1", None, "dev", &fp1),
            CacheKey::new(&targets(&["a", "b"]), "us-east-1", None, "default", &fp2),
        ];
        for o in others {
            assert_ne!(base.id, o.id, "{:?}", o.meta);
        }
    }
}
