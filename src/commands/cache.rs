//! `cache path`, `cache list` and `cache clear`: the cache as a person sees it.
//!
//! `list` shows what each entry is for and until when, never a token, key or refresh token;
//! everything read from disk is escaped, so no entry can forge or split a line, and the
//! columns are as wide as their content, so a long profile name cannot shift the next one.

use std::time::{Instant, SystemTime};

use crate::access_token::listing::AccessLine;
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
            let lines: Vec<Line> = rows
                .iter()
                .map(|row| list_line(row, now, json))
                .chain(list_sessions(&cache, now, json))
                .chain(
                    crate::access_token::listing::rows(&cache, now, json)
                        .into_iter()
                        .map(|l| match l {
                            AccessLine::Row(cells, busy) => Line::Row(cells, busy),
                            AccessLine::Text(t) => Line::Text(t),
                        }),
                )
                .collect();
            let out = if json {
                lines
                    .into_iter()
                    .map(|l| match l {
                        Line::Text(t) => t + "\n",
                        Line::Row(..) => String::new(),
                    })
                    .collect()
            } else {
                table(&lines)
            };
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

/// The columns of the text form, and the width each has at least (so that ordinary entries
/// line up as they always did).
const COLUMNS: [(&str, usize); 6] = [
    ("SERVICE", 20),
    ("TARGETS", 22),
    ("REGION", 15),
    ("PROFILE", 15),
    ("EXPIRES", 21),
    ("REMAINING", 0),
];

/// One line of `cache list`: a row of the table (its cells already escaped, and a note
/// after the last column), or a line of its own (JSON, or an unusable entry).
enum Line {
    Row([String; 6], &'static str),
    Text(String),
}

/// The text form: each column as wide as its widest cell. Cells are escaped ASCII
/// (`printable`), so their length in bytes is their width on the terminal.
fn table(lines: &[Line]) -> String {
    let mut widths = COLUMNS.map(|(name, min)| min.max(name.len()));
    for line in lines {
        if let Line::Row(cells, _) = line {
            for (w, cell) in widths.iter_mut().zip(cells) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let render = |cells: [&str; 6], note: &str| {
        let mut out = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 < cells.len() {
                out.push_str(&format!("{cell:<w$} ", w = widths[i]));
            } else {
                out.push_str(cell);
            }
        }
        out.push_str(note);
        out.push('\n');
        out
    };
    let mut out = render(COLUMNS.map(|(name, _)| name), "");
    for line in lines {
        match line {
            Line::Row(cells, note) => {
                out.push_str(&render(cells.each_ref().map(String::as_str), note))
            }
            Line::Text(t) => {
                out.push_str(t);
                out.push('\n');
            }
        }
    }
    out
}

/// `14m59s`.
fn remaining(seconds: u64) -> String {
    format!("{}m{:02}s", seconds / 60, seconds % 60)
}

/// One entry of `cache list`, never with its token.
fn list_line(row: &cache::Listed, now: SystemTime, json: bool) -> Line {
    match (&row.state, json) {
        (Ok(e), true) => Line::Text(
            serde_json::json!({
                "id": row.id, "service": e.meta.service, "targets": e.meta.targets,
                "region": e.meta.region, "profile": e.meta.profile, "endpoint": e.meta.endpoint,
                "expiration": rfc3339(e.expiration), "remaining_seconds": e.remaining(now).as_secs(),
                "busy": row.busy,
            })
            .to_string(),
        ),
        (Err(m), true) => Line::Text(
            serde_json::json!({"id": row.id, "unusable": m.to_string(), "busy": row.busy})
                .to_string(),
        ),
        // An entry's fields come from disk: escaped, so no entry can forge or split a line.
        (Ok(e), false) => Line::Row(
            [
                printable(&e.meta.service),
                printable(&e.meta.targets.join(",")),
                printable(&e.meta.region),
                printable(&e.meta.profile),
                rfc3339(e.expiration),
                match e.remaining(now).as_secs() {
                    0 => "expired".to_owned(),
                    s => remaining(s),
                },
            ],
            if row.busy { " (refreshing)" } else { "" },
        ),
        (Err(m), false) => Line::Text(format!(
            "{:<20} unusable entry {}: {m}",
            "-",
            printable(&row.id)
        )),
    }
}

/// The sign-in sessions for `cache list`: who, which role, until when; never a secret. Like
/// token entries, everything read from disk is escaped in the text form.
fn list_sessions(cache: &Cache, now: SystemTime, json: bool) -> Vec<Line> {
    let Ok(store) = cache.store(session::STORE) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in store.ids().unwrap_or_default() {
        let busy = store
            .lock(&id, Mode::Shared, Instant::now())
            .is_ok_and(|g| g.is_none());
        let state = store.read(&id).and_then(|b| session::decode(&b, None, now));
        let line = match (state, json) {
            (Ok(s), true) => Line::Text(serde_json::json!({
                "id": id, "kind": "session", "profile": s.meta.profile, "user": s.user,
                "signin": s.meta.signin, "role": s.meta.role_arn,
                "application": s.meta.application_arn, "region": s.meta.idc_region,
                "expiration": rfc3339(s.credentials.expiration),
                "refresh_token": s.refresh_token.is_some(), "busy": busy,
            })
            .to_string()),
            (Err(m), true) => Line::Text(
                serde_json::json!({"id": id, "kind": "session", "unusable": m.to_string(), "busy": busy})
                    .to_string(),
            ),
            (Ok(s), false) => Line::Row(
                [
                    "sign-in".to_owned(),
                    format!("user {}", printable(&s.user)),
                    printable(&s.meta.idc_region),
                    printable(&s.meta.profile),
                    rfc3339(s.credentials.expiration),
                    match s.credentials.expiration.duration_since(now) {
                        Ok(d) => remaining(d.as_secs()),
                        Err(_) if s.refresh_token.is_some() => "expired (renewable)".to_owned(),
                        Err(_) => "expired".to_owned(),
                    },
                ],
                if busy { " (signing in)" } else { "" },
            ),
            (Err(m), false) => Line::Text(format!(
                "{:<20} unusable sign-in session {}: {m}",
                "-",
                printable(&id)
            )),
        };
        out.push(line);
    }
    out
}
