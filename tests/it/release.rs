//! The release bundle that `scripts/release` builds: every file it promises, checksums that
//! verify, and an executable that is static, non-PIE, the right version, and works.
//!
//! Building the bundle is a release build (minutes), so this module does not build it:
//! `scripts/test` runs `scripts/release` and passes the folder in `RIT_BUNDLE`.

use std::path::{Path, PathBuf};
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn bundle() -> Option<PathBuf> {
    let dir = std::env::var_os("RIT_BUNDLE").map(PathBuf::from);
    if dir.is_none() {
        eprintln!("note: RIT_BUNDLE not set (scripts/test sets it): the bundle was not checked");
    }
    dir
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The files SHA256SUMS lists; `sha256sum -c` must pass.
fn checked_files(dir: &Path) -> Vec<String> {
    run(Command::new("sha256sum")
        .args(["--check", "--strict", "SHA256SUMS"])
        .current_dir(dir));
    let sums = std::fs::read_to_string(dir.join("SHA256SUMS")).unwrap();
    sums.lines()
        .map(|l| l.split_once("  ").expect("`HASH  NAME` lines").1.to_owned())
        .collect()
}

#[test]
fn the_bundle_has_every_piece_and_the_checksums_verify() {
    let Some(dir) = bundle() else { return };
    let files = checked_files(&dir);
    let tarball = format!("redshift-idc-token-{VERSION}-x86_64-unknown-linux-gnu.tar.gz");
    assert!(files.contains(&tarball), "{files:?}");
    assert!(
        files.iter().any(|f| f.ends_with(".whl")),
        "a wheel: {files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with(".jar")),
        "a jar: {files:?}"
    );
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "SHA256SUMS")
        .collect();
    on_disk.sort();
    let mut listed = files.clone();
    listed.sort();
    assert_eq!(on_disk, listed, "every file in the bundle is checksummed");

    let listing = run(Command::new("tar").arg("-tzf").arg(dir.join(&tarball)));
    let top = format!("redshift-idc-token-{VERSION}-x86_64-unknown-linux-gnu");
    for want in [
        "redshift-idc-token",
        "redshift-idc-token.1",
        "completions/redshift-idc-token.bash",
        "completions/_redshift-idc-token",
        "completions/redshift-idc-token.fish",
        "README.md",
        "LICENSE",
        "CHANGELOG.md",
        "docs/performance.md",
        "docs/reliability.md",
        "docs/internals.md",
    ] {
        let path = format!("{top}/{want}");
        assert!(listing.lines().any(|l| l == path), "{path} in {listing}");
    }
}

#[test]
fn the_shipped_executable_is_static_and_works() {
    let Some(dir) = bundle() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let tarball = format!("redshift-idc-token-{VERSION}-x86_64-unknown-linux-gnu.tar.gz");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(dir.join(&tarball))
        .arg("-C")
        .arg(tmp.path()));
    let top = tmp.path().join(format!(
        "redshift-idc-token-{VERSION}-x86_64-unknown-linux-gnu"
    ));
    let bin = top.join("redshift-idc-token");

    // ELF: e_type ET_EXEC (2: not PIE) and no PT_INTERP (3: no dynamic loader).
    let elf = std::fs::read(&bin).unwrap();
    assert_eq!(&elf[..4], b"\x7fELF");
    assert_eq!(
        u16::from_le_bytes([elf[16], elf[17]]),
        2,
        "ET_EXEC, not PIE"
    );
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (
        u16::from_le_bytes([elf[54], elf[55]]) as usize,
        u16::from_le_bytes([elf[56], elf[57]]) as usize,
    );
    let interp = (0..phnum).any(|i| {
        let at = phoff + i * phentsize;
        u32::from_le_bytes(elf[at..at + 4].try_into().unwrap()) == 3
    });
    assert!(!interp, "statically linked: no PT_INTERP");

    let version = run(Command::new(&bin).arg("--version"));
    assert_eq!(version, format!("redshift-idc-token {VERSION}\n"));
    let man = std::fs::read_to_string(top.join("redshift-idc-token.1")).unwrap();
    assert!(
        man.starts_with(".ie") || man.contains(".TH redshift-idc-token 1"),
        "{man:.200}"
    );
    for (file, marker) in [
        ("completions/redshift-idc-token.bash", "complete -F"),
        (
            "completions/_redshift-idc-token",
            "#compdef redshift-idc-token",
        ),
        (
            "completions/redshift-idc-token.fish",
            "complete -c redshift-idc-token",
        ),
    ] {
        let text = std::fs::read_to_string(top.join(file)).unwrap();
        assert!(
            text.contains(marker) && text.contains("cluster-id"),
            "{file}"
        );
    }
    assert_eq!(
        std::fs::read(top.join("LICENSE")).unwrap(),
        std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("LICENSE")).unwrap()
    );
}

/// The README in the tarball links to files shipped beside it: every relative link target of
/// the shipped README (`[text](path)` or `[text](path#anchor)`) is a file in the tarball.
#[test]
fn every_file_the_shipped_readme_links_to_is_in_the_tarball() {
    let Some(dir) = bundle() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let tarball = format!("redshift-idc-token-{VERSION}-x86_64-unknown-linux-gnu.tar.gz");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(dir.join(&tarball))
        .arg("-C")
        .arg(tmp.path()));
    let top = tmp.path().join(format!(
        "redshift-idc-token-{VERSION}-x86_64-unknown-linux-gnu"
    ));
    let readme = std::fs::read_to_string(top.join("README.md")).unwrap();
    let mut links = Vec::new();
    for (at, _) in readme.match_indices("](") {
        let rest = &readme[at + 2..];
        let target = &rest[..rest.find(')').expect("a closing parenthesis")];
        let path = target.split('#').next().unwrap();
        if path.is_empty() || path.contains("://") {
            continue;
        }
        links.push(path.to_owned());
    }
    assert!(
        links.iter().any(|l| l.starts_with("docs/")),
        "the README links to docs/: {links:?}"
    );
    for link in links {
        assert!(
            top.join(&link).is_file(),
            "{link}: linked from README.md, not in {tarball}"
        );
    }
}

/// What the shipped documents (README.md, docs/, plugin-config/**, the wheel's description) tell
/// a reader holds for this bundle: every file they link or name is in the tarball, every wheel,
/// jar and tarball name and wheel tag they give is the bundle's, and every install command they
/// give runs (tests/e2e/release_docs.py: pip offline into throw-away venvs, tar, sha256sum,
/// install, then the installed executable's --version).
#[test]
fn every_install_command_of_the_shipped_documents_works_against_the_bundle() {
    let Some(dir) = bundle() else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/release_docs.py");
    // python3.11 with venv support: scripts/python-env installs it.
    let out = Command::new("python3.11")
        .arg(&script)
        .arg(&dir)
        .output()
        .expect("python3.11 (scripts/python-env installs it)");
    let report = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{report}");
    for kind in ["pip install", "tar -x", "sha256sum -c"] {
        assert!(
            report
                .lines()
                .any(|l| l.contains("  ran ") && l.contains(kind)),
            "no documented `{kind}` command was found and run:\n{report}"
        );
    }
}

/// The exit-code table the JDBC wrapper and the Python provider are written against ships with
/// the executable, with the scripts and READMEs the documents name.
#[test]
fn the_tarball_ships_the_plugin_configuration_the_documents_name() {
    let Some(dir) = bundle() else { return };
    let tarball = format!("redshift-idc-token-{VERSION}-x86_64-unknown-linux-gnu.tar.gz");
    let listing = run(Command::new("tar").arg("-tvzf").arg(dir.join(&tarball)));
    let top = format!("redshift-idc-token-{VERSION}-x86_64-unknown-linux-gnu");
    for (want, executable) in [
        ("plugin-config/exit-codes.json", false),
        ("plugin-config/README.md", false),
        ("plugin-config/odbc/redshift-idc-odbc", true),
        ("plugin-config/jdbc/redshift-idc-jdbc", true),
        ("plugin-config/python/profiles.yml", false),
    ] {
        let path = format!("{top}/{want}");
        let line = listing
            .lines()
            .find(|l| l.ends_with(&format!(" {path}")))
            .unwrap_or_else(|| panic!("{path} in {listing}"));
        assert_eq!(line.starts_with("-rwx"), executable, "{line}");
    }
}

/// `scripts/symbol-order.txt` (the hit path's functions, placed together at the start of the
/// code by the linker) names symbols whose mangled names carry module paths and hashes: a
/// change that moves the hit path leaves them stale, silently costing page faults. The shipped
/// executable must still define nearly all of them; otherwise run `scripts/symbol-order`.
#[test]
fn the_symbol_order_still_names_the_shipped_executables_functions() {
    let Some(bin) = std::env::var_os("RIT_RELEASE_BIN") else {
        eprintln!("note: RIT_RELEASE_BIN not set (scripts/test sets it): symbol order unchecked");
        return;
    };
    let list = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/symbol-order.txt"),
    )
    .unwrap();
    let symbols = run(Command::new("nm").arg("--defined-only").arg(&bin));
    let defined: std::collections::HashSet<&str> = symbols
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    let wanted: Vec<&str> = list.lines().filter(|l| !l.trim().is_empty()).collect();
    let missing: Vec<&&str> = wanted.iter().filter(|s| !defined.contains(**s)).collect();
    assert!(
        missing.len() * 10 <= wanted.len(),
        "{} of {} names in scripts/symbol-order.txt are not in the shipped executable \
         (stale after a change to the hit path): run scripts/symbol-order, e.g. {:?}",
        missing.len(),
        wanted.len(),
        &missing[..missing.len().min(5)]
    );
}
