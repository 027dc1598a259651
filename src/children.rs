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

/// Kills `root`'s descendants, then `root` (Linux; elsewhere `root` only). For a command we
/// started (the JWT command): its children are found while it still runs, so that none is
/// missed by being orphaned when it dies first. Returns how many were signalled.
pub fn kill_tree(root: u32) -> usize {
    #[cfg(target_os = "linux")]
    let mut found = descendants(root);
    #[cfg(not(target_os = "linux"))]
    let mut found = Vec::new();
    found.insert(0, root);
    // SAFETY: kill has no memory preconditions; a pid that is gone gives ESRCH.
    found
        .into_iter()
        .filter(|&pid| unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0)
        .count()
}

/// Kills every other process that holds the pipe `ours` is one end of: a command's
/// background child (`helper &`) inherits its output and keeps it open after the command
/// ended, and is no longer its descendant then. Found through each process's `/proc/PID/fd`
/// (Linux; elsewhere nothing). Returns how many were signalled.
pub fn kill_pipe_holders(ours: &std::fs::File) -> usize {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(meta) = ours.metadata() else {
            return 0;
        };
        let target = format!("pipe:[{}]", meta.ino());
        let me = std::process::id();
        let mut killed = 0;
        for pid in all_pids().into_iter().filter(|&p| p != me) {
            let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
                continue;
            };
            let holds = fds.flatten().any(|fd| {
                std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str())
            });
            // SAFETY: as in kill_tree.
            if holds && unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
        killed
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = ours;
        0
    }
}

/// Every process id in `/proc`.
#[cfg(target_os = "linux")]
fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect()
        })
        .unwrap_or_default()
}

/// The descendants of `root`, parents before children, from each process's `/proc/PID/stat`.
#[cfg(target_os = "linux")]
fn descendants(root: u32) -> Vec<u32> {
    let parent_of: Vec<(u32, u32)> = all_pids()
        .into_iter()
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            Some((pid, parent_pid(&stat)?))
        })
        .collect();
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
