//! The executable: everything happens in `app::main`, which returns the exit status.
//!
//! On Linux with glibc the entry point is a C `main` instead of Rust's `fn main`. Drivers start
//! this program once per connection, and a cache hit is mostly process start-up: std's start-up
//! code spends a fifth of a hit's instructions finding the main thread's stack (glibc reads and
//! `sscanf`s `/proc/self/maps`) only to word a stack-overflow message, and libc's exit handlers
//! run aws-lc's destructors (its random-number state), touching pages a hit never used. So
//! `main` below does the rest of what std's start-up does, and no more:
//! - file descriptors 0-2 are open (on `/dev/null` if they were closed), so that a file this
//!   program opens can never become its stdout;
//! - `SIGPIPE` is ignored, so writing to a closed pipe is an error `output::emit` handles, not
//!   a silent death (`Command` resets it for the program `exec` runs, as before);
//! - a panic is caught and exits with status 101, as Rust's `main` would;
//! - stdout is flushed, then the process ends with `_exit`.

// Not under `cargo test`: the test harness brings its own `main`.
#![cfg_attr(all(target_os = "linux", target_env = "gnu", not(test)), no_main)]

#[cfg(all(target_os = "linux", target_env = "gnu", not(test)))]
#[unsafe(no_mangle)]
extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    use std::io::Write;
    // std reads the arguments itself (glibc passes them to its .init_array hook), so
    // `std::env::args_os()` works as usual.
    // SAFETY: plain libc calls on the process's own descriptors and signal disposition, made
    // before any other thread exists.
    unsafe {
        for fd in 0..3 {
            if libc::fcntl(fd, libc::F_GETFD) == -1
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EBADF)
                && libc::open(c"/dev/null".as_ptr(), libc::O_RDWR) != fd
            {
                libc::abort();
            }
        }
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
    let code = std::panic::catch_unwind(redshift_idc_token::app::main).unwrap_or(101);
    let _ = std::io::stdout().flush();
    // SAFETY: ends the process; everything of ours was dropped when `app::main` returned.
    unsafe { libc::_exit(libc::c_int::from(code)) }
}

#[cfg(any(not(all(target_os = "linux", target_env = "gnu")), test))]
fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(redshift_idc_token::app::main())
}
