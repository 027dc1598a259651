//! `completions` and `man`: the command line described for shells and `man`, from clap's
//! own definitions, so they can never disagree with what the program accepts.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Error;
use crate::output::emit;

pub fn completions(shell: clap_complete::Shell) -> Result<u8, Error> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "redshift-idc-token", &mut out);
    emit(&out).map(|()| 0)
}

pub fn man() -> Result<u8, Error> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut out)
        .map_err(|source| Error::Output { source })?;
    emit(&out).map(|()| 0)
}
