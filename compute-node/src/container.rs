//! OCI containers run by runc (or crun): the "container" kind of instance.
//!
//! Layout under the state directory:
//! - `<state_dir>/<instance-id>/rootfs/`: the image's rootfs, extracted on first start and
//!   kept across stops (it is the instance's disk); an EBS root volume's file system is
//!   mounted there instead while the container runs ([`root`]);
//! - `<state_dir>/<instance-id>/config.json`: the OCI runtime spec, rewritten on every start;
//! - `<state_dir>/<instance-id>/resolv.conf`: the VPC's resolver and search domain, rewritten
//!   on every start and bind-mounted read-only at `/etc/resolv.conf` (the rootfs keeps the
//!   image's own file); absent, and the image's file used, when the VPC has no resolver;
//! - `<state_dir>/<instance-id>/console.log`: the container's stdout and stderr (appended);
//! - `<state_dir>/<instance-id>/runtime.log`: the runtime's own log of `run`;
//! - `<state_dir>/<instance-id>/root/<vol>/`: the EBS root volume's daemon files ([`root`]);
//! - `<state_dir>/<instance-id>/volumes/<vol>/`: an attached EBS volume's local daemon,
//!   FUSE export and keys ([`volumes`]);
//! - `<state_dir>/runc/`: the runtime's state root (`--root`), so a new agent finds its
//!   containers again.
//!
//! Containers outlive the agent: they are started with `run --detach`, their stdio is the
//! console file itself (never a pipe to the agent), and the runtime is spawned in its own
//! process group (the container's init gets its own session from the runtime).
//!
//! Limits (cgroup v1 here, cgroupsPath `/kumo/<instance-id>`): CFS quota = vCPUs × period,
//! memory limit = memory_mib MiB.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kumo_common::ids::InstanceId;
use kumo_compute_protocol::{InstanceSpec, NetworkAttachment, ObservedState};
use serde_json::json;

use crate::error::{run, NodeError, Result};

mod root;
mod volumes;

/// CFS period used for the CPU quota, in microseconds.
pub const CPU_PERIOD_US: u64 = 100_000;
/// Line the default init prints when the container starts.
pub const START_MARKER: &str = "KUMO-CONTAINER-START";
/// Where a `#!` user-data script is written inside the rootfs.
pub const USER_DATA_PATH: &str = "/kumo-user-data";

/// The instance directory's resolver file, mounted at `/etc/resolv.conf`.
const RESOLV_CONF_FILE: &str = "resolv.conf";
/// The longest DNS name (RFC 1035).
const MAX_DOMAIN_LEN: usize = 253;

/// The name of the runtime's state root under the state directory (never an instance id).
const RUNTIME_ROOT_DIR: &str = "runc";
/// How long to wait for a container to die after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(10);
/// Grace period [`ContainerRuntime::remove`] gives a running container.
const REMOVE_GRACE: Duration = Duration::from_secs(5);
const POLL: Duration = Duration::from_millis(100);

/// Capabilities of the container's processes (Docker's default set).
const CAPABILITIES: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerConfig {
    /// The OCI runtime binary: `runc` (default) or `crun`, a name on the PATH or a path.
    pub runtime: PathBuf,
    /// Per-instance directories live here, and the runtime's state root.
    pub state_dir: PathBuf,
}

impl ContainerConfig {
    /// runc, with everything under `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            runtime: PathBuf::from("runc"),
            state_dir: state_dir.into(),
        }
    }
}

impl Default for ContainerConfig {
    fn default() -> Self {
        Self::new("/var/lib/kumo/containers")
    }
}

/// What the runtime's `state` command says about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RuntimeState {
    /// `created`, `running`, `paused` or `stopped`.
    status: String,
    pid: u32,
}

impl RuntimeState {
    fn is_running(&self) -> bool {
        self.status == "running" || self.status == "paused"
    }
}

#[derive(Debug)]
pub struct ContainerRuntime {
    config: ContainerConfig,
    /// One lock per instance: start/stop/remove of one instance never interleave.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl ContainerRuntime {
    pub fn new(config: ContainerConfig) -> Self {
        Self {
            config,
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &ContainerConfig {
        &self.config
    }

    /// Create and start the instance's container, detached, in the network namespace at
    /// `netns_path`. The first start extracts the image's rootfs; later ones reuse it.
    /// Does nothing if the container is already running; a stopped (or half-created)
    /// container is deleted from the runtime and started again.
    pub async fn start(&self, spec: &InstanceSpec, netns_path: &Path) -> Result<()> {
        let id = spec.instance_id.as_str();
        InstanceId::parse(id)?;
        if spec.vcpus == 0 || spec.memory_mib == 0 {
            return Err(NodeError::InvalidSpec(format!(
                "{id}: vcpus and memory_mib must be positive"
            )));
        }
        let lock = self.lock_for(id);
        let _guard = lock.lock().await;

        let dir = self.instance_dir(id);
        tokio::fs::create_dir_all(&dir).await?;
        match self.runtime_state(id).await {
            Some(state) if state.is_running() => return Ok(()),
            Some(_) => self.runtime_delete(id).await?,
            None => {}
        }

        let rootfs = match spec.volumes.iter().find(|v| v.boot) {
            Some(root) => self.mount_root(spec, &dir, root).await?,
            None => {
                let rootfs = dir.join("rootfs");
                ensure_rootfs(spec, &dir, &rootfs).await?;
                rootfs
            }
        };

        let user_data_script = spec
            .metadata
            .user_data
            .as_deref()
            .filter(|d| d.starts_with(b"#!"));
        let script_path = rootfs.join(USER_DATA_PATH.trim_start_matches('/'));
        match user_data_script {
            Some(data) => {
                tokio::fs::write(&script_path, data).await?;
                set_mode(&script_path, 0o755).await?;
            }
            None => {
                if tokio::fs::symlink_metadata(&script_path).await.is_ok() {
                    tokio::fs::remove_file(&script_path).await?;
                }
            }
        }

        let resolv_conf = write_resolv_conf(&spec.network, &dir).await?;
        let config = oci_config(
            spec,
            netns_path,
            user_data_script.is_some(),
            resolv_conf.as_deref(),
        );
        let config_text = serde_json::to_vec_pretty(&config)
            .map_err(|e| NodeError::Other(format!("config.json: {e}")))?;
        tokio::fs::write(dir.join("config.json"), config_text).await?;

        // The console file is the container's stdout and stderr (and the runtime's own
        // stderr while it runs: its error messages land in the console too).
        let console = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.console_path(id))?;
        let console_err = console.try_clone()?;
        let runtime_log = dir.join("runtime.log");
        let root = self.runtime_root();
        let bundle = dir.clone();
        let pid_file = dir.join("container.pid");
        let mut cmd = tokio::process::Command::new(&self.config.runtime);
        cmd.arg("--root")
            .arg(&root)
            .arg("--log")
            .arg(&runtime_log)
            .arg("run")
            .arg("--detach")
            .arg("--bundle")
            .arg(&bundle)
            .arg("--pid-file")
            .arg(&pid_file)
            .arg(id)
            .current_dir(&dir)
            .stdin(std::process::Stdio::null())
            .stdout(console)
            .stderr(console_err)
            .process_group(0)
            .kill_on_drop(false);
        let command_text = format!(
            "{} --root {} run --detach --bundle {} {id}",
            self.config.runtime.display(),
            root.display(),
            bundle.display()
        );
        let status = cmd.status().await.map_err(|e| NodeError::Command {
            command: command_text.clone(),
            message: e.to_string(),
        })?;
        if !status.success() {
            let log = tail(&runtime_log, 2048).await;
            return Err(NodeError::Command {
                command: command_text,
                message: format!("{status}: {log}"),
            });
        }
        tracing::info!(instance_id = id, "container started");
        Ok(())
    }

    /// SIGTERM, wait up to `grace`, SIGKILL, then delete the container from the runtime.
    /// The instance directory (rootfs, console) stays. Fine if not running or unknown.
    pub async fn stop(&self, instance_id: &str, grace: Duration) -> Result<()> {
        InstanceId::parse(instance_id)?;
        let lock = self.lock_for(instance_id);
        let _guard = lock.lock().await;
        self.stop_locked(instance_id, grace).await
    }

    /// Stop the container and delete the instance directory (its disk) entirely.
    pub async fn remove(&self, instance_id: &str) -> Result<()> {
        InstanceId::parse(instance_id)?;
        let lock = self.lock_for(instance_id);
        let _guard = lock.lock().await;
        self.stop_locked(instance_id, REMOVE_GRACE).await?;
        self.remove_volumes(instance_id).await?;
        self.check_root_unmounted(instance_id)?;
        let dir = self.instance_dir(instance_id);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    /// Running, Stopped (its directory exists, no running container) or Absent.
    pub async fn observe(&self, instance_id: &str) -> Result<ObservedState> {
        InstanceId::parse(instance_id)?;
        if !self.instance_dir(instance_id).is_dir() {
            return Ok(ObservedState::Absent);
        }
        Ok(match self.runtime_state(instance_id).await {
            Some(state) if state.is_running() => ObservedState::Running,
            _ => ObservedState::Stopped,
        })
    }

    /// The container's init pid (host pid namespace) when running.
    pub async fn pid(&self, instance_id: &str) -> Result<Option<u32>> {
        InstanceId::parse(instance_id)?;
        Ok(self
            .runtime_state(instance_id)
            .await
            .filter(RuntimeState::is_running)
            .map(|s| s.pid))
    }

    pub fn console_path(&self, instance_id: &str) -> PathBuf {
        self.instance_dir(instance_id).join("console.log")
    }

    /// Instance ids with a directory under the state directory.
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
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if name == RUNTIME_ROOT_DIR || InstanceId::parse(&name).is_err() {
                continue;
            }
            ids.push(name);
        }
        ids.sort();
        Ok(ids)
    }

    fn instance_dir(&self, instance_id: &str) -> PathBuf {
        self.config.state_dir.join(instance_id)
    }

    fn runtime_root(&self) -> PathBuf {
        self.config.state_dir.join(RUNTIME_ROOT_DIR)
    }

    fn lock_for(&self, instance_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock_map(&self.locks)
            .entry(instance_id.to_string())
            .or_default()
            .clone()
    }

    async fn stop_locked(&self, id: &str, grace: Duration) -> Result<()> {
        let Some(state) = self.runtime_state(id).await else {
            return self.release_root(id).await;
        };
        if state.is_running() {
            if state.status == "paused" {
                let _ = self.runtime(&["resume", id]).await;
            }
            // Errors are expected when it dies in the meantime.
            let _ = self.runtime(&["kill", id, "TERM"]).await;
            if !self.wait_not_running(id, grace).await {
                tracing::info!(instance_id = id, "container ignored SIGTERM; killing it");
                let _ = self.runtime(&["kill", id, "KILL"]).await;
                if !self.wait_not_running(id, KILL_WAIT).await {
                    return Err(NodeError::Other(format!(
                        "container {id} still running after SIGKILL"
                    )));
                }
            }
        }
        self.runtime_delete(id).await?;
        self.release_root(id).await?;
        tracing::info!(instance_id = id, "container stopped");
        Ok(())
    }

    /// Poll until the container is no longer running; false if `limit` ran out first.
    async fn wait_not_running(&self, id: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            match self.runtime_state(id).await {
                Some(state) if state.is_running() => {}
                _ => return true,
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `delete --force`; fine if the runtime no longer knows the container.
    async fn runtime_delete(&self, id: &str) -> Result<()> {
        if let Err(e) = self.runtime(&["delete", "--force", id]).await {
            if self.runtime_root().join(id).exists() {
                return Err(e);
            }
        }
        Ok(())
    }

    /// The runtime's view of the container; `None` if it does not know it.
    async fn runtime_state(&self, id: &str) -> Option<RuntimeState> {
        if !self.runtime_root().join(id).exists() {
            return None;
        }
        match self.runtime(&["state", id]).await {
            Ok(out) => {
                let v: serde_json::Value = serde_json::from_str(&out).ok()?;
                Some(RuntimeState {
                    status: v.get("status")?.as_str()?.to_string(),
                    pid: v
                        .get("pid")
                        .and_then(|p| p.as_u64())
                        .and_then(|p| u32::try_from(p).ok())
                        .unwrap_or(0),
                })
            }
            // Its state directory exists but the runtime cannot read it: treat it as a
            // dead container (start deletes it, stop cleans it up).
            Err(e) => {
                tracing::warn!(instance_id = id, error = %e, "container state unreadable");
                Some(RuntimeState {
                    status: "stopped".into(),
                    pid: 0,
                })
            }
        }
    }

    /// The runtime binary with `--root` and `args`.
    async fn runtime(&self, args: &[&str]) -> Result<String> {
        let root = self.runtime_root();
        let root = root.to_string_lossy();
        let program = self.config.runtime.to_string_lossy();
        let mut all = vec!["--root", root.as_ref()];
        all.extend_from_slice(args);
        run(program.as_ref(), &all).await
    }
}

fn lock_map<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Extract the image's rootfs tarball into `rootfs` unless it is already there.
async fn ensure_rootfs(spec: &InstanceSpec, dir: &Path, rootfs: &Path) -> Result<()> {
    if rootfs.is_dir() {
        return Ok(());
    }
    extract_image(spec, dir, rootfs).await
}

/// Extract the image's rootfs tarball into the directory `target` (replaced). Extracts
/// next to it first, so an interrupted extraction is never mistaken for a disk.
async fn extract_image(spec: &InstanceSpec, dir: &Path, target: &Path) -> Result<()> {
    if tokio::fs::symlink_metadata(target).await.is_ok() {
        tokio::fs::remove_dir_all(target).await?;
    }
    let tarball = spec.image.rootfs.as_ref().ok_or_else(|| {
        NodeError::InvalidSpec(format!(
            "{}: image {} has no rootfs tarball",
            spec.instance_id, spec.image.image_id
        ))
    })?;
    let partial = dir.join("rootfs.partial");
    if tokio::fs::symlink_metadata(&partial).await.is_ok() {
        tokio::fs::remove_dir_all(&partial).await?;
    }
    tokio::fs::create_dir_all(&partial).await?;
    let tarball = tarball.to_string_lossy();
    let into = partial.to_string_lossy();
    run(
        "tar",
        &[
            "--extract",
            "--file",
            tarball.as_ref(),
            "--directory",
            into.as_ref(),
            "--numeric-owner",
            "--preserve-permissions",
        ],
    )
    .await?;
    tokio::fs::rename(&partial, target).await?;
    Ok(())
}

/// The container's `/etc/resolv.conf`: its VPC's resolver (AmazonProvidedDNS) and the
/// private domain as search suffix, as an AWS instance has; `None` when the VPC gives no
/// resolver (DNS support off).
fn resolv_conf(att: &NetworkAttachment) -> Result<Option<String>> {
    let Some(server) = att.dns_server else {
        return Ok(None);
    };
    let mut text = format!("# The VPC's resolver (written by Kumo).\nnameserver {server}\n");
    if !att.dns_domain.is_empty() {
        // One line of the file: a name, nothing that could start another directive.
        let valid = att.dns_domain.len() <= MAX_DOMAIN_LEN
            && att
                .dns_domain
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !valid {
            return Err(NodeError::InvalidSpec(format!(
                "bad DNS domain {:?}",
                att.dns_domain
            )));
        }
        text.push_str(&format!("search {}\n", att.dns_domain));
    }
    Ok(Some(text))
}

/// Write (or remove) the instance's resolver file; its absolute path when written.
async fn write_resolv_conf(att: &NetworkAttachment, dir: &Path) -> Result<Option<PathBuf>> {
    let path = dir.join(RESOLV_CONF_FILE);
    match resolv_conf(att)? {
        Some(text) => {
            tokio::fs::write(&path, text).await?;
            set_mode(&path, 0o644).await?;
            Ok(Some(tokio::fs::canonicalize(&path).await?))
        }
        None => {
            match tokio::fs::remove_file(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
            Ok(None)
        }
    }
}

async fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).await?;
    Ok(())
}

/// The last `max` bytes of a file, as text (empty if unreadable).
async fn tail(path: &Path, max: usize) -> String {
    match tokio::fs::read(path).await {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            String::from_utf8_lossy(&bytes[start..]).trim().to_string()
        }
        Err(_) => String::new(),
    }
}

/// The init the container runs: prints the start marker, runs the user-data script if
/// any, then sleeps until SIGTERM (which it honours, unlike a bare PID 1).
fn init_script(instance_id: &str, run_user_data: bool) -> String {
    let mut s = String::from("trap 'exit 0' TERM INT\n");
    s.push_str(&format!("echo {START_MARKER} {instance_id}\n"));
    if run_user_data {
        s.push_str(&format!("{USER_DATA_PATH}\necho KUMO-USER-DATA-EXIT $?\n"));
    }
    s.push_str("while :; do sleep 3600 & wait $!; done\n");
    s
}

/// The OCI runtime spec (config.json) of an instance; `resolv_conf` is the file to mount at
/// `/etc/resolv.conf`, if any.
fn oci_config(
    spec: &InstanceSpec,
    netns_path: &Path,
    run_user_data: bool,
    resolv_conf: Option<&Path>,
) -> serde_json::Value {
    let id = spec.instance_id.as_str();
    let memory_bytes = u64::from(spec.memory_mib) * 1024 * 1024;
    let quota = u64::from(spec.vcpus) * CPU_PERIOD_US;
    let caps: Vec<&str> = CAPABILITIES.to_vec();
    let mut config = json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": { "uid": 0, "gid": 0 },
            "args": ["/bin/sh", "-c", init_script(id, run_user_data)],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME=/root",
                format!("KUMO_INSTANCE_ID={id}"),
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "noNewPrivileges": false
        },
        "root": { "path": "rootfs", "readonly": false },
        "hostname": id,
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            {
                "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]
            },
            {
                "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
            },
            {
                "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]
            },
            {
                "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"]
            },
            {
                "destination": "/sys", "type": "sysfs", "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"]
            }
        ],
        "linux": {
            "cgroupsPath": format!("/kumo/{id}"),
            "resources": {
                "devices": [ { "allow": false, "access": "rwm" } ],
                "memory": { "limit": memory_bytes },
                "cpu": { "quota": quota, "period": CPU_PERIOD_US }
            },
            "namespaces": [
                { "type": "pid" },
                { "type": "ipc" },
                { "type": "uts" },
                { "type": "mount" },
                { "type": "network", "path": netns_path.to_string_lossy() }
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    });
    if let (Some(path), Some(mounts)) = (resolv_conf, config["mounts"].as_array_mut()) {
        mounts.push(json!({
            "destination": "/etc/resolv.conf", "type": "bind",
            "source": path.to_string_lossy(),
            "options": ["bind", "ro", "nosuid", "nodev", "noexec"]
        }));
    }
    config
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attachment(dns_server: Option<&str>, dns_domain: &str) -> NetworkAttachment {
        NetworkAttachment {
            network_interface_id: "eni-1".into(),
            vpc_id: "vpc-1".into(),
            subnet_id: "subnet-1".into(),
            bridge: "kb-1".into(),
            ip: "10.0.1.11".parse().unwrap(),
            prefix_len: 24,
            gateway: "10.0.1.1".parse().unwrap(),
            mac: "02:00:00:00:00:01".into(),
            dns_server: dns_server.map(|a| a.parse().unwrap()),
            dns_domain: dns_domain.into(),
        }
    }

    #[test]
    fn resolv_conf_names_the_vpc_resolver_and_domain() {
        let text = resolv_conf(&attachment(Some("10.0.0.2"), "ec2.internal"))
            .unwrap()
            .unwrap();
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(lines, ["nameserver 10.0.0.2", "search ec2.internal"]);
        let text = resolv_conf(&attachment(Some("10.0.0.2"), ""))
            .unwrap()
            .unwrap();
        assert!(!text.contains("search"), "{text}");
        assert_eq!(
            resolv_conf(&attachment(None, "ec2.internal")).unwrap(),
            None
        );
        for bad in ["ec2.internal\nnameserver 1.1.1.1", "a b", &"a".repeat(254)] {
            assert!(
                resolv_conf(&attachment(Some("10.0.0.2"), bad)).is_err(),
                "{bad}"
            );
        }
    }
}
