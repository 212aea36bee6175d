//! QEMU virtual machines.
//!
//! Each VM is one QEMU process, started with `-daemonize` so that it lives in its own
//! session, reparented away from the agent, with no stdio connected to it: it keeps
//! running when the agent exits or restarts. Everything needed to find it again lives in
//! `<state_dir>/<instance id>/`:
//!
//! - `spec.json`: the [`InstanceSpec`] it was started with (for re-adoption);
//! - `qemu.pid`: written by QEMU (`-pidfile`), removed by QEMU on a clean exit;
//! - `qmp.sock`: the QMP control socket;
//! - `console.log`: the first serial port, opened in append mode so that restarts and
//!   reboots keep earlier output;
//! - `disk.qcow2`: a copy-on-write overlay over the image's disk, when the image has one
//!   and the instance has no EBS root volume (`boot.rs`); created once, kept across stops,
//!   deleted by [`VmRuntime::remove`].
//!
//! A pid read from `qemu.pid` is only trusted when `/proc/<pid>/cmdline` is a QEMU whose
//! `-pidfile` is this instance's pid file (pids get reused); the process is further
//! pinned by its start time while it is being stopped. Every wait is bounded.
//!
//! Acceleration: KVM only when the CPU shows `vmx`/`svm` and `/dev/kvm` opens (a nested
//! "PVM" `/dev/kvm` without those flags hangs stock kernels), else TCG ([`detect_accel`]).

mod accel;
pub mod boot;
mod command_line;
pub mod hotplug;
mod process;
pub mod qmp;
pub mod replicas;
pub mod volumes;

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use kumo_common::fs::write_private;
use kumo_common::ids::InstanceId;
use kumo_compute_protocol::{InstanceSpec, ObservedState};
use serde_json::Value;

use crate::error::{NodeError, Result};
use crate::network::NETNS_DIR;

pub use accel::{cpu_has_virtualization, decide_accel, detect_accel, Accel};
use command_line::{check_image_files, path_str};
use process::{find_by_pidfile_arg, identify, process_alive, wait_gone, QemuProcess};

/// File names inside an instance directory.
pub const SPEC_FILE: &str = "spec.json";
pub const PID_FILE: &str = "qemu.pid";
pub const QMP_SOCKET: &str = "qmp.sock";
pub const CONSOLE_FILE: &str = "console.log";
pub const DISK_FILE: &str = "disk.qcow2";

/// Bound of every QMP step (connect, each read, each write).
const QMP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the daemonizing QEMU parent may take to report that the VM is set up.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(60);
const QEMU_IMG_TIMEOUT: Duration = Duration::from_secs(120);
/// After QMP `quit`, and after SIGKILL.
const QUIT_WAIT: Duration = Duration::from_secs(10);
const KILL_WAIT: Duration = Duration::from_secs(10);
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// `sizeof(sockaddr_un.sun_path) - 1`.
const SUN_PATH_MAX: usize = 107;

/// How the VM runtime runs QEMU.
#[derive(Debug, Clone)]
pub struct VmConfig {
    /// The QEMU binary (`qemu-system-x86_64`); `qemu-img` is looked up beside it, else
    /// on the PATH.
    pub qemu: PathBuf,
    /// One directory per instance below it.
    pub state_dir: PathBuf,
    pub accel: Accel,
    /// How long a guest gets to power off after the ACPI power button before QEMU is
    /// told to quit.
    pub stop_grace: Duration,
}

impl VmConfig {
    pub const DEFAULT_STOP_GRACE: Duration = Duration::from_secs(10);

    /// `qemu-system-x86_64` from the PATH, the detected accelerator, a 10 s stop grace.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        VmConfig {
            qemu: PathBuf::from("qemu-system-x86_64"),
            state_dir: state_dir.into(),
            accel: detect_accel(),
            stop_grace: Self::DEFAULT_STOP_GRACE,
        }
    }
}

/// Runs the VMs of one host.
#[derive(Debug)]
pub struct VmRuntime {
    config: VmConfig,
    /// One lock per instance: start/stop/reboot/remove of an instance are serialized.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Starts and stops in progress in this runtime, reported by `observe`.
    transitions: Mutex<HashMap<String, ObservedState>>,
    /// The named network namespace QEMU runs in (the agent's host namespace, where the
    /// taps are), when not the agent's own: QEMU opens its tap by name there.
    netns: Option<String>,
    /// Volume replicas a write failed on, from the VMs' event monitors.
    quorum_events: Arc<replicas::QuorumEvents>,
}

impl VmRuntime {
    /// The state directory is created if missing and made absolute (QEMU changes its
    /// working directory to `/` when it daemonizes).
    pub fn new(mut config: VmConfig) -> Self {
        if let Err(e) = std::fs::create_dir_all(&config.state_dir) {
            tracing::warn!(dir = %config.state_dir.display(), error = %e, "cannot create VM state dir");
        }
        config.state_dir = absolute(&config.state_dir);
        VmRuntime {
            config,
            locks: Mutex::new(HashMap::new()),
            transitions: Mutex::new(HashMap::new()),
            netns: None,
            quorum_events: Arc::default(),
        }
    }

    /// Run QEMU inside the named network namespace `netns` (`None`: the agent's own).
    pub fn in_netns(mut self, netns: Option<&str>) -> Self {
        self.netns = netns.map(str::to_owned);
        self
    }

    pub fn config(&self) -> &VmConfig {
        &self.config
    }

    /// `<state_dir>/<instance id>`.
    pub fn instance_dir(&self, instance_id: &str) -> PathBuf {
        self.config.state_dir.join(instance_id)
    }

    pub fn console_path(&self, instance_id: &str) -> PathBuf {
        self.instance_dir(instance_id).join(CONSOLE_FILE)
    }

    /// Starts the VM for `spec` with its NIC on tap `tap` (no NIC when `None`), detached
    /// from the agent. Already running: nothing (a paused guest is resumed; a QEMU whose
    /// guest is in an error state is restarted). Returns once QEMU has set the machine
    /// up; the guest boots on its own. An EBS-backed VM (a `boot` volume) starts paused
    /// and runs once its volumes are plugged (`boot.rs`).
    pub async fn start(&self, spec: &InstanceSpec, tap: Option<&str>) -> Result<()> {
        let id = spec.instance_id.as_str();
        let args = self.qemu_args(spec, tap)?;
        check_image_files(spec)?;
        boot::check_boot_volume(spec)?;
        let ebs_root = boot::boot_volume(spec).is_some();
        let lock = self.instance_lock(id);
        let _held = lock.lock().await;

        if self.running(id).is_some() {
            match self.query_status(id).await {
                Ok(status) => match status.as_str() {
                    "prelaunch" => {
                        // Started paused; plugging its volumes was cut short.
                        tracing::info!(instance = id, "plugging volumes of a VM not yet booted");
                        return self.plug_volumes_and_run(spec).await;
                    }
                    "paused" | "debug" => {
                        tracing::info!(instance = id, status, "resuming paused VM");
                        self.qmp(id, "cont").await?;
                        return Ok(());
                    }
                    "suspended" => {
                        tracing::info!(instance = id, "waking suspended VM");
                        self.qmp(id, "system_wakeup").await?;
                        return Ok(());
                    }
                    "shutdown" | "internal-error" | "io-error" | "guest-panicked" | "watchdog" => {
                        tracing::warn!(instance = id, status, "restarting VM");
                        self.stop_locked(id).await?;
                    }
                    _ => return Ok(()),
                },
                Err(e) => {
                    tracing::debug!(instance = id, error = %e, "VM running, QMP not answering");
                    return Ok(());
                }
            }
        }

        let _transition = self.transition(id, ObservedState::Starting);
        let dir = self.instance_dir(id);
        std::fs::create_dir_all(&dir)?;
        let spec_json = serde_json::to_vec_pretty(spec)
            .map_err(|e| NodeError::Other(format!("serializing spec of {id}: {e}")))?;
        write_private(&dir.join(SPEC_FILE), &spec_json)?;
        if let (Some(backing), false) = (&spec.image.disk, ebs_root) {
            self.ensure_disk(&dir, backing).await?;
        }
        remove_file_if_exists(&dir.join(QMP_SOCKET))?;
        remove_file_if_exists(&dir.join(PID_FILE))?;
        self.launch(id, &args).await?;
        if ebs_root {
            if let Err(e) = self.plug_volumes_and_run(spec).await {
                tracing::warn!(instance = id, error = %e, "plugging the root volume failed");
                if let Err(quit) = self.quit_unbooted(id).await {
                    tracing::warn!(instance = id, error = %quit, "stopping the unbooted VM");
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Graceful stop: QMP `system_powerdown` and up to `stop_grace` for the guest to
    /// power off, then QMP `quit`, then SIGKILL. Keeps the instance directory.
    pub async fn stop(&self, instance_id: &str) -> Result<()> {
        InstanceId::parse(instance_id)?;
        let lock = self.instance_lock(instance_id);
        let _held = lock.lock().await;
        self.stop_locked(instance_id).await
    }

    /// Hard reset of the guest (QMP `system_reset`).
    pub async fn reboot(&self, instance_id: &str) -> Result<()> {
        InstanceId::parse(instance_id)?;
        let lock = self.instance_lock(instance_id);
        let _held = lock.lock().await;
        if self.running(instance_id).is_none() {
            return Err(NodeError::Other(format!("VM {instance_id} is not running")));
        }
        self.qmp(instance_id, "system_reset").await?;
        tracing::info!(instance = instance_id, "VM reset");
        Ok(())
    }

    /// Stops the VM if it runs and deletes its directory (disk overlay included).
    pub async fn remove(&self, instance_id: &str) -> Result<()> {
        InstanceId::parse(instance_id)?;
        let lock = self.instance_lock(instance_id);
        let _held = lock.lock().await;
        self.stop_locked(instance_id).await?;
        let dir = self.instance_dir(instance_id);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {
                tracing::info!(instance = instance_id, "VM removed");
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Running when the QEMU process lives and QMP `query-status` says so; Stopped when
    /// the directory exists without a live process (or the guest is paused or failed);
    /// Absent without a directory. Starting/Stopping while this runtime starts or stops
    /// it, or while QEMU does not answer QMP.
    pub async fn observe(&self, instance_id: &str) -> Result<ObservedState> {
        InstanceId::parse(instance_id)?;
        if let Some(state) = self.current_transition(instance_id) {
            return Ok(state);
        }
        if !self.instance_dir(instance_id).is_dir() {
            return Ok(ObservedState::Absent);
        }
        let Some(process) = self.running(instance_id) else {
            return Ok(ObservedState::Stopped);
        };
        match self.query_status(instance_id).await {
            Ok(status) => Ok(status_to_state(&status)),
            Err(e) if process_alive(process) => {
                tracing::debug!(instance = instance_id, error = %e, "QMP query-status failed");
                Ok(ObservedState::Starting)
            }
            Err(_) => Ok(ObservedState::Stopped),
        }
    }

    /// The pid of the instance's live QEMU process.
    pub async fn pid(&self, instance_id: &str) -> Result<Option<u32>> {
        InstanceId::parse(instance_id)?;
        Ok(self.running(instance_id).map(|p| p.pid))
    }

    /// Instances with a directory (and spec) under the state directory, sorted.
    pub fn known_instances(&self) -> Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.config.state_dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if InstanceId::parse(&name).is_ok() && entry.path().join(SPEC_FILE).is_file() {
                ids.push(name);
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// The spec the instance was last started with (`spec.json`), if any.
    pub fn load_spec(&self, instance_id: &str) -> Result<Option<InstanceSpec>> {
        InstanceId::parse(instance_id)?;
        let path = self.instance_dir(instance_id).join(SPEC_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| NodeError::Other(format!("{}: {e}", path.display())))
    }

    // ---- internals ----

    fn instance_lock(&self, instance_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(instance_id.to_string()).or_default().clone()
    }

    fn transition(&self, instance_id: &str, state: ObservedState) -> TransitionGuard<'_> {
        self.transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(instance_id.to_string(), state);
        TransitionGuard {
            runtime: self,
            instance_id: instance_id.to_string(),
        }
    }

    fn current_transition(&self, instance_id: &str) -> Option<ObservedState> {
        self.transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(instance_id)
            .copied()
    }

    /// The instance's live QEMU process: from the pid file, else (pid file gone or
    /// stale while the socket or pid file is still there) by its command line.
    fn running(&self, instance_id: &str) -> Option<QemuProcess> {
        let dir = self.instance_dir(instance_id);
        let pidfile = dir.join(PID_FILE);
        let pidfile_arg = path_str(&pidfile);
        if let Ok(text) = std::fs::read_to_string(&pidfile) {
            if let Some(process) = text
                .trim()
                .parse::<u32>()
                .ok()
                .and_then(|pid| identify(pid, &pidfile_arg))
            {
                return Some(process);
            }
        } else if !dir.join(QMP_SOCKET).exists() {
            // QEMU removes its pid file and socket on exit: nothing runs.
            return None;
        }
        find_by_pidfile_arg(&pidfile_arg)
    }

    async fn query_status(&self, instance_id: &str) -> Result<String> {
        let reply = self.qmp(instance_id, "query-status").await?;
        reply
            .get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| NodeError::Qmp(format!("query-status: unexpected reply {reply}")))
    }

    async fn qmp(&self, instance_id: &str, command: &str) -> Result<Value> {
        let socket = self.instance_dir(instance_id).join(QMP_SOCKET);
        qmp::execute_once(&socket, command, None, QMP_TIMEOUT).await
    }

    async fn stop_locked(&self, instance_id: &str) -> Result<()> {
        let Some(process) = self.running(instance_id) else {
            self.remove_runtime_files(instance_id);
            return Ok(());
        };
        let _transition = self.transition(instance_id, ObservedState::Stopping);
        let started = Instant::now();
        let grace = self.config.stop_grace;
        let mut how = None;
        if !grace.is_zero() {
            match self.qmp(instance_id, "system_powerdown").await {
                Ok(_) => {
                    if wait_gone(process, grace).await {
                        how = Some("powered off");
                    }
                }
                Err(e) => {
                    tracing::warn!(instance = instance_id, error = %e, "system_powerdown failed")
                }
            }
        }
        if how.is_none() {
            // The reply may be lost when QEMU exits first: judge by the process.
            if let Err(e) = self.qmp(instance_id, "quit").await {
                tracing::debug!(instance = instance_id, error = %e, "QMP quit");
            }
            if wait_gone(process, QUIT_WAIT).await {
                how = Some("quit");
            }
        }
        if how.is_none() {
            if process_alive(process) {
                // SAFETY: plain syscall; the pid was checked to be this instance's QEMU
                // (same start time) just above.
                let rc = unsafe { libc::kill(process.pid as libc::pid_t, libc::SIGKILL) };
                if rc != 0 {
                    tracing::warn!(instance = instance_id, pid = process.pid, error = %std::io::Error::last_os_error(), "SIGKILL failed");
                }
            }
            if wait_gone(process, KILL_WAIT).await {
                how = Some("killed");
            }
        }
        let Some(how) = how else {
            return Err(NodeError::Other(format!(
                "VM {instance_id} (pid {}) did not exit after powerdown, quit and SIGKILL",
                process.pid
            )));
        };
        self.remove_runtime_files(instance_id);
        tracing::info!(
            instance = instance_id,
            pid = process.pid,
            how,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "VM stopped"
        );
        Ok(())
    }

    /// Stale pid file and socket of a QEMU that is gone.
    fn remove_runtime_files(&self, instance_id: &str) {
        let dir = self.instance_dir(instance_id);
        for name in [PID_FILE, QMP_SOCKET] {
            if let Err(e) = remove_file_if_exists(&dir.join(name)) {
                tracing::warn!(instance = instance_id, file = name, error = %e, "cannot remove");
            }
        }
    }

    fn qemu_img(&self) -> PathBuf {
        if let Some(parent) = self.config.qemu.parent() {
            if !parent.as_os_str().is_empty() {
                let beside = parent.join("qemu-img");
                if beside.is_file() {
                    return beside;
                }
            }
        }
        PathBuf::from("qemu-img")
    }

    /// `disk.qcow2` over the image's disk, created once.
    async fn ensure_disk(&self, dir: &Path, backing: &Path) -> Result<()> {
        let disk = dir.join(DISK_FILE);
        if disk.is_file() {
            return Ok(());
        }
        let backing = path_str(&absolute(backing));
        let qemu_img = path_str(&self.qemu_img());
        let info = run_bounded(&qemu_img, &["info", "-U", "--output=json", &backing]).await?;
        let format = serde_json::from_str::<Value>(&info)
            .ok()
            .and_then(|v| v.get("format").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "qcow2".to_string());
        let tmp = dir.join(format!("{DISK_FILE}.tmp"));
        remove_file_if_exists(&tmp)?;
        let tmp_str = path_str(&tmp);
        run_bounded(
            &qemu_img,
            &[
                "create", "-q", "-f", "qcow2", "-F", &format, "-b", &backing, &tmp_str,
            ],
        )
        .await?;
        std::fs::rename(&tmp, &disk)?;
        tracing::info!(disk = %disk.display(), backing, format, "created VM disk overlay");
        Ok(())
    }

    async fn launch(&self, instance_id: &str, args: &[String]) -> Result<()> {
        let qemu = self.config.qemu.display().to_string();
        let command_text = format!("{qemu} {}", args.join(" "));
        tracing::info!(instance = instance_id, command = %command_text, "starting VM");
        let started = Instant::now();
        let mut command = tokio::process::Command::new(&self.config.qemu);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        // Opened here, entered in the child between fork and exec (setns is a plain
        // syscall; the descriptor is close-on-exec).
        let netns_file =
            match &self.netns {
                Some(ns) => Some(std::fs::File::open(Path::new(NETNS_DIR).join(ns)).map_err(
                    |e| NodeError::Command {
                        command: command_text.clone(),
                        message: format!("network namespace {ns}: {e}"),
                    },
                )?),
                None => None,
            };
        if let Some(file) = &netns_file {
            let fd = file.as_raw_fd();
            // SAFETY: only setns(2), async-signal-safe, runs in the forked child.
            unsafe {
                command.pre_exec(move || {
                    if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let output = match tokio::time::timeout(LAUNCH_TIMEOUT, command.output()).await {
            Ok(Ok(output)) => output,
            Ok(Err(e)) => {
                return Err(NodeError::Command {
                    command: command_text,
                    message: e.to_string(),
                })
            }
            Err(_) => {
                // The daemon may be up but its parent stuck: do not leave it behind.
                if let Some(process) = self.running(instance_id) {
                    // SAFETY: plain syscall on a pid verified to be this instance's QEMU.
                    unsafe { libc::kill(process.pid as libc::pid_t, libc::SIGKILL) };
                    wait_gone(process, KILL_WAIT).await;
                }
                return Err(NodeError::Command {
                    command: command_text,
                    message: format!("QEMU did not finish starting within {LAUNCH_TIMEOUT:?}"),
                });
            }
        };
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_string();
        if !output.status.success() {
            return Err(NodeError::Command {
                command: command_text,
                message: if stderr.is_empty() {
                    format!("exited with {}", output.status)
                } else {
                    stderr
                },
            });
        }
        if !stderr.is_empty() {
            tracing::warn!(instance = instance_id, stderr, "QEMU warnings");
        }
        match self.running(instance_id) {
            Some(process) => {
                tracing::info!(
                    instance = instance_id,
                    pid = process.pid,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "VM started"
                );
                Ok(())
            }
            None => Err(NodeError::Command {
                command: command_text,
                message: "QEMU exited right after starting".to_string(),
            }),
        }
    }
}

struct TransitionGuard<'a> {
    runtime: &'a VmRuntime,
    instance_id: String,
}

impl Drop for TransitionGuard<'_> {
    fn drop(&mut self) {
        self.runtime
            .transitions
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.instance_id);
    }
}

/// What a QMP `query-status` status means for the control plane.
fn status_to_state(status: &str) -> ObservedState {
    match status {
        // save-vm / finish-migrate: a snapshot or migration of a running guest.
        "running" | "save-vm" | "finish-migrate" => ObservedState::Running,
        "prelaunch" | "inmigrate" | "restore-vm" => ObservedState::Starting,
        "shutdown" => ObservedState::Stopping,
        // paused, suspended, debug, postmigrate, internal-error, io-error,
        // guest-panicked, watchdog, colo: the guest does not run.
        _ => ObservedState::Stopped,
    }
}

fn absolute(path: &Path) -> PathBuf {
    if let Ok(canonical) = path.canonicalize() {
        return canonical;
    }
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

fn remove_file_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn run_bounded(program: &str, args: &[&str]) -> Result<String> {
    tokio::time::timeout(QEMU_IMG_TIMEOUT, crate::error::run(program, args))
        .await
        .map_err(|_| NodeError::Command {
            command: format!("{program} {}", args.join(" ")),
            message: format!("timed out after {QEMU_IMG_TIMEOUT:?}"),
        })?
}
