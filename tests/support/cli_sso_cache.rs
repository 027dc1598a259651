//! The AWS CLI v2's SSO token cache, as test data: writes a token file exactly as the CLI (and
//! botocore, which refreshes it) writes one, and reads one back, so tests can hand the program
//! under test a signed-in `aws sso login` session, or check the one it left.
//!
//! The format, from the CLI's own code: the file is
//! `~/.aws/sso/cache/<sha1 hex of the sso-session name>.json` (`SSOTokenLoader._generate_cache_key`
//! in botocore `utils.py`: the session name when there is one, else the start URL), written by
//! `JSONFileCache` (`tempfile.mkstemp` in the cache folder, so mode 0600, then `os.replace`) with
//! `json.dumps(obj, default=_serialize_utc_timestamp)` (`awscli/customizations/sso/utils.py`,
//! botocore `tokens.py`): keys in the order the CLI builds the token (`startUrl`, `region`,
//! `accessToken`, `expiresAt`, `clientId`, `clientSecret`, `registrationExpiresAt`, then
//! `refreshToken` when the service sent one: `SSOTokenFetcher._create_token_attempt` and
//! `SSOTokenProvider._attempt_create_token`), times as `%Y-%m-%dT%H:%M:%SZ` in UTC, Python's
//! default separators (`", "`, `": "`) and `ensure_ascii` escaping. Readers (botocore's
//! `SSOTokenLoader`, aws-config's `sso/cache.rs`) need `accessToken` and `expiresAt`; refreshing
//! needs `clientId`, `clientSecret`, `registrationExpiresAt` and `refreshToken` too.
//! The expected bytes in the test below were written by botocore 1.44.5's own writer.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One cached SSO token, field by field as the CLI names them.
#[derive(Clone, PartialEq, Eq)]
pub struct CliSsoToken {
    pub start_url: String,
    pub region: String,
    pub access_token: String,
    pub expires_at: OffsetDateTime,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub registration_expires_at: Option<OffsetDateTime>,
    pub refresh_token: Option<String>,
}

impl std::fmt::Debug for CliSsoToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CliSsoToken")
            .field("start_url", &self.start_url)
            .field("region", &self.region)
            .field("access_token", &"** redacted **")
            .field("expires_at", &self.expires_at)
            .field("client_id", &self.client_id)
            .field("client_secret", &"** redacted **")
            .field("registration_expires_at", &self.registration_expires_at)
            .field("refresh_token", &"** redacted **")
            .finish()
    }
}

/// `HOME/.aws/sso/cache`.
pub fn cache_dir(home: &Path) -> PathBuf {
    home.join(".aws").join("sso").join("cache")
}

/// The file the CLI keeps the token of sso-session `session_name` in.
pub fn cache_path(home: &Path, session_name: &str) -> PathBuf {
    cache_dir(home).join(format!(
        "{}.json",
        hex::encode(Sha1::digest(session_name.as_bytes()))
    ))
}

/// `%Y-%m-%dT%H:%M:%SZ` in UTC, as `_serialize_utc_timestamp` writes times.
pub fn cli_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A JSON string as Python's `json.dumps` writes it (`ensure_ascii=True`).
fn py_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// The file's bytes for `token`.
pub fn to_cli_json(token: &CliSsoToken) -> String {
    let mut fields = vec![
        ("startUrl", py_json_string(&token.start_url)),
        ("region", py_json_string(&token.region)),
        ("accessToken", py_json_string(&token.access_token)),
        ("expiresAt", py_json_string(&cli_time(token.expires_at))),
    ];
    if let Some(v) = &token.client_id {
        fields.push(("clientId", py_json_string(v)));
    }
    if let Some(v) = &token.client_secret {
        fields.push(("clientSecret", py_json_string(v)));
    }
    if let Some(t) = token.registration_expires_at {
        fields.push(("registrationExpiresAt", py_json_string(&cli_time(t))));
    }
    if let Some(v) = &token.refresh_token {
        fields.push(("refreshToken", py_json_string(v)));
    }
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("\"{k}\": {v}"))
        .collect();
    format!("{{{}}}", body.join(", "))
}

/// Writes `token` as the CLI's cached token of sso-session `session_name` under `home`
/// (mode 0600, through a temporary file in the same folder); returns the file's path.
pub fn write(home: &Path, session_name: &str, token: &CliSsoToken) -> std::io::Result<PathBuf> {
    let dir = cache_dir(home);
    std::fs::create_dir_all(&dir)?;
    let path = cache_path(home, session_name);
    let mut tmp = tempfile::Builder::new().suffix(".tmp").tempfile_in(&dir)?;
    tmp.write_all(to_cli_json(token).as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&path).map_err(|e| e.error)?;
    Ok(path)
}

/// Reads the CLI's cached token of sso-session `session_name` under `home`. Like botocore's
/// loader it needs `accessToken` and `expiresAt`; times may be any RFC 3339 UTC form.
pub fn read(home: &Path, session_name: &str) -> Result<CliSsoToken, String> {
    let path = cache_path(home, session_name);
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: not JSON: {e}", path.display()))?;
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
    let t = |k: &str| -> Result<Option<OffsetDateTime>, String> {
        s(k).map(|x| OffsetDateTime::parse(&x, &Rfc3339).map_err(|e| format!("{k} {x:?}: {e}")))
            .transpose()
    };
    Ok(CliSsoToken {
        start_url: s("startUrl").unwrap_or_default(),
        region: s("region").unwrap_or_default(),
        access_token: s("accessToken").ok_or("no accessToken")?,
        expires_at: t("expiresAt")?.ok_or("no expiresAt")?,
        client_id: s("clientId"),
        client_secret: s("clientSecret"),
        registration_expires_at: t("registrationExpiresAt")?,
        refresh_token: s("refreshToken"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn sample() -> CliSsoToken {
        CliSsoToken {
            start_url: "https://d-9067c2e1f0.awsapps.com/start".into(),
            region: "us-east-1".into(),
            access_token: "at\"1/\u{e9}".into(),
            expires_at: time::macros::datetime!(2026-12-07 19:30:05.750 UTC),
            client_id: Some("cid".into()),
            client_secret: Some("cs".into()),
            registration_expires_at: Some(time::macros::datetime!(2027-03-07 18:00:00 UTC)),
            refresh_token: Some("rt".into()),
        }
    }

    #[test]
    fn cli_sso_cache_file_is_byte_for_byte_what_botocore_writes() {
        let home = tempfile::tempdir().unwrap();
        let path = write(home.path(), "my-sso", &sample()).unwrap();
        assert_eq!(
            path,
            home.path()
                .join(".aws/sso/cache/0ad374308c5a4e22f723adf10145eafad7c4031c.json")
        );
        // Written by botocore's SSOTokenLoader + JSONFileCache(dumps_func=_sso_json_dumps)
        // with the same values (expiresAt a datetime, its fraction dropped).
        let botocore = r#"{"startUrl": "https://d-9067c2e1f0.awsapps.com/start", "region": "us-east-1", "accessToken": "at\"1/\u00e9", "expiresAt": "2026-12-07T19:30:05Z", "clientId": "cid", "clientSecret": "cs", "registrationExpiresAt": "2027-03-07T18:00:00Z", "refreshToken": "rt"}"#;
        assert_eq!(std::fs::read_to_string(&path).unwrap(), botocore);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(
            std::fs::read_dir(cache_dir(home.path())).unwrap().count(),
            1,
            "no temporary file left"
        );

        let back = read(home.path(), "my-sso").unwrap();
        let mut want = sample();
        want.expires_at = time::macros::datetime!(2026-12-07 19:30:05 UTC);
        assert_eq!(back, want);
        assert!(
            !format!("{back:?}").contains("at\""),
            "Debug hides the token"
        );
    }

    #[test]
    fn cli_sso_cache_minimal_token_and_bad_files() {
        let home = tempfile::tempdir().unwrap();
        let minimal = CliSsoToken {
            client_id: None,
            client_secret: None,
            registration_expires_at: None,
            refresh_token: None,
            ..sample()
        };
        let path = write(home.path(), "s", &minimal).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.ends_with(r#""expiresAt": "2026-12-07T19:30:05Z"}"#),
            "{text}"
        );
        assert_eq!(read(home.path(), "s").unwrap().refresh_token, None);
        std::fs::write(&path, r#"{"expiresAt": "2026-12-07T19:30:05Z"}"#).unwrap();
        assert_eq!(read(home.path(), "s").unwrap_err(), "no accessToken");
        std::fs::write(&path, r#"{"accessToken": "a", "expiresAt": "soon"}"#).unwrap();
        assert!(
            read(home.path(), "s")
                .unwrap_err()
                .starts_with("expiresAt \"soon\"")
        );
        assert!(read(home.path(), "other").is_err());
        assert_eq!(py_json_string("\u{1F600}\n"), r#""\ud83d\ude00\n""#);
    }
}
