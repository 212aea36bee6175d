//! Garbage collection, outside the request path:
//! 1. dead blobs (overwritten or deleted versions, aborted or consumed parts) lose their
//!    chunk references;
//! 2. chunks nobody references and nobody wrote within the grace period are deleted from
//!    the catalog and their nodes, in batches whose rows stay locked until their replicas
//!    are gone (a writer reusing such a chunk waits, then writes it anew);
//! 3. each node's chunks the catalog does not know (an upload that died between writing
//!    chunks and recording them) are deleted once older than the grace period.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
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

    let released: i64 = sqlx::query_scalar(
        "WITH dead AS (DELETE FROM object_storage.dead_blobs RETURNING blob_id),
              refs AS (DELETE FROM object_storage.blob_chunks WHERE blob_id IN (SELECT blob_id FROM dead))
         SELECT count(*) FROM dead",
    )
    .fetch_one(pool)
    .await?;
    report.blobs_released = released as u64;

    let endpoints: HashMap<String, NodeEndpoint> = nodes::endpoints(storage)
        .await?
        .into_iter()
        .map(|n| (n.node_id.clone(), n))
        .collect();

    // Unreferenced, old chunks go in batches, each in one transaction that keeps the claimed
    // rows locked while their replicas are deleted from the nodes. A writer that reuses one
    // of these chunks meanwhile (same content uploaded again) waits on the row in its
    // `INSERT … ON CONFLICT`, re-creates it once the batch is gone and writes the chunk to
    // its nodes afresh: it can never record a replica that is being deleted.
    loop {
        let (batch, claimed) = collect_batch(storage, &endpoints, grace, &mut report).await?;
        if claimed < batch {
            break;
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

/// Chunks claimed per garbage-collection transaction.
const BATCH: usize = 256;
/// Replica deletions in flight at once.
const DELETES_IN_FLIGHT: usize = 16;

/// Claim up to [`BATCH`] collectable chunks and delete them: `(BATCH, chunks claimed)`.
async fn collect_batch(
    storage: &ObjectStorage,
    endpoints: &HashMap<String, NodeEndpoint>,
    grace: Duration,
    report: &mut GcReport,
) -> Result<(usize, usize)> {
    let mut tx = storage.pool.begin().await?;
    let doomed: Vec<(String, Vec<String>)> = sqlx::query_as(
        "WITH claimed AS (
             SELECT c.sha256 FROM object_storage.chunks c
             WHERE c.last_written_at < now() - make_interval(secs => $1)
               AND NOT EXISTS (SELECT 1 FROM object_storage.blob_chunks b WHERE b.sha256 = c.sha256)
             ORDER BY c.sha256 LIMIT $2
             FOR UPDATE SKIP LOCKED)
         SELECT d.sha256,
                COALESCE(array_agg(r.node_id ORDER BY r.node_id) FILTER (WHERE r.node_id IS NOT NULL), '{}')
         FROM claimed d LEFT JOIN object_storage.chunk_replicas r ON r.sha256 = d.sha256
         GROUP BY d.sha256",
    )
    .bind(grace.as_secs_f64())
    .bind(BATCH as i64)
    .fetch_all(&mut *tx)
    .await?;
    if doomed.is_empty() {
        tx.rollback().await?;
        return Ok((BATCH, 0));
    }
    // The rows go first (not yet committed): a reference that appeared since the claim
    // makes this fail on the foreign key, before any replica is touched.
    let names: Vec<&str> = doomed.iter().map(|(sha256, _)| sha256.as_str()).collect();
    sqlx::query("DELETE FROM object_storage.chunks WHERE sha256 = ANY($1)")
        .bind(&names)
        .execute(&mut *tx)
        .await?;
    // Replicas on unhealthy nodes are left to the stray sweep, once the node is back.
    let deletions: Vec<(NodeEndpoint, String)> = doomed
        .iter()
        .flat_map(|(sha256, holders)| {
            holders
                .iter()
                .filter_map(|id| endpoints.get(id))
                .filter(|node| node.healthy)
                .map(move |node| (node.clone(), sha256.clone()))
        })
        .collect();
    let results: Vec<bool> = futures::stream::iter(deletions)
        .map(|(node, sha256)| {
            let storage = storage.clone();
            async move {
                match blobs::delete_chunk(&storage, &node, &sha256, None).await {
                    Ok(deleted) => deleted,
                    Err(e) => {
                        tracing::warn!(node_id = %node.node_id, chunk = %sha256, error = %e, "could not delete chunk replica; the stray sweep retries");
                        false
                    }
                }
            }
        })
        .buffer_unordered(DELETES_IN_FLIGHT)
        .collect()
        .await;
    tx.commit().await?;
    report.chunks_deleted += doomed.len() as u64;
    report.replicas_deleted += results.iter().filter(|ok| **ok).count() as u64;
    Ok((BATCH, doomed.len()))
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
            // Conditional: an upload may re-put this very chunk between our listing and
            // the delete; the node then refuses (its mtime moved past the cutoff).
            if !known.contains(&chunk.sha256)
                && chunk.modified_unix < cutoff
                && blobs::delete_chunk(storage, node, &chunk.sha256, Some(cutoff)).await?
            {
                deleted += 1;
            }
        }
        match page.next_after {
            Some(next) => after = Some(next),
            None => return Ok(deleted),
        }
    }
}
