//! Snapshots (`snap-…`): a volume's bytes at one point in time, `pending` while a storage
//! node holding one of its ready replicas copies and uploads them (see [`agent`]),
//! `completed` then (`error` when the node failed). The bytes are 1 MiB chunks addressed
//! by their SHA-256 (`kumo_storage_protocol::block::SNAPSHOT_CHUNK_BYTES`), kept in a
//! [`crate::chunk_store::ChunkStore`] and counted in `block_storage.chunks`: chunks are
//! shared by every snapshot holding the same bytes, so a later snapshot of a volume stores
//! only what changed and CopySnapshot stores nothing. Deleting a snapshot drops its
//! references; a chunk nobody references any more is deleted from the store.

pub mod agent;
pub mod api;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::SnapshotId;
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{BlockStorageError, Result};
use crate::tags::{self, Tags};
use crate::{require_write, volumes, BlockStorage};

/// AWS: a description is up to 255 characters.
pub const MAX_DESCRIPTION: usize = 255;

/// The volume id AWS reports for a copied snapshot ("an arbitrary volume ID that should
/// not be used for any purpose").
pub const COPIED_VOLUME_ID: &str = "vol-ffffffff";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Snapshot {
    pub snapshot_id: String,
    pub account_id: String,
    pub volume_id: String,
    pub volume_size_gib: i32,
    /// `pending`, `completed` or `error`.
    pub state: String,
    pub progress: i32,
    pub description: String,
    pub status_message: Option<String>,
    pub source_snapshot_id: Option<String>,
    pub started_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Bytes of the chunks it references (zeros are not stored).
    #[sqlx(skip)]
    pub stored_bytes: i64,
    #[sqlx(skip)]
    pub tags: Tags,
}

const COLUMNS: &str = "snapshot_id, account_id, volume_id, volume_size_gib, state, progress, \
    description, status_message, source_snapshot_id, started_at, completed_at";

pub fn not_found(id: &str) -> BlockStorageError {
    BlockStorageError::NotFound(
        "InvalidSnapshot.NotFound",
        format!("The snapshot '{id}' does not exist."),
    )
}

fn check_description(description: &str) -> Result<()> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(BlockStorageError::invalid(format!(
            "Description must be at most {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(())
}

/// CreateSnapshot of an `available` or `in-use` volume of the caller's: `pending`, taken
/// by the node of one of its ready replicas.
pub async fn create(
    storage: &BlockStorage,
    caller: &Principal,
    volume_id: &str,
    description: &str,
    tags: &Tags,
) -> Result<Snapshot> {
    require_write(caller)?;
    check_description(description)?;
    kumo_tags::validate(&tags::pairs(tags))?;
    let mut tx = storage.pool.begin().await?;
    let volume = volumes::lock(&mut tx, &caller.account_id, volume_id).await?;
    if !matches!(volume.state.as_str(), "available" | "in-use") {
        return Err(BlockStorageError::Conflict(
            "IncorrectState",
            format!("The volume '{volume_id}' is '{}'.", volume.state),
        ));
    }
    // One ready, in-sync replica's node takes it (the one that reported most recently):
    // a stale replica may lack acknowledged writes.
    let node_id: Option<String> = sqlx::query_scalar(
        "SELECT r.node_id FROM block_storage.volume_replicas r
         JOIN object_storage.node_inventory n ON n.node_id = r.node_id
         WHERE r.volume_id = $1 AND r.desired = 'present' AND r.reported = 'ready'
           AND r.in_sync AND n.healthy
         ORDER BY r.reported_at DESC NULLS LAST, r.node_id LIMIT 1",
    )
    .bind(volume_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(node_id) = node_id else {
        return Err(BlockStorageError::Conflict(
            "IncorrectState",
            format!("The volume '{volume_id}' has no replica that can be read now."),
        ));
    };
    let id = SnapshotId::generate().into_string();
    sqlx::query(
        "INSERT INTO block_storage.snapshots
             (snapshot_id, account_id, volume_id, volume_size_gib, description, node_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&id)
    .bind(&caller.account_id)
    .bind(volume_id)
    .bind(volume.size_gib)
    .bind(description)
    .bind(&node_id)
    .execute(&mut *tx)
    .await?;
    kumo_tags::put(&mut *tx, &caller.account_id, &id, &tags::pairs(tags)).await?;
    tx.commit().await?;
    get(&storage.pool, caller, &id).await
}

/// CopySnapshot within the region: a new `completed` snapshot referencing the source's
/// chunks (no bytes move). The source must be `completed` (`IncorrectState`).
pub async fn copy(
    storage: &BlockStorage,
    caller: &Principal,
    source_id: &str,
    description: &str,
    tags: &Tags,
) -> Result<Snapshot> {
    require_write(caller)?;
    check_description(description)?;
    kumo_tags::validate(&tags::pairs(tags))?;
    let source = get(&storage.pool, caller, source_id).await?;
    if source.state != "completed" {
        return Err(BlockStorageError::Conflict(
            "IncorrectState",
            format!("Snapshot is in invalid state - {}", source.state),
        ));
    }
    let id = SnapshotId::generate().into_string();
    let mut tx = storage.pool.begin().await?;
    sqlx::query(
        "INSERT INTO block_storage.snapshots
             (snapshot_id, account_id, volume_id, volume_size_gib, description, state,
              progress, source_snapshot_id, completed_at)
         VALUES ($1, $2, $3, $4, $5, 'completed', 100, $6, now())",
    )
    .bind(&id)
    .bind(&caller.account_id)
    .bind(COPIED_VOLUME_ID)
    .bind(source.volume_size_gib)
    .bind(description)
    .bind(source_id)
    .execute(&mut *tx)
    .await?;
    // The chunks' rows first (locked, in hash order as every writer takes them): a
    // deletion of the source meanwhile cannot drop a chunk under the copy.
    sqlx::query(
        "UPDATE block_storage.chunks c SET refcount = c.refcount + s.n
         FROM (SELECT sha256, count(*) AS n FROM block_storage.snapshot_chunks
               WHERE snapshot_id = $1 GROUP BY sha256 ORDER BY sha256) s
         WHERE c.sha256 = s.sha256",
    )
    .bind(source_id)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO block_storage.snapshot_chunks (snapshot_id, chunk_index, sha256)
         SELECT $2, chunk_index, sha256 FROM block_storage.snapshot_chunks WHERE snapshot_id = $1",
    )
    .bind(source_id)
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    kumo_tags::put(&mut *tx, &caller.account_id, &id, &tags::pairs(tags)).await?;
    tx.commit().await?;
    get(&storage.pool, caller, &id).await
}

/// DeleteSnapshot: gone at once (a pending one too: its node's next upload is refused and
/// it stops). Its chunk references go; chunks nobody references any more are deleted from
/// the store after the commit.
pub async fn delete(storage: &BlockStorage, caller: &Principal, id: &str) -> Result<()> {
    require_write(caller)?;
    SnapshotId::parse(id)?;
    let mut tx = storage.pool.begin().await?;
    let found: Option<String> = sqlx::query_scalar(
        "UPDATE block_storage.snapshots SET state = 'deleted', deleted_at = now(), node_id = NULL
         WHERE snapshot_id = $1 AND account_id = $2 AND state <> 'deleted' RETURNING snapshot_id",
    )
    .bind(id)
    .bind(&caller.account_id)
    .fetch_optional(&mut *tx)
    .await?;
    if found.is_none() {
        return Err(not_found(id));
    }
    // A registered image launches from it (compute's contract view): kept, as AWS does.
    let image: Option<String> = sqlx::query_scalar(
        "SELECT image_id FROM compute.snapshots_in_use WHERE snapshot_id = $1
         ORDER BY image_id LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(image) = image {
        return Err(BlockStorageError::Conflict(
            "InvalidSnapshot.InUse",
            format!("The snapshot {id} is currently in use by {image}"),
        ));
    }
    let orphans = release_chunks(&mut tx, id).await?;
    kumo_tags::delete_all(&mut *tx, &caller.account_id, &[id.to_string()]).await?;
    tx.commit().await?;
    forget_chunks(storage, &orphans).await;
    Ok(())
}

/// Drop a snapshot's chunk references; the locations of chunks left unreferenced (their
/// rows deleted in `tx`).
pub(crate) async fn release_chunks(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    snapshot_id: &str,
) -> Result<Vec<String>> {
    let counts: Vec<(String, i64)> = sqlx::query_as(
        "WITH gone AS (DELETE FROM block_storage.snapshot_chunks WHERE snapshot_id = $1
                       RETURNING sha256)
         SELECT sha256, count(*) FROM gone GROUP BY sha256 ORDER BY sha256",
    )
    .bind(snapshot_id)
    .fetch_all(&mut **tx)
    .await?;
    let hashes: Vec<&str> = counts.iter().map(|(h, _)| h.as_str()).collect();
    let by: Vec<i64> = counts.iter().map(|(_, n)| *n).collect();
    sqlx::query(
        "UPDATE block_storage.chunks c SET refcount = GREATEST(c.refcount - d.n, 0)
         FROM unnest($1::text[], $2::bigint[]) AS d(sha256, n) WHERE c.sha256 = d.sha256",
    )
    .bind(&hashes)
    .bind(&by)
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query_scalar(
        "DELETE FROM block_storage.chunks WHERE sha256 = ANY($1) AND refcount = 0
         RETURNING location",
    )
    .bind(&hashes)
    .fetch_all(&mut **tx)
    .await?)
}

/// Delete chunks from the store (a failure leaves bytes nobody references: logged).
pub(crate) async fn forget_chunks(storage: &BlockStorage, locations: &[String]) {
    let Some(store) = &storage.chunks else {
        return;
    };
    for location in locations {
        if let Err(error) = store.delete(location).await {
            tracing::warn!(%location, %error, "unreferenced snapshot chunk not deleted");
        }
    }
}

/// The caller's snapshots (all, or those of `ids`: an unknown or deleted one is
/// `InvalidSnapshot.NotFound`), oldest first, with their tags.
pub async fn list(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<Vec<Snapshot>> {
    for id in ids {
        SnapshotId::parse(id)?;
    }
    let mut snapshots = sqlx::query_as::<_, Snapshot>(&format!(
        "SELECT {COLUMNS} FROM block_storage.snapshots
         WHERE account_id = $1 AND state <> 'deleted'
           AND (cardinality($2::text[]) = 0 OR snapshot_id = ANY($2))
         ORDER BY started_at, snapshot_id"
    ))
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    if let Some(missing) = crate::first_missing(ids, &snapshots, |s| &s.snapshot_id) {
        return Err(not_found(missing));
    }
    let snapshot_ids: Vec<String> = snapshots.iter().map(|s| s.snapshot_id.clone()).collect();
    let mut found = kumo_tags::for_resources(pool, &caller.account_id, &snapshot_ids).await?;
    let sizes: Vec<(String, i64)> = sqlx::query_as(
        "SELECT s.snapshot_id, COALESCE(sum(c.size), 0)::bigint
         FROM block_storage.snapshot_chunks s JOIN block_storage.chunks c ON c.sha256 = s.sha256
         WHERE s.snapshot_id = ANY($1) GROUP BY s.snapshot_id",
    )
    .bind(&snapshot_ids)
    .fetch_all(pool)
    .await?;
    for snapshot in &mut snapshots {
        snapshot.tags = found.remove(&snapshot.snapshot_id).unwrap_or_default();
        snapshot.stored_bytes = sizes
            .iter()
            .find(|(id, _)| *id == snapshot.snapshot_id)
            .map_or(0, |(_, n)| *n);
    }
    Ok(snapshots)
}

pub async fn get(pool: &PgPool, caller: &Principal, id: &str) -> Result<Snapshot> {
    let mut found = list(pool, caller, &[id.to_string()]).await?;
    found.pop().ok_or_else(|| not_found(id))
}

/// The caller's snapshot a new volume restores: it must be `completed` (`IncorrectState`).
pub async fn restorable(pool: &PgPool, caller: &Principal, id: &str) -> Result<Snapshot> {
    let snapshot = get(pool, caller, id).await?;
    if snapshot.state != "completed" {
        return Err(BlockStorageError::Conflict(
            "IncorrectState",
            format!("Snapshot is in invalid state - {}", snapshot.state),
        ));
    }
    Ok(snapshot)
}

/// The states of some snapshots (`pending`, `completed`, `error`; deleted ones are left out),
/// whoever owns them (for images made from them).
pub async fn states(pool: &PgPool, ids: &[String]) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT snapshot_id, state FROM block_storage.snapshots
         WHERE snapshot_id = ANY($1) AND state <> 'deleted'",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

/// Distinct chunks stored for all snapshots, and their bytes (the dedup figure).
pub async fn stored_chunks(pool: &PgPool) -> Result<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT count(*), COALESCE(sum(size), 0)::bigint FROM block_storage.chunks")
            .fetch_one(pool)
            .await?,
    )
}

/// CreateVolume's parameters with a `SnapshotId`: the snapshot must be the caller's and
/// `completed`; the size defaults to the snapshot's and may not be smaller
/// (`InvalidParameterValue`).
pub async fn restoring(
    pool: &PgPool,
    caller: &Principal,
    input: &volumes::CreateVolume,
) -> Result<volumes::CreateVolume> {
    let Some(snapshot_id) = &input.snapshot_id else {
        return Ok(input.clone());
    };
    let snapshot = restorable(pool, caller, snapshot_id).await?;
    let least = i64::from(snapshot.volume_size_gib);
    let size_gib = input.size_gib.unwrap_or(least);
    if size_gib < least {
        return Err(BlockStorageError::invalid(format!(
            "Volume of {size_gib}GiB is too small; minimum is {least}GiB."
        )));
    }
    Ok(volumes::CreateVolume {
        size_gib: Some(size_gib),
        ..input.clone()
    })
}
