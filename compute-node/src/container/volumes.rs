//! EBS volumes attached to a running container, as a block device node at the device name
//! AttachVolume was given (`/dev/sdf`).
//!
//! The kernel here has no NBD client, so each volume gets its own local
//! `qemu-storage-daemon` that opens the replicas' NBD exports (TLS-PSK, quorum over two or
//! more: the same block graph as a VM's, `crate::block_nodes`) and exports the top node as
//! a file through FUSE (`<instance dir>/volumes/<vol>/disk`). A loop device is bound to
//! that file, the container's device cgroup (v1) is told to allow the loop's major:minor,
//! and the node is made (`mknod`) in the container's `/dev` through `/proc/<pid>/root`.
//!
//! Everything is found again from the host: the daemon by its pid file, the loop device
//! by its backing file (`/sys/block/loop*/loop/backing_file`), the node by its rdev. A
//! restarted agent adopts the volumes; a restarted container (new `/dev`) gets its nodes
//! again at the next pass; a daemon that died is started again and a new loop bound.
//!
//! Detach: the node is unlinked and denied in the cgroup, the loop detached (the kernel
//! flushes it), the daemon stopped with SIGTERM (it flushes and unmounts the export).

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kumo_agent_kit::process::{identify, terminate, PinnedProcess};
use kumo_common::ids::VolumeId;
use kumo_compute_protocol::VolumeAttachmentSpec;

use super::ContainerRuntime;
use crate::block_nodes::{
    check_replicas, nbd_blockdev, quorum_blockdev, tls_creds, top_node, write_psk,
};
use crate::error::{run, NodeError, Result};

const DAEMON: &str = "qemu-storage-daemon";
/// The FUSE export's id in the daemon.
const EXPORT_ID: &str = "disk";
/// The cgroup v1 devices hierarchy.
const DEVICES_CGROUP: &str = "/sys/fs/cgroup/devices";
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Where the kernel shows each FUSE connection's limits (the fusectl file system).
const FUSE_CONNECTIONS: &str = "/sys/fs/fuse/connections";

/// One attached volume's files under `<instance dir>/volumes/<vol>/`.
#[derive(Debug, Clone)]
pub(super) struct VolumePaths {
    pub(super) dir: PathBuf,
    /// The FUSE export's mount point (a regular file).
    pub(super) disk: PathBuf,
    pidfile: PathBuf,
    /// The device name the node was made at, for detach.
    device: PathBuf,
}

impl VolumePaths {
    pub(super) fn new(volumes_dir: &Path, volume_id: &str) -> Self {
        let dir = volumes_dir.join(volume_id);
        Self {
            disk: dir.join("disk"),
            pidfile: dir.join("qsd.pid"),
            device: dir.join("device"),
            dir,
        }
    }

    fn key_dir(&self, i: usize) -> PathBuf {
        self.dir.join(i.to_string())
    }
}

/// A device name safe to join under a container's root: `/dev/` and 1–16 lowercase letters.
fn check_device(device: &str) -> Result<()> {
    let name = device.strip_prefix("/dev/").unwrap_or_default();
    if !name.is_empty() && name.len() <= 16 && name.bytes().all(|b| b.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(NodeError::InvalidSpec(format!(
            "bad device name {device:?}"
        )))
    }
}

pub(super) fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| NodeError::Other(format!("{} is not UTF-8", path.display())))
}

/// The running daemon of this volume (its pid file names a live daemon started with it).
pub(super) fn find_daemon(paths: &VolumePaths) -> Option<PinnedProcess> {
    let pid: u32 = std::fs::read_to_string(&paths.pidfile)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    identify(pid, DAEMON, "--pidfile", &paths.pidfile.to_string_lossy())
}

/// SIGTERM (the daemon flushes and unmounts its export), SIGKILL after a grace.
async fn stop_daemon(process: PinnedProcess) -> Result<()> {
    if terminate(process, STOP_GRACE).await {
        Ok(())
    } else {
        Err(NodeError::Other(format!(
            "{DAEMON} {} does not die",
            process.pid
        )))
    }
}

/// Start the volume's daemon: the replicas' NBD nodes (and quorum) exported through FUSE
/// at `paths.disk`. Returns once the export is up (`--daemonize` waits for start-up).
async fn start_daemon(paths: &VolumePaths, volume: &VolumeAttachmentSpec) -> Result<()> {
    let volume_id = volume.volume_id.as_str();
    let _ = std::fs::remove_file(&paths.pidfile);
    // A daemon that was killed leaves its FUSE mount behind, disconnected.
    let _ = run("umount", &["-l", path_str(&paths.disk)?]).await;
    if !paths.disk.exists() {
        std::fs::write(&paths.disk, b"")?;
    }
    let mut args: Vec<String> = vec![
        "--daemonize".into(),
        "--pidfile".into(),
        path_str(&paths.pidfile)?.into(),
    ];
    for (i, replica) in volume.replicas.iter().enumerate() {
        let key_dir = paths.key_dir(i);
        write_psk(&key_dir, replica)?;
        args.push("--object".into());
        args.push(tls_creds(i, volume_id, &key_dir, replica)?.to_string());
        args.push("--blockdev".into());
        args.push(nbd_blockdev(i, volume_id, replica).to_string());
    }
    if let Some(quorum) = quorum_blockdev(volume_id, volume.replicas.len()) {
        args.push("--blockdev".into());
        args.push(quorum.to_string());
    }
    args.push("--export".into());
    args.push(
        serde_json::json!({
            "type": "fuse",
            "id": EXPORT_ID,
            "node-name": top_node(volume_id, volume.replicas.len()),
            "mountpoint": path_str(&paths.disk)?,
            "writable": true,
        })
        .to_string(),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(DAEMON, &args).await?;
    find_daemon(paths).map(|_| ()).ok_or_else(|| {
        NodeError::Other(format!("{DAEMON} started but its pid file names no daemon"))
    })
}

/// Let the daemon have one background request of its export at a time (the loop device's
/// direct I/O is all background requests). qemu-storage-daemon before 10.1 reads the next
/// request into the buffer of a write still in flight when that write polls (QEMU commit
/// "fuse: Copy write buffer content before polling"), so a replica can get the next
/// write's bytes: seen with 10.0.2 as 384 KiB of one replica holding the data written
/// 512 KiB further on, whenever the host was busy enough for the loop to queue two writes.
async fn limit_fuse_requests(disk: &Path) -> Result<()> {
    let dev = std::fs::metadata(disk)?.dev();
    // The connection is named by the mount's kernel dev_t: major << 20 | minor.
    let connection = (u64::from(libc::major(dev)) << 20) | u64::from(libc::minor(dev));
    let dir = Path::new(FUSE_CONNECTIONS).join(connection.to_string());
    if !dir.is_dir() {
        // Not mounted on this host yet (systemd hosts mount it at boot).
        let _ = run("mount", &["-t", "fusectl", "fusectl", FUSE_CONNECTIONS]).await;
    }
    if !dir.is_dir() {
        return Err(NodeError::Other(format!(
            "{} has no FUSE connection under {FUSE_CONNECTIONS}: cannot limit its requests",
            disk.display()
        )));
    }
    std::fs::write(dir.join("max_background"), "1")?;
    Ok(())
}

/// The volume's daemon (started if not running) and a loop device bound to its export;
/// whether anything had to be (re)started.
pub(super) async fn ensure_loop(
    paths: &VolumePaths,
    volume: &VolumeAttachmentSpec,
) -> Result<(PathBuf, bool)> {
    std::fs::create_dir_all(&paths.dir)?;
    let mut changed = false;
    if find_daemon(paths).is_none() {
        changed = true;
        // A new daemon gets a new loop: the old ones stand on a dead export.
        for stale in loops_of(&paths.disk) {
            let _ = run("losetup", &["-d", path_str(&stale)?]).await;
        }
        start_daemon(paths, volume).await?;
    }
    // Before any I/O through a new loop; again for an adopted daemon (cheap, idempotent).
    limit_fuse_requests(&paths.disk).await?;
    let loop_device = match loops_of(&paths.disk).into_iter().next() {
        Some(existing) => existing,
        None => {
            changed = true;
            // Direct I/O to the export: no second copy of the data in the page cache
            // of the FUSE file (the loop device has its own).
            let out = run(
                "losetup",
                &["--find", "--show", "--direct-io=on", path_str(&paths.disk)?],
            )
            .await?;
            PathBuf::from(out.trim())
        }
    };
    Ok((loop_device, changed))
}

/// Release the volume's loop devices (the kernel flushes them) and stop its daemon (it
/// flushes and unmounts its export). Fine if half there.
pub(super) async fn release_loop(paths: &VolumePaths) -> Result<()> {
    for l in &loops_of(&paths.disk) {
        run("losetup", &["-d", path_str(l)?]).await?;
    }
    if let Some(daemon) = find_daemon(paths) {
        stop_daemon(daemon).await?;
    }
    let _ = run("umount", &["-l", path_str(&paths.disk)?]).await;
    Ok(())
}

/// The loop devices (`/dev/loopN`) bound to `file`, read from sysfs (no stat of the file,
/// which fails on a dead FUSE mount).
fn loops_of(file: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("loop") {
            continue;
        }
        let Ok(backing) = std::fs::read_to_string(entry.path().join("loop/backing_file")) else {
            continue;
        };
        if Path::new(backing.trim_end_matches('\n')) == file {
            found.push(Path::new("/dev").join(name));
        }
    }
    found.sort();
    found
}

/// The block device number of a device node, if `path` is one.
fn block_rdev(path: &Path) -> Option<u64> {
    let meta = std::fs::symlink_metadata(path).ok()?;
    meta.file_type().is_block_device().then(|| meta.rdev())
}

/// The container's devices cgroup directory (cgroup v1), from `/proc/<pid>/cgroup`.
fn devices_cgroup(pid: u32) -> Result<PathBuf> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))?;
    let relative = text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ':').skip(1);
            fields.next().zip(fields.next())
        })
        .find(|(controllers, _)| controllers.split(',').any(|c| c == "devices"))
        .map(|(_, path)| path.trim_start_matches('/').to_string())
        .ok_or_else(|| {
            NodeError::Other(format!(
                "container process {pid} has no devices cgroup (v1): cannot allow a volume"
            ))
        })?;
    Ok(Path::new(DEVICES_CGROUP).join(relative))
}

/// Allow (or deny) the block device `rdev` to the container's processes.
fn set_device_rule(pid: u32, rdev: u64, allow: bool) -> Result<()> {
    let dir = devices_cgroup(pid)?;
    let rule = format!("b {}:{} rwm", libc::major(rdev), libc::minor(rdev));
    let file = if allow {
        "devices.allow"
    } else {
        "devices.deny"
    };
    std::fs::write(dir.join(file), rule)?;
    Ok(())
}

/// `device` as seen from the host: under the container's root.
fn node_path(pid: u32, device: &str) -> PathBuf {
    PathBuf::from(format!("/proc/{pid}/root{device}"))
}

fn mknod_block(path: &Path, rdev: u64) -> Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| NodeError::Other("device path holds NUL".into()))?;
    // SAFETY: c is a valid C string; mknod does not follow a symlink in the last component.
    let rc = unsafe { libc::mknod(c.as_ptr(), libc::S_IFBLK | 0o660, rdev as libc::dev_t) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(())
}

fn remove_node(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e.into()),
    }
}

impl ContainerRuntime {
    fn volumes_dir(&self, instance_id: &str) -> PathBuf {
        self.instance_dir(instance_id).join("volumes")
    }

    /// The volumes with a directory under the instance's (plugged or half-plugged).
    fn volume_dirs(&self, instance_id: &str) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.volumes_dir(instance_id)) else {
            return Vec::new();
        };
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|name| VolumeId::parse(name).is_ok())
            .collect();
        ids.sort();
        ids
    }

    fn volume_paths(&self, instance_id: &str, volume_id: &str) -> Result<VolumePaths> {
        VolumeId::parse(volume_id)?;
        let volumes = self.volumes_dir(instance_id);
        std::fs::create_dir_all(&volumes)?;
        // Sysfs names loop backing files by their canonical path.
        Ok(VolumePaths::new(
            &std::fs::canonicalize(volumes)?,
            volume_id,
        ))
    }

    /// The volumes the running container sees: daemon alive, loop bound, node in place.
    pub async fn plugged_volumes(&self, instance_id: &str) -> Result<BTreeSet<String>> {
        let Some(pid) = self.pid(instance_id).await? else {
            return Ok(BTreeSet::new());
        };
        let mut plugged: BTreeSet<String> = self.mounted_root(instance_id)?.into_iter().collect();
        for volume_id in self.volume_dirs(instance_id) {
            let paths = self.volume_paths(instance_id, &volume_id)?;
            let Ok(device) = std::fs::read_to_string(&paths.device) else {
                continue;
            };
            let loops = loops_of(&paths.disk);
            let node = block_rdev(&node_path(pid, device.trim()));
            let visible = find_daemon(&paths).is_some()
                && loops
                    .first()
                    .and_then(|l| block_rdev(l))
                    .is_some_and(|rdev| node == Some(rdev));
            if visible {
                plugged.insert(volume_id);
            }
        }
        Ok(plugged)
    }

    /// Plug `volume` into the running container `pid` (each step kept if already done).
    async fn plug_volume(
        &self,
        instance_id: &str,
        pid: u32,
        volume: &VolumeAttachmentSpec,
    ) -> Result<()> {
        let volume_id = volume.volume_id.as_str();
        check_device(&volume.device)?;
        check_replicas(volume_id, &volume.replicas)?;
        let paths = self.volume_paths(instance_id, volume_id)?;
        let (loop_device, mut changed) = ensure_loop(&paths, volume).await?;
        let rdev = block_rdev(&loop_device).ok_or_else(|| {
            NodeError::Other(format!("{} is not a block device", loop_device.display()))
        })?;
        std::fs::write(&paths.device, &volume.device)?;
        set_device_rule(pid, rdev, true)?;
        let node = node_path(pid, &volume.device);
        match block_rdev(&node) {
            Some(existing) if existing == rdev => {}
            _ => {
                changed = true;
                remove_node(&node)?;
                mknod_block(&node, rdev)?;
            }
        }
        if !changed {
            return Ok(());
        }
        tracing::info!(
            instance = instance_id,
            volume = volume_id,
            device = %volume.device,
            loop_device = %loop_device.display(),
            replicas = volume.replicas.len(),
            "attached a volume to the container"
        );
        Ok(())
    }

    /// Take the volume away: node, cgroup rule, loop, daemon, files. Fine if half there.
    async fn unplug_volume(
        &self,
        instance_id: &str,
        pid: Option<u32>,
        volume_id: &str,
    ) -> Result<()> {
        let paths = self.volume_paths(instance_id, volume_id)?;
        let loops = loops_of(&paths.disk);
        if let (Some(pid), Ok(device)) = (pid, std::fs::read_to_string(&paths.device)) {
            let device = device.trim();
            check_device(device)?;
            let node = node_path(pid, device);
            if let Some(rdev) = block_rdev(&node) {
                if loops.iter().any(|l| block_rdev(l) == Some(rdev)) {
                    remove_node(&node)?;
                }
            }
            for l in &loops {
                if let Some(rdev) = block_rdev(l) {
                    let _ = set_device_rule(pid, rdev, false);
                }
            }
        }
        release_loop(&paths).await?;
        std::fs::remove_dir_all(&paths.dir)?;
        tracing::info!(
            instance = instance_id,
            volume = volume_id,
            "detached a volume from the container"
        );
        Ok(())
    }

    /// Make the running container's volumes those of `volumes`: plug the missing, unplug
    /// the others. Every volume is tried; the first error is returned. A container that
    /// is not running keeps its volumes' daemons; it gets its nodes when it runs.
    pub async fn converge_volumes(
        &self,
        instance_id: &str,
        volumes: &[VolumeAttachmentSpec],
    ) -> Result<()> {
        let Some(pid) = self.pid(instance_id).await? else {
            return Ok(());
        };
        // The boot volume is the container's root file system ([`super::root`]): mounted
        // before the container starts, never hot-plugged nor unplugged here.
        let volumes: Vec<&VolumeAttachmentSpec> = volumes.iter().filter(|v| !v.boot).collect();
        let wanted: BTreeSet<&str> = volumes.iter().map(|v| v.volume_id.as_str()).collect();
        let mut first_error = None;
        for volume in volumes {
            if let Err(e) = self.plug_volume(instance_id, pid, volume).await {
                tracing::warn!(instance = instance_id, volume = %volume.volume_id, error = %e, "attaching a volume failed");
                first_error.get_or_insert(e);
            }
        }
        for volume_id in self.volume_dirs(instance_id) {
            if wanted.contains(volume_id.as_str()) {
                continue;
            }
            if let Err(e) = self.unplug_volume(instance_id, Some(pid), &volume_id).await {
                tracing::warn!(instance = instance_id, volume = %volume_id, error = %e, "detaching a volume failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Take every volume away (the instance is being removed).
    pub(super) async fn remove_volumes(&self, instance_id: &str) -> Result<()> {
        let pid = self.pid(instance_id).await?;
        for volume_id in self.volume_dirs(instance_id) {
            self.unplug_volume(instance_id, pid, &volume_id).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_cannot_leave_dev() {
        for good in ["/dev/sdf", "/dev/xvdba", "/dev/vdc"] {
            assert!(check_device(good).is_ok(), "{good}");
        }
        for bad in [
            "/dev/../etc/x",
            "/dev/",
            "sdf",
            "/dev/sd1",
            "/dev/a/b",
            "/dev/SDF",
            &format!("/dev/{}", "a".repeat(17)),
        ] {
            assert!(check_device(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_file_without_loop_has_none() {
        assert!(loops_of(Path::new("/nonexistent/disk")).is_empty());
    }
}
