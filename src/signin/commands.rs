//! `login`, `logout` and `credentials`, and the sign-in status `doctor` shows.
//!
//! `credentials` prints the role credentials in the `credential_process` format
//! (<https://docs.aws.amazon.com/sdkref/latest/guide/feature-process-credentials.html>), so the
//! AWS CLI, boto3 and the drivers' own identity-enhanced mode can use the same session.

use std::time::{Duration, Instant, SystemTime};

use super::flow::{self, Want};
use super::session::{self, Session};
use super::{Signin, SigninConfig};
use crate::cache::{Cache, Fingerprint, Mode};
use crate::cli::{GlobalArgs, LoginArgs, LogoutArgs, SessionArgs};
use crate::env::Env;
use crate::error::Error;
use crate::output::emit;
use crate::token::rfc3339;

/// The profile, region and sign-in settings of a session command.
struct Resolved {
    config: SigninConfig,
    region: Option<String>,
    timeout: Duration,
    files: crate::shared_config::SharedConfig,
}

fn resolve(args: &SessionArgs, env: &Env) -> Result<Resolved, Error> {
    use crate::settings::{chosen_profile, offline_region};
    let profile = chosen_profile(args.profile.as_deref(), env)?
        .map_or_else(|| "default".to_owned(), |p| p.value);
    let timeout = Duration::from_secs(args.timeout);
    // The shared files are read once for the run, as for a token (see `shared_config`).
    let files = crate::shared_config::SharedConfig::load(env, timeout)?;
    let config = SigninConfig::resolve(&args.signin, &profile, env, &files)?.ok_or_else(|| {
        Error::Usage(format!(
            "sign-in is not configured for the profile {}: set redshift_idc_application_arn and redshift_idc_role_arn in it (see plugin-config/aws/), or pass --application-arn and --role-arn",
            crate::target::printable(&profile)
        ))
    })?;
    let region = offline_region(args.region.clone(), None, &profile, env, &files)?.map(|r| r.value);
    Ok(Resolved {
        config,
        region,
        timeout,
        files,
    })
}

fn open_cache(global: &GlobalArgs) -> Option<Cache> {
    crate::app::open_cache(global)
}

fn signin<'a>(r: &'a Resolved, env: &'a Env) -> Signin<'a> {
    Signin {
        config: &r.config,
        run_region: r.region.as_deref(),
        call_timeout: r.timeout,
        env,
        files: &r.files,
    }
}

/// `login`: signs in now (or reuses a fresh session), says who on stderr; stdout stays empty.
pub fn login(args: &LoginArgs, global: &GlobalArgs, env: &Env) -> Result<u8, Error> {
    let r = resolve(&args.session, env)?;
    let cache = open_cache(global);
    let want = if args.force {
        Want::NewSignIn
    } else {
        Want::Fresh
    };
    let (s, origin) = signin(&r, env).session(cache.as_ref(), want)?;
    let how = match origin {
        flow::Origin::Cache => "already signed in",
        flow::Origin::Refreshed => "signed in (session renewed)",
        flow::Origin::SignedIn => "signed in",
    };
    eprintln!(
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

/// `credentials`: the credential_process document on stdout.
pub fn credentials(args: &SessionArgs, global: &GlobalArgs, env: &Env) -> Result<u8, Error> {
    let r = resolve(args, env)?;
    let cache = open_cache(global);
    let (s, _) = signin(&r, env).session(cache.as_ref(), Want::Fresh)?;
    let mut doc = process_credentials(&s).to_string();
    doc.push('\n');
    // The document holds the secret key: built and written once, the String zeroized after.
    let doc = zeroize::Zeroizing::new(doc);
    emit(doc.as_bytes())?;
    Ok(0)
}

/// The `credential_process` JSON (Version 1) for a session.
pub fn process_credentials(s: &Session) -> serde_json::Value {
    let c = &s.credentials;
    serde_json::json!({
        "Version": 1,
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key.expose(),
        "SessionToken": c.session_token.expose(),
        "Expiration": rfc3339(c.expiration),
    })
}

/// `logout`: removes the session (or all of them) and the tokens cached with it.
pub fn logout(args: &LogoutArgs, global: &GlobalArgs, env: &Env) -> Result<u8, Error> {
    let root = crate::cache::default_root(global.cache_dir.as_deref())
        .ok_or_else(|| Error::Usage(crate::cache::Unavailable::NoDirectory.to_string()))?;
    let cache = Cache::open(root.clone()).map_err(|e| Error::Usage(e.to_string()))?;
    let store = cache
        .store(session::STORE)
        .map_err(|e| Error::Usage(e.to_string()))?;
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
        let files = crate::shared_config::SharedConfig::load(env, Duration::from_secs(30))?;
        let chain = Fingerprint::of(env, &files, &profile, deadline);
        (store.ids().map_err(io_err)?, chain)
    } else {
        let r = resolve(&args.session, env)?;
        let s = signin(&r, env);
        let idc_region = s.idc_region()?;
        let plan = flow::Plan {
            config: &r.config,
            idc_region: &idc_region,
            authorize_endpoint: "",
            call_timeout: r.timeout,
            files: &r.files,
        };
        let chain = Fingerprint::of(env, &r.files, &r.config.profile, deadline);
        (vec![plan.key(env).id], chain)
    };
    let (mut sessions, mut tokens) = (0, 0);
    for id in ids {
        let Some(guard) = store.lock(&id, Mode::Exclusive, deadline).map_err(io_err)? else {
            return Err(Error::Usage(format!(
                "the sign-in session {id} stayed locked by another process (a sign-in in progress?); retry"
            )));
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

/// What `doctor` says about sign-in: nothing when it is not configured; else who is signed
/// in and until when, read from the cache without signing in.
pub struct Status {
    pub config: SigninConfig,
    pub idc_region: Option<String>,
    pub session: Option<Session>,
}

pub fn status(
    config: &SigninConfig,
    run_region: Option<&str>,
    cache: Option<&Cache>,
    env: &Env,
    files: &crate::shared_config::SharedConfig,
) -> Status {
    let idc_region = config
        .idc_region
        .clone()
        .or_else(|| run_region.map(str::to_owned));
    let session = idc_region.as_ref().and_then(|region| {
        let store = cache?.store(session::STORE).ok()?;
        let plan = flow::Plan {
            config,
            idc_region: region,
            authorize_endpoint: "",
            call_timeout: Duration::from_secs(1),
            files,
        };
        flow::cached(Some(&store), &plan.key(env), SystemTime::now()).ok()
    });
    Status {
        config: config.clone(),
        idc_region,
        session,
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
