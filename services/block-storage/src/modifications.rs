//! ModifyVolume: a volume's size grows (never shrinks), its type, IOPS and throughput
//! change, while it stays usable. The volume shows its new size and type at once; the
//! modification goes `modifying` (the nodes grow the replicas) → `optimizing` →
//! `completed`, moved by the nodes' reports ([`advance`]).

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::VolumeId;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{BlockStorageError, Result};
use crate::volume_types::{self, Requested};
use crate::{require_write, volumes, BlockStorage};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct VolumeModification {
    pub volume_id: String,
    /// `modifying`, `optimizing`, `completed` or `failed`.
    pub state: String,
    pub progress: i32,
    pub original_size_gib: i32,
    pub original_type: String,
    pub original_iops: Option<i32>,
    pub original_throughput: Option<i32>,
    pub target_size_gib: i32,
    pub target_type: String,
    pub target_iops: Option<i32>,
    pub target_throughput: Option<i32>,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "volume_id, state, progress, original_size_gib, original_type, \
    original_iops, original_throughput, target_size_gib, target_type, target_iops, \
    target_throughput, started_at, ended_at";

/// Modify an `available` or `in-use` volume with no modification under way.
pub async fn modify(
    storage: &BlockStorage,
    caller: &Principal,
    id: &str,
    asked: &Requested,
) -> Result<VolumeModification> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = storage.pool.begin().await?;
    let volume = volumes::lock(&mut tx, account_id, id).await?;
    if !matches!(volume.state.as_str(), "available" | "in-use") {
        return Err(BlockStorageError::Conflict(
            "IncorrectState",
            format!("The volume '{id}' is not in the 'available' or 'in-use' state."),
        ));
    }
    let busy: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM block_storage.volume_modifications
                        WHERE volume_id = $1 AND state IN ('modifying', 'optimizing'))",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if busy {
        return Err(BlockStorageError::Conflict(
            "IncorrectModificationState",
            format!("Volume {id} is already being modified."),
        ));
    }
    let current = volume.performance();
    let next = volume_types::modified(&current, asked)?;
    sqlx::query(
        "UPDATE block_storage.volumes SET size_gib = $2, volume_type = $3, iops = $4, throughput = $5
         WHERE volume_id = $1",
    )
    .bind(id)
    .bind(next.size_gib)
    .bind(&next.volume_type)
    .bind(next.iops)
    .bind(next.throughput)
    .execute(&mut *tx)
    .await?;
    let modification = sqlx::query_as::<_, VolumeModification>(&format!(
        "INSERT INTO block_storage.volume_modifications
             (volume_id, account_id, original_size_gib, original_type, original_iops,
              original_throughput, target_size_gib, target_type, target_iops, target_throughput)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(account_id)
    .bind(current.size_gib)
    .bind(&current.volume_type)
    .bind(current.iops)
    .bind(current.throughput)
    .bind(next.size_gib)
    .bind(&next.volume_type)
    .bind(next.iops)
    .bind(next.throughput)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(modification)
}

/// The caller's volumes' modifications (all, or those of `ids`: an unknown volume is
/// `InvalidVolume.NotFound`), oldest first.
pub async fn list(
    pool: &PgPool,
    caller: &Principal,
    ids: &[String],
) -> Result<Vec<VolumeModification>> {
    for id in ids {
        VolumeId::parse(id)?;
    }
    if !ids.is_empty() {
        volumes::list(pool, caller, ids).await?;
    }
    Ok(sqlx::query_as::<_, VolumeModification>(&format!(
        "SELECT {COLUMNS} FROM block_storage.volume_modifications m
         WHERE account_id = $1 AND (cardinality($2::text[]) = 0 OR volume_id = ANY($2))
           AND EXISTS (SELECT 1 FROM block_storage.volumes v
                       WHERE v.volume_id = m.volume_id AND v.state <> 'deleted')
         ORDER BY started_at, modification_id"
    ))
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

/// Every replica holds the volume's size now: its modification under way moves one step
/// (`modifying → optimizing → completed`), one per report.
pub(crate) async fn advance(tx: &mut Transaction<'_, Postgres>, volume_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE block_storage.volume_modifications
         SET state = CASE state WHEN 'modifying' THEN 'optimizing' ELSE 'completed' END,
             progress = CASE state WHEN 'modifying' THEN 50 ELSE 100 END,
             ended_at = CASE state WHEN 'modifying' THEN NULL ELSE now() END
         WHERE volume_id = $1 AND state IN ('modifying', 'optimizing')",
    )
    .bind(volume_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
