//! The top level: parse the command line, dispatch the command (`commands`), map any error
//! to its exit status and print it (one line; the cause chain with `-v`).

use std::time::Instant;

use crate::cli::Cli;
use crate::env::Env;
use crate::error::{Error, ExitCode};

/// Runs the program and returns its exit status.
pub fn main() -> u8 {
    let start = Instant::now();
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The common token invocation skips clap (see fastpath.rs); everything else, errors
    // included, is clap's.
    let fast = crate::cli::fastpath::parse(&args, std::env::var_os(crate::env::CACHE_DIR));
    let mut cli = match fast.map_or_else(|| Cli::parse_args(args), Ok) {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    crate::logging::init(cli.global.verbose);
    let env = Env::from_process();
    match crate::commands::dispatch(cli.command.take(), &cli, &env, start) {
        Ok(code) => code,
        Err(e) => {
            report(&e);
            e.exit_code() as u8
        }
    }
}

/// Help and version go to stdout with status 0; any other parse error is one line on stderr
/// (clap's first line names the value and the rule) with status 2.
fn clap_error(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    match e.kind() {
        // Help and version are the document on stdout: if it cannot be written, say so
        // (exit 1, as for a token), never exit 0 with nothing written.
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            match crate::output::emit(e.render().to_string().as_bytes()) {
                Ok(()) => 0,
                Err(err) => {
                    report(&err);
                    err.exit_code() as u8
                }
            }
        }
        ErrorKind::InvalidUtf8 => {
            let bad = std::env::args_os().find(|a| a.to_str().is_none());
            let shown = bad.map_or_else(String::new, |a| {
                format!(" '{}'", crate::target::printable(&a.to_string_lossy()))
            });
            say(format_args!(
                "error: argument{shown} is not valid UTF-8: arguments must be UTF-8 text"
            ));
            ExitCode::Usage as u8
        }
        _ => {
            say(format_args!("{}", clap_error_line(e)));
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

fn report(e: &Error) {
    say(format_args!("error: {}", e.line()));
}

/// One line on stderr. A stderr that cannot be written (closed, `/dev/full`) must not change
/// the documented exit status: `eprintln!` would panic, and the status would become 101.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "{line}");
}
