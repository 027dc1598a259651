//! The access-token sessions for `cache list`: profile, source, region, until when, and
//! whether a refresh token renews it; never a token, refresh token or client secret. What is
//! read from disk is escaped, as for every row.

use std::time::{Instant, SystemTime};

use super::session::{self, AccessSession};
use crate::cache::{Cache, Mode};
use crate::target::printable;
use crate::token::rfc3339;

pub fn rows(cache: &Cache, now: SystemTime, json: bool) -> String {
    let Ok(store) = cache.store(&session::store_name()) else {
        return String::new();
    };
    let mut out = String::new();
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
            (Ok(s), true) => serde_json::json!({
                "id": id, "kind": "access-token", "profile": s.meta.profile,
                "source": s.meta.source, "region": s.meta.idc_region,
                "expiration": rfc3339(s.expires_at),
                "refresh_token": s.refresh_token.is_some(), "busy": busy,
            })
            .to_string(),
            (Err(m), true) => serde_json::json!({
                "id": id, "kind": "access-token", "unusable": m.to_string(), "busy": busy,
            })
            .to_string(),
            (Ok(s), false) => format!(
                "{:<20} {:<22} {:<15} {:<15} {:<21} {}{}",
                "access-token",
                printable(&s.meta.source),
                printable(&s.meta.idc_region),
                printable(&s.meta.profile),
                rfc3339(s.expires_at),
                match s.expires_at.duration_since(now) {
                    Ok(d) => format!("{}m{:02}s", d.as_secs() / 60, d.as_secs() % 60),
                    Err(_) if s.refresh_token.is_some() => "expired (renewable)".to_owned(),
                    Err(_) => "expired".to_owned(),
                },
                if busy { " (signing in)" } else { "" }
            ),
            (Err(m), false) => format!(
                "{:<20} unusable access-token session {}: {m}",
                "-",
                printable(&id)
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}
