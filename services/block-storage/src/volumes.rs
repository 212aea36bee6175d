//! Volumes (`vol-…`): created `creating` with replicas placed on the storage nodes of their
//! zone, `available` once every replica is ready (the nodes' reports, see [`crate::agent`]),
//! `deleting` until every replica is gone, then `deleted` (no longer listed, as on AWS).

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{SnapshotId, VolumeId};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::attachments::{self, Attachment};
use crate::error::{BlockStorageError, Result};
use crate::tags::{self, Tags};
use crate::volume_types::{self, Performance};
use crate::{placement, require_write, BlockStorage};

/// AWS: up to 64 ASCII characters.
pub const MAX_CLIENT_TOKEN: usize = 64;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Volume {
    pub volume_id: String,
    pub account_id: String,
    pub zone: String,
    pub size_gib: i32,
    pub volume_type: String,
    pub iops: Option<i32>,
    pub throughput: Option<i32>,
    pub encrypted: bool,
    pub snapshot_id: Option<String>,
    /// `creating`, `available`, `in-use`, `deleting`, `deleted` or `error`.
    pub state: String,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub tags: Tags,
    /// Its attachment, while it has one.
    #[sqlx(skip)]
    pub attachment: Option<Attachment>,
    /// On `GET /v1/volumes/{id}` only: how many replicas it should have, and how many of
    /// those are ready and in sync (hold every acknowledged write); fewer while one is
    /// lost or being rebuilt.
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i64>,
    #[sqlx(skip)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas_in_sync: Option<i64>,
}

impl Volume {
    pub fn performance(&self) -> Performance {
        Performance {
            size_gib: self.size_gib,
            volume_type: self.volume_type.clone(),
            iops: self.iops,
            throughput: self.throughput,
        }
    }
}

pub(crate) const COLUMNS: &str = "volume_id, account_id, zone, size_gib, volume_type, iops, \
    throughput, encrypted, snapshot_id, state, created_at";

pub fn not_found(id: &str) -> BlockStorageError {
    BlockStorageError::NotFound(
        "InvalidVolume.NotFound",
        format!("The volume '{id}' does not exist."),
    )
}

/// CreateVolume's parameters.
#[derive(Debug, Clone, Default)]
pub struct CreateVolume {
    pub zone: String,
    pub size_gib: Option<i64>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    pub snapshot_id: Option<String>,
    pub encrypted: bool,
    pub multi_attach: bool,
    pub client_token: Option<String>,
    pub tags: Tags,
}

pub(crate) fn check_request(storage: &BlockStorage, input: &CreateVolume) -> Result<Performance> {
    if let Some(token) = &input.client_token {
        if token.is_empty()
            || token.len() > MAX_CLIENT_TOKEN
            || !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(BlockStorageError::invalid(format!(
                "ClientToken must be 1 to {MAX_CLIENT_TOKEN} printable ASCII characters"
            )));
        }
    }
    if !storage.config.zones.contains(&input.zone) {
        return Err(BlockStorageError::Invalid(
            "InvalidZone.NotFound",
            format!("The zone '{}' does not exist.", input.zone),
        ));
    }
    if input.encrypted {
        return Err(BlockStorageError::invalid(
            "Encrypted volumes are not supported by this cloud: Encrypted must be false.",
        ));
    }
    if input.multi_attach {
        return Err(BlockStorageError::invalid(
            "Multi-Attach is not supported by this cloud: MultiAttachEnabled must be false.",
        ));
    }
    if let Some(snapshot_id) = &input.snapshot_id {
        SnapshotId::parse(snapshot_id)?;
    }
    let size = input
        .size_gib
        .ok_or_else(|| BlockStorageError::Missing("size".into()))?;
    let volume_type = input.volume_type.as_deref().unwrap_or("gp2");
    kumo_tags::validate(&tags::pairs(&input.tags))?;
    volume_types::resolve(volume_type, size, input.iops, input.throughput)
}

/// The volume an earlier CreateVolume with this client token made, if any; other
/// parameters than that request's are `IdempotentParameterMismatch`.
async fn earlier(
    pool: &PgPool,
    caller: &Principal,
    token: &str,
    input: &CreateVolume,
    performance: &Performance,
) -> Result<Option<Volume>> {
    let found = sqlx::query_as::<_, Volume>(&format!(
        "SELECT {COLUMNS} FROM block_storage.volumes WHERE account_id = $1 AND client_token = $2"
    ))
    .bind(&caller.account_id)
    .bind(token)
    .fetch_optional(pool)
    .await?;
    match found {
        Some(volume) if volume.zone != input.zone || volume.performance() != *performance => {
            Err(BlockStorageError::Invalid(
                "IdempotentParameterMismatch",
                format!("The client token '{token}' was already used with different parameters."),
            ))
        }
        Some(volume) => Ok(Some(with_tags(pool, volume).await?)),
        None => Ok(None),
    }
}

/// Create a volume: its row (`creating`) and its replicas on the zone's storage nodes.
pub async fn create(
    storage: &BlockStorage,
    caller: &Principal,
    input: &CreateVolume,
) -> Result<Volume> {
    require_write(caller)?;
    let input = &crate::snapshots::restoring(&storage.pool, caller, input).await?;
    let performance = check_request(storage, input)?;
    let account_id = caller.account_id.as_str();
    if let Some(token) = &input.client_token {
        if let Some(volume) = earlier(&storage.pool, caller, token, input, &performance).await? {
            return Ok(volume);
        }
    }
    let id = VolumeId::generate().into_string();
    let mut tx = storage.pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO block_storage.volumes
             (volume_id, account_id, zone, size_gib, volume_type, iops, throughput, client_token,
              snapshot_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (account_id, client_token) DO NOTHING",
    )
    .bind(&id)
    .bind(account_id)
    .bind(&input.zone)
    .bind(performance.size_gib)
    .bind(&performance.volume_type)
    .bind(performance.iops)
    .bind(performance.throughput)
    .bind(&input.client_token)
    .bind(&input.snapshot_id)
    .execute(&mut *tx)
    .await?;
    if inserted.rows_affected() == 0 {
        // A concurrent twin with the same token committed first.
        tx.rollback().await?;
        let token = input.client_token.as_deref().unwrap_or_default();
        return earlier(&storage.pool, caller, token, input, &performance)
            .await?
            .ok_or_else(|| BlockStorageError::Internal("client token vanished".into()));
    }
    placement::place(&mut tx, &id, &input.zone, storage.config.replicas).await?;
    kumo_tags::put(&mut *tx, account_id, &id, &tags::pairs(&input.tags)).await?;
    tx.commit().await?;
    get(&storage.pool, caller, &id).await
}

async fn with_tags(pool: &PgPool, mut volume: Volume) -> Result<Volume> {
    let mut found =
        kumo_tags::for_resources(pool, &volume.account_id, &[volume.volume_id.clone()]).await?;
    volume.tags = found.remove(&volume.volume_id).unwrap_or_default();
    volume.attachment = attachments::of_volumes(pool, &[volume.volume_id.clone()])
        .await?
        .remove(&volume.volume_id);
    Ok(volume)
}

/// The caller's volumes (all, or those of `ids`: an unknown or deleted one is
/// `InvalidVolume.NotFound`), oldest first, with their tags. Deleted volumes are gone.
pub async fn list(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<Vec<Volume>> {
    for id in ids {
        VolumeId::parse(id)?;
    }
    let mut volumes = sqlx::query_as::<_, Volume>(&format!(
        "SELECT {COLUMNS} FROM block_storage.volumes
         WHERE account_id = $1 AND state <> 'deleted'
           AND (cardinality($2::text[]) = 0 OR volume_id = ANY($2))
         ORDER BY created_at, volume_id"
    ))
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    if let Some(missing) = crate::first_missing(ids, &volumes, |v| &v.volume_id) {
        return Err(not_found(missing));
    }
    let volume_ids: Vec<String> = volumes.iter().map(|v| v.volume_id.clone()).collect();
    let mut found = kumo_tags::for_resources(pool, &caller.account_id, &volume_ids).await?;
    let mut attached = attachments::of_volumes(pool, &volume_ids).await?;
    for volume in &mut volumes {
        volume.tags = found.remove(&volume.volume_id).unwrap_or_default();
        volume.attachment = attached.remove(&volume.volume_id);
    }
    Ok(volumes)
}

pub async fn get(pool: &PgPool, caller: &Principal, id: &str) -> Result<Volume> {
    let mut found = list(pool, caller, &[id.to_string()]).await?;
    let mut volume = found.pop().ok_or_else(|| not_found(id))?;
    let (replicas, in_sync): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE reported = 'ready' AND in_sync)
         FROM block_storage.volume_replicas WHERE volume_id = $1 AND desired = 'present'",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    volume.replicas = Some(replicas);
    volume.replicas_in_sync = Some(in_sync);
    Ok(volume)
}

/// The caller's (not deleted) volume, locked for this transaction.
pub(crate) async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    id: &str,
) -> Result<Volume> {
    VolumeId::parse(id)?;
    sqlx::query_as::<_, Volume>(&format!(
        "SELECT {COLUMNS} FROM block_storage.volumes
         WHERE volume_id = $1 AND account_id = $2 AND state <> 'deleted' FOR UPDATE"
    ))
    .bind(id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(id))
}

/// Delete a volume that is not attached (`VolumeInUse`) nor already going
/// (`IncorrectState`): `deleting`, its replicas to be removed by their nodes.
pub async fn delete(storage: &BlockStorage, caller: &Principal, id: &str) -> Result<()> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = storage.pool.begin().await?;
    let volume = lock(&mut tx, account_id, id).await?;
    match volume.state.as_str() {
        "in-use" => {
            return Err(BlockStorageError::Conflict(
                "VolumeInUse",
                format!("Volume {id} is currently attached"),
            ))
        }
        "deleting" => {
            return Err(BlockStorageError::Conflict(
                "IncorrectState",
                format!("The volume '{id}' is 'deleting'."),
            ))
        }
        _ => {}
    }
    sqlx::query("UPDATE block_storage.volumes SET state = 'deleting' WHERE volume_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE block_storage.volume_replicas SET desired = 'absent' WHERE volume_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    crate::agent::settle(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}
