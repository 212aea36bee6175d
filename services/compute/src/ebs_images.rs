//! EBS images: `CreateImage` snapshots every EBS volume of an EBS-backed VM and registers an
//! image whose block device mapping names those snapshots (`pending` until they are
//! completed, then `available`; `failed` when one errors); `RegisterImage` with a root
//! snapshot registers one from the caller's completed snapshots. Both keep a kernel and
//! initramfs (direct kernel boot): the source instance's image's, or for RegisterImage the
//! default VM image's (or `KernelId`'s). Launching one creates its volumes from the
//! snapshots (block storage's restore path) and boots from the root one, as any EBS root.
//! Compute reaches block storage's snapshots through [`ImageSnapshots`] (wired by the
//! gateway; this crate does not depend on block storage's).

use std::collections::BTreeMap;

use kumo_auth::Principal;
use kumo_common::ids::ImageId;
use kumo_compute_protocol::InstanceKind;

use crate::error::{ComputeError, Result};
use crate::images::{self, Image};
use crate::volumes::{BlockDeviceMapping, LaunchPlan, LaunchVolume, ROOT_DEVICE_NAME};
use crate::{require_write, Compute};

/// The default VM image RegisterImage borrows its kernel from (deploy/build-images.sh).
pub const DEFAULT_KERNEL_IMAGE: &str = "kumo-busybox-vm";
/// A new image's volumes' type unless the mapping says otherwise (the root volume's type
/// of RunInstances).
const DEFAULT_VOLUME_TYPE: &str = "gp3";

/// One device of an EBS image's mapping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBlockDevice {
    pub device_name: String,
    /// `None`: an empty volume of its size.
    pub snapshot_id: Option<String>,
    pub volume_size_gib: i64,
    pub volume_type: String,
    pub delete_on_termination: bool,
}

/// An image's mapping as the image query reads it (one array per column, by device).
#[derive(Debug, Clone, Default, sqlx::FromRow)]
pub struct ImageBlockDevices {
    bd_devices: Vec<String>,
    bd_snapshots: Vec<String>,
    bd_sizes: Vec<i64>,
    bd_types: Vec<String>,
    bd_delete: Vec<bool>,
}

impl ImageBlockDevices {
    pub fn is_empty(&self) -> bool {
        self.bd_devices.is_empty()
    }

    /// The devices, in device name order.
    pub fn list(&self) -> Vec<ImageBlockDevice> {
        (0..self.bd_devices.len())
            .map(|i| ImageBlockDevice {
                device_name: self.bd_devices[i].clone(),
                snapshot_id: self.bd_snapshots.get(i).filter(|s| !s.is_empty()).cloned(),
                volume_size_gib: self.bd_sizes.get(i).copied().unwrap_or(1),
                volume_type: self.bd_types.get(i).cloned().unwrap_or_default(),
                delete_on_termination: self.bd_delete.get(i).copied().unwrap_or(true),
            })
            .collect()
    }
}

/// A snapshot taken for an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeSnapshot {
    pub snapshot_id: String,
    pub volume_size_gib: i64,
    pub volume_type: String,
}

/// Block storage's snapshots, as EBS images use them.
#[async_trait::async_trait]
pub trait ImageSnapshots: Send + Sync {
    /// CreateSnapshot of the caller's volume (with these tags).
    async fn snapshot_volume(
        &self,
        caller: &Principal,
        volume_id: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<VolumeSnapshot>;

    /// The caller's completed snapshot's size (`InvalidSnapshot.NotFound`, `IncorrectState`).
    async fn completed_snapshot(&self, caller: &Principal, snapshot_id: &str) -> Result<i64>;

    /// The states of these snapshots (`pending`, `completed`, `error`); a deleted one is
    /// absent.
    async fn snapshot_states(&self, snapshot_ids: &[String]) -> Result<BTreeMap<String, String>>;
}

fn snapshots(compute: &Compute) -> Result<&dyn ImageSnapshots> {
    compute.image_snapshots.as_deref().ok_or_else(|| {
        ComputeError::invalid("EBS images are not available: this cloud has no block storage")
    })
}

fn invalid_mapping(message: String) -> ComputeError {
    ComputeError::Invalid("InvalidBlockDeviceMapping", message)
}

/// CreateImage's input.
#[derive(Debug, Clone, Default)]
pub struct CreateImage {
    pub instance_id: String,
    pub name: String,
    pub description: String,
    /// Accepted: Kumo never reboots the instance (its snapshots are crash-consistent).
    pub no_reboot: bool,
    pub mappings: Vec<BlockDeviceMapping>,
    pub image_tags: Vec<(String, String)>,
    pub snapshot_tags: Vec<(String, String)>,
}

/// CreateImage: snapshot each EBS volume of the caller's running or stopped EBS-backed VM
/// and register a `pending` image mapping them. Returns the image id.
pub async fn create_image(
    compute: &Compute,
    caller: &Principal,
    input: &CreateImage,
) -> Result<String> {
    require_write(caller)?;
    images::check_name_and_description(&input.name, &input.description)?;
    crate::tags::validate(&input.image_tags)?;
    crate::tags::validate(&input.snapshot_tags)?;
    let store = snapshots(compute)?;
    let instance = crate::instances::get(compute, caller, &input.instance_id).await?;
    if instance.kind != InstanceKind::Vm || instance.root_device_name.is_none() {
        return Err(ComputeError::invalid(format!(
            "The instance '{}' is not EBS-backed: only an EBS-backed VM can be imaged",
            input.instance_id
        )));
    }
    if !matches!(instance.state.as_str(), "running" | "stopped") {
        return Err(ComputeError::IncorrectState(format!(
            "The instance '{}' is not in a state from which it can be imaged.",
            input.instance_id
        )));
    }
    let source = images::by_id(&compute.pool, &instance.image_id).await?;
    if source.kernel.is_none() {
        return Err(ComputeError::invalid(format!(
            "The instance '{}' was not launched from a kernel image: Kumo's EBS images boot a kernel and initramfs",
            input.instance_id
        )));
    }
    if images::name_taken(&compute.pool, &caller.account_id, &input.name).await? {
        return Err(images::duplicate_name(&input.name));
    }
    for mapping in &input.mappings {
        let known = instance
            .block_devices
            .iter()
            .any(|d| d.device_name == mapping.device_name);
        if !known && !mapping.no_device {
            return Err(invalid_mapping(format!(
                "The device '{}' is not mapped on the instance",
                mapping.device_name
            )));
        }
    }
    let image_id = ImageId::generate().into_string();
    let mut devices = Vec::new();
    for device in &instance.block_devices {
        let mapping = input
            .mappings
            .iter()
            .find(|m| m.device_name == device.device_name);
        if mapping.is_some_and(|m| m.no_device) {
            if device.device_name == ROOT_DEVICE_NAME {
                return Err(invalid_mapping("The root device cannot be NoDevice".into()));
            }
            continue;
        }
        let ebs = mapping.and_then(|m| m.ebs.clone()).unwrap_or_default();
        let description = format!(
            "Created by CreateImage({}) for {image_id} from {}",
            input.instance_id, device.volume_id
        );
        let snapshot = store
            .snapshot_volume(
                caller,
                &device.volume_id,
                &description,
                &input.snapshot_tags,
            )
            .await?;
        let size = match ebs.volume_size {
            Some(size) if size < snapshot.volume_size_gib => {
                return Err(invalid_mapping(format!(
                    "Volume of size {size}GB is smaller than snapshot '{}', expect size >= {}GB",
                    snapshot.snapshot_id, snapshot.volume_size_gib
                )))
            }
            Some(size) => size,
            None => snapshot.volume_size_gib,
        };
        devices.push(ImageBlockDevice {
            device_name: device.device_name.clone(),
            snapshot_id: Some(snapshot.snapshot_id),
            volume_size_gib: size,
            volume_type: ebs.volume_type.unwrap_or(snapshot.volume_type),
            delete_on_termination: ebs
                .delete_on_termination
                .unwrap_or(device.delete_on_termination),
        });
    }
    insert(
        compute,
        caller,
        &image_id,
        &input.name,
        &input.description,
        &source,
        ("pending", Some(input.instance_id.as_str())),
        &devices,
        &input.image_tags,
    )
    .await?;
    refresh_pending(compute, &caller.account_id).await?;
    Ok(image_id)
}

/// RegisterImage with a root device and snapshots.
#[derive(Debug, Clone, Default)]
pub struct RegisterEbsImage {
    pub name: String,
    pub description: String,
    pub root_device_name: String,
    pub mappings: Vec<BlockDeviceMapping>,
    /// An image (the caller may launch) whose kernel and initramfs to boot; the default VM
    /// image's unless given.
    pub kernel_image_id: Option<String>,
    pub tags: Vec<(String, String)>,
}

/// RegisterImage of an EBS image: the root device's mapping names the caller's completed
/// snapshot; the image is `available` at once.
pub async fn register(
    compute: &Compute,
    caller: &Principal,
    input: &RegisterEbsImage,
) -> Result<String> {
    require_write(caller)?;
    images::check_name_and_description(&input.name, &input.description)?;
    crate::tags::validate(&input.tags)?;
    let store = snapshots(compute)?;
    if input.root_device_name != ROOT_DEVICE_NAME {
        return Err(ComputeError::invalid(format!(
            "Invalid value '{}' for RootDeviceName: Kumo's EBS images boot from {ROOT_DEVICE_NAME}",
            input.root_device_name
        )));
    }
    // Field checks and duplicate devices, as a launch's mapping.
    crate::volumes::plan_launch(None, &input.mappings)?;
    let root = input
        .mappings
        .iter()
        .find(|m| m.device_name == ROOT_DEVICE_NAME && !m.no_device)
        .and_then(|m| m.ebs.as_ref())
        .filter(|ebs| ebs.snapshot_id.is_some());
    if root.is_none() {
        return Err(invalid_mapping(format!(
            "The root device {ROOT_DEVICE_NAME} must be mapped to a snapshot (BlockDeviceMapping.N.Ebs.SnapshotId)"
        )));
    }
    let source = match &input.kernel_image_id {
        Some(id) => images::get_launchable(&compute.pool, caller, id).await?,
        None => default_kernel_image(compute).await?,
    };
    if source.kernel.is_none() || source.initramfs.is_none() {
        return Err(ComputeError::invalid(format!(
            "Invalid value '{}' for KernelId: that image has no kernel",
            source.image_id
        )));
    }
    if images::name_taken(&compute.pool, &caller.account_id, &input.name).await? {
        return Err(images::duplicate_name(&input.name));
    }
    let mut devices = Vec::new();
    for mapping in &input.mappings {
        let Some(ebs) = mapping.ebs.as_ref().filter(|_| !mapping.no_device) else {
            continue;
        };
        let snapshot_size = match &ebs.snapshot_id {
            Some(id) => Some(store.completed_snapshot(caller, id).await?),
            None => None,
        };
        let size = match (ebs.volume_size, snapshot_size) {
            (Some(size), Some(min)) if size < min => {
                return Err(invalid_mapping(format!(
                    "Volume of size {size}GB is smaller than snapshot '{}', expect size >= {min}GB",
                    ebs.snapshot_id.as_deref().unwrap_or_default()
                )))
            }
            (Some(size), _) => size,
            (None, Some(min)) => min,
            (None, None) => {
                return Err(invalid_mapping(format!(
                    "The device '{}' needs Ebs.SnapshotId or Ebs.VolumeSize",
                    mapping.device_name
                )))
            }
        };
        devices.push(ImageBlockDevice {
            device_name: mapping.device_name.clone(),
            snapshot_id: ebs.snapshot_id.clone(),
            volume_size_gib: size,
            volume_type: ebs
                .volume_type
                .clone()
                .unwrap_or_else(|| DEFAULT_VOLUME_TYPE.into()),
            delete_on_termination: ebs.delete_on_termination.unwrap_or(true),
        });
    }
    let image_id = ImageId::generate().into_string();
    insert(
        compute,
        caller,
        &image_id,
        &input.name,
        &input.description,
        &source,
        ("available", None),
        &devices,
        &input.tags,
    )
    .await?;
    Ok(image_id)
}

async fn default_kernel_image(compute: &Compute) -> Result<Image> {
    sqlx::query_as::<_, Image>(&format!(
        "SELECT {} FROM compute.images
         WHERE is_public AND name = $1 AND state = 'available' AND kernel IS NOT NULL
         ORDER BY created_at LIMIT 1",
        images::COLUMNS
    ))
    .bind(DEFAULT_KERNEL_IMAGE)
    .fetch_optional(&compute.pool)
    .await?
    .ok_or_else(|| {
        ComputeError::invalid(format!(
            "No default kernel image ({DEFAULT_KERNEL_IMAGE}) is registered: give KernelId"
        ))
    })
}

#[allow(clippy::too_many_arguments)]
async fn insert(
    compute: &Compute,
    caller: &Principal,
    image_id: &str,
    name: &str,
    description: &str,
    kernel_from: &Image,
    (state, source_instance_id): (&str, Option<&str>),
    devices: &[ImageBlockDevice],
    tags: &[(String, String)],
) -> Result<()> {
    let mut tx = compute.pool.begin().await?;
    sqlx::query(
        "INSERT INTO compute.images
             (image_id, account_id, name, description, kind, kernel, initramfs, state, source_instance_id)
         VALUES ($1, $2, $3, $4, 'vm', $5, $6, $7, $8)",
    )
    .bind(image_id)
    .bind(&caller.account_id)
    .bind(name)
    .bind(description)
    .bind(&kernel_from.kernel)
    .bind(&kernel_from.initramfs)
    .bind(state)
    .bind(source_instance_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => images::duplicate_name(name),
        other => other.into(),
    })?;
    for device in devices {
        sqlx::query(
            "INSERT INTO compute.image_block_devices
                 (image_id, device_name, snapshot_id, volume_size_gib, volume_type, delete_on_termination)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(image_id)
        .bind(&device.device_name)
        .bind(&device.snapshot_id)
        .bind(device.volume_size_gib)
        .bind(&device.volume_type)
        .bind(device.delete_on_termination)
        .execute(&mut *tx)
        .await?;
    }
    kumo_tags::put(&mut *tx, &caller.account_id, image_id, tags).await?;
    tx.commit().await?;
    Ok(())
}

/// [`refresh_pending`] where block storage is wired (else no image is pending): before
/// an image is described or launched.
pub async fn refresh(compute: &Compute, account_id: &str) -> Result<()> {
    if compute.image_snapshots.is_none() {
        return Ok(());
    }
    refresh_pending(compute, account_id).await
}

/// Move the account's `pending` images on: `available` once every snapshot is completed,
/// `failed` when one errored or is gone.
pub async fn refresh_pending(compute: &Compute, account_id: &str) -> Result<()> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.image_id, d.snapshot_id FROM compute.image_block_devices d
         JOIN compute.images i USING (image_id)
         WHERE i.state = 'pending' AND i.account_id = $1 AND d.snapshot_id IS NOT NULL",
    )
    .bind(account_id)
    .fetch_all(&compute.pool)
    .await?;
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<String> = rows.iter().map(|(_, s)| s.clone()).collect();
    let states = snapshots(compute)?.snapshot_states(&ids).await?;
    let mut verdicts: BTreeMap<&str, &str> = BTreeMap::new();
    for (image_id, snapshot_id) in &rows {
        let verdict = match states.get(snapshot_id).map(String::as_str) {
            Some("completed") => "available",
            Some("pending") => "pending",
            _ => "failed",
        };
        let entry = verdicts.entry(image_id).or_insert("available");
        *entry = match (*entry, verdict) {
            ("failed", _) | (_, "failed") => "failed",
            ("pending", _) | (_, "pending") => "pending",
            _ => "available",
        };
    }
    for (image_id, verdict) in verdicts.into_iter().filter(|(_, v)| *v != "pending") {
        sqlx::query(
            "UPDATE compute.images SET state = $2 WHERE image_id = $1 AND state = 'pending'",
        )
        .bind(image_id)
        .bind(verdict)
        .execute(&compute.pool)
        .await?;
        tracing::info!(%image_id, state = verdict, "EBS image snapshots done");
    }
    Ok(())
}

/// A launch of an EBS image: a volume per device of its mapping (from its snapshot), the
/// request's mapping changing a device's size (not below the image's), type, IOPS and
/// DeleteOnTermination, or suppressing a non-root one (`NoDevice`); the request's other
/// devices as for any launch.
pub fn plan_launch(image: &Image, mappings: &[BlockDeviceMapping]) -> Result<LaunchPlan> {
    let mut plan = crate::volumes::plan_launch(None, mappings)?;
    let mut from_image = Vec::new();
    for device in image.block_devices.list() {
        let is_root = device.device_name == ROOT_DEVICE_NAME;
        let requested = mappings
            .iter()
            .find(|m| m.device_name == device.device_name);
        if requested.is_some_and(|m| m.no_device) {
            if is_root {
                return Err(invalid_mapping("The root device cannot be NoDevice".into()));
            }
            continue;
        }
        let ebs = requested.and_then(|m| m.ebs.clone()).unwrap_or_default();
        if ebs.snapshot_id.is_some() {
            return Err(invalid_mapping(format!(
                "The device '{}' is the image's: its snapshot cannot be changed",
                device.device_name
            )));
        }
        let size = match ebs.volume_size {
            Some(size) if size < device.volume_size_gib => {
                return Err(invalid_mapping(format!(
                    "Volume of size {size}GB is smaller than the image's {}GB at {}",
                    device.volume_size_gib, device.device_name
                )))
            }
            Some(size) => size,
            None => device.volume_size_gib,
        };
        plan.volumes.retain(|v| v.device != device.device_name);
        from_image.push(LaunchVolume {
            device: device.device_name.clone(),
            size_gib: Some(size),
            volume_type: ebs.volume_type.or(Some(device.volume_type.clone())),
            iops: ebs.iops,
            throughput: ebs.throughput,
            snapshot_id: device.snapshot_id.clone(),
            delete_on_termination: ebs
                .delete_on_termination
                .unwrap_or(device.delete_on_termination),
            source_disk: None,
            boot: is_root,
        });
    }
    if !from_image.iter().any(|v| v.boot) {
        return Err(invalid_mapping(format!(
            "The image {} maps no root device",
            image.image_id
        )));
    }
    from_image.sort_by_key(|v| !v.boot);
    from_image.append(&mut plan.volumes);
    plan.volumes = from_image;
    plan.root_device_name = Some(ROOT_DEVICE_NAME.into());
    Ok(plan)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::images::ImageState;
    use crate::volumes::EbsMapping;

    fn image(devices: &[(&str, Option<&str>, i64)]) -> Image {
        Image {
            image_id: "ami-0123456789abcdef0".into(),
            account_id: "123456789012".into(),
            name: "from-snapshots".into(),
            description: String::new(),
            kind: InstanceKind::Vm,
            kernel: Some("/images/vm/vmlinuz".into()),
            initramfs: Some("/images/vm/initramfs.img".into()),
            disk: None,
            rootfs: None,
            is_public: false,
            state: ImageState::Available,
            created_at: chrono::Utc::now(),
            source_instance_id: None,
            block_devices: ImageBlockDevices {
                bd_devices: devices.iter().map(|d| d.0.to_string()).collect(),
                bd_snapshots: devices
                    .iter()
                    .map(|d| d.1.unwrap_or_default().to_string())
                    .collect(),
                bd_sizes: devices.iter().map(|d| d.2).collect(),
                bd_types: devices.iter().map(|_| "gp3".to_string()).collect(),
                bd_delete: devices.iter().map(|_| true).collect(),
            },
        }
    }

    fn mapping(device: &str, ebs: Option<EbsMapping>, no_device: bool) -> BlockDeviceMapping {
        BlockDeviceMapping {
            device_name: device.into(),
            no_device,
            virtual_name: None,
            ebs,
        }
    }

    const ROOT_SNAP: &str = "snap-0123456789abcdef0";
    const DATA_SNAP: &str = "snap-0123456789abcdef1";

    #[test]
    fn an_ebs_image_launches_its_snapshots_root_first() {
        let image = image(&[
            ("/dev/sdf", Some(DATA_SNAP), 2),
            (ROOT_DEVICE_NAME, Some(ROOT_SNAP), 1),
        ]);
        assert!(image.is_ebs_backed());
        let plan = plan_launch(&image, &[]).unwrap();
        assert_eq!(plan.root_device_name.as_deref(), Some(ROOT_DEVICE_NAME));
        let root = &plan.volumes[0];
        assert!(root.boot);
        assert_eq!(root.snapshot_id.as_deref(), Some(ROOT_SNAP));
        assert_eq!(
            (root.size_gib, root.source_disk.as_deref()),
            (Some(1), None)
        );
        assert_eq!(plan.volumes[1].snapshot_id.as_deref(), Some(DATA_SNAP));
        assert!(!plan.volumes[1].boot);
    }

    #[test]
    fn a_launch_mapping_grows_drops_or_adds_but_never_swaps_a_snapshot() {
        let image = image(&[
            (ROOT_DEVICE_NAME, Some(ROOT_SNAP), 2),
            ("/dev/sdf", Some(DATA_SNAP), 1),
        ]);
        let grow = EbsMapping {
            volume_size: Some(5),
            delete_on_termination: Some(false),
            ..Default::default()
        };
        let empty = EbsMapping {
            volume_size: Some(1),
            ..Default::default()
        };
        let plan = plan_launch(
            &image,
            &[
                mapping(ROOT_DEVICE_NAME, Some(grow), false),
                mapping("/dev/sdf", None, true),
                mapping("/dev/sdg", Some(empty), false),
            ],
        )
        .unwrap();
        let devices: Vec<&str> = plan.volumes.iter().map(|v| v.device.as_str()).collect();
        assert_eq!(devices, [ROOT_DEVICE_NAME, "/dev/sdg"]);
        assert_eq!(plan.volumes[0].size_gib, Some(5));
        assert!(!plan.volumes[0].delete_on_termination);
        assert_eq!(plan.volumes[1].snapshot_id, None);

        let small = EbsMapping {
            volume_size: Some(1),
            ..Default::default()
        };
        let swap = EbsMapping {
            snapshot_id: Some(DATA_SNAP.into()),
            ..Default::default()
        };
        for bad in [
            mapping(ROOT_DEVICE_NAME, Some(small), false),
            mapping(ROOT_DEVICE_NAME, Some(swap), false),
            mapping(ROOT_DEVICE_NAME, None, true),
        ] {
            let refused = plan_launch(&image, &[bad]).unwrap_err();
            assert!(
                matches!(
                    refused,
                    ComputeError::Invalid("InvalidBlockDeviceMapping", _)
                ),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn an_image_without_a_root_mapping_does_not_launch() {
        let image = image(&[("/dev/sdf", Some(DATA_SNAP), 1)]);
        assert!(plan_launch(&image, &[]).is_err());
    }
}
