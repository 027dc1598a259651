//! Reading a small file that someone else names (a shared AWS file, an SSO token cache, a web
//! identity token) without ever blocking past the run's deadline and without reading it twice.
//!
//! Why it exists: `AWS_CONFIG_FILE` may name a FIFO nobody writes, or `<(...)`, a pipe that
//! can be read once. Opening with `O_NONBLOCK` never waits for a writer; a regular file is then
//! read at once; a pipe or FIFO is drained until end of file or the deadline, whichever comes
//! first. Anything else (a directory, a device, a socket) is not read. The size is bounded.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::time::Instant;

use zeroize::Zeroizing;

/// Files larger than this are not AWS configuration (the SDK's own files are kilobytes).
pub const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// What reading a file gave.
#[derive(Debug)]
pub enum Contents {
    /// The bytes of the file.
    Bytes(Zeroizing<Vec<u8>>),
    /// There is no such file.
    Missing,
    /// The file exists but is not something we read (a directory, a device, too large,
    /// unreadable); the reason, for a message.
    Unusable(&'static str),
    /// A pipe whose writer neither finished nor closed it before the deadline.
    TimedOut,
}

/// Reads `path` as described in the module comment, waiting for a pipe's writer at most
/// until `deadline`.
pub fn read(path: &Path, deadline: Instant) -> Contents {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut opts, libc::O_NONBLOCK | libc::O_CLOEXEC);
    let file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Contents::Missing,
        Err(_) => return Contents::Unusable("cannot be opened"),
    };
    let Ok(meta) = file.metadata() else {
        return Contents::Unusable("cannot be examined");
    };
    let ft = meta.file_type();
    if ft.is_file() {
        if meta.len() > MAX_BYTES {
            return Contents::Unusable("larger than 4 MiB");
        }
        return bounded(file, meta.len())
            .map_or(Contents::Unusable("cannot be read"), Contents::Bytes);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return drain_pipe(file, deadline);
        }
    }
    let _ = deadline;
    Contents::Unusable("not a regular file")
}

impl Contents {
    /// The bytes, or `None` for a missing or unusable file.
    pub fn bytes(self) -> Option<Zeroizing<Vec<u8>>> {
        match self {
            Contents::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

fn bounded(file: File, hint: u64) -> io::Result<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(hint.min(MAX_BYTES) as usize));
    file.take(MAX_BYTES + 1).read_to_end(&mut out)?;
    if out.len() as u64 > MAX_BYTES {
        return Err(io::Error::other("too large"));
    }
    Ok(out)
}

/// Reads a non-blocking pipe until end of file, polling so that a writer that never writes
/// or never closes costs at most the time left until `deadline`.
#[cfg(unix)]
fn drain_pipe(mut file: File, deadline: Instant) -> Contents {
    use std::os::fd::AsRawFd;
    let mut out = Zeroizing::new(Vec::new());
    let mut buf = [0u8; 8192];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Contents::Bytes(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() as u64 > MAX_BYTES {
                    return Contents::Unusable("larger than 4 MiB");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Contents::TimedOut;
                }
                let mut pfd = libc::pollfd {
                    fd: file.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                let ms = left.as_millis().clamp(1, 1000) as libc::c_int;
                // SAFETY: one valid pollfd for a file descriptor we own, for the call only.
                unsafe { libc::poll(&mut pfd, 1, ms) };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Contents::Unusable("cannot be read"),
        }
    }
}

#[cfg(not(unix))]
fn drain_pipe(file: File, _deadline: Instant) -> Contents {
    bounded(file, 0).map_or(Contents::Unusable("cannot be read"), Contents::Bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn regular_missing_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "abc").unwrap();
        let soon = Instant::now() + Duration::from_secs(1);
        assert_eq!(read(&f, soon).bytes().unwrap().as_slice(), b"abc");
        assert!(matches!(
            read(&dir.path().join("none"), soon),
            Contents::Missing
        ));
        assert!(matches!(read(dir.path(), soon), Contents::Unusable(_)));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_without_a_writer_reads_as_empty_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t0 = Instant::now();
        let got = read(&p, Instant::now() + Duration::from_secs(5));
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(got.bytes().unwrap().len(), 0);
    }
}
