//! Block storage's snapshots for compute's EBS images (CreateImage, RegisterImage with
//! snapshots).

use std::collections::BTreeMap;

use kumo_auth::Principal;
use kumo_block_storage::{snapshots, volumes, BlockStorage};
use kumo_compute::ebs_images::{ImageSnapshots, VolumeSnapshot};
use kumo_compute::ComputeError;

use super::volumes::block_error;

/// Block storage's snapshots, for compute.
pub(crate) struct ImageVolumes(pub BlockStorage);

#[async_trait::async_trait]
impl ImageSnapshots for ImageVolumes {
    async fn snapshot_volume(
        &self,
        caller: &Principal,
        volume_id: &str,
        description: &str,
        tags: &[(String, String)],
    ) -> Result<VolumeSnapshot, ComputeError> {
        let volume = volumes::get(&self.0.pool, caller, volume_id)
            .await
            .map_err(block_error)?;
        let tags = tags.iter().cloned().collect();
        let snapshot = snapshots::create(&self.0, caller, volume_id, description, &tags)
            .await
            .map_err(block_error)?;
        Ok(VolumeSnapshot {
            snapshot_id: snapshot.snapshot_id,
            volume_size_gib: i64::from(snapshot.volume_size_gib),
            volume_type: volume.volume_type,
        })
    }

    async fn completed_snapshot(
        &self,
        caller: &Principal,
        snapshot_id: &str,
    ) -> Result<i64, ComputeError> {
        let snapshot = snapshots::restorable(&self.0.pool, caller, snapshot_id)
            .await
            .map_err(block_error)?;
        Ok(i64::from(snapshot.volume_size_gib))
    }

    async fn snapshot_states(
        &self,
        snapshot_ids: &[String],
    ) -> Result<BTreeMap<String, String>, ComputeError> {
        Ok(snapshots::states(&self.0.pool, snapshot_ids)
            .await
            .map_err(block_error)?
            .into_iter()
            .collect())
    }
}
