//! The shared AWS config and credentials files, read the way aws-config reads them, for the
//! few settings this program needs before (or without) building the SDK: the profile's
//! region on the cache-hit path, and the keys `doctor` uses to explain a credential source.
//!
//! Sections are `[default]` or `[profile NAME]` in the config file and `[NAME]` in the
//! credentials file; a name may appear in several sections, which add up; keys are
//! case-insensitive; `#` and `;` start comment lines, ` #` an inline comment.

use std::path::Path;

/// Which of the two shared files a text comes from (their section headers differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Config,
    Credentials,
}

/// The keys (lower-cased) and values of `profile`'s sections, in file order, or `None` if the
/// file has no section for it.
pub fn section(text: &str, profile: &str, kind: FileKind) -> Option<Vec<(String, String)>> {
    let mut found = false;
    let mut inside = false;
    let mut keys = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let name = header.split(']').next().unwrap_or_default().trim();
            let name = match kind {
                FileKind::Config => match name.strip_prefix("profile") {
                    Some(rest) if rest.starts_with([' ', '\t']) => Some(rest.trim()),
                    _ if name == "default" => Some("default"),
                    _ => None,
                },
                FileKind::Credentials => Some(name),
            };
            inside = name == Some(profile);
            found |= inside;
            continue;
        }
        if inside && let Some((k, v)) = line.split_once('=') {
            let v = v.split(" #").next().unwrap_or_default().trim();
            keys.push((k.trim().to_ascii_lowercase(), v.to_owned()));
        }
    }
    found.then_some(keys)
}

/// One setting of a profile in the config file: the last non-empty value of `key`. A missing
/// or unreadable file has no settings.
pub fn setting(file: &Path, profile: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    section(&text, profile, FileKind::Config)?
        .into_iter()
        .rev()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# comment
[default]
region = eu-west-1
[profile dev]
Region=ap-south-1 # mumbai
[sso-session corp]
region = us-west-2
[profile dev]
sso_session = corp
[profiledev]
region = nope
";

    #[test]
    fn sections_add_up_and_headers_follow_the_file_kind() {
        let dev = section(CONFIG, "dev", FileKind::Config).unwrap();
        assert_eq!(
            dev,
            [
                ("region".to_owned(), "ap-south-1".to_owned()),
                ("sso_session".to_owned(), "corp".to_owned())
            ]
        );
        assert_eq!(section(CONFIG, "corp", FileKind::Config), None);
        assert_eq!(section(CONFIG, "missing", FileKind::Config), None);
        let creds = "[dev]\naws_access_key_id = AKID\n";
        assert_eq!(
            section(creds, "dev", FileKind::Credentials).unwrap().len(),
            1
        );
        assert_eq!(section(creds, "dev", FileKind::Config), None);
    }

    #[test]
    fn setting_reads_the_last_value() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        std::fs::write(&file, format!("{CONFIG}[default]\nregion = eu-north-1\n")).unwrap();
        assert_eq!(
            setting(&file, "default", "region").as_deref(),
            Some("eu-north-1")
        );
        assert_eq!(
            setting(&file, "dev", "REGION").as_deref(),
            Some("ap-south-1")
        );
        assert_eq!(setting(&dir.path().join("none"), "dev", "region"), None);
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_finds_what_it_was_given(
            text in "\\PC{0,300}",
            name in "[a-z][a-z0-9-]{0,10}",
            region in "[a-z]{2}-[a-z]{4,7}-[1-9]",
        ) {
            let _ = section(&text, &name, FileKind::Config);
            let _ = section(&text, &name, FileKind::Credentials);
            // Appending a well-formed section always makes its value the one read.
            let doc = format!("{text}\n[profile {name}]\nregion = {region}\n");
            let keys = section(&doc, &name, FileKind::Config).unwrap();
            proptest::prop_assert_eq!(
                keys.iter().rev().find(|(k, _)| k == "region").map(|(_, v)| v.as_str()),
                Some(region.as_str())
            );
        }
    }
}
