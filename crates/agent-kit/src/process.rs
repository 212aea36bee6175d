//! Finding a helper process an agent started (QEMU, a storage daemon, dnsmasq) again after
//! the agent restarted, and telling it from an unrelated process that got its pid.
//!
//! A pid from a pid file is trusted only when `/proc/<pid>/cmdline` shows the expected
//! program with the expected argument, and the process is then pinned by its start time,
//! so a later check cannot be fooled by pid reuse.

/// A live process, pinned by its start time (clock ticks since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PinnedProcess {
    pub pid: u32,
    pub start_time: u64,
}

/// State letter and start time from `/proc/<pid>/stat`.
pub fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesized and may contain anything.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 3 is the state, field 22 the start time.
    let start_time = fields.get(19)?.parse().ok()?;
    Some((state, start_time))
}

/// Zombie or dead: exited, whatever its pid file says.
pub fn is_dead_state(state: char) -> bool {
    matches!(state, 'Z' | 'X' | 'x')
}

/// `pid` as the process running `program` (argv[0]'s file name) with `flag` followed by
/// `value` among its arguments; None when it is not (or no longer) that process.
pub fn identify(pid: u32, program: &str, flag: &str, value: &str) -> Option<PinnedProcess> {
    let (state, start_time) = proc_stat(pid)?;
    if is_dead_state(state) {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let argv0 = String::from_utf8_lossy(args.first()?);
    if argv0.rsplit('/').next().unwrap_or_default() != program {
        return None;
    }
    let has_arg = args
        .windows(2)
        .any(|w| w[0] == flag.as_bytes() && w[1] == value.as_bytes());
    has_arg.then_some(PinnedProcess { pid, start_time })
}

/// Whether the pinned process still runs (same pid, same start time, not a zombie).
pub fn is_alive(process: PinnedProcess) -> bool {
    proc_stat(process.pid)
        .is_some_and(|(state, start)| !is_dead_state(state) && start == process.start_time)
}

/// Stop the pinned process: SIGTERM, then SIGKILL if it still runs after `grace`, waiting
/// `grace` again. True once it is gone.
pub async fn terminate(process: PinnedProcess, grace: std::time::Duration) -> bool {
    const POLL: std::time::Duration = std::time::Duration::from_millis(20);
    for signal in [libc::SIGTERM, libc::SIGKILL] {
        if !is_alive(process) {
            return true;
        }
        // SAFETY: a plain syscall on a pid just verified to be the pinned process.
        unsafe { libc::kill(process.pid as libc::pid_t, signal) };
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline && is_alive(process) {
            tokio::time::sleep(POLL).await;
        }
    }
    !is_alive(process)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_itself_and_refuses_another_program() {
        let pid = std::process::id();
        let (state, start) = proc_stat(pid).unwrap();
        assert!(!is_dead_state(state));
        let me = PinnedProcess {
            pid,
            start_time: start,
        };
        assert!(is_alive(me));
        assert!(!is_alive(PinnedProcess {
            pid,
            start_time: start + 1
        }));
        assert_eq!(identify(pid, "no-such-program", "--x", "y"), None);
    }
}
