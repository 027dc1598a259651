//! The shared AWS config and credentials files, read the way aws-config reads them, for the
//! few settings this program needs before (or without) building the SDK: the profile's
//! region on the cache-hit path, and the keys `doctor` uses to explain a credential source.
//!
//! Sections are `[default]` or `[profile NAME]` in the config file and `[NAME]` in the
//! credentials file; a name may appear in several sections, which add up; keys are
//! case-insensitive; comments follow aws-config's rules (see `section`). The run itself reads
//! the files through `shared_config` (aws-config's parser); this reader serves `doctor`,
//! which shows which of the two files holds what.

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
    for raw in text.lines() {
        // aws-config's rules (aws-runtime `env_config/parse.rs`): a line starting with
        // whitespace continues the previous property (sub-properties such as a `services`
        // section's); `#` and `;` start a comment line, or an inline comment in a property
        // only after whitespace, and anywhere in a section header.
        if raw.starts_with([' ', '\t']) {
            continue;
        }
        let line = raw.trim_matches([' ', '\t']);
        if line.is_empty() || line.starts_with(['#', ';']) {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            let header = strip_comment(header, false);
            let name = header
                .strip_suffix(']')
                .unwrap_or(header)
                .trim_matches([' ', '\t']);
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
        if inside && let Some((k, v)) = strip_comment(line, true).split_once('=') {
            keys.push((
                k.trim_matches([' ', '\t']).to_ascii_lowercase(),
                v.trim_matches([' ', '\t']).to_owned(),
            ));
        }
    }
    found.then_some(keys)
}

/// `line` without its comment: from the first `#` or `;` (preceded by whitespace, when
/// `needs_whitespace`), trimmed.
fn strip_comment(line: &str, needs_whitespace: bool) -> &str {
    let mut prev_white = false;
    for (i, c) in line.char_indices() {
        if (c == '#' || c == ';') && (prev_white || !needs_whitespace) {
            return line[..i].trim_matches([' ', '\t']);
        }
        prev_white = c.is_whitespace();
    }
    line.trim_matches([' ', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "\
# comment
[default]
region = eu-west-1
[profile dev]
Region=ap-south-1 ; mumbai
  continued = not a key
sso_start_url = https://x/#/start
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
                ("sso_start_url".to_owned(), "https://x/#/start".to_owned()),
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
