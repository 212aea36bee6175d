//! Tags on compute's resources (instances, images, key pairs) live in the shared tag store
//! (`kumo-tags`, schema `tags`); this module re-exports it for compute's callers and says
//! which ids compute owns ([`ComputeResources`]).

use std::collections::BTreeSet;

use kumo_common::ids::InstanceId;
pub use kumo_tags::{
    delete, delete_all, describe, for_resources, forget, put, resource_type, validate,
    validate_key, TagDescription, TagError, Tags, MAX_KEY_CHARS, MAX_TAGS, MAX_VALUE_CHARS,
};
use sqlx::PgPool;

use crate::error::ComputeError;
use crate::{images, key_pairs};

/// Compute's taggable resources: `i-…`, `ami-…` and `key-…` of the caller's account
/// (public images of other accounts are not the caller's to tag).
pub struct ComputeResources {
    pool: PgPool,
}

impl ComputeResources {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[async_trait::async_trait]
impl kumo_tags::TaggableResources for ComputeResources {
    fn prefixes(&self) -> &'static [&'static str] {
        &["i", "ami", "key"]
    }

    async fn existing(
        &self,
        account_id: &str,
        ids: &[String],
    ) -> kumo_tags::Result<BTreeSet<String>> {
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT instance_id FROM compute.instances WHERE account_id = $1 AND instance_id = ANY($2)
             UNION ALL
             SELECT image_id FROM compute.images
              WHERE account_id = $1 AND image_id = ANY($2) AND state <> 'deregistered'
             UNION ALL
             SELECT key_pair_id FROM compute.key_pairs WHERE account_id = $1 AND key_pair_id = ANY($2)",
        )
        .bind(account_id)
        .bind(ids)
        .fetch_all(&self.pool)
        .await?;
        Ok(found.into_iter().collect())
    }

    fn not_found(&self, id: &str) -> TagError {
        let error = match resource_type(id) {
            "instance" => match InstanceId::parse(id) {
                Ok(_) => ComputeError::instance_not_found(&[id.to_string()]),
                Err(malformed) => malformed.into(),
            },
            "image" => images::not_found(id),
            _ => key_pairs::not_found(id),
        };
        match error {
            ComputeError::NotFound(code, message) => TagError::NotFound(code, message),
            ComputeError::Invalid(code, message) => TagError::Invalid(code, message),
            other => TagError::Internal(other.to_string()),
        }
    }
}
