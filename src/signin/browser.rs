//! Showing the person the sign-in page: the browser opener, a delegate behind a trait.
//!
//! The hook (`REDSHIFT_IDC_TOKEN_BROWSER` / `redshift_idc_browser`) is a command line the URL
//! is appended to, split on whitespace and run without a shell, so nothing in the URL is ever
//! interpreted; `none` means "only print the URL". That hook is what lets a test drive a real
//! headless Chromium, and a server without a desktop still gets a URL to open elsewhere.

use std::process::{Command, Stdio};

use tracing::{info, warn};

/// Presents a URL to the person.
pub trait OpenUrl {
    /// Tries to open `url`; `false` when no browser could be started (the caller then prints
    /// the URL for the person to open by hand).
    fn open(&self, url: &str) -> bool;
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
    fn open(&self, url: &str) -> bool {
        let Some(words) = self.command_line() else {
            return false;
        };
        let (program, args) = words
            .split_first()
            .expect("split_whitespace of a non-empty hook");
        match Command::new(program)
            .args(args)
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(mut child) => {
                info!(browser = %program, "opened the browser for the sign-in");
                // Reap it whenever it ends; the run never waits for the browser.
                std::thread::spawn(move || {
                    let _ = child.wait();
                });
                true
            }
            Err(e) => {
                warn!(browser = %program, error = %e, "cannot start the browser");
                false
            }
        }
    }
}

/// Opens `url` with `opener`, and tells the person on stderr what to do.
pub fn present(opener: &dyn OpenUrl, url: &str, wait_seconds: u64) {
    if opener.open(url) {
        eprintln!(
            "redshift-idc-token: sign in in the browser window that opened (waiting up to {wait_seconds} s)"
        );
        info!(%url, "sign-in URL");
    } else {
        eprintln!(
            "redshift-idc-token: open this URL in a browser on this machine to sign in (waiting up to {wait_seconds} s):\n{url}"
        );
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
        assert!(!b(Some("/nonexistent/browser")).open("http://127.0.0.1:1/"));
        assert!(!b(Some("none")).open("http://127.0.0.1:1/"));
        assert!(b(Some("true")).open("http://127.0.0.1:1/"));
    }
}
