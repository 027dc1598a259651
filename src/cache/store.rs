//! The storage rules every kind of cache entry shares, written once: a private directory
//! named for its format version, one file per key, read without a lock, replaced atomically
//! under the key's exclusive lock, and private (0600 files in 0700 directories owned by us).
//!
//! Token entries and sign-in sessions differ only in what their bytes mean; each kind has its
//! own `Store` (its own directory, e.g. `v1/` and `signin-v1/`) and its own codec, and bumping
//! one kind's format version leaves the other kinds' entries alone.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use tracing::debug;
use zeroize::Zeroizing;

use super::Unavailable;
use super::entry::{MAX_ENTRY_BYTES, Miss};
use super::lock::{self, LockGuard, Mode};

/// One private, versioned directory of entries of one kind.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Creates (0700) and checks `root` and `root/name`.
    pub fn open(root: &Path, name: &str) -> Result<Store, Unavailable> {
        let dir = root.join(name);
        for d in [root, dir.as_path()] {
            create_private_dir(d).map_err(|source| Unavailable::Create {
                path: d.to_owned(),
                source,
            })?;
            check_private_dir(d)?;
        }
        Ok(Store { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// The bytes of `id`'s entry, without locking: writers replace entries atomically.
    pub fn read(&self, id: &str) -> Result<Zeroizing<Vec<u8>>, Miss> {
        read_private_file(&self.path(id))
    }

    /// Takes `id`'s lock, waiting until `deadline` at most (`Ok(None)` when it passed).
    pub fn lock(&self, id: &str, mode: Mode, deadline: Instant) -> io::Result<Option<LockGuard>> {
        lock::acquire(&lock::lock_path(&self.path(id)), id, mode, deadline)
    }

    fn check_guard(&self, guard: &LockGuard, id: &str) -> io::Result<()> {
        if guard.key_id != id || guard.path != lock::lock_path(&self.path(id)) {
            return Err(io::Error::other("lock guard is for another key"));
        }
        Ok(())
    }

    /// Atomically replaces `id`'s entry with `bytes` (temporary file in the same directory,
    /// fsync, rename, fsync of the directory). Requires the key's lock, so it cannot race
    /// another writer.
    pub fn write(&self, guard: &LockGuard, id: &str, bytes: &[u8]) -> io::Result<()> {
        self.check_guard(guard, id)?;
        // tempfile creates the file 0600.
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp.")
            .suffix(".json")
            .tempfile_in(&self.dir)?;
        tmp.write_all(bytes)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path(id)).map_err(|e| e.error)?;
        // Make the rename itself durable, so a crash cannot resurrect the old entry.
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }

    /// Removes `id`'s entry under its lock; `false` when there was none.
    pub fn remove(&self, guard: &LockGuard, id: &str) -> io::Result<bool> {
        self.check_guard(guard, id)?;
        match fs::remove_file(self.path(id)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the lock file of an entry that was just removed (see `Cache::prune` for why
    /// this is only done for long-dead entries).
    pub fn remove_lock_file(&self, guard: LockGuard) {
        let path = guard.path.clone();
        drop(guard);
        let _ = fs::remove_file(path);
    }

    /// Removes the lock files that have no entry (left by runs whose fetch failed) and that
    /// nobody holds right now.
    pub fn remove_orphan_locks(&self) -> io::Result<()> {
        for item in fs::read_dir(&self.dir)? {
            let path = item?.path();
            if path.extension().is_none_or(|e| e != "lock") || path.with_extension("json").exists()
            {
                continue;
            }
            let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            if let Ok(Some(guard)) = lock::acquire(&path, id, Mode::Exclusive, Instant::now()) {
                self.remove_lock_file(guard);
            }
        }
        Ok(())
    }

    /// The mtime of the stamp file `name` in this store's directory (a record of when some
    /// housekeeping last ran), if it exists.
    pub fn stamp_time(&self, name: &str) -> Option<SystemTime> {
        fs::symlink_metadata(self.dir.join(name))
            .and_then(|m| m.modified())
            .ok()
    }

    /// Creates or renews the stamp file `name` (private, never through a symlink) with mtime
    /// `now`.
    pub fn set_stamp(&self, name: &str, now: SystemTime) -> io::Result<()> {
        let mut opts = OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
        }
        opts.open(self.dir.join(name))?.set_modified(now)
    }

    /// When `id`'s file was last modified, if it exists.
    pub fn modified(&self, id: &str) -> Option<SystemTime> {
        fs::symlink_metadata(self.path(id))
            .and_then(|m| m.modified())
            .ok()
    }

    /// The ids of every entry file, in order.
    pub fn ids(&self) -> io::Result<Vec<String>> {
        let mut ids: Vec<String> = fs::read_dir(&self.dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter_map(|p| {
                let name = p.file_name()?.to_str()?;
                if name.starts_with('.') {
                    return None;
                }
                name.strip_suffix(".json").map(str::to_owned)
            })
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Removes the temporary files that writers killed between write and rename left behind:
    /// those last modified before `before`, or all of them.
    pub fn remove_temp_files(&self, before: Option<SystemTime>) -> io::Result<()> {
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
    if !meta.is_file() || meta.len() > MAX_ENTRY_BYTES {
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
    file.take(MAX_ENTRY_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|_| Miss::Unsafe)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn two_kinds_share_the_rules_but_not_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let a = Store::open(dir.path(), "v1").unwrap();
        let b = Store::open(dir.path(), "signin-v1").unwrap();
        let far = Instant::now() + Duration::from_secs(5);
        let ga = a.lock("k", Mode::Exclusive, far).unwrap().unwrap();
        // Same id, other store: an independent lock, and a's guard cannot write b.
        let gb = b.lock("k", Mode::Exclusive, far).unwrap().unwrap();
        assert!(b.write(&ga, "k", b"{}").is_err());
        a.write(&ga, "k", b"{\"schema\":1}").unwrap();
        assert_eq!(b.read("k").unwrap_err(), Miss::Absent);
        assert_eq!(&a.read("k").unwrap()[..], b"{\"schema\":1}");
        assert_eq!(a.ids().unwrap(), vec!["k".to_owned()]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(a.path("k")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = fs::metadata(b.dir()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert!(a.remove(&ga, "k").unwrap());
        assert!(!b.remove(&gb, "k").unwrap());
        assert_eq!(
            crate::cache::check_schema(b"{\"schema\":2}", 1),
            Err(Miss::ForeignSchema(2))
        );
        assert_eq!(crate::cache::check_schema(b"[]", 1), Err(Miss::Corrupt));
    }
}
