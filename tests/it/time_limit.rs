//! Issue 8, class 2: `--timeout` bounds the whole run, whatever blocks.
//!
//! Each test makes one thing block forever (a DNS server that never answers, a FIFO nobody
//! writes, a `credential_process` that hangs) and requires the exit within `--timeout` + 1 s
//! with the transient status, a message naming the step, and nothing left running.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

/// Runs `script` with `sh` in a private network namespace (loopback only, brought up) and a
/// private mount namespace, with the sandbox's environment plus `BIN` and `OUT` (a scratch
/// directory). Returns `OUT`, or `None` (after saying why) when namespaces are unavailable.
fn in_loopback_namespace(sb: &Sandbox, script: &str) -> Option<std::path::PathBuf> {
    let probe = std::process::Command::new("unshare")
        .args(["--net", "--mount", "sh", "-c", "ip link set lo up"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        other => {
            skipped(format!("no private network namespace here: {other:?}"));
            return None;
        }
    }
    let out_dir = sb.home().join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let child = sb
        .command("unshare")
        .args(["--net", "--mount", "sh", "-euc"])
        .arg(format!("ip link set lo up\n{script}"))
        .env("PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
        .env("BIN", BIN)
        .env("OUT", &out_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = wait_until(child, Instant::now() + Duration::from_secs(60), "namespace");
    assert_script_ok(&out);
    Some(out_dir)
}

/// A DNS server on 127.0.0.1:53 that takes every query and never answers, and a private
/// /etc/resolv.conf that points at it, inside the namespace.
const SILENT_DNS: &str = r#"
python3 -c 'import socket,time
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(("127.0.0.1",53))
t=socket.socket(socket.AF_INET,socket.SOCK_STREAM); t.bind(("127.0.0.1",53)); t.listen(16)
print("ready",flush=True); time.sleep(60)' > "$OUT/dns.ready" 2>&1 &
dns=$!
trap 'kill $dns' EXIT
i=0; until grep -q ready "$OUT/dns.ready" 2>/dev/null; do i=$((i+1)); [ $i -lt 500 ] || exit 9; sleep 0.01; done
echo 'nameserver 127.0.0.1' > "$OUT/resolv.conf"
mount --bind "$OUT/resolv.conf" /etc/resolv.conf
"#;

fn read(out: &std::path::Path, name: &str) -> String {
    fs::read_to_string(out.join(name)).unwrap_or_default()
}

#[test]
fn a_dns_server_that_never_answers_is_cut_off_at_the_timeout() {
    let sb = Sandbox::with_endpoint("http://redshift.standin.test:80");
    let script = format!(
        "{SILENT_DNS}
t0=$(date +%s%N)
set +e
\"$BIN\" --cluster-id c1 --no-cache --timeout 2 > \"$OUT/stdout\" 2> \"$OUT/stderr\"
echo $? > \"$OUT/rc\"
t1=$(date +%s%N)
echo $(( (t1 - t0) / 1000000 )) > \"$OUT/ms\"
"
    );
    let Some(out) = in_loopback_namespace(&sb, &script) else {
        return;
    };
    let ms: u64 = read(&out, "ms").trim().parse().unwrap();
    let stderr = read(&out, "stderr");
    assert_eq!(read(&out, "rc").trim(), "5", "transient; stderr: {stderr}");
    assert!(read(&out, "stdout").is_empty());
    assert!(stderr.contains("gave up after 2 s"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(ms < 3000, "exited after {ms} ms, --timeout 2");
}

/// Runs the binary with `args`, requiring it to end within `limit`; returns output and time.
fn bounded(sb: &Sandbox, args: &[&str], limit: Duration) -> (std::process::Output, Duration) {
    let t0 = Instant::now();
    let child = sb.spawn(args);
    let out = wait_until(child, t0 + limit, "the binary");
    (out, t0.elapsed())
}

#[test]
fn shared_files_that_are_fifos_nobody_writes_never_hang_the_run() {
    for var in ["AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"] {
        let (_standin, mut sb) = standin_issuing(None);
        let fifo = sb.home().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        sb.set(var, fifo.to_str().unwrap());
        for extra in [&["--no-cache"][..], &[][..]] {
            let args = with(&with(C1, &["--timeout", "3"]), extra);
            let (out, took) = bounded(&sb, &args, Duration::from_secs(20));
            assert_success(&out);
            assert!(
                took < Duration::from_secs(4),
                "{var} {extra:?}: took {took:?}"
            );
        }
    }
}

#[test]
fn shared_files_from_process_substitution_are_read_once_and_used() {
    let (standin, mut sb) = standin_issuing(None);
    sb.unset_credentials();
    sb.unset("AWS_REGION");
    let script = format!(
        "exec \"{BIN}\" --cluster-id c1 --timeout 10 \
         --profile pipe",
    );
    let out = sb
        .command("bash")
        .arg("-c")
        .arg(format!(
            "AWS_CONFIG_FILE=<(printf '[profile pipe]\\nregion = eu-west-2\\n') \
             AWS_SHARED_CREDENTIALS_FILE=<(printf '[pipe]\\naws_access_key_id = AKIDPIPE00000000000\\naws_secret_access_key = {SECRET_KEY}\\n') \
             {script}"
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_success(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let issued = parse_issued(doc["token"].as_str().unwrap()).unwrap();
    assert_eq!(
        (issued.region.as_str(), issued.access_key.as_str()),
        ("eu-west-2", "AKIDPIPE00000000000")
    );
    assert_eq!(standin.request_count(), 1);
}

fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        // A zombie has finished; only its parent's wait is missing.
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

#[test]
fn a_hung_credential_process_is_killed_at_the_timeout_and_the_step_is_named() {
    let (standin, mut sb) = standin_issuing(None);
    sb.unset_credentials();
    let pids = sb.home().join("pids");
    let script = sb.home().join("hang.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho $$ >> '{p}'\nsleep 60 &\necho $! >> '{p}'\nwait\n",
            p = pids.display()
        ),
    )
    .unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o755)).unwrap();
    sb.write_aws_config(&format!(
        "[profile hang]\nregion = us-east-1\ncredential_process = {}\n",
        script.display()
    ));
    let t0 = Instant::now();
    // Only the exit status is waited for: a leftover child holding stderr must not hide.
    let mut child = sb
        .std_cmd()
        .args(with(
            C1,
            &["--profile", "hang", "--timeout", "2", "--no-cache"],
        ))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(sb.home().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = t0.elapsed();
    let stderr = fs::read_to_string(sb.home().join("stderr")).unwrap();
    let pids: Vec<u32> = fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    // SIGKILL is delivered asynchronously: give a loaded machine a moment to finish them.
    poll(Duration::from_secs(1), || pids.iter().all(|p| !alive(*p)));
    let leftovers: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for p in &leftovers {
        unsafe { libc::kill(*p as i32, libc::SIGKILL) };
    }
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        stderr.contains("gave up after 2 s (--timeout): resolving AWS credentials"),
        "{stderr}"
    );
    assert_eq!(pids.len(), 2);
    assert!(leftovers.is_empty(), "still running: {leftovers:?}");
    assert_eq!(standin.request_count(), 0);
}

#[test]
fn a_config_pipe_whose_writer_never_finishes_is_cut_off_at_the_timeout() {
    let (standin, mut sb) = standin_issuing(None);
    let fifo = sb.home().join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    // Holds the FIFO open for writing (read-write, so its open never waits) and writes nothing.
    let mut writer = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec 3<>'{}'; exec sleep 30", fifo.display()))
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    sb.set("AWS_CONFIG_FILE", fifo.to_str().unwrap());
    let (out, took) = bounded(&sb, &with(C1, &["--timeout", "2"]), Duration::from_secs(20));
    let _ = writer.kill();
    let _ = writer.wait();
    assert_failure(
        &out,
        5,
        &["gave up after 2 s (--timeout): reading the shared AWS config"],
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(standin.request_count(), 0);
}
