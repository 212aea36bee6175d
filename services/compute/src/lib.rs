//! Compute service: instance types, images, key pairs, instances and hosts; the scheduler
//! that places instances by free capacity; the agent protocol through which compute-node
//! agents converge their hosts to the catalog's desired state; the native `/v1/` API and
//! the EC2 facade. Domain logic lives in plain functions per resource.

pub mod agent_api;
pub mod api;
pub mod default_images;
pub mod ebs_images;
pub mod ec2;
pub mod error;
pub mod host_network;
pub mod hosts;
pub mod image_import;
pub mod images;
pub mod instance_types;
pub mod instances;
pub mod key_pairs;
pub mod network;
pub mod scheduler;
pub mod tags;
pub mod validate;
pub mod volumes;

use std::sync::Arc;
use std::time::Duration;

pub use error::{ComputeError, Result};
use kumo_auth::Principal;
use kumo_common::service::{BackgroundTask, Started};
use kumo_common::JoinToken;
use sqlx::PgPool;

/// How the scheduler chooses among hosts that fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weigher {
    /// Fill the most-used host first (fewer hosts busy).
    Pack,
    /// Use the least-used host first (spread the load).
    Spread,
}

#[derive(Debug, Clone)]
pub struct ComputeConfig {
    pub region: String,
    pub default_zone: String,
    pub weigher: Weigher,
    /// vCPU overcommit: a host with N cores takes up to N × this many instance vCPUs.
    pub cpu_allocation_ratio: f64,
    /// Memory overcommit.
    pub memory_allocation_ratio: f64,
    /// A host that has not synced for this long is unreachable: no new placements.
    pub heartbeat_timeout: Duration,
    /// Terminated instances stay visible this long, then are purged.
    pub terminated_retention: Duration,
    /// Where images imported from object storage are kept (a path every compute host can
    /// read); `None`: RegisterImage from object storage is refused.
    pub image_store: Option<std::path::PathBuf>,
}

impl Default for ComputeConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            default_zone: "us-east-1a".into(),
            weigher: Weigher::Spread,
            cpu_allocation_ratio: 16.0,
            memory_allocation_ratio: 1.0,
            heartbeat_timeout: Duration::from_secs(30),
            terminated_retention: Duration::from_secs(3600),
            image_store: None,
        }
    }
}

/// The compute service's state.
#[derive(Clone)]
pub struct Compute {
    pub pool: PgPool,
    pub config: Arc<ComputeConfig>,
    /// Object storage, for RegisterImage from `bucket/key` (wired by the gateway).
    pub objects: Option<Arc<dyn image_import::ObjectReader>>,
    /// The network service, for instances' interfaces (wired by the gateway).
    pub networking: Option<Arc<dyn network::InstanceNetworking>>,
    /// The network service, for what each host must build (wired by the gateway).
    pub host_networks: Option<Arc<dyn host_network::HostNetworkPlanner>>,
    /// The block-storage service, for instances' volumes (wired by the gateway).
    pub volumes: Option<Arc<dyn volumes::InstanceVolumes>>,
    /// The block-storage service's snapshots, for EBS images (wired by the gateway).
    pub image_snapshots: Option<Arc<dyn ebs_images::ImageSnapshots>>,
    /// The data-plane generation the agents' long polls wait on.
    pub data_plane: host_network::DataPlane,
    /// Whose ids CreateTags and DeleteTags may tag: compute's own, and every other
    /// service's the gateway registers ([`Compute::with_taggable`]).
    pub taggable: kumo_tags::ResourceOwners,
}

impl Compute {
    pub fn new(pool: PgPool, config: ComputeConfig) -> Self {
        Self {
            taggable: kumo_tags::ResourceOwners::default()
                .with(Arc::new(tags::ComputeResources::new(pool.clone()))),
            pool,
            config: Arc::new(config),
            objects: None,
            networking: None,
            host_networks: None,
            volumes: None,
            image_snapshots: None,
            data_plane: host_network::DataPlane::new(),
        }
    }

    /// This service, reading objects for RegisterImage through `reader`.
    pub fn with_object_reader(mut self, reader: Arc<dyn image_import::ObjectReader>) -> Self {
        self.objects = Some(reader);
        self
    }

    /// This service, answering CreateTags and DeleteTags for `owner`'s resources too (the
    /// EC2 tag actions are compute's; the tags of every service share one store).
    pub fn with_taggable(mut self, owner: Arc<dyn kumo_tags::TaggableResources>) -> Self {
        self.taggable = self.taggable.with(owner);
        self
    }

    /// This service, giving instances their network through `networking`.
    pub fn with_networking(mut self, networking: Arc<dyn network::InstanceNetworking>) -> Self {
        self.networking = Some(networking);
        self
    }

    /// This service, attaching instances' volumes through `volumes`.
    pub fn with_volumes(mut self, volumes: Arc<dyn volumes::InstanceVolumes>) -> Self {
        self.volumes = Some(volumes);
        self
    }

    /// This service, making EBS images from snapshots taken through `snapshots`.
    pub fn with_image_snapshots(mut self, snapshots: Arc<dyn ebs_images::ImageSnapshots>) -> Self {
        self.image_snapshots = Some(snapshots);
        self
    }

    /// This service, telling agents what to build for their VPCs through `planner`.
    pub fn with_host_network_planner(
        mut self,
        planner: Arc<dyn host_network::HostNetworkPlanner>,
    ) -> Self {
        self.host_networks = Some(planner);
        self
    }

    /// Answer the agents' waiting network polls now (the process is stopping: a poll
    /// would otherwise hold the server's shutdown up to its grace period).
    pub fn stop_long_polls(&self) {
        self.data_plane.stop_waiting();
    }

    /// The network service; launching needs it.
    pub fn networking(&self) -> Result<&dyn network::InstanceNetworking> {
        self.networking
            .as_deref()
            .ok_or_else(|| ComputeError::Internal("the network service is not wired".into()))
    }

    /// The native API routes, including the agent protocol under `/v1/agent/`.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone()).merge(agent_api::router(self.clone()))
    }

    /// Start this service: its routes, and its loops (`compute.housekeeping`, and
    /// `compute.data-plane`, which wakes the agents' network polls on catalog changes).
    /// Host liveness and placement need no loop: both are read from heartbeats when asked.
    pub fn start(&self) -> Started {
        Started {
            router: self.router(),
            tasks: vec![
                BackgroundTask::spawn("compute.housekeeping", self.clone().run_housekeeping()),
                BackgroundTask::spawn(
                    "compute.data-plane",
                    self.data_plane.clone().listen(self.pool.clone()),
                ),
            ],
        }
    }

    /// A join token for a compute agent, valid for `ttl` (for agents started with the
    /// control plane; operators get theirs through the API).
    pub async fn create_join_token(&self, ttl: Duration) -> Result<JoinToken> {
        hosts::create_join_token(&self.pool, ttl).await
    }

    /// Register the default images found in `dir` as public images of `owner`.
    pub async fn register_default_images(
        &self,
        owner: &str,
        dir: &std::path::Path,
    ) -> Result<Vec<default_images::DefaultImage>> {
        default_images::register(&self.pool, owner, dir).await
    }

    /// Background upkeep: purge long-terminated instances. Runs until the task is dropped.
    async fn run_housekeeping(self) {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tick.tick().await;
            if let Err(e) =
                instances::purge_terminated(&self.pool, self.config.terminated_retention).await
            {
                tracing::warn!(error = %e, "purging terminated instances failed");
            }
        }
    }
}

/// Writers need a role that can write.
pub fn require_write(caller: &Principal) -> Result<()> {
    if caller.role.can_write() {
        Ok(())
    } else {
        Err(ComputeError::Forbidden(format!(
            "You are not authorized to perform this operation: role {} is read-only",
            caller.role
        )))
    }
}

/// Operator-only actions.
pub fn require_operator(caller: &Principal) -> Result<()> {
    if caller.is_operator() {
        Ok(())
    } else {
        Err(ComputeError::Forbidden(
            "only operators can manage hosts".into(),
        ))
    }
}
