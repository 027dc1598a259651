//! The token command (no subcommand): print the token for the targets in the chosen format.

use std::time::{Instant, SystemTime};

use crate::cli::Cli;
use crate::env::Env;
use crate::error::Error;
use crate::output::{self, Rendered, emit};
use crate::settings::TokenRequest;

pub fn run(cli: &Cli, env: &Env, start: Instant) -> Result<u8, Error> {
    let req = TokenRequest::from_args(&cli.token, env)?;
    let got = crate::serve::token(&req, cli.global.cache_dir.as_deref(), env, start)?;
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
