//! Driver-ready renderings of a token, and the only code that writes a result to stdout.
//!
//! Each format is rendered completely into one zeroized buffer and written with a single
//! `write_all`, so a consumer reads one complete document or nothing, and the token does not
//! linger in freed memory.

use std::io::Write;
use std::time::SystemTime;

use zeroize::Zeroizing;

use crate::target::Targets;
use crate::token::{AuthToken, rfc3339};

/// The `plugin_name` the JDBC driver expects for IdC tokens.
pub const JDBC_PLUGIN: &str = "com.amazon.redshift.plugin.IdpTokenAuthPlugin";
/// The `plugin_name` of the ODBC driver and the Python `credentials_provider`.
pub const PLUGIN: &str = "IdpTokenAuthPlugin";
/// Environment variable names used by `--format env` and by `exec`.
pub const ENV_TOKEN: &str = "REDSHIFT_IDC_TOKEN";
pub const ENV_TOKEN_TYPE: &str = "REDSHIFT_IDC_TOKEN_TYPE";
pub const ENV_EXPIRATION: &str = "REDSHIFT_IDC_TOKEN_EXPIRATION";

/// How to print the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON object: version, token, token_type, expiration (RFC 3339 UTC), and more.
    Json,
    /// The bare token and a newline.
    Token,
    /// Java properties for the JDBC driver's IdpTokenAuthPlugin.
    Jdbc,
    /// An ODBC connection-string fragment for IdpTokenAuthPlugin.
    Odbc,
    /// JSON keyword arguments for redshift_connector.connect().
    Python,
    /// Shell `export` lines (REDSHIFT_IDC_TOKEN, _TYPE, _EXPIRATION).
    Env,
}

/// Where a token came from, reported in the `json` format and the logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Aws,
    Cache,
}

/// Everything a rendering may show.
pub struct Rendered<'a> {
    pub token: &'a AuthToken,
    pub targets: &'a Targets,
    pub source: Source,
    pub now: SystemTime,
}

/// The `json` format's document; borrowed, so the token is not copied into a JSON tree.
#[derive(serde::Serialize)]
struct JsonDoc<'a> {
    version: u32,
    token: &'a str,
    token_type: &'static str,
    expiration: Option<String>,
    expires_in_seconds: Option<u64>,
    source: &'static str,
    service: &'static str,
    targets: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<[&'static str; 1]>,
}

/// The `python` format: exactly the keyword arguments `redshift_connector.connect` takes.
#[derive(serde::Serialize)]
struct PythonKwargs<'a> {
    credentials_provider: &'static str,
    token: &'a str,
    token_type: &'static str,
}

/// Renders `r` in `format`. The buffer is zeroized when dropped; it is sized up front so that
/// growing it never leaves a stray copy of the token in freed memory.
pub fn render(format: Format, r: &Rendered<'_>) -> Zeroizing<Vec<u8>> {
    let token = r.token.token.expose();
    let expiration = r.token.expiration.map(rfc3339);
    let mut out = Zeroizing::new(Vec::with_capacity(token.len() * 6 + 1024));
    let buf: &mut Vec<u8> = &mut out;
    // Writing into a Vec cannot fail.
    let _ = match format {
        Format::Json => {
            let doc = JsonDoc {
                version: 1,
                token,
                token_type: r.token.kind.name(),
                expires_in_seconds: r.token.remaining(r.now).map(|d| d.as_secs()),
                warnings: expiration
                    .is_none()
                    .then_some(["the service returned no expiration time"]),
                expiration,
                source: match r.source {
                    Source::Aws => "aws",
                    Source::Cache => "cache",
                },
                service: r.targets.service().name(),
                targets: r.targets.names(),
            };
            serde_json::to_writer(&mut *buf, &doc)
                .map_err(std::io::Error::other)
                .and_then(|()| buf.write_all(b"\n"))
        }
        Format::Token => writeln!(buf, "{token}"),
        Format::Jdbc => writeln!(
            buf,
            "plugin_name={JDBC_PLUGIN}\ntoken={}\ntoken_type={}",
            Zeroizing::new(properties_escape(token)).as_str(),
            r.token.kind.name()
        ),
        Format::Odbc => writeln!(
            buf,
            "plugin_name={PLUGIN};token={};token_type={}",
            Zeroizing::new(odbc_value(token)).as_str(),
            r.token.kind.name()
        ),
        Format::Python => {
            let kwargs = PythonKwargs {
                credentials_provider: PLUGIN,
                token,
                token_type: r.token.kind.name(),
            };
            serde_json::to_writer(&mut *buf, &kwargs)
                .map_err(std::io::Error::other)
                .and_then(|()| buf.write_all(b"\n"))
        }
        Format::Env => {
            let quoted = Zeroizing::new(shell_quote(token));
            writeln!(buf, "export {ENV_TOKEN}={}", quoted.as_str())
                .and_then(|()| {
                    writeln!(
                        buf,
                        "export {ENV_TOKEN_TYPE}={}",
                        shell_quote(r.token.kind.name())
                    )
                })
                .and_then(|()| match &expiration {
                    Some(e) => writeln!(buf, "export {ENV_EXPIRATION}={}", shell_quote(e)),
                    None => Ok(()),
                })
        }
    };
    out
}

/// Writes one complete document to stdout: every command's result goes through here. A closed
/// pipe is not an error: the reader left, and there is nobody to tell.
pub fn emit(doc: &[u8]) -> Result<(), crate::error::Error> {
    match write_document(std::io::stdout().lock(), doc) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|source| crate::error::Error::Output { source }),
    }
}

/// Writes one rendered document with a single `write_all` and flushes.
pub fn write_document(mut w: impl Write, doc: &[u8]) -> std::io::Result<()> {
    w.write_all(doc)?;
    w.flush()
}

/// Escapes a value as `java.util.Properties.load` reads it back: backslash escapes for
/// `\`, the separators `=` and `:`, the comment starters `#` and `!`, leading spaces, and
/// line-breaking or non-printable characters; everything outside printable ASCII as `\uXXXX`.
pub fn properties_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '\\' | '=' | ':' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 => out.push_str("\\ "),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0c' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04X}"));
                }
            }
        }
    }
    out
}

/// An ODBC connection-string value: braced when it holds a character that would end or
/// confuse the attribute (`;`, `{`, `}`, `=`, or surrounding spaces), with `}` doubled inside.
pub fn odbc_value(s: &str) -> String {
    let needs_braces =
        s.contains([';', '{', '}', '=']) || s.starts_with(' ') || s.ends_with(' ') || s.is_empty();
    if needs_braces {
        format!("{{{}}}", s.replace('}', "}}"))
    } else {
        s.to_owned()
    }
}

/// A POSIX shell single-quoted word: nothing inside is interpreted; `'` becomes `'\''`.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::target::ClusterId;
    use crate::token::Secret;
    use std::time::Duration;

    fn sample(token: &str, exp: bool) -> (AuthToken, Targets, SystemTime) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_927_411);
        let t = AuthToken {
            token: Secret::new(token.into()),
            kind: crate::token::TokenType::Subject,
            expiration: exp.then(|| now + Duration::from_secs(900)),
        };
        let ids = vec!["c1".parse::<ClusterId>().unwrap()];
        (t, Targets::clusters(ids).unwrap(), now)
    }

    fn show(format: Format, token: &str, exp: bool) -> String {
        let (t, targets, now) = sample(token, exp);
        let r = Rendered {
            token: &t,
            targets: &targets,
            source: Source::Aws,
            now,
        };
        String::from_utf8(render(format, &r).to_vec()).unwrap()
    }

    #[test]
    fn json_document() {
        let v: serde_json::Value = serde_json::from_str(&show(Format::Json, "tok", true)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"version":1,"token":"tok","token_type":"SUBJECT_TOKEN",
                "expiration":"2026-11-29T04:58:31Z","expires_in_seconds":900,"source":"aws",
                "service":"redshift","targets":["c1"]})
        );
        let v: serde_json::Value = serde_json::from_str(&show(Format::Json, "tok", false)).unwrap();
        assert_eq!(v["expiration"], serde_json::Value::Null);
        assert_eq!(v["warnings"][0], "the service returned no expiration time");
    }

    #[test]
    fn plain_formats() {
        assert_eq!(show(Format::Token, "a b", true), "a b\n");
        assert_eq!(
            show(Format::Jdbc, "ab=c", true),
            "plugin_name=com.amazon.redshift.plugin.IdpTokenAuthPlugin\ntoken=ab\\=c\ntoken_type=SUBJECT_TOKEN\n"
        );
        assert_eq!(
            show(Format::Odbc, "abc", true),
            "plugin_name=IdpTokenAuthPlugin;token=abc;token_type=SUBJECT_TOKEN\n"
        );
        assert_eq!(
            show(Format::Python, "t\"x", true),
            "{\"credentials_provider\":\"IdpTokenAuthPlugin\",\"token\":\"t\\\"x\",\"token_type\":\"SUBJECT_TOKEN\"}\n"
        );
        assert_eq!(
            show(Format::Env, "it's", true),
            "export REDSHIFT_IDC_TOKEN='it'\\''s'\nexport REDSHIFT_IDC_TOKEN_TYPE='SUBJECT_TOKEN'\nexport REDSHIFT_IDC_TOKEN_EXPIRATION='2026-11-29T04:58:31Z'\n"
        );
        assert!(!show(Format::Env, "t", false).contains("EXPIRATION"));
    }

    #[test]
    fn escaping() {
        assert_eq!(
            properties_escape(" a b:c#d!e\\f\ng\u{e9}"),
            "\\ a b\\:c\\#d\\!e\\\\f\\ng\\u00E9"
        );
        assert_eq!(properties_escape("\u{1F600}"), "\\uD83D\\uDE00");
        assert_eq!(odbc_value("a;b}c"), "{a;b}}c}");
        assert_eq!(odbc_value("a{b"), "{a{b}");
        assert_eq!(odbc_value("abc"), "abc");
        assert_eq!(shell_quote("$(rm -rf /)'`"), "'$(rm -rf /)'\\''`'");
    }
}
