//! The exit statuses: one table, from which the help text and the README's table come, and
//! against which `plugin-config/exit-codes.json` (read by the JDBC wrapper's and the Python
//! provider's tests) is checked, so no copy can drift.

/// Documented, stable exit statuses (see the README's "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    Success = 0,
    /// A bug or an unexpected local failure (I/O on stdout, a runtime that cannot start).
    Internal = 1,
    /// Bad arguments, invalid targets, no region: fix the command line or configuration.
    Usage = 2,
    /// No usable AWS credentials: missing, expired, or rejected by AWS.
    Credentials = 3,
    /// AWS refused this identity or these targets: permissions, identity-enhanced credentials,
    /// unknown or unavailable cluster/workgroup.
    Denied = 4,
    /// Throttling, a service-side failure, a bad reply, the network, or the time limit:
    /// retrying later may work.
    Transient = 5,
    /// Sign-in needed or not completed: not signed in with --no-browser, the session ended,
    /// the browser sign-in was refused or timed out. Run `redshift-idc-token login`.
    SignIn = 6,
    /// The IAM Identity Center setup does not allow this sign-in (a scope the application
    /// does not grant, an unknown issuer URL or client): the administrator or the profile
    /// must change; signing in again does not help.
    Setup = 7,
    /// `exec`: the command exists but could not be run (as in POSIX shells).
    CannotExecute = 126,
    /// `exec`: the command was not found (as in POSIX shells).
    CommandNotFound = 127,
}

impl ExitCode {
    /// Every status, in the order the documents list them.
    pub const ALL: [ExitCode; 10] = [
        ExitCode::Success,
        ExitCode::Internal,
        ExitCode::Usage,
        ExitCode::Credentials,
        ExitCode::Denied,
        ExitCode::Transient,
        ExitCode::SignIn,
        ExitCode::Setup,
        ExitCode::CannotExecute,
        ExitCode::CommandNotFound,
    ];

    /// The stable name the drivers' wrappers and scripts use.
    pub fn name(self) -> &'static str {
        match self {
            ExitCode::Success => "success",
            ExitCode::Internal => "internal",
            ExitCode::Usage => "usage",
            ExitCode::Credentials => "credentials",
            ExitCode::Denied => "denied",
            ExitCode::Transient => "transient",
            ExitCode::SignIn => "sign_in",
            ExitCode::Setup => "setup",
            ExitCode::CannotExecute => "cannot_execute",
            ExitCode::CommandNotFound => "command_not_found",
        }
    }

    /// What the status means and what to do, in one sentence.
    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "the token was printed, or the command did what it was asked",
            ExitCode::Internal => {
                "a bug or an unexpected local failure (stdout unwritable, the runtime could not start): report it"
            }
            ExitCode::Usage => {
                "bad arguments, settings or configuration (an invalid target, no region, a bad profile key): fix them"
            }
            ExitCode::Credentials => {
                "no usable AWS credentials: missing, expired or rejected; refresh them and retry"
            }
            ExitCode::Denied => {
                "AWS refused this identity or these targets: permissions, credentials that are not identity-enhanced, an unknown or unavailable cluster or workgroup"
            }
            ExitCode::Transient => {
                "throttling, a service failure, an unusable reply, the network or the time limit: retrying later may work"
            }
            ExitCode::SignIn => {
                "a sign-in is needed or did not complete (not signed in under --no-browser, the session ended, the sign-in was refused or timed out): run `redshift-idc-token login`"
            }
            ExitCode::Setup => {
                "the IAM Identity Center setup does not allow this sign-in (a scope the application does not grant, an unknown issuer URL or client): the administrator or the profile must change"
            }
            ExitCode::CannotExecute => {
                "exec: the command exists but could not be run (as in POSIX shells)"
            }
            ExitCode::CommandNotFound => "exec: the command was not found (as in POSIX shells)",
        }
    }

    /// The table for `--help`.
    pub fn help_text() -> String {
        let mut out = String::from("Exit codes:\n");
        for c in Self::ALL {
            out.push_str(&format!(
                "  {:>3}  {}: {}\n",
                c as u8,
                c.name(),
                c.meaning()
            ));
        }
        out.trim_end().to_owned()
    }

    /// The README's table (a test checks the README holds exactly this).
    pub fn markdown_table() -> String {
        let mut out = String::from("| code | name | meaning |\n| --- | --- | --- |\n");
        for c in Self::ALL {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                c as u8,
                c.name(),
                c.meaning()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCode;

    /// `plugin-config/exit-codes.json` is what the JDBC wrapper's and the Python provider's
    /// tests read: it must say exactly what the program does.
    #[test]
    fn the_shared_table_is_this_table() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../../plugin-config/exit-codes.json")).unwrap();
        let rows: Vec<(u64, String, String)> = doc["exit_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["code"].as_u64().unwrap(),
                    r["name"].as_str().unwrap().to_owned(),
                    r["meaning"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let ours: Vec<(u64, String, String)> = ExitCode::ALL
            .iter()
            .map(|c| (*c as u64, c.name().to_owned(), c.meaning().to_owned()))
            .collect();
        assert_eq!(rows, ours);
    }

    #[test]
    fn the_readme_shows_this_table() {
        let readme = include_str!("../../README.md");
        assert!(
            readme.contains(&ExitCode::markdown_table()),
            "README.md's exit-code table differs from ExitCode::ALL; paste:\n{}",
            ExitCode::markdown_table()
        );
    }

    #[test]
    fn every_status_is_listed_once() {
        let mut codes: Vec<u8> = ExitCode::ALL.iter().map(|c| *c as u8).collect();
        codes.dedup();
        assert_eq!(codes.len(), ExitCode::ALL.len());
        assert!(ExitCode::help_text().contains("7  setup:"));
    }
}
