//! Showing the person the sign-in page: the browser opener, a delegate behind a trait.
//!
//! The hook (`REDSHIFT_IDC_TOKEN_BROWSER` / `redshift_idc_browser`) is a command line the URL
//! is appended to, split on whitespace and run without a shell, so nothing in the URL is ever
//! interpreted; `none` means "only print the URL". That hook is what lets a test drive a real
//! headless Chromium, and a server without a desktop still gets a URL to open elsewhere.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tracing::{info, warn};

/// How long the opener's exit status is waited for (alongside the listener): `xdg-open`
/// fails within moments when there is no display; one still running then may be the browser
/// itself, or an opener that hangs, so the URL is printed in case no window opened.
pub const OPENER_WAIT: Duration = Duration::from_secs(3);

/// Presents a URL to the person.
pub trait OpenUrl {
    /// Starts opening `url`, without waiting for the opener.
    fn open(&self, url: &str) -> Opening;
}

/// How far opening the browser got.
#[derive(Debug)]
pub enum Opening {
    /// The browser opened (the opener exited successfully).
    Opened,
    /// No browser: the reason, or `None` when none was wanted (`none`).
    Failed(Option<String>),
    /// The opener runs; its exit status will tell.
    Running { child: Child, program: String },
}

/// The real opener: the hook, or the platform's default URL opener.
#[derive(Debug, Clone)]
pub struct BrowserCommand {
    pub hook: Option<String>,
}

impl BrowserCommand {
    fn command_line(&self) -> Option<Vec<String>> {
        match self.hook.as_deref().map(str::trim) {
            Some(h) if h.eq_ignore_ascii_case("none") => None,
            Some(h) if !h.is_empty() => Some(h.split_whitespace().map(str::to_owned).collect()),
            _ => Some(vec![default_opener().to_owned()]),
        }
    }
}

fn default_opener() -> &'static str {
    if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    }
}

impl OpenUrl for BrowserCommand {
    fn open(&self, url: &str) -> Opening {
        let Some(words) = self.command_line() else {
            return Opening::Failed(None);
        };
        let (program, args) = words
            .split_first()
            .expect("split_whitespace of a non-empty hook");
        let shown = crate::target::printable(program);
        match Command::new(program)
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(child) => {
                info!(browser = %shown, "started the browser for the sign-in");
                Opening::Running {
                    child,
                    program: shown,
                }
            }
            Err(e) => {
                warn!(browser = %shown, error = %e, "cannot start the browser");
                Opening::Failed(Some(format!("cannot start the browser `{shown}`: {e}")))
            }
        }
    }
}

/// Tells the person on stderr how to sign in, once the opener's fate is known: the window
/// that opened, or the URL to open by hand (whenever the opener is absent, fails, or is still
/// running after [`OPENER_WAIT`]). The URL carries the `state` and the PKCE challenge, which
/// are no secret (the verifier never leaves this process).
pub struct Presenter {
    url: String,
    wait_seconds: u64,
    opening: Opening,
    started: Instant,
    told: bool,
}

impl Presenter {
    /// Opens `url` with `opener`; [`Presenter::poll`] then says what to do.
    pub fn start(opener: &dyn OpenUrl, url: &str, wait_seconds: u64) -> Presenter {
        let mut p = Presenter {
            url: url.to_owned(),
            wait_seconds,
            opening: opener.open(url),
            started: Instant::now(),
            told: false,
        };
        p.poll();
        p
    }

    /// Looks at the opener (without blocking) and tells the person once it is known.
    pub fn poll(&mut self) {
        if self.told {
            return;
        }
        if let Opening::Running { child, program } = &mut self.opening {
            match child.try_wait() {
                Ok(Some(status)) if status.success() => self.opening = Opening::Opened,
                Ok(Some(status)) => {
                    let why = format!("the browser opener `{program}` failed ({status})");
                    warn!("{why}");
                    self.opening = Opening::Failed(Some(why));
                }
                Err(e) => {
                    let why = format!("the browser opener `{program}` cannot be watched: {e}");
                    self.opening = Opening::Failed(Some(why));
                }
                Ok(None) if self.started.elapsed() >= OPENER_WAIT => {
                    let secs = OPENER_WAIT.as_secs();
                    let before = format!(
                        "the browser opener `{program}` is still running after {secs} s; if no browser window opened, "
                    );
                    self.tell_url(&before);
                    return;
                }
                Ok(None) => return,
            }
        }
        match &self.opening {
            Opening::Opened => {
                eprintln!(
                    "redshift-idc-token: sign in in the browser window that opened (waiting up to {} s)",
                    self.wait_seconds
                );
                info!(url = %self.url, "sign-in URL");
                self.told = true;
            }
            Opening::Failed(why) => {
                let why = why.as_ref().map(|w| format!("{w}: ")).unwrap_or_default();
                self.tell_url(&why);
            }
            Opening::Running { .. } => {}
        }
    }

    fn tell_url(&mut self, before: &str) {
        eprintln!(
            "redshift-idc-token: {before}open this URL in a browser on this machine to sign in (waiting up to {} s):\n{}",
            self.wait_seconds, self.url
        );
        self.told = true;
    }
}

impl Drop for Presenter {
    /// An opener still running is the browser's business; it is only reaped when it ends.
    fn drop(&mut self) {
        if let Opening::Running { .. } = self.opening {
            let Opening::Running { mut child, .. } =
                std::mem::replace(&mut self.opening, Opening::Opened)
            else {
                unreachable!("matched above")
            };
            std::thread::spawn(move || {
                let _ = child.wait();
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_parsing() {
        let b = |h: Option<&str>| BrowserCommand {
            hook: h.map(str::to_owned),
        };
        assert_eq!(b(Some("none")).command_line(), None);
        assert_eq!(
            b(Some("chromium --headless  --no-sandbox")).command_line(),
            Some(vec![
                "chromium".into(),
                "--headless".into(),
                "--no-sandbox".into()
            ])
        );
        assert_eq!(
            b(None).command_line(),
            Some(vec![default_opener().to_owned()])
        );
        let exit_of = |h: &str| match b(Some(h)).open("http://127.0.0.1:1/") {
            Opening::Running { mut child, .. } => Some(child.wait().unwrap().success()),
            Opening::Failed(why) => {
                assert!(why.is_none_or(|w| w.contains(h)));
                None
            }
            Opening::Opened => unreachable!("a command is started, not judged at once"),
        };
        assert_eq!(exit_of("/nonexistent/browser"), None);
        assert_eq!(exit_of("none"), None);
        assert_eq!(exit_of("true"), Some(true));
        assert_eq!(exit_of("false"), Some(false));
    }
}
