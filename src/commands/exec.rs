//! `exec`: run a command with the token in its environment.
//!
//! The token goes into environment variables, never into argv (which every user on the
//! machine can read in `ps`). On Unix the program replaces itself with the command (execvp),
//! so stdin, stdout, stderr, signals and the exit status are the command's own, with no
//! forwarding layer that could lose a signal.

use std::ffi::OsString;
use std::process::Command;

use crate::cli::{ExecArgs, GlobalArgs};
use crate::env::Env;
use crate::error::Error;
use crate::output::{ENV_EXPIRATION, ENV_TOKEN, ENV_TOKEN_TYPE};
use crate::settings::TokenRequest;
use crate::token::{AuthToken, rfc3339};

/// `exec`: the token as `token` would get it, then the command with it.
pub fn run(
    args: &ExecArgs,
    global: &GlobalArgs,
    env: &Env,
    start: std::time::Instant,
) -> Result<u8, Error> {
    let req = TokenRequest::from_args(&args.token, env)?;
    let got = crate::serve::token(&req, global.cache_dir.as_deref(), env, start)?;
    exec_with(&args.command, &got.token)
}

/// Runs `command` with the token's variables set; returns only if it could not be started
/// (or, off Unix, with the command's exit status).
fn exec_with(command: &[OsString], token: &AuthToken) -> Result<u8, Error> {
    let (program, args) = command.split_first().ok_or_else(|| Error::MissingSetting {
        what: "exec needs a command".into(),
        fix: "give it after --, e.g. `redshift-idc-token exec --cluster c -- psql`".into(),
    })?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env(ENV_TOKEN, token.token.expose())
        .env(ENV_TOKEN_TYPE, token.kind.name());
    match token.expiration {
        Some(e) => cmd.env(ENV_EXPIRATION, rfc3339(e)),
        None => cmd.env_remove(ENV_EXPIRATION),
    };
    let name = program.to_string_lossy().into_owned();
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let source = cmd.exec();
        Err(Error::Exec {
            command: crate::target::printable(&name),
            source,
        })
    }
    #[cfg(not(unix))]
    {
        let status = cmd.status().map_err(|source| Error::Exec {
            command: crate::target::printable(&name),
            source,
        })?;
        Ok(status.code().map_or(1, |c| c.clamp(0, 255) as u8))
    }
}
