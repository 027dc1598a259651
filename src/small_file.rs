//! Reading a small file that someone else names (a shared AWS file, an SSO token cache, a web
//! identity token) without ever blocking past the run's deadline and without reading it twice.
//!
//! Why it exists: `AWS_CONFIG_FILE` may name a FIFO nobody writes, or `<(...)`, a pipe that
//! can be read once. Opening with `O_NONBLOCK` never waits for a writer; a regular file is then
//! read at once; a pipe or FIFO is drained until end of file or the deadline, whichever comes
//! first. Anything else (a directory, a device, a socket) is not read. The size is bounded.
//!
//! The JWT of the sign-in is read through the same code with its own [`Rules`]: a smaller
//! limit, a FIFO's writer waited for (a JWT written into a FIFO by a helper that starts
//! later), character devices read like pipes (`/dev/stdin`), and a JWT command's output
//! drained with [`drain`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;
use std::time::Instant;

use zeroize::Zeroizing;

/// Files larger than this are not AWS configuration (the SDK's own files are kilobytes).
pub const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// What is read, how much, and how long a pipe is waited for.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    /// More bytes than this are not read: the file is [`Contents::Unusable`] with `too_large`.
    pub max_bytes: u64,
    pub too_large: &'static str,
    /// A FIFO nobody has opened for writing yet is waited for until the deadline; without
    /// this it reads as empty at once (as aws-config reads it).
    pub wait_for_writer: bool,
    /// Character devices (`/dev/stdin` on a terminal, `/dev/zero`) are read like pipes,
    /// bounded by the deadline and the size; without this they are not read.
    pub devices: bool,
}

/// The rules of the shared AWS files and the files they name.
pub const SHARED_FILES: Rules = Rules {
    max_bytes: MAX_BYTES,
    too_large: "larger than 4 MiB",
    wait_for_writer: false,
    devices: false,
};

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
    match open(path) {
        Ok(file) => read_open(file, deadline, &SHARED_FILES),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Contents::Missing,
        Err(_) => Contents::Unusable("cannot be opened"),
    }
}

/// Opens `path` for reading without waiting for a FIFO's writer (`O_NONBLOCK`).
pub fn open(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut opts, libc::O_NONBLOCK | libc::O_CLOEXEC);
    opts.open(path)
}

/// Reads a file opened with [`open`] under `rules`, waiting for a pipe's writer at most
/// until `deadline`.
pub fn read_open(file: File, deadline: Instant, rules: &Rules) -> Contents {
    let Ok(meta) = file.metadata() else {
        return Contents::Unusable("cannot be examined");
    };
    let ft = meta.file_type();
    if ft.is_file() {
        if meta.len() > rules.max_bytes {
            return Contents::Unusable(rules.too_large);
        }
        return match bounded(file, meta.len(), rules.max_bytes) {
            Ok(Some(b)) => Contents::Bytes(b),
            Ok(None) => Contents::Unusable(rules.too_large),
            Err(_) => Contents::Unusable("cannot be read"),
        };
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() || (rules.devices && ft.is_char_device()) {
            return drain_pipe(file, deadline, rules);
        }
    }
    let _ = deadline;
    Contents::Unusable("not a regular file")
}

/// Reads a pipe we hold the reading end of (a child's standard output) until end of file,
/// `deadline` or `rules.max_bytes`, whichever comes first. The pipe is made non-blocking.
#[cfg(unix)]
pub fn drain(file: File, deadline: Instant, rules: &Rules) -> Contents {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl on a descriptor we own; no memory is passed.
    let ok = unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        flags != -1 && libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) != -1
    };
    if !ok {
        return Contents::Unusable("cannot be read");
    }
    drain_pipe(file, deadline, rules)
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

/// The file's bytes, `None` when there are more than `max`.
fn bounded(file: File, hint: u64, max: u64) -> io::Result<Option<Zeroizing<Vec<u8>>>> {
    let mut out = Zeroizing::new(Vec::with_capacity(hint.min(max) as usize));
    file.take(max + 1).read_to_end(&mut out)?;
    Ok((out.len() as u64 <= max).then_some(out))
}

/// Reads a non-blocking pipe until end of file, polling so that a writer that never writes
/// or never closes costs at most the time left until `deadline`.
///
/// A read of 0 bytes is the end only once a writer was there: with `wait_for_writer`, a FIFO
/// that gave nothing yet is polled, and Linux reports `POLLHUP` on it only after a writer
/// opened and closed it (before that, poll just waits).
#[cfg(unix)]
fn drain_pipe(mut file: File, deadline: Instant, rules: &Rules) -> Contents {
    use std::os::fd::AsRawFd;
    let mut out = Zeroizing::new(Vec::new());
    let mut buf = [0u8; 8192];
    let mut hung_up = false;
    loop {
        let wait = match file.read(&mut buf) {
            Ok(0) if !rules.wait_for_writer || hung_up || !out.is_empty() => {
                return Contents::Bytes(out);
            }
            Ok(0) => true,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() as u64 > rules.max_bytes {
                    return Contents::Unusable(rules.too_large);
                }
                false
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => false,
            Err(_) => return Contents::Unusable("cannot be read"),
        };
        if wait {
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
            if unsafe { libc::poll(&mut pfd, 1, ms) } > 0 && pfd.revents & libc::POLLHUP != 0 {
                hung_up = true;
            }
        }
    }
}

#[cfg(not(unix))]
fn drain_pipe(file: File, _deadline: Instant, rules: &Rules) -> Contents {
    match bounded(file, 0, rules.max_bytes) {
        Ok(Some(b)) => Contents::Bytes(b),
        Ok(None) => Contents::Unusable(rules.too_large),
        Err(_) => Contents::Unusable("cannot be read"),
    }
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
    fn rules_set_the_limit_and_what_is_read() {
        let small = Rules {
            max_bytes: 10,
            too_large: "too long",
            wait_for_writer: true,
            devices: true,
        };
        let soon = Instant::now() + Duration::from_secs(5);
        let at = |p: &str, rules: &Rules| read_open(open(Path::new(p)).unwrap(), soon, rules);
        assert!(matches!(
            at("/dev/zero", &small),
            Contents::Unusable("too long")
        ));
        assert!(matches!(
            at("/dev/zero", &SHARED_FILES),
            Contents::Unusable("not a regular file")
        ));
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, "0123456789a").unwrap();
        assert!(matches!(
            read_open(open(&f).unwrap(), soon, &small),
            Contents::Unusable("too long")
        ));
        // A FIFO nobody opens for writing is waited for, until the deadline.
        let p = dir.path().join("fifo");
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let t0 = Instant::now();
        let got = read_open(open(&p).unwrap(), t0 + Duration::from_millis(300), &small);
        assert!(matches!(got, Contents::TimedOut), "{got:?}");
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert!(t0.elapsed() < Duration::from_secs(3));
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
