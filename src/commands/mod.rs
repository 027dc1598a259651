//! The top floor: one thin file per command. Each turns its arguments into validated settings
//! (`settings`), asks the policy (`serve`, `signin`) and writes the result (`output`); none
//! decides which token to serve or talks to AWS itself.

pub mod access_logout;
pub mod cache;
pub mod credentials;
pub mod doctor;
pub mod exec;
pub mod help;
pub mod login;
pub mod logout;
pub mod token;

use std::time::Instant;

use crate::cli::{Cli, Command};
use crate::env::Env;
use crate::error::Error;

/// Runs the command `cli` names and returns its exit status.
pub fn dispatch(
    command: Option<Command>,
    cli: &Cli,
    env: &Env,
    start: Instant,
) -> Result<u8, Error> {
    let global = &cli.global;
    match command {
        None => token::run(cli, env, start),
        Some(Command::Exec(args)) => exec::run(&args, global, env, start),
        Some(Command::Doctor(args)) => doctor::run(&args, global, env),
        Some(Command::Login(args)) => login::run(&args, global, env),
        Some(Command::Logout(args)) => logout::run(&args, global, env),
        Some(Command::Credentials(args)) => credentials::run(&args, global, env),
        Some(Command::Cache(c)) => cache::run(c, global),
        Some(Command::Completions { shell }) => help::completions(shell),
        Some(Command::Man) => help::man(),
    }
}
