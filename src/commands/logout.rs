//! `logout`: removes the person's sign-in session (or all of them) and the tokens cached
//! with it, each under its lock.

use std::time::{Duration, Instant, SystemTime};

use crate::cache::Mode;
use crate::cli::{GlobalArgs, LogoutArgs};
use crate::env::Env;
use crate::error::Error;
use crate::output::emit;
use crate::settings::SessionRequest;
use crate::signin::session;

/// `logout`: removes the session (or all of them) and the tokens cached with it.
pub fn run(args: &LogoutArgs, global: &GlobalArgs, env: &Env) -> Result<u8, Error> {
    let cache = crate::serve::open_cache_strict(global.cache_dir.as_deref())?;
    // The access-token mode's sessions first: a profile in that mode is done here.
    if let Some(code) = super::access_logout::run(&cache, args, env)? {
        return Ok(code);
    }
    let root = cache.root().to_owned();
    let store = cache.store(session::STORE).map_err(Error::Cache)?;
    let io_err = |source| Error::Io {
        what: "cannot update the cache",
        path: root.clone(),
        source,
    };
    let now = SystemTime::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    let (ids, fingerprint) = if args.all {
        // Tokens are keyed on the credential chain of a profile: the one chosen, if any.
        let profile = crate::settings::chosen_profile(args.session.profile.as_deref(), env)?
            .map_or_else(|| "default".to_owned(), |p| p.value);
        let files =
            crate::aws::config::shared_config::SharedConfig::load(env, Duration::from_secs(30))?;
        let chain = crate::aws::config::chain::fingerprint(env, &files, &profile, deadline);
        (store.ids().map_err(io_err)?, chain)
    } else {
        let r = SessionRequest::from_args(&args.session, env)?;
        let s = r.signin(env);
        let idc_region = s.idc_region()?;
        let key = s
            .key(&idc_region)
            .ok_or_else(|| Error::Internal("no session key".into()))?;
        let chain =
            crate::aws::config::chain::fingerprint(env, &r.files, &r.config.profile, deadline);
        (vec![key.id], chain)
    };
    let (mut sessions, mut tokens) = (0, 0);
    for id in ids {
        let Some(guard) = store.lock(&id, Mode::Exclusive, deadline).map_err(io_err)? else {
            return Err(Error::Locked {
                what: format!("the sign-in session {id}"),
            });
        };
        let identity = store
            .read(&id)
            .ok()
            .and_then(|b| session::decode(&b, None, now).ok())
            .map(|s| fingerprint.with_signed_in(&s.identity()).digest());
        if store.remove(&guard, &id).map_err(io_err)? {
            sessions += 1;
        }
        if let Some(identity) = identity {
            tokens += cache
                .clear(now, deadline, |m| m.is_some_and(|m| m.identity == identity))
                .map_err(io_err)?;
        }
    }
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    emit(
        format!(
            "signed out: removed {} and {}\n",
            plural(sessions, "sign-in session", "sign-in sessions"),
            plural(tokens, "cached token", "cached tokens")
        )
        .as_bytes(),
    )?;
    Ok(0)
}
