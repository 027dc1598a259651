//! Per-key exclusive locks on separate lock files, taken politely and with a deadline.
//!
//! The lock is an OS advisory lock (flock on Unix) on `<key>.lock`. A lock file is removed
//! only by `prune` and `cache clear`, while they hold it, together with its entry (see
//! `Cache::prune` for why the rare race that leaves is harmless). A process that dies holding
//! the lock loses it when the OS closes its files, so a crash never blocks later runs.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::FileExt;
use fs4::TryLockError;
use tracing::info;

/// Proof of holding a key's lock; functions that rewrite an entry take it as an argument.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
    pub(super) key_id: String,
    /// The lock file, so a store can tell its own guards from another store's.
    pub(super) path: PathBuf,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file would release the lock too; unlocking first makes it immediate.
        let _ = FileExt::unlock(&self.file);
    }
}

/// Which kind of lock to take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exclusive,
    Shared,
}

/// Takes the lock at `path` for key `key_id`, waiting until `deadline` at most.
///
/// Returns `Ok(None)` if the deadline passed first. The first time the lock is found busy,
/// says so at `-v`, once, as cargo does ("waiting for the cache lock").
pub fn acquire(
    path: &Path,
    key_id: &str,
    mode: Mode,
    deadline: Instant,
) -> io::Result<Option<LockGuard>> {
    let file = open_lock_file(path)?;
    let mut pause = Duration::from_millis(2);
    let mut said = false;
    loop {
        let attempt = match mode {
            Mode::Exclusive => FileExt::try_lock(&file),
            Mode::Shared => FileExt::try_lock_shared(&file),
        };
        match attempt {
            Ok(()) => {
                return Ok(Some(LockGuard {
                    file,
                    key_id: key_id.to_owned(),
                    path: path.to_owned(),
                }));
            }
            Err(TryLockError::Error(e)) => return Err(e),
            Err(TryLockError::WouldBlock) => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(None);
        }
        if !said {
            info!(lock = %path.display(), "waiting for the cache lock (another process is fetching this token)");
            said = true;
        }
        // Short pauses first: the holder usually finishes within one fetch (tens of ms).
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(25));
    }
}

/// Opens (creating, mode 0600) a lock file, refusing symlinks and anything but a plain file.
fn open_lock_file(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let file = opts.open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    Ok(file)
}

/// The lock file that belongs to an entry file.
pub fn lock_path(entry: &Path) -> PathBuf {
    entry.with_extension("lock")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_exclusive_waits_until_deadline_then_gets_it_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.lock");
        let far = Instant::now() + Duration::from_secs(5);
        let g = acquire(&p, "k", Mode::Exclusive, far).unwrap().unwrap();
        let soon = Instant::now() + Duration::from_millis(50);
        assert!(acquire(&p, "k", Mode::Exclusive, soon).unwrap().is_none());
        assert!(acquire(&p, "k", Mode::Shared, soon).unwrap().is_none());
        drop(g);
        assert!(acquire(&p, "k", Mode::Exclusive, soon).unwrap().is_some());
        let s1 = acquire(&p, "k", Mode::Shared, soon).unwrap();
        let s2 = acquire(&p, "k", Mode::Shared, soon).unwrap();
        assert!(s1.is_some() && s2.is_some(), "shared locks coexist");
    }

    #[cfg(unix)]
    #[test]
    fn symlinked_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "").unwrap();
        let p = dir.path().join("k.lock");
        std::os::unix::fs::symlink(&target, &p).unwrap();
        let far = Instant::now() + Duration::from_secs(1);
        assert!(acquire(&p, "k", Mode::Exclusive, far).is_err());
    }
}
