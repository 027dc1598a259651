//! The loopback redirect of the browser sign-in: a one-shot HTTP listener on 127.0.0.1.
//!
//! It binds 127.0.0.1 only (never a wildcard address), builds the redirect URI from the port
//! it got, sends the browser to the authorization page, and waits, bounded by the sign-in
//! timeout, for the one request it expects: `GET /oauth/callback` with our `state`. Anything
//! else (another path, a missing or foreign `state`) is answered and ignored, so a stray or
//! hostile local request can neither end the wait nor inject a code. The matching redirect
//! gets a short "you can close this window" page, and the listener is dropped, which closes
//! the port. As yup-oauth2's installed flow does, with the opener behind a trait.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use tracing::debug;

use super::SigninError;
use super::browser::{OpenUrl, Presenter};
use super::service::{Authorize, AuthorizeRequest, Authorized};
use crate::error::Error;
use crate::token::Secret;

/// The path of the redirect URI (`http://127.0.0.1:PORT/oauth/callback`).
pub const CALLBACK_PATH: &str = "/oauth/callback";
/// A request line and headers are far smaller; a peer sending more is not a browser redirect.
const MAX_REQUEST: usize = 16 * 1024;
/// How long one connection may take to send its request, however it drips it.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections read at once, each on its own thread, so that a slow or silent client cannot
/// keep the browser's redirect waiting; more wait in the listen backlog.
const MAX_CONNECTIONS: usize = 32;

const DONE_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Signed in</title></head><body><h1>Signed in</h1><p>redshift-idc-token has your sign-in. You can close this window.</p></body></html>";
const FAILED_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Sign-in failed</title></head><body><h1>Sign-in failed</h1><p>The sign-in was not completed; see the message in your terminal. You can close this window.</p></body></html>";
const FOREIGN_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Not this sign-in</title></head><body><p>This is not the sign-in redshift-idc-token is waiting for.</p></body></html>";

/// The real authorizer: a loopback listener and a browser opener.
pub struct Loopback<'a> {
    pub port: u16,
    pub opener: &'a dyn OpenUrl,
    /// For the message when the deadline passes.
    pub timeout_seconds: u64,
}

impl Authorize for Loopback<'_> {
    fn authorize(
        &self,
        request: &AuthorizeRequest<'_>,
        deadline: Instant,
    ) -> Result<Authorized, Error> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, self.port)).map_err(|source| {
            SigninError::Listen {
                port: self.port,
                source,
            }
        })?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::Internal(format!("cannot read the listener's address: {e}")))?
            .port();
        let redirect_uri = format!("http://127.0.0.1:{port}{CALLBACK_PATH}");
        let url = authorize_url(request, &redirect_uri);
        let mut presenter = Presenter::start(self.opener, &url, self.timeout_seconds);
        let code = wait_for_redirect(
            &listener,
            request.state,
            deadline,
            self.timeout_seconds,
            &mut presenter,
        )?;
        Ok(Authorized { code, redirect_uri })
    }
}

/// The authorization URL: the endpoint with the OAuth 2.0 parameters (RFC 6749 4.1.1, RFC
/// 7636 4.3), spelled as Identity Center and the drivers spell them (`scopes`, plural).
pub fn authorize_url(r: &AuthorizeRequest<'_>, redirect_uri: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", r.client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", r.state)
        .append_pair("code_challenge", r.code_challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("scopes", &r.scopes.join(" "))
        .finish();
    format!("{}?{query}", r.endpoint)
}

enum Outcome {
    Code(Secret),
    Refused { error: String, description: String },
    Ignored,
}

/// Accepts connections until one brings the redirect with our `state`, or `deadline`.
/// Each connection is read on its own thread within [`READ_TIMEOUT`], so the wait ends at
/// `deadline` whatever the clients do; meanwhile `presenter` watches the browser opener.
fn wait_for_redirect(
    listener: &TcpListener,
    state: &str,
    deadline: Instant,
    timeout_seconds: u64,
    presenter: &mut Presenter,
) -> Result<Secret, Error> {
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::Internal(format!("cannot configure the listener: {e}")))?;
    let state: Arc<str> = Arc::from(state);
    let reading = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel::<Outcome>();
    loop {
        presenter.poll();
        while reading.load(Ordering::SeqCst) < MAX_CONNECTIONS {
            match listener.accept() {
                Ok((stream, peer)) => {
                    debug!(%peer, "connection on the sign-in listener");
                    reading.fetch_add(1, Ordering::SeqCst);
                    let (state, reading, tx) = (state.clone(), reading.clone(), tx.clone());
                    std::thread::spawn(move || {
                        let outcome = handle(stream, &state, deadline);
                        reading.fetch_sub(1, Ordering::SeqCst);
                        let _ = tx.send(outcome);
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => {
                    debug!(error = %e, "accept failed");
                    break;
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(SigninError::TimedOut {
                seconds: timeout_seconds,
            }
            .into());
        }
        match rx.recv_timeout((deadline - now).min(Duration::from_millis(20))) {
            Ok(Outcome::Code(code)) => return Ok(code),
            Ok(Outcome::Refused { error, description }) => {
                return Err(SigninError::BrowserRefused { error, description }.into());
            }
            Ok(Outcome::Ignored) | Err(_) => {}
        }
    }
}

/// Reads one request (by `deadline`, and within [`READ_TIMEOUT`] of its start however
/// slowly it comes) and answers it.
fn handle(mut stream: TcpStream, state: &str, deadline: Instant) -> Outcome {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
    let until = deadline.min(Instant::now() + READ_TIMEOUT);
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < MAX_REQUEST {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            debug!("a connection did not send its request in time");
            return Outcome::Ignored;
        }
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut words = head.lines().next().unwrap_or_default().split(' ');
    let (method, target) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != CALLBACK_PATH {
        respond(&mut stream, "404 Not Found", FOREIGN_PAGE);
        return Outcome::Ignored;
    }
    let mut got_state = None;
    let mut code = None;
    let mut error = None;
    let mut description = None;
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "state" => got_state = Some(v.into_owned()),
            "code" => code = Some(Secret::new(v.into_owned())),
            "error" => error = Some(v.into_owned()),
            "error_description" => description = Some(v.into_owned()),
            _ => {}
        }
    }
    // Constant-time enough: `state` is not a secret once it is in a URL, only unguessable.
    if got_state.as_deref() != Some(state) {
        debug!("redirect with a missing or foreign state ignored");
        respond(&mut stream, "400 Bad Request", FOREIGN_PAGE);
        return Outcome::Ignored;
    }
    if let Some(error) = error {
        respond(&mut stream, "200 OK", FAILED_PAGE);
        return Outcome::Refused {
            error: crate::error::one_line(&error),
            description: description
                .map(|d| format!(": {}", crate::error::one_line(&d)))
                .unwrap_or_default(),
        };
    }
    match code {
        Some(code) if !code.expose().is_empty() => {
            respond(&mut stream, "200 OK", DONE_PAGE);
            Outcome::Code(code)
        }
        _ => {
            respond(&mut stream, "400 Bad Request", FOREIGN_PAGE);
            Outcome::Ignored
        }
    }
}

fn respond(stream: &mut TcpStream, status: &str, page: &str) {
    let reply = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{page}",
        page.len()
    );
    let _ = stream.write_all(reply.as_bytes());
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signin::browser::Opening;
    use std::sync::Mutex;

    /// An opener that must not be reached.
    struct Unreachable;

    impl OpenUrl for Unreachable {
        fn open(&self, _: &str) -> Opening {
            panic!("the browser must not be opened");
        }
    }

    fn request<'a>(scopes: &'a [String]) -> AuthorizeRequest<'a> {
        AuthorizeRequest {
            endpoint: "https://oidc.us-east-1.amazonaws.com/authorize",
            client_id: "arn:aws:sso::123456789012:application/ssoins-1/apl-1",
            scopes,
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            state: "st4te",
        }
    }

    /// Runs a browser on another thread that makes `requests` against the redirect URI.
    struct Spawned {
        requests: fn(&str, &str) -> Vec<String>,
        replies: std::sync::Arc<Mutex<Vec<String>>>,
    }

    impl OpenUrl for Spawned {
        fn open(&self, url: &str) -> Opening {
            let query = url.split_once('?').unwrap().1.to_owned();
            let requests = self.requests;
            let replies = self.replies.clone();
            std::thread::spawn(move || {
                let params: std::collections::HashMap<String, String> =
                    form_urlencoded::parse(query.as_bytes())
                        .into_owned()
                        .collect();
                let redirect = &params["redirect_uri"];
                let addr = redirect
                    .trim_start_matches("http://")
                    .split('/')
                    .next()
                    .unwrap();
                for target in requests(redirect, &params["state"]) {
                    let mut s = TcpStream::connect(addr).unwrap();
                    write!(s, "GET {target} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
                    let mut out = String::new();
                    let _ = s.read_to_string(&mut out);
                    replies.lock().unwrap().push(out);
                }
            });
            Opening::Opened
        }
    }

    fn run(
        requests: fn(&str, &str) -> Vec<String>,
        wait: Duration,
    ) -> (Result<Authorized, Error>, Vec<String>) {
        let replies = std::sync::Arc::new(Mutex::new(Vec::new()));
        let opener = Spawned {
            requests,
            replies: replies.clone(),
        };
        let lb = Loopback {
            port: 0,
            opener: &opener,
            timeout_seconds: 1,
        };
        let scopes = vec!["openid".to_owned()];
        let got = lb.authorize(&request(&scopes), Instant::now() + wait);
        std::thread::sleep(Duration::from_millis(50));
        let r = replies.lock().unwrap().clone();
        (got, r)
    }

    #[test]
    fn only_the_redirect_with_our_state_is_accepted() {
        let (got, replies) = run(
            |_, state| {
                vec![
                    "/favicon.ico".into(),
                    "/oauth/callback?code=evil&state=other".into(),
                    "/oauth/callback?code=".to_owned() + "&state=" + state,
                    format!("/oauth/callback?code=the%2Fcode&state={state}"),
                ]
            },
            Duration::from_secs(10),
        );
        let got = got.unwrap();
        assert_eq!(got.code.expose(), "the/code");
        assert!(got.redirect_uri.starts_with("http://127.0.0.1:"));
        assert!(got.redirect_uri.ends_with("/oauth/callback"));
        assert!(replies[0].starts_with("HTTP/1.1 404"), "{}", replies[0]);
        assert!(replies[1].starts_with("HTTP/1.1 400"));
        assert!(replies[2].starts_with("HTTP/1.1 400"));
        assert!(replies[3].starts_with("HTTP/1.1 200"));
        assert!(replies[3].contains("You can close this window."));
        // The listener is gone: the port no longer accepts.
        let port: u16 = got.redirect_uri[17..]
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    }

    #[test]
    fn a_refusal_and_a_timeout_are_errors() {
        let (got, _) = run(
            |_, state| {
                vec![format!(
                    "/oauth/callback?error=access_denied&error_description=User%20said%20no&state={state}"
                )]
            },
            Duration::from_secs(10),
        );
        let err = got.err().unwrap();
        assert_eq!(err.exit_code() as u8, 6);
        assert!(
            err.to_string()
                .contains("refused in the browser: access_denied: User said no"),
            "{err}"
        );
        let (got, _) = run(|_, _| vec![], Duration::from_millis(100));
        let err = got.err().unwrap();
        assert_eq!(
            err.to_string(),
            "the sign-in did not complete within 1 s (--signin-timeout): finish it in the browser sooner, or run `redshift-idc-token login`"
        );
    }

    #[test]
    fn the_url_carries_the_oauth_parameters() {
        let scopes = vec!["openid".to_owned(), "redshift:connect".to_owned()];
        let url = authorize_url(&request(&scopes), "http://127.0.0.1:7890/oauth/callback");
        assert_eq!(
            url,
            "https://oidc.us-east-1.amazonaws.com/authorize?response_type=code&client_id=arn%3Aaws%3Asso%3A%3A123456789012%3Aapplication%2Fssoins-1%2Fapl-1&redirect_uri=http%3A%2F%2F127.0.0.1%3A7890%2Foauth%2Fcallback&state=st4te&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&scopes=openid+redshift%3Aconnect"
        );
    }

    #[test]
    fn a_busy_port_is_a_usage_error() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = taken.local_addr().unwrap().port();
        let lb = Loopback {
            port,
            opener: &Unreachable,
            timeout_seconds: 1,
        };
        let scopes = vec![];
        let err = lb
            .authorize(&request(&scopes), Instant::now() + Duration::from_secs(1))
            .err()
            .unwrap();
        assert_eq!(err.exit_code() as u8, 2);
        assert!(
            err.to_string()
                .starts_with(&format!("cannot listen on 127.0.0.1:{port}"))
        );
    }
}
