//! The `file` store: the secret stays in the cache entry that needs it, a private (0600) file
//! written atomically under its lock, as before the keyring was supported. Nothing is kept
//! anywhere else, so there is nothing to look up or remove apart from that entry.

use std::time::Instant;

use super::{Kept, SecretId, SecretStore, Unavailable};
use crate::token::Secret;

pub const NAME: &str = "file";

pub struct FileStore;

impl SecretStore for FileStore {
    fn name(&self) -> &'static str {
        NAME
    }

    fn put(&self, _: &SecretId, secret: &Secret, _: Instant) -> Result<Kept, Unavailable> {
        Ok(Kept::Inline(secret.clone()))
    }

    fn get(&self, _: &SecretId, _: Instant) -> Result<Option<Secret>, Unavailable> {
        Ok(None)
    }

    fn delete(&self, _: &SecretId, _: Instant) -> Result<bool, Unavailable> {
        Ok(false)
    }

    fn check(&self, _: Instant) -> Result<(), Unavailable> {
        Ok(())
    }
}
