//! Block storage service: EBS volumes (`vol-…`) in the catalog's `block_storage` schema,
//! placed as replicas on the storage nodes of their zone; the native `/v1/volumes` API, the
//! operator's `/v1/block/nodes`, the EC2 volume actions, and the storage agents' block
//! protocol (`/v1/storage-agent/volumes`, see `kumo_storage_protocol::block`). Domain
//! logic lives in plain functions taking the caller's [`Principal`]; every query is scoped
//! by the caller's account (another account's volume answers `InvalidVolume.NotFound`).
//!
//! The data plane (qcow2 files exported over NBD with TLS-PSK) is the storage nodes' block
//! role, converging to what this service stores and reporting back.

pub mod agent;
pub mod api;
pub mod attachments;
pub mod chunk_store;
pub mod drain;
pub mod ec2;
pub mod error;
pub mod launch;
pub mod modifications;
pub mod nodes;
pub mod peer_copy;
pub mod placement;
pub mod replicas;
pub mod snapshots;
pub mod tags;
pub mod volume_types;
pub mod volumes;

use std::sync::Arc;

pub use error::{BlockStorageError, Result};
use kumo_auth::Principal;
use kumo_common::service::Started;
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct BlockStorageConfig {
    pub region: String,
    /// The availability zones of the region (a volume names one).
    pub zones: Vec<String>,
    /// Replicas per volume, where the zone has that many healthy storage nodes.
    pub replicas: usize,
    /// How long a replica's storage node may stay silent before the replica is replaced
    /// on another node of the zone (`replicas::replace_lost`).
    pub replace_grace: std::time::Duration,
}

impl Default for BlockStorageConfig {
    fn default() -> Self {
        Self {
            region: kumo_auth::DEFAULT_REGION.into(),
            zones: vec!["us-east-1a".into()],
            replicas: 2,
            replace_grace: replicas::DEFAULT_REPLACE_GRACE,
        }
    }
}

/// The block-storage service's state.
#[derive(Clone)]
pub struct BlockStorage {
    pub pool: PgPool,
    pub config: Arc<BlockStorageConfig>,
    /// Compute's instances, for AttachVolume (wired by the gateway).
    pub instances: Option<Arc<dyn attachments::InstanceDirectory>>,
    /// Where snapshot chunks are stored (wired by the gateway: object storage).
    pub chunks: Option<Arc<dyn chunk_store::ChunkStore>>,
}

impl BlockStorage {
    pub fn new(pool: PgPool, config: BlockStorageConfig) -> Self {
        Self {
            pool,
            config: Arc::new(config),
            instances: None,
            chunks: None,
        }
    }

    /// This service, reading the instances volumes attach to through `instances`.
    pub fn with_instances(mut self, instances: Arc<dyn attachments::InstanceDirectory>) -> Self {
        self.instances = Some(instances);
        self
    }

    /// This service, keeping snapshot chunks in `chunks`.
    pub fn with_chunk_store(mut self, chunks: Arc<dyn chunk_store::ChunkStore>) -> Self {
        self.chunks = Some(chunks);
        self
    }

    /// The native API routes and the storage agents' block protocol.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .merge(api::router(self.clone()))
            .merge(agent::router(self.clone()))
            .merge(nodes::router(self.clone()))
            .merge(snapshots::agent::router(self.clone()))
            .merge(snapshots::api::router(self.clone()))
    }

    /// Start this service: its routes, and the loop replacing lost replicas. Otherwise
    /// storage nodes converge to what it stores, and their reports move volumes along.
    pub fn start(&self) -> Started {
        Started {
            router: self.router(),
            tasks: vec![kumo_common::service::BackgroundTask::spawn(
                "block-storage.replicas",
                self.clone().run_replacement(),
            )],
        }
    }

    /// Every few seconds, replace the replicas of lost storage nodes and move those of
    /// draining ones.
    async fn run_replacement(self) {
        let period = (self.config.replace_grace / 4).clamp(
            std::time::Duration::from_millis(500),
            std::time::Duration::from_secs(10),
        );
        loop {
            tokio::time::sleep(period).await;
            if let Err(e) = replicas::replace_lost(&self.pool, self.config.replace_grace).await {
                tracing::warn!(error = %e, "replacing lost replicas failed");
            }
            if let Err(e) = drain::move_drained(&self.pool).await {
                tracing::warn!(error = %e, "moving drained replicas failed");
            }
            if let Err(e) = peer_copy::reset_stale(&self.pool).await {
                tracing::warn!(error = %e, "resetting stale replicas failed");
            }
        }
    }
}

/// The OpenAPI document of the native routes.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut document = api::BlockStorageApi::openapi();
    document.merge(nodes::NodesApi::openapi());
    document.merge(snapshots::api::SnapshotApi::openapi());
    document
}

/// The first of the requested `ids` that `found` lacks (a Describe's unknown id).
pub(crate) fn first_missing<'a, T>(
    ids: &'a [String],
    found: &[T],
    id_of: impl Fn(&T) -> &str,
) -> Option<&'a String> {
    ids.iter()
        .find(|id| !found.iter().any(|item| id_of(item) == id.as_str()))
}

/// Tenant writes need a role that may write.
pub fn require_write(caller: &Principal) -> Result<()> {
    if caller.role.can_write() {
        Ok(())
    } else {
        Err(BlockStorageError::Forbidden(format!(
            "You are not authorized to perform this operation: role {} is read-only",
            caller.role
        )))
    }
}

/// Operator-only routes (the storage nodes' block pools).
pub fn require_operator(caller: &Principal) -> Result<()> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(BlockStorageError::Forbidden(
            "only operators can see the storage nodes' block pools".into(),
        ))
    }
}
