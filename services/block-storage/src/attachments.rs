//! Volume attachments (AttachVolume / DetachVolume): a volume attached to one instance of
//! its account and zone, at a device name. The attachment is `attaching` until the compute
//! agent reports the volume plugged into the instance, `attached` then, `detaching` after
//! DetachVolume until the agent reports it unplugged; then its row goes and the volume is
//! `available` again. The volume is `in-use` while it has an attachment.
//!
//! Instances are compute's: this service reads them through [`InstanceDirectory`], which the
//! composition root wires (no crate dependency on compute).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::InstanceId;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{BlockStorageError, Result};
use crate::{require_write, volumes, BlockStorage};

/// Volumes per instance at most (about what a Nitro instance takes besides its root).
pub const MAX_PER_INSTANCE: i64 = 24;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema, sqlx::FromRow)]
#[schema(as = VolumeAttachment)]
pub struct Attachment {
    pub volume_id: String,
    pub instance_id: String,
    pub device: String,
    /// `attaching`, `attached` or `detaching` (a detached attachment is gone).
    pub state: String,
    pub delete_on_termination: bool,
    pub attached_at: DateTime<Utc>,
}

const COLUMNS: &str = "volume_id, instance_id, device, state, delete_on_termination, attached_at";

/// An instance as attachments need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceFacts {
    pub zone: String,
    /// EC2's instance state name (`pending`, `running`, `stopped`, …).
    pub state: String,
    /// `vm` or `container`.
    pub kind: String,
}

/// Compute's instances, as this service reads them.
#[async_trait::async_trait]
pub trait InstanceDirectory: Send + Sync {
    /// The account's (not terminated) instance, if it has it.
    async fn instance(&self, account_id: &str, instance_id: &str) -> Result<Option<InstanceFacts>>;
}

/// One replica of an attached volume, as the compute host connects to it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ReadyReplica {
    pub volume_id: String,
    pub node_id: String,
    /// The node's advertised address (a URL); its host serves the NBD export.
    pub address: String,
    pub nbd_port: i32,
    pub psk_identity: String,
    pub psk_key_hex: String,
}

/// An attachment the compute host should have plugged, with its volume's ready replicas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluggedVolume {
    pub attachment: Attachment,
    pub replicas: Vec<ReadyReplica>,
    /// The instance boots from it (its root volume).
    pub boot: bool,
}

/// An attachment to plug, with what to_plug needs of it besides.
#[derive(sqlx::FromRow)]
struct PlugRow {
    #[sqlx(flatten)]
    attachment: Attachment,
    boot: bool,
    volume_state: String,
}

/// `/dev/sd[b-z]`, `/dev/xvd[b-z]`, `/dev/vd[b-z]`, optionally one more letter (AWS's
/// recommended names for EBS data volumes, `xvdba` style too).
pub fn check_device(device: &str) -> Result<()> {
    let letters = ["/dev/sd", "/dev/xvd", "/dev/vd"]
        .iter()
        .find_map(|prefix| device.strip_prefix(prefix));
    let ok = letters.is_some_and(|rest| {
        let b = rest.as_bytes();
        (1..=2).contains(&b.len()) && b.iter().all(u8::is_ascii_lowercase) && b[0] != b'a'
    });
    if ok {
        Ok(())
    } else {
        Err(BlockStorageError::invalid(format!(
            "Value ({device}) for parameter device is invalid. {device} is not a valid EBS device name."
        )))
    }
}

fn directory(storage: &BlockStorage) -> Result<&dyn InstanceDirectory> {
    storage
        .instances
        .as_deref()
        .ok_or_else(|| BlockStorageError::Internal("the compute service is not wired".into()))
}

fn instance_not_found(id: &str) -> BlockStorageError {
    BlockStorageError::NotFound(
        "InvalidInstanceID.NotFound",
        format!("The instance ID '{id}' does not exist"),
    )
}

/// AttachVolume: the caller's `available` volume to the caller's running or stopped
/// instance (VM or container) in the same zone, at `device`.
pub async fn attach(
    storage: &BlockStorage,
    caller: &Principal,
    volume_id: &str,
    instance_id: &str,
    device: &str,
) -> Result<Attachment> {
    require_write(caller)?;
    InstanceId::parse(instance_id)?;
    check_device(device)?;
    let account_id = caller.account_id.as_str();
    let mut tx = storage.pool.begin().await?;
    let volume = volumes::lock(&mut tx, account_id, volume_id).await?;
    let instance = directory(storage)?
        .instance(account_id, instance_id)
        .await?
        .ok_or_else(|| instance_not_found(instance_id))?;
    if !matches!(instance.state.as_str(), "running" | "stopped") {
        return Err(BlockStorageError::Conflict(
            "IncorrectInstanceState",
            format!(
                "The instance '{instance_id}' is not in a valid state for this operation ({}).",
                instance.state
            ),
        ));
    }
    if instance.zone != volume.zone {
        return Err(BlockStorageError::Invalid(
            "InvalidVolume.ZoneMismatch",
            format!(
                "The volume '{volume_id}' is not in the same availability zone as instance '{instance_id}'"
            ),
        ));
    }
    match volume.state.as_str() {
        "available" => {}
        "in-use" => {
            return Err(BlockStorageError::Conflict(
                "VolumeInUse",
                format!("{volume_id} is already attached to an instance"),
            ))
        }
        other => {
            return Err(BlockStorageError::Conflict(
                "IncorrectState",
                format!("The volume '{volume_id}' is '{other}'; it must be 'available'."),
            ))
        }
    }
    // Serializes attachments to one instance (device names and the limit).
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('block_storage.attach:' || $1))")
        .bind(instance_id)
        .execute(&mut *tx)
        .await?;
    let existing = for_instance(&mut *tx, instance_id).await?;
    if existing.iter().any(|a| a.device == device) || is_root(device) {
        return Err(BlockStorageError::invalid(format!(
            "Invalid value '{device}' for unixDevice. Attachment point {device} is already in use"
        )));
    }
    if existing.len() as i64 >= MAX_PER_INSTANCE {
        return Err(BlockStorageError::Conflict(
            "AttachmentLimitExceeded",
            format!("Instance '{instance_id}' has {MAX_PER_INSTANCE} volumes attached already"),
        ));
    }
    let attachment = sqlx::query_as::<_, Attachment>(&format!(
        "INSERT INTO block_storage.attachments (volume_id, account_id, instance_id, device)
         VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(volume_id)
    .bind(account_id)
    .bind(instance_id)
    .bind(device)
    .fetch_one(&mut *tx)
    .await?;
    crate::peer_copy::spoil(&mut tx, volume_id).await?;
    set_volume_state(&mut tx, volume_id, "in-use").await?;
    tx.commit().await?;
    Ok(attachment)
}

/// The root device names every instance has.
fn is_root(device: &str) -> bool {
    matches!(device, "/dev/xvda" | "/dev/sda" | "/dev/vda")
}

/// DetachVolume: `detaching` until the host has unplugged it; `force` ends it at once
/// (the host may be dead; a live one unplugs it at its next round all the same).
pub async fn detach(
    storage: &BlockStorage,
    caller: &Principal,
    volume_id: &str,
    instance_id: Option<&str>,
    device: Option<&str>,
    force: bool,
) -> Result<Attachment> {
    require_write(caller)?;
    if let Some(id) = instance_id {
        InstanceId::parse(id)?;
    }
    let mut tx = storage.pool.begin().await?;
    let volume = volumes::lock(&mut tx, &caller.account_id, volume_id).await?;
    let found = sqlx::query_as::<_, Attachment>(&format!(
        "SELECT {COLUMNS} FROM block_storage.attachments WHERE volume_id = $1 FOR UPDATE"
    ))
    .bind(volume_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(mut attachment) = found else {
        return Err(BlockStorageError::Conflict(
            "IncorrectState",
            format!("Volume '{volume_id}' is in the '{}' state.", volume.state),
        ));
    };
    let mismatch = instance_id.is_some_and(|i| i != attachment.instance_id)
        || device.is_some_and(|d| d != attachment.device);
    if mismatch {
        return Err(BlockStorageError::NotFound(
            "InvalidAttachment.NotFound",
            format!(
                "The volume '{volume_id}' is not attached to instance '{}' at '{}'",
                instance_id.unwrap_or(&attachment.instance_id),
                device.unwrap_or(&attachment.device)
            ),
        ));
    }
    if crate::launch::is_boot(&mut tx, volume_id).await? {
        return Err(BlockStorageError::Invalid(
            "OperationNotPermitted",
            format!(
                "The volume '{volume_id}' is the root device of instance '{}' and cannot be detached.",
                attachment.instance_id
            ),
        ));
    }
    if force {
        end(&mut tx, volume_id).await?;
    } else {
        sqlx::query(
            "UPDATE block_storage.attachments SET state = 'detaching' WHERE volume_id = $1",
        )
        .bind(volume_id)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    attachment.state = "detaching".into();
    Ok(attachment)
}

async fn set_volume_state(
    tx: &mut Transaction<'_, Postgres>,
    volume_id: &str,
    state: &str,
) -> Result<()> {
    sqlx::query("UPDATE block_storage.volumes SET state = $2 WHERE volume_id = $1")
        .bind(volume_id)
        .bind(state)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The attachment is over: its row goes, the volume is `available`.
async fn end(tx: &mut Transaction<'_, Postgres>, volume_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM block_storage.attachments WHERE volume_id = $1")
        .bind(volume_id)
        .execute(&mut **tx)
        .await?;
    set_volume_state(tx, volume_id, "available").await
}

async fn for_instance<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    instance_id: &str,
) -> Result<Vec<Attachment>> {
    Ok(sqlx::query_as::<_, Attachment>(&format!(
        "SELECT {COLUMNS} FROM block_storage.attachments WHERE instance_id = $1 ORDER BY device"
    ))
    .bind(instance_id)
    .fetch_all(executor)
    .await?)
}

/// The attachments of some volumes (DescribeVolumes' `attachmentSet`).
pub async fn of_volumes(
    pool: &PgPool,
    volume_ids: &[String],
) -> Result<BTreeMap<String, Attachment>> {
    let rows = sqlx::query_as::<_, Attachment>(&format!(
        "SELECT {COLUMNS} FROM block_storage.attachments WHERE volume_id = ANY($1)"
    ))
    .bind(volume_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|a| (a.volume_id.clone(), a)).collect())
}

/// The attachments of some of the account's instances, each instance's by device
/// (DescribeInstances' `blockDeviceMapping`).
pub async fn of_instances(
    pool: &PgPool,
    account_id: &str,
    instance_ids: &[String],
) -> Result<BTreeMap<String, Vec<Attachment>>> {
    let rows = sqlx::query_as::<_, Attachment>(&format!(
        "SELECT {COLUMNS} FROM block_storage.attachments
         WHERE account_id = $1 AND instance_id = ANY($2) ORDER BY instance_id, device"
    ))
    .bind(account_id)
    .bind(instance_ids)
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<String, Vec<Attachment>> = BTreeMap::new();
    for row in rows {
        out.entry(row.instance_id.clone()).or_default().push(row);
    }
    Ok(out)
}

/// What the compute hosts of these instances should have plugged: every `attaching` or
/// `attached` volume with its ready replicas (and their export credentials: a host is told
/// them only while the volume is attached to one of its instances). A volume still
/// `creating` (a launch's) has no replicas to plug yet.
pub async fn to_plug(
    pool: &PgPool,
    instance_ids: &[String],
) -> Result<BTreeMap<String, Vec<PluggedVolume>>> {
    let rows = sqlx::query_as::<_, PlugRow>(&format!(
        "SELECT {COLUMNS}, boot,
                (SELECT v.state FROM block_storage.volumes v WHERE v.volume_id = a.volume_id)
                    AS volume_state
         FROM block_storage.attachments a
         WHERE instance_id = ANY($1) AND state IN ('attaching', 'attached')
         ORDER BY instance_id, device"
    ))
    .bind(instance_ids)
    .fetch_all(pool)
    .await?;
    let volume_ids: Vec<String> = rows
        .iter()
        .filter(|row| row.volume_state != "creating")
        .map(|row| row.attachment.volume_id.clone())
        .collect();
    let replicas = sqlx::query_as::<_, ReadyReplica>(
        "SELECT r.volume_id, r.node_id, n.address, r.nbd_port, r.psk_identity, r.psk_key_hex
         FROM block_storage.volume_replicas r
         JOIN object_storage.node_inventory n ON n.node_id = r.node_id
         WHERE r.volume_id = ANY($1) AND r.desired = 'present' AND r.reported = 'ready'
           AND r.nbd_port IS NOT NULL
         ORDER BY r.volume_id, r.node_id",
    )
    .bind(&volume_ids)
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<String, Vec<PluggedVolume>> = BTreeMap::new();
    for PlugRow {
        attachment, boot, ..
    } in rows
    {
        let replicas = replicas
            .iter()
            .filter(|r| r.volume_id == attachment.volume_id)
            .cloned()
            .collect();
        out.entry(attachment.instance_id.clone())
            .or_default()
            .push(PluggedVolume {
                attachment,
                replicas,
                boot,
            });
    }
    Ok(out)
}

/// What a compute agent observed of an instance's volumes: `plugged` (the volumes its
/// running VM has) when `running`, else nothing plugged (stopped or gone). `attaching`
/// becomes `attached` once plugged (at once for a stopped instance, as on AWS), and a
/// `detaching` attachment ends once unplugged.
pub async fn observed(
    pool: &PgPool,
    instance_id: &str,
    running: bool,
    plugged: &[String],
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query_as::<_, Attachment>(&format!(
        "SELECT {COLUMNS} FROM block_storage.attachments WHERE instance_id = $1
         ORDER BY volume_id FOR UPDATE"
    ))
    .bind(instance_id)
    .fetch_all(&mut *tx)
    .await?;
    for attachment in rows {
        let is_plugged = plugged.contains(&attachment.volume_id);
        match attachment.state.as_str() {
            "attaching" if is_plugged || !running => {
                sqlx::query(
                    "UPDATE block_storage.attachments SET state = 'attached' WHERE volume_id = $1",
                )
                .bind(&attachment.volume_id)
                .execute(&mut *tx)
                .await?;
                tracing::info!(volume_id = %attachment.volume_id, %instance_id, "volume attached");
            }
            "detaching" if !is_plugged => {
                end(&mut tx, &attachment.volume_id).await?;
                tracing::info!(volume_id = %attachment.volume_id, %instance_id, "volume detached");
            }
            _ => {}
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The instance ended (terminated): its attachments end; volumes marked delete on
/// termination are deleted, the others are `available`. Idempotent.
pub async fn release(tx: &mut Transaction<'_, Postgres>, instance_id: &str) -> Result<()> {
    let rows = for_instance(&mut **tx, instance_id).await?;
    for attachment in rows {
        end(tx, &attachment.volume_id).await?;
        if attachment.delete_on_termination {
            sqlx::query("UPDATE block_storage.volumes SET state = 'deleting' WHERE volume_id = $1")
                .bind(&attachment.volume_id)
                .execute(&mut **tx)
                .await?;
            sqlx::query(
                "UPDATE block_storage.volume_replicas SET desired = 'absent' WHERE volume_id = $1",
            )
            .bind(&attachment.volume_id)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}
