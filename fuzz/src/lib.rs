//! Shared checks and reference decoders for the fuzz targets.
//!
//! The reference decoders are deliberately independent of `src/`: each reads a value back the
//! way its consumer does (Java `Properties.load`, an ODBC connection-string parser, a POSIX
//! shell), so a fuzz target can check that the escaping functions round-trip.

use std::time::{Duration, SystemTime};

use redshift_idc_token::cache::{MAX_CACHED_LIFETIME, decode};
use redshift_idc_token::output::{Format, Rendered, Source, render};
use redshift_idc_token::target::Targets;
use redshift_idc_token::token::MAX_TOKEN_LEN;

/// The fixed "now" of the cache target (2026-11-29T04:43:31Z, the unit tests' clock).
pub const NOW: Duration = Duration::from_secs(1_795_927_411);

/// Every rendered error message is one line: no C0/C1 control character, and no bidi
/// override or isolate (which can make a terminal show a value other than the real one).
pub fn assert_one_line(what: &str, msg: &str) {
    if let Some(c) = msg.chars().find(|&c| c.is_control() || is_bidi_control(c)) {
        panic!("{what}: raw control character {c:?} in message {msg:?}");
    }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// The longest `target::printable` output: 100 characters of at most 10 bytes (`\u{10ffff}`)
/// each, and `...`.
pub const MAX_PRINTABLE: usize = 100 * 10 + 3;

/// `t` truncated down to a whole second, as `token::rfc3339` writes it.
pub fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => SystemTime::UNIX_EPOCH + Duration::from_secs(d.as_secs()),
        Err(e) => {
            let d = e.duration();
            let secs = d.as_secs() + u64::from(d.subsec_nanos() != 0);
            SystemTime::UNIX_EPOCH - Duration::from_secs(secs)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Cache entries

const FORMATS: [Format; 6] = [
    Format::Json,
    Format::Token,
    Format::Jdbc,
    Format::Odbc,
    Format::Python,
    Format::Env,
];

/// `cache::decode(data, None, NOW)` must not panic; if it accepts the entry, the entry must
/// re-encode to one that decodes to the same thing (times to the whole second, which is what
/// the encoder writes), the encoding must be a fixed point after one round, and the cache-hit
/// path (freshness, rendering in every format) must handle it.
pub fn check_cache_entry(data: &[u8]) {
    let now = SystemTime::UNIX_EPOCH + NOW;
    let Ok(e) = decode(data, None, now) else {
        return;
    };

    // What decode promises about an accepted entry.
    let tok = e.token.expose();
    assert!(!tok.is_empty() && tok.len() <= MAX_TOKEN_LEN && !tok.contains(['\0', '\n', '\r']));
    assert!(
        e.fetched <= now + Duration::from_secs(300),
        "fetched in the future"
    );

    // Round trip.
    let bytes = e.encode();
    let back = match decode(&bytes, None, now) {
        Ok(b) => b,
        Err(m) => panic!(
            "re-encoded entry does not decode ({m}): {}",
            String::from_utf8_lossy(&bytes)
        ),
    };
    assert_eq!(back.meta, e.meta);
    assert_eq!(back.token.expose(), tok);
    assert_eq!(back.expiration, whole_seconds(e.expiration));
    assert_eq!(back.fetched, whole_seconds(e.fetched));
    let again = decode(&bytes, Some(&e.meta), now).expect("entry does not match its own key");
    assert_eq!(
        again.encode().as_slice(),
        bytes.as_slice(),
        "encoding is not a fixed point"
    );

    // The cache-hit path.
    let until = e.trusted_until();
    assert!(until <= e.expiration && until <= e.fetched + MAX_CACHED_LIFETIME);
    assert!(e.remaining(now) <= MAX_CACHED_LIFETIME + Duration::from_secs(300));
    let _ = e.is_fresh(now, Duration::from_secs(300));
    let auth = e.to_auth_token();
    let targets = Targets::clusters(vec!["c1".parse().unwrap()]).unwrap();
    for format in FORMATS {
        let r = Rendered {
            token: &auth,
            targets: &targets,
            source: Source::Cache,
            now,
        };
        assert!(render(format, &r).ends_with(b"\n"));
    }
}

// ---------------------------------------------------------------------------------------------
// Java properties

/// `java.util.Properties.load` over a whole document (as `load(InputStream)`, i.e. ISO-8859-1:
/// every byte must already be ASCII here, anything else is refused): natural lines, comment
/// lines, `\` continuations, the key/separator rules, and `loadConvert`'s escapes. Returns the
/// pairs in file order; `Err` where Java would throw (malformed `\uXXXX`).
pub fn java_properties_load(doc: &str) -> Result<Vec<(String, String)>, String> {
    if let Some(c) = doc.chars().find(|c| !c.is_ascii()) {
        return Err(format!(
            "non-ASCII character {c:?}: would be read as ISO-8859-1"
        ));
    }
    let mut out = Vec::new();
    for logical in logical_lines(doc) {
        let (key, value) = split_key_value(&logical);
        out.push((load_convert(key)?, load_convert(value)?));
    }
    Ok(out)
}

fn is_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0c')
}

/// Logical lines: leading whitespace skipped, blank and comment lines dropped, a line ending in
/// an odd number of backslashes joined to the next one (whose leading whitespace is skipped).
fn logical_lines(doc: &str) -> Vec<String> {
    let mut natural: Vec<&str> = Vec::new();
    let mut rest = doc;
    while !rest.is_empty() {
        match rest.find(['\n', '\r']) {
            Some(i) => {
                natural.push(&rest[..i]);
                let skip = if rest[i..].starts_with("\r\n") { 2 } else { 1 };
                rest = &rest[i + skip..];
            }
            None => {
                natural.push(rest);
                rest = "";
            }
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < natural.len() {
        let line = natural[i].trim_start_matches(is_ws);
        i += 1;
        if line.is_empty() || line.starts_with(['#', '!']) {
            continue;
        }
        let mut logical = String::new();
        let mut cur = line;
        loop {
            let trailing = cur.len() - cur.trim_end_matches('\\').len();
            if trailing % 2 == 1 {
                logical.push_str(&cur[..cur.len() - 1]);
                match natural.get(i) {
                    Some(next) => {
                        cur = next.trim_start_matches(is_ws);
                        i += 1;
                    }
                    None => break,
                }
            } else {
                logical.push_str(cur);
                break;
            }
        }
        out.push(logical);
    }
    out
}

/// The raw (still escaped) key and value of a logical line.
fn split_key_value(line: &str) -> (&str, &str) {
    let b = line.as_bytes();
    let mut i = 0;
    let mut escaped = false;
    let mut has_sep = false;
    while i < b.len() {
        let c = b[i] as char;
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '=' || c == ':' {
            has_sep = true;
            break;
        } else if is_ws(c) {
            break;
        }
        i += 1;
    }
    let key = &line[..i];
    let mut j = if has_sep { i + 1 } else { i };
    while j < b.len() && is_ws(b[j] as char) {
        j += 1;
    }
    if !has_sep && j < b.len() && (b[j] == b'=' || b[j] == b':') {
        j += 1;
        while j < b.len() && is_ws(b[j] as char) {
            j += 1;
        }
    }
    (key, &line[j..])
}

/// `Properties.loadConvert`: `\uXXXX` (UTF-16 units, combined afterwards), `\t \n \r \f`, and
/// `\X` for any other X is X.
fn load_convert(s: &str) -> Result<String, String> {
    let mut units: Vec<u16> = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
            continue;
        }
        let Some(e) = chars.next() else {
            // Java drops a lone trailing backslash at the end of the stream.
            break;
        };
        match e {
            'u' => {
                let hex: String = chars.by_ref().take(4).collect();
                if hex.len() != 4 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                    return Err(format!("malformed \\uxxxx encoding: \\u{hex}"));
                }
                units.push(u16::from_str_radix(&hex, 16).unwrap());
            }
            't' => units.push(b'\t'.into()),
            'n' => units.push(b'\n'.into()),
            'r' => units.push(b'\r'.into()),
            'f' => units.push(0x0c),
            other => {
                let mut buf = [0u16; 2];
                units.extend_from_slice(other.encode_utf16(&mut buf));
            }
        }
    }
    String::from_utf16(&units).map_err(|_| "unpaired surrogate in \\u escapes".to_owned())
}

// ---------------------------------------------------------------------------------------------
// ODBC connection strings

/// An ODBC connection string (`key=value;key={braced value};...`): keys end at `=`; a value
/// is either `{...}` with `}}` standing for `}` (and nothing but `;` may follow the closing
/// brace), or runs to the next `;` and loses its surrounding spaces. A `{` or `}` in an
/// unbraced value is refused as ambiguous.
pub fn odbc_parse(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("attribute without '=': {rest:?}"))?;
        let key = rest[..eq].trim_matches(' ');
        if key.is_empty() || key.contains([';', '{', '}']) {
            return Err(format!("bad keyword {key:?}"));
        }
        rest = &rest[eq + 1..];
        let value;
        if let Some(body) = rest.strip_prefix('{') {
            let mut v = String::new();
            let mut it = body.char_indices().peekable();
            let mut end = None;
            while let Some((i, c)) = it.next() {
                if c == '}' {
                    if let Some(&(_, '}')) = it.peek() {
                        it.next();
                        v.push('}');
                    } else {
                        end = Some(i + 1);
                        break;
                    }
                } else {
                    v.push(c);
                }
            }
            let end = end.ok_or("unterminated braced value")?;
            rest = &body[end..];
            match rest.strip_prefix(';') {
                Some(r) => rest = r,
                None if rest.is_empty() => {}
                None => return Err(format!("text after a closing brace: {rest:?}")),
            }
            value = v;
        } else {
            let (raw, r) = rest.split_once(';').unwrap_or((rest, ""));
            if raw.contains(['{', '}']) {
                return Err(format!("brace in an unbraced value {raw:?}"));
            }
            value = raw.trim_matches(' ').to_owned();
            rest = r;
        }
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// POSIX shell words

/// One POSIX shell word made only of quoting, as `sh` reads it: `'...'` literally, `\c` as c,
/// and bare characters that the shell would not split on, expand or treat specially.
pub fn shell_unquote(word: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut it = word.chars();
    while let Some(c) = it.next() {
        match c {
            '\'' => loop {
                match it.next() {
                    Some('\'') => break,
                    Some(x) => out.push(x),
                    None => return Err("unterminated single quote".into()),
                }
            },
            '\\' => match it.next() {
                Some('\n') | None => return Err("backslash at end or before newline".into()),
                Some(x) => out.push(x),
            },
            c if c.is_ascii_alphanumeric() || "_-./,+@%^".contains(c) => out.push(c),
            c => return Err(format!("unquoted special character {c:?}")),
        }
    }
    Ok(out)
}

/// The shape the quoting contract promises: `'...'`, with `'` inside only as `'\''`.
pub fn assert_shell_quote_shape(s: &str, q: &str) {
    assert!(
        q.len() >= 2 && q.starts_with('\'') && q.ends_with('\''),
        "{s:?} -> {q:?}"
    );
    let inner = &q[1..q.len() - 1];
    assert!(
        !inner.replace(r"'\''", "").contains('\''),
        "stray quote: {s:?} -> {q:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_properties() {
        let doc =
            "# c\n  ! c\n a = b \\\n   c\nk\\:x:v\\u00e9\\uD83D\\uDE00\nx  y\\n\n\\ sp=\\ v\nz\\\\";
        let got = java_properties_load(doc).unwrap();
        let want = [
            ("a", "b c"),
            ("k:x", "v\u{e9}\u{1f600}"),
            ("x", "y\n"),
            (" sp", " v"),
            ("z\\", ""),
        ];
        let got: Vec<(&str, &str)> = got.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(got, want);
        assert!(java_properties_load("a=\\u12").is_err());
        assert!(java_properties_load("a=\\uD800").is_err());
    }

    #[test]
    fn odbc() {
        let p = odbc_parse("a=b;c={x;}}y};d= e ").unwrap();
        assert_eq!(
            p,
            [
                ("a".into(), "b".into()),
                ("c".into(), "x;}y".into()),
                ("d".into(), "e".into())
            ]
        );
        assert!(odbc_parse("a={x}y").is_err());
        assert!(odbc_parse("a={x").is_err());
        assert!(odbc_parse("a=x}").is_err());
    }

    #[test]
    fn shell() {
        assert_eq!(shell_unquote(r"'it'\''s'").unwrap(), "it's");
        assert!(shell_unquote("'a").is_err());
        assert!(shell_unquote("a b").is_err());
        assert!(shell_unquote("$x").is_err());
    }
}
