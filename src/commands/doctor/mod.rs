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

mod access_check;
mod cache_check;
mod call;
mod credentials;
mod destination;
mod report;
mod shared_files;
mod signin_check;

use std::path::Path;
use std::time::SystemTime;

use crate::aws::credentials::ProbeCredentials;
use crate::aws::redshift::{AwsFetcher, Fetch};
use crate::cli::{DoctorArgs, GlobalArgs, TokenArgs};
use crate::env::Env;
use crate::error::Error;
use crate::settings::TokenRequest;

use cache_check::cache_step;
use call::call_step;
pub use credentials::mask_key_id;
use credentials::{credentials_step, infer_source};
use destination::{bad_setting, endpoint_step, parse_targets, region_step, targets_step};
pub use report::{Report, Status, Step};
use shared_files::{SharedFiles, profile_step};

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
    let aws = match signed_in_credentials(args, global, env) {
        Some(creds) => AwsFetcher::with_credentials(creds),
        None => AwsFetcher::default(),
    };
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
    crate::output::emit(doc.as_bytes())?;
    Ok(report.exit_code())
}

/// The credentials to check the call with when sign-in is configured: the cached session's
/// role credentials while they still work, even inside the renewal window (a token run
/// would renew them first; `doctor` never signs in or renews itself).
fn signed_in_credentials(
    args: &DoctorArgs,
    global: &GlobalArgs,
    env: &Env,
) -> Option<aws_credential_types::Credentials> {
    let req = TokenRequest::from_args(&args.token, env).ok()?;
    let cache = crate::cache::open_or_warn(global.cache_dir.as_deref());
    crate::serve::signed_in::cached_session(&req, cache.as_ref(), env)
        .filter(|s| s.is_valid(SystemTime::now()))
        .map(|s| s.credentials.to_sdk())
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
    let files = SharedFiles::read(&req.files, req.profile_name());
    steps.push(profile_step(&req, &files));

    // In access-token mode the drivers connect with the access token itself: no AWS
    // credentials, no AWS call; what matters is whether a token is cached.
    if crate::serve::Mode::of(&req) == crate::serve::Mode::AccessToken {
        let cache = crate::cache::default_root(inp.cache_dir)
            .and_then(|root| crate::cache::Cache::open(root).ok());
        let not_used = "not used in access-token mode";
        steps.push(Step::skipped("credentials", not_used));
        steps.extend(access_check::access_step(
            &req,
            cache.as_ref(),
            inp.env,
            (inp.clock)(),
        ));
        steps.push(cache_step(inp));
        steps.push(Step::skipped("call", not_used));
        return report;
    }

    // With sign-in configured, the call uses the cached session's role credentials (the
    // ones `run` handed the fetcher), not the profile's own chain.
    let now = (inp.clock)();
    let cache = crate::cache::default_root(inp.cache_dir)
        .and_then(|root| crate::cache::Cache::open(root).ok());
    let signin = crate::serve::signed_in::status(&req, region.as_deref(), cache.as_ref(), inp.env);
    let session_user = signin
        .as_ref()
        .and_then(|s| s.session.as_ref())
        .filter(|s| s.is_valid(now))
        .map(|s| s.user.clone());

    // 4. Credentials.
    let inferred = infer_source(inp.env, req.profile_name(), &files);
    let creds_ok = match (&region, &signin) {
        (None, _) => {
            steps.push(Step::skipped("credentials", "needs a region"));
            false
        }
        (Some(_), Some(status)) if session_user.is_none() => {
            steps.push(match status.idc_region {
                Some(_) => signin_check::credentials_need_signin(status, now),
                None => Step::skipped("credentials", "needs the Identity Center region"),
            });
            false
        }
        (Some(region), _) => {
            let step = credentials_step(inp, &req, region, &inferred, session_user.as_deref());
            let ok = step.passed();
            steps.push(step);
            ok
        }
    };

    // 5. The sign-in, when configured: whose session the call would use.
    let mut signed_in = true;
    let mut login = String::from("redshift-idc-token login");
    if let Some(status) = &signin {
        signed_in = session_user.is_some();
        login = signin_check::login_command(status);
        steps.push(signin_check::signin_step(status, now));
        steps.push(signin_check::secret_store_step(&status.config));
    }

    // 6. The cache (never blocks the call: a token run goes on without it).
    steps.push(cache_step(inp));

    // 7. One real call, bypassing the cache.
    match (&region, creds_ok, signed_in) {
        (None, _, _) => steps.push(Step::skipped("call", "needs a region")),
        (_, _, false) => steps.push(Step::skipped(
            "call",
            &format!("needs a signed-in session (run `{login}`)"),
        )),
        (_, false, _) => steps.push(Step::skipped("call", "needs working credentials")),
        (Some(region), true, true) => steps.push(call_step(inp, &req, region, &inferred)),
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::credentials::CredentialsInfo;
    use crate::aws::redshift::Call;
    use crate::target::Service;
    use crate::token::{AuthToken, Secret};
    use std::cell::Cell;
    use std::time::{Duration, Instant};

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
        fn discover_region(&self, _: Instant) -> Option<String> {
            self.region.map(str::to_owned)
        }
    }

    struct FakeCreds(fn() -> Result<CredentialsInfo, Error>);

    impl ProbeCredentials for FakeCreds {
        fn credentials(&self, _: Call<'_>) -> Result<CredentialsInfo, Error> {
            (self.0)()
        }
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn good_token() -> Result<AuthToken, Error> {
        Ok(AuthToken {
            token: Secret::new(TOKEN.into()),
            kind: crate::token::TokenType::Subject,
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

    use crate::cli::test_token_args as args;

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
            Err(crate::aws::errors::service_error(
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
}
