//! A local stand-in for the two AWS endpoints that `redshift-idc-token` calls.
//!
//! Why it exists: the CLI's whole job is one AWS call, `GetIdentityCenterAuthToken`, made on
//! Redshift (awsQuery protocol, XML answers) or on Redshift Serverless (awsJson1.1). Tests,
//! the demo and the benchmarks cannot reach AWS, and a mock inside the process would not test
//! what matters: that the real binary, through the real AWS SDK, signs and sends the right
//! bytes and copes with whatever comes back. So this module serves both protocols over real
//! HTTP on 127.0.0.1, checks the shape of every request the way AWS would (SigV4
//! `Authorization` header, `Action`/`Version` or `X-Amz-Target`, body), records what it saw,
//! and answers with whatever a test queued: tokens, modeled errors, throttling, garbage,
//! silence, a connection cut mid-answer or a slow trickle.
//!
//! Tokens it issues name the key, region and targets they were issued for
//! (`idc.<rs|rss>.<region>.<access key id>.<targets joined by '+'>.<seq>.<16 hex>`), so a
//! test can check that the CLI used the right credentials without asking the server.
//!
//! Everything is bounded so a forgotten server cannot outlive its test by much: it binds
//! 127.0.0.1 only, answers 503 after `max_requests`, stops by itself after `max_lifetime`,
//! and dropping the [`StandIn`] closes every connection, hanging ones included.
//!
//! It is included by path from the integration tests and from the `aws-standin` example, so it
//! must stay self-contained: it never uses the main crate.

// Each includer uses a different part of the API, so each puts `#[allow(dead_code)]` on its
// `mod aws_standin;` (an inner attribute here would duplicate it and trip clippy).

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

/// The Redshift API version the SDK sends (`Version=` in every awsQuery request).
pub const REDSHIFT_API_VERSION: &str = "2012-12-01";
/// XML namespace of every Redshift answer; the SDK ignores it, but real AWS sends it.
pub const REDSHIFT_XMLNS: &str = "http://redshift.amazonaws.com/doc/2012-12-01/";
/// The `X-Amz-Target` of the Serverless operation.
pub const SERVERLESS_TARGET: &str = "RedshiftServerless.GetIdentityCenterAuthToken";
/// Content type of every awsJson1.1 request and answer.
pub const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Requests are a few hundred bytes; anything this large is a bug worth reporting.
const MAX_REQUEST_BODY: usize = 1024 * 1024;

/// Knobs of one stand-in. Build with `Config { ttl: ..., ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Lifetime of issued tokens: `expiration = issue time + ttl`. Default 900 s, as AWS.
    pub ttl: Duration,
    /// Added before every answer, to model a slow region. Default 0.
    pub delay: Duration,
    /// Issue this token instead of the self-describing one (for byte-exact output checks).
    pub fixed_token: Option<String>,
    /// Requests answered normally; the ones after get a bare 503 and are not recorded, so a
    /// runaway retry loop neither grows memory nor hides. Default 1000.
    pub max_requests: usize,
    /// The server stops (port closed, connections cut) this long after start. Default 120 s.
    pub max_lifetime: Duration,
    /// Port on 127.0.0.1; 0 (the default) lets the OS choose. Only the example sets it.
    pub port: u16,
    /// Append one JSON line per recorded request here (see [`Recorded::to_json`]).
    pub log_file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            ttl: Duration::from_secs(900),
            delay: Duration::ZERO,
            fixed_token: None,
            max_requests: 1000,
            max_lifetime: Duration::from_secs(120),
            port: 0,
            log_file: None,
        }
    }
}

/// Which AWS service a request was meant for, told by its `X-Amz-Target` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Redshift provisioned clusters: awsQuery, no target header, signing name `redshift`.
    Redshift,
    /// Redshift Serverless: awsJson1.1, signing name `redshift-serverless`.
    Serverless,
}

impl Service {
    /// The SigV4 signing name AWS expects for this service.
    pub fn signing_name(self) -> &'static str {
        match self {
            Service::Redshift => "redshift",
            Service::Serverless => "redshift-serverless",
        }
    }

    /// The short tag used inside issued tokens.
    pub fn token_tag(self) -> &'static str {
        match self {
            Service::Redshift => "rs",
            Service::Serverless => "rss",
        }
    }

    /// Name used in the JSON log.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Redshift => "redshift",
            Service::Serverless => "serverless",
        }
    }
}

/// One queued answer. Answers are consumed first-in first-out by well-formed requests of
/// either service; with an empty queue the answer is [`Reply::Token`]. Requests with
/// `problems` get a protocol error instead and do not consume the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 with a fresh token expiring `ttl` from now.
    Token,
    /// 200 with exactly these fields: `None` omits the field, `Some("")` sends it empty.
    Custom {
        token: Option<String>,
        expiration: Option<String>,
    },
    /// An AWS error in the requesting service's format (XML `ErrorResponse` or JSON `__type`).
    Error {
        status: u16,
        code: String,
        message: String,
    },
    /// A bare status with an empty body (e.g. 500, 503 from a load balancer).
    Status(u16),
    /// Exactly these bytes: malformed XML/JSON, huge bodies, wrong content types.
    Raw {
        status: u16,
        content_type: String,
        body: Vec<u8>,
    },
    /// Read the request, never answer; ends when the [`StandIn`] is dropped or stops.
    Hang,
    /// Send the head and about half of a valid answer, then close the connection.
    Reset,
    /// A valid token answer, trickled at this rate.
    Drip { bytes_per_sec: usize },
    /// Wait, then give the inner answer (delays add up when nested).
    Delay(Duration, Box<Reply>),
}

impl Reply {
    /// An AWS error with the status AWS would use for `code`: 500 for internal errors, 503
    /// for unavailability, 400 for the rest (throttling included, as Redshift does).
    pub fn error(code: &str, message: &str) -> Reply {
        let status = match code {
            "InternalServerException" | "InternalFailure" | "InternalError" => 500,
            "ServiceUnavailable" | "ServiceUnavailableException" => 503,
            _ => 400,
        };
        Reply::Error {
            status,
            code: code.to_string(),
            message: message.to_string(),
        }
    }
}

/// What the stand-in saw of one request (and which token it handed out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// 1-based arrival number; it is also the `<seq>` part of issued tokens.
    pub seq: usize,
    /// `None` when the `X-Amz-Target` named neither service.
    pub service: Option<Service>,
    /// Cluster identifiers or workgroup names, in request order.
    pub targets: Vec<String>,
    /// From the SigV4 credential scope.
    pub access_key_id: Option<String>,
    pub region: Option<String>,
    pub signing_service: Option<String>,
    /// Whether an `x-amz-security-token` header (temporary credentials) was sent.
    pub has_security_token: bool,
    /// Why the request is not what the real SDK sends; non-empty means it got a 400.
    pub problems: Vec<String>,
    /// The token sent in a 200 answer, if any.
    pub token: Option<String>,
    /// Short description of the answer chosen (`token`, `error:Throttling`, `hang`, ...).
    pub reply: String,
}

impl Recorded {
    /// The line written to the log file: every field, `service` as `redshift`/`serverless`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seq": self.seq,
            "service": self.service.map(Service::as_str),
            "targets": self.targets,
            "access_key_id": self.access_key_id,
            "region": self.region,
            "signing_service": self.signing_service,
            "has_security_token": self.has_security_token,
            "problems": self.problems,
            "token": self.token,
            "reply": self.reply,
        })
    }
}

/// A running stand-in of both endpoints, on its own thread and tokio runtime so synchronous
/// tests can use it while they run the CLI as a subprocess. Dropping it stops the server and
/// cuts every open connection.
pub struct StandIn {
    server: Server,
    shared: Arc<Shared>,
}

impl StandIn {
    /// Starts with [`Config::default`].
    pub fn start() -> StandIn {
        StandIn::start_with(Config::default())
    }

    /// Starts with `cfg`; panics if 127.0.0.1 cannot be bound (tests want that loud).
    pub fn start_with(cfg: Config) -> StandIn {
        StandIn::try_start_with(cfg).expect("aws stand-in: cannot start")
    }

    /// Starts with `cfg`, reporting a busy port or an unwritable log file as an error.
    pub fn try_start_with(cfg: Config) -> std::io::Result<StandIn> {
        let log = match &cfg.log_file {
            Some(path) => Some(Mutex::new(
                OpenOptions::new().create(true).append(true).open(path)?,
            )),
            None => None,
        };
        let (port, lifetime) = (cfg.port, cfg.max_lifetime);
        let shared = Arc::new(Shared {
            cfg,
            queue: Mutex::new(VecDeque::new()),
            records: Mutex::new(Vec::new()),
            seen: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            running: AtomicBool::new(true),
            log,
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let stopped = shared.clone();
        let server = Server::start("aws-standin", port, lifetime, app, move || {
            stopped.running.store(false, Ordering::SeqCst)
        })?;
        Ok(StandIn { server, shared })
    }

    /// `http://127.0.0.1:PORT`, to pass as the SDK's endpoint URL.
    pub fn url(&self) -> String {
        self.server.url().to_owned()
    }

    /// Queues one answer (see [`Reply`] for who consumes it).
    pub fn push(&self, reply: Reply) {
        lock(&self.shared.queue).push_back(reply);
    }

    /// Every recorded request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared.records).clone()
    }

    /// Number of recorded requests (those past `max_requests` are not recorded).
    pub fn request_count(&self) -> usize {
        lock(&self.shared.records).len()
    }

    /// Queued answers not consumed yet; lets a test check its script was played out.
    pub fn pending_replies(&self) -> usize {
        lock(&self.shared.queue).len()
    }

    /// Whether the server still accepts connections (false after `max_lifetime`).
    pub fn is_running(&self) -> bool {
        self.shared.running.load(Ordering::SeqCst)
    }

    /// True once the server stopped, or `max_requests` requests arrived and every answer
    /// was handed over. The example program exits on it.
    pub fn is_finished(&self) -> bool {
        !self.is_running()
            || (self.shared.seen.load(Ordering::SeqCst) >= self.shared.cfg.max_requests
                && self.shared.in_flight.load(Ordering::SeqCst) == 0)
    }
}

/// State shared by the handle and the server thread.
struct Shared {
    cfg: Config,
    queue: Mutex<VecDeque<Reply>>,
    records: Mutex<Vec<Recorded>>,
    /// Every request that reached the handler, over the limit included.
    seen: AtomicUsize,
    /// Requests whose answer is not fully handed to the connection yet.
    in_flight: AtomicUsize,
    running: AtomicBool,
    log: Option<Mutex<File>>,
}

/// A panicking test thread must not turn every later lock into a second panic.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Counts a request as in flight until dropped; streaming answers carry it in their body.
struct InFlight(Arc<Shared>);

impl InFlight {
    fn new(shared: &Arc<Shared>) -> InFlight {
        shared.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(shared.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An axum app served on 127.0.0.1 from its own thread and tokio runtime, so synchronous tests
/// can use it while they run the CLI as a subprocess. It stops after `lifetime` or when
/// dropped; either way the runtime is dropped, which drops every connection task (hanging
/// and dripping ones included) and closes the sockets. Every stand-in is built on it.
pub struct Server {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Binds `127.0.0.1:port` (0: any free port) and serves `app` on a thread called `name`;
    /// `stopped` runs on that thread once the server has stopped.
    pub fn start(
        name: &str,
        port: u16,
        lifetime: Duration,
        app: axum::Router,
        stopped: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Server> {
        let listener = std::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        listener.set_nonblocking(true)?;
        let url = format!("http://{}", listener.local_addr()?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let label = name.to_owned();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("{label}: cannot listen: {e}");
                            return;
                        }
                    };
                    tokio::select! {
                        r = axum::serve(listener, app) => {
                            if let Err(e) = r {
                                eprintln!("{label}: server failed: {e}");
                            }
                        }
                        _ = stop_rx => {}
                        _ = tokio::time::sleep(lifetime) => {}
                    }
                });
                stopped();
                drop(runtime);
            })?;
        Ok(Server {
            url,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers every method and path: wrong ones are problems to report in the service's own
/// error format, not 404s the SDK would misread.
async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let n = shared.seen.fetch_add(1, Ordering::SeqCst) + 1;
    if n > shared.cfg.max_requests {
        return bare(503);
    }
    if req.uri().path() == SSO_ROLE_CREDENTIALS_PATH {
        return sso_role_credentials(req.headers());
    }
    let guard = InFlight::new(&shared);
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, MAX_REQUEST_BODY).await;
    let seen = inspect(
        parts.method.as_str(),
        parts.uri.path(),
        parts.uri.query(),
        &parts.headers,
        body.as_deref().ok(),
    );
    let format = match seen.service {
        Some(Service::Redshift) => Format::Query,
        _ => Format::Json,
    };

    // Choose the answer and record under one lock, so arrival order, `seq` and queue order
    // agree even when requests race.
    let request_id = request_id();
    let (record, delay, plan) = {
        let mut records = lock(&shared.records);
        let seq = records.len() + 1;
        let reply = match seen.problems.first() {
            Some((kind, msg)) => Reply::Error {
                status: 400,
                code: kind.code(format).to_string(),
                message: msg.clone(),
            },
            None => lock(&shared.queue).pop_front().unwrap_or(Reply::Token),
        };
        let issue = Issue {
            cfg: &shared.cfg,
            seen: &seen,
            seq,
            format,
            request_id: &request_id,
        };
        let (delay, plan, token, reply_desc) = issue.resolve(reply);
        let record = Recorded {
            seq,
            service: seen.service,
            targets: seen.targets.clone(),
            access_key_id: seen.access_key_id.clone(),
            region: seen.region.clone(),
            signing_service: seen.signing_service.clone(),
            has_security_token: seen.has_security_token,
            problems: seen.problems.iter().map(|(_, m)| m.clone()).collect(),
            token,
            reply: reply_desc,
        };
        records.push(record.clone());
        (record, delay, plan)
    };
    if let Some(log) = &shared.log {
        let mut file = lock(log);
        let _ = writeln!(file, "{}", record.to_json());
    }

    let delay = delay + shared.cfg.delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    plan.into_response(guard, &request_id).await
}

/// Which wire format errors and answers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    /// awsQuery: form-encoded requests, XML answers.
    Query,
    /// awsJson1.1.
    Json,
}

/// Kinds of malformed requests, each with the error code real AWS uses for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProblemKind {
    Unsigned,
    BadSignature,
    BadOperation,
    BadParameter,
    BadRequest,
}

impl ProblemKind {
    fn code(self, format: Format) -> &'static str {
        match (self, format) {
            (ProblemKind::Unsigned, Format::Query) => "MissingAuthenticationToken",
            (ProblemKind::Unsigned, Format::Json) => "MissingAuthenticationTokenException",
            (ProblemKind::BadSignature, Format::Query) => "IncompleteSignature",
            (ProblemKind::BadSignature, Format::Json) => "IncompleteSignatureException",
            (ProblemKind::BadOperation, Format::Query) => "InvalidAction",
            (ProblemKind::BadOperation, Format::Json) => "UnknownOperationException",
            (ProblemKind::BadParameter, Format::Query) => "InvalidParameterValue",
            (ProblemKind::BadParameter, Format::Json) => "ValidationException",
            (ProblemKind::BadRequest, Format::Query) => "MalformedQueryString",
            (ProblemKind::BadRequest, Format::Json) => "SerializationException",
        }
    }
}

/// What [`inspect`] learnt from a request.
#[derive(Debug, Default)]
struct Inspected {
    service: Option<Service>,
    targets: Vec<String>,
    access_key_id: Option<String>,
    region: Option<String>,
    signing_service: Option<String>,
    has_security_token: bool,
    problems: Vec<(ProblemKind, String)>,
}

impl Inspected {
    fn problem(&mut self, kind: ProblemKind, msg: impl Into<String>) {
        self.problems.push((kind, msg.into()));
    }
}

/// Checks a request against what the real SDK sends. `body` is `None` when it was too big.
fn inspect(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Option<&[u8]>,
) -> Inspected {
    let mut seen = Inspected::default();
    let target = header_str(headers, "x-amz-target");
    seen.service = match target {
        None => Some(Service::Redshift),
        Some(t) if t == SERVERLESS_TARGET => Some(Service::Serverless),
        Some(t) if t.starts_with("RedshiftServerless.") => {
            seen.problem(
                ProblemKind::BadOperation,
                format!("X-Amz-Target is {t:?}, expected {SERVERLESS_TARGET:?}"),
            );
            Some(Service::Serverless)
        }
        Some(t) => {
            seen.problem(
                ProblemKind::BadOperation,
                format!("X-Amz-Target {t:?} names neither Redshift nor Redshift Serverless"),
            );
            None
        }
    };

    if method != "POST" {
        seen.problem(
            ProblemKind::BadRequest,
            format!("method is {method}, expected POST"),
        );
    }
    if path != "/" || query.is_some() {
        let q = query.map(|q| format!("?{q}")).unwrap_or_default();
        seen.problem(
            ProblemKind::BadRequest,
            format!("path is {path}{q}, expected /"),
        );
    }

    check_signature(headers, &mut seen);

    let content_type = header_str(headers, "content-type").unwrap_or("");
    let Some(body) = body else {
        seen.problem(
            ProblemKind::BadRequest,
            format!("request body larger than {MAX_REQUEST_BODY} bytes"),
        );
        return seen;
    };
    match seen.service {
        Some(Service::Redshift) => check_query_body(content_type, body, &mut seen),
        Some(Service::Serverless) => check_json_body(content_type, body, &mut seen),
        None => {}
    }
    seen
}

pub fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("<not ascii>"))
}

/// What a SigV4 `Authorization` header says (its credential scope) and what is wrong with it.
#[derive(Debug, Clone, Default)]
pub struct SigV4 {
    pub access_key_id: Option<String>,
    pub region: Option<String>,
    pub signing_service: Option<String>,
    /// Whether an `x-amz-security-token` header (temporary credentials) was sent.
    pub has_security_token: bool,
    /// No `Authorization` header at all (then `problems` says so, and nothing else).
    pub unsigned: bool,
    pub problems: Vec<String>,
}

impl SigV4 {
    fn problem(&mut self, msg: impl Into<String>) {
        self.problems.push(msg.into());
    }
}

/// Records the credential scope of the request and its signature problems.
fn check_signature(headers: &HeaderMap, seen: &mut Inspected) {
    let sig = check_sigv4(headers, seen.service.map(Service::signing_name));
    let kind = if sig.unsigned {
        ProblemKind::Unsigned
    } else {
        ProblemKind::BadSignature
    };
    seen.has_security_token = sig.has_security_token;
    seen.access_key_id = sig.access_key_id;
    seen.region = sig.region;
    seen.signing_service = sig.signing_service;
    for p in sig.problems {
        seen.problem(kind, p);
    }
}

/// Checks the SigV4 `Authorization` header's shape and reads its credential scope, for any
/// service (`expected_service`: the signing name the request must carry, if known).
/// The signature itself is not recomputed: the SDK's signer is trusted, the CLI's wiring
/// (which key, region and service it signs for) is what is under test.
pub fn check_sigv4(headers: &HeaderMap, expected_service: Option<&str>) -> SigV4 {
    let mut seen = SigV4 {
        has_security_token: headers.contains_key("x-amz-security-token"),
        ..SigV4::default()
    };
    let Some(auth) = header_str(headers, "authorization") else {
        seen.unsigned = true;
        seen.problems
            .push("unsigned: no Authorization header".into());
        return seen;
    };
    let Some(rest) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
        seen.problem(format!("Authorization is not AWS4-HMAC-SHA256: {auth:?}"));
        return seen;
    };
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        let slot = match part.split_once('=') {
            Some(("Credential", v)) => (&mut credential, v),
            Some(("SignedHeaders", v)) => (&mut signed_headers, v),
            Some(("Signature", v)) => (&mut signature, v),
            _ => {
                seen.problem(format!("unexpected Authorization component {part:?}"));
                continue;
            }
        };
        if slot.0.replace(slot.1).is_some() {
            seen.problem(format!("Authorization repeats {part:?}"));
        }
    }

    let amz_date = header_str(headers, "x-amz-date");
    match amz_date {
        None => seen.problem("no x-amz-date header"),
        Some(d) if !is_amz_date(d) => {
            seen.problem(format!("x-amz-date {d:?} is not YYYYMMDDTHHMMSSZ"))
        }
        Some(_) => {}
    }

    match credential {
        None => seen.problem("Authorization has no Credential"),
        Some(c) => {
            let scope: Vec<&str> = c.split('/').collect();
            if let [akid, date, region, service, terminator] = scope[..] {
                let ok_date = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
                if akid.is_empty() || !akid.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    seen.problem(format!("bad access key id {akid:?}"));
                }
                if !ok_date {
                    seen.problem(format!("bad credential date {date:?}"));
                } else if let Some(d) = amz_date.filter(|d| !d.starts_with(date)) {
                    seen.problem(format!(
                        "credential date {date} does not match x-amz-date {d}"
                    ));
                }
                if region.is_empty() {
                    seen.problem("empty region in credential");
                }
                if terminator != "aws4_request" {
                    seen.problem(format!(
                        "credential ends in {terminator:?}, not aws4_request"
                    ));
                }
                if let Some(expected) = expected_service
                    && service != expected
                {
                    seen.problem(format!(
                        "signed for service {service:?}, expected {expected:?}"
                    ));
                }
                seen.access_key_id = Some(akid.to_string());
                seen.region = Some(region.to_string());
                seen.signing_service = Some(service.to_string());
            } else {
                seen.problem(format!(
                    "Credential {c:?} is not AKID/DATE/REGION/SERVICE/aws4_request"
                ));
            }
        }
    }

    match signed_headers {
        None => seen.problem("Authorization has no SignedHeaders"),
        Some(list) => {
            let names: Vec<&str> = list.split(';').collect();
            for required in ["host", "x-amz-date"] {
                if !names.contains(&required) {
                    seen.problem(format!("SignedHeaders {list:?} lacks {required}"));
                }
            }
            if seen.has_security_token && !names.contains(&"x-amz-security-token") {
                seen.problem("x-amz-security-token sent but not signed");
            }
            for name in &names {
                if name.is_empty() || name.bytes().any(|b| b.is_ascii_uppercase()) {
                    seen.problem(format!("bad signed header name {name:?}"));
                } else if !headers.contains_key(*name) {
                    seen.problem(format!("signed header {name} is not in the request"));
                }
            }
            if names.windows(2).any(|w| w[0] >= w[1]) {
                seen.problem(format!("SignedHeaders {list:?} not sorted"));
            }
        }
    }

    match signature {
        None => seen.problem("Authorization has no Signature"),
        Some(s) => {
            let hex = s
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
            if s.len() != 64 || !hex {
                seen.problem(format!("Signature {s:?} is not 64 lowercase hex digits"));
            }
        }
    }
    seen
}

pub fn is_amz_date(d: &str) -> bool {
    let b = d.as_bytes();
    b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit)
}

/// The awsQuery body: `Action`, `Version`, `ClusterIds.ClusterIdentifier.N` and nothing else.
/// (Not `ClusterIds.member.N`: the Redshift model gives the list members the XML name
/// `ClusterIdentifier`, and the SDK writes `ClusterIds.ClusterIdentifier.1=c1`.)
fn check_query_body(content_type: &str, body: &[u8], seen: &mut Inspected) {
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        seen.problem(
            ProblemKind::BadRequest,
            format!("content-type {content_type:?}, expected application/x-www-form-urlencoded"),
        );
    }
    let (mut action, mut version) = (None, None);
    let mut members: Vec<(usize, String)> = Vec::new();
    let mut empty_list = false;
    for (key, value) in form_urlencoded::parse(body) {
        if key == "Action" {
            action = Some(value.into_owned());
        } else if key == "Version" {
            version = Some(value.into_owned());
        } else if key == "ClusterIds" && value.is_empty() {
            // How the SDK writes an empty list.
            empty_list = true;
        } else if let Some(n) = key
            .strip_prefix("ClusterIds.ClusterIdentifier.")
            .and_then(|n| n.parse::<usize>().ok())
        {
            members.push((n, value.into_owned()));
        } else if key.starts_with("ClusterIds.member.") {
            // The generic awsQuery list form; the Redshift model names the members.
            seen.problem(
                ProblemKind::BadParameter,
                format!("{key} is not what the SDK sends: expected ClusterIds.ClusterIdentifier.N"),
            );
        } else {
            seen.problem(
                ProblemKind::BadParameter,
                format!("unexpected parameter {key:?}"),
            );
        }
    }
    match action.as_deref() {
        Some("GetIdentityCenterAuthToken") => {}
        other => seen.problem(
            ProblemKind::BadOperation,
            format!("Action is {other:?}, expected GetIdentityCenterAuthToken"),
        ),
    }
    match version.as_deref() {
        Some(REDSHIFT_API_VERSION) => {}
        other => seen.problem(
            ProblemKind::BadParameter,
            format!("Version is {other:?}, expected {REDSHIFT_API_VERSION}"),
        ),
    }
    members.sort_by_key(|(n, _)| *n);
    if members.iter().enumerate().any(|(i, (n, _))| *n != i + 1) {
        seen.problem(
            ProblemKind::BadParameter,
            "ClusterIds.ClusterIdentifier.N are not numbered 1..=n",
        );
    }
    seen.targets = members.into_iter().map(|(_, v)| v).collect();
    if seen.targets.is_empty() {
        let how = if empty_list { "empty" } else { "missing" };
        seen.problem(ProblemKind::BadParameter, format!("ClusterIds is {how}"));
    }
    if seen.targets.iter().any(String::is_empty) {
        seen.problem(ProblemKind::BadParameter, "empty cluster identifier");
    }
}

/// The awsJson1.1 body: `{"workgroupNames": [...]}` and nothing else.
fn check_json_body(content_type: &str, body: &[u8], seen: &mut Inspected) {
    if content_type != JSON_CONTENT_TYPE {
        seen.problem(
            ProblemKind::BadRequest,
            format!("content-type {content_type:?}, expected {JSON_CONTENT_TYPE}"),
        );
    }
    let value: serde_json::Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            seen.problem(ProblemKind::BadRequest, format!("body is not JSON: {e}"));
            return;
        }
    };
    let Some(object) = value.as_object() else {
        seen.problem(ProblemKind::BadRequest, "body is not a JSON object");
        return;
    };
    for key in object.keys().filter(|k| *k != "workgroupNames") {
        seen.problem(
            ProblemKind::BadParameter,
            format!("unexpected member {key:?}"),
        );
    }
    match object.get("workgroupNames").and_then(|v| v.as_array()) {
        None => seen.problem(
            ProblemKind::BadParameter,
            "workgroupNames missing or not a list",
        ),
        Some(names) => {
            for name in names {
                match name.as_str() {
                    Some(s) => seen.targets.push(s.to_string()),
                    None => seen.problem(
                        ProblemKind::BadParameter,
                        format!("workgroup name {name} is not a string"),
                    ),
                }
            }
            if names.is_empty() {
                seen.problem(ProblemKind::BadParameter, "workgroupNames is empty");
            }
            if seen.targets.iter().any(String::is_empty) {
                seen.problem(ProblemKind::BadParameter, "empty workgroup name");
            }
        }
    }
}

/// Everything needed to turn a [`Reply`] into bytes for one request.
struct Issue<'a> {
    cfg: &'a Config,
    seen: &'a Inspected,
    seq: usize,
    format: Format,
    /// Sent both in the body (where awsQuery clients read it) and as `x-amzn-requestid`.
    request_id: &'a str,
}

impl Issue<'_> {
    /// Flattens `Delay`s and renders the answer now, so the token is recorded (and logged)
    /// when the request arrives even if the answer is slow or never sent.
    /// Returns (delay, plan, token sent, description).
    fn resolve(&self, reply: Reply) -> (Duration, Plan, Option<String>, String) {
        match reply {
            Reply::Delay(d, inner) => {
                let (more, plan, token, desc) = self.resolve(*inner);
                (
                    d + more,
                    plan,
                    token,
                    format!("delay {}ms, {desc}", d.as_millis()),
                )
            }
            Reply::Token => {
                let token = self.new_token();
                let exp = expiration(self.cfg.ttl);
                let plan = self.success(Some(&token), Some(&exp));
                (Duration::ZERO, plan, Some(token), "token".into())
            }
            Reply::Custom { token, expiration } => {
                let plan = self.success(token.as_deref(), expiration.as_deref());
                (Duration::ZERO, plan, token, "custom".into())
            }
            Reply::Error {
                status,
                code,
                message,
            } => {
                let plan = self.error(status, &code, &message);
                (Duration::ZERO, plan, None, format!("error:{code}"))
            }
            Reply::Status(status) => (
                Duration::ZERO,
                Plan::Full {
                    status,
                    content_type: None,
                    body: Vec::new(),
                },
                None,
                format!("status:{status}"),
            ),
            Reply::Raw {
                status,
                content_type,
                body,
            } => {
                let desc = format!("raw:{status}:{}B", body.len());
                let plan = Plan::Full {
                    status,
                    content_type: Some(content_type),
                    body,
                };
                (Duration::ZERO, plan, None, desc)
            }
            Reply::Hang => (Duration::ZERO, Plan::Hang, None, "hang".into()),
            Reply::Reset => {
                // A real token, so the cut cannot be mistaken for a malformed answer; it is
                // not recorded because the client never gets all of it.
                let (_, content_type, body) = self.fresh_success();
                let plan = Plan::Reset { content_type, body };
                (Duration::ZERO, plan, None, "reset".into())
            }
            Reply::Drip { bytes_per_sec } => {
                let (token, content_type, body) = self.fresh_success();
                let plan = Plan::Drip {
                    content_type,
                    body,
                    bytes_per_sec,
                };
                let desc = format!("drip:{bytes_per_sec}B/s");
                (Duration::ZERO, plan, Some(token), desc)
            }
        }
    }

    /// A new token and the success answer carrying it (content type, body), for the answers
    /// that deliver a valid body in an unusual way (cut off, trickled).
    fn fresh_success(&self) -> (String, Option<String>, Vec<u8>) {
        let token = self.new_token();
        let exp = expiration(self.cfg.ttl);
        let Plan::Full {
            content_type, body, ..
        } = self.success(Some(&token), Some(&exp))
        else {
            unreachable!("success is always Full")
        };
        (token, content_type, body)
    }

    /// `idc.<svc>.<region>.<akid>.<targets>.<seq>.<16 hex>`, or the fixed token.
    fn new_token(&self) -> String {
        if let Some(t) = &self.cfg.fixed_token {
            return t.clone();
        }
        let svc = self.seen.service.map_or("none", Service::token_tag);
        let region = self.seen.region.as_deref().unwrap_or("none");
        let akid = self.seen.access_key_id.as_deref().unwrap_or("none");
        format!(
            "idc.{svc}.{region}.{akid}.{}.{}.{:016x}",
            self.seen.targets.join("+"),
            self.seq,
            random_u64()
        )
    }

    fn success(&self, token: Option<&str>, expiration: Option<&str>) -> Plan {
        match self.format {
            Format::Query => {
                let mut result = String::new();
                if let Some(t) = token {
                    result += &format!("<Token>{}</Token>", xml_escape(t));
                }
                if let Some(e) = expiration {
                    result += &format!("<ExpirationTime>{}</ExpirationTime>", xml_escape(e));
                }
                let body = format!(
                    "<GetIdentityCenterAuthTokenResponse xmlns=\"{REDSHIFT_XMLNS}\">\
                     <GetIdentityCenterAuthTokenResult>{result}</GetIdentityCenterAuthTokenResult>\
                     <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata>\
                     </GetIdentityCenterAuthTokenResponse>\n",
                    self.request_id
                );
                Plan::Full {
                    status: 200,
                    content_type: Some("text/xml".into()),
                    body: body.into_bytes(),
                }
            }
            Format::Json => {
                let mut object = serde_json::Map::new();
                if let Some(t) = token {
                    object.insert("token".into(), t.into());
                }
                if let Some(e) = expiration {
                    object.insert("expirationTime".into(), e.into());
                }
                Plan::Full {
                    status: 200,
                    content_type: Some(JSON_CONTENT_TYPE.into()),
                    body: serde_json::Value::Object(object).to_string().into_bytes(),
                }
            }
        }
    }

    fn error(&self, status: u16, code: &str, message: &str) -> Plan {
        let (content_type, body) = match self.format {
            Format::Query => {
                let kind = if status >= 500 { "Receiver" } else { "Sender" };
                let body = format!(
                    "<ErrorResponse xmlns=\"{REDSHIFT_XMLNS}\"><Error><Type>{kind}</Type>\
                     <Code>{}</Code><Message>{}</Message></Error>\
                     <RequestId>{}</RequestId></ErrorResponse>\n",
                    xml_escape(code),
                    xml_escape(message),
                    self.request_id
                );
                ("text/xml", body)
            }
            Format::Json => {
                let body = serde_json::json!({ "__type": code, "message": message });
                (JSON_CONTENT_TYPE, body.to_string())
            }
        };
        Plan::Full {
            status,
            content_type: Some(content_type.into()),
            body: body.into_bytes(),
        }
    }
}

/// An answer rendered to bytes, waiting to be sent.
enum Plan {
    Full {
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
    },
    Hang,
    Reset {
        content_type: Option<String>,
        body: Vec<u8>,
    },
    Drip {
        content_type: Option<String>,
        body: Vec<u8>,
        bytes_per_sec: usize,
    },
}

impl Plan {
    /// Sends the plan; `guard` stays alive until the last byte is handed to the connection.
    async fn into_response(self, guard: InFlight, request_id: &str) -> Response {
        match self {
            Plan::Full {
                status,
                content_type,
                body,
            } => respond(
                status,
                content_type.as_deref(),
                body.len(),
                Body::from(body),
                request_id,
            ),
            Plan::Hang => {
                // Dropped with the runtime when the stand-in stops.
                std::future::pending::<()>().await;
                unreachable!()
            }
            Plan::Reset { content_type, body } => {
                // Content-Length promises the whole body; hyper sends the first half, then the
                // stream fails and hyper closes the connection without finishing the answer.
                let len = body.len();
                let half = Bytes::from(body[..len / 2].to_vec());
                let chunks =
                    futures_util::stream::unfold((0u8, Some(guard)), move |(step, guard)| {
                        let half = half.clone();
                        async move {
                            match step {
                                0 => Some((Ok(half), (1, guard))),
                                1 => {
                                    // Let the half reach the socket before failing.
                                    tokio::time::sleep(Duration::from_millis(50)).await;
                                    drop(guard);
                                    Some((
                                        Err(std::io::Error::other("stand-in: Reply::Reset")),
                                        (2, None),
                                    ))
                                }
                                _ => None,
                            }
                        }
                    });
                let body = Body::from_stream(chunks);
                respond(200, content_type.as_deref(), len, body, request_id)
            }
            Plan::Drip {
                content_type,
                body,
                bytes_per_sec,
            } => {
                let rate = bytes_per_sec.max(1);
                let (chunk, every) = if rate >= 10 {
                    (rate / 10, Duration::from_millis(100))
                } else {
                    (1, Duration::from_secs(1) / rate as u32)
                };
                let len = body.len();
                let body = Bytes::from(body);
                let chunks =
                    futures_util::stream::unfold((0usize, Some(guard)), move |(pos, guard)| {
                        let body = body.clone();
                        async move {
                            if pos >= body.len() {
                                drop(guard);
                                return None;
                            }
                            if pos > 0 {
                                tokio::time::sleep(every).await;
                            }
                            let end = (pos + chunk).min(body.len());
                            Some((Ok::<_, std::io::Error>(body.slice(pos..end)), (end, guard)))
                        }
                    });
                let body = Body::from_stream(chunks);
                respond(200, content_type.as_deref(), len, body, request_id)
            }
        }
    }
}

pub fn respond(
    status: u16,
    content_type: Option<&str>,
    len: usize,
    body: Body,
    request_id: &str,
) -> Response {
    let mut response = Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    if let Some(ct) = content_type.and_then(|ct| HeaderValue::from_str(ct).ok()) {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

pub fn bare(status: u16) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
}

/// `now + ttl` as AWS writes timestamps: `2026-11-23T04:58:31Z`.
fn expiration(ttl: Duration) -> String {
    format_utc(time::OffsetDateTime::now_utc() + ttl)
}

/// RFC 3339 in UTC with whole seconds, written by hand so `time`'s formatting feature is not
/// needed.
pub fn format_utc(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Unpredictable enough for token suffixes and request ids, without a `rand` dependency:
/// std's randomly keyed SipHash over a counter and the clock.
pub fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// A UUID-shaped request id, as AWS sends.
pub fn request_id() -> String {
    let (a, b) = (random_u64(), random_u64());
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// The IAM Identity Center portal's `GetRoleCredentials` (what aws-config's SSO provider calls).
const SSO_ROLE_CREDENTIALS_PATH: &str = "/federation/credentials";

/// Answers `GetRoleCredentials` with role credentials derived from the bearer token, so a test
/// can tell which person's `aws sso login` a token was fetched with: the access key id is
/// `ASIA` + the token's letters and digits in upper case (padded to 16 characters). These
/// requests are not recorded: the records stay the Redshift calls.
fn sso_role_credentials(headers: &axum::http::HeaderMap) -> Response {
    let Some(bearer) = header_str(headers, "x-amz-sso_bearer_token") else {
        return bare(401);
    };
    let mut id: String = bearer
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .take(16)
        .collect();
    while id.len() < 16 {
        id.push('0');
    }
    let expiration_ms = (std::time::SystemTime::now() + Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    let body = serde_json::json!({"roleCredentials": {
        "accessKeyId": format!("ASIA{id}"),
        "secretAccessKey": "ssoSecretKeyOfTheStandIn000000000000000",
        "sessionToken": format!("ssoSession{id}"),
        "expiration": expiration_ms,
    }});
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(body.to_string()))
        .unwrap_or_else(|_| bare(500))
}

#[cfg(test)]
mod tests {
    //! Raw-HTTP checks of the stand-in itself (the SDK-driven ones live in
    //! `standin_selftest.rs`): these can send what the SDK never would.
    use super::*;
    use std::io::Read;
    use std::net::TcpStream;
    use std::time::Instant;

    const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn auth(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDRAW/20261123/eu-west-1/{service}/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, Signature={SIG}"
        )
    }

    /// One request over a fresh connection (`Connection: close`), returning the raw answer
    /// bytes up to EOF (or what arrived before the connection failed).
    fn send(url: &str, extra_headers: &[(&str, String)], body: &str) -> Vec<u8> {
        let addr = url.trim_start_matches("http://");
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!(
            "POST / HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
             x-amz-date: 20261123T045831Z\r\ncontent-length: {}\r\n",
            body.len()
        );
        for (k, v) in extra_headers {
            req += &format!("{k}: {v}\r\n");
        }
        req += "\r\n";
        req += body;
        s.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        out
    }

    fn redshift(url: &str, body: &str) -> String {
        let headers = [
            ("authorization", auth("redshift")),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
        ];
        String::from_utf8_lossy(&send(url, &headers, body)).into_owned()
    }

    fn serverless(url: &str, target: &str, body: &str) -> String {
        let headers = [
            ("authorization", auth("redshift-serverless")),
            ("content-type", JSON_CONTENT_TYPE.to_string()),
            ("x-amz-target", target.to_string()),
        ];
        String::from_utf8_lossy(&send(url, &headers, body)).into_owned()
    }

    const RS_BODY: &str = "Action=GetIdentityCenterAuthToken&Version=2012-12-01\
                           &ClusterIds.ClusterIdentifier.2=c2&ClusterIds.ClusterIdentifier.1=c1";
    const RSS_BODY: &str = r#"{"workgroupNames":["wg1","wg2"]}"#;

    fn body_of(answer: &str) -> &str {
        answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    #[test]
    fn redshift_token_names_its_key_and_targets() {
        let s = StandIn::start();
        let answer = redshift(&s.url(), RS_BODY);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("content-type: text/xml"), "{answer}");
        let rec = &s.requests()[0];
        assert_eq!(rec.service, Some(Service::Redshift));
        assert_eq!(rec.targets, ["c1", "c2"]);
        assert_eq!(rec.access_key_id.as_deref(), Some("AKIDRAW"));
        assert_eq!(rec.region.as_deref(), Some("eu-west-1"));
        assert_eq!(rec.signing_service.as_deref(), Some("redshift"));
        assert!(!rec.has_security_token);
        assert!(rec.problems.is_empty(), "{:?}", rec.problems);
        let token = rec.token.clone().unwrap();
        assert!(
            token.starts_with("idc.rs.eu-west-1.AKIDRAW.c1+c2.1."),
            "{token}"
        );
        assert_eq!(token.rsplit('.').next().unwrap().len(), 16);
        assert!(body_of(&answer).contains(&format!("<Token>{token}</Token>")));
        assert!(body_of(&answer).contains("<ExpirationTime>"));
        let id = answer
            .lines()
            .find_map(|l| l.strip_prefix("x-amzn-requestid: "))
            .unwrap()
            .trim();
        assert!(body_of(&answer).contains(&format!("<RequestId>{id}</RequestId>")));
    }

    #[test]
    fn serverless_token_is_json_with_iso_expiration() {
        let s = StandIn::start_with(Config {
            ttl: Duration::from_secs(60),
            ..Config::default()
        });
        let answer = serverless(&s.url(), SERVERLESS_TARGET, RSS_BODY);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let v: serde_json::Value = serde_json::from_str(body_of(&answer)).unwrap();
        let token = v["token"].as_str().unwrap();
        assert!(
            token.starts_with("idc.rss.eu-west-1.AKIDRAW.wg1+wg2.1."),
            "{token}"
        );
        let exp = v["expirationTime"].as_str().unwrap();
        let want = format_utc(time::OffsetDateTime::now_utc() + Duration::from_secs(60));
        assert_eq!(exp.len(), "2026-11-23T04:58:31Z".len());
        assert!(exp.ends_with('Z'));
        // Same minute, give or take a second boundary.
        assert_eq!(&exp[..15], &want[..15], "{exp} vs {want}");
        assert_eq!(s.requests()[0].service, Some(Service::Serverless));
    }

    #[test]
    fn unsigned_request_is_rejected_in_xml_and_recorded() {
        let s = StandIn::start();
        let headers = [(
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        )];
        let answer = String::from_utf8(send(&s.url(), &headers, RS_BODY)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("<Code>MissingAuthenticationToken</Code>"));
        let rec = &s.requests()[0];
        assert_eq!(rec.problems, ["unsigned: no Authorization header"]);
        assert_eq!(rec.token, None);
    }

    #[test]
    fn malformed_requests_get_problems_and_do_not_consume_the_queue() {
        let s = StandIn::start();
        s.push(Reply::Status(503));
        let wrong_action = redshift(
            &s.url(),
            "Action=DescribeClusters&Version=2012-12-01&ClusterIds.ClusterIdentifier.1=c",
        );
        assert!(
            wrong_action.contains("<Code>InvalidAction</Code>"),
            "{wrong_action}"
        );
        let wrong_version = redshift(
            &s.url(),
            "Action=GetIdentityCenterAuthToken&Version=2099-01-01&ClusterIds.ClusterIdentifier.1=c",
        );
        assert!(wrong_version.contains("<Code>InvalidParameterValue</Code>"));
        let no_clusters = redshift(
            &s.url(),
            "Action=GetIdentityCenterAuthToken&Version=2012-12-01&ClusterIds=",
        );
        assert!(no_clusters.starts_with("HTTP/1.1 400"));
        let wrong_target = serverless(&s.url(), "RedshiftServerless.GetCredentials", RSS_BODY);
        assert!(wrong_target.starts_with("HTTP/1.1 400"), "{wrong_target}");
        assert!(body_of(&wrong_target).contains(r#""__type":"UnknownOperationException""#));
        let alien = serverless(&s.url(), "DynamoDB_20120810.GetItem", RSS_BODY);
        assert!(alien.contains("UnknownOperationException"));
        let bad_json = serverless(&s.url(), SERVERLESS_TARGET, "{");
        assert!(bad_json.contains("SerializationException"), "{bad_json}");
        let empty = serverless(&s.url(), SERVERLESS_TARGET, r#"{"workgroupNames":[]}"#);
        assert!(empty.contains("ValidationException"), "{empty}");

        // Signed for the wrong service: Serverless target, `redshift` scope.
        let headers = [
            ("authorization", auth("redshift")),
            ("content-type", JSON_CONTENT_TYPE.to_string()),
            ("x-amz-target", SERVERLESS_TARGET.to_string()),
        ];
        let wrong_scope = String::from_utf8(send(&s.url(), &headers, RSS_BODY)).unwrap();
        assert!(
            wrong_scope.contains("IncompleteSignatureException"),
            "{wrong_scope}"
        );
        // A short signature.
        let headers = [
            ("authorization", auth("redshift").replace(SIG, "abc")),
            (
                "content-type",
                "application/x-www-form-urlencoded".to_string(),
            ),
        ];
        let short_sig = String::from_utf8(send(&s.url(), &headers, RS_BODY)).unwrap();
        assert!(
            short_sig.contains("<Code>IncompleteSignature</Code>"),
            "{short_sig}"
        );

        // The generic list form the SDK does not use for Redshift.
        let generic_list = redshift(
            &s.url(),
            "Action=GetIdentityCenterAuthToken&Version=2012-12-01&ClusterIds.member.1=c",
        );
        assert!(
            generic_list.contains("ClusterIdentifier.N"),
            "{generic_list}"
        );

        let recs = s.requests();
        assert_eq!(recs.len(), 10);
        assert!(recs.iter().all(|r| !r.problems.is_empty()), "{recs:#?}");
        assert_eq!(recs[4].service, None);
        assert_eq!(
            s.pending_replies(),
            1,
            "problems must not eat queued replies"
        );
    }

    #[test]
    fn queued_replies_play_in_order() {
        let s = StandIn::start_with(Config {
            fixed_token: Some("FIXED".into()),
            ..Config::default()
        });
        s.push(Reply::Status(500));
        s.push(Reply::Raw {
            status: 200,
            content_type: "text/xml".into(),
            body: b"<oops".to_vec(),
        });
        s.push(Reply::Custom {
            token: Some("a<b".into()),
            expiration: None,
        });
        s.push(Reply::error("InternalServerException", "boom"));
        s.push(Reply::Delay(
            Duration::from_millis(300),
            Box::new(Reply::Token),
        ));
        let status = redshift(&s.url(), RS_BODY);
        assert!(status.starts_with("HTTP/1.1 500"));
        assert!(status.contains("content-length: 0"), "{status}");
        assert_eq!(body_of(&redshift(&s.url(), RS_BODY)), "<oops");
        let custom = redshift(&s.url(), RS_BODY);
        assert!(
            body_of(&custom).contains(
                "<GetIdentityCenterAuthTokenResult><Token>a&lt;b</Token></GetIdentityCenterAuthTokenResult>"
            ),
            "{custom}"
        );
        let err = serverless(&s.url(), SERVERLESS_TARGET, RSS_BODY);
        assert!(err.starts_with("HTTP/1.1 500"), "{err}");
        assert_eq!(
            body_of(&err),
            r#"{"__type":"InternalServerException","message":"boom"}"#
        );
        let t0 = Instant::now();
        let delayed = serverless(&s.url(), SERVERLESS_TARGET, RSS_BODY);
        assert!(t0.elapsed() >= Duration::from_millis(300));
        assert!(
            body_of(&delayed).contains(r#""token":"FIXED""#),
            "{delayed}"
        );
        let replies: Vec<String> = s.requests().into_iter().map(|r| r.reply).collect();
        assert_eq!(
            replies,
            [
                "status:500",
                "raw:200:5B",
                "custom",
                "error:InternalServerException",
                "delay 300ms, token"
            ]
        );
        assert_eq!(s.requests()[4].token.as_deref(), Some("FIXED"));
    }

    #[test]
    fn reset_sends_part_of_the_answer_then_closes() {
        let s = StandIn::start();
        s.push(Reply::Reset);
        let answer = String::from_utf8(send(&s.url(), &headers_rss(), RSS_BODY)).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        let promised: usize = answer
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let got = body_of(&answer).len();
        assert!(got > 0 && got < promised, "got {got} of {promised}");
        assert_eq!(s.requests()[0].token, None);
    }

    fn headers_rss() -> [(&'static str, String); 3] {
        [
            ("authorization", auth("redshift-serverless")),
            ("content-type", JSON_CONTENT_TYPE.to_string()),
            ("x-amz-target", SERVERLESS_TARGET.to_string()),
        ]
    }

    #[test]
    fn drip_trickles_a_valid_answer() {
        let s = StandIn::start();
        s.push(Reply::Drip { bytes_per_sec: 200 });
        let t0 = Instant::now();
        let answer = serverless(&s.url(), SERVERLESS_TARGET, RSS_BODY);
        let body = body_of(&answer);
        // About 100 bytes at 20 bytes per 100 ms.
        let min = Duration::from_millis(100 * (body.len() as u64 / 20).saturating_sub(1));
        assert!(t0.elapsed() >= min, "{:?} < {min:?}", t0.elapsed());
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["token"].as_str(), s.requests()[0].token.as_deref());
    }

    #[test]
    fn hang_ends_when_the_standin_is_dropped() {
        let s = StandIn::start();
        s.push(Reply::Hang);
        let url = s.url();
        let client = std::thread::spawn(move || {
            let t0 = Instant::now();
            let answer = send(&url, &headers_rss(), RSS_BODY);
            (answer, t0.elapsed())
        });
        while s.request_count() == 0 {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!s.is_finished());
        std::thread::sleep(Duration::from_millis(200));
        drop(s);
        let (answer, waited) = client.join().unwrap();
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
        assert!(waited < Duration::from_secs(5), "{waited:?}");
    }

    #[test]
    fn limits_bound_the_server() {
        let s = StandIn::start_with(Config {
            max_requests: 2,
            ..Config::default()
        });
        assert!(redshift(&s.url(), RS_BODY).starts_with("HTTP/1.1 200"));
        assert!(!s.is_finished());
        assert!(redshift(&s.url(), RS_BODY).starts_with("HTTP/1.1 200"));
        assert!(redshift(&s.url(), RS_BODY).starts_with("HTTP/1.1 503"));
        assert_eq!(s.request_count(), 2);
        assert!(s.is_finished());

        let s = StandIn::start_with(Config {
            max_lifetime: Duration::from_millis(200),
            ..Config::default()
        });
        let addr = s.url().trim_start_matches("http://").to_string();
        std::thread::sleep(Duration::from_millis(500));
        assert!(!s.is_running());
        assert!(s.is_finished());
        assert!(TcpStream::connect(&addr).is_err(), "port still open");
    }

    #[test]
    fn log_file_gets_one_json_line_per_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("standin.log");
        let s = StandIn::start_with(Config {
            log_file: Some(path.clone()),
            ..Config::default()
        });
        redshift(&s.url(), RS_BODY);
        serverless(&s.url(), "nope", RSS_BODY);
        drop(s);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["service"], "redshift");
        assert_eq!(lines[0]["targets"], serde_json::json!(["c1", "c2"]));
        assert_eq!(lines[0]["access_key_id"], "AKIDRAW");
        assert!(lines[0]["token"].as_str().unwrap().starts_with("idc.rs."));
        assert_eq!(lines[1]["service"], serde_json::Value::Null);
        assert_eq!(lines[1]["problems"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn amz_date_and_request_id_shapes() {
        assert!(is_amz_date("20261123T045831Z"));
        assert!(!is_amz_date("2026-11-23T04:58:31Z"));
        let id = request_id();
        assert_eq!(id.len(), 36, "{id}");
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(random_u64(), random_u64());
        let t = time::OffsetDateTime::from_unix_timestamp(1_795_409_911).unwrap();
        assert_eq!(format_utc(t), "2026-11-23T04:58:31Z");
    }
}
