//! `doctor`: check, step by step, everything a token run depends on, then make one real call.
//!
//! Why it exists: when a driver fails to connect, the one-line error of a token run says what
//! went wrong at the point it went wrong, but not what the program saw on the way there:
//! which region it picked and from where, which profile, which credential provider the AWS
//! SDK ended up using, whether those credentials are temporary (long-term keys can never be
//! identity-enhanced), whether the cache can be used. Support questions start with exactly
//! those facts. `doctor` collects them in order, marks each `ok`, `warn` or `fail`, skips
//! what depends on a failure, and explains the final AWS answer in terms of the fix (the
//! IAM action and ARN to allow, the kind of session needed). It never prints a secret key,
//! session token or token, and it bypasses the cache so the call it reports is a real one.
//!
//! The step runner ([`diagnose`]) takes the outside world as traits (`Fetch` for the call and
//! the region discovery, [`ProbeCredentials`] for the credential chain), so its logic is
//! unit-tested with fakes; [`run`] wires in the AWS implementations and prints the report.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

use crate::cache::{self, Cache};
use crate::cli::{DoctorArgs, GlobalArgs, TokenArgs};
use crate::env::{self, Env};
use crate::error::Error;
use crate::fetch::{AwsFetcher, Call, Fetch, ProbeCredentials};
use crate::profile::{self, FileKind};
use crate::settings::{Sourced, TokenRequest};
use crate::target::{self, Service, Targets};
use crate::token::rfc3339;

/// Credentials expiring sooner than this get a warning: a token fetched now would outlive them
/// by little, and the next run will need fresh ones.
const EXPIRY_WARNING: Duration = Duration::from_secs(5 * 60);

/// The outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    Warn,
    Fail,
    Skipped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Skipped => "skipped",
        }
    }
}

/// One checked step: a one-line summary, ordered details, and for problems what to do.
#[derive(Debug)]
pub struct Step {
    /// Stable machine name: targets, region, endpoint, profile, credentials, cache, call.
    pub id: &'static str,
    pub status: Status,
    pub summary: String,
    /// Machine-readable facts (all in `--json`); the flag says whether the text report shows
    /// it too (most are already in the summary line).
    pub details: Vec<(&'static str, Value, bool)>,
    pub fix: Option<String>,
    /// The error behind a `Fail`; its exit code is the run's when it is the first failure.
    pub error: Option<Error>,
}

impl Step {
    fn new(id: &'static str, status: Status, summary: impl Into<String>) -> Step {
        Step {
            id,
            status,
            summary: summary.into(),
            details: Vec::new(),
            fix: None,
            error: None,
        }
    }

    fn failed(id: &'static str, error: Error) -> Step {
        let mut s = Step::new(id, Status::Fail, error.to_string());
        s.error = Some(error);
        s
    }

    fn skipped(id: &'static str, because: &str) -> Step {
        Step::new(id, Status::Skipped, format!("skipped: {because}"))
    }

    /// A fact for `--json` only.
    fn detail(mut self, key: &'static str, value: impl Into<Value>) -> Step {
        self.details.push((key, value.into(), false));
        self
    }

    /// A fact for `--json` and the text report.
    fn note(mut self, key: &'static str, value: impl Into<Value>) -> Step {
        self.details.push((key, value.into(), true));
        self
    }

    fn fix(mut self, fix: impl Into<String>) -> Step {
        self.fix = Some(fix.into());
        self
    }

    fn passed(&self) -> bool {
        matches!(self.status, Status::Ok | Status::Warn)
    }
}

/// The whole report, in step order.
#[derive(Debug, Default)]
pub struct Report {
    pub steps: Vec<Step>,
}

impl Report {
    pub fn step(&self, id: &str) -> Option<&Step> {
        self.steps.iter().find(|s| s.id == id)
    }

    fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.status == Status::Fail)
    }

    /// 0 when every step is ok or warn, else the exit code of the first failure's error.
    pub fn exit_code(&self) -> u8 {
        self.first_failure()
            .map_or(0, |s| s.error.as_ref().map_or(1, |e| e.exit_code() as u8))
    }

    fn verdict(&self) -> String {
        let warnings = self
            .steps
            .iter()
            .filter(|s| s.status == Status::Warn)
            .count();
        match self.first_failure() {
            Some(f) => format!(
                "failed at step '{}' (exit status {})",
                f.id,
                self.exit_code()
            ),
            None if warnings > 0 => format!(
                "all checks passed, with {warnings} warning{}",
                if warnings == 1 { "" } else { "s" }
            ),
            None => "all checks passed".to_owned(),
        }
    }

    /// The `--json` document.
    pub fn to_json(&self) -> Value {
        let steps: Vec<Value> = self
            .steps
            .iter()
            .map(|s| {
                let details: serde_json::Map<String, Value> = s
                    .details
                    .iter()
                    .map(|(k, v, _)| ((*k).to_owned(), v.clone()))
                    .collect();
                json!({
                    "step": s.id,
                    "status": s.status.as_str(),
                    "summary": s.summary,
                    "details": details,
                    "fix": s.fix,
                })
            })
            .collect();
        json!({
            "version": 1,
            "ok": self.first_failure().is_none(),
            "exit_code": self.exit_code(),
            "verdict": self.verdict(),
            "steps": steps,
        })
    }

    /// The readable report: one line per step, its details indented below it.
    pub fn to_text(&self) -> String {
        let mut out = String::from("redshift-idc-token doctor\n\n");
        for s in &self.steps {
            out.push_str(&format!(
                "{:<8} {:<12} {}\n",
                s.status.as_str(),
                s.id,
                s.summary
            ));
            for (k, v, _) in s.details.iter().filter(|d| d.2) {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                        .collect::<Vec<_>>()
                        .join(", "),
                    other => other.to_string(),
                };
                out.push_str(&format!("{:22}{k}: {v}\n", ""));
            }
            if let Some(fix) = &s.fix {
                out.push_str(&format!("{:22}fix: {fix}\n", ""));
            }
        }
        out.push_str(&format!("\nresult: {}\n", self.verdict()));
        out
    }
}

/// Everything `diagnose` needs.
pub struct Inputs<'a> {
    pub args: &'a TokenArgs,
    pub env: &'a Env,
    /// `--cache-dir`, if given.
    pub cache_dir: Option<&'a Path>,
    pub fetcher: &'a dyn Fetch,
    pub credentials: &'a dyn ProbeCredentials,
    pub clock: &'a dyn Fn() -> SystemTime,
}

/// Runs `doctor`: prints the report on stdout and returns the exit status.
pub fn run(args: &DoctorArgs, global: &GlobalArgs, env: &Env) -> Result<u8, Error> {
    // One fetcher plays both parts, so the credentials the probe resolves are the ones the
    // call uses (a credential_process runs once).
    let aws = AwsFetcher::default();
    let report = diagnose(&Inputs {
        args: &args.token,
        env,
        cache_dir: global.cache_dir.as_deref(),
        fetcher: &aws,
        credentials: &aws,
        clock: &SystemTime::now,
    });
    let mut doc = if args.json {
        report.to_json().to_string()
    } else {
        report.to_text()
    };
    if args.json {
        doc.push('\n');
    }
    match crate::output::write_document(io::stdout().lock(), doc.as_bytes()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        other => other.map_err(|source| Error::Output { source })?,
    }
    Ok(report.exit_code())
}

/// Runs every step in order; a step whose input failed is skipped.
pub fn diagnose(inp: &Inputs<'_>) -> Report {
    let mut report = Report::default();
    let steps = &mut report.steps;

    // 1. Targets, parsed on their own so that a bad region or endpoint is reported separately.
    let targets = match parse_targets(inp.args) {
        Ok((targets, host)) => {
            steps.push(targets_step(&targets, host.as_ref(), inp.args));
            Some(targets)
        }
        Err(e) => {
            steps.push(Step::failed("targets", e).fix(
                "pass --cluster-id ID, --workgroup NAME, or the endpoint host name with --host",
            ));
            None
        }
    };

    // The rest of the settings, validated as a token run validates them.
    let request = match targets
        .as_ref()
        .map(|_| TokenRequest::from_args(inp.args, inp.env))
    {
        None => None,
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            let id = bad_setting(inp.args, &e);
            let mut error = Some(e);
            for step in ["region", "endpoint", "profile"] {
                match error.take_if(|_| step == id) {
                    Some(e) => steps.push(Step::failed(step, e)),
                    None => steps.push(Step::skipped(step, "the settings are invalid")),
                }
            }
            None
        }
    };

    let Some(req) = request else {
        if targets.is_none() {
            for id in ["region", "endpoint", "profile"] {
                steps.push(Step::skipped(id, "needs valid targets"));
            }
        }
        steps.push(Step::skipped("credentials", "needs valid settings"));
        steps.push(cache_step(inp));
        steps.push(Step::skipped("call", "needs valid settings"));
        return report;
    };

    // 2. Region and endpoint.
    let region = region_step(inp, &req, steps);
    steps.push(endpoint_step(&req, region.as_deref()));

    // 3. Profile and the shared files.
    let files = SharedFiles::read(inp.env, req.profile_name());
    steps.push(profile_step(&req, &files));

    // 4. Credentials.
    let inferred = infer_source(inp.env, req.profile_name(), &files);
    let creds_ok = match &region {
        None => {
            steps.push(Step::skipped("credentials", "needs a region"));
            false
        }
        Some(region) => {
            let step = credentials_step(inp, &req, region, &inferred);
            let ok = step.passed();
            steps.push(step);
            ok
        }
    };

    // 5. The cache (never blocks the call: a token run goes on without it).
    steps.push(cache_step(inp));

    // 6. One real call, bypassing the cache.
    match (&region, creds_ok) {
        (None, _) => steps.push(Step::skipped("call", "needs a region")),
        (_, false) => steps.push(Step::skipped("call", "needs working credentials")),
        (Some(region), true) => steps.push(call_step(inp, &req, region, &inferred)),
    }
    report
}

/// The targets exactly as `TokenRequest::from_args` derives them, and the host parse if any.
fn parse_targets(args: &TokenArgs) -> Result<(Targets, Option<target::HostTarget>), Error> {
    if let Some(host) = &args.host {
        let parsed = target::parse_host(host)?;
        return Ok((parsed.targets.clone(), Some(parsed)));
    }
    let targets = if args.workgroups.is_empty() {
        Targets::clusters(args.clusters.clone())?
    } else {
        Targets::workgroups(args.workgroups.clone())?
    };
    Ok((targets, None))
}

/// Which of the settings `from_args` rejected, given that the targets were fine.
fn bad_setting(args: &TokenArgs, e: &Error) -> &'static str {
    if args
        .region
        .as_deref()
        .is_some_and(|r| !target::is_region(r))
    {
        "region"
    } else if e.to_string().starts_with("invalid endpoint URL") {
        "endpoint"
    } else {
        "profile"
    }
}

fn targets_step(targets: &Targets, host: Option<&target::HostTarget>, args: &TokenArgs) -> Step {
    let service = targets.service();
    let mut step = Step::new(
        "targets",
        Status::Ok,
        format!("{} ({}): {targets}", service.name(), service_title(service)),
    )
    .detail("service", service.name())
    .detail("targets", targets.names());
    if let (Some(h), Some(input)) = (host, &args.host) {
        step = step
            .note("host", target::printable(input))
            .note("derived", format!("{} in region {}", h.targets, h.region));
    }
    step
}

fn service_title(service: Service) -> &'static str {
    match service {
        Service::Redshift => "Amazon Redshift provisioned",
        Service::Serverless => "Amazon Redshift Serverless",
    }
}

/// The region step; returns the region when there is one.
fn region_step(inp: &Inputs<'_>, req: &TokenRequest, steps: &mut Vec<Step>) -> Option<String> {
    if let Some(Sourced { value, from }) = &req.region {
        steps.push(
            Step::new(
                "region",
                Status::Ok,
                format!("{value} (from {})", describe_source(from)),
            )
            .detail("region", value.as_str())
            .detail("from", *from),
        );
        return Some(value.clone());
    }
    let deadline = Instant::now() + req.timeout;
    match inp.fetcher.discover_region(req, deadline) {
        Some(r) => {
            steps.push(
                Step::new(
                    "region",
                    Status::Warn,
                    format!("{r} (from the instance metadata service: nothing configured locally)"),
                )
                .detail("region", r.as_str())
                .detail("from", "instance metadata")
                .fix("set the region explicitly (--region, AWS_REGION or `region` in the profile) so a run needs no metadata lookup"),
            );
            Some(r)
        }
        None => {
            steps.push(Step::failed("region", Error::NoRegion).fix(
                "pass --region, set AWS_REGION, set `region = ...` in the profile, or pass --host with the endpoint host name",
            ));
            None
        }
    }
}

fn describe_source(from: &str) -> String {
    match from {
        "profile" => "the profile's `region` setting".to_owned(),
        "--host" => "the --host name".to_owned(),
        other => other.to_owned(),
    }
}

fn endpoint_step(req: &TokenRequest, region: Option<&str>) -> Step {
    let service = req.service();
    match (&req.endpoint, region) {
        (Some(Sourced { value, from }), _) => {
            let shown = target::printable(value);
            let step = Step::new("endpoint", Status::Ok, format!("{shown} (from {from})"))
                .detail("endpoint", shown.as_str())
                .detail("from", *from);
            if plain_http_off_host(value) {
                Step {
                    status: Status::Warn,
                    ..step
                }
                .fix("use an https:// endpoint: over plain HTTP the token travels unencrypted")
            } else {
                step
            }
        }
        (None, Some(region)) => {
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            let url = format!("https://{}.{region}.{suffix}", service.name());
            Step::new(
                "endpoint",
                Status::Ok,
                format!("{url} (the service's regional default)"),
            )
            .detail("endpoint", url)
            .detail("from", "regional default")
        }
        (None, None) => Step::skipped("endpoint", "the default endpoint depends on the region"),
    }
}

/// `http://` to anything but this machine.
fn plain_http_off_host(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    };
    !(host == "localhost" || host.starts_with("127.") || host == "[::1]")
}

/// The selected profile's keys in the two shared files (names only are ever shown).
#[derive(Debug, Default)]
struct SharedFiles {
    config_path: Option<PathBuf>,
    config_exists: bool,
    /// The profile's section in the config file: its keys (lower case) and values.
    config: Option<Vec<(String, String)>>,
    credentials_path: Option<PathBuf>,
    credentials_exists: bool,
    credentials: Option<Vec<(String, String)>>,
}

impl SharedFiles {
    fn read(env: &Env, profile: &str) -> SharedFiles {
        let config_path = env.config_file();
        let credentials_path = env.credentials_file();
        let read = |p: &Option<PathBuf>| p.as_ref().and_then(|p| std::fs::read_to_string(p).ok());
        let config_text = read(&config_path);
        let credentials_text = read(&credentials_path);
        SharedFiles {
            config_exists: config_path.as_ref().is_some_and(|p| p.is_file()),
            config: config_text
                .as_deref()
                .and_then(|t| profile::section(t, profile, FileKind::Config)),
            config_path,
            credentials_exists: credentials_path.as_ref().is_some_and(|p| p.is_file()),
            credentials: credentials_text
                .as_deref()
                .and_then(|t| profile::section(t, profile, FileKind::Credentials)),
            credentials_path,
        }
    }

    fn config_has(&self, key: &str) -> bool {
        has_key(self.config.as_deref(), key)
    }

    fn credentials_has(&self, key: &str) -> bool {
        has_key(self.credentials.as_deref(), key)
    }

    fn has(&self, key: &str) -> bool {
        self.config_has(key) || self.credentials_has(key)
    }

    fn value(&self, key: &str) -> Option<&str> {
        [&self.credentials, &self.config]
            .into_iter()
            .flatten()
            .flat_map(|s| s.iter())
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn has_key(section: Option<&[(String, String)]>, key: &str) -> bool {
    section.is_some_and(|s| s.iter().any(|(k, v)| k == key && !v.is_empty()))
}

fn profile_step(req: &TokenRequest, files: &SharedFiles) -> Step {
    let name = req.profile_name();
    let (chosen, from) = match &req.profile {
        Some(p) => (true, p.from),
        None => (false, "default"),
    };
    let file_state = |path: &Option<PathBuf>, exists: bool| match path {
        Some(p) => format!(
            "{} ({})",
            p.display(),
            if exists { "exists" } else { "missing" }
        ),
        None => "unknown (no home directory)".to_owned(),
    };
    let defined = files.config.is_some() || files.credentials.is_some();
    let mut step = Step::new(
        "profile",
        Status::Ok,
        format!(
            "{name} ({}){}",
            if chosen {
                format!("from {from}")
            } else {
                "no --profile or AWS_PROFILE".to_owned()
            },
            match (defined, chosen) {
                (true, _) => "",
                (false, false) => ", not defined in the shared files",
                (false, true) => ", NOT defined in the shared files",
            }
        ),
    )
    .detail("profile", name)
    .detail("from", from)
    .detail("defined", defined)
    .note(
        "config_file",
        file_state(&files.config_path, files.config_exists),
    )
    .note(
        "credentials_file",
        file_state(&files.credentials_path, files.credentials_exists),
    );
    if chosen && !defined {
        step.status = Status::Warn;
        step.fix = Some(format!(
            "add [profile {name}] to the config file (see plugin-config/aws/config.example), or fix the name given with {from}"
        ));
    }
    step
}

/// Where the credentials should come from, judged from the environment and the profile the
/// way the default chain searches: environment, profile, web identity, container, instance.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inferred {
    source: &'static str,
    basis: String,
}

fn infer_source(env: &Env, profile: &str, files: &SharedFiles) -> Inferred {
    let inferred = |source, basis: String| Inferred { source, basis };
    if env.get(env::AWS_ACCESS_KEY_ID).is_some() && env.get(env::AWS_SECRET_ACCESS_KEY).is_some() {
        return inferred(
            "environment variables",
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set".into(),
        );
    }
    if files.has("role_arn") {
        let base = match (
            files.value("source_profile"),
            files.value("credential_source"),
        ) {
            (Some(sp), _) => format!(", from source_profile {sp}"),
            (None, Some(cs)) => format!(", from credential_source {cs}"),
            _ => String::new(),
        };
        return inferred(
            "assume role",
            format!("profile {profile} has role_arn{base}"),
        );
    }
    if files.has("web_identity_token_file") {
        return inferred(
            "web identity",
            format!("profile {profile} has web_identity_token_file"),
        );
    }
    if files.has("sso_session") || files.has("sso_start_url") {
        return inferred(
            "IAM Identity Center (SSO)",
            format!("profile {profile} has sso_session/sso_start_url"),
        );
    }
    if files.has("credential_process") {
        return inferred(
            "credential_process",
            format!("profile {profile} has credential_process"),
        );
    }
    if files.credentials_has("aws_access_key_id") {
        return inferred(
            "shared credentials file",
            format!("profile {profile} has aws_access_key_id in the credentials file"),
        );
    }
    if files.config_has("aws_access_key_id") {
        return inferred(
            "shared config file",
            format!("profile {profile} has aws_access_key_id in the config file"),
        );
    }
    if env.get(env::AWS_WEB_IDENTITY_TOKEN_FILE).is_some() {
        return inferred("web identity", "AWS_WEB_IDENTITY_TOKEN_FILE is set".into());
    }
    if env
        .get(env::AWS_CONTAINER_CREDENTIALS_RELATIVE_URI)
        .is_some()
        || env.get(env::AWS_CONTAINER_CREDENTIALS_FULL_URI).is_some()
    {
        return inferred(
            "container metadata",
            "AWS_CONTAINER_CREDENTIALS_* is set".into(),
        );
    }
    if env.is_true(env::AWS_EC2_METADATA_DISABLED) {
        return inferred(
            "none",
            "nothing in the environment or the profile, and AWS_EC2_METADATA_DISABLED=true".into(),
        );
    }
    inferred(
        "container/instance metadata",
        "nothing in the environment or the profile: the SDK asks the instance metadata service"
            .into(),
    )
}

/// `AKIDSANDBOX0000TEST` → `AKID****TEST`.
pub fn mask_key_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 12 {
        return "****".to_owned();
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}****{tail}")
}

fn credentials_step(
    inp: &Inputs<'_>,
    req: &TokenRequest,
    region: &str,
    inferred: &Inferred,
) -> Step {
    let deadline = Instant::now() + req.timeout;
    match inp.credentials.credentials(req, region, deadline) {
        Err(e) => {
            let fix = match inferred.source {
                "IAM Identity Center (SSO)" => format!(
                    "sign in again: aws sso login --profile {}",
                    req.profile_name()
                ),
                "credential_process" => {
                    "run the profile's credential_process command by hand to see why it fails"
                        .to_owned()
                }
                "none" | "container/instance metadata" => {
                    "configure credentials: a profile with --profile/AWS_PROFILE (see plugin-config/aws/config.example), or export identity-enhanced role credentials".to_owned()
                }
                other => format!("check the credentials from {other} ({})", inferred.basis),
            };
            Step::failed("credentials", e)
                .note("expected_source", inferred.source)
                .note("basis", inferred.basis.as_str())
                .fix(fix)
        }
        Ok(c) => {
            let now = (inp.clock)();
            let (source, basis) = match c.reported_source {
                Some(s) => (s, "reported by the AWS SDK".to_owned()),
                None => (inferred.source, format!("inferred: {}", inferred.basis)),
            };
            let expiry = c
                .expiry
                .map(|e| (rfc3339(e), e.duration_since(now).unwrap_or_default()));
            if let Some((at, left)) = &expiry
                && left.is_zero()
            {
                return Step::failed(
                    "credentials",
                    Error::ExpiredCredentials {
                        provider: source.to_owned(),
                        expired_at: at.clone(),
                    },
                )
                .detail("source", source);
            }
            let life = match &expiry {
                Some((at, left)) => format!("expire {at} (in {})", human(*left)),
                None => "no expiry given".to_owned(),
            };
            let mut step = Step::new(
                "credentials",
                Status::Ok,
                format!(
                    "{source}: {}, {}, {life}",
                    mask_key_id(&c.access_key_id),
                    if c.temporary {
                        "temporary (session token present)"
                    } else {
                        "long-term (no session token)"
                    },
                ),
            )
            .detail("source", source)
            .note("basis", basis)
            .detail("access_key_id", mask_key_id(&c.access_key_id))
            .detail("temporary", c.temporary)
            .detail("expiration", expiry.as_ref().map(|(at, _)| at.clone()))
            .detail(
                "remaining_seconds",
                expiry.as_ref().map(|(_, l)| l.as_secs()),
            );
            if !c.temporary {
                step.status = Status::Warn;
                step.fix = Some("long-term access keys are never identity-enhanced: use a role session assumed with an IAM Identity Center context (see plugin-config/aws/config.example)".into());
            } else if let Some((_, left)) = &expiry
                && *left < EXPIRY_WARNING
            {
                step.status = Status::Warn;
                step.fix = Some("the credentials expire within minutes: refresh them (e.g. aws sso login) before a long session".into());
            }
            step
        }
    }
}

fn cache_step(inp: &Inputs<'_>) -> Step {
    let Some(root) = cache::default_root(inp.cache_dir) else {
        return Step::new("cache", Status::Warn, cache::Unavailable::NoDirectory.to_string())
            .fix("pass --cache-dir or set REDSHIFT_IDC_TOKEN_CACHE_DIR; runs go on without the cache meanwhile");
    };
    let shown = root.display().to_string();
    let cache = match Cache::open(root) {
        Ok(c) => c,
        Err(e) => {
            return Step::new("cache", Status::Warn, format!("{e}; runs go on without the cache"))
                .detail("directory", shown)
                .fix("make the directory yours and private (chmod 700), or choose another with --cache-dir");
        }
    };
    let now = (inp.clock)();
    match cache.list(now) {
        Ok(rows) => {
            let total = rows.len();
            let fresh = rows
                .iter()
                .filter(|r| r.state.as_ref().is_ok_and(|e| !e.remaining(now).is_zero()))
                .count();
            let unusable = rows.iter().filter(|r| r.state.is_err()).count();
            Step::new(
                "cache",
                Status::Ok,
                format!(
                    "{shown}: private, {total} entr{} ({fresh} unexpired{})",
                    if total == 1 { "y" } else { "ies" },
                    if unusable > 0 {
                        format!(", {unusable} unusable")
                    } else {
                        String::new()
                    }
                ),
            )
            .detail("directory", shown)
            .detail("entries", total)
            .detail("unexpired", fresh)
            .detail("unusable", unusable)
        }
        Err(e) => Step::new("cache", Status::Warn, format!("cannot list {shown}: {e}"))
            .detail("directory", shown),
    }
}

fn call_step(inp: &Inputs<'_>, req: &TokenRequest, region: &str, inferred: &Inferred) -> Step {
    let service = req.service();
    let deadline = Instant::now() + req.timeout;
    let call = Call {
        request: req,
        region,
        deadline,
    };
    match inp.fetcher.fetch(call) {
        Ok(token) => {
            let now = (inp.clock)();
            match token.expiration {
                Some(exp) => {
                    let left = exp.duration_since(now).unwrap_or_default();
                    Step::new(
                        "call",
                        Status::Ok,
                        format!(
                            "GetIdentityCenterAuthToken ({}) issued a token (not shown), valid until {} ({} left)",
                            service.name(),
                            rfc3339(exp),
                            human(left)
                        ),
                    )
                    .detail("operation", format!("{}:GetIdentityCenterAuthToken", service.name()))
                    .detail("expiration", rfc3339(exp))
                    .detail("remaining_seconds", left.as_secs())
                }
                None => Step::new(
                    "call",
                    Status::Warn,
                    "GetIdentityCenterAuthToken issued a token (not shown) without an expiration time; it will not be cached",
                )
                .detail("operation", format!("{}:GetIdentityCenterAuthToken", service.name())),
            }
        }
        Err(e) => {
            let fix = call_fix(&e, req, region, inferred);
            let mut step = Step::failed("call", e).detail(
                "operation",
                format!("{}:GetIdentityCenterAuthToken", service.name()),
            );
            step.fix = fix;
            step
        }
    }
}

/// What to change, concretely, for the errors whose fix depends on this request.
fn call_fix(e: &Error, req: &TokenRequest, region: &str, inferred: &Inferred) -> Option<String> {
    let names = req.targets.names();
    match e {
        Error::NotIdentityEnhanced { .. } => Some(format!(
            "the credentials (from {}) carry no IAM Identity Center identity: use a role session assumed with ProvidedContexts (sts:AssumeRole --provided-contexts with the identity context from sso-oidc CreateTokenWithIAM), e.g. a credential_process profile as in plugin-config/aws/config.example",
            inferred.source
        )),
        Error::AccessDenied { .. } => Some(match req.service() {
            Service::Redshift => format!(
                "allow redshift:GetIdentityCenterAuthToken on {} in the IAM policy of this identity",
                names
                    .iter()
                    .map(|n| format!("arn:aws:redshift:{region}:<account-id>:cluster:{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Service::Serverless => format!(
                "allow redshift-serverless:GetIdentityCenterAuthToken on arn:aws:redshift-serverless:{region}:<account-id>:workgroup/<workgroup-id> for {} (the ARN uses the workgroup's id: aws redshift-serverless get-workgroup --workgroup-name NAME)",
                names.join(", ")
            ),
        }),
        Error::TargetNotFound { .. } => Some(format!(
            "check that {} exists in {region} (the region comes from {})",
            names.join(", "),
            req.region.as_ref().map_or("instance metadata", |r| r.from)
        )),
        Error::Network { .. } | Error::Timeout { .. } => Some(
            "check the network path to the endpoint shown in the endpoint step (proxy: HTTPS_PROXY/NO_PROXY), or raise --timeout".into(),
        ),
        _ => None,
    }
}

/// `14m59s`, `2h05m`, `42s`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fetch::CredentialsInfo;
    use crate::token::{AuthToken, Secret};
    use std::cell::Cell;

    const TOKEN: &str = "TOKEN-SENTINEL-must-not-appear";

    struct FakeFetch {
        result: fn() -> Result<AuthToken, Error>,
        calls: Cell<usize>,
        region: Option<&'static str>,
    }

    impl Fetch for FakeFetch {
        fn fetch(&self, _call: Call<'_>) -> Result<AuthToken, Error> {
            self.calls.set(self.calls.get() + 1);
            (self.result)()
        }
        fn discover_region(&self, _: &TokenRequest, _: Instant) -> Option<String> {
            self.region.map(str::to_owned)
        }
    }

    struct FakeCreds(fn() -> Result<CredentialsInfo, Error>);

    impl ProbeCredentials for FakeCreds {
        fn credentials(
            &self,
            _: &TokenRequest,
            _: &str,
            _: Instant,
        ) -> Result<CredentialsInfo, Error> {
            (self.0)()
        }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn good_token() -> Result<AuthToken, Error> {
        Ok(AuthToken {
            token: Secret::new(TOKEN.into()),
            expiration: Some(now() + Duration::from_secs(900)),
        })
    }

    fn good_creds() -> Result<CredentialsInfo, Error> {
        Ok(CredentialsInfo {
            access_key_id: "ASIAEXAMPLE1234WXYZ".into(),
            temporary: true,
            expiry: Some(now() + Duration::from_secs(3600)),
            reported_source: Some("credential_process"),
        })
    }

    fn args(f: impl FnOnce(&mut TokenArgs)) -> TokenArgs {
        let mut a = TokenArgs {
            clusters: vec!["c1".parse().unwrap()],
            timeout: 30,
            min_validity: 300,
            ..TokenArgs::default()
        };
        f(&mut a);
        a
    }

    fn diagnose_with(
        args: &TokenArgs,
        env: &Env,
        fetch: &FakeFetch,
        creds: fn() -> Result<CredentialsInfo, Error>,
    ) -> Report {
        let dir = tempfile::tempdir().unwrap();
        let cache_dir = dir.path().join("cache");
        diagnose(&Inputs {
            args,
            env,
            cache_dir: Some(&cache_dir),
            fetcher: fetch,
            credentials: &FakeCreds(creds),
            clock: &now,
        })
    }

    fn fetch(result: fn() -> Result<AuthToken, Error>) -> FakeFetch {
        FakeFetch {
            result,
            calls: Cell::new(0),
            region: None,
        }
    }

    fn statuses(r: &Report) -> Vec<(&'static str, &'static str)> {
        r.steps.iter().map(|s| (s.id, s.status.as_str())).collect()
    }

    fn assert_no_token(r: &Report) {
        assert!(!r.to_text().contains(TOKEN));
        assert!(!r.to_json().to_string().contains(TOKEN));
    }

    #[test]
    fn all_ok() {
        let env = Env::from_pairs([("AWS_REGION", "eu-west-1"), ("HOME", "/nonexistent")]);
        let f = fetch(good_token);
        let r = diagnose_with(&args(|_| {}), &env, &f, good_creds);
        assert_eq!(
            statuses(&r),
            [
                ("targets", "ok"),
                ("region", "ok"),
                ("endpoint", "ok"),
                ("profile", "ok"),
                ("credentials", "ok"),
                ("cache", "ok"),
                ("call", "ok")
            ]
        );
        assert_eq!(f.calls.get(), 1);
        assert_eq!(r.exit_code(), 0);
        let text = r.to_text();
        assert!(
            text.contains("https://redshift.eu-west-1.amazonaws.com"),
            "{text}"
        );
        assert!(text.contains("ASIA****WXYZ"), "{text}");
        assert!(text.contains("15m00s left"), "{text}");
        assert!(text.contains("credential_process"), "{text}");
        assert_no_token(&r);
        let j = r.to_json();
        assert_eq!(j["ok"], true);
        assert_eq!(j["steps"][6]["details"]["remaining_seconds"], 900);
    }

    #[test]
    fn denial_is_explained_and_sets_the_exit_code() {
        let env = Env::from_pairs([("AWS_REGION", "us-east-2")]);
        let f = fetch(|| {
            Err(crate::fetch::service_error(
                Service::Redshift,
                "us-east-2",
                400,
                "AccessDenied".into(),
                "not authorized".into(),
            ))
        });
        let r = diagnose_with(&args(|_| {}), &env, &f, good_creds);
        let call = r.step("call").unwrap();
        assert_eq!(call.status, Status::Fail);
        assert!(call.summary.contains("redshift:GetIdentityCenterAuthToken"));
        assert!(
            call.fix
                .as_deref()
                .unwrap()
                .contains("arn:aws:redshift:us-east-2:<account-id>:cluster:c1")
        );
        assert_eq!(r.exit_code(), 4);
    }

    #[test]
    fn failures_skip_what_depends_on_them() {
        // No credentials: the call is skipped, the exit code is the credentials one.
        let env = Env::from_pairs([
            ("AWS_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]);
        let f = fetch(good_token);
        let r = diagnose_with(&args(|_| {}), &env, &f, || {
            Err(Error::NoCredentials {
                detail: "none".into(),
            })
        });
        assert_eq!(r.step("credentials").unwrap().status, Status::Fail);
        assert_eq!(r.step("call").unwrap().status, Status::Skipped);
        assert_eq!(r.step("credentials").unwrap().details[0].1, "none");
        assert!(r.to_text().contains("expected_source: none"));
        assert_eq!(f.calls.get(), 0);
        assert_eq!(r.exit_code(), 3);

        // No region anywhere: credentials and call skipped, exit 2.
        let env = Env::from_pairs([("HOME", "/nonexistent")]);
        let r = diagnose_with(&args(|_| {}), &env, &f, good_creds);
        assert_eq!(r.step("region").unwrap().status, Status::Fail);
        assert_eq!(r.step("credentials").unwrap().status, Status::Skipped);
        assert_eq!(r.exit_code(), 2);

        // A bad host: everything but the cache is skipped.
        let r = diagnose_with(
            &args(|a| {
                a.clusters.clear();
                a.host = Some("db.example.com".into())
            }),
            &env,
            &f,
            good_creds,
        );
        assert_eq!(r.steps[0].status, Status::Fail);
        assert!(
            r.steps[1..]
                .iter()
                .all(|s| s.status == Status::Skipped || s.id == "cache")
        );
        assert_eq!(r.exit_code(), 2);

        // A bad endpoint is reported at the endpoint step.
        let r = diagnose_with(
            &args(|a| a.endpoint_url = Some("ftp://x".into())),
            &env,
            &f,
            good_creds,
        );
        assert_eq!(r.step("endpoint").unwrap().status, Status::Fail);
        assert_eq!(r.step("region").unwrap().status, Status::Skipped);
        assert_eq!(f.calls.get(), 0);
    }

    #[test]
    fn warnings_do_not_fail() {
        let env = Env::from_pairs([("AWS_REGION", "us-east-1")]);
        let f = fetch(good_token);
        let r = diagnose_with(&args(|_| {}), &env, &f, || {
            Ok(CredentialsInfo {
                access_key_id: "AKIALONGTERMKEY0001".into(),
                temporary: false,
                expiry: None,
                reported_source: None,
            })
        });
        assert_eq!(r.step("credentials").unwrap().status, Status::Warn);
        assert_eq!(r.exit_code(), 0);
        assert!(r.to_text().contains("1 warning"));

        let r = diagnose_with(
            &args(|a| a.endpoint_url = Some("http://proxy.internal:8080".into())),
            &env,
            &f,
            good_creds,
        );
        assert_eq!(r.step("endpoint").unwrap().status, Status::Warn);
    }

    #[test]
    fn source_inference() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("config");
        let creds = dir.path().join("credentials");
        std::fs::write(
            &cfg,
            "[profile sso]\nsso_session = corp\n[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = sso\n[profile proc]\ncredential_process = /bin/x\n[default]\nregion = us-east-1\n",
        )
        .unwrap();
        std::fs::write(&creds, "[keys]\naws_access_key_id = AKIA\n").unwrap();
        let env = Env::from_pairs([
            ("AWS_CONFIG_FILE", cfg.to_str().unwrap()),
            ("AWS_SHARED_CREDENTIALS_FILE", creds.to_str().unwrap()),
        ]);
        let src = |p: &str| infer_source(&env, p, &SharedFiles::read(&env, p)).source;
        assert_eq!(src("sso"), "IAM Identity Center (SSO)");
        assert_eq!(src("role"), "assume role");
        assert_eq!(src("proc"), "credential_process");
        assert_eq!(src("keys"), "shared credentials file");
        assert_eq!(src("default"), "container/instance metadata");
        let env2 = Env::from_pairs([("AWS_ACCESS_KEY_ID", "a"), ("AWS_SECRET_ACCESS_KEY", "b")]);
        assert_eq!(
            infer_source(&env2, "sso", &SharedFiles::default()).source,
            "environment variables"
        );
    }

    #[test]
    fn masking_and_durations() {
        assert_eq!(mask_key_id("AKIDSANDBOX0000TEST"), "AKID****TEST");
        assert_eq!(mask_key_id("SHORT"), "****");
        assert_eq!(human(Duration::from_secs(899)), "14m59s");
        assert_eq!(human(Duration::from_secs(7500)), "2h05m");
        assert!(plain_http_off_host("http://10.0.0.1:80/"));
        assert!(!plain_http_off_host("http://127.0.0.1:4566"));
        assert!(!plain_http_off_host("https://x"));
    }
}
