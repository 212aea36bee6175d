//! Finding a VM's QEMU process again, and telling it from another process that got its pid.

use std::time::{Duration, Instant};

use super::POLL_INTERVAL;

/// A QEMU process known to be this instance's, pinned by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct QemuProcess {
    pub(super) pid: u32,
    pub(super) start_time: u64,
}

/// State letter and start time (clock ticks since boot) from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesized and may contain anything.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 3 is the state, field 22 the start time.
    let start_time = fields.get(19)?.parse().ok()?;
    Some((state, start_time))
}

fn is_dead_state(state: char) -> bool {
    matches!(state, 'Z' | 'X' | 'x')
}

/// `pid` as this instance's QEMU: a live process whose argv[0] names QEMU and whose
/// `-pidfile` argument is the instance's pid file (guards against pid reuse).
pub(super) fn identify(pid: u32, pidfile_arg: &str) -> Option<QemuProcess> {
    let (state, start_time) = proc_stat(pid)?;
    if is_dead_state(state) {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
    let argv0 = String::from_utf8_lossy(args.first()?);
    let name = argv0.rsplit('/').next().unwrap_or_default();
    if !name.contains("qemu") {
        return None;
    }
    let has_pidfile = args
        .windows(2)
        .any(|w| w[0] == b"-pidfile" && w[1] == pidfile_arg.as_bytes());
    has_pidfile.then_some(QemuProcess { pid, start_time })
}

/// Scans `/proc` for this instance's QEMU (when the pid file is gone or stale).
pub(super) fn find_by_pidfile_arg(pidfile_arg: &str) -> Option<QemuProcess> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .find_map(|pid| identify(pid, pidfile_arg))
}

pub(super) fn process_alive(process: QemuProcess) -> bool {
    proc_stat(process.pid)
        .is_some_and(|(state, start)| !is_dead_state(state) && start == process.start_time)
}

/// Polls until the process is gone (exited, reaped or a zombie); false on timeout.
pub(super) async fn wait_gone(process: QemuProcess, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if !process_alive(process) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
