//! The JWT of the `jwt` sign-in kind (from a command, a file or an environment variable), and
//! the few claims this program reads from JWTs and ID tokens without verifying them.
//!
//! Reading claims unverified is safe here: nothing is authorized on them. sso-oidc verifies
//! the JWT; we only use `iss`/`sub` to tell people apart in cache keys and `doctor`, and the
//! ID token's `sub` (issued to us by sso-oidc over TLS) as the signed-in user's name.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::SigninError;
use crate::env::Env;
use crate::error::Error;
use crate::small_file::{self, Contents, Rules};
use crate::token::{MAX_TOKEN_LEN, Secret};

/// How a JWT file and a JWT command's output are read: no more than a JWT can be (a little
/// more, for the line end and blanks trimmed after), a FIFO's writer waited for until the
/// deadline, and a character device (`/dev/stdin`) read like a pipe.
const RULES: Rules = Rules {
    max_bytes: MAX_TOKEN_LEN as u64 + 1024,
    too_large: TOO_LONG,
    wait_for_writer: true,
    devices: true,
};
const TOO_LONG: &str = "longer than 64 KiB, the limit of a JWT";

/// Where the JWT comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwtSource {
    /// A shell command (`sh -c`) whose standard output is the JWT.
    Command(String),
    File(PathBuf),
    /// The name of an environment variable holding the JWT.
    Env(String),
}

impl JwtSource {
    pub fn describe(&self) -> String {
        match self {
            JwtSource::Command(c) => format!("the command `{}`", crate::target::printable(c)),
            JwtSource::File(p) => format!("the file {}", p.display()),
            JwtSource::Env(v) => format!("the environment variable {v}"),
        }
    }

    /// Reads the JWT now (running the command, bounded by `deadline`).
    pub fn read(&self, env: &Env, deadline: Instant) -> Result<Secret, Error> {
        let raw = match self {
            JwtSource::Command(c) => run_command(c, deadline)?,
            JwtSource::File(path) => read_file(path, deadline)?,
            JwtSource::Env(var) => Secret::new(
                env.get(var)
                    .ok_or_else(|| SigninError::JwtMissing { var: var.clone() })?
                    .to_owned(),
            ),
        };
        let jwt = Secret::new(raw.expose().trim().to_owned());
        check_shape(jwt.expose()).map_err(|problem| SigninError::BadJwt {
            from: self.describe(),
            problem,
        })?;
        Ok(jwt)
    }

    /// Who the JWT names, when it can be read without side effects (file, variable): the
    /// `iss` and `sub` claims, for the session's cache key. A command is not run for this.
    pub fn subject_hint(&self, env: &Env) -> Option<String> {
        let jwt = match self {
            JwtSource::Command(_) => return None,
            // Only a regular file, told by `stat` without opening it: a pipe (`<(...)`) would
            // be used up before the sign-in reads it, and even opening a FIFO lets its writer's
            // `open` return, only to find no reader when it writes.
            JwtSource::File(p) => {
                if !std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
                    return None;
                }
                let file = small_file::open(p).ok()?;
                let bytes = small_file::read_open(file, Instant::now(), &RULES).bytes()?;
                String::from_utf8(bytes.to_vec()).ok()?
            }
            JwtSource::Env(v) => env.get(v)?.to_owned(),
        };
        person_of(&jwt)
    }
}

/// Who a JWT names: its `iss` and `sub` claims, read without verifying (see the module
/// comment for why that is safe); `None` when it has no readable payload.
pub fn person_of(jwt: &str) -> Option<String> {
    let c = claims(jwt.trim())?;
    let s = |k: &str| c.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    Some(format!("{}\0{}", s("iss"), s("sub")))
}

/// The seconds from now to `deadline`, rounded: the `--timeout` the caller gave, for messages.
fn seconds_left(deadline: Instant) -> u64 {
    (deadline
        .saturating_duration_since(Instant::now())
        .as_millis() as u64
        + 500)
        / 1000
}

/// Reads a JWT file with [`small_file`]: once (a pipe such as `<(...)` cannot be read
/// twice), bounded by `deadline` and the size of a JWT.
fn read_file(path: &Path, deadline: Instant) -> Result<Secret, Error> {
    let seconds = seconds_left(deadline);
    let fail = |source: std::io::Error| SigninError::JwtFile {
        path: path.to_owned(),
        source,
    };
    let file = small_file::open(path).map_err(fail)?;
    let problem = match small_file::read_open(file, deadline, &RULES) {
        Contents::Bytes(b) => return Ok(Secret::new(String::from_utf8_lossy(&b).into_owned())),
        Contents::Missing => "it does not exist".to_owned(),
        Contents::Unusable("not a regular file") => {
            "it is not a regular file, a pipe or a device".to_owned()
        }
        Contents::Unusable(why) if why.starts_with("cannot") => format!("it {why}"),
        Contents::Unusable(why) => format!("it is {why}"),
        Contents::TimedOut => {
            return Err(SigninError::JwtTimedOut {
                what: format!(
                    "the JWT file {} (a pipe or device) was not written and closed",
                    path.display()
                ),
                seconds,
                hint: "check what writes it, or raise --timeout (redshift_idc_jwt_file / --jwt-file)",
            }
            .into());
        }
    };
    Err(fail(std::io::Error::other(problem)).into())
}

/// Runs the JWT command with `sh -c`; its standard output, read until end of file, is the JWT.
///
/// Everything is bounded: the output by the size of a JWT and the whole by `deadline`. At
/// either limit the command, its children and any process still holding its output (a
/// background child that outlived it) are killed, so nothing it started outlives the wait.
fn run_command(command: &str, deadline: Instant) -> Result<Secret, Error> {
    let seconds = seconds_left(deadline);
    let shown = crate::target::printable(command);
    let fail = |detail: String| SigninError::JwtCommand {
        command: shown.clone(),
        detail,
    };
    let too_slow = || SigninError::JwtTimedOut {
        what: format!("the JWT command `{shown}` did not finish"),
        seconds,
        hint: "make it answer sooner, or raise --timeout (redshift_idc_jwt_command / --jwt-command)",
    };
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| fail(format!("cannot start sh: {e}")))?;
    let stdout = std::fs::File::from(std::os::fd::OwnedFd::from(
        child.stdout.take().expect("stdout is piped"),
    ));
    // Keeps our end open while the holders are found: the pipe is how they are recognized.
    let ours = stdout.try_clone().ok();
    // Ends the command, its children and the holders of its output; how many holders.
    let end = |child: &mut std::process::Child| {
        crate::children::kill_tree(child.id());
        let holders = ours.as_ref().map_or(0, crate::children::kill_pipe_holders);
        let _ = child.wait();
        holders
    };
    let out = match small_file::drain(stdout, deadline, &RULES) {
        Contents::Bytes(b) => Secret::new(String::from_utf8_lossy(&b).into_owned()),
        Contents::Unusable(why) => {
            end(&mut child);
            let detail = if why == TOO_LONG {
                format!("its output was {why}")
            } else {
                format!("its output {why}")
            };
            return Err(fail(detail).into());
        }
        Contents::TimedOut | Contents::Missing => {
            let exited = matches!(child.try_wait(), Ok(Some(_)));
            let holders = end(&mut child);
            if !exited {
                return Err(too_slow().into());
            }
            let ended = if holders > 0 { "; it was ended" } else { "" };
            return Err(fail(format!(
                "it exited, but a process it started in the background kept its output open past {seconds} s (--timeout){ended} (send a background process's output elsewhere, e.g. `>/dev/null`)"
            ))
            .into());
        }
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= deadline => {
                end(&mut child);
                return Err(too_slow().into());
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => return Err(fail(e.to_string()).into()),
        }
    };
    if !status.success() {
        return Err(fail(format!("it exited with {status}")).into());
    }
    if out.expose().trim().is_empty() {
        return Err(fail("it printed nothing".into()).into());
    }
    Ok(out)
}

/// Three base64url segments, a JSON header and payload, a sane length: what sso-oidc could
/// possibly accept. Catches a command that prints a message instead of the token.
fn check_shape(jwt: &str) -> Result<(), &'static str> {
    if jwt.is_empty() {
        return Err("it is empty");
    }
    if jwt.len() > MAX_TOKEN_LEN {
        return Err("it is longer than 64 KiB, the limit of a JWT");
    }
    if jwt.split('.').count() != 3 {
        return Err("it does not have three dot-separated parts");
    }
    if claims(jwt).is_none() {
        return Err("its payload is not base64url-encoded JSON");
    }
    Ok(())
}

#[cfg(test)]
pub(crate) use crate::jwt_claims::claim;
pub use crate::jwt_claims::claims;
#[cfg(test)]
pub(crate) use crate::jwt_claims::make;

#[cfg(test)]
mod tests {
    use super::*;

    fn far() -> Instant {
        Instant::now() + Duration::from_secs(10)
    }

    #[test]
    fn sources_and_their_failures() {
        let jwt = make(&serde_json::json!({"iss": "https://idp", "sub": "ann"}));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jwt");
        std::fs::write(&file, format!("{jwt}\n")).unwrap();
        let env = Env::from_pairs([("J", jwt.as_str())]);
        for src in [
            JwtSource::File(file.clone()),
            JwtSource::Env("J".into()),
            JwtSource::Command(format!("printf '%s\\n' '{jwt}'")),
        ] {
            assert_eq!(src.read(&env, far()).unwrap().expose(), jwt, "{src:?}");
        }
        assert_eq!(
            JwtSource::File(file).subject_hint(&env).unwrap(),
            "https://idp\0ann"
        );
        let e = |src: JwtSource| src.read(&env, far()).unwrap_err().to_string();
        assert!(
            e(JwtSource::Env("NOPE".into())).contains("no JWT in the environment variable NOPE")
        );
        assert!(e(JwtSource::Command("exit 3".into())).contains("exited with exit status: 3"));
        assert!(e(JwtSource::Command("true".into())).contains("printed nothing"));
        assert!(
            e(JwtSource::Command("echo please log in".into()))
                .contains("is not a JWT: it does not have three dot-separated parts")
        );
        let slow = Instant::now() + Duration::from_millis(200);
        let err = JwtSource::Command("sleep 5".into())
            .read(&env, slow)
            .unwrap_err();
        assert!(err.to_string().contains("did not finish"), "{err}");
        assert!(e(JwtSource::File("/nonexistent/jwt".into())).contains("cannot read the JWT file"));
    }

    #[test]
    fn claims_are_read_leniently() {
        let jwt = make(&serde_json::json!({"sub": "u-1", "sts:identity_context": "ctx"}));
        assert_eq!(claim(&jwt, "sub").unwrap(), "u-1");
        assert_eq!(claim(&jwt, "sts:identity_context").unwrap(), "ctx");
        assert_eq!(claim("a.b.c", "sub"), None);
        assert_eq!(claim("nodots", "sub"), None);
    }
}
