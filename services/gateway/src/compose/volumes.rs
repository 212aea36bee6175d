//! Compute and block storage wired to each other: AttachVolume reads compute's instances,
//! and compute reads instances' attached volumes (DescribeInstances, the agents' specs)
//! and passes the agents' observations on.

use std::collections::BTreeMap;

use kumo_block_storage::attachments::{self, InstanceDirectory, InstanceFacts, PluggedVolume};
use kumo_block_storage::{launch, replicas};
use kumo_block_storage::{BlockStorage, BlockStorageError};
use kumo_compute::volumes::{BlockDevice, InstanceVolumes, LaunchVolume};
use kumo_compute::{Compute, ComputeError};
use kumo_compute_protocol::{
    ObservedVolume, ReplicaSyncState, VolumeAttachmentSpec, VolumeReplicaEndpoint,
};
use sqlx::{Postgres, Transaction};

/// Compute's instances, for block storage.
pub(crate) struct ComputeInstances(pub Compute);

#[async_trait::async_trait]
impl InstanceDirectory for ComputeInstances {
    async fn instance(
        &self,
        account_id: &str,
        instance_id: &str,
    ) -> Result<Option<InstanceFacts>, BlockStorageError> {
        let found = kumo_compute::instances::facts(&self.0.pool, account_id, instance_id)
            .await
            .map_err(|e| BlockStorageError::Internal(format!("reading instance: {e}")))?;
        Ok(found.map(|(zone, state, kind)| InstanceFacts {
            zone,
            state: state.as_str().to_string(),
            kind: kind.as_str().to_string(),
        }))
    }
}

/// Block storage's attachments, for compute.
pub(crate) struct AttachedVolumes(pub BlockStorage);

pub(super) fn block_error(e: BlockStorageError) -> ComputeError {
    match e {
        BlockStorageError::Invalid(code, m) => ComputeError::Invalid(code, m),
        BlockStorageError::Missing(name) => ComputeError::Missing(name),
        BlockStorageError::NotFound(code, m) => ComputeError::NotFound(code, m),
        BlockStorageError::Conflict(code, m) => ComputeError::Conflict(code, m),
        BlockStorageError::Forbidden(m) => ComputeError::Forbidden(m),
        BlockStorageError::Unauthenticated => ComputeError::Unauthenticated,
        BlockStorageError::Throttled(m) => ComputeError::Throttled(m),
        BlockStorageError::Database(e) => ComputeError::Database(e),
        BlockStorageError::InsufficientCapacity(m) => ComputeError::InsufficientCapacity(m),
        BlockStorageError::Internal(m) => ComputeError::Internal(m),
    }
}

/// What a host must plug: every ready replica with its id (the storage node's) and
/// whether it is in sync (a stale one is rebuilt by the host before it serves reads).
fn plug_spec(
    plugged: PluggedVolume,
    sync: &BTreeMap<(String, String), bool>,
) -> VolumeAttachmentSpec {
    let volume_id = plugged.attachment.volume_id.clone();
    VolumeAttachmentSpec {
        volume_id: plugged.attachment.volume_id,
        device: plugged.attachment.device,
        replicas: plugged
            .replicas
            .into_iter()
            .filter_map(|r| {
                Some(VolumeReplicaEndpoint {
                    host: kumo_common::host::url_host(&r.address).to_string(),
                    nbd_port: u16::try_from(r.nbd_port).ok()?,
                    psk_identity: r.psk_identity,
                    psk_key_hex: r.psk_key_hex,
                    in_sync: sync
                        .get(&(volume_id.clone(), r.node_id.clone()))
                        .copied()
                        .unwrap_or(true),
                    replica_id: r.node_id,
                })
            })
            .collect(),
        boot: plugged.boot,
    }
}

#[async_trait::async_trait]
impl InstanceVolumes for AttachedVolumes {
    async fn block_devices(
        &self,
        account_id: &str,
        instance_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<BlockDevice>>, ComputeError> {
        let found = attachments::of_instances(&self.0.pool, account_id, instance_ids)
            .await
            .map_err(block_error)?;
        Ok(found
            .into_iter()
            .map(|(instance_id, list)| {
                let devices = list
                    .into_iter()
                    .map(|a| BlockDevice {
                        device_name: a.device,
                        volume_id: a.volume_id,
                        status: a.state,
                        attach_time: a.attached_at,
                        delete_on_termination: a.delete_on_termination,
                    })
                    .collect();
                (instance_id, devices)
            })
            .collect())
    }

    async fn to_plug(
        &self,
        instance_ids: &[String],
    ) -> Result<BTreeMap<String, Vec<VolumeAttachmentSpec>>, ComputeError> {
        let found = attachments::to_plug(&self.0.pool, instance_ids)
            .await
            .map_err(block_error)?;
        let volume_ids: Vec<String> = found
            .values()
            .flatten()
            .map(|p| p.attachment.volume_id.clone())
            .collect();
        let sync = replicas::sync_states(&self.0.pool, &volume_ids)
            .await
            .map_err(block_error)?;
        Ok(found
            .into_iter()
            .map(|(id, list)| {
                let specs = list.into_iter().map(|p| plug_spec(p, &sync)).collect();
                (id, specs)
            })
            .collect())
    }

    async fn observed(
        &self,
        instance_id: &str,
        running: bool,
        plugged: &[String],
    ) -> Result<(), ComputeError> {
        attachments::observed(&self.0.pool, instance_id, running, plugged)
            .await
            .map_err(block_error)
    }

    async fn observed_replicas(
        &self,
        instance_id: &str,
        volumes: &[ObservedVolume],
    ) -> Result<(), ComputeError> {
        let observations: Vec<replicas::ReplicaObservation> = volumes
            .iter()
            .flat_map(|v| {
                v.replicas.iter().map(|r| replicas::ReplicaObservation {
                    volume_id: v.volume_id.clone(),
                    replica_id: r.replica_id.clone(),
                    in_sync: r.state == ReplicaSyncState::InSync,
                })
            })
            .collect();
        replicas::observed(&self.0.pool, instance_id, &observations)
            .await
            .map_err(block_error)
    }

    async fn release(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        instance_id: &str,
    ) -> Result<(), ComputeError> {
        attachments::release(tx, instance_id)
            .await
            .map_err(block_error)
    }

    async fn create_for_launch(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        caller: &kumo_auth::Principal,
        instance_id: &str,
        zone: &str,
        volumes: &[LaunchVolume],
    ) -> Result<(), ComputeError> {
        let volumes: Vec<launch::LaunchVolume> = volumes
            .iter()
            .map(|v| launch::LaunchVolume {
                device: v.device.clone(),
                size_gib: v.size_gib,
                volume_type: v.volume_type.clone(),
                iops: v.iops,
                throughput: v.throughput,
                snapshot_id: v.snapshot_id.clone(),
                delete_on_termination: v.delete_on_termination,
                source_disk: v.source_disk.clone(),
                boot: v.boot,
            })
            .collect();
        launch::create_attached(&self.0, tx, caller, instance_id, zone, &volumes)
            .await
            .map_err(block_error)?;
        Ok(())
    }

    async fn zone_has_storage(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        zone: &str,
    ) -> Result<bool, ComputeError> {
        kumo_block_storage::placement::zone_has_healthy_node(tx, zone)
            .await
            .map_err(block_error)
    }

    async fn set_delete_on_termination(
        &self,
        account_id: &str,
        instance_id: &str,
        device: &str,
        delete_on_termination: bool,
    ) -> Result<(), ComputeError> {
        let pool = &self.0.pool;
        launch::set_delete_on_termination(
            pool,
            account_id,
            instance_id,
            device,
            delete_on_termination,
        )
        .await
        .map_err(block_error)
    }
}
