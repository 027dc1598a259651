//! `logout` for the access-token mode: removes the profile's session (access token, refresh
//! token, its lock and failure record), or with `--all` every access-token session. The
//! client registration stays: it names no person, and the next sign-in reuses it.

use std::time::{Duration, Instant};

use crate::access_token::session::{self, AccessKey};
use crate::cache::{Cache, Mode};
use crate::cli::LogoutArgs;
use crate::env::Env;
use crate::error::Error;
use crate::output::emit;
use crate::settings::AccessRequest;

/// What the access-token part of `logout` did.
pub enum Outcome {
    /// The profile is in access-token mode: removed, said, and done (the exit status).
    Done(u8),
    /// Not (or `--all`): this many access-token sessions removed; the role-credentials
    /// sessions are next, and their line says how many of these went too.
    Removed(usize),
}

pub fn run(cache: &Cache, args: &LogoutArgs, env: &Env) -> Result<Outcome, Error> {
    let req = if args.all {
        None
    } else {
        match AccessRequest::from_args(&args.session, env)? {
            Some(r) => Some(r),
            None => return Ok(Outcome::Removed(0)),
        }
    };
    let store = cache.store(&session::store_name()).map_err(Error::Cache)?;
    let io_err = |source| Error::Io {
        what: "cannot update the cache",
        path: cache.root().to_owned(),
        source,
    };
    let ids: Vec<String> = match &req {
        Some(r) => {
            let key = AccessKey::new(&r.config);
            vec![key.id.clone(), key.failure()]
        }
        None => store
            .ids()
            .map_err(io_err)?
            .into_iter()
            .filter(|id| !id.starts_with("reg-"))
            .collect(),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut removed = 0;
    for id in ids {
        let Some(guard) = store.lock(&id, Mode::Exclusive, deadline).map_err(io_err)? else {
            return Err(Error::Locked {
                what: format!("the access-token session {id}"),
            });
        };
        // The refresh token's keyring item goes with the session (the registration stays).
        if let Ok(bytes) = store.read(&id)
            && let Ok(s) = session::AccessSession::decode(&bytes, None)
            && let Some(kept) = &s.refresh_token
            && let Err(e) = crate::secret_store::forget(kept, deadline)
        {
            tracing::warn!(
                "the session is removed, but its refresh token is still in the OS keyring: {e}"
            );
        }
        if store.remove(&guard, &id).map_err(io_err)? && !id.ends_with("-failed") {
            removed += 1;
        }
        store.remove_lock_file(guard);
    }
    if req.is_none() {
        return Ok(Outcome::Removed(removed));
    }
    let line = format!(
        "signed out: removed {removed} access-token session{}\n",
        if removed == 1 { "" } else { "s" }
    );
    emit(line.as_bytes())?;
    Ok(Outcome::Done(0))
}
