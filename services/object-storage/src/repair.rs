//! Re-replication: chunks with fewer replicas on healthy, enabled nodes than wanted (a node
//! died or was disabled, or a write found too few nodes) get new replicas on other nodes,
//! copied from a verified existing replica. Runs in the background, in batches.

use std::collections::HashMap;

use serde::Serialize;

use crate::blobs::{self, StoredChunk};
use crate::error::Result;
use crate::nodes::{self, NodeEndpoint};
use crate::ObjectStorage;

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct RepairReport {
    /// Chunks found with too few healthy replicas.
    pub under_replicated: u64,
    /// Replicas written.
    pub replicas_added: u64,
    /// Chunks that could not be repaired this round (no readable replica, no target).
    pub failed: u64,
}

/// Repair up to `batch` under-replicated chunks.
pub async fn rereplicate(storage: &ObjectStorage, batch: i64) -> Result<RepairReport> {
    let mut report = RepairReport::default();
    let endpoints = nodes::endpoints(storage).await?;
    // Replicas count when their node is healthy and enabled: disabling a node drains it
    // (its chunks are copied to the others; it is still read until then).
    let healthy: Vec<String> = endpoints
        .iter()
        .filter(|n| n.healthy && n.writable)
        .map(|n| n.node_id.clone())
        .collect();
    let writable = endpoints.iter().filter(|n| n.healthy && n.writable).count();
    let wanted = storage.config.replication.min(writable) as i64;
    if wanted == 0 {
        return Ok(report);
    }
    // Only chunks something references: unreferenced ones are garbage collection's.
    let chunks: Vec<StoredChunk> = sqlx::query_as::<_, StoredChunk>(
        "SELECT 0 AS seq, c.sha256, c.size, 0::bigint AS offset_bytes,
                COALESCE(array_agg(r.node_id ORDER BY r.node_id) FILTER (WHERE r.node_id IS NOT NULL), '{}') AS nodes
         FROM object_storage.chunks c
         LEFT JOIN object_storage.chunk_replicas r ON r.sha256 = c.sha256
         WHERE EXISTS (SELECT 1 FROM object_storage.blob_chunks b WHERE b.sha256 = c.sha256)
         GROUP BY c.sha256, c.size
         HAVING count(r.node_id) FILTER (WHERE r.node_id = ANY($1)) < $2
         LIMIT $3",
    )
    .bind(&healthy)
    .bind(wanted)
    .bind(batch)
    .fetch_all(&storage.pool)
    .await?;
    if chunks.is_empty() {
        return Ok(report);
    }
    let by_id: HashMap<String, NodeEndpoint> = endpoints
        .iter()
        .map(|n| (n.node_id.clone(), n.clone()))
        .collect();
    for chunk in &chunks {
        report.under_replicated += 1;
        let have = chunk.nodes.iter().filter(|id| healthy.contains(id)).count() as i64;
        let data = match blobs::fetch_chunk(storage, &by_id, chunk).await {
            Ok(data) => data,
            Err(e) => {
                tracing::warn!(chunk = %chunk.sha256, error = %e, "re-replication: no readable replica");
                report.failed += 1;
                continue;
            }
        };
        let targets: Vec<&NodeEndpoint> = blobs::replica_order(&chunk.sha256, &endpoints)
            .into_iter()
            .filter(|n| !chunk.nodes.contains(&n.node_id))
            .take((wanted - have).max(0) as usize)
            .collect();
        if targets.is_empty() {
            report.failed += 1;
            continue;
        }
        for node in targets {
            match blobs::put_chunk(storage, node, &chunk.sha256, data.clone()).await {
                Ok(()) => {
                    sqlx::query(
                        "INSERT INTO object_storage.chunk_replicas (sha256, node_id) VALUES ($1, $2)
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&chunk.sha256)
                    .bind(&node.node_id)
                    .execute(&storage.pool)
                    .await?;
                    report.replicas_added += 1;
                }
                Err(e) => {
                    tracing::warn!(node_id = %node.node_id, chunk = %chunk.sha256, error = %e, "re-replication write failed");
                    report.failed += 1;
                }
            }
        }
    }
    if report.replicas_added > 0 {
        tracing::info!(?report, "re-replicated under-replicated chunks");
    }
    Ok(report)
}
