//! The common token invocation, parsed without clap.
//!
//! Drivers start this program once per connection with a handful of token options
//! (`--cluster-id c1 --region us-east-1 --format jdbc`), and a cache hit is otherwise little
//! more than process start-up. Building clap's command (every subcommand and argument, with
//! their help texts) and running its parser is a tenth of the instructions of a hit and pulls
//! a few dozen pages of code and data in. So this module recognises exactly the invocations
//! clap would accept without any remark, and builds the same [`Cli`] clap would; anything
//! else (a subcommand, help, version, an unknown or repeated option, a conflict, any value
//! that does not parse) returns `None`, and clap parses the command line as before, errors and
//! all. It only ever decides *less* than clap: it never accepts what clap would refuse, and
//! the differential tests below hold it to giving clap's result whenever it answers.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::ValueEnum;

use crate::cli::{
    Cli, DEFAULT_MIN_VALIDITY, DEFAULT_TIMEOUT, GlobalArgs, MIN_VALIDITY_RANGE, TIMEOUT_RANGE,
    TokenArgs,
};
use crate::output::Format;

/// The parsed command line when it is a plain token invocation clap would accept, else `None`.
/// `cache_dir_env` is the value of `REDSHIFT_IDC_TOKEN_CACHE_DIR`, which clap also reads.
pub fn parse(args: &[OsString], cache_dir_env: Option<OsString>) -> Option<Cli> {
    let mut token = TokenArgs {
        // clap's `default_value_t`s (the same constants; the differential tests check it).
        timeout: DEFAULT_TIMEOUT,
        min_validity: DEFAULT_MIN_VALIDITY,
        ..TokenArgs::default()
    };
    let mut format = None;
    let mut verbose: u8 = 0;
    let mut cache_dir = None;
    // Flags and single-valued options given twice are an error in clap: fall back.
    let mut seen_no_cache = false;
    let mut seen_force = false;
    let mut seen_timeout = false;
    let mut seen_min_validity = false;

    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let arg = arg.to_str()?;
        if let Some(vs) = arg.strip_prefix('-').filter(|s| !s.starts_with('-')) {
            // `-v`, `-vv`, ... and `-f FORMAT`; any other short form goes to clap.
            if !vs.is_empty() && vs.len() <= 8 && vs.bytes().all(|b| b == b'v') {
                verbose = verbose.saturating_add(vs.len() as u8);
            } else if vs == "f" {
                set_once(&mut format, value_enum(next_value(&mut rest)?)?)?;
            } else {
                return None;
            }
            continue;
        }
        let long = arg.strip_prefix("--")?;
        let (name, inline) = match long.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (long, None),
        };
        let mut value = || match inline {
            Some(v) => usable(v),
            None => next_value(&mut rest),
        };
        match name {
            "cluster-id" => {
                for id in value()?.split(',') {
                    token.clusters.push(id.parse().ok()?);
                }
            }
            "workgroup" => {
                for name in value()?.split(',') {
                    token.workgroups.push(name.parse().ok()?);
                }
            }
            "host" => set_once(&mut token.host, value()?.to_owned())?,
            "region" => set_once(&mut token.region, value()?.to_owned())?,
            "profile" => set_once(&mut token.profile, value()?.to_owned())?,
            "endpoint-url" => set_once(&mut token.endpoint_url, value()?.to_owned())?,
            "timeout" => {
                token.timeout = ranged(value()?, &TIMEOUT_RANGE)?;
                once(&mut seen_timeout)?;
            }
            "min-validity" => {
                token.min_validity = ranged(value()?, &MIN_VALIDITY_RANGE)?;
                once(&mut seen_min_validity)?;
            }
            "format" => set_once(&mut format, value_enum(value()?)?)?,
            "cache-dir" => set_once(&mut cache_dir, PathBuf::from(value()?))?,
            "no-cache" if inline.is_none() => once(&mut seen_no_cache)?,
            "force-refresh" if inline.is_none() => once(&mut seen_force)?,
            "verbose" if inline.is_none() => verbose = verbose.saturating_add(1),
            _ => return None,
        }
    }
    token.no_cache = seen_no_cache;
    token.force_refresh = seen_force;

    // The conflicts declared in cli.rs: one kind of target; --no-cache or --force-refresh.
    let kinds = [
        !token.clusters.is_empty(),
        !token.workgroups.is_empty(),
        token.host.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() > 1 || (token.no_cache && token.force_refresh) {
        return None;
    }
    if verbose > 8 {
        return None;
    }
    let cache_dir = match (cache_dir, cache_dir_env) {
        (Some(d), _) => Some(d),
        (None, None) => None,
        // clap refuses an empty value from the environment; let it say so.
        (None, Some(v)) if v.is_empty() => return None,
        (None, Some(v)) => Some(PathBuf::from(v)),
    };
    Some(Cli {
        command: None,
        token,
        format: format.unwrap_or(Format::Json),
        global: GlobalArgs { verbose, cache_dir },
    })
}

/// The next argument as an option's value: clap takes neither a missing one nor one that
/// looks like an option.
fn next_value<'a>(rest: &mut impl Iterator<Item = &'a OsString>) -> Option<&'a str> {
    usable(rest.next()?.to_str()?)
}

/// A value this parser takes: not empty and not starting with `-` (clap has its own rules for
/// those; leave them to it).
fn usable(v: &str) -> Option<&str> {
    (!v.is_empty() && !v.starts_with('-')).then_some(v)
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.is_none().then(|| *slot = Some(value))
}

fn once(seen: &mut bool) -> Option<()> {
    (!std::mem::replace(seen, true)).then_some(())
}

fn ranged(v: &str, range: &std::ops::RangeInclusive<u64>) -> Option<u64> {
    v.parse().ok().filter(|n| range.contains(n))
}

fn value_enum<T: ValueEnum>(v: &str) -> Option<T> {
    T::from_str(v, false).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn argv(words: &[&str]) -> Vec<OsString> {
        std::iter::once("redshift-idc-token")
            .chain(words.iter().copied())
            .map(OsString::from)
            .collect()
    }

    /// The fast path's answer, checked against clap's: when it answers, clap gives the same.
    fn agree(words: &[&str], env: Option<&'static str>) -> Option<Cli> {
        let args = argv(words);
        let fast = parse(&args, env.map(OsString::from))?;
        // What clap would read from REDSHIFT_IDC_TOKEN_CACHE_DIR, given as a default instead,
        // so the test neither reads nor changes the process environment.
        let cmd = <Cli as clap::CommandFactory>::command().mut_arg("cache_dir", |a| {
            let a = a.env(None::<&'static str>);
            match env {
                Some(v) => a.default_value(v),
                None => a,
            }
        });
        let matches = cmd
            .try_get_matches_from(&args)
            .unwrap_or_else(|e| panic!("the fast path accepted {words:?}, clap refused it: {e}"));
        let slow = <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap();
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "for {words:?}");
        Some(fast)
    }

    #[test]
    fn the_invocations_drivers_use_take_the_fast_path() {
        for words in [
            &["--cluster-id", "c1", "--region", "us-east-1"][..],
            &["--cluster-id=c1,c2", "--cluster-id", "C3", "-f", "jdbc"],
            &[
                "--workgroup",
                "wg-1",
                "--format=python",
                "-vv",
                "--no-cache",
            ],
            &[
                "--host",
                "c.abc.us-east-1.redshift.amazonaws.com:5439",
                "--force-refresh",
            ],
            &[
                "--cluster-id",
                "c1",
                "--profile",
                "p",
                "--endpoint-url",
                "http://127.0.0.1:1",
            ],
            &[
                "--cluster-id",
                "c1",
                "--timeout",
                "3600",
                "--min-validity",
                "0",
                "--verbose",
            ],
            &[
                "--cluster-id",
                "c1",
                "--cache-dir",
                "/tmp/c",
                "-v",
                "--format",
                "env",
            ],
            &[],
        ] {
            assert!(agree(words, None).is_some(), "{words:?} should be fast");
        }
        let cli = agree(&["--cluster-id", "c1"], Some("/env/dir")).unwrap();
        assert_eq!(cli.global.cache_dir, Some("/env/dir".into()));
        let cli = agree(&["--cluster-id", "c1", "--cache-dir", "/d"], Some("/e")).unwrap();
        assert_eq!(cli.global.cache_dir, Some("/d".into()));
    }

    #[test]
    fn everything_else_is_left_to_clap() {
        for words in [
            &["--help"][..],
            &["-h"],
            &["--version"],
            &["-V"],
            &["cache", "path"],
            &["exec", "--cluster-id", "c1", "--", "true"],
            &["--cluster-id", "c1", "doctor"],
            &["--cluster-id", "bad--id"],
            &["--cluster-id", "c1,"],
            &["--cluster-id", "c1", "--workgroup", "wg1"],
            &["--workgroup", "wg1", "--host", "h"],
            &["--no-cache", "--force-refresh"],
            &["--region", "a", "--region", "b"],
            &["--no-cache", "--no-cache"],
            &["--no-cache=true"],
            &["--timeout", "0"],
            &["--timeout", "3601"],
            &["--min-validity", "86401"],
            &["--timeout", "1", "--timeout", "2"],
            &["--format", "JSON"],
            &["--format", "xml"],
            &["--region"],
            &["--region", "--no-cache"],
            &["--region="],
            &["--cache-dir", ""],
            &["--clusterid", "c1"],
            &["--", "c1"],
            &["-"],
            &["-vf", "json"],
            &["-x"],
        ] {
            assert!(
                parse(&argv(words), None).is_none(),
                "{words:?} must go to clap"
            );
        }
        assert!(parse(&argv(&["--cluster-id", "c1"]), Some(OsString::new())).is_none());
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStringExt;
            let mut args = argv(&["--region"]);
            args.push(OsString::from_vec(vec![0xff]));
            assert!(parse(&args, None).is_none());
        }
    }

    /// Words the generator strings together: every option, good and bad values, subcommands.
    const WORDS: &[&str] = &[
        "--cluster-id",
        "--workgroup",
        "--host",
        "--region",
        "--profile",
        "--endpoint-url",
        "--timeout",
        "--min-validity",
        "--format",
        "-f",
        "--cache-dir",
        "--no-cache",
        "--force-refresh",
        "--verbose",
        "-v",
        "-vv",
        "-vvv",
        "--help",
        "-h",
        "--version",
        "--",
        "-",
        "exec",
        "cache",
        "doctor",
        "man",
        "c1",
        "C2",
        "c1,c2",
        "a--b",
        "wg-1",
        "WG",
        "x",
        "0",
        "1",
        "30",
        "3600",
        "3601",
        "86400",
        "-1",
        "+5",
        "json",
        "jdbc",
        "Env",
        "us-east-1",
        "",
        "=",
        "c.abc.us-east-1.redshift.amazonaws.com",
        "--cluster-id=c1",
        "--region=",
        "--format=token",
        "--timeout=10",
        "--no-cache=1",
        "-fjson",
        "--unknown",
    ];

    /// Option-value pairs as drivers and people write them, with bad values mixed in; strung
    /// together at random they make repeats, conflicts and unusual values too.
    const PAIRS: &[&[&str]] = &[
        &["--cluster-id", "c1"],
        &["--cluster-id=c2,C3"],
        &["--cluster-id", "bad--"],
        &["--workgroup", "wg-1"],
        &["--workgroup", "Wg"],
        &["--host", "c.x.us-east-1.redshift.amazonaws.com"],
        &["--region", "us-east-1"],
        &["--region=eu-west-1"],
        &["--profile", "dev"],
        &["--endpoint-url", "http://127.0.0.1:9"],
        &["--timeout", "10"],
        &["--timeout=0"],
        &["--min-validity", "60"],
        &["--min-validity", "x"],
        &["-f", "jdbc"],
        &["--format", "odbc"],
        &["--format=env"],
        &["--format", "yaml"],
        &["--cache-dir", "/c"],
        &["--no-cache"],
        &["--force-refresh"],
        &["-v"],
        &["-vv"],
        &["--verbose"],
        &["--help"],
        &["cache", "list"],
    ];

    #[test]
    fn agrees_with_clap_on_thousands_of_plausible_command_lines() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let (mut fast, total) = (0, 3000);
        for _ in 0..total {
            let words: Vec<&str> = (0..1 + next(5))
                .flat_map(|_| PAIRS[next(PAIRS.len())].iter().copied())
                .collect();
            let env = [None, Some("/env/c")][next(2)];
            if parse(&argv(&words), env.map(OsString::from)).is_some() {
                agree(&words, env);
                fast += 1;
            }
        }
        // Not a vacuous check: a good share of these take the fast path.
        assert!(
            fast > total / 5,
            "only {fast} of {total} took the fast path"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn never_disagrees_with_clap(
            picks in proptest::collection::vec(0..WORDS.len(), 0..8),
            env in proptest::option::of(prop_oneof![Just("/env/c"), Just("")]),
        ) {
            let words: Vec<&str> = picks.iter().map(|&i| WORDS[i]).collect();
            let fast = parse(&argv(&words), env.map(OsString::from));
            if fast.is_some() {
                agree(&words, env);
            }
        }
    }
}
