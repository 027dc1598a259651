//! The runtime every AWS call runs on, and the time limit around it.
//!
//! Both boundaries (Redshift in `redshift.rs`, Identity Center in `identity_center.rs`) build
//! their tokio runtime, connect timeout and deadline here, so a hung `credential_process`, a
//! DNS server that never answers or a slow endpoint end the same way on either path: at the
//! run's deadline, with the processes this run started killed.

use std::cell::Cell;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use tracing::debug;

use crate::error::Error;

/// Connecting to an endpoint should be quick; a dead endpoint should fail fast enough for
/// the SDK to retry within the run's time limit.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The SDK's timeouts for a call that must end within `remaining`.
pub fn timeouts(remaining: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(remaining))
        .operation_timeout(remaining)
        .build()
}

/// Runs `fut` on a fresh runtime until it finishes or `remaining` passes, whatever blocks.
///
/// On the deadline the future is dropped, every process this run started (a hung
/// `credential_process`) is killed, and the runtime is shut down without waiting for its
/// blocking threads: a `getaddrinfo` call stuck on a DNS server that never answers cannot
/// be cancelled, and waiting for it (what dropping a runtime does) kept the process alive
/// for the resolver's own 10+ seconds. The thread dies with the process.
pub fn bounded<T>(
    seconds: u64,
    remaining: Duration,
    phase: &Cell<&'static str>,
    fut: impl std::future::Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let rt = runtime()?;
    let out = rt.block_on(async { tokio::time::timeout(remaining, fut).await });
    rt.shutdown_background();
    match out {
        Ok(result) => {
            if matches!(result, Err(Error::Timeout { .. })) {
                crate::children::kill_descendants();
            }
            result
        }
        Err(_) => {
            let killed = crate::children::kill_descendants();
            if killed > 0 {
                debug!(killed, "killed the processes still running at the deadline");
            }
            Err(Error::Timeout {
                seconds,
                during: phase.get(),
            })
        }
    }
}

pub fn runtime() -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the async runtime: {e}")))
}
