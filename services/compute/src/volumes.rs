//! Instances' EBS volumes, owned by the block-storage service: which volumes are attached to
//! an instance (DescribeInstances' `blockDeviceMapping`), what its host must plug (with the
//! replicas' export credentials), and what the host reports plugged. Compute reaches the
//! block-storage service through [`InstanceVolumes`], which the composition root wires
//! (this crate does not depend on block storage's).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kumo_compute_protocol::VolumeAttachmentSpec;
use serde::{Deserialize, Serialize};
use sqlx::{Postgres, Transaction};

use crate::error::{ComputeError, Result};

/// One volume attached to an instance, as DescribeInstances shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BlockDevice {
    pub device_name: String,
    pub volume_id: String,
    /// `attaching`, `attached` or `detaching`.
    pub status: String,
    pub attach_time: DateTime<Utc>,
    pub delete_on_termination: bool,
}

/// The block-storage service, as compute uses it.
#[async_trait::async_trait]
pub trait InstanceVolumes: Send + Sync {
    /// The volumes attached to some of the account's instances, each instance's by device.
    async fn block_devices(
        &self,
        account_id: &str,
        instance_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<BlockDevice>>>;

    /// What the hosts of these instances must have plugged.
    async fn to_plug(
        &self,
        instance_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<VolumeAttachmentSpec>>>;

    /// An agent's observation: `plugged` are the volumes the instance's running VM has
    /// (`running`), or the instance is stopped or gone (`!running`, nothing plugged).
    async fn observed(&self, instance_id: &str, running: bool, plugged: &[String]) -> Result<()>;

    /// An agent's observation of the replicas of the running VM's volumes (which are in
    /// sync, failed or being rebuilt).
    async fn observed_replicas(
        &self,
        _instance_id: &str,
        _volumes: &[kumo_compute_protocol::ObservedVolume],
    ) -> Result<()> {
        Ok(())
    }

    /// The instance was terminated: its attachments end. Idempotent; in its transaction.
    async fn release(&self, tx: &mut Transaction<'_, Postgres>, instance_id: &str) -> Result<()>;

    /// Create `volumes` for the account's launching instance in `zone`, attached to it, in
    /// the launch's transaction.
    async fn create_for_launch(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        caller: &kumo_auth::Principal,
        instance_id: &str,
        zone: &str,
        volumes: &[LaunchVolume],
    ) -> Result<()>;

    /// Whether `zone` has a healthy storage node (a volume can be placed there).
    async fn zone_has_storage(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        zone: &str,
    ) -> Result<bool>;

    /// ModifyInstanceAttribute `BlockDeviceMapping`: delete the volume at `device` with the
    /// instance, or keep it.
    async fn set_delete_on_termination(
        &self,
        account_id: &str,
        instance_id: &str,
        device: &str,
        delete_on_termination: bool,
    ) -> Result<()>;
}

/// The root device name of EBS-backed instances (and images).
pub const ROOT_DEVICE_NAME: &str = "/dev/xvda";
/// Volumes a launch may add besides the root.
pub const MAX_LAUNCH_VOLUMES: usize = 24;

/// One volume the block-storage service creates for a launching instance, attached to it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchVolume {
    pub device: String,
    pub size_gib: Option<i64>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub snapshot_id: Option<String>,
    pub delete_on_termination: bool,
    /// The image disk it starts from (copy-on-write): the root volume's.
    pub source_disk: Option<String>,
    /// The instance boots from it.
    pub boot: bool,
}

/// RunInstances' `BlockDeviceMapping.N`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockDeviceMapping {
    pub device_name: String,
    /// Suppress the image's mapping at this device.
    #[serde(default)]
    pub no_device: bool,
    /// An instance store volume (`ephemeralN`): accepted and ignored (no instance store).
    #[serde(default)]
    pub virtual_name: Option<String>,
    #[serde(default)]
    pub ebs: Option<EbsMapping>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EbsMapping {
    #[serde(default)]
    pub volume_size: Option<i64>,
    #[serde(default)]
    pub volume_type: Option<String>,
    #[serde(default)]
    pub iops: Option<i64>,
    #[serde(default)]
    pub throughput: Option<i64>,
    /// True unless given.
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
    #[serde(default)]
    pub snapshot_id: Option<String>,
}

/// What a launch makes of its image and mappings: the root device (`None`: the instance
/// has no EBS root, its root is the image on the host) and the volumes to create.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchPlan {
    pub root_device_name: Option<String>,
    pub volumes: Vec<LaunchVolume>,
}

fn invalid_mapping(message: String) -> ComputeError {
    ComputeError::Invalid("InvalidBlockDeviceMapping", message)
}

/// The launch's volumes: the image's root (when it has a disk: `root_disk` is its path and
/// virtual size in bytes) adjusted by the mapping at the root device, then one empty (or
/// snapshot) volume per other `Ebs` mapping.
pub fn plan_launch(
    root_disk: Option<(&str, u64)>,
    mappings: &[BlockDeviceMapping],
) -> Result<LaunchPlan> {
    const GIB: u64 = 1 << 30;
    let mut plan = LaunchPlan::default();
    for (index, mapping) in mappings.iter().enumerate() {
        crate::validate::field("BlockDeviceMapping.DeviceName", &mapping.device_name, 64)?;
        if mappings[..index]
            .iter()
            .any(|m| m.device_name == mapping.device_name)
        {
            return Err(invalid_mapping(format!(
                "The device '{}' is mapped more than once",
                mapping.device_name
            )));
        }
    }
    if let Some((disk, bytes)) = root_disk {
        let image_gib = i64::try_from(bytes.div_ceil(GIB).max(1)).unwrap_or(i64::MAX);
        let mapping = mappings
            .iter()
            .find(|m| m.device_name == ROOT_DEVICE_NAME && !m.no_device);
        let ebs = mapping.and_then(|m| m.ebs.clone()).unwrap_or_default();
        if ebs.snapshot_id.is_some() {
            return Err(invalid_mapping(
                "The root device's snapshot is the image's: SnapshotId cannot be given for it"
                    .into(),
            ));
        }
        let size = match ebs.volume_size {
            Some(size) if size < image_gib => {
                return Err(invalid_mapping(format!(
                    "Volume of size {size}GB is smaller than the image's disk, expect size >= {image_gib}GB"
                )))
            }
            Some(size) => size,
            None => image_gib,
        };
        plan.root_device_name = Some(ROOT_DEVICE_NAME.into());
        plan.volumes.push(LaunchVolume {
            device: ROOT_DEVICE_NAME.into(),
            size_gib: Some(size),
            volume_type: ebs.volume_type,
            iops: ebs.iops,
            throughput: ebs.throughput,
            snapshot_id: None,
            delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
            source_disk: Some(disk.to_string()),
            boot: true,
        });
    }
    for mapping in mappings {
        // The root's mapping: applied above, or by `container_root` for a container image.
        let is_root = mapping.device_name == ROOT_DEVICE_NAME;
        if is_root || mapping.no_device || mapping.virtual_name.is_some() {
            continue;
        }
        let Some(ebs) = &mapping.ebs else { continue };
        plan.volumes.push(LaunchVolume {
            device: mapping.device_name.clone(),
            size_gib: ebs.volume_size,
            volume_type: ebs.volume_type.clone(),
            iops: ebs.iops,
            throughput: ebs.throughput,
            snapshot_id: ebs.snapshot_id.clone(),
            delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
            source_disk: None,
            boot: false,
        });
    }
    if plan.volumes.len() > MAX_LAUNCH_VOLUMES + 1 {
        return Err(invalid_mapping(format!(
            "At most {MAX_LAUNCH_VOLUMES} volumes can be mapped besides the root"
        )));
    }
    Ok(plan)
}

/// [`plan_launch`] for `image`: a VM image with a disk is EBS-backed when block storage is
/// wired (without it, as before, the host boots the image's disk itself).
pub fn plan_for_image(
    compute: &crate::Compute,
    image: &crate::images::Image,
    mappings: &[BlockDeviceMapping],
) -> Result<LaunchPlan> {
    if !image.block_devices.is_empty() {
        if compute.volumes.is_none() {
            return Err(ComputeError::invalid("EBS images need block storage"));
        }
        return crate::ebs_images::plan_launch(image, mappings);
    }
    let root = match (&image.disk, image.kind, &compute.volumes) {
        (Some(disk), kumo_compute_protocol::InstanceKind::Vm, Some(_)) => {
            let bytes = crate::image_import::disk_virtual_size(std::path::Path::new(disk))?;
            Some((disk.as_str(), bytes))
        }
        _ => None,
    };
    let mut plan = plan_launch(root, mappings)?;
    if image.kind == kumo_compute_protocol::InstanceKind::Container && compute.volumes.is_some() {
        if let Some(root) = container_root(mappings) {
            plan.root_device_name = Some(ROOT_DEVICE_NAME.into());
            plan.volumes.insert(0, root);
        }
    }
    Ok(plan)
}

/// A container image's root is the host's copy of its rootfs (instance store) unless the
/// root device is mapped to an EBS volume with a size or a snapshot: then the container
/// boots from that volume (an empty one is made the image's file system by the host at
/// the first boot). A root mapping with neither stays ignored, as before containers had
/// EBS roots (Terraform's `root_block_device` maps `/dev/xvda` whatever the image).
fn container_root(mappings: &[BlockDeviceMapping]) -> Option<LaunchVolume> {
    let ebs = mappings
        .iter()
        .find(|m| m.device_name == ROOT_DEVICE_NAME && !m.no_device)?
        .ebs
        .as_ref()
        .filter(|ebs| ebs.volume_size.is_some() || ebs.snapshot_id.is_some())?;
    Some(LaunchVolume {
        device: ROOT_DEVICE_NAME.into(),
        size_gib: ebs.volume_size,
        volume_type: ebs.volume_type.clone(),
        iops: ebs.iops,
        throughput: ebs.throughput,
        snapshot_id: ebs.snapshot_id.clone(),
        delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
        source_disk: None,
        boot: true,
    })
}

/// The plan for one instance placed in `zone`: an image's root that no mapping asked for
/// falls back to the host's copy of the image (instance store, as before EBS roots) where
/// the zone has no healthy storage node, so a cloud without block storage still runs VMs.
/// Anything mapped explicitly must be placed (else `InsufficientVolumeCapacity`).
pub async fn plan_in_zone(
    compute: &crate::Compute,
    tx: &mut Transaction<'_, Postgres>,
    plan: &LaunchPlan,
    mappings: &[BlockDeviceMapping],
    zone: &str,
) -> Result<LaunchPlan> {
    let Some(volumes) = &compute.volumes else {
        return Ok(plan.clone());
    };
    let root_mapped = mappings
        .iter()
        .any(|m| m.device_name == ROOT_DEVICE_NAME && m.ebs.is_some() && !m.no_device);
    // A root from a snapshot (an EBS image's) has no copy on the host to fall back to.
    let root_from_snapshot = plan
        .volumes
        .iter()
        .any(|v| v.boot && v.source_disk.is_none());
    if plan.root_device_name.is_none()
        || root_mapped
        || root_from_snapshot
        || volumes.zone_has_storage(tx, zone).await?
    {
        return Ok(plan.clone());
    }
    Ok(LaunchPlan {
        root_device_name: None,
        volumes: plan.volumes.iter().filter(|v| !v.boot).cloned().collect(),
    })
}
