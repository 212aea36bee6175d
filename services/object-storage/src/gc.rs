//! Garbage collection, outside the request path:
//! 1. dead blobs (overwritten or deleted versions, aborted or consumed parts) lose their
//!    chunk references;
//! 2. chunks nobody references and nobody wrote within the grace period are deleted from
//!    their nodes, then from the catalog;
//! 3. each node's chunks the catalog does not know (an upload that died between writing
//!    chunks and recording them) are deleted once older than the grace period.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use kumo_storage_protocol::{ChunkList, NODE_TOKEN_HEADER};
use serde::Serialize;

use crate::blobs;
use crate::error::{Result, StorageError};
use crate::nodes::{self, NodeEndpoint};
use crate::ObjectStorage;

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct GcReport {
    pub blobs_released: u64,
    pub chunks_deleted: u64,
    pub replicas_deleted: u64,
    pub strays_deleted: u64,
}

pub async fn collect(storage: &ObjectStorage, grace: Duration) -> Result<GcReport> {
    let mut report = GcReport::default();
    let pool = &storage.pool;

    let released = sqlx::query(
        "WITH dead AS (DELETE FROM object_storage.dead_blobs RETURNING blob_id)
         DELETE FROM object_storage.blob_chunks WHERE blob_id IN (SELECT blob_id FROM dead)",
    )
    .execute(pool)
    .await?;
    report.blobs_released = released.rows_affected();

    let endpoints: HashMap<String, NodeEndpoint> = nodes::endpoints(storage)
        .await?
        .into_iter()
        .map(|n| (n.node_id.clone(), n))
        .collect();

    // Claim unreferenced, old chunks: the rows go first (in one statement, so a chunk that
    // gained a reference meanwhile is not taken), then the replicas.
    let doomed: Vec<(String, Vec<String>)> = sqlx::query_as(
        "WITH doomed AS (
             DELETE FROM object_storage.chunks c
             WHERE c.last_written_at < now() - make_interval(secs => $1)
               AND NOT EXISTS (SELECT 1 FROM object_storage.blob_chunks b WHERE b.sha256 = c.sha256)
             RETURNING c.sha256)
         SELECT d.sha256, COALESCE(array_agg(r.node_id) FILTER (WHERE r.node_id IS NOT NULL), '{}')
         FROM doomed d LEFT JOIN object_storage.chunk_replicas r ON r.sha256 = d.sha256
         GROUP BY d.sha256",
    )
    .bind(grace.as_secs_f64())
    .fetch_all(pool)
    .await?;
    for (sha256, holders) in &doomed {
        report.chunks_deleted += 1;
        for node_id in holders {
            if let Some(node) = endpoints.get(node_id) {
                match blobs::delete_chunk(storage, node, sha256).await {
                    Ok(()) => report.replicas_deleted += 1,
                    // Left behind on a dead node: the stray sweep takes it later.
                    Err(e) => {
                        tracing::warn!(%node_id, chunk = %sha256, error = %e, "could not delete chunk replica")
                    }
                }
            }
        }
    }

    for node in endpoints.values().filter(|n| n.healthy) {
        match sweep_strays(storage, node, grace).await {
            Ok(n) => report.strays_deleted += n,
            Err(e) => tracing::warn!(node_id = %node.node_id, error = %e, "stray sweep failed"),
        }
    }
    Ok(report)
}

/// Delete a node's chunks that the catalog does not record on it, once old enough.
async fn sweep_strays(
    storage: &ObjectStorage,
    node: &NodeEndpoint,
    grace: Duration,
) -> Result<u64> {
    let mut deleted = 0;
    let mut after: Option<String> = None;
    let cutoff = chrono::Utc::now().timestamp() - grace.as_secs() as i64;
    loop {
        let mut request = storage
            .http
            .get(format!("{}/v1/chunks", node.address))
            .header(NODE_TOKEN_HEADER, &node.node_token)
            .query(&[("limit", "1000")]);
        if let Some(after) = &after {
            request = request.query(&[("after", after.as_str())]);
        }
        let page: ChunkList = request
            .send()
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?
            .error_for_status()
            .map_err(|e| StorageError::Unavailable(e.to_string()))?
            .json()
            .await
            .map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let names: Vec<String> = page.chunks.iter().map(|c| c.sha256.clone()).collect();
        let known: HashSet<String> = sqlx::query_scalar(
            "SELECT sha256 FROM object_storage.chunk_replicas WHERE node_id = $1 AND sha256 = ANY($2)",
        )
        .bind(&node.node_id)
        .bind(&names)
        .fetch_all(&storage.pool)
        .await?
        .into_iter()
        .collect();
        for chunk in &page.chunks {
            if !known.contains(&chunk.sha256) && chunk.modified_unix < cutoff {
                blobs::delete_chunk(storage, node, &chunk.sha256).await?;
                deleted += 1;
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(deleted),
        }
    }
}
