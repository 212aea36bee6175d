//! Volumes RunInstances makes: an EBS-backed instance's root volume (copy-on-write from its
//! image's disk) and the extra volumes of its `BlockDeviceMapping`, created in the launch's
//! transaction in the instance's zone and attached to it from the start. They are
//! `creating` until every replica is ready, then `in-use`; the host is told a root volume's
//! replicas only then (the instance stays `pending` meanwhile).

use sqlx::{PgPool, Postgres, Transaction};

use crate::attachments::check_device;
use crate::error::{BlockStorageError, Result};
use crate::volumes::{self, CreateVolume};
use crate::{placement, BlockStorage};
use kumo_auth::Principal;
use kumo_common::ids::VolumeId;

/// RunInstances' default volume type (AWS's for current images).
pub const DEFAULT_TYPE: &str = "gp3";

/// One volume to create for a launching instance.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LaunchVolume {
    pub device: String,
    pub size_gib: Option<i64>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub snapshot_id: Option<String>,
    pub delete_on_termination: bool,
    /// The image disk its replicas start from (a root volume's), on the shared image store.
    pub source_disk: Option<String>,
    /// The instance boots from it.
    pub boot: bool,
}

/// Create `volumes` for the account's instance `instance_id` in `zone`, attached to it, in
/// the launch's transaction. Returns their ids, in order.
pub async fn create_attached(
    storage: &BlockStorage,
    tx: &mut Transaction<'_, Postgres>,
    caller: &Principal,
    instance_id: &str,
    zone: &str,
    volumes: &[LaunchVolume],
) -> Result<Vec<String>> {
    let account_id = caller.account_id.as_str();
    let mut ids = Vec::with_capacity(volumes.len());
    for (index, volume) in volumes.iter().enumerate() {
        if !volume.boot {
            check_device(&volume.device)?;
        }
        if volumes[..index].iter().any(|v| v.device == volume.device) {
            return Err(BlockStorageError::invalid(format!(
                "The device name {} is used more than once in the block device mapping",
                volume.device
            )));
        }
        let input = CreateVolume {
            zone: zone.to_string(),
            size_gib: volume.size_gib,
            volume_type: Some(
                volume
                    .volume_type
                    .clone()
                    .unwrap_or_else(|| DEFAULT_TYPE.into()),
            ),
            iops: volume.iops,
            throughput: volume.throughput,
            snapshot_id: volume.snapshot_id.clone(),
            ..Default::default()
        };
        // From a snapshot: the caller's completed one, the size at least its.
        let input = crate::snapshots::restoring(&storage.pool, caller, &input).await?;
        let performance = volumes::check_request(storage, &input)?;
        let id = VolumeId::generate().into_string();
        sqlx::query(
            "INSERT INTO block_storage.volumes
                 (volume_id, account_id, zone, size_gib, volume_type, iops, throughput, source_disk,
                  snapshot_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(zone)
        .bind(performance.size_gib)
        .bind(&performance.volume_type)
        .bind(performance.iops)
        .bind(performance.throughput)
        .bind(&volume.source_disk)
        .bind(&input.snapshot_id)
        .execute(&mut **tx)
        .await?;
        placement::place(tx, &id, zone, storage.config.replicas).await?;
        sqlx::query(
            "INSERT INTO block_storage.attachments
                 (volume_id, account_id, instance_id, device, boot, delete_on_termination)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(account_id)
        .bind(instance_id)
        .bind(&volume.device)
        .bind(volume.boot)
        .bind(volume.delete_on_termination)
        .execute(&mut **tx)
        .await?;
        tracing::info!(volume_id = %id, %instance_id, device = %volume.device, boot = volume.boot, "launch volume created");
        ids.push(id);
    }
    Ok(ids)
}

/// ModifyInstanceAttribute `BlockDeviceMapping`: whether the volume at `device` of the
/// account's instance is deleted when the instance terminates.
pub async fn set_delete_on_termination(
    pool: &PgPool,
    account_id: &str,
    instance_id: &str,
    device: &str,
    delete_on_termination: bool,
) -> Result<()> {
    let updated = sqlx::query(
        "UPDATE block_storage.attachments SET delete_on_termination = $4
         WHERE account_id = $1 AND instance_id = $2 AND device = $3",
    )
    .bind(account_id)
    .bind(instance_id)
    .bind(device)
    .bind(delete_on_termination)
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(BlockStorageError::Invalid(
            "InvalidInstanceAttributeValue",
            format!("No device is currently mapped at {device}"),
        ));
    }
    Ok(())
}

/// Is this attachment the instance's boot volume? (DetachVolume refuses to take it.)
pub(crate) async fn is_boot(tx: &mut Transaction<'_, Postgres>, volume_id: &str) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT boot FROM block_storage.attachments WHERE volume_id = $1")
            .bind(volume_id)
            .fetch_optional(&mut **tx)
            .await?
            .unwrap_or(false),
    )
}
