//! Tags on volumes, in the shared tag store (`kumo-tags`, table `tags.tags`), scoped by
//! account. CreateVolume stores its `TagSpecification` tags in the creating transaction;
//! describes read them back; a volume's tags go when it is deleted. [`VolumeResources`]
//! tells CreateTags/DeleteTags (answered by the shared store for every service) which
//! `vol-…` and `snap-…` ids exist in the caller's account.

use std::collections::BTreeSet;

use kumo_common::ids::is_resource_id;
use kumo_tags::TagError;
use sqlx::PgPool;

pub use kumo_tags::Tags;

/// The tags as `(key, value)` pairs, as the tag store takes them.
pub fn pairs(tags: &Tags) -> Vec<(String, String)> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The block-storage service's taggable resources (registered by the gateway).
pub struct VolumeResources {
    pool: PgPool,
}

impl VolumeResources {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl kumo_tags::TaggableResources for VolumeResources {
    fn prefixes(&self) -> &'static [&'static str] {
        &["vol", "snap"]
    }

    async fn existing(
        &self,
        account_id: &str,
        ids: &[String],
    ) -> kumo_tags::Result<BTreeSet<String>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT volume_id FROM block_storage.volumes
             WHERE account_id = $1 AND volume_id = ANY($2) AND state <> 'deleted'
             UNION ALL
             SELECT snapshot_id FROM block_storage.snapshots
             WHERE account_id = $1 AND snapshot_id = ANY($2) AND state <> 'deleted'",
        )
        .bind(account_id)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().collect())
    }

    fn not_found(&self, id: &str) -> TagError {
        if is_resource_id("vol", id) {
            TagError::NotFound(
                "InvalidVolume.NotFound",
                format!("The volume '{id}' does not exist."),
            )
        } else if is_resource_id("snap", id) {
            TagError::NotFound(
                "InvalidSnapshot.NotFound",
                format!("The snapshot '{id}' does not exist."),
            )
        } else {
            TagError::Invalid("InvalidID", format!("The ID '{id}' is not valid"))
        }
    }
}
