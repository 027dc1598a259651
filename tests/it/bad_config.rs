//! Issue 8, class 3: no panic and no "internal error" for bad configuration.
//!
//! Settings aws-config would panic on, or silently ignore with a warning, are refused before
//! the SDK sees them: exit 2, one line naming the setting and the rule, nothing on stdout and
//! no request. Regions and profile names are checked wherever they come from.

use std::fs;

use crate::common::*;

/// (environment variable, profile key, bad value, words of the rule).
const SETTINGS: &[(&str, &str, &str, &str)] = &[
    ("AWS_MAX_ATTEMPTS", "max_attempts", "0", "integer from 1"),
    ("AWS_MAX_ATTEMPTS", "max_attempts", "abc", "integer from 1"),
    ("AWS_MAX_ATTEMPTS", "max_attempts", "-1", "integer from 1"),
    (
        "AWS_RETRY_MODE",
        "retry_mode",
        "bogus",
        "standard or adaptive",
    ),
    (
        "AWS_ACCOUNT_ID_ENDPOINT_MODE",
        "account_id_endpoint_mode",
        "x",
        "preferred, disabled or required",
    ),
    (
        "AWS_USE_FIPS_ENDPOINT",
        "use_fips_endpoint",
        "maybe",
        "true or false",
    ),
    (
        "AWS_USE_DUALSTACK_ENDPOINT",
        "use_dualstack_endpoint",
        "yes",
        "true or false",
    ),
    (
        "AWS_REQUEST_CHECKSUM_CALCULATION",
        "request_checksum_calculation",
        "bogus",
        "when_supported or when_required",
    ),
    (
        "AWS_RESPONSE_CHECKSUM_VALIDATION",
        "response_checksum_validation",
        "bogus",
        "when_supported or when_required",
    ),
    (
        "AWS_DISABLE_REQUEST_COMPRESSION",
        "disable_request_compression",
        "x",
        "true or false",
    ),
    (
        "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES",
        "request_min_compression_size_bytes",
        "x",
        "integer from 0 to 10485760",
    ),
];

#[test]
fn settings_the_sdk_would_panic_on_or_ignore_are_usage_errors() {
    let (standin, mut sb) = standin_issuing(None);
    for (var, key, value, rule) in SETTINGS {
        sb.set(var, value);
        for args in [with(C1, &["--no-cache"]), with(C1, &[])] {
            let out = sb.run(&args);
            let line = assert_failure(&out, 2, &[var, &format!("'{value}'"), rule]);
            assert!(!line.contains("panicked"), "{line}");
        }
        let doctor = sb.run(&with(&["doctor"], C1));
        assert_eq!(doctor.status.code(), Some(2), "doctor with {var}={value}");
        assert!(stderr(&doctor).is_empty(), "{}", stderr(&doctor));
        assert!(stdout(&doctor).contains(var), "{}", stdout(&doctor));
        sb.unset(var);

        sb.write_aws_config(&format!("[default]\nregion = us-east-1\n{key} = {value}\n"));
        let out = sb.run(&with(C1, &["--no-cache"]));
        assert_failure(&out, 2, &[&format!("`{key}`"), "profile default", rule]);
        sb.write_aws_config("");
    }
    assert_eq!(standin.request_count(), 0);
    // Good values still work.
    sb.set("AWS_MAX_ATTEMPTS", "2");
    sb.set("AWS_USE_FIPS_ENDPOINT", "FALSE");
    sb.write_aws_config("[default]\nretry_mode = Adaptive\n");
    assert_eq!(sb.json(C1)["source"], "aws");
}

#[test]
fn regions_from_the_environment_and_profiles_are_checked_like_region() {
    let (standin, mut sb) = standin_issuing(None);
    sb.set("AWS_REGION", "us-east-1 ");
    assert_failure(
        &sb.run(C1),
        2,
        &[
            "invalid region 'us-east-1 ' (from AWS_REGION)",
            "such as us-east-1",
        ],
    );
    sb.unset("AWS_REGION");
    sb.set("AWS_DEFAULT_REGION", "Mars");
    assert_failure(
        &sb.run(C1),
        2,
        &["invalid region 'Mars' (from AWS_DEFAULT_REGION)"],
    );
    sb.unset("AWS_DEFAULT_REGION");
    sb.write_aws_config("[default]\nregion = eu-west-1;Ireland\n");
    assert_failure(
        &sb.run(C1),
        2,
        &["invalid region 'eu-west-1;Ireland' (from the profile default)"],
    );
    assert_eq!(standin.request_count(), 0);
    // aws-config's comment rule: `;` or `#` after whitespace starts a comment.
    sb.write_aws_config("[default]\nregion = eu-west-1 ; Ireland\n");
    let doc = sb.json(C1);
    let issued = parse_issued(doc["token"].as_str().unwrap()).unwrap();
    assert_eq!(issued.region, "eu-west-1");
}

#[test]
fn an_exported_but_empty_cache_dir_variable_counts_as_unset() {
    let (_standin, mut sb) = standin_issuing(None);
    sb.set("REDSHIFT_IDC_TOKEN_CACHE_DIR", "");
    let first = sb.run(C1);
    assert_success(&first);
    assert!(stderr(&first).is_empty(), "{}", stderr(&first));
    assert_eq!(sb.json(C1)["source"], "cache");
    assert_eq!(sb.entries().len(), 1, "the default cache directory is used");
    let path = sb.run(&["cache", "path"]);
    assert_eq!(stdout(&path).trim(), sb.cache_root().to_str().unwrap());
}

#[test]
fn aws_profile_gets_the_checks_of_profile() {
    let (standin, mut sb) = standin_issuing(None);
    for bad in ["a]b", "x\u{1b}[2J"] {
        sb.set("AWS_PROFILE", bad);
        let line = assert_failure(
            &sb.run(C1),
            2,
            &["invalid profile name", "(from AWS_PROFILE)"],
        );
        assert!(!line.contains('\u{1b}'), "{line:?}");
    }
    assert_eq!(standin.request_count(), 0);
}

#[test]
fn nothing_user_supplied_reaches_cache_list_raw() {
    let (_standin, sb) = standin_issuing(None);
    sb.json(C1);
    let entry = sb.entries().pop().unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&fs::read(&entry).unwrap()).unwrap();
    doc["profile"] = "p\u{1b}[2J\nforged line".into();
    doc["region"] = "r\u{7}".into();
    fs::write(&entry, doc.to_string()).unwrap();
    let out = sb.run(&["cache", "list"]);
    assert_success(&out);
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 2, "{text:?}");
    assert!(
        !text.chars().any(|c| c.is_control() && c != '\n'),
        "{text:?}"
    );
}

#[test]
fn a_config_file_aws_config_cannot_parse_is_a_usage_error() {
    let (standin, sb) = standin_issuing(None);
    sb.write_aws_config("region = us-east-1\n[default]\n");
    let path = sb.home().join(".aws/config");
    for args in [with(C1, &[]), with(C1, &["--no-cache"])] {
        assert_failure(
            &sb.run(&args),
            2,
            &[
                path.to_str().unwrap(),
                "line 1",
                "Expected a profile definition",
            ],
        );
    }
    assert_eq!(standin.request_count(), 0);
}
