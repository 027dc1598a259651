//! The driver-facing escapes read back to the original value with an independent reader of
//! each consumer's syntax, alone and inside the full rendered documents.
#![no_main]

use std::time::{Duration, SystemTime};

use libfuzzer_sys::fuzz_target;
use redshift_idc_token::output::{
    ENV_TOKEN, Format, JDBC_PLUGIN, PLUGIN, Rendered, Source, odbc_value, properties_escape,
    render, shell_quote,
};
use redshift_idc_token::target::Targets;
use redshift_idc_token::token::{AuthToken, TokenType};
const TOKEN_TYPE: &str = "SUBJECT_TOKEN";
use redshift_idc_token_fuzz::{
    NOW, assert_shell_quote_shape, java_properties_load, odbc_parse, shell_unquote,
};

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

fuzz_target!(|s: &str| {
    // Java properties.
    let p = properties_escape(s);
    assert!(
        p.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "not printable ASCII: {s:?} -> {p:?}"
    );
    let doc = format!("token={p}\n");
    match java_properties_load(&doc) {
        Ok(got) => assert_eq!(pairs(&got), [("token", s)], "{p:?}"),
        Err(err) => panic!("Properties.load would fail ({err}): {s:?} -> {p:?}"),
    }

    // ODBC.
    let v = odbc_value(s);
    match odbc_parse(&format!("token={v};x=y")) {
        Ok(got) => assert_eq!(pairs(&got), [("token", s), ("x", "y")], "{v:?}"),
        Err(err) => panic!("connection string unparsable ({err}): {s:?} -> {v:?}"),
    }

    // POSIX shell.
    let q = shell_quote(s);
    assert_shell_quote_shape(s, &q);
    assert_eq!(shell_unquote(&q).as_deref(), Ok(s), "{q:?}");

    // Whole documents, for a value that can be a token at all.
    let now = SystemTime::UNIX_EPOCH + NOW;
    let Ok(token) = AuthToken::from_reply(
        Some(s.to_owned()),
        Some(now + Duration::from_secs(900)),
        now,
    ) else {
        return;
    };
    let targets = Targets::clusters(vec!["c1".parse().unwrap()]).unwrap();
    let r = Rendered {
        token: &token,
        targets: &targets,
        source: Source::Aws,
        now,
    };
    let show = |f| String::from_utf8(render(f, &r).to_vec()).expect("rendered UTF-8");

    assert_eq!(show(Format::Token), format!("{s}\n"));
    for f in [Format::Json, Format::Python] {
        let out = show(f);
        assert_eq!(out.matches('\n').count(), 1, "{out:?}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("rendered JSON");
        assert_eq!(v["token"].as_str(), Some(s));
    }
    let jdbc = java_properties_load(&show(Format::Jdbc)).expect("JDBC properties");
    assert_eq!(
        pairs(&jdbc),
        [
            ("plugin_name", JDBC_PLUGIN),
            ("token", s),
            ("token_type", TOKEN_TYPE)
        ]
    );
    let odbc = show(Format::Odbc);
    let odbc = odbc_parse(odbc.strip_suffix('\n').expect("one line")).expect("ODBC string");
    assert_eq!(
        pairs(&odbc),
        [
            ("plugin_name", PLUGIN),
            ("token", s),
            ("token_type", TOKEN_TYPE)
        ]
    );
    let env = show(Format::Env);
    let first = env.lines().next().unwrap();
    let word = first
        .strip_prefix(&format!("export {ENV_TOKEN}="))
        .expect("export line");
    assert_eq!(shell_unquote(word).as_deref(), Ok(s), "{first:?}");
    assert_eq!(env.lines().count(), 3, "{env:?}");
});
