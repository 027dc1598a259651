//! The fuzzers' checked-in corpora and crash regressions, replayed through the library on the
//! stable toolchain in every test run: what libFuzzer found once (two time-conversion panics
//! in the cache decoder) can never come back unnoticed, without a sanitizer build in CI.

use std::path::Path;

use redshift_idc_token::output::{odbc_value, properties_escape, shell_quote};
use redshift_idc_token::target::{ClusterId, WorkgroupName, parse_host};

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

/// Every file of `fuzz/corpus/<target>` and `fuzz/regressions/<target>`; at least `min`.
fn inputs(target: &str, min: usize) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut out = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(rd) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in rd {
            out.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    assert!(
        out.len() >= min,
        "{target}: {} inputs, expected at least {min}",
        out.len()
    );
    out
}

#[test]
fn cache_decode_corpus_and_regressions() {
    for data in inputs("cache_decode", 10) {
        checks::check_cache_entry(&data);
    }
}

#[test]
fn parse_host_and_target_corpora() {
    for data in inputs("parse_host", 10)
        .into_iter()
        .chain(inputs("target_ids", 10))
    {
        let s = String::from_utf8_lossy(&data);
        if let Err(e) = parse_host(&s) {
            checks::assert_one_line("parse_host", &e.to_string());
        }
        for r in [
            s.parse::<ClusterId>().map(|_| ()),
            s.parse::<WorkgroupName>().map(|_| ()),
        ] {
            if let Err(e) = r {
                checks::assert_one_line("target", &e.to_string());
            }
        }
    }
}

#[test]
fn output_escape_corpus_round_trips() {
    for data in inputs("output_escape", 10) {
        let s = String::from_utf8_lossy(&data);
        let props = format!("k={}\n", properties_escape(&s));
        let read = checks::java_properties_load(&props).unwrap();
        assert_eq!(read, [("k".to_owned(), s.to_string())], "{s:?}");
        let value = odbc_value(&s);
        let pairs = checks::odbc_parse(&format!("k={value}")).unwrap();
        // A braced value is kept exactly; an unbraced one has no surrounding spaces to lose.
        assert_eq!(
            pairs,
            [("k".to_owned(), s.to_string())],
            "{s:?} as {value:?}"
        );
        let q = shell_quote(&s);
        checks::assert_shell_quote_shape(&s, &q);
        assert_eq!(checks::shell_unquote(&q).unwrap(), s, "{s:?}");
    }
}
