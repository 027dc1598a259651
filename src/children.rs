//! Ending the processes this run started, when the time is up.
//!
//! Why it exists: aws-config runs a profile's `credential_process` through `sh -c` and does
//! not kill it when the future waiting for it is dropped. A hung process (a login helper
//! waiting for a browser, a script stuck on the network) would outlive our exit, keep the
//! caller's pipes open and hold whatever it holds. At the deadline every descendant of this
//! process is found through `/proc` and sent SIGKILL, the oldest generation first so that no
//! one is left to start new ones.

/// Kills every descendant of this process (Linux; elsewhere nothing to do). Returns how many
/// were signalled.
pub fn kill_descendants() -> usize {
    #[cfg(target_os = "linux")]
    {
        let mut killed = 0;
        // A second pass catches a child forked between the first scan and its parent's death.
        for _ in 0..2 {
            let found = descendants(std::process::id());
            if found.is_empty() {
                break;
            }
            for pid in found {
                // SAFETY: kill has no memory preconditions; a pid that is gone gives ESRCH.
                if unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
                    killed += 1;
                }
            }
        }
        killed
    }
    #[cfg(not(target_os = "linux"))]
    {
        0
    }
}

/// The descendants of `root`, parents before children, from each process's `/proc/PID/stat`.
#[cfg(target_os = "linux")]
fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| parent_pid(&s))
            {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.remove(0);
    out
}

/// The parent pid in a `/proc/PID/stat` line: the fourth field, counted after the command
/// name in parentheses (which may itself contain spaces and parentheses).
#[cfg(target_os = "linux")]
fn parent_pid(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_lines() {
        assert_eq!(parent_pid("12 (a b) c) S 7 12 12 0"), Some(7));
        assert_eq!(parent_pid("garbage"), None);
    }

    #[test]
    fn finds_a_grandchild() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & wait"])
            .spawn()
            .unwrap();
        let me = std::process::id();
        let ok = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(10));
            descendants(me).len() >= 2
        });
        let _ = child.kill();
        let _ = child.wait();
        assert!(ok, "the sh child and its sleep");
    }
}
