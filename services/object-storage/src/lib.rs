//! Object storage: buckets, object versions, multipart uploads and tags in the catalog
//! (strongly consistent: a commit is one transaction); object data as content-addressed
//! chunks replicated across storage nodes; the S3 REST facade and the native `/v1/` API.
//!
//! Data path: every write (S3 PutObject, UploadPart, UploadPartCopy, the native upload)
//! streams its body through [`write::write_object`], which cuts it into chunks of
//! [`ObjectStorageConfig::chunk_size`], hashes each, and writes each to N storage nodes
//! before the next few are read (memory stays bounded), then checks the whole body. Only
//! when every chunk is durable on its replicas and the body passed its checks does one
//! catalog transaction make the version visible. A GET
//! reads chunks from any healthy replica, verifying each chunk's SHA-256, and falls back to
//! the next replica on a mismatch or a dead node.

pub mod api;
pub mod blobs;
pub mod buckets;
pub mod checksum;
pub mod error;
pub mod gc;
pub mod multipart;
pub mod nodes;
pub mod objects;
pub mod repair;
pub mod s3;
pub mod write;

use std::sync::Arc;
use std::time::Duration;

pub use error::{Result, StorageError};
use kumo_auth::Principal;
use kumo_common::service::{BackgroundTask, Started};
use kumo_common::JoinToken;
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct ObjectStorageConfig {
    pub region: String,
    /// Replicas per chunk; fewer when fewer healthy nodes exist (at least one).
    pub replication: usize,
    /// Size of the chunks object data is cut into.
    pub chunk_size: usize,
    /// A node silent this long is unhealthy: no new chunks, read last.
    pub heartbeat_timeout: Duration,
    /// What heartbeat interval nodes are asked for.
    pub heartbeat_interval: Duration,
    /// Unreferenced chunks younger than this are spared by garbage collection.
    pub gc_grace: Duration,
    /// Longest a request to a storage node (one chunk, at most 8 MiB) may take: a node
    /// that hangs (frozen process, partitioned network) counts as failed after this, and
    /// the read or write moves on to another replica.
    pub node_timeout: Duration,
    /// Suffix of virtual-host-style names (`<bucket>.<suffix>`), e.g. `s3.localhost`.
    pub virtual_host_suffixes: Vec<String>,
}

impl Default for ObjectStorageConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            replication: 3,
            chunk_size: 4 * 1024 * 1024,
            heartbeat_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(5),
            gc_grace: Duration::from_secs(3600),
            node_timeout: Duration::from_secs(30),
            virtual_host_suffixes: vec!["s3.localhost".into(), "localhost".into()],
        }
    }
}

/// The object-storage service's state.
#[derive(Clone)]
pub struct ObjectStorage {
    pub pool: PgPool,
    pub config: Arc<ObjectStorageConfig>,
    /// Talks to storage nodes (pooled connections).
    pub http: reqwest::Client,
}

impl ObjectStorage {
    pub fn new(pool: PgPool, config: ObjectStorageConfig) -> Self {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .connect_timeout(Duration::from_secs(3).min(config.node_timeout))
            .timeout(config.node_timeout)
            .build()
            .unwrap_or_default();
        Self {
            pool,
            config: Arc::new(config),
            http,
        }
    }

    /// The native API routes, including the storage-node protocol.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// Start this service: its routes, and its one loop (`object-storage.housekeeping`:
    /// re-replication and garbage collection). Node health needs no loop: it is read from
    /// heartbeats when asked.
    pub fn start(&self) -> Started {
        Started {
            router: self.router(),
            tasks: vec![BackgroundTask::spawn(
                "object-storage.housekeeping",
                self.clone().run_housekeeping(),
            )],
        }
    }

    /// A join token for a storage node, valid for `ttl` (for nodes started with the
    /// control plane; operators get theirs through the API).
    pub async fn create_join_token(&self, ttl: Duration) -> Result<JoinToken> {
        nodes::create_join_token(&self.pool, ttl).await
    }

    /// Background upkeep: re-replicate chunks that lost replicas (every 30 s) and
    /// garbage-collect chunks nobody references (every 5 min). Runs until dropped.
    async fn run_housekeeping(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        let mut round: u64 = 0;
        loop {
            tick.tick().await;
            round += 1;
            // A full batch means more may wait: go on until a round finds less.
            loop {
                match repair::rereplicate(&self, 256).await {
                    Ok(report) if report.under_replicated == 256 && report.failed == 0 => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "re-replication failed");
                        break;
                    }
                }
            }
            if !round.is_multiple_of(10) {
                continue;
            }
            match gc::collect(&self, self.config.gc_grace).await {
                Ok(report) if report.chunks_deleted > 0 => {
                    tracing::info!(?report, "garbage collection")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
            }
        }
    }
}

/// Writers need a role that can write.
pub fn require_write(caller: &Principal) -> Result<()> {
    if caller.role.can_write() {
        Ok(())
    } else {
        Err(StorageError::AccessDenied)
    }
}

/// Operator-only actions.
pub fn require_operator(caller: &Principal) -> Result<()> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(StorageError::S3(
            http::StatusCode::FORBIDDEN,
            "AccessDenied",
            "only operators can manage storage nodes".into(),
        ))
    }
}
