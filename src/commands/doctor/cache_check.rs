//! The `cache` step: whether a token run could use the token cache, and what is in it.
//!
//! Why it exists: an unusable cache never fails a run (it goes on uncached), so a directory
//! that is missing, not private or unreadable would otherwise only show as every run making
//! a fresh call; this step says which, and how to fix it.

use super::Inputs;
use super::report::{Status, Step};
use crate::cache::{self, Cache};

pub(super) fn cache_step(inp: &Inputs<'_>) -> Step {
    let Some(root) = cache::default_root(inp.cache_dir) else {
        return Step::new("cache", Status::Warn, cache::Unavailable::NoDirectory.to_string())
            .fix("pass --cache-dir or set REDSHIFT_IDC_TOKEN_CACHE_DIR; runs go on without the cache meanwhile");
    };
    let shown = root.display().to_string();
    let cache = match Cache::open(root) {
        Ok(c) => c,
        Err(e) => {
            return Step::new("cache", Status::Warn, format!("{e}; runs go on without the cache"))
                .detail("directory", shown)
                .fix("make the directory yours and private (chmod 700), or choose another with --cache-dir");
        }
    };
    let now = (inp.clock)();
    match cache.list(now) {
        Ok(rows) => {
            let total = rows.len();
            let fresh = rows
                .iter()
                .filter(|r| r.state.as_ref().is_ok_and(|e| !e.remaining(now).is_zero()))
                .count();
            let unusable = rows.iter().filter(|r| r.state.is_err()).count();
            Step::new(
                "cache",
                Status::Ok,
                format!(
                    "{shown}: private, {total} entr{} ({fresh} unexpired{})",
                    if total == 1 { "y" } else { "ies" },
                    if unusable > 0 {
                        format!(", {unusable} unusable")
                    } else {
                        String::new()
                    }
                ),
            )
            .detail("directory", shown)
            .detail("entries", total)
            .detail("unexpired", fresh)
            .detail("unusable", unusable)
        }
        Err(e) => Step::new("cache", Status::Warn, format!("cannot list {shown}: {e}"))
            .detail("directory", shown),
    }
}
