//! The on-disk token cache: a private directory of one small file per key.
//!
//! Layout: `<root>/v<SCHEMA>/<key>.json` (the entry) and `<key>.lock` (its lock). Entries are
//! replaced atomically (temporary file in the same directory, fsync, rename), so a reader
//! without the lock sees the old entry or the new one, never a mix; that is what lets a cache
//! hit be a single file read. The directory must be private: one that is a symlink, owned by
//! someone else, or writable by group or others is refused, and the run goes on uncached.

mod entry;
mod key;
mod lock;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use tracing::debug;
use zeroize::Zeroizing;

pub use entry::{Entry, MAX_CACHED_LIFETIME, Miss, decode};
pub use key::{CacheKey, Fingerprint, KeyMeta, SCHEMA};
pub use lock::{LockGuard, Mode};

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
    #[error("cache directory {path} cannot be created: {source}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// An opened, checked cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
    dir: PathBuf,
}

impl Cache {
    /// Creates (0700) and checks the cache directories.
    pub fn open(root: PathBuf) -> Result<Cache, Unavailable> {
        let dir = root.join(format!("v{SCHEMA}"));
        for d in [&root, &dir] {
            create_private_dir(d).map_err(|source| Unavailable::Create {
                path: d.clone(),
                source,
            })?;
            check_private_dir(d)?;
        }
        Ok(Cache { root, dir })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry_path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Reads the entry for `key`, without locking (see the module comment for why that is safe).
    pub fn read(&self, key: &CacheKey, now: SystemTime) -> Result<Entry, Miss> {
        let bytes = read_private_file(&self.entry_path(&key.id))?;
        decode(&bytes, Some(&key.meta), now)
    }

    /// Takes `key`'s lock, waiting until `deadline` at most (`Ok(None)` when it passed).
    pub fn lock(&self, key: &CacheKey, deadline: Instant) -> io::Result<Option<LockGuard>> {
        let path = lock::lock_path(&self.entry_path(&key.id));
        lock::acquire(&path, &key.id, Mode::Exclusive, deadline)
    }

    /// Atomically replaces `key`'s entry. Requires the key's lock, so it cannot race a writer.
    pub fn write(&self, guard: &LockGuard, key: &CacheKey, entry: &Entry) -> io::Result<()> {
        if guard.key_id != key.id {
            return Err(io::Error::other("lock guard is for another key"));
        }
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp.")
            .suffix(".json")
            .tempfile_in(&self.dir)?;
        tmp.write_all(&entry.encode())?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.entry_path(&key.id)).map_err(|e| e.error)?;
        // Make the rename itself durable, so a crash cannot resurrect the old entry.
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Every entry file with what it holds (or why it is unusable), in file-name order.
    /// Each is read under a shared lock; one being rewritten right now is marked busy.
    pub fn list(&self, now: SystemTime) -> io::Result<Vec<Listed>> {
        let mut out = Vec::new();
        for path in self.entry_files()? {
            let lock_path = lock::lock_path(&path);
            let id = file_id(&path);
            let guard = lock::acquire(&lock_path, &id, Mode::Shared, Instant::now())?;
            let state = read_private_file(&path).and_then(|b| decode(&b, None, now));
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
        for path in self.entry_files()? {
            let id = file_id(&path);
            let meta = read_private_file(&path)
                .and_then(|b| decode(&b, None, now))
                .ok()
                .map(|e| e.meta);
            if !matches(meta.as_ref()) {
                continue;
            }
            let Some(_guard) =
                lock::acquire(&lock::lock_path(&path), &id, Mode::Exclusive, deadline)?
            else {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("entry {id} stayed locked by another process"),
                ));
            };
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            // Under the lock, as `prune` does (see there for why that is safe).
            let _ = fs::remove_file(lock::lock_path(&path));
        }
        if matches(None) {
            self.remove_orphan_locks()?;
        }
        self.remove_temp_files(None)?;
        Ok(removed)
    }

    /// Removes the lock files that have no entry (left by runs whose fetch failed) and that
    /// nobody holds right now.
    fn remove_orphan_locks(&self) -> io::Result<()> {
        for item in fs::read_dir(&self.dir)? {
            let path = item?.path();
            if path.extension().is_none_or(|e| e != "lock") || path.with_extension("json").exists()
            {
                continue;
            }
            let id = file_id(&path);
            if let Ok(Some(_guard)) = lock::acquire(&path, &id, Mode::Exclusive, Instant::now()) {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(())
    }

    /// Prunes (see [`Cache::prune`]) if the last prune is more than [`PRUNE_INTERVAL`] ago,
    /// as recorded by the mtime of a stamp file. The stamp is renewed before pruning, so
    /// processes missing at the same time do not all prune. Returns how many were removed.
    pub fn prune_if_due(&self, now: SystemTime) -> io::Result<usize> {
        let stamp = self.dir.join(PRUNE_STAMP);
        let last = fs::symlink_metadata(&stamp).and_then(|m| m.modified()).ok();
        if last.is_some_and(|t| t + PRUNE_INTERVAL > now && t <= now + PRUNE_INTERVAL) {
            return Ok(0);
        }
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
        }
        let file = opts.open(&stamp)?;
        file.set_modified(now)?;
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
        let files = self.entry_files()?;
        let start = if files.is_empty() {
            0
        } else {
            now.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .subsec_nanos() as usize
                % files.len()
        };
        let batch = files
            .iter()
            .cycle()
            .skip(start)
            .take(files.len().min(PRUNE_BATCH));
        for path in batch {
            let expired = match read_private_file(path).and_then(|b| decode(&b, None, now)) {
                Ok(e) => old(e.trusted_until()),
                Err(_) => fs::symlink_metadata(path)
                    .and_then(|m| m.modified())
                    .is_ok_and(old),
            };
            if !expired {
                continue;
            }
            let lock_path = lock::lock_path(path);
            let id = file_id(path);
            if let Some(_guard) = lock::acquire(&lock_path, &id, Mode::Exclusive, Instant::now())? {
                fs::remove_file(path)?;
                let _ = fs::remove_file(&lock_path);
                removed += 1;
            }
        }
        // A writer takes milliseconds; an hour-old temporary file has no writer any more.
        self.remove_temp_files(Some(now - Duration::from_secs(3600)))?;
        Ok(removed)
    }

    /// Removes the temporary files that writers killed between write and rename left behind:
    /// those last modified before `before`, or all of them.
    fn remove_temp_files(&self, before: Option<SystemTime>) -> io::Result<()> {
        for item in fs::read_dir(&self.dir)? {
            let path = item?.path();
            let is_temp = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".tmp."));
            let old_enough = before.is_none_or(|b| {
                fs::symlink_metadata(&path)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t < b)
            });
            if is_temp && old_enough {
                let _ = fs::remove_file(&path);
            }
        }
        Ok(())
    }

    fn entry_files(&self) -> io::Result<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                name.ends_with(".json") && !name.starts_with('.')
            })
            .collect();
        files.sort();
        Ok(files)
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

fn file_id(path: &Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or_default()
        .to_owned()
}

fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(path)
}

/// Refuses a directory that someone else could write or redirect.
fn check_private_dir(path: &Path) -> Result<(), Unavailable> {
    let insecure = |problem| Unavailable::Insecure {
        path: path.to_owned(),
        problem,
    };
    let meta = fs::symlink_metadata(path).map_err(|source| Unavailable::Create {
        path: path.to_owned(),
        source,
    })?;
    if meta.file_type().is_symlink() {
        return Err(insecure("a symbolic link"));
    }
    if !meta.is_dir() {
        return Err(insecure("not a directory"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        if meta.uid() != unsafe { libc::geteuid() } {
            return Err(insecure("owned by another user"));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(insecure("writable by group or others"));
        }
    }
    Ok(())
}

/// Reads a small regular file owned by this user, without following a symlink and without
/// blocking on a FIFO; anything else is `Miss::Unsafe`.
fn read_private_file(path: &Path) -> Result<Zeroizing<Vec<u8>>, Miss> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut opts,
        libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC,
    );
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Miss::Absent),
        Err(e) => {
            debug!(path = %path.display(), error = %e, "cache entry unreadable");
            return Err(Miss::Unsafe);
        }
    };
    let meta = file.metadata().map_err(|_| Miss::Unsafe)?;
    if !meta.is_file() || meta.len() > entry::MAX_ENTRY_BYTES {
        return Err(Miss::Unsafe);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        // SAFETY: geteuid has no preconditions and cannot fail.
        if meta.uid() != unsafe { libc::geteuid() } {
            return Err(Miss::Unsafe);
        }
    }
    let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
    file.take(entry::MAX_ENTRY_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|_| Miss::Unsafe)?;
    Ok(bytes)
}

/// How long a lock may be waited for: half the run's budget, so that a fetch without the
/// cache still fits in the other half when the lock cannot be had.
pub fn lock_deadline(start: Instant, timeout: Duration) -> Instant {
    start + timeout / 2
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::token::{AuthToken, Secret};

    use crate::cache::key::test_key as key;

    #[test]
    fn prune_removes_only_long_expired_entries_and_their_locks() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(dir.path().join("c")).unwrap();
        let now = SystemTime::now();
        let token = AuthToken {
            token: Secret::new("t".into()),
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
        let names: Vec<String> = fs::read_dir(&cache.dir)
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
            expiration: None,
        };
        let now = SystemTime::now();
        let e = Entry::new(&b, &token, now + Duration::from_secs(60), now);
        assert!(cache.write(&guard_a, &b, &e).is_err());
    }
}
