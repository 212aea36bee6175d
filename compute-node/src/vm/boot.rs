//! EBS-backed VMs: the root file system is an attached volume (`boot: true` in the spec).
//!
//! QEMU starts paused (`-S`) without a local disk; the volumes (the boot one included) are
//! plugged over QMP as hot-plugged ones are (`volumes.rs`), and only then does the guest
//! run (`cont`), so its kernel finds the root disk at boot. The kernel command line names
//! the disk by its virtio serial (`kumo.root=<serial>`): the image's initramfs mounts it
//! and switches to it. The boot volume is never unplugged while the VM runs.

use kumo_compute_protocol::{InstanceSpec, VolumeAttachmentSpec};

use super::process::wait_gone;
use super::{VmRuntime, QUIT_WAIT};
use crate::error::{NodeError, Result};

/// The volume the instance boots from, if it is EBS-backed.
pub fn boot_volume(spec: &InstanceSpec) -> Option<&VolumeAttachmentSpec> {
    spec.volumes.iter().find(|v| v.boot)
}

/// A spec's boot volumes are sound: at most one, with a replica to read.
pub(super) fn check_boot_volume(spec: &InstanceSpec) -> Result<()> {
    let boot: Vec<&VolumeAttachmentSpec> = spec.volumes.iter().filter(|v| v.boot).collect();
    match boot.as_slice() {
        [] => Ok(()),
        [root] if root.replicas.is_empty() => Err(NodeError::InvalidSpec(format!(
            "{}: root volume {} has no ready replica",
            spec.instance_id, root.volume_id
        ))),
        [_] => Ok(()),
        _ => Err(NodeError::InvalidSpec(format!(
            "{}: {} boot volumes",
            spec.instance_id,
            boot.len()
        ))),
    }
}

impl VmRuntime {
    /// The root volume the instance's running QEMU was started with (from `spec.json`).
    pub fn started_boot_volume(&self, instance_id: &str) -> Result<Option<String>> {
        Ok(self
            .load_spec(instance_id)?
            .and_then(|spec| boot_volume(&spec).map(|v| v.volume_id.clone())))
    }

    /// A QEMU started paused (`-S`, prelaunch): plug the spec's volumes, then run the
    /// guest.
    pub(super) async fn plug_volumes_and_run(&self, spec: &InstanceSpec) -> Result<()> {
        let id = spec.instance_id.as_str();
        self.converge_volumes(id, &spec.volumes).await?;
        self.qmp(id, "cont").await?;
        tracing::info!(
            instance = id,
            root = boot_volume(spec).map(|v| v.volume_id.as_str()),
            volumes = spec.volumes.len(),
            "volumes plugged before boot; guest running"
        );
        Ok(())
    }

    /// After a failed boot plug: the paused QEMU goes (it never ran a guest).
    pub(super) async fn quit_unbooted(&self, instance_id: &str) -> Result<()> {
        if let Err(e) = self.qmp(instance_id, "quit").await {
            tracing::debug!(instance = instance_id, error = %e, "QMP quit");
        }
        if let Some(process) = self.running(instance_id) {
            wait_gone(process, QUIT_WAIT).await;
        }
        self.stop_locked(instance_id).await
    }
}
