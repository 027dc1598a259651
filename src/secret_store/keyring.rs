//! The `keyring` store: the OS keyring through the `keyring` crate (Secret Service over a
//! pure-Rust D-Bus client on Linux, so the static release build needs no libdbus; the
//! Keychain on macOS; Credential Manager on Windows).
//!
//! Items are named by service `redshift-idc-token` and user `<SecretId>` (Secret Service
//! attributes `service` and `username`, so `secret-tool lookup service redshift-idc-token
//! username <id>` finds one). Each call runs on its own thread and is waited for until the
//! deadline only: a keyring waiting on an unlock prompt, or a daemon that never replies,
//! leaves that thread behind (the process ends without it) instead of hanging the run.

use std::sync::mpsc;
use std::time::Instant;

use super::{Kept, SecretId, SecretStore, Unavailable};
use crate::token::Secret;

pub const NAME: &str = "keyring";
/// The keyring items' service name.
pub const SERVICE: &str = "redshift-idc-token";
/// The user name `check` looks up: no item is ever stored under it.
const PROBE: &str = "check/redshift-idc-token/none";

pub struct Keyring;

impl SecretStore for Keyring {
    fn name(&self) -> &'static str {
        NAME
    }

    fn put(&self, id: &SecretId, secret: &Secret, deadline: Instant) -> Result<Kept, Unavailable> {
        let (user, secret) = (id.as_str().to_owned(), secret.clone());
        bounded(deadline, move || {
            ::keyring::Entry::new(SERVICE, &user)?.set_password(secret.expose())
        })?;
        Ok(Kept::Keyring(id.clone()))
    }

    fn get(&self, id: &SecretId, deadline: Instant) -> Result<Option<Secret>, Unavailable> {
        let user = id.as_str().to_owned();
        let got = bounded(deadline, move || {
            match ::keyring::Entry::new(SERVICE, &user)?.get_password() {
                Ok(s) => Ok(Some(Secret::new(s))),
                Err(::keyring::Error::NoEntry) => Ok(None),
                Err(e) => Err(e),
            }
        })?;
        // An item someone emptied or edited into something no token looks like is no token.
        Ok(got.filter(|s| !s.expose().is_empty() && !s.expose().contains(['\0', '\n', '\r'])))
    }

    fn delete(&self, id: &SecretId, deadline: Instant) -> Result<bool, Unavailable> {
        let user = id.as_str().to_owned();
        bounded(deadline, move || {
            match ::keyring::Entry::new(SERVICE, &user)?.delete_credential() {
                Ok(()) => Ok(true),
                Err(::keyring::Error::NoEntry) => Ok(false),
                Err(e) => Err(e),
            }
        })
    }

    fn check(&self, deadline: Instant) -> Result<(), Unavailable> {
        bounded(deadline, || {
            match ::keyring::Entry::new(SERVICE, PROBE)?.get_password() {
                Ok(_) | Err(::keyring::Error::NoEntry) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}

/// Runs `f` on its own thread and waits for it until `deadline`.
fn bounded<T: Send + 'static>(
    deadline: Instant,
    f: impl FnOnce() -> Result<T, ::keyring::Error> + Send + 'static,
) -> Result<T, Unavailable> {
    let budget = deadline.saturating_duration_since(Instant::now());
    let seconds = budget.as_secs() + u64::from(budget.subsec_nanos() > 0);
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| Unavailable::Unreachable {
            detail: format!("cannot start a thread: {e}"),
        })?;
    match rx.recv_timeout(budget) {
        Ok(r) => r.map_err(describe),
        Err(_) => {
            tracing::debug!(seconds, "the keyring did not answer in time");
            Err(Unavailable::NoAnswer { seconds })
        }
    }
}

/// The keyring's error in words, one bounded line (it comes from the platform, not from us,
/// and never holds the secret).
fn describe(e: ::keyring::Error) -> Unavailable {
    let detail: String = e
        .to_string()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    Unavailable::Unreachable {
        detail: detail.trim().to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_call_that_never_returns_is_cut_at_the_deadline() {
        let start = Instant::now();
        let r: Result<(), _> = bounded(start + Duration::from_millis(300), || {
            std::thread::sleep(Duration::from_secs(30));
            Ok(())
        });
        assert!(
            matches!(r, Err(Unavailable::NoAnswer { seconds: 1 })),
            "{r:?}"
        );
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn platform_errors_become_one_line() {
        let e = describe(::keyring::Error::PlatformFailure("no\nbus".into()));
        let text = e.to_string();
        assert!(text.contains("no bus"), "{text}");
        assert!(!text.contains('\n'));
    }
}
