//! `login`: signs the person in now (or reuses a fresh session) and says who on stderr;
//! stdout stays empty, so a script can run it before anything else.

use std::io::Write as _;

use crate::cli::{GlobalArgs, LoginArgs};
use crate::env::Env;
use crate::error::Error;
use crate::settings::{AccessRequest, SessionRequest};
use crate::signin::{Origin, Want};
use crate::token::rfc3339;

/// `login`: signs in now (or reuses a fresh session), says who on stderr; stdout stays empty.
pub fn run(args: &LoginArgs, global: &GlobalArgs, env: &Env) -> Result<u8, Error> {
    let cache = crate::cache::open_or_warn(global.cache_dir.as_deref());
    let want = if args.force {
        Want::NewSignIn
    } else {
        Want::Fresh
    };
    if let Some(r) = AccessRequest::from_args(&args.session, env)? {
        let (s, origin) = r.access(env).token(cache.as_ref(), want)?;
        let how = match origin {
            Origin::Cache => "already signed in",
            Origin::Refreshed => "signed in (access token renewed)",
            Origin::SignedIn => "signed in",
        };
        let _ = writeln!(
            std::io::stderr(),
            "{how}: Identity Center access token until {}{}",
            rfc3339(s.expires_at),
            if s.refresh_token.is_some() {
                ", renewed automatically"
            } else {
                ""
            }
        );
        return Ok(0);
    }
    let r = SessionRequest::from_args(&args.session, env)?;
    let (s, origin) = r.signin(env).session(cache.as_ref(), want)?;
    let how = match origin {
        Origin::Cache => "already signed in",
        Origin::Refreshed => "signed in (session renewed)",
        Origin::SignedIn => "signed in",
    };
    // The person's answer goes to stderr; if that cannot be written the login still happened.
    let _ = writeln!(
        std::io::stderr(),
        "{how} as {} (role credentials until {}{})",
        s.user,
        rfc3339(s.credentials.expiration),
        if s.refresh_token.is_some() {
            ", renewed automatically"
        } else {
            ""
        }
    );
    Ok(0)
}
