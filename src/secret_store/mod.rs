//! Long-lived secrets (refresh tokens, the client secrets of registrations) kept off the disk.
//!
//! Short-lived material stays in the file cache, read on every hit. A secret that lives for
//! hours to months goes to the OS keyring when one answers (Secret Service on Linux desktops,
//! the macOS Keychain, Windows Credential Manager: [`keyring`]); the cache file then holds a
//! reference (`keyring:<id>`, see [`Kept`]), never the secret. With the `file` store it stays
//! in the cache file as before ([`file`]).
//!
//! The keyring is touched only when a session is made, renewed or removed, never on a cache
//! hit, and every call is bounded by a deadline: a keyring that is locked behind a prompt, slow
//! or gone cannot hang a run. The choice is [`Choice`] (`redshift_idc_secret_store`):
//! `auto` falls back to the file with one notice, `keyring` refuses to.

use std::fmt;
use std::time::Instant;

use crate::token::Secret;

pub mod file;
pub mod keyring;

/// The setting's name in a profile and its variable, for messages.
pub const SETTING: &str = "redshift_idc_secret_store";

/// Where long-lived secrets go (`redshift_idc_secret_store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Choice {
    /// The keyring when it answers, else the cache file with one notice.
    #[default]
    Auto,
    /// The keyring or nothing: a run that cannot use it fails (exit 2).
    Keyring,
    /// The cache file (0600), as before the keyring was supported.
    File,
}

impl Choice {
    /// The rule a value must follow, for the error that names a bad one.
    pub const RULE: &'static str = "expected auto, keyring or file";

    pub fn parse(s: &str) -> Option<Choice> {
        match s.trim() {
            "auto" => Some(Choice::Auto),
            "keyring" => Some(Choice::Keyring),
            "file" => Some(Choice::File),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Choice::Auto => "auto",
            Choice::Keyring => "keyring",
            Choice::File => "file",
        }
    }
}

/// The name of a secret in a store: parts of `[A-Za-z0-9._-]` joined by `/`, at most 200
/// bytes, such as `signin/<session key>/refresh_token`. It is not secret: it is the keyring
/// item's `username` attribute and appears in the cache file's reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretId(String);

impl SecretId {
    pub fn new(id: &str) -> Option<SecretId> {
        let part_ok = |p: &str| {
            !p.is_empty()
                && p != "."
                && p != ".."
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        (id.len() <= 200 && id.split('/').all(part_ok)).then(|| SecretId(id.to_owned()))
    }

    /// `kind/key/what`, e.g. `signin/0123.../refresh_token`; `None` if a part breaks the rule.
    pub fn of(kind: &str, key: &str, what: &str) -> Option<SecretId> {
        SecretId::new(&format!("{kind}/{key}/{what}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a cache file holds for a secret: the secret itself (the file store), or where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    Inline(Secret),
    Keyring(SecretId),
}

const KEYRING_PREFIX: &str = "keyring:";

impl Kept {
    /// The string that goes into the cache file instead of the secret; `None` for `Inline`
    /// (the file holds the secret itself).
    pub fn reference(&self) -> Option<String> {
        match self {
            Kept::Inline(_) => None,
            Kept::Keyring(id) => Some(format!("{KEYRING_PREFIX}{id}")),
        }
    }

    /// A reference read back from a cache file; `None` if it is not one this version makes.
    pub fn from_reference(r: &str) -> Option<Kept> {
        SecretId::new(r.strip_prefix(KEYRING_PREFIX)?).map(Kept::Keyring)
    }

    /// The store the secret is in, for messages and `doctor`.
    pub fn store_name(&self) -> &'static str {
        match self {
            Kept::Inline(_) => file::NAME,
            Kept::Keyring(_) => keyring::NAME,
        }
    }
}

/// Why a store could not keep, give back or remove a secret. No variant holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error(
        "the OS keyring did not answer within {seconds} s (locked behind an unlock prompt nobody answered, or hung): unlock it (e.g. log in to the desktop session) and retry, or set {SETTING} = file (REDSHIFT_IDC_TOKEN_SECRET_STORE=file) to keep the secret in the private cache file"
    )]
    NoAnswer { seconds: u64 },

    #[error(
        "the OS keyring cannot be used ({detail}): run in a desktop session with a Secret Service (GNOME Keyring, KWallet) or unlock the keychain, or set {SETTING} = file (REDSHIFT_IDC_TOKEN_SECRET_STORE=file) to keep the secret in the private cache file"
    )]
    Unreachable { detail: String },

    #[error("the OS keyring has no item {id} (removed outside this program?)")]
    Missing { id: SecretId },
}

impl Unavailable {
    /// The cause alone, without the advice (for the `auto` notice, which gives its own).
    pub fn reason(&self) -> String {
        match self {
            Unavailable::NoAnswer { seconds } => format!("it did not answer within {seconds} s"),
            Unavailable::Unreachable { detail } => detail.clone(),
            Unavailable::Missing { id } => format!("it has no item {id}"),
        }
    }
}

/// A place for long-lived secrets. Every call returns by `deadline`.
pub trait SecretStore {
    /// `keyring` or `file`.
    fn name(&self) -> &'static str;

    /// Keeps `secret` under `id` (replacing what was there) and returns what the cache file
    /// holds instead of it.
    fn put(&self, id: &SecretId, secret: &Secret, deadline: Instant) -> Result<Kept, Unavailable>;

    /// The secret kept under `id`; `None` if there is none.
    fn get(&self, id: &SecretId, deadline: Instant) -> Result<Option<Secret>, Unavailable>;

    /// Removes the secret under `id`; `false` if there was none.
    fn delete(&self, id: &SecretId, deadline: Instant) -> Result<bool, Unavailable>;

    /// Whether the store answers (`doctor`), without reading or writing a secret.
    fn check(&self, deadline: Instant) -> Result<(), Unavailable>;
}

/// The store `choice` names first: the keyring for `auto` and `keyring`.
pub fn open(choice: Choice) -> Box<dyn SecretStore> {
    match choice {
        Choice::Auto | Choice::Keyring => Box::new(keyring::Keyring),
        Choice::File => Box::new(file::FileStore),
    }
}

/// Whether `auto` says so when it falls back to the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// One notice on stderr: the first time a secret of this kind is kept (a sign-in).
    Notice,
    /// Silently: the person was told already (a later sign-in whose last secret fell back).
    Quiet,
}

/// Keeps `secret` under `id` as `choice` says. `auto` falls back to the cache file when the
/// keyring does not answer by `deadline`; `keyring` fails instead.
pub fn keep(
    choice: Choice,
    id: &SecretId,
    secret: &Secret,
    deadline: Instant,
    fallback: Fallback,
) -> Result<Kept, Unavailable> {
    keep_in(&*open(choice), choice, id, secret, deadline, fallback)
}

fn keep_in(
    store: &dyn SecretStore,
    choice: Choice,
    id: &SecretId,
    secret: &Secret,
    deadline: Instant,
    fallback: Fallback,
) -> Result<Kept, Unavailable> {
    match store.put(id, secret, deadline) {
        Ok(kept) => Ok(kept),
        Err(e) if choice == Choice::Auto => {
            if fallback == Fallback::Notice {
                tracing::warn!(
                    "the OS keyring is not available ({}), so long-lived secrets stay in the private cache file; set {SETTING} = file to stop trying the keyring, or keyring to require it",
                    e.reason()
                );
            } else {
                tracing::info!("the OS keyring is not available: {e}");
            }
            file::FileStore.put(id, secret, deadline)
        }
        Err(e) => Err(e),
    }
}

/// The secret a cache file's `kept` stands for: itself, or the keyring item it names.
pub fn reveal(kept: &Kept, deadline: Instant) -> Result<Secret, Unavailable> {
    match kept {
        Kept::Inline(s) => Ok(s.clone()),
        Kept::Keyring(id) => keyring::Keyring
            .get(id, deadline)?
            .ok_or_else(|| Unavailable::Missing { id: id.clone() }),
    }
}

/// Removes what `kept` stands for outside the cache file (nothing for `Inline`); `false`
/// if there was nothing to remove.
pub fn forget(kept: &Kept, deadline: Instant) -> Result<bool, Unavailable> {
    match kept {
        Kept::Inline(_) => Ok(false),
        Kept::Keyring(id) => keyring::Keyring.delete(id, deadline),
    }
}

/// Which store `choice` uses right now and whether it answers, for `doctor`: the store's
/// name and the reason it does not answer, if it does not.
pub fn status(choice: Choice, deadline: Instant) -> (&'static str, Option<Unavailable>) {
    match choice {
        Choice::File => (file::NAME, None),
        Choice::Keyring => (keyring::NAME, keyring::Keyring.check(deadline).err()),
        Choice::Auto => match keyring::Keyring.check(deadline) {
            Ok(()) => (keyring::NAME, None),
            Err(e) => (file::NAME, Some(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::time::Duration;

    #[test]
    fn choice_parses_the_three_values_only() {
        assert_eq!(Choice::parse("auto"), Some(Choice::Auto));
        assert_eq!(Choice::parse(" keyring "), Some(Choice::Keyring));
        assert_eq!(Choice::parse("file"), Some(Choice::File));
        assert_eq!(Choice::parse("Keyring"), None);
        assert_eq!(Choice::parse(""), None);
        for c in [Choice::Auto, Choice::Keyring, Choice::File] {
            assert_eq!(Choice::parse(c.name()), Some(c));
        }
    }

    #[test]
    fn ids_and_references() {
        let id = SecretId::of("signin", "0123abcd", "refresh_token").unwrap();
        assert_eq!(id.as_str(), "signin/0123abcd/refresh_token");
        let kept = Kept::Keyring(id.clone());
        let r = kept.reference().unwrap();
        assert_eq!(r, "keyring:signin/0123abcd/refresh_token");
        assert_eq!(Kept::from_reference(&r), Some(kept));
        assert_eq!(Kept::from_reference("signin/0123abcd/refresh_token"), None);
        assert_eq!(Kept::from_reference("keyring:"), None);
        assert_eq!(Kept::from_reference("keyring:a//b"), None);
        assert_eq!(Kept::from_reference("keyring:a/../b"), None);
        assert_eq!(Kept::from_reference("keyring:a b"), None);
        assert!(SecretId::new(&"a".repeat(201)).is_none());
        assert_eq!(Kept::Inline(Secret::new("x".into())).reference(), None);
    }

    /// A store that fails every put, and counts them.
    struct Broken(RefCell<u32>);
    impl SecretStore for Broken {
        fn name(&self) -> &'static str {
            "broken"
        }
        fn put(&self, _: &SecretId, _: &Secret, _: Instant) -> Result<Kept, Unavailable> {
            *self.0.borrow_mut() += 1;
            Err(Unavailable::Unreachable {
                detail: "no bus".into(),
            })
        }
        fn get(&self, _: &SecretId, _: Instant) -> Result<Option<Secret>, Unavailable> {
            unreachable!()
        }
        fn delete(&self, _: &SecretId, _: Instant) -> Result<bool, Unavailable> {
            unreachable!()
        }
        fn check(&self, _: Instant) -> Result<(), Unavailable> {
            unreachable!()
        }
    }

    #[test]
    fn auto_falls_back_to_the_file_and_keyring_refuses() {
        let id = SecretId::new("signin/k/refresh_token").unwrap();
        let secret = Secret::new("SENTINEL-RT".into());
        let deadline = Instant::now() + Duration::from_secs(1);
        let store = Broken(RefCell::new(0));
        let kept = keep_in(
            &store,
            Choice::Auto,
            &id,
            &secret,
            deadline,
            Fallback::Notice,
        );
        assert_eq!(kept.unwrap(), Kept::Inline(secret.clone()));
        let kept = keep_in(
            &store,
            Choice::Auto,
            &id,
            &secret,
            deadline,
            Fallback::Quiet,
        )
        .unwrap();
        let err = keep_in(
            &store,
            Choice::Keyring,
            &id,
            &secret,
            deadline,
            Fallback::Notice,
        )
        .unwrap_err();
        assert!(err.to_string().contains("no bus"), "{err}");
        assert!(err.to_string().contains("redshift_idc_secret_store = file"));
        assert_eq!(*store.0.borrow(), 3);
        assert!(!format!("{kept:?}").contains("SENTINEL"));
    }
}
