//! The AWS SDK settings that aws-config parses itself, checked before it sees them.
//!
//! Why it exists: aws-config panics on some bad values (`AWS_MAX_ATTEMPTS=0`, `abc`, `-1`,
//! `AWS_RETRY_MODE=bogus`, `AWS_ACCOUNT_ID_ENDPOINT_MODE=x`, and the same keys in a profile)
//! and silently ignores others with a warning full of `Debug` text (`AWS_USE_FIPS_ENDPOINT`,
//! the checksum and compression settings): a user who asked for FIPS would quietly get the
//! standard endpoint. Each setting here is looked up the way aws-config looks it up (the
//! environment variable first, then the selected profile) and checked against the rule
//! aws-config applies; a bad one is a usage error naming the setting, the value and the rule.

use crate::aws::config::shared_config::{SharedConfig, profile_origin};
use crate::env::Env;
use crate::error::Error;

/// What a valid value looks like.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// An integer in the range (aws-config parses these as `u32`/`u64`).
    Integer { min: u64, max: u64 },
    /// One of the words, compared case-insensitively (after trimming, as aws-config does).
    OneOf(&'static [&'static str]),
}

impl Rule {
    fn accepts(self, v: &str) -> bool {
        let v = v.trim();
        match self {
            Rule::Integer { min, max } => {
                v.bytes().all(|b| b.is_ascii_digit())
                    && v.parse::<u64>().is_ok_and(|n| (min..=max).contains(&n))
            }
            Rule::OneOf(words) => words.iter().any(|w| w.eq_ignore_ascii_case(v)),
        }
    }

    fn describe(self) -> String {
        match self {
            Rule::Integer { min, max } => format!("must be an integer from {min} to {max}"),
            Rule::OneOf(words) => match words {
                [a, b] => format!("must be {a} or {b}"),
                _ => {
                    let (last, rest) = words.split_last().expect("non-empty");
                    format!("must be {} or {last}", rest.join(", "))
                }
            },
        }
    }
}

const BOOL: Rule = Rule::OneOf(&["true", "false"]);
const CHECKSUM: Rule = Rule::OneOf(&["when_supported", "when_required"]);

/// (environment variable, profile key, rule).
const SETTINGS: &[(&str, &str, Rule)] = &[
    (
        "AWS_MAX_ATTEMPTS",
        "max_attempts",
        Rule::Integer {
            min: 1,
            max: u32::MAX as u64,
        },
    ),
    (
        "AWS_RETRY_MODE",
        "retry_mode",
        Rule::OneOf(&["standard", "adaptive"]),
    ),
    (
        "AWS_ACCOUNT_ID_ENDPOINT_MODE",
        "account_id_endpoint_mode",
        Rule::OneOf(&["preferred", "disabled", "required"]),
    ),
    ("AWS_USE_FIPS_ENDPOINT", "use_fips_endpoint", BOOL),
    ("AWS_USE_DUALSTACK_ENDPOINT", "use_dualstack_endpoint", BOOL),
    (
        "AWS_REQUEST_CHECKSUM_CALCULATION",
        "request_checksum_calculation",
        CHECKSUM,
    ),
    (
        "AWS_RESPONSE_CHECKSUM_VALIDATION",
        "response_checksum_validation",
        CHECKSUM,
    ),
    (
        "AWS_DISABLE_REQUEST_COMPRESSION",
        "disable_request_compression",
        BOOL,
    ),
    (
        "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES",
        "request_min_compression_size_bytes",
        Rule::Integer {
            min: 0,
            max: 10_485_760,
        },
    ),
    (
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "ignore_configured_endpoint_urls",
        BOOL,
    ),
];

/// Checks every setting in [`SETTINGS`] where aws-config would read it: the environment
/// variable if set (non-empty), else the selected profile's key.
pub fn check(env: &Env, files: &SharedConfig, profile: &str) -> Result<(), Error> {
    for (var, key, rule) in SETTINGS {
        if let Some(v) = env.get(var) {
            if !rule.accepts(v) {
                return Err(Error::invalid(*var, v, None, rule.describe()));
            }
            continue;
        }
        if key.is_empty() {
            continue;
        }
        if let Some(v) = files.get(profile, key)
            && !rule.accepts(v)
        {
            return Err(Error::invalid(
                format!("`{key}`"),
                v,
                Some(&profile_origin(profile)),
                rule.describe(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let files = SharedConfig::from_texts("[default]\nmax_attempts = 0\n", "").unwrap();
        let err = check(&Env::default(), &files, "default").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid `max_attempts` '0' (from the profile default): must be an integer from 1 to 4294967295"
        );
        let env = Env::from_pairs([("AWS_MAX_ATTEMPTS", "3")]);
        assert!(check(&env, &files, "default").is_ok(), "the variable wins");
        let env = Env::from_pairs([("AWS_RETRY_MODE", "bogus")]);
        let err = check(&env, &SharedConfig::default(), "default").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid AWS_RETRY_MODE 'bogus': must be standard or adaptive"
        );
        let env = Env::from_pairs([("AWS_ACCOUNT_ID_ENDPOINT_MODE", "x")]);
        let err = check(&env, &SharedConfig::default(), "default").unwrap_err();
        assert!(
            err.to_string()
                .ends_with("must be preferred, disabled or required")
        );
        for ok in [
            ("AWS_USE_FIPS_ENDPOINT", "TRUE"),
            ("AWS_RETRY_MODE", " adaptive"),
        ] {
            assert!(check(&Env::from_pairs([ok]), &SharedConfig::default(), "x").is_ok());
        }
        for bad in [("AWS_MAX_ATTEMPTS", "-1"), ("AWS_MAX_ATTEMPTS", "+1")] {
            assert!(check(&Env::from_pairs([bad]), &SharedConfig::default(), "x").is_err());
        }
    }
}
