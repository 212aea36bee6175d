//! The storage nodes' side of snapshots (`kumo_storage_protocol::block::SnapshotTask`):
//! the node told to take a pending snapshot records its chunks page by page, uploads the
//! ones the service lacks and reports progress; a node creating a replica from a snapshot
//! reads its chunk list and chunks. Each request names the snapshot and is refused
//! (`NotFound`) unless the node is the one taking it, or holds a replica restored from it.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_common::ValidJson;
use kumo_storage_protocol::block::{
    ChunkPage, MissingChunks, SnapshotChunkRef, SnapshotChunks, SnapshotProgress, SnapshotTask,
    SnapshotTaskState, SNAPSHOT_CHUNKS_PER_PAGE, SNAPSHOT_CHUNK_BYTES,
};
use serde::Deserialize;
use sqlx::PgPool;

use crate::agent::Node;
use crate::chunk_store::{is_sha256, sha256_hex};
use crate::error::{BlockStorageError, Result};
use crate::BlockStorage;

const GIB: u64 = 1 << 30;

pub fn router(storage: BlockStorage) -> Router {
    Router::new()
        .route(
            "/v1/storage-agent/snapshots/{snapshot_id}/chunks",
            post(post_chunks).get(get_chunks),
        )
        .route(
            "/v1/storage-agent/snapshots/{snapshot_id}/chunks/{sha256}",
            get(get_chunk).put(put_chunk),
        )
        .route(
            "/v1/storage-agent/snapshots/{snapshot_id}/progress",
            post(post_progress),
        )
        .with_state(storage)
}

fn unknown(snapshot_id: &str) -> BlockStorageError {
    BlockStorageError::NotFound(
        "InvalidSnapshot.NotFound",
        format!("no snapshot {snapshot_id} for this node"),
    )
}

/// The pending snapshots `node_id` is to take. A pending snapshot whose node is no longer
/// healthy moves to this node when it holds a ready, in-sync replica of the volume (the new node
/// starts over: see [`record_progress`]).
pub async fn tasks(pool: &PgPool, node_id: &str) -> Result<Vec<SnapshotTask>> {
    sqlx::query(
        "UPDATE block_storage.snapshots s SET node_id = $1, progress = 0
         WHERE s.state = 'pending' AND s.node_id <> $1
           AND NOT EXISTS (SELECT 1 FROM object_storage.node_inventory n
                           WHERE n.node_id = s.node_id AND n.healthy)
           AND EXISTS (SELECT 1 FROM block_storage.volume_replicas r
                       WHERE r.volume_id = s.volume_id AND r.node_id = $1
                         AND r.desired = 'present' AND r.reported = 'ready' AND r.in_sync)",
    )
    .bind(node_id)
    .execute(pool)
    .await?;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT snapshot_id, volume_id FROM block_storage.snapshots
         WHERE node_id = $1 AND state = 'pending' ORDER BY started_at, snapshot_id",
    )
    .bind(node_id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(snapshot_id, volume_id)| SnapshotTask {
            snapshot_id,
            volume_id,
        })
        .collect())
}

/// The chunks a snapshot of `size_gib` has (its highest index + 1).
fn chunk_count(size_gib: i32) -> u64 {
    u64::try_from(size_gib).unwrap_or_default() * GIB / SNAPSHOT_CHUNK_BYTES
}

/// The size of the pending snapshot `node_id` is taking, locked (`NotFound` otherwise).
async fn taking(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    node_id: &str,
    snapshot_id: &str,
) -> Result<i32> {
    sqlx::query_scalar(
        "SELECT volume_size_gib FROM block_storage.snapshots
         WHERE snapshot_id = $1 AND node_id = $2 AND state = 'pending' FOR UPDATE",
    )
    .bind(snapshot_id)
    .bind(node_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| unknown(snapshot_id))
}

/// Record a page of a pending snapshot's chunks: those whose bytes are stored are
/// referenced (again: idempotent), the others come back as missing.
pub async fn record_chunks(
    pool: &PgPool,
    node_id: &str,
    snapshot_id: &str,
    page: &SnapshotChunks,
) -> Result<MissingChunks> {
    if page.chunks.len() > SNAPSHOT_CHUNKS_PER_PAGE {
        return Err(BlockStorageError::invalid(format!(
            "a page holds at most {SNAPSHOT_CHUNKS_PER_PAGE} chunks"
        )));
    }
    let mut tx = pool.begin().await?;
    let size_gib = taking(&mut tx, node_id, snapshot_id).await?;
    let count = chunk_count(size_gib);
    if let Some(bad) = page
        .chunks
        .iter()
        .find(|c| c.index >= count || !is_sha256(&c.sha256))
    {
        return Err(BlockStorageError::invalid(format!(
            "chunk {} ({}) is not one of this snapshot's",
            bad.index, bad.sha256
        )));
    }
    let mut hashes: Vec<&str> = page.chunks.iter().map(|c| c.sha256.as_str()).collect();
    hashes.sort_unstable();
    hashes.dedup();
    // Held rows cannot be deleted (a snapshot deletion dropping them) until this commits.
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT sha256 FROM block_storage.chunks WHERE sha256 = ANY($1)
         ORDER BY sha256 FOR SHARE",
    )
    .bind(&hashes)
    .fetch_all(&mut *tx)
    .await?;
    let (present, absent): (Vec<&SnapshotChunkRef>, Vec<&SnapshotChunkRef>) = page
        .chunks
        .iter()
        .partition(|c| stored.binary_search(&c.sha256).is_ok());
    let indexes: Vec<i64> = present
        .iter()
        .map(|c| i64::try_from(c.index).unwrap_or(i64::MAX))
        .collect();
    let shas: Vec<&str> = present.iter().map(|c| c.sha256.as_str()).collect();
    let added: Vec<(String, i64)> = sqlx::query_as(
        "WITH added AS (
             INSERT INTO block_storage.snapshot_chunks (snapshot_id, chunk_index, sha256)
             SELECT $1, * FROM unnest($2::bigint[], $3::text[])
             ON CONFLICT (snapshot_id, chunk_index) DO NOTHING RETURNING sha256)
         SELECT sha256, count(*) FROM added GROUP BY sha256 ORDER BY sha256",
    )
    .bind(snapshot_id)
    .bind(&indexes)
    .bind(&shas)
    .fetch_all(&mut *tx)
    .await?;
    let (added_hashes, by): (Vec<String>, Vec<i64>) = added.into_iter().unzip();
    sqlx::query(
        "UPDATE block_storage.chunks c SET refcount = c.refcount + d.n
         FROM unnest($1::text[], $2::bigint[]) AS d(sha256, n) WHERE c.sha256 = d.sha256",
    )
    .bind(&added_hashes)
    .bind(&by)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let mut missing: Vec<String> = absent.iter().map(|c| c.sha256.clone()).collect();
    missing.sort_unstable();
    missing.dedup();
    Ok(MissingChunks { missing })
}

/// Store one chunk of a pending snapshot the node is taking (its hash checked). A chunk
/// the service has already is not stored twice.
pub async fn store_chunk(
    storage: &BlockStorage,
    node_id: &str,
    snapshot_id: &str,
    sha256: &str,
    data: Bytes,
) -> Result<()> {
    let store = storage
        .chunks
        .as_ref()
        .ok_or_else(|| BlockStorageError::Internal("no chunk store is configured".into()))?;
    if data.is_empty() || data.len() as u64 > SNAPSHOT_CHUNK_BYTES {
        return Err(BlockStorageError::invalid(format!(
            "a chunk holds 1 to {SNAPSHOT_CHUNK_BYTES} bytes"
        )));
    }
    if sha256_hex(&data) != sha256 {
        return Err(BlockStorageError::invalid(format!(
            "the chunk's bytes do not hash to {sha256}"
        )));
    }
    {
        let mut tx = storage.pool.begin().await?;
        taking(&mut tx, node_id, snapshot_id).await?;
        tx.commit().await?;
    }
    let known: Option<String> =
        sqlx::query_scalar("SELECT sha256 FROM block_storage.chunks WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&storage.pool)
            .await?;
    if known.is_some() {
        return Ok(());
    }
    let size = data.len() as i32;
    let location = store.put(sha256, data).await?;
    let inserted = sqlx::query(
        "INSERT INTO block_storage.chunks (sha256, size, location) VALUES ($1, $2, $3)
         ON CONFLICT (sha256) DO NOTHING",
    )
    .bind(sha256)
    .bind(size)
    .bind(&location)
    .execute(&storage.pool)
    .await?;
    if inserted.rows_affected() == 0 {
        // Another upload of the same bytes won: ours is a duplicate.
        store.delete(&location).await?;
    }
    Ok(())
}

/// A node's progress on a snapshot it takes: `completed` (progress 100) or `error`.
/// `pending` at 0 % means the node starts (over) from a new point-in-time copy: the chunks
/// recorded before (an earlier attempt's, another node's) are dropped, so a snapshot never
/// mixes two points in time.
pub async fn record_progress(
    storage: &BlockStorage,
    node_id: &str,
    snapshot_id: &str,
    progress: &SnapshotProgress,
) -> Result<()> {
    let mut tx = storage.pool.begin().await?;
    taking(&mut tx, node_id, snapshot_id).await?;
    let starting = progress.state == SnapshotTaskState::Pending && progress.progress == 0;
    let orphans = if starting {
        crate::snapshots::release_chunks(&mut tx, snapshot_id).await?
    } else {
        Vec::new()
    };
    let detail: Option<String> = progress
        .detail
        .as_deref()
        .map(|d| d.chars().filter(|c| !c.is_control()).take(1024).collect());
    let (state, percent) = match progress.state {
        SnapshotTaskState::Pending => ("pending", i32::from(progress.progress.min(99))),
        SnapshotTaskState::Completed => ("completed", 100),
        SnapshotTaskState::Failed => ("error", i32::from(progress.progress.min(100))),
    };
    sqlx::query(
        "UPDATE block_storage.snapshots
         SET state = $2, progress = $3, status_message = $4,
             completed_at = CASE WHEN $2 = 'pending' THEN NULL ELSE now() END,
             node_id = CASE WHEN $2 = 'pending' THEN node_id END
         WHERE snapshot_id = $1",
    )
    .bind(snapshot_id)
    .bind(state)
    .bind(percent)
    .bind(detail)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::snapshots::forget_chunks(storage, &orphans).await;
    Ok(())
}

/// May `node_id` read this snapshot's chunks? It holds a replica restored from it.
async fn may_read(pool: &PgPool, node_id: &str, snapshot_id: &str) -> Result<()> {
    let allowed: bool = sqlx::query_scalar(
        "SELECT EXISTS (
             SELECT 1 FROM block_storage.volume_replicas r
             JOIN block_storage.volumes v ON v.volume_id = r.volume_id
             JOIN block_storage.snapshots s ON s.snapshot_id = v.snapshot_id
             WHERE r.node_id = $1 AND r.desired = 'present' AND v.snapshot_id = $2
               AND s.state = 'completed')",
    )
    .bind(node_id)
    .bind(snapshot_id)
    .fetch_one(pool)
    .await?;
    if allowed {
        Ok(())
    } else {
        Err(unknown(snapshot_id))
    }
}

/// A page of a snapshot's chunks after index `after` (from the first when `None`).
pub async fn chunk_page(
    pool: &PgPool,
    node_id: &str,
    snapshot_id: &str,
    after: Option<u64>,
) -> Result<ChunkPage> {
    may_read(pool, node_id, snapshot_id).await?;
    let after = after.map_or(-1, |a| i64::try_from(a).unwrap_or(i64::MAX));
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT chunk_index, sha256 FROM block_storage.snapshot_chunks
         WHERE snapshot_id = $1 AND chunk_index > $2 ORDER BY chunk_index LIMIT $3",
    )
    .bind(snapshot_id)
    .bind(after)
    .bind(SNAPSHOT_CHUNKS_PER_PAGE as i64)
    .fetch_all(pool)
    .await?;
    let full = rows.len() == SNAPSHOT_CHUNKS_PER_PAGE;
    let chunks: Vec<SnapshotChunkRef> = rows
        .into_iter()
        .map(|(index, sha256)| SnapshotChunkRef {
            index: u64::try_from(index).unwrap_or_default(),
            sha256,
        })
        .collect();
    let next_after = if full {
        chunks.last().map(|c| c.index)
    } else {
        None
    };
    Ok(ChunkPage { chunks, next_after })
}

/// The bytes of one of a snapshot's chunks.
pub async fn chunk_bytes(
    storage: &BlockStorage,
    node_id: &str,
    snapshot_id: &str,
    sha256: &str,
) -> Result<Bytes> {
    may_read(&storage.pool, node_id, snapshot_id).await?;
    let location: Option<String> = sqlx::query_scalar(
        "SELECT c.location FROM block_storage.snapshot_chunks s
         JOIN block_storage.chunks c ON c.sha256 = s.sha256
         WHERE s.snapshot_id = $1 AND s.sha256 = $2 LIMIT 1",
    )
    .bind(snapshot_id)
    .bind(sha256)
    .fetch_optional(&storage.pool)
    .await?;
    let location = location.ok_or_else(|| unknown(snapshot_id))?;
    let store = storage
        .chunks
        .as_ref()
        .ok_or_else(|| BlockStorageError::Internal("no chunk store is configured".into()))?;
    store.get(&location).await
}

async fn post_chunks(
    State(storage): State<BlockStorage>,
    Node(node_id): Node,
    Path(snapshot_id): Path<String>,
    ValidJson(page): ValidJson<SnapshotChunks>,
) -> Result<Json<MissingChunks>> {
    Ok(Json(
        record_chunks(&storage.pool, &node_id, &snapshot_id, &page).await?,
    ))
}

#[derive(Debug, Deserialize)]
struct PageQuery {
    after: Option<u64>,
}

async fn get_chunks(
    State(storage): State<BlockStorage>,
    Node(node_id): Node,
    Path(snapshot_id): Path<String>,
    Query(query): Query<PageQuery>,
) -> Result<Json<ChunkPage>> {
    Ok(Json(
        chunk_page(&storage.pool, &node_id, &snapshot_id, query.after).await?,
    ))
}

async fn put_chunk(
    State(storage): State<BlockStorage>,
    Node(node_id): Node,
    Path((snapshot_id, sha256)): Path<(String, String)>,
    data: Bytes,
) -> Result<StatusCode> {
    store_chunk(&storage, &node_id, &snapshot_id, &sha256, data).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn get_chunk(
    State(storage): State<BlockStorage>,
    Node(node_id): Node,
    Path((snapshot_id, sha256)): Path<(String, String)>,
) -> Result<Bytes> {
    chunk_bytes(&storage, &node_id, &snapshot_id, &sha256).await
}

async fn post_progress(
    State(storage): State<BlockStorage>,
    Node(node_id): Node,
    Path(snapshot_id): Path<String>,
    ValidJson(progress): ValidJson<SnapshotProgress>,
) -> Result<StatusCode> {
    record_progress(&storage, &node_id, &snapshot_id, &progress).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `volumes` with the snapshot each new replica starts from, for volumes created from one
/// (a replica with a source already keeps it).
pub async fn with_snapshot_sources(
    pool: &PgPool,
    mut volumes: Vec<kumo_storage_protocol::block::VolumeReplicaSpec>,
) -> Result<Vec<kumo_storage_protocol::block::VolumeReplicaSpec>> {
    let ids: Vec<&str> = volumes.iter().map(|v| v.volume_id.as_str()).collect();
    let sources: Vec<(String, String)> = sqlx::query_as(
        "SELECT volume_id, snapshot_id FROM block_storage.volumes
         WHERE volume_id = ANY($1) AND snapshot_id IS NOT NULL",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?;
    for volume in volumes.iter_mut().filter(|v| v.source.is_none()) {
        if let Some((_, snapshot_id)) = sources.iter().find(|(id, _)| *id == volume.volume_id) {
            volume.source = Some(kumo_storage_protocol::block::ReplicaSource::Snapshot {
                snapshot_id: snapshot_id.clone(),
            });
        }
    }
    Ok(volumes)
}
