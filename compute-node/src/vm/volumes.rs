//! Hot-plugging EBS volumes into a running VM over QMP.
//!
//! A volume's replicas are NBD exports on storage nodes, each with its own TLS-PSK key.
//! For each replica in slot `i` (see `replicas.rs`) the VM gets a `tls-creds-psk` object
//! `tls<i>-<vol>` (endpoint client, `username` the PSK identity, its `keys.psk` in
//! `<instance dir>/volumes/<vol>/<i>/`, mode 0600) and an `nbd` block node `n<i>-<vol>`
//! (with `reconnect-delay`, so a storage node that restarts is reconnected to). A `quorum`
//! node `q-<vol>` (vote-threshold 1, `read-pattern=fifo`) always stands over them, even
//! over one: every write goes to every child and succeeds while one does, so one lost
//! storage node does not stop the guest, and children come and go at run time (a failed
//! one out, a rebuilt one in: `replicas.rs`). Only in-sync replicas join at plug time. The
//! disk is a `virtio-blk-pci` device whose QOM id is the volume id and whose serial is the
//! volume id without its dash (`vol0123…`, virtio-blk serials hold 20 bytes).
//!
//! What a VM has is read back from QEMU (`qom-list /machine/peripheral`,
//! `query-named-block-nodes`, the block graph and jobs) and the slots file: a restarted
//! agent adopts the volumes, and a restarted QEMU gets them again at the next pass.
//!
//! Removal is guest-cooperative: `device_del`, and once the device is gone (a later pass
//! when the guest takes its time) a rebuild under way, the block nodes, the TLS objects
//! and the key files.

use std::collections::BTreeSet;
use std::path::PathBuf;

use kumo_common::ids::VolumeId;
use kumo_compute_protocol::VolumeAttachmentSpec;
use serde_json::{json, Value};

use super::VmRuntime;
use crate::block_nodes::{check_replicas, quorum_node, replica_node, tls_object, MAX_REPLICAS};
use crate::error::{NodeError, Result};

/// Where QEMU lists the devices added by id.
const PERIPHERALS: &str = "/machine/peripheral";

/// The virtio-blk serial of a volume (`vol-0123…` → `vol0123…`, at most 20 bytes).
pub fn volume_serial(volume_id: &str) -> String {
    volume_id.replace('-', "").chars().take(20).collect()
}

/// Ignore QMP's answer for something already there (an interrupted plug left it).
pub(super) fn tolerate_existing(result: Result<Value>) -> Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(NodeError::Qmp(m))
            if m.contains("Duplicate") || m.contains("duplicate") || m.contains("already") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Ignore QMP's answer for something already gone.
pub(super) fn tolerate_missing(result: Result<Value>) -> Result<()> {
    match result {
        Ok(_) => Ok(()),
        Err(NodeError::Qmp(m))
            if m.contains("DeviceNotFound")
                || m.contains("not found")
                || m.contains("Cannot find")
                || m.contains("in the process of unplug") =>
        {
            Ok(())
        }
        Err(e) => Err(e),
    }
}

impl VmRuntime {
    pub(super) fn volume_dir(&self, instance_id: &str, volume_id: &str) -> PathBuf {
        self.instance_dir(instance_id)
            .join("volumes")
            .join(volume_id)
    }

    /// The volumes whose disk device the running VM has (device ids that are volume ids).
    pub async fn plugged_volumes(&self, instance_id: &str) -> Result<BTreeSet<String>> {
        let mut qmp = self.connect_qmp(instance_id).await?;
        let children = qmp
            .execute("qom-list", Some(json!({ "path": PERIPHERALS })))
            .await?;
        Ok(children
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .filter(|name| VolumeId::parse(name).is_ok())
            .map(str::to_string)
            .collect())
    }

    /// The volumes some block node of the running VM belongs to (ours are named
    /// `n<i>-<vol>` and `q-<vol>`).
    async fn volume_nodes(&self, instance_id: &str) -> Result<BTreeSet<String>> {
        let mut qmp = self.connect_qmp(instance_id).await?;
        let nodes = qmp
            .execute("query-named-block-nodes", Some(json!({ "flat": true })))
            .await?;
        Ok(nodes
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.get("node-name").and_then(Value::as_str))
            .filter_map(|name| name.split_once('-').map(|(_, vol)| vol))
            .filter(|vol| VolumeId::parse(vol).is_ok())
            .map(str::to_string)
            .collect())
    }

    /// Plug `volume` into the running VM (each step kept if already done).
    pub async fn plug_volume(
        &self,
        instance_id: &str,
        volume: &VolumeAttachmentSpec,
    ) -> Result<()> {
        let volume_id = volume.volume_id.as_str();
        VolumeId::parse(volume_id)?;
        check_replicas(volume_id, &volume.replicas)?;
        if !self.volume_nodes(instance_id).await?.contains(volume_id) {
            // Nothing of it in this QEMU: slots from an earlier one mean nothing.
            let dir = self.volume_dir(instance_id, volume_id);
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
        }
        let mut qmp = self.connect_qmp(instance_id).await?;
        self.plug_quorum(&mut qmp, instance_id, volume).await?;
        let top = quorum_node(volume_id);
        tolerate_existing(
            qmp.execute(
                "device_add",
                Some(json!({
                    "driver": "virtio-blk-pci",
                    "id": volume_id,
                    "drive": top,
                    "serial": volume_serial(volume_id),
                })),
            )
            .await,
        )?;
        tracing::info!(
            instance = instance_id,
            volume = volume_id,
            replicas = volume.replicas.iter().filter(|r| r.in_sync).count(),
            "hot-plugged a volume"
        );
        Ok(())
    }

    /// Ask the guest to release the volume's disk; once it has, delete its block nodes,
    /// TLS objects and keys. Returns whether the volume is wholly gone from the VM.
    pub async fn unplug_volume(&self, instance_id: &str, volume_id: &str) -> Result<bool> {
        VolumeId::parse(volume_id)?;
        if self.started_boot_volume(instance_id)?.as_deref() == Some(volume_id) {
            // Its root file system: never unplugged while the VM runs (boot.rs).
            tracing::debug!(
                instance = instance_id,
                volume = volume_id,
                "not unplugging the root volume"
            );
            return Ok(false);
        }
        if self.plugged_volumes(instance_id).await?.contains(volume_id) {
            let mut qmp = self.connect_qmp(instance_id).await?;
            tolerate_missing(
                qmp.execute("device_del", Some(json!({ "id": volume_id })))
                    .await,
            )?;
            if self.plugged_volumes(instance_id).await?.contains(volume_id) {
                // The guest has not let go yet: the next pass finishes.
                return Ok(false);
            }
        }
        let mut qmp = self.connect_qmp(instance_id).await?;
        self.drop_rebuild(&mut qmp, volume_id).await?;
        tolerate_missing(
            qmp.execute(
                "blockdev-del",
                Some(json!({ "node-name": quorum_node(volume_id) })),
            )
            .await,
        )?;
        for i in 0..MAX_REPLICAS {
            tolerate_missing(
                qmp.execute(
                    "blockdev-del",
                    Some(json!({ "node-name": replica_node(i, volume_id) })),
                )
                .await,
            )?;
            tolerate_missing(
                qmp.execute(
                    "object-del",
                    Some(json!({ "id": tls_object(i, volume_id) })),
                )
                .await,
            )?;
        }
        let dir = self.volume_dir(instance_id, volume_id);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        tracing::info!(
            instance = instance_id,
            volume = volume_id,
            "unplugged a volume"
        );
        Ok(true)
    }

    /// Make the running VM's volumes those of `volumes`: plug the missing, unplug the
    /// others. Every volume is tried; the first error is returned.
    pub async fn converge_volumes(
        &self,
        instance_id: &str,
        volumes: &[VolumeAttachmentSpec],
    ) -> Result<()> {
        let plugged = self.plugged_volumes(instance_id).await?;
        let leftovers = self.volume_nodes(instance_id).await?;
        let wanted: BTreeSet<&str> = volumes.iter().map(|v| v.volume_id.as_str()).collect();
        let mut first_error = None;
        if !volumes.is_empty() {
            self.ensure_event_listener(instance_id).await;
        }
        for volume in volumes {
            if plugged.contains(&volume.volume_id) {
                if let Err(e) = self.sync_replicas(instance_id, volume).await {
                    tracing::warn!(instance = instance_id, volume = %volume.volume_id, error = %e, "syncing a volume's replicas failed");
                    first_error.get_or_insert(e);
                }
                continue;
            }
            if let Err(e) = self.plug_volume(instance_id, volume).await {
                tracing::warn!(instance = instance_id, volume = %volume.volume_id, error = %e, "plugging a volume failed");
                first_error.get_or_insert(e);
            }
        }
        for volume_id in plugged.union(&leftovers) {
            if wanted.contains(volume_id.as_str()) {
                continue;
            }
            if let Err(e) = self.unplug_volume(instance_id, volume_id).await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_is_the_id_without_dash() {
        assert_eq!(
            volume_serial("vol-0123456789abcdef0"),
            "vol0123456789abcdef0"
        );
        assert_eq!(volume_serial("vol-0123456789abcdef0").len(), 20);
    }
}
