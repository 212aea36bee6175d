//! Instances' EBS volumes, owned by the block-storage service: which volumes are attached to
//! an instance (DescribeInstances' `blockDeviceMapping`), what its host must plug (with the
//! replicas' export credentials), and what the host reports plugged. Compute reaches the
//! block-storage service through [`InstanceVolumes`], which the composition root wires
//! (this crate does not depend on block storage's).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kumo_compute_protocol::VolumeAttachmentSpec;
use serde::Serialize;
use sqlx::{Postgres, Transaction};

use crate::error::Result;

/// One volume attached to an instance, as DescribeInstances shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BlockDevice {
    pub device_name: String,
    pub volume_id: String,
    /// `attaching`, `attached` or `detaching`.
    pub status: String,
    pub attach_time: DateTime<Utc>,
    pub delete_on_termination: bool,
}

/// The block-storage service, as compute uses it.
#[async_trait::async_trait]
pub trait InstanceVolumes: Send + Sync {
    /// The volumes attached to some of the account's instances, each instance's by device.
    async fn block_devices(
        &self,
        account_id: &str,
        instance_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<BlockDevice>>>;

    /// What the hosts of these instances must have plugged.
    async fn to_plug(
        &self,
        instance_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<VolumeAttachmentSpec>>>;

    /// An agent's observation: `plugged` are the volumes the instance's running VM has
    /// (`running`), or the instance is stopped or gone (`!running`, nothing plugged).
    async fn observed(&self, instance_id: &str, running: bool, plugged: &[String]) -> Result<()>;

    /// The instance was terminated: its attachments end. Idempotent; in its transaction.
    async fn release(&self, tx: &mut Transaction<'_, Postgres>, instance_id: &str) -> Result<()>;
}
