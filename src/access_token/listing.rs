//! The access-token sessions for `cache list`: profile, source, region, until when, and
//! whether a refresh token renews it; never a token, refresh token or client secret. What is
//! read from disk is escaped, as for every row.

use std::time::{Instant, SystemTime};

use super::session::{self, AccessSession};
use crate::cache::{Cache, Mode};
use crate::target::printable;
use crate::token::rfc3339;

/// One line of `cache list`: a row of the table (its six cells and a note), or a line of text
/// (JSON, or an unusable entry).
pub enum AccessLine {
    Row([String; 6], &'static str),
    Text(String),
}

pub fn rows(cache: &Cache, now: SystemTime, json: bool) -> Vec<AccessLine> {
    let Ok(store) = cache.store(&session::store_name()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for id in store.ids().unwrap_or_default() {
        if id.starts_with("reg-") || id.ends_with("-failed") {
            continue;
        }
        let busy = store
            .lock(&id, Mode::Shared, Instant::now())
            .is_ok_and(|g| g.is_none());
        let state = store
            .read(&id)
            .and_then(|b| AccessSession::decode(&b, None));
        let line = match (state, json) {
            (Ok(s), true) => AccessLine::Text(
                serde_json::json!({
                    "id": id, "kind": "access-token", "profile": s.meta.profile,
                    "source": s.meta.source, "region": s.meta.idc_region,
                    "expiration": rfc3339(s.expires_at),
                    "refresh_token": s.refresh_token.is_some(), "busy": busy,
                })
                .to_string(),
            ),
            (Err(m), true) => AccessLine::Text(
                serde_json::json!({
                    "id": id, "kind": "access-token", "unusable": m.to_string(), "busy": busy,
                })
                .to_string(),
            ),
            (Ok(s), false) => AccessLine::Row(
                [
                    "access-token".to_owned(),
                    printable(&s.meta.source),
                    printable(&s.meta.idc_region),
                    printable(&s.meta.profile),
                    rfc3339(s.expires_at),
                    match s.expires_at.duration_since(now) {
                        Ok(d) => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
                        Err(_) if s.refresh_token.is_some() => "expired (renewable)".to_owned(),
                        Err(_) => "expired".to_owned(),
                    },
                ],
                if busy { " (signing in)" } else { "" },
            ),
            (Err(m), false) => AccessLine::Text(format!(
                "unusable access-token session {}: {m}",
                printable(&id)
            )),
        };
        out.push(line);
    }
    out
}
