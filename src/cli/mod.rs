//! The command line, as clap definitions only.
//!
//! Targets are parsed into their validated types while clap parses (`value_parser`), so a bad
//! cluster id is reported as a usage error naming the value and the rule. Turning these raw
//! arguments into the settings the rest of the program uses happens once, in `settings.rs`.

pub mod fastpath;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::Format;
use crate::target::{ClusterId, WorkgroupName};

/// `--timeout`'s default and range (seconds); `fastpath.rs` parses the same option.
pub const DEFAULT_TIMEOUT: u64 = 30;
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=3600;
/// `--min-validity`'s default and range (seconds).
pub const DEFAULT_MIN_VALIDITY: u64 = 300;
pub const MIN_VALIDITY_RANGE: std::ops::RangeInclusive<u64> = 0..=86_400;

/// Fetch an IAM Identity Center auth token for Amazon Redshift and print it for drivers.
///
/// Calls GetIdentityCenterAuthToken (Redshift or Redshift Serverless) with the AWS credentials
/// found the standard way, caches the token until shortly before it expires, and prints it in
/// the format a JDBC, ODBC or Python driver, or a shell, takes.
#[derive(Debug, Parser)]
#[command(
    name = "redshift-idc-token",
    version,
    after_help = crate::error::ExitCode::help_text()
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,

    #[command(flatten)]
    pub token: TokenArgs,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Json)]
    pub format: Format,

    #[command(flatten)]
    pub global: GlobalArgs,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// More diagnostics on stderr (-v: what was resolved and where the token came from;
    /// -vv: SDK detail). Never prints a token or secret key.
    #[arg(long, short = 'v', action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Cache directory [default: the user's cache directory + /redshift-idc-token].
    #[arg(long, value_name = "DIR", env = crate::env::CACHE_DIR, global = true)]
    pub cache_dir: Option<PathBuf>,
}

/// What to fetch a token for, and how.
#[derive(Debug, Args, Clone, Default)]
pub struct TokenArgs {
    /// Provisioned cluster id (repeatable, or comma-separated); calls Redshift.
    #[arg(long = "cluster-id", value_name = "ID", value_delimiter = ',', value_parser = parse_cluster_id,
          conflicts_with_all = ["workgroups", "host"])]
    pub clusters: Vec<ClusterId>,

    /// Serverless workgroup name (repeatable, or comma-separated); calls Redshift Serverless.
    #[arg(long = "workgroup", value_name = "NAME", value_delimiter = ',', value_parser = parse_workgroup,
          conflicts_with = "host")]
    pub workgroups: Vec<WorkgroupName>,

    /// Redshift endpoint host name, host:port or jdbc:redshift:// URL to derive the target and
    /// region from (e.g. mycluster.abc123.us-east-1.redshift.amazonaws.com).
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// AWS region [default: from --host, AWS_REGION, or the profile].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Named profile from the shared AWS config [default: AWS_PROFILE, or "default"].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Endpoint URL of the AWS API [default: AWS_ENDPOINT_URL_REDSHIFT(_SERVERLESS),
    /// AWS_ENDPOINT_URL, or the service's regional endpoint].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,

    /// Upper bound, in seconds, for the whole run: credentials, retries, lock waits.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(TIMEOUT_RANGE))]
    pub timeout: u64,

    /// Serve a cached token only while at least this many seconds of it remain.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_MIN_VALIDITY,
          value_parser = clap::value_parser!(u64).range(MIN_VALIDITY_RANGE))]
    pub min_validity: u64,

    /// Neither read nor write the cache.
    #[arg(long, conflicts_with = "force_refresh")]
    pub no_cache: bool,

    /// Fetch a new token even if a fresh one is cached, and cache it.
    #[arg(long)]
    pub force_refresh: bool,

    #[command(flatten)]
    pub signin: SigninArgs,
}

/// The built-in sign-in (identity-enhanced role credentials), overriding the profile's
/// `redshift_idc_*` keys and the `REDSHIFT_IDC_TOKEN_*` variables.
#[derive(Debug, Args, Clone, Default)]
pub struct SigninArgs {
    /// ARN of the Identity Center customer managed application (clientId).
    #[arg(long, help_heading = "Sign-in", value_name = "ARN")]
    pub application_arn: Option<String>,

    /// ARN of the IAM role to assume with the person's identity context.
    #[arg(long, help_heading = "Sign-in", value_name = "ARN")]
    pub role_arn: Option<String>,

    /// How the person is identified [default: jwt if a JWT source is set, else browser].
    #[arg(long, help_heading = "Sign-in", value_enum, value_name = "KIND")]
    pub signin: Option<SigninKind>,

    /// Shell command printing a JWT from a trusted token issuer (jwt sign-in).
    #[arg(long, help_heading = "Sign-in", value_name = "COMMAND")]
    pub jwt_command: Option<String>,

    /// File holding a JWT from a trusted token issuer (jwt sign-in).
    #[arg(long, help_heading = "Sign-in", value_name = "FILE")]
    pub jwt_file: Option<PathBuf>,

    /// Region of the Identity Center instance [default: the run's region].
    #[arg(long, help_heading = "Sign-in", value_name = "REGION")]
    pub idc_region: Option<String>,

    /// Issuer URL of the Identity Center instance: the drivers' issuer_url. Without an
    /// application and role it selects the access-token mode (ACCESS_TOKEN).
    #[arg(long, help_heading = "Sign-in", value_name = "URL")]
    pub issuer_url: Option<String>,

    /// The AWS access portal URL (https://d-xxxxxxxxxx.awsapps.com/start): the device sign-in
    /// needs it (access-token mode).
    #[arg(long, help_heading = "Sign-in", value_name = "URL")]
    pub start_url: Option<String>,

    /// Reuse the AWS CLI's sso-session NAME (its registration scopes must include
    /// redshift:connect): `aws sso login --sso-session NAME` serves every driver.
    #[arg(long, help_heading = "Sign-in", value_name = "NAME")]
    pub sso_session: Option<String>,

    /// Profile whose credentials call CreateTokenWithIAM and AssumeRole [default: --profile].
    #[arg(long, help_heading = "Sign-in", value_name = "NAME")]
    pub bootstrap_profile: Option<String>,

    /// Lifetime of the role credentials in seconds (AssumeRole DurationSeconds) [default: 3600].
    #[arg(long, help_heading = "Sign-in", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(900..=43_200))]
    pub session_duration: Option<u64>,

    /// Port of the loopback redirect http://127.0.0.1:PORT/oauth/callback (0: any) [default: 7890].
    #[arg(long, help_heading = "Sign-in", value_name = "PORT")]
    pub listen_port: Option<u16>,

    /// Seconds to wait for a sign-in, our own or another process's [default: 120].
    #[arg(long, help_heading = "Sign-in", value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub signin_timeout: Option<u64>,

    /// Never open a browser: fail (exit 6) if a browser sign-in is needed.
    #[arg(long, help_heading = "Sign-in")]
    pub no_browser: bool,
}

/// Options of `login`, `logout` and `credentials`: the profile and its sign-in.
#[derive(Debug, Args, Clone, Default)]
pub struct SessionArgs {
    /// Named profile from the shared AWS config [default: AWS_PROFILE, or "default"].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,

    /// AWS region, the default of the Identity Center region [default: AWS_REGION, or the profile].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,

    /// Upper bound, in seconds, of each network step (the sign-in itself has --signin-timeout).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(TIMEOUT_RANGE))]
    pub timeout: u64,

    #[command(flatten)]
    pub signin: SigninArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Inspect or clear the token cache.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Run a command with the token in its environment (REDSHIFT_IDC_TOKEN,
    /// REDSHIFT_IDC_TOKEN_TYPE, REDSHIFT_IDC_TOKEN_EXPIRATION), never in its arguments.
    Exec(ExecArgs),
    /// Check credentials, region, endpoint, targets and cache step by step, then make one call.
    Doctor(DoctorArgs),
    /// Sign in now (browser or JWT), so that token commands need no sign-in later.
    Login(LoginArgs),
    /// Forget the sign-in: the cached role credentials, refresh token and tokens made with them.
    Logout(LogoutArgs),
    /// Print the identity-enhanced role credentials in the credential_process format.
    Credentials(SessionArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Print the cache directory.
    Path,
    /// List cached entries (never the tokens).
    List {
        /// One JSON object per entry instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove all entries, or those matching every filter given.
    Clear(CacheFilter),
}

/// Filters for `cache clear`.
#[derive(Debug, Args, Clone, Default)]
pub struct CacheFilter {
    /// Only entries for this cluster id or workgroup name.
    #[arg(long, value_name = "NAME")]
    pub target: Option<String>,
    /// Only entries for this region.
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Only entries for this profile.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub token: TokenArgs,
    /// The command to run, after `--`.
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub command: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub token: TokenArgs,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// Sign in again even if a session is cached.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct LogoutArgs {
    #[command(flatten)]
    pub session: SessionArgs,
    /// Every cached sign-in session, whatever profile.
    #[arg(long)]
    pub all: bool,
}

impl Cli {
    /// Parses the command line. Options of the token command given before a subcommand
    /// (`--cluster-id x exec -- ...`) are refused rather than silently ignored; the global
    /// options (`-v`, `--cache-dir`) may stand on either side.
    pub fn parse_args<I, T>(args: I) -> Result<Cli, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::parser::ValueSource;
        use clap::{CommandFactory, FromArgMatches};
        // clap's `env` takes an exported but empty variable as an empty value; like the AWS
        // SDKs, this program treats an empty variable as unset.
        if std::env::var_os(crate::env::CACHE_DIR).is_some_and(|v| v.is_empty()) {
            // SAFETY: called once at start-up, before any other thread exists.
            unsafe { std::env::remove_var(crate::env::CACHE_DIR) };
        }
        let mut command = Cli::command();
        let matches = command.try_get_matches_from_mut(args)?;
        if let Some(sub) = matches.subcommand_name() {
            // `ids()` also lists argument groups; only real arguments count.
            let misplaced = command.get_arguments().find(|a| {
                !a.is_global_set()
                    && matches
                        .try_contains_id(a.get_id().as_str())
                        .unwrap_or(false)
                    && matches.value_source(a.get_id().as_str()) == Some(ValueSource::CommandLine)
            });
            if let Some(arg) = misplaced {
                let flag = arg
                    .get_long()
                    .unwrap_or_else(|| arg.get_id().as_str())
                    .to_owned();
                let takes_it = command
                    .find_subcommand(sub)
                    .is_some_and(|s| s.get_arguments().any(|a| a.get_id() == arg.get_id()));
                let message = if takes_it {
                    format!(
                        "'--{flag}' must come after the subcommand: redshift-idc-token {sub} --{flag} ..."
                    )
                } else {
                    format!(
                        "'--{flag}' is not an option of `{sub}`: it belongs to the token command (redshift-idc-token --{flag} ... without a subcommand)"
                    )
                };
                return Err(command.error(clap::error::ErrorKind::ArgumentConflict, message));
            }
        }
        Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
    }
}

/// Token arguments for cluster `c1` with the defaults clap would give, changed by `f`.
/// How the person is identified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SigninKind {
    /// A JWT from a trusted token issuer (command, file or variable), exchanged with the
    /// jwt-bearer grant.
    Jwt,
    /// An authorization-code sign-in with PKCE in the person's browser.
    Browser,
    /// The device code: a URL and a code to approve on any device (access-token mode).
    Device,
}

impl SigninKind {
    pub fn name(self) -> &'static str {
        match self {
            SigninKind::Jwt => "jwt",
            SigninKind::Browser => "browser",
            SigninKind::Device => "device",
        }
    }
}

#[cfg(test)]
pub(crate) fn test_token_args(f: impl FnOnce(&mut TokenArgs)) -> TokenArgs {
    let mut a = TokenArgs {
        clusters: vec!["c1".parse().expect("valid id")],
        timeout: DEFAULT_TIMEOUT,
        min_validity: DEFAULT_MIN_VALIDITY,
        ..TokenArgs::default()
    };
    f(&mut a);
    a
}

fn parse_cluster_id(s: &str) -> Result<ClusterId, String> {
    s.parse()
        .map_err(|e: crate::target::InvalidTarget| e.rule.to_owned())
}

fn parse_workgroup(s: &str) -> Result<WorkgroupName, String> {
    s.parse()
        .map_err(|e: crate::target::InvalidTarget| e.rule.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn comma_lists_and_repeats() {
        let cli = Cli::try_parse_from(["x", "--cluster-id", "a,b", "--cluster-id", "c"]).unwrap();
        assert_eq!(cli.token.clusters.len(), 3);
        let err = Cli::try_parse_from(["x", "--cluster-id", "a--b"]).unwrap_err();
        assert!(err.to_string().contains("invalid value 'a--b' for '--cluster-id <ID>': must not contain two consecutive hyphens"), "{err}");
        assert!(Cli::try_parse_from(["x", "--cluster-id", "a", "--workgroup", "abc"]).is_err());
    }

    #[test]
    fn global_options_on_either_side_of_a_subcommand() {
        let cli = Cli::parse_args(["x", "-v", "--cache-dir", "/c", "cache", "path"]).unwrap();
        assert_eq!(
            (cli.global.verbose, cli.global.cache_dir.unwrap()),
            (1, "/c".into())
        );
        let cli = Cli::parse_args(["x", "doctor", "--cluster-id", "a", "-vv"]).unwrap();
        assert_eq!(cli.global.verbose, 2);
        let err = Cli::parse_args(["x", "--cluster-id", "a", "exec", "--", "true"]).unwrap_err();
        assert!(
            err.to_string().contains("'--cluster-id' must come after the subcommand: redshift-idc-token exec --cluster-id"),
            "{err}"
        );
        let err = Cli::parse_args(["x", "--format", "env", "doctor"]).unwrap_err();
        assert!(
            err.to_string()
                .contains("'--format' is not an option of `doctor`"),
            "{err}"
        );
    }
}
