//! The data path: object bytes as content-addressed chunks replicated across storage nodes.
//!
//! A blob is an ordered list of chunks (`object_storage.blob_chunks`). Writing
//! ([`crate::write::write_object`]) cuts a byte stream into chunks and hands each to
//! [`write_chunk`], which hashes it and writes it to its replica nodes. A chunk counts as
//! written only when every chosen replica acknowledged it durably (the node fsyncs before
//! answering). Reading fetches chunks from a healthy replica,
//! verifies the SHA-256, and tries the next replica on any failure; a replica found corrupt
//! is repaired from the good copy in the background.

use std::collections::HashMap;

use bytes::Bytes;
use futures::stream::{Stream, StreamExt};
use kumo_storage_protocol::NODE_TOKEN_HEADER;
use sha2::Digest;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use crate::error::{Result, StorageError};
use crate::nodes::{self, NodeEndpoint};
use crate::ObjectStorage;

/// Chunks fetched ahead per download.
pub const READS_AHEAD: usize = 2;

/// One chunk of a written blob.
#[derive(Debug, Clone)]
pub struct WrittenChunk {
    pub sha256: String,
    pub size: u64,
}

/// A blob whose chunks are durable on their replicas but not yet referenced by the catalog:
/// [`commit_blob`] references them inside the caller's transaction. Made by
/// [`crate::write::write_object`] only.
#[derive(Debug, Clone)]
pub struct WrittenBlob {
    pub chunks: Vec<WrittenChunk>,
    pub size: u64,
}

/// Reference a written blob's chunks under a new blob id, inside `tx`.
pub async fn commit_blob(tx: &mut Transaction<'_, Postgres>, blob: &WrittenBlob) -> Result<Uuid> {
    let blob_id = Uuid::new_v4();
    let mut offset = 0i64;
    let mut seqs = Vec::with_capacity(blob.chunks.len());
    let mut hashes = Vec::with_capacity(blob.chunks.len());
    let mut sizes = Vec::with_capacity(blob.chunks.len());
    let mut offsets = Vec::with_capacity(blob.chunks.len());
    for (seq, chunk) in blob.chunks.iter().enumerate() {
        seqs.push(seq as i32);
        hashes.push(chunk.sha256.clone());
        sizes.push(chunk.size as i64);
        offsets.push(offset);
        offset += chunk.size as i64;
    }
    sqlx::query(
        "INSERT INTO object_storage.blob_chunks (blob_id, seq, sha256, size, offset_bytes)
         SELECT $1, * FROM unnest($2::int[], $3::text[], $4::bigint[], $5::bigint[])",
    )
    .bind(blob_id)
    .bind(&seqs)
    .bind(&hashes)
    .bind(&sizes)
    .bind(&offsets)
    .execute(&mut **tx)
    .await?;
    Ok(blob_id)
}

/// A new blob made of `sources`' chunks in order (multipart completion, copies): no data
/// moves, only references.
pub async fn concat_blobs(tx: &mut Transaction<'_, Postgres>, sources: &[Uuid]) -> Result<Uuid> {
    let blob_id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO object_storage.blob_chunks (blob_id, seq, sha256, size, offset_bytes)
         SELECT $1, (row_number() OVER w - 1)::int, c.sha256, c.size,
                COALESCE(sum(c.size) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0)::bigint
         FROM unnest($2::uuid[]) WITH ORDINALITY AS s(blob_id, ord)
         JOIN object_storage.blob_chunks c ON c.blob_id = s.blob_id
         WINDOW w AS (ORDER BY s.ord, c.seq)",
    )
    .bind(blob_id)
    .bind(sources)
    .execute(&mut **tx)
    .await?;
    Ok(blob_id)
}

/// Mark a blob unreferenced; garbage collection drops its chunk references later.
pub async fn release_blob(tx: &mut Transaction<'_, Postgres>, blob_id: Option<Uuid>) -> Result<()> {
    if let Some(blob_id) = blob_id {
        sqlx::query(
            "INSERT INTO object_storage.dead_blobs (blob_id) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(blob_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Replica order for a chunk: rendezvous hashing over the nodes, so a chunk written twice
/// lands on the same nodes and the load spreads evenly.
pub(crate) fn replica_order<'a>(sha256: &str, nodes: &'a [NodeEndpoint]) -> Vec<&'a NodeEndpoint> {
    let mut scored: Vec<(Vec<u8>, &NodeEndpoint)> = nodes
        .iter()
        .filter(|n| n.healthy && n.writable)
        .map(|n| {
            let mut h = sha2::Sha256::new();
            h.update(sha256.as_bytes());
            h.update(n.node_id.as_bytes());
            (h.finalize().to_vec(), n)
        })
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0));
    scored.into_iter().map(|(_, n)| n).collect()
}

/// Write one chunk to `min(replication, candidates)` nodes in its rendezvous order (a failed
/// node is replaced by the next candidate) and record the replicas.
pub(crate) async fn write_chunk(
    storage: &ObjectStorage,
    nodes: &[NodeEndpoint],
    data: Bytes,
) -> Result<WrittenChunk> {
    let sha256 = hex::encode(sha2::Sha256::digest(&data));
    let size = data.len() as u64;
    let candidates = replica_order(&sha256, nodes);
    let wanted = storage.config.replication.max(1).min(candidates.len());
    if wanted == 0 {
        return Err(StorageError::Unavailable(
            "no healthy storage node accepts writes".into(),
        ));
    }
    // Touch the chunk row first: garbage collection spares recently written chunks, so a
    // chunk this upload reuses cannot be collected under it.
    sqlx::query(
        "INSERT INTO object_storage.chunks (sha256, size) VALUES ($1, $2)
         ON CONFLICT (sha256) DO UPDATE SET last_written_at = now()",
    )
    .bind(&sha256)
    .bind(size as i64)
    .execute(&storage.pool)
    .await?;

    let mut stored: Vec<String> = Vec::new();
    let mut next = 0;
    while stored.len() < wanted && next < candidates.len() {
        let batch: Vec<&NodeEndpoint> = candidates[next..]
            .iter()
            .take(wanted - stored.len())
            .copied()
            .collect();
        next += batch.len();
        let results = futures::future::join_all(
            batch
                .iter()
                .map(|node| put_chunk(storage, node, &sha256, data.clone())),
        )
        .await;
        for (node, result) in batch.iter().zip(results) {
            match result {
                Ok(()) => stored.push(node.node_id.clone()),
                Err(e) => {
                    tracing::warn!(node_id = %node.node_id, chunk = %sha256, error = %e, "chunk write failed; trying another node")
                }
            }
        }
    }
    if stored.is_empty() {
        return Err(StorageError::Unavailable(format!(
            "chunk {sha256} could not be written to any storage node"
        )));
    }
    if stored.len() < storage.config.replication {
        tracing::warn!(chunk = %sha256, replicas = stored.len(), wanted = storage.config.replication, "chunk under-replicated: not enough healthy nodes");
    }
    sqlx::query(
        "INSERT INTO object_storage.chunk_replicas (sha256, node_id)
         SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(&sha256)
    .bind(&stored)
    .execute(&storage.pool)
    .await?;
    Ok(WrittenChunk { sha256, size })
}

pub(crate) async fn put_chunk(
    storage: &ObjectStorage,
    node: &NodeEndpoint,
    sha256: &str,
    data: Bytes,
) -> Result<()> {
    let response = storage
        .http
        .put(format!("{}/v1/chunks/{sha256}", node.address))
        .header(NODE_TOKEN_HEADER, &node.node_token)
        .body(data)
        .send()
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))?;
    if response.status().is_success() {
        Ok(())
    } else {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(StorageError::Unavailable(format!(
            "node answered {status}: {text}"
        )))
    }
}

/// One chunk of a stored blob, with the nodes holding it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredChunk {
    pub seq: i32,
    pub sha256: String,
    pub size: i64,
    pub offset_bytes: i64,
    pub nodes: Vec<String>,
}

pub async fn chunks_of(pool: &PgPool, blob_id: Uuid) -> Result<Vec<StoredChunk>> {
    Ok(sqlx::query_as::<_, StoredChunk>(
        "SELECT c.seq, c.sha256, c.size, c.offset_bytes,
                COALESCE(array_agg(r.node_id ORDER BY r.node_id) FILTER (WHERE r.node_id IS NOT NULL), '{}') AS nodes
         FROM object_storage.blob_chunks c
         LEFT JOIN object_storage.chunk_replicas r ON r.sha256 = c.sha256
         WHERE c.blob_id = $1
         GROUP BY c.seq, c.sha256, c.size, c.offset_bytes ORDER BY c.seq",
    )
    .bind(blob_id)
    .fetch_all(pool)
    .await?)
}

/// The bytes `[start, end)` of a blob, as a stream of verified chunk slices. The first
/// chunk is fetched before this returns: when no replica of it can be read, the caller gets
/// the error while it can still answer with an error status, rather than a response that
/// breaks off after its headers.
pub async fn read_range(
    storage: &ObjectStorage,
    blob_id: Option<Uuid>,
    start: u64,
    end: u64,
) -> Result<impl Stream<Item = Result<Bytes>> + Send + 'static> {
    let chunks = match blob_id {
        Some(id) if end > start => chunks_of(&storage.pool, id).await?,
        _ => Vec::new(),
    };
    let endpoints: HashMap<String, NodeEndpoint> = nodes::endpoints(storage)
        .await?
        .into_iter()
        .map(|n| (n.node_id.clone(), n))
        .collect();
    let wanted: Vec<(StoredChunk, usize, usize)> = chunks
        .into_iter()
        .filter_map(|c| {
            let c_start = c.offset_bytes as u64;
            let c_end = c_start + c.size as u64;
            if c_end <= start || c_start >= end {
                return None;
            }
            let from = start.saturating_sub(c_start) as usize;
            let to = (end.min(c_end) - c_start) as usize;
            Some((c, from, to))
        })
        .collect();
    let storage = storage.clone();
    let endpoints = std::sync::Arc::new(endpoints);
    let mut chunks = Box::pin(
        futures::stream::iter(wanted)
            .map(move |(chunk, from, to)| {
                let storage = storage.clone();
                let endpoints = endpoints.clone();
                async move {
                    let data = fetch_chunk(&storage, &endpoints, &chunk).await?;
                    Ok(data.slice(from..to))
                }
            })
            .buffered(READS_AHEAD),
    );
    let first = match chunks.next().await {
        Some(Err(e)) => return Err(e),
        first => first,
    };
    Ok(futures::stream::iter(first).chain(chunks))
}

/// A chunk's bytes from the first replica that has them intact.
pub(crate) async fn fetch_chunk(
    storage: &ObjectStorage,
    endpoints: &HashMap<String, NodeEndpoint>,
    chunk: &StoredChunk,
) -> Result<Bytes> {
    let mut replicas: Vec<&NodeEndpoint> = chunk
        .nodes
        .iter()
        .filter_map(|id| endpoints.get(id))
        .collect();
    // Healthy nodes first; a silent node is still tried last (it may only be slow).
    replicas.sort_by_key(|n| !n.healthy);
    let mut corrupt: Vec<&NodeEndpoint> = Vec::new();
    for node in replicas {
        match get_chunk(storage, node, &chunk.sha256).await {
            Ok(data) => {
                let actual = hex::encode(sha2::Sha256::digest(&data));
                if actual == chunk.sha256 && data.len() as i64 == chunk.size {
                    for bad in corrupt {
                        repair(storage, bad.clone(), chunk.sha256.clone(), data.clone());
                    }
                    return Ok(data);
                }
                tracing::error!(node_id = %node.node_id, chunk = %chunk.sha256, actual = %actual, "chunk replica is corrupt; reading another replica");
                corrupt.push(node);
            }
            Err(e) => {
                tracing::warn!(node_id = %node.node_id, chunk = %chunk.sha256, error = %e, "chunk replica unreadable; trying another")
            }
        }
    }
    Err(StorageError::Unavailable(format!(
        "no intact replica of chunk {} is reachable",
        chunk.sha256
    )))
}

async fn get_chunk(storage: &ObjectStorage, node: &NodeEndpoint, sha256: &str) -> Result<Bytes> {
    let response = storage
        .http
        .get(format!("{}/v1/chunks/{sha256}", node.address))
        .header(NODE_TOKEN_HEADER, &node.node_token)
        .send()
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(StorageError::Unavailable(format!(
            "node answered {}",
            response.status()
        )));
    }
    response
        .bytes()
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))
}

/// Replace a corrupt replica with the verified bytes (delete first: a node keeps an existing
/// chunk on PUT).
fn repair(storage: &ObjectStorage, node: NodeEndpoint, sha256: String, data: Bytes) {
    let storage = storage.clone();
    tokio::spawn(async move {
        let deleted = storage
            .http
            .delete(format!("{}/v1/chunks/{sha256}", node.address))
            .header(NODE_TOKEN_HEADER, &node.node_token)
            .send()
            .await;
        if let Err(e) = deleted {
            tracing::warn!(node_id = %node.node_id, chunk = %sha256, error = %e, "repair: delete failed");
            return;
        }
        match put_chunk(&storage, &node, &sha256, data).await {
            Ok(()) => {
                tracing::info!(node_id = %node.node_id, chunk = %sha256, "corrupt replica repaired")
            }
            Err(e) => {
                tracing::warn!(node_id = %node.node_id, chunk = %sha256, error = %e, "repair failed")
            }
        }
    });
}

/// Delete a chunk from one node (garbage collection).
pub async fn delete_chunk(
    storage: &ObjectStorage,
    node: &NodeEndpoint,
    sha256: &str,
    unmodified_since: Option<i64>,
) -> Result<bool> {
    let mut request = storage
        .http
        .delete(format!("{}/v1/chunks/{sha256}", node.address))
        .header(NODE_TOKEN_HEADER, &node.node_token);
    if let Some(since) = unmodified_since {
        request = request.query(&[("unmodified_since", since)]);
    }
    let response = request
        .send()
        .await
        .map_err(|e| StorageError::Unavailable(e.to_string()))?;
    match response.status() {
        s if s.is_success() || s == http::StatusCode::NOT_FOUND => Ok(true),
        // Written again meanwhile (a new upload of the same content): keep it.
        http::StatusCode::PRECONDITION_FAILED => Ok(false),
        s => Err(StorageError::Unavailable(format!("node answered {s}"))),
    }
}
