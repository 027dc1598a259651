//! The on-disk cache: private, versioned directories of one small file per key.
//!
//! Layout: `<root>/v<SCHEMA>/<key>.json` (a token entry) and `<key>.lock` (its lock); other
//! kinds of entry (the sign-in sessions) live in sibling directories of their own, each with
//! its own format version, and share one implementation of the storage rules ([`Store`]).
//! Entries are replaced atomically (temporary file in the same directory, fsync, rename), so
//! a reader without the lock sees the old entry or the new one, never a mix; that is what lets
//! a cache hit be a single file read. The directory must be private: one that is a symlink,
//! owned by someone else, or writable by group or others is refused, and the run goes on
//! uncached.

mod entry;
pub(crate) mod key;
mod lock;
mod store;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

pub use entry::check_schema;
pub use entry::{Entry, MAX_CACHED_LIFETIME, Miss, decode};
pub use key::{CacheKey, Fingerprint, KeyMeta, SCHEMA};
pub use lock::{LockGuard, Mode};
pub use store::Store;

/// How long after expiry an entry is kept before `prune` removes it.
pub const PRUNE_AFTER: Duration = Duration::from_secs(24 * 3600);

/// A miss prunes at most once per this interval (a stamp file's mtime records the last time):
/// reading every entry on every miss made a miss with 5,000 entries ten times slower.
pub const PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// The most entries one prune looks at.
pub const PRUNE_BATCH: usize = 256;

/// The stamp file of the last prune, in the entry directory (not `.json`: not an entry).
const PRUNE_STAMP: &str = "prune.stamp";

/// The directory name under the platform's cache directory.
pub const APP_DIR: &str = "redshift-idc-token";

/// The cache root: `--cache-dir`/`REDSHIFT_IDC_TOKEN_CACHE_DIR`, else the user's cache
/// directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS,
/// `%LOCALAPPDATA%` on Windows) + `redshift-idc-token`.
pub fn default_root(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(p) => Some(p.to_owned()),
        None => directories::BaseDirs::new().map(|d| d.cache_dir().join(APP_DIR)),
    }
}

/// Opens the cache in `explicit` (else the default directory), or warns and returns `None`:
/// a cache problem never fails a token run.
pub fn open_or_warn(explicit: Option<&Path>) -> Option<Cache> {
    match default_root(explicit)
        .ok_or(Unavailable::NoDirectory)
        .and_then(Cache::open)
    {
        Ok(c) => Some(c),
        Err(e) => {
            let cause =
                std::error::Error::source(&e).map_or_else(String::new, |c| format!(": {c}"));
            tracing::warn!("{e}{cause}; continuing without the cache");
            None
        }
    }
}

/// Why the cache cannot be used this run.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("no cache directory could be determined (no home directory)")]
    NoDirectory,
    #[error("cache directory {path} is {problem}; refusing to use it")]
    Insecure {
        path: PathBuf,
        problem: &'static str,
    },
    #[error("cache directory {path} cannot be created")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An opened, checked cache directory: the token entries.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    tokens: Store,
}

impl Cache {
    /// Creates (0700) and checks the cache directories.
    pub fn open(root: PathBuf) -> Result<Cache, Unavailable> {
        let tokens = Store::open(&root, &format!("v{SCHEMA}"))?;
        Ok(Cache { root, tokens })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Another kind of entry's store, in its own (versioned) directory under the same root.
    pub fn store(&self, name: &str) -> Result<Store, Unavailable> {
        Store::open(&self.root, name)
    }

    /// Reads the entry for `key`, without locking (see the module comment for why that is safe).
    pub fn read(&self, key: &CacheKey, now: SystemTime) -> Result<Entry, Miss> {
        let bytes = self.tokens.read(&key.id)?;
        decode(&bytes, Some(&key.meta), now)
    }

    /// Takes `key`'s lock, waiting until `deadline` at most (`Ok(None)` when it passed).
    pub fn lock(&self, key: &CacheKey, deadline: Instant) -> io::Result<Option<LockGuard>> {
        self.tokens.lock(&key.id, Mode::Exclusive, deadline)
    }

    /// Atomically replaces `key`'s entry. Requires the key's lock, so it cannot race a writer.
    pub fn write(&self, guard: &LockGuard, key: &CacheKey, entry: &Entry) -> io::Result<()> {
        self.tokens.write(guard, &key.id, &entry.encode())
    }

    /// Every entry file with what it holds (or why it is unusable), in file-name order.
    /// Each is read under a shared lock; one being rewritten right now is marked busy.
    pub fn list(&self, now: SystemTime) -> io::Result<Vec<Listed>> {
        let mut out = Vec::new();
        for id in self.tokens.ids()? {
            let guard = self.tokens.lock(&id, Mode::Shared, Instant::now())?;
            let state = self.tokens.read(&id).and_then(|b| decode(&b, None, now));
            out.push(Listed {
                id,
                busy: guard.is_none(),
                state,
            });
        }
        Ok(out)
    }

    /// Removes the entries that `keep` rejects, each under its exclusive lock (waiting until
    /// `deadline` for busy ones), and leftover temporary files. Returns how many were removed.
    pub fn clear(
        &self,
        now: SystemTime,
        deadline: Instant,
        matches: impl Fn(Option<&KeyMeta>) -> bool,
    ) -> io::Result<usize> {
        let mut removed = 0;
        for id in self.tokens.ids()? {
            let meta = self
                .tokens
                .read(&id)
                .and_then(|b| decode(&b, None, now))
                .ok()
                .map(|e| e.meta);
            if !matches(meta.as_ref()) {
                continue;
            }
            let Some(guard) = self.tokens.lock(&id, Mode::Exclusive, deadline)? else {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("entry {id} stayed locked by another process"),
                ));
            };
            if self.tokens.remove(&guard, &id)? {
                removed += 1;
            }
            // Under the lock, as `prune` does (see there for why that is safe).
            self.tokens.remove_lock_file(guard);
        }
        if matches(None) {
            self.tokens.remove_orphan_locks()?;
        }
        self.tokens.remove_temp_files(None)?;
        Ok(removed)
    }

    /// Prunes (see [`Cache::prune`]) if the last prune is more than [`PRUNE_INTERVAL`] ago,
    /// as recorded by the mtime of a stamp file. The stamp is renewed before pruning, so
    /// processes missing at the same time do not all prune. Returns how many were removed.
    pub fn prune_if_due(&self, now: SystemTime) -> io::Result<usize> {
        let last = self.tokens.stamp_time(PRUNE_STAMP);
        if last.is_some_and(|t| t + PRUNE_INTERVAL > now && t <= now + PRUNE_INTERVAL) {
            return Ok(0);
        }
        self.tokens.set_stamp(PRUNE_STAMP, now)?;
        self.prune(now)
    }

    /// Removes entries (and their lock files) that expired more than [`PRUNE_AFTER`] ago, and
    /// temporary files left by killed writers, so a cache keyed on rotating credentials does
    /// not grow without bound. Only entries whose lock is free right now are touched.
    ///
    /// Deleting a lock file can let a process that opened it just before wait on the old
    /// inode while a newcomer locks a new one; both then fetch and write atomically, so the
    /// cost of that rare race is one extra call, never a broken entry.
    pub fn prune(&self, now: SystemTime) -> io::Result<usize> {
        let mut removed = 0;
        let old = |t: SystemTime| t + PRUNE_AFTER < now;
        // At most PRUNE_BATCH entries per pass, from a start that moves with the clock, so
        // that a huge cache costs a bounded pass and every entry is reached in turn.
        let ids = self.tokens.ids()?;
        let start = if ids.is_empty() {
            0
        } else {
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos() as usize
                % ids.len()
        };
        let batch = ids
            .iter()
            .cycle()
            .skip(start)
            .take(ids.len().min(PRUNE_BATCH));
        for id in batch {
            let expired = match self.tokens.read(id).and_then(|b| decode(&b, None, now)) {
                Ok(e) => old(e.trusted_until()),
                Err(_) => self.tokens.modified(id).is_some_and(old),
            };
            if !expired {
                continue;
            }
            if let Some(guard) = self.tokens.lock(id, Mode::Exclusive, Instant::now())? {
                self.tokens.remove(&guard, id)?;
                self.tokens.remove_lock_file(guard);
                removed += 1;
            }
        }
        // A writer takes milliseconds; an hour-old temporary file has no writer any more.
        self.tokens
            .remove_temp_files(Some(now - Duration::from_secs(3600)))?;
        Ok(removed)
    }
}

/// One row of `cache list`.
#[derive(Debug)]
pub struct Listed {
    pub id: String,
    /// Another process held the entry's lock (it is being refreshed).
    pub busy: bool,
    pub state: Result<Entry, Miss>,
}

/// How long a lock may be waited for: half the run's budget, so that a fetch without the
/// cache still fits in the other half when the lock cannot be had.
pub fn lock_deadline(start: Instant, timeout: Duration) -> Instant {
    start + timeout / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    use crate::token::{AuthToken, Secret};

    use crate::cache::key::test_key as key;

    #[test]
    fn prune_removes_only_long_expired_entries_and_their_locks() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let now = SystemTime::now();
        let token = AuthToken {
            token: Secret::new("t".into()),
            kind: crate::token::TokenType::Subject,
            expiration: None,
        };
        let far = Instant::now() + Duration::from_secs(5);
        let day = Duration::from_secs(86_400);
        for (id, fetched, ttl) in [
            ("old", now - 3 * day, 900),
            ("recent", now - day / 2, 900),
            ("live", now, 900),
        ] {
            let k = key(id);
            let guard = cache.lock(&k, far).unwrap().unwrap();
            let e = Entry::new(&k, &token, fetched + Duration::from_secs(ttl), fetched);
            cache.write(&guard, &k, &e).unwrap();
        }
        assert_eq!(cache.prune(now).unwrap(), 1);
        let names: Vec<String> = fs::read_dir(cache.tokens.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(
            names.len(),
            4,
            "two entries and their two lock files remain: {names:?}"
        );
        assert!(!names.iter().any(|n| n.starts_with(&key("old").id)));
        assert!(cache.read(&key("live"), now).is_ok());
    }

    #[test]
    fn write_needs_the_guard_of_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let far = Instant::now() + Duration::from_secs(5);
        let (a, b) = (key("a"), key("b"));
        let guard_a = cache.lock(&a, far).unwrap().unwrap();
        let token = AuthToken {
            token: Secret::new("t".into()),
            kind: crate::token::TokenType::Subject,
            expiration: None,
        };
        let now = SystemTime::now();
        let e = Entry::new(&b, &token, now + Duration::from_secs(60), now);
        assert!(cache.write(&guard_a, &b, &e).is_err());
    }
}
