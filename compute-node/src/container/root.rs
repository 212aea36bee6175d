//! A container's EBS root volume (a spec volume with `boot: true`): its file system is the
//! container's `/`.
//!
//! The volume is plugged as an attached one is ([`super::volumes`]: a local
//! `qemu-storage-daemon` over the replicas, FUSE export, loop device), under
//! `<instance dir>/root/<vol>/`, but never shown inside the container as a device: the loop
//! is mounted on the host at `<instance dir>/rootfs`, the bundle's root, before runc runs.
//! A volume without a file system (a new, empty root) is first made an ext4 holding the
//! image's rootfs tarball (`mkfs.ext4 -d`, which writes the superblock last: an
//! interrupted first boot leaves no file system and is redone). A root from a snapshot, or
//! one that booted before, keeps its file system and data.
//!
//! Stop: after the container is gone, the mount, the loop and the daemon are released, so
//! the instance can start on any host. The root is never unplugged while the container
//! runs.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use kumo_common::ids::VolumeId;
use kumo_compute_protocol::{InstanceSpec, VolumeAttachmentSpec};

use super::volumes::{ensure_loop, find_daemon, path_str, release_loop, VolumePaths};
use super::{extract_image, ContainerRuntime};
use crate::block_nodes::check_replicas;
use crate::error::{run, NodeError, Result};

/// The instance directory's subdirectory holding the root volume's daemon files.
const ROOT_DIR: &str = "root";
/// Where the image's rootfs is unpacked before `mkfs.ext4 -d` copies it in.
const IMAGE_DIR: &str = "rootfs.image";

/// Whether `path` is a mount point (another file system than its parent's).
fn is_mount_point(path: &Path) -> bool {
    let (Ok(inner), Some(Ok(outer))) = (
        std::fs::metadata(path),
        path.parent().map(std::fs::metadata),
    ) else {
        return false;
    };
    inner.dev() != outer.dev()
}

/// Whether the block device holds a file system (any kind `blkid` knows).
async fn has_filesystem(device: &Path) -> Result<bool> {
    let output = tokio::process::Command::new("blkid")
        .arg("-p")
        .arg(device)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| NodeError::Command {
            command: format!("blkid -p {}", device.display()),
            message: e.to_string(),
        })?;
    match output.status.code() {
        Some(0) => Ok(true),
        // blkid: 2 = nothing found.
        Some(2) => Ok(false),
        _ => Err(NodeError::Command {
            command: format!("blkid -p {}", device.display()),
            message: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        }),
    }
}

impl ContainerRuntime {
    fn root_paths(&self, instance_id: &str, volume_id: &str) -> Result<VolumePaths> {
        VolumeId::parse(volume_id)?;
        let dir = self.instance_dir(instance_id).join(ROOT_DIR);
        std::fs::create_dir_all(&dir)?;
        // Sysfs names loop backing files by their canonical path.
        Ok(VolumePaths::new(&std::fs::canonicalize(dir)?, volume_id))
    }

    /// The root volume with a directory under the instance's, if any.
    fn root_volume(&self, instance_id: &str) -> Option<String> {
        let entries = std::fs::read_dir(self.instance_dir(instance_id).join(ROOT_DIR)).ok()?;
        entries
            .flatten()
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .find(|name| VolumeId::parse(name).is_ok())
    }

    /// The root volume, when its file system is mounted as the rootfs over a live daemon.
    pub(super) fn mounted_root(&self, instance_id: &str) -> Result<Option<String>> {
        let Some(volume_id) = self.root_volume(instance_id) else {
            return Ok(None);
        };
        let paths = self.root_paths(instance_id, &volume_id)?;
        let rootfs = self.instance_dir(instance_id).join("rootfs");
        Ok((find_daemon(&paths).is_some() && is_mount_point(&rootfs)).then_some(volume_id))
    }

    /// Plug the root volume and mount its file system at `<dir>/rootfs` (made from the
    /// image's rootfs on the first boot). Each step kept if already done.
    pub(super) async fn mount_root(
        &self,
        spec: &InstanceSpec,
        dir: &Path,
        root: &VolumeAttachmentSpec,
    ) -> Result<PathBuf> {
        let id = spec.instance_id.as_str();
        let volume_id = root.volume_id.as_str();
        check_replicas(volume_id, &root.replicas)?;
        if let Some(other) = self.root_volume(id).filter(|v| v != volume_id) {
            return Err(NodeError::InvalidSpec(format!(
                "{id}: root volume {volume_id}, but {other} is still plugged as its root"
            )));
        }
        let rootfs = dir.join("rootfs");
        if self.mounted_root(id)?.is_some() {
            return Ok(rootfs);
        }
        if is_mount_point(&rootfs) {
            // Over a dead daemon: nothing can be read through it any more.
            run("umount", &["-l", path_str(&rootfs)?]).await?;
        }
        let paths = self.root_paths(id, volume_id)?;
        let (loop_device, _) = ensure_loop(&paths, root).await?;
        if !has_filesystem(&loop_device).await? {
            let image = dir.join(IMAGE_DIR);
            extract_image(spec, dir, &image).await?;
            run(
                "mkfs.ext4",
                &[
                    "-q",
                    "-F",
                    "-E",
                    "lazy_itable_init=1,lazy_journal_init=1,nodiscard",
                    "-d",
                    path_str(&image)?,
                    path_str(&loop_device)?,
                ],
            )
            .await?;
            tokio::fs::remove_dir_all(&image).await?;
            tracing::info!(
                instance = id,
                volume = volume_id,
                "made the root file system"
            );
        }
        tokio::fs::create_dir_all(&rootfs).await?;
        run("mount", &[path_str(&loop_device)?, path_str(&rootfs)?]).await?;
        tracing::info!(
            instance = id,
            volume = volume_id,
            loop_device = %loop_device.display(),
            replicas = root.replicas.len(),
            "mounted the root volume"
        );
        Ok(rootfs)
    }

    /// Refuse to go on while the instance's rootfs is still a mounted volume (removing the
    /// instance directory would delete the volume's files).
    pub(super) fn check_root_unmounted(&self, instance_id: &str) -> Result<()> {
        let rootfs = self.instance_dir(instance_id).join("rootfs");
        if is_mount_point(&rootfs) {
            return Err(NodeError::Other(format!(
                "{instance_id}: its root volume is still mounted at {}",
                rootfs.display()
            )));
        }
        Ok(())
    }

    /// The container is gone: unmount its root, release the loop and the daemon. Fine if
    /// the instance has no root volume (or half of one).
    pub(super) async fn release_root(&self, instance_id: &str) -> Result<()> {
        let Some(volume_id) = self.root_volume(instance_id) else {
            return Ok(());
        };
        let rootfs = self.instance_dir(instance_id).join("rootfs");
        if is_mount_point(&rootfs) {
            run("umount", &[path_str(&rootfs)?]).await?;
        }
        let paths = self.root_paths(instance_id, &volume_id)?;
        release_loop(&paths).await?;
        std::fs::remove_dir_all(&paths.dir)?;
        tracing::info!(
            instance = instance_id,
            volume = volume_id,
            "released the root volume"
        );
        Ok(())
    }
}
