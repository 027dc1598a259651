//! `logout`: removes the person's sign-in sessions (or all of them), the tokens cached with
//! them and what they leave beside them (lock files, failure records), each under its lock.
//!
//! What "the person's" means: every session of the chosen profile, whatever the environment
//! it was made in (a shell with other harmless variables, another bootstrap identity), not
//! only the one this run's key names. The tokens cached with a session are found by the
//! identity they were cached under: the credential chain of the session's own profile,
//! narrowed to the session's person (`serve::signed_in`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use crate::aws::config::shared_config::SharedConfig;
use crate::cache::Mode;
use crate::cli::{GlobalArgs, LogoutArgs};
use crate::env::Env;
use crate::error::Error;
use crate::output::emit;
use crate::settings::SessionRequest;
use crate::signin::session;

/// `logout`: removes the sessions (or all of them) and the tokens cached with them.
pub fn run(args: &LogoutArgs, global: &GlobalArgs, env: &Env) -> Result<u8, Error> {
    let cache = crate::serve::open_cache_strict(global.cache_dir.as_deref())?;
    // The access-token mode's sessions first: a profile in that mode is done here.
    let access = match super::access_logout::run(&cache, args, env)? {
        super::access_logout::Outcome::Done(code) => return Ok(code),
        super::access_logout::Outcome::Removed(n) => n,
    };
    let root = cache.root().to_owned();
    let store = cache.store(session::STORE).map_err(Error::Cache)?;
    let failures = session::failures(&store);
    let io_err = |source| Error::Io {
        what: "cannot update the cache",
        path: root.clone(),
        source,
    };
    let now = SystemTime::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Which sessions: all, or the chosen profile's (this run's key, and any other of it).
    let (files, profile, own_id) = if args.all {
        (
            SharedConfig::load(env, Duration::from_secs(30))?,
            None,
            None,
        )
    } else {
        let r = SessionRequest::from_args(&args.session, env)?;
        let s = r.signin(env);
        let idc_region = s.idc_region()?;
        let key = s
            .key(&idc_region)
            .ok_or_else(|| Error::Internal("no session key".into()))?;
        (
            r.files.clone(),
            Some(r.config.profile.clone()),
            Some(key.id),
        )
    };
    // The chain fingerprint of each profile met, computed once.
    let mut fingerprints = BTreeMap::new();
    let (mut sessions, mut tokens) = (0, 0);
    for id in store.ids().map_err(io_err)? {
        let decoded = store
            .read(&id)
            .ok()
            .and_then(|b| session::decode(&b, None, now).ok());
        let ours = match (&profile, &decoded) {
            (None, _) => true,
            (Some(p), Some(s)) => s.meta.profile == *p || own_id.as_deref() == Some(&id),
            (Some(_), None) => own_id.as_deref() == Some(&id),
        };
        if !ours {
            continue;
        }
        let Some(guard) = store.lock(&id, Mode::Exclusive, deadline).map_err(io_err)? else {
            return Err(Error::Locked {
                what: format!("the sign-in session {id}"),
            });
        };
        forget_kept_secrets(&store, &id, now, deadline);
        if store.remove(&guard, &id).map_err(io_err)? {
            sessions += 1;
        }
        store.remove_lock_file(guard);
        if let Some(f) = &failures {
            session::remove_failure(f, &id);
        }
        if let Some(s) = decoded {
            let chain = fingerprints
                .entry(s.meta.profile.clone())
                .or_insert_with(|| {
                    crate::aws::config::chain::fingerprint(env, &files, &s.meta.profile, deadline)
                });
            let identity = chain.with_signed_in(&s.identity()).digest();
            tokens += cache
                .clear(now, deadline, |m| {
                    m.is_some_and(|m| m.identity == identity && m.profile == s.meta.profile)
                })
                .map_err(io_err)?;
        }
    }
    // The run's own key may have a lock file or failure record without a session.
    if let Some(id) = &own_id {
        if let Ok(Some(guard)) = store.lock(id, Mode::Exclusive, Instant::now()) {
            store.remove_lock_file(guard);
        }
        if let Some(f) = &failures {
            session::remove_failure(f, id);
        }
    }
    if args.all {
        // Sessions of older schemas are never read again, but hold refresh tokens.
        for n in 1..session::SCHEMA {
            let old = root.join(format!("signin-v{n}"));
            if std::fs::symlink_metadata(&old).is_ok_and(|m| m.is_dir()) {
                sessions += crate::cache::Store::open(&root, &format!("signin-v{n}"))
                    .ok()
                    .and_then(|s| s.ids().ok())
                    .map_or(0, |ids| ids.len());
                std::fs::remove_dir_all(&old).map_err(io_err)?;
            }
        }
        store.remove_orphan_locks().map_err(io_err)?;
        if let Some(f) = &failures {
            for id in f.ids().map_err(io_err)? {
                session::remove_failure(f, &id);
            }
            f.remove_orphan_locks().map_err(io_err)?;
        }
    }
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    emit(
        format!(
            "signed out: removed {} and {}{}\n",
            plural(sessions, "sign-in session", "sign-in sessions"),
            plural(tokens, "cached token", "cached tokens"),
            match access {
                0 => String::new(),
                n => format!(
                    " (and {})",
                    plural(n, "access-token session", "access-token sessions")
                ),
            }
        )
        .as_bytes(),
    )?;
    Ok(0)
}

/// Removes what the session `id` keeps outside its entry (its refresh token in the OS keyring),
/// under the lock held by the caller. An entry that keeps everything inline touches no keyring.
fn forget_kept_secrets(store: &crate::cache::Store, id: &str, now: SystemTime, deadline: Instant) {
    if let Some(s) = store
        .read(id)
        .ok()
        .and_then(|b| session::decode(&b, None, now).ok())
        && session::forget_refresh_token(&s, deadline)
    {
        tracing::info!(session = %id, "removed the refresh token from the OS keyring");
    }
}
