//! `aws-standin`: the local stand-in of the Redshift and Redshift Serverless endpoints as a
//! program, for what cannot host it in-process: the demo, the benchmarks and the Python
//! end-to-end tests. It prints its URL as the first line on stdout (so a driver can read
//! one line and go), then serves until a limit, SIGTERM or SIGINT.
//!
//! With `--idc` it also runs the Identity Center stand-in (sso-oidc, `/authorize`, STS) on a
//! port of its own and prints that URL as the second line: point `AWS_ENDPOINT_URL_SSO_OIDC`
//! and `AWS_ENDPOINT_URL_STS` at it. Its control endpoints (`/standin/counts`,
//! `/standin/jwt?person=alice`, `POST /standin/browser-person?name=bob`,
//! `POST /standin/revoke-refresh[?person=alice]`) serve what a test holding no handle needs;
//! the device verification page is `GET /device?user_code=...`, answered by posting
//! `user_code`, `person` and `decision=allow|deny` to `/device/approve`.
//!
//! Access tokens (CreateToken, CreateTokenWithIAM) are HS256 JWTs naming the person, signed
//! with the key in `--idc-access-token-key-file` (the file's content, trailing whitespace
//! removed, as bytes): give the same file to the Redshift wire stand-in
//! (`redshift_wire_server.py --access-token-key-file`) so it accepts `token_type=ACCESS_TOKEN`.
//!
//! ```text
//! cargo run --example aws-standin -- --ttl 900 --log /tmp/standin.jsonl
//! cargo run --example aws-standin -- --idc --idc-person bob --idc-log /tmp/idc.jsonl
//! ```

#[path = "aws_standin.rs"]
#[allow(dead_code)]
mod aws_standin;
#[path = "idc_standin.rs"]
#[allow(dead_code)]
mod idc_standin;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_standin::{Config, Reply, StandIn};
use clap::Parser;
use idc_standin::{Fault, IdcConfig, IdcStandIn, Op};

/// Local stand-in of the two AWS GetIdentityCenterAuthToken endpoints, on 127.0.0.1.
#[derive(Parser, Debug)]
#[command(name = "aws-standin")]
struct Args {
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Lifetime of issued tokens, in seconds.
    #[arg(long, default_value_t = 900)]
    ttl: u64,
    /// Delay before every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    delay_ms: u64,
    /// Issue this token every time instead of the self-describing ones.
    #[arg(long)]
    token: Option<String>,
    /// Exit after answering this many requests (later ones get 503 meanwhile).
    #[arg(long, default_value_t = 1000)]
    max_requests: usize,
    /// Exit after this many seconds.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
    /// Append one JSON line per request to this file.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Answer the first N well-formed requests with --fail-code.
    #[arg(long, default_value_t = 0, requires = "fail_code")]
    fail_first: usize,
    /// AWS error code (e.g. Throttling, ClusterNotFound, ResourceNotFoundException), or a bare
    /// HTTP status such as 503.
    #[arg(long)]
    fail_code: Option<String>,
    /// Also run the Identity Center stand-in (sso-oidc, /authorize, STS); its URL is the
    /// second line on stdout.
    #[arg(long)]
    idc: bool,
    /// Port of the Identity Center stand-in on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0, requires = "idc")]
    idc_port: u16,
    /// The test person a browser sign-in signs in (alice or bob).
    #[arg(long, default_value = "alice", requires = "idc")]
    idc_person: String,
    /// Lifetime of Identity Center access tokens and identity contexts, in seconds.
    #[arg(long, default_value_t = 3600, requires = "idc")]
    idc_access_ttl: u64,
    /// Signs access tokens with this file's content (trailing whitespace removed).
    #[arg(long, requires = "idc")]
    idc_access_token_key_file: Option<PathBuf>,
    /// Lifetime of Identity Center refresh tokens, in seconds.
    #[arg(long, default_value_t = 8 * 3600, requires = "idc")]
    idc_refresh_ttl: u64,
    /// Lifetime of a RegisterClient registration (clientSecretExpiresAt), in seconds.
    #[arg(long, default_value_t = 90 * 86400, requires = "idc")]
    idc_client_ttl: u64,
    /// expiresIn of StartDeviceAuthorization, in seconds.
    #[arg(long, default_value_t = 600, requires = "idc")]
    idc_device_ttl: u64,
    /// interval of StartDeviceAuthorization, in seconds.
    #[arg(long, default_value_t = 1, requires = "idc")]
    idc_device_interval: u64,
    /// Seconds added to the polling interval after each SlowDownException.
    #[arg(long, default_value_t = 5, requires = "idc")]
    idc_slow_down: u64,
    /// Scopes the instance's applications are enabled for, comma-separated (replaces the
    /// default list; leave out redshift:connect to have it refused).
    #[arg(long, value_delimiter = ',', requires = "idc")]
    idc_scopes: Option<Vec<String>>,
    /// Longest lifetime of role credentials, in seconds (shorter than DurationSeconds asks).
    #[arg(long, default_value_t = 43200, requires = "idc")]
    idc_role_ttl: u64,
    /// Append one JSON line per Identity Center request to this file.
    #[arg(long, requires = "idc")]
    idc_log: Option<PathBuf>,
    /// Answer the first N well-formed requests of --idc-fail-op with --idc-fail-code.
    #[arg(long, default_value_t = 0, requires_all = ["idc_fail_op", "idc_fail_code"])]
    idc_fail_first: usize,
    /// Operation to fail: RegisterClient, CreateToken, CreateTokenWithIAM,
    /// StartDeviceAuthorization, Authorize, Approve, DevicePage, DeviceApprove, AssumeRole.
    #[arg(long, value_parser = parse_op)]
    idc_fail_op: Option<Op>,
    /// Error code for --idc-fail-op (e.g. InvalidGrantException, AccessDenied, access_denied),
    /// or a bare HTTP status such as 500.
    #[arg(long)]
    idc_fail_code: Option<String>,
}

fn parse_op(s: &str) -> Result<Op, String> {
    Op::parse(s).ok_or_else(|| {
        let names: Vec<&str> = Op::ALL.iter().map(|o| o.as_str()).collect();
        format!("unknown operation {s:?}; one of {}", names.join(", "))
    })
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = Config {
        ttl: Duration::from_secs(args.ttl),
        delay: Duration::from_millis(args.delay_ms),
        fixed_token: args.token,
        max_requests: args.max_requests,
        max_lifetime: Duration::from_secs(args.max_seconds),
        port: args.port,
        log_file: args.log,
    };
    let standin = match StandIn::try_start_with(cfg) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("aws-standin: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(code) = &args.fail_code {
        for _ in 0..args.fail_first {
            standin.push(match code.parse::<u16>() {
                Ok(status) => Reply::Status(status),
                Err(_) => Reply::error(code, "injected by aws-standin --fail-code"),
            });
        }
    }

    let idc = if args.idc {
        let access_token_key = match &args.idc_access_token_key_file {
            None => None,
            Some(path) => match std::fs::read_to_string(path) {
                Ok(text) if !text.trim_end().is_empty() => {
                    Some(text.trim_end().as_bytes().to_vec())
                }
                Ok(_) => {
                    eprintln!(
                        "aws-standin: --idc-access-token-key-file {} is empty",
                        path.display()
                    );
                    return ExitCode::from(2);
                }
                Err(e) => {
                    eprintln!(
                        "aws-standin: --idc-access-token-key-file {}: {e}",
                        path.display()
                    );
                    return ExitCode::from(2);
                }
            },
        };
        let defaults = IdcConfig::default();
        let cfg = IdcConfig {
            access_token_key,
            refresh_ttl: Duration::from_secs(args.idc_refresh_ttl),
            client_ttl: Duration::from_secs(args.idc_client_ttl),
            device_ttl: Duration::from_secs(args.idc_device_ttl),
            device_interval: Duration::from_secs(args.idc_device_interval),
            slow_down_increment: Duration::from_secs(args.idc_slow_down),
            allowed_scopes: args.idc_scopes.clone().unwrap_or(defaults.allowed_scopes),
            browser_person: args.idc_person.clone(),
            access_ttl: Duration::from_secs(args.idc_access_ttl),
            max_role_ttl: Duration::from_secs(args.idc_role_ttl),
            delay: Duration::from_millis(args.delay_ms),
            max_requests: args.max_requests,
            max_lifetime: Duration::from_secs(args.max_seconds),
            port: args.idc_port,
            log_file: args.idc_log.clone(),
            ..defaults
        };
        if !cfg.persons.iter().any(|p| p.name == cfg.browser_person) {
            eprintln!(
                "aws-standin: --idc-person {:?} is not a test person (alice, bob)",
                cfg.browser_person
            );
            return ExitCode::from(2);
        }
        match IdcStandIn::try_start_with(cfg) {
            Ok(s) => Some(s),
            Err(e) => {
                eprintln!("aws-standin: cannot start the Identity Center stand-in: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    if let (Some(idc), Some(op), Some(code)) = (&idc, args.idc_fail_op, &args.idc_fail_code) {
        for _ in 0..args.idc_fail_first {
            idc.push(
                op,
                match code.parse::<u16>() {
                    Ok(status) => Fault::Status(status),
                    Err(_) => Fault::error(code, "injected by aws-standin --idc-fail-code"),
                },
            );
        }
    }

    // The lines a driver waits for; everything else goes to stderr.
    let mut stdout = std::io::stdout();
    let mut lines = standin.url() + "\n";
    if let Some(idc) = &idc {
        lines += &(idc.url() + "\n");
    }
    if stdout
        .write_all(lines.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let why = runtime.block_on(wait_for_end(|| {
        standin.is_finished() || idc.as_ref().is_some_and(IdcStandIn::is_finished)
    }));
    eprintln!(
        "aws-standin: stopping ({why}) after {} request(s)",
        standin.request_count()
    );
    if let Some(idc) = &idc {
        eprintln!("aws-standin: identity center requests: {}", idc.counts());
    }
    // Let the last answer leave the socket before the connections are cut.
    std::thread::sleep(Duration::from_millis(100));
    drop(idc);
    drop(standin);
    ExitCode::SUCCESS
}

/// Waits for a limit or a signal and says which.
async fn wait_for_end(is_finished: impl Fn() -> bool) -> &'static str {
    let finished = async {
        while !is_finished() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = finished => "limit reached",
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = terminate => "SIGTERM",
    }
}
