//! The top level: parse the command line, run the command, map any error to its exit status
//! and print it (one line; the cause chain with `-v`).

use std::time::{Instant, SystemTime};

use clap::CommandFactory;
use tracing::warn;

use crate::cache::{self, Cache};
use crate::cli::{CacheCommand, CacheFilter, Cli, Command, GlobalArgs};
use crate::env::Env;
use crate::error::{Error, ExitCode};
use crate::fetch::AwsFetcher;
use crate::obtain::{Context, Obtained, obtain};
use crate::output::{self, Rendered, emit};
use crate::settings::{CacheMode, TokenRequest};
use crate::target::printable;
use crate::token::rfc3339;

/// Runs the program and returns its exit status.
pub fn main() -> u8 {
    let start = Instant::now();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The common token invocation skips clap (see fastpath.rs); everything else, errors
    // included, is clap's.
    let fast = crate::fastpath::parse(&args, std::env::var_os(crate::env::CACHE_DIR));
    let mut cli = match fast.map_or_else(|| Cli::parse_args(args), Ok) {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    crate::logging::init(cli.global.verbose);
    let env = Env::from_process();
    match run(cli.command.take(), &cli, &env, start) {
        Ok(code) => code,
        Err(e) => {
            report(&e, cli.global.verbose);
            e.exit_code() as u8
        }
    }
}

/// Help and version go to stdout with status 0; any other parse error is one line on stderr
/// (clap's first line names the value and the rule) with status 2.
fn clap_error(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ErrorKind::InvalidUtf8 => {
            let bad = std::env::args_os().find(|a| a.to_str().is_none());
            let shown = bad.map_or_else(String::new, |a| {
                format!(" '{}'", crate::target::printable(&a.to_string_lossy()))
            });
            eprintln!("error: argument{shown} is not valid UTF-8: arguments must be UTF-8 text");
            ExitCode::Usage as u8
        }
        _ => {
            eprintln!("{}", clap_error_line(e));
            ExitCode::Usage as u8
        }
    }
}

/// clap's first line, made safe: the user's values in the error are replaced by their
/// `printable` form (escaped, truncated) before clap renders it, so a value holding a newline,
/// an escape sequence or 100 KB cannot split, forge or flood the line.
fn clap_error_line(mut e: clap::Error) -> String {
    use clap::error::{ContextKind, ContextValue};
    for kind in [
        ContextKind::InvalidValue,
        ContextKind::InvalidArg,
        ContextKind::InvalidSubcommand,
    ] {
        if let Some(ContextValue::String(raw)) = e.get(kind) {
            let shown = ContextValue::String(crate::target::printable(raw));
            e.insert(kind, shown);
        }
    }
    // clap's message is its first paragraph: for a missing argument the first line only says
    // "the following required arguments were not provided:" and the next ones name them.
    let text = e.render().to_string();
    let paragraph: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
        .map(str::trim)
        .collect();
    let first = if paragraph.is_empty() {
        "error: invalid arguments".to_owned()
    } else {
        paragraph.join(" ")
    };
    crate::error::one_line(&first)
}

fn report(e: &Error, verbose: u8) {
    eprintln!("error: {e}");
    if verbose > 0 {
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            eprintln!("  caused by: {s}");
            source = s.source();
        }
    }
}

fn run(command: Option<Command>, cli: &Cli, env: &Env, start: Instant) -> Result<u8, Error> {
    match command {
        None => {
            let req = TokenRequest::from_args(&cli.token, env)?;
            let got = fetch_token(&req, &cli.global, env, start)?;
            let doc = output::render(
                cli.format,
                &Rendered {
                    token: &got.token,
                    targets: &req.targets,
                    source: got.source,
                    now: SystemTime::now(),
                },
            );
            emit(&doc)?;
            Ok(0)
        }
        Some(Command::Exec(args)) => {
            let req = TokenRequest::from_args(&args.token, env)?;
            let got = fetch_token(&req, &cli.global, env, start)?;
            crate::exec::run(&args.command, &got.token)
        }
        Some(Command::Doctor(args)) => crate::doctor::run(&args, &cli.global, env),
        Some(Command::Login(args)) => crate::signin::login(&args, &cli.global, env),
        Some(Command::Logout(args)) => crate::signin::logout(&args, &cli.global, env),
        Some(Command::Credentials(args)) => crate::signin::credentials(&args, &cli.global, env),
        Some(Command::Cache(c)) => cache_command(c, &cli.global),
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "redshift-idc-token", &mut out);
            emit(&out).map(|()| 0)
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .map_err(|source| Error::Output { source })?;
            emit(&out).map(|()| 0)
        }
    }
}

/// The token for `req`, through the cache unless it is off or unusable.
pub fn fetch_token(
    req: &TokenRequest,
    global: &GlobalArgs,
    env: &Env,
    start: Instant,
) -> Result<Obtained, Error> {
    let cache = match req.cache {
        CacheMode::Off => None,
        _ => open_cache(global),
    };
    // With sign-in configured, the token is fetched with the session's role credentials and
    // cached under the signed-in identity; `--timeout` then counts from the end of the
    // sign-in, which has its own bound (a person may be typing a password).
    let (fetcher, signed_in, start) = match &req.signin {
        None => (AwsFetcher::default(), None, start),
        Some(config) => {
            // The session lives in the cache even when --no-cache skips the token cache.
            let session_cache = cache.clone().or_else(|| open_cache(global));
            let signin = crate::signin::Signin {
                config,
                run_region: req.region.as_ref().map(|r| r.value.as_str()),
                call_timeout: req.timeout,
                env,
                files: &req.files,
            };
            // A token cached for the person the cached session names is served as it is,
            // whatever the session's own freshness (one file read more than a plain hit).
            if let Some(person) = signin.cached_identity(session_cache.as_ref()) {
                let ctx = Context {
                    env,
                    cache: cache.as_ref(),
                    fetcher: &AwsFetcher::default(),
                    clock: &SystemTime::now,
                    start,
                    signed_in: Some(&person),
                };
                if let Some(hit) = crate::obtain::cached_token(req, &ctx) {
                    return Ok(hit);
                }
            }
            let (session, _) =
                signin.session(session_cache.as_ref(), crate::signin::Want::Fresh)?;
            (
                AwsFetcher::with_credentials(session.credentials.to_sdk()),
                Some(session.identity()),
                Instant::now(),
            )
        }
    };
    obtain(
        req,
        &Context {
            env,
            cache: cache.as_ref(),
            fetcher: &fetcher,
            clock: &SystemTime::now,
            start,
            signed_in: signed_in.as_deref(),
        },
    )
}

/// Opens the cache, or warns and returns `None`: a cache problem never fails a token run.
pub(crate) fn open_cache(global: &GlobalArgs) -> Option<Cache> {
    let root = cache::default_root(global.cache_dir.as_deref());
    match root
        .ok_or(cache::Unavailable::NoDirectory)
        .and_then(Cache::open)
    {
        Ok(c) => Some(c),
        Err(e) => {
            warn!("{e}; continuing without the cache");
            None
        }
    }
}

fn cache_command(command: CacheCommand, global: &GlobalArgs) -> Result<u8, Error> {
    let root = cache::default_root(global.cache_dir.as_deref())
        .ok_or_else(|| Error::Usage(cache::Unavailable::NoDirectory.to_string()))?;
    if let CacheCommand::Path = command {
        let mut line = root.display().to_string();
        line.push('\n');
        emit(line.as_bytes())?;
        return Ok(0);
    }
    let cache = Cache::open(root.clone()).map_err(|e| Error::Usage(e.to_string()))?;
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
            out.push_str(&crate::signin::list_sessions(&cache, now, json));
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
