//! `plugin-config/`: every file is parsed, and every script executed against the stand-in,
//! with its output read back the way its consumer reads it (Java for JDBC, a brace-aware
//! parser and unixODBC's `odbcinst` for ODBC, the real AWS SDK chain for the AWS profiles).
//! The JDBC wrapper driver itself is tested with the real Redshift JDBC driver in
//! tests/e2e/test_jdbc_wrapper.py.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command as StdCommand, Output, Stdio};

use crate::common::*;
use crate::idc_standin::{IdcConfig, IdcStandIn, Op};

/// A token with every character that properties files and URLs treat specially.
const TRICKY_JDBC: &str = r"a=b:c#d!e\f g&h%i+j";
/// A token with every character that ODBC connection strings treat specially.
const TRICKY_ODBC: &str = "x;y{z}w=v}}";
const HOST: &str = "mycluster.abc123xyz789.us-east-1.redshift.amazonaws.com";
const JDBC_SCRIPT: &str = "plugin-config/jdbc/redshift-idc-jdbc";
const ODBC_SCRIPT: &str = "plugin-config/odbc/redshift-idc-odbc";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn file(rel: &str) -> PathBuf {
    repo().join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(file(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A stand-in issuing `token` (or its own self-describing tokens) and a sandbox using it.
fn setup(token: Option<&str>) -> (StandIn, Sandbox) {
    let (s, mut sb) = standin_issuing(token);
    sb.set("REDSHIFT_IDC_TOKEN_BIN", BIN);
    (s, sb)
}

/// Runs a plugin-config script with the sandbox's environment, under `shell` ("" = directly,
/// through its `#!/bin/sh` line).
fn script(sb: &Sandbox, shell: &str, rel: &str, args: &[&str]) -> Output {
    let mut c = if shell.is_empty() {
        sb.command(file(rel))
    } else {
        let mut c = sb.command(shell);
        c.arg(file(rel));
        c
    };
    c.args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run the script")
}

/// Runs the JDBC script directly.
fn jdbc(sb: &Sandbox, args: &[&str]) -> Output {
    script(sb, "", JDBC_SCRIPT, args)
}

/// Runs the ODBC script directly.
fn odbc(sb: &Sandbox, args: &[&str]) -> Output {
    script(sb, "", ODBC_SCRIPT, args)
}

/// The launchers write through a temporary file in the target's directory: none may remain.
fn assert_no_temporary_files(dir: &std::path::Path, prefix: &str) {
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .collect();
    assert!(
        leftovers.is_empty(),
        "no temporary file left: {leftovers:?}"
    );
}

fn ok_stdout(out: &Output) -> String {
    assert_success(out);
    assert!(out.stderr.is_empty(), "nothing on stderr: {}", stderr(out));
    stdout(out)
}

/// `java tests/it/fixtures/JdbcSettings.java ARGS < input`, one output line per key.
fn java(args: &[&str], input: &str) -> Vec<String> {
    let mut child = StdCommand::new("java")
        .arg(file("tests/it/fixtures/JdbcSettings.java"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("java (17+) must be on PATH for these tests");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    stdout(&out).lines().map(str::to_owned).collect()
}

// ----------------------------------------------------------------------------------------
// JDBC

#[test]
fn jdbc_ini_file_is_written_privately_and_read_by_the_driver_rules() {
    let (s, sb) = setup(Some(TRICKY_JDBC));
    let target = sb.home().join("rsjdbc.ini");
    std::fs::write(&target, "[Redshift-IdC]\ntoken = stale\n").unwrap();
    let out = jdbc(
        &sb,
        &[
            "--ini",
            "--host",
            HOST,
            "--output",
            target.to_str().unwrap(),
        ],
    );
    assert_eq!(ok_stdout(&out), "", "with --output nothing goes to stdout");
    assert_eq!(last_token(&s), TRICKY_JDBC);
    let ini = std::fs::read_to_string(&target).unwrap();
    assert_eq!(mode(&target) & 0o777, 0o600);
    assert_no_temporary_files(sb.home(), ".redshift-idc-jdbc");
    let got = java(
        &[
            "ini",
            "REDSHIFT_IDC",
            "token",
            "plugin_name",
            "token_type",
            "sslmode",
        ],
        &ini,
    );
    assert_eq!(
        got,
        [
            TRICKY_JDBC,
            "com.amazon.redshift.plugin.IdpTokenAuthPlugin",
            "SUBJECT_TOKEN",
            "verify-full"
        ]
    );

    // Another section name, on stdout.
    let out = jdbc(&sb, &["--ini", "--ini-section", "PROD", "--host", HOST]);
    let got = java(&["ini", "PROD", "token"], &ok_stdout(&out));
    assert_eq!(got, [TRICKY_JDBC]);
}

#[test]
fn jdbc_readme_covers_the_wrapper_and_every_tool() {
    let readme = read("plugin-config/jdbc/README.md");
    for needle in [
        "jdbc:redshift-idc://",
        "io.github.redshiftidctoken.jdbc.Driver",
        "## DBeaver",
        "## DataGrip",
        "## SQL Workbench/J",
        "IniFile",
        "IniSection",
    ] {
        assert!(readme.contains(needle), "jdbc/README.md covers {needle}");
    }
}

#[test]
fn jdbc_script_refuses_the_forms_the_wrapper_replaced() {
    let (s, sb) = setup(None);
    for form in ["--properties", "--url"] {
        let out = jdbc(&sb, &[form, "--host", HOST]);
        assert_failure(&out, 2, &["replaced by the jdbc:redshift-idc:// driver"]);
    }
    assert_eq!(s.request_count(), 0);
}

#[test]
fn jdbc_script_options_pass_through_and_errors_keep_their_status() {
    let (s, sb) = setup(None);
    // An explicit target replaces the one derived from --host; other options pass through.
    let out = jdbc(
        &sb,
        &[
            "--host",
            "db.example.com",
            "--workgroup",
            "wg1",
            "--region",
            "eu-north-1",
            "--no-cache",
        ],
    );
    ok_stdout(&out);
    let r = &s.requests()[0];
    assert_eq!(
        (r.targets.clone(), r.region.clone()),
        (vec!["wg1".to_owned()], Some("eu-north-1".to_owned()))
    );

    // The executable's error and exit status come through unchanged; nothing on stdout.
    s.push(Reply::error(
        "AccessDeniedException",
        "User is not authorized",
    ));
    let out = jdbc(&sb, &["--host", HOST, "--no-cache"]);
    assert_failure(
        &out,
        4,
        &[
            "AccessDeniedException",
            "redshift:GetIdentityCenterAuthToken",
        ],
    );

    // Usage errors of the script itself.
    let out = jdbc(&sb, &[]);
    assert_failure(
        &out,
        2,
        &["--host HOST (or --cluster-id/--workgroup with --region) is required"],
    );
    let out = jdbc(&sb, &["--host", "x/y"]);
    assert_failure(&out, 2, &["invalid host name"]);
    let out = jdbc(&sb, &["--format", "json", "--host", HOST]);
    assert_failure(&out, 2, &["chosen by this script"]);
    let out = jdbc(&sb, &["--help"]);
    assert!(ok_stdout(&out).contains("Usage:"));
}

#[test]
fn scripts_find_the_executable_on_path() {
    let (s, mut sb) = setup(None);
    sb.unset("REDSHIFT_IDC_TOKEN_BIN");
    let out = odbc(&sb, &["--host", HOST, "--database", "dev"]);
    assert_failure(
        &out,
        2,
        &["cannot find redshift-idc-token", "REDSHIFT_IDC_TOKEN_BIN"],
    );

    let bin_dir = sb.home().join("bin");
    std::fs::create_dir(&bin_dir).unwrap();
    std::os::unix::fs::symlink(BIN, bin_dir.join("redshift-idc-token")).unwrap();
    sb.set(
        "PATH",
        &format!("{}:/usr/local/bin:/usr/bin:/bin", bin_dir.display()),
    );
    let out = odbc(&sb, &["--host", HOST, "--database", "dev"]);
    let conn = ok_stdout(&out);
    assert_eq!(odbc_map(conn.trim_end())["token"], last_token(&s));
    let out = jdbc(&sb, &["--host", HOST]);
    assert!(ok_stdout(&out).contains(&format!("token={}\n", last_token(&s))));
}

/// Every launcher, under dash and bash, and traced: no process ever gets the token as an
/// argument (argv is world-readable through /proc and ps).
#[test]
fn launchers_are_posix_and_never_put_the_token_in_argv() {
    let have_strace = StdCommand::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_strace {
        eprintln!("strace not installed: checking only that the launchers run under dash and bash");
    }
    let runs: [(&str, &[&str], &str); 3] = [
        (JDBC_SCRIPT, &["--ini"], TRICKY_JDBC),
        (ODBC_SCRIPT, &["--database", "dev"], TRICKY_ODBC),
        (ODBC_SCRIPT, &["--dsn", "Redshift IdC"], TRICKY_ODBC),
    ];
    for shell in ["dash", "bash"] {
        for (rel, mode, token) in runs {
            let (_s, sb) = setup(Some(token));
            let mut args: Vec<&str> = mode.to_vec();
            args.extend(["--host", HOST, "--no-cache"]);
            let plain = script(&sb, shell, rel, &args);
            let expected = ok_stdout(&plain);
            if !have_strace {
                continue;
            }
            let log = sb.home().join("execve.log");
            let mut traced = vec![
                "-f",
                "-qq",
                "-e",
                "trace=execve",
                "-s",
                "1000000",
                "-o",
                log.to_str().unwrap(),
                shell,
            ];
            let path = file(rel);
            traced.push(path.to_str().unwrap());
            traced.extend(&args);
            let out = sb
                .command("strace")
                .args(&traced)
                .stdin(Stdio::null())
                .output()
                .unwrap();
            if !out.status.success() && stderr(&out).contains("ptrace") {
                eprintln!(
                    "strace cannot trace here (ptrace not permitted): {}",
                    stderr(&out)
                );
                continue;
            }
            assert_eq!(ok_stdout(&out), expected, "same output under strace");
            let execs = std::fs::read_to_string(&log).unwrap();
            assert!(
                execs.contains("redshift-idc-token"),
                "the trace sees the executable: {execs}"
            );
            for needle in [token.to_owned(), token.replace('\\', "\\\\")] {
                assert!(
                    !execs.contains(&needle),
                    "{rel} {mode:?}: the token is in an argv:\n{execs}"
                );
            }
        }
    }
}

// ----------------------------------------------------------------------------------------
// ODBC

/// An ODBC connection string as a map (see `parse_odbc`).
fn odbc_map(s: &str) -> BTreeMap<String, String> {
    parse_odbc(s)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .collect()
}

#[test]
fn odbc_parser_self_check() {
    let m = odbc_map("Driver={A (x64)};token={a;b}}c};x=1");
    assert_eq!(m["Driver"], "A (x64)");
    assert_eq!(m["token"], "a;b}c");
    assert_eq!(m["x"], "1");
}

#[test]
fn odbc_connection_string_round_trips_the_token() {
    for token in [None, Some(TRICKY_ODBC)] {
        let (s, sb) = setup(token);
        let out = odbc(
            &sb,
            &[
                "--host",
                HOST,
                "--database",
                "sales;{eu}",
                "--driver",
                "Amazon Redshift (x64)",
            ],
        );
        let conn = ok_stdout(&out);
        assert_eq!(conn.lines().count(), 1, "{conn}");
        let m = odbc_map(conn.trim_end());
        let want: BTreeMap<String, String> = [
            ("Driver", "Amazon Redshift (x64)"),
            ("Server", HOST),
            ("Port", "5439"),
            ("Database", "sales;{eu}"),
            ("plugin_name", "IdpTokenAuthPlugin"),
            ("token", last_token(&s).as_str()),
            ("token_type", "SUBJECT_TOKEN"),
            ("SSLMode", "verify-full"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        assert_eq!(m, want, "{conn}");
        if let Some(t) = token {
            assert_eq!(last_token(&s), t);
        }
    }

    let (s, sb) = setup(Some(TRICKY_ODBC));
    let out = odbc(
        &sb,
        &[
            "--dsn",
            "Redshift-IdC",
            "--cluster-id",
            "c1",
            "--region",
            "us-west-2",
        ],
    );
    let m = odbc_map(ok_stdout(&out).trim_end());
    assert_eq!(
        m.keys().collect::<Vec<_>>(),
        ["DSN", "plugin_name", "token", "token_type"]
    );
    assert_eq!(m["DSN"], "Redshift-IdC");
    assert_eq!(m["token"], TRICKY_ODBC);
    assert_eq!(s.requests()[0].region.as_deref(), Some("us-west-2"));

    s.push(Reply::error(
        "UnsupportedOperation",
        "not identity-enhanced",
    ));
    let out = odbc(&sb, &["--host", HOST, "--database", "d", "--no-cache"]);
    assert_failure(&out, 4, &["not identity-enhanced"]);
}

/// A strict INI reader: `[section]`, `key = value`, whole-line `#`/`;` comments; anything
/// else (or a key outside a section, or a repeated key) fails the test.
fn parse_ini(text: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let mut sections: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[') {
            let name = name
                .strip_suffix(']')
                .unwrap_or_else(|| panic!("line {}: {raw}", n + 1));
            sections.push((name.trim().to_owned(), BTreeMap::new()));
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("line {}: not key=value: {raw}", n + 1));
        let (_, keys) = sections
            .last_mut()
            .unwrap_or_else(|| panic!("line {}: key outside a section", n + 1));
        let k = k.trim().to_owned();
        assert!(
            keys.insert(k.clone(), v.trim().to_owned()).is_none(),
            "line {}: repeated key {k}",
            n + 1
        );
    }
    sections
}

/// `--odbc-ini`: a private DSN file with the token, as unixODBC's own `odbcinst` reads it
/// (through `ODBCINI`, as an application started with that variable does).
#[test]
fn odbc_dsn_file_is_written_privately_and_read_by_unixodbc() {
    let (s, sb) = setup(Some(TRICKY_ODBC));
    let target = sb.home().join("redshift-idc.odbc.ini");
    let target_s = target.to_str().unwrap();
    std::fs::write(&target, "[Redshift-IdC]\ntoken = stale\n").unwrap();
    let args = [
        "--odbc-ini",
        target_s,
        "--dsn",
        "Redshift-IdC",
        "--host",
        HOST,
        "--database",
        "sales",
        "--no-cache",
    ];
    let out = odbc(&sb, &args);
    assert_eq!(
        ok_stdout(&out),
        "",
        "with --odbc-ini nothing goes to stdout"
    );
    assert_eq!(mode(&target) & 0o777, 0o600);
    assert_eq!(last_token(&s), TRICKY_ODBC);
    assert_no_temporary_files(sb.home(), ".redshift-idc-odbc");

    let sysini = sb.home().join("odbcsys");
    std::fs::create_dir(&sysini).unwrap();
    let query = |args: &[&str]| {
        let out = StdCommand::new("odbcinst")
            .args(args)
            .env("ODBCINI", &target)
            .env("ODBCSYSINI", &sysini)
            .output()
            .expect("odbcinst (Debian package odbcinst) must be on PATH; scripts/test installs it");
        assert_success(&out);
        stdout(&out)
    };
    assert_eq!(query(&["-q", "-s"]).trim(), "[Redshift-IdC]");
    let dsn = parse_ini(&query(&["-q", "-s", "-n", "Redshift-IdC"]));
    let (name, keys) = &dsn[0];
    assert_eq!(name, "Redshift-IdC");
    for (k, v) in [
        ("Driver", "Amazon Redshift (x64)"),
        ("Host", HOST),
        ("Port", "5439"),
        ("Database", "sales"),
        ("plugin_name", "IdpTokenAuthPlugin"),
        ("token", TRICKY_ODBC),
        ("token_type", "SUBJECT_TOKEN"),
        ("SSLMode", "verify-full"),
    ] {
        assert_eq!(keys.get(k).map(String::as_str), Some(v), "{k}");
    }

    // A failure leaves the previous file alone and keeps the executable's status.
    let before = std::fs::read(&target).unwrap();
    s.push(Reply::error(
        "AccessDeniedException",
        "User is not authorized",
    ));
    let out = odbc(&sb, &args);
    assert_failure(&out, 4, &["AccessDeniedException"]);
    assert_eq!(std::fs::read(&target).unwrap(), before);
    let out = odbc(
        &sb,
        &["--odbc-ini", target_s, "--host", HOST, "--database", "d"],
    );
    assert_failure(&out, 2, &["--odbc-ini needs --dsn NAME"]);
    let out = odbc(
        &sb,
        &[
            "--odbc-ini",
            target_s,
            "--dsn",
            "a]b",
            "--host",
            HOST,
            "--database",
            "d",
        ],
    );
    assert_failure(&out, 2, &["invalid DSN name"]);
}

/// A user's `~/.odbc.ini` with other data sources, comments and odd spacing around the one
/// `--odbc-ini --dsn` keeps fresh.
const USER_ODBC_INI: &str = "; my data sources, by hand\n\
[ODBC Data Sources]\n\
Other = Some Driver\n\
Redshift-IdC=Old Driver\n\
\n\
[Other]\n\
Driver = Some Driver\n\
Server = other.example\n\
# a comment with = in it\n\
Description = keep me\n\
\n\
[Redshift-IdC]\n\
; what this DSN is for\n\
Driver=Old Driver\n\
Host = old.example\n\
TOKEN = old-token\n\
sslmode = verify-ca\n\
UID = me\n\
\n\
\n\
[Third]\n\
Driver = x\n";

/// What `--odbc-ini` makes of it: the named DSN's keys updated in place (spelling of the key
/// kept), the missing ones added at the end of its section, every other byte as it was.
const USER_ODBC_INI_AFTER: &str = "; my data sources, by hand\n\
[ODBC Data Sources]\n\
Other = Some Driver\n\
Redshift-IdC = Amazon Redshift (x64)\n\
\n\
[Other]\n\
Driver = Some Driver\n\
Server = other.example\n\
# a comment with = in it\n\
Description = keep me\n\
\n\
[Redshift-IdC]\n\
; what this DSN is for\n\
Driver = Amazon Redshift (x64)\n\
Host = mycluster.abc123xyz789.us-east-1.redshift.amazonaws.com\n\
TOKEN = TOKEN-HERE\n\
sslmode = verify-full\n\
UID = me\n\
Port = 5439\n\
Database = sales\n\
plugin_name = IdpTokenAuthPlugin\n\
token_type = SUBJECT_TOKEN\n\
\n\
\n\
[Third]\n\
Driver = x\n";

fn odbcinst(ini: &std::path::Path, sysini: &std::path::Path, args: &[&str]) -> String {
    let out = StdCommand::new("odbcinst")
        .args(args)
        .env("ODBCINI", ini)
        .env("ODBCSYSINI", sysini)
        .output()
        .expect("odbcinst (Debian package odbcinst) must be on PATH; scripts/test installs it");
    assert_success(&out);
    stdout(&out)
}

/// `--odbc-ini ~/.odbc.ini --dsn NAME`, as the ODBC README says: only that DSN changes.
#[test]
fn odbc_ini_update_changes_only_the_named_dsn_and_follows_a_symlink() {
    let (s, sb) = setup(Some("TOKEN-HERE"));
    let dotfiles = sb.home().join("dotfiles");
    std::fs::create_dir(&dotfiles).unwrap();
    let real = dotfiles.join("odbc.ini");
    std::fs::write(&real, USER_ODBC_INI).unwrap();
    let link = sb.home().join(".odbc.ini");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let args = [
        "--odbc-ini",
        link.to_str().unwrap(),
        "--dsn",
        "Redshift-IdC",
        "--host",
        HOST,
        "--database",
        "sales",
        "--no-cache",
    ];
    assert_eq!(ok_stdout(&odbc(&sb, &args)), "");
    assert_eq!(last_token(&s), "TOKEN-HERE");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the symlink is still a symlink"
    );
    assert_eq!(std::fs::read_to_string(&real).unwrap(), USER_ODBC_INI_AFTER);
    assert_eq!(
        mode(&real) & 0o777,
        0o600,
        "a file holding a token is private"
    );
    assert_no_temporary_files(&dotfiles, ".redshift-idc-odbc");

    let sysini = sb.home().join("odbcsys");
    std::fs::create_dir(&sysini).unwrap();
    assert_eq!(
        odbcinst(&link, &sysini, &["-q", "-s"]),
        "[Other]\n[Redshift-IdC]\n[Third]\n"
    );
    let other = parse_ini(&odbcinst(&link, &sysini, &["-q", "-s", "-n", "Other"]));
    assert_eq!(other[0].1["Description"], "keep me");
    let dsn = parse_ini(&odbcinst(
        &link,
        &sysini,
        &["-q", "-s", "-n", "Redshift-IdC"],
    ));
    let keys: BTreeMap<String, String> = dsn[0]
        .1
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    for (k, v) in [
        ("driver", "Amazon Redshift (x64)"),
        ("host", HOST),
        ("token", "TOKEN-HERE"),
        ("sslmode", "verify-full"),
        ("uid", "me"),
        ("database", "sales"),
    ] {
        assert_eq!(keys.get(k).map(String::as_str), Some(v), "{k}");
    }

    // Run again (a refresh): the file comes out the same, nothing added twice.
    assert_eq!(ok_stdout(&odbc(&sb, &args)), "");
    assert_eq!(std::fs::read_to_string(&real).unwrap(), USER_ODBC_INI_AFTER);
}

#[test]
fn odbc_ini_update_refuses_a_read_only_file_and_adds_a_missing_dsn() {
    let (_s, sb) = setup(Some("TOKEN-HERE"));
    let ini = sb.home().join(".odbc.ini");
    let mine = "[Other]\nDriver = x\n";
    std::fs::write(&ini, mine).unwrap();
    let args = [
        "--odbc-ini",
        ini.to_str().unwrap(),
        "--dsn",
        "Redshift-IdC",
        "--host",
        HOST,
        "--database",
        "sales",
        "--no-cache",
    ];
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&ini, std::fs::Permissions::from_mode(0o444)).unwrap();
    let out = odbc(&sb, &args);
    assert_failure(&out, 2, &["is read-only"]);
    assert_eq!(std::fs::read_to_string(&ini).unwrap(), mine);
    assert_eq!(mode(&ini) & 0o777, 0o444);

    std::fs::set_permissions(&ini, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(ok_stdout(&odbc(&sb, &args)), "");
    let text = std::fs::read_to_string(&ini).unwrap();
    assert!(text.starts_with(mine), "{text}");
    let sysini = sb.home().join("odbcsys");
    std::fs::create_dir(&sysini).unwrap();
    assert_eq!(
        odbcinst(&ini, &sysini, &["-q", "-s"]),
        "[Other]\n[Redshift-IdC]\n"
    );
}

#[test]
fn odbc_ini_template_is_a_complete_dsn_without_a_token() {
    let ini = parse_ini(&read("plugin-config/odbc/odbc.ini.template"));
    let names: Vec<&str> = ini.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["ODBC Data Sources", "Redshift-IdC"]);
    assert_eq!(ini[0].1["Redshift-IdC"], "Amazon Redshift (x64)");
    let dsn = &ini[1].1;
    for (k, v) in [
        ("Host", HOST),
        ("Port", "5439"),
        ("Database", "dev"),
        ("plugin_name", "IdpTokenAuthPlugin"),
        ("token_type", "SUBJECT_TOKEN"),
        ("SSLMode", "verify-full"),
    ] {
        assert_eq!(dsn.get(k).map(String::as_str), Some(v), "{k}");
    }
    assert!(dsn["Driver"].ends_with(".so"));
    assert!(
        !dsn.keys().any(|k| k.eq_ignore_ascii_case("token")),
        "no token in a DSN"
    );
    let readme = read("plugin-config/odbc/README.md");
    for needle in [
        "## Windows DSN",
        "ODBC.INI",
        "IAMPluginFactory::CreatePlugin",
        "--odbc-ini",
    ] {
        assert!(readme.contains(needle), "odbc/README.md covers {needle}");
    }
}

// ----------------------------------------------------------------------------------------
// AWS profiles

fn example_profiles() -> Vec<(String, BTreeMap<String, String>)> {
    parse_ini(&read("plugin-config/aws/config.example"))
        .into_iter()
        .filter_map(|(name, keys)| Some((name.strip_prefix("profile ")?.to_owned(), keys)))
        .collect()
}

/// The application and role of `config.example`, which the Identity Center stand-in is told
/// to serve, and a sandbox whose `my-idp-cli` prints the stand-in's JWT for alice.
fn example_world() -> (StandIn, IdcStandIn, Sandbox) {
    let all = parse_ini(&read("plugin-config/aws/config.example"));
    let ci = &all
        .iter()
        .find(|(n, _)| n == "profile redshift-ci")
        .unwrap()
        .1;
    let idc = IdcStandIn::start_with(IdcConfig {
        application_arn: ci["redshift_idc_application_arn"].clone(),
        ..IdcConfig::default()
    });
    let s = StandIn::start();
    let mut sb = Sandbox::new(&s);
    sb.unset("AWS_REGION");
    sb.set("AWS_ENDPOINT_URL_SSO_OIDC", &idc.url());
    sb.set("AWS_ENDPOINT_URL_STS", &idc.url());
    sb.set(
        "AWS_CONFIG_FILE",
        file("plugin-config/aws/config.example").to_str().unwrap(),
    );
    let bin = sb.home().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let jwt = idc.jwt_for("alice", std::time::Duration::from_secs(600));
    let idp = bin.join("my-idp-cli");
    std::fs::write(&idp, format!("#!/bin/sh\nprintf '%s\\n' '{jwt}'\n")).unwrap();
    set_mode(&idp, 0o755);
    std::os::unix::fs::symlink(BIN, bin.join("redshift-idc-token")).unwrap();
    std::os::unix::fs::symlink(
        file("plugin-config/aws/redshift-idc-role-credentials"),
        bin.join("redshift-idc-role-credentials"),
    )
    .unwrap();
    sb.set(
        "PATH",
        &format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
    );
    (s, idc, sb)
}

#[test]
fn aws_config_example_profiles_are_accepted_with_their_regions() {
    let all = parse_ini(&read("plugin-config/aws/config.example"));
    assert!(
        all.iter()
            .any(|(n, k)| n == "sso-session corp" && k.contains_key("sso_start_url"))
    );
    let profiles = example_profiles();
    let names: Vec<&str> = profiles.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "redshift-bootstrap",
            "redshift",
            "redshift-ci",
            "redshift-session"
        ]
    );
    assert!(profiles[0].1.contains_key("sso_session"));
    assert_eq!(profiles[1].1["redshift_idc_signin"], "browser");
    assert_eq!(profiles[2].1["redshift_idc_signin"], "jwt");
    assert_eq!(
        profiles[3].1["credential_process"],
        "redshift-idc-token credentials --profile redshift"
    );

    let (s, idc, sb) = example_world();
    let readme = read("plugin-config/aws/README.md");
    for (name, keys) in &profiles {
        assert!(
            readme.contains(&format!("--profile {name}")),
            "the README shows --profile {name}"
        );
        let region = &keys["region"];
        // The environment's credentials come first in the chain, so the profile's own
        // credentials (SSO sign-in, credential_process) are not needed for this check;
        // doctor never signs in.
        let out = sb.run(&["doctor", "--json", "--profile", name, "--cluster-id", "c1"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor --json");
        assert_eq!(
            v["steps"][1]["details"]["region"],
            region.as_str(),
            "{name}: {v}"
        );
        assert_eq!(v["steps"][1]["details"]["from"], "profile");
        assert_eq!(v["steps"][3]["details"]["profile"], name.as_str());
        assert_eq!(v["steps"][3]["details"]["defined"], true);
        // A sign-in profile before its first sign-in: doctor says who signs in (exit 6).
        let expected = if keys.contains_key("redshift_idc_role_arn") {
            6
        } else {
            0
        };
        assert_eq!(out.status.code(), Some(expected), "{name}: {v}");
        let signin = v["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["step"] == "sign-in");
        assert_eq!(
            signin.is_some(),
            keys.contains_key("redshift_idc_role_arn"),
            "{name}: {v}"
        );

        // And the token command itself, with -v saying where the region came from; the
        // browser profile is asked not to open a browser, and says to log in.
        let out = sb.run(&[
            "-v",
            "--profile",
            name,
            "--cluster-id",
            "c1",
            "--no-cache",
            "--no-browser",
        ]);
        if name == "redshift" {
            assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
            assert!(stderr(&out).contains("run `redshift-idc-token login` first"));
            continue;
        }
        assert_success(&out);
        let err = stderr(&out);
        assert!(
            err.contains(region.as_str()) && err.contains("from=\"profile\""),
            "{err}"
        );
        assert_eq!(
            s.requests().last().unwrap().region.as_deref(),
            Some(region.as_str())
        );
    }
    // redshift-ci signed in with its JWT command: the token was asked for with alice's
    // identity-enhanced role credentials.
    assert_eq!(idc.count_ok(Op::CreateTokenWithIam), 1, "{}", idc.counts());
    let tokens: Vec<String> = issued_tokens(&s);
    assert!(
        tokens.iter().any(|t| t.contains(".ASIAALICE")),
        "{tokens:?}"
    );
}

#[test]
fn the_credential_process_wrapper_and_profile_hand_out_the_session() {
    let (s, idc, mut sb) = example_world();
    // The processes the SDK starts must sign in themselves: no credentials in the
    // environment, a bootstrap profile of static keys instead of the SSO one.
    sb.unset_credentials();
    std::fs::write(
        sb.home().join(".aws/credentials"),
        format!("[stub-bootstrap]\naws_access_key_id = {ACCESS_KEY}\naws_secret_access_key = {SECRET_KEY}\naws_session_token = {SESSION_TOKEN}\n"),
    )
    .unwrap();
    sb.set("REDSHIFT_IDC_TOKEN_BOOTSTRAP_PROFILE", "stub-bootstrap");
    let mut config = read("plugin-config/aws/config.example");
    config.push_str(
        "\n[profile via-wrapper]\ncredential_process = redshift-idc-role-credentials --profile redshift-ci\nregion = eu-west-1\n",
    );
    let cfg = sb.home().join("config");
    std::fs::write(&cfg, config).unwrap();
    sb.set("AWS_CONFIG_FILE", cfg.to_str().unwrap());

    let out = sb.run(&[
        "doctor",
        "-vv",
        "--json",
        "--profile",
        "via-wrapper",
        "--cluster-id",
        "c1",
    ]);
    assert_success(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let creds = &v["steps"][4]["details"];
    assert_eq!(creds["source"], "credential_process", "{v}");
    assert_eq!(creds["temporary"], true);
    let last = s.requests().last().unwrap().clone();
    assert!(
        last.access_key_id
            .as_deref()
            .unwrap()
            .starts_with("ASIAALICE"),
        "the call used alice's role session: {last:?}"
    );
    let text = format!("{}{}", stdout(&out), stderr(&out));
    for secret in idc.issued_secrets() {
        assert!(!text.contains(&secret), "a sign-in secret leaked");
    }

    // The browser profile, signed in with a JWT from the environment instead (so no browser
    // is needed here), through the `redshift-session` profile's credential_process.
    let bob = idc.jwt_for("bob", std::time::Duration::from_secs(600));
    sb.set("REDSHIFT_IDC_TOKEN_SIGNIN", "jwt");
    sb.set("REDSHIFT_IDC_TOKEN_JWT", &bob);
    let out = sb.run(&[
        "--profile",
        "redshift-session",
        "--cluster-id",
        "c1",
        "--no-cache",
    ]);
    assert_success(&out);
    let last = s.requests().last().unwrap().clone();
    assert!(
        last.access_key_id
            .as_deref()
            .unwrap()
            .starts_with("ASIABOB"),
        "{last:?}"
    );
}
