//! `aws-standin`: the local stand-in of the Redshift and Redshift Serverless endpoints as a
//! program, for what cannot host it in-process: the demo, the benchmarks and the Python
//! end-to-end tests. It prints its URL as the single line on stdout (so a driver can read
//! one line and go), then serves until a limit, SIGTERM or SIGINT.
//!
//! ```text
//! cargo run --example aws-standin -- --ttl 900 --log /tmp/standin.jsonl
//! ```

#[path = "aws_standin.rs"]
#[allow(dead_code)]
mod aws_standin;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use aws_standin::{Config, Reply, StandIn};
use clap::Parser;

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

    // The one line a driver waits for; everything else goes to stderr.
    let mut stdout = std::io::stdout();
    if writeln!(stdout, "{}", standin.url())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::FAILURE;
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let why = runtime.block_on(wait_for_end(&standin));
    eprintln!(
        "aws-standin: stopping ({why}) after {} request(s)",
        standin.request_count()
    );
    // Let the last answer leave the socket before the connections are cut.
    std::thread::sleep(Duration::from_millis(100));
    drop(standin);
    ExitCode::SUCCESS
}

/// Waits for a limit or a signal and says which.
async fn wait_for_end(standin: &StandIn) -> &'static str {
    let finished = async {
        while !standin.is_finished() {
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
