//! `cache path`, `cache list` and `cache clear`: the cache as a person sees it.
//!
//! `list` shows what each entry is for and until when, never a token, key or refresh token;
//! everything read from disk is escaped, so no entry can forge or split a line.

use std::time::{Instant, SystemTime};

use crate::cache::{self, Cache, Mode};
use crate::cli::{CacheCommand, CacheFilter, GlobalArgs};
use crate::error::Error;
use crate::output::emit;
use crate::signin::session;
use crate::target::printable;
use crate::token::rfc3339;

pub fn run(command: CacheCommand, global: &GlobalArgs) -> Result<u8, Error> {
    let root = cache::default_root(global.cache_dir.as_deref())
        .ok_or(Error::Cache(cache::Unavailable::NoDirectory))?;
    if let CacheCommand::Path = command {
        let mut line = root.display().to_string();
        line.push('\n');
        emit(line.as_bytes())?;
        return Ok(0);
    }
    let cache = Cache::open(root.clone()).map_err(Error::Cache)?;
    let io_err = |source| Error::Io {
        what: "cannot read the cache directory",
        path: root.clone(),
        source,
    };
    let now = SystemTime::now();
    match command {
        CacheCommand::Path => unreachable!("handled above"),
        CacheCommand::List { json } => {
            let rows = cache.list(now).map_err(io_err)?;
            let mut out = String::new();
            if !json {
                out.push_str("SERVICE              TARGETS                REGION          PROFILE         EXPIRES               REMAINING\n");
            }
            for row in rows {
                out.push_str(&list_line(&row, now, json));
            }
            out.push_str(&list_sessions(&cache, now, json));
            emit(out.as_bytes())?;
            Ok(0)
        }
        CacheCommand::Clear(filter) => {
            let deadline = Instant::now() + std::time::Duration::from_secs(30);
            let n = cache
                .clear(now, deadline, |meta| matches_filter(&filter, meta))
                .map_err(io_err)?;
            emit(
                format!(
                    "removed {n} cache entr{}\n",
                    if n == 1 { "y" } else { "ies" }
                )
                .as_bytes(),
            )?;
            Ok(0)
        }
    }
}

/// Whether `cache clear` removes an entry. Unreadable entries go only with an unfiltered clear.
fn matches_filter(f: &CacheFilter, meta: Option<&cache::KeyMeta>) -> bool {
    let unfiltered = f.target.is_none() && f.region.is_none() && f.profile.is_none();
    match meta {
        None => unfiltered,
        Some(m) => {
            // Targets compare as the services compare them (cluster ids case-insensitively;
            // they are stored in lower case), regions likewise; profile names are exact.
            f.target
                .as_ref()
                .is_none_or(|t| m.targets.iter().any(|x| x.eq_ignore_ascii_case(t)))
                && f.region
                    .as_ref()
                    .is_none_or(|r| m.region.eq_ignore_ascii_case(r))
                && f.profile.as_ref().is_none_or(|p| &m.profile == p)
        }
    }
}

/// One entry of `cache list`, never with its token.
fn list_line(row: &cache::Listed, now: SystemTime, json: bool) -> String {
    match (&row.state, json) {
        (Ok(e), true) => {
            let v = serde_json::json!({
                "id": row.id, "service": e.meta.service, "targets": e.meta.targets,
                "region": e.meta.region, "profile": e.meta.profile, "endpoint": e.meta.endpoint,
                "expiration": rfc3339(e.expiration), "remaining_seconds": e.remaining(now).as_secs(),
                "busy": row.busy,
            });
            format!("{v}\n")
        }
        (Err(m), true) => {
            format!(
                "{}\n",
                serde_json::json!({"id": row.id, "unusable": m.to_string(), "busy": row.busy})
            )
        }
        // An entry's fields come from disk: escaped, so no entry can forge or split a line.
        (Ok(e), false) => format!(
            "{:<20} {:<22} {:<15} {:<15} {:<21} {}{}\n",
            printable(&e.meta.service),
            printable(&e.meta.targets.join(",")),
            printable(&e.meta.region),
            printable(&e.meta.profile),
            rfc3339(e.expiration),
            match e.remaining(now).as_secs() {
                0 => "expired".to_owned(),
                s => format!("{}m{:02}s", s / 60, s % 60),
            },
            if row.busy { " (refreshing)" } else { "" }
        ),
        (Err(m), false) => format!("{:<20} unusable entry {}: {m}\n", "-", printable(&row.id)),
    }
}

/// The sign-in sessions for `cache list`: who, which role, until when; never a secret.
pub fn list_sessions(cache: &Cache, now: SystemTime, json: bool) -> String {
    let Ok(store) = cache.store(session::STORE) else {
        return String::new();
    };
    let mut out = String::new();
    for id in store.ids().unwrap_or_default() {
        let busy = store
            .lock(&id, Mode::Shared, Instant::now())
            .is_ok_and(|g| g.is_none());
        let state = store.read(&id).and_then(|b| session::decode(&b, None, now));
        let line = match (state, json) {
            (Ok(s), true) => serde_json::json!({
                "id": id, "kind": "session", "profile": s.meta.profile, "user": s.user,
                "signin": s.meta.signin, "role": s.meta.role_arn,
                "application": s.meta.application_arn, "region": s.meta.idc_region,
                "expiration": rfc3339(s.credentials.expiration),
                "refresh_token": s.refresh_token.is_some(), "busy": busy,
            })
            .to_string(),
            (Err(m), true) => {
                serde_json::json!({"id": id, "kind": "session", "unusable": m.to_string(), "busy": busy})
                    .to_string()
            }
            (Ok(s), false) => format!(
                "{:<20} {:<22} {:<15} {:<15} {:<21} {}{}",
                "sign-in",
                format!("user {}", s.user),
                s.meta.idc_region,
                s.meta.profile,
                rfc3339(s.credentials.expiration),
                match s.credentials.expiration.duration_since(now) {
                    Ok(d) => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
                    Err(_) if s.refresh_token.is_some() => "expired (renewable)".to_owned(),
                    Err(_) => "expired".to_owned(),
                },
                if busy { " (signing in)" } else { "" }
            ),
            (Err(m), false) => format!("{:<20} unusable sign-in session {id}: {m}", "-"),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
