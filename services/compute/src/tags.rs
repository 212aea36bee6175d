//! Tags on any compute resource (instances, images, key pairs), scoped by account.

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::error::{ComputeError, Result};
use crate::validate;

pub type Tags = BTreeMap<String, String>;

/// At most this many tags on one resource (`TagLimitExceeded`).
pub const MAX_TAGS: usize = 50;
/// Tag keys: 1 to 128 characters, not starting with `aws:`.
pub const MAX_KEY_CHARS: usize = 128;
/// Tag values: 0 to 256 characters.
pub const MAX_VALUE_CHARS: usize = 256;

fn too_many() -> ComputeError {
    ComputeError::Invalid(
        "TagLimitExceeded",
        format!("The maximum number of Tags for a resource has been reached: at most {MAX_TAGS}"),
    )
}

/// A tag key's rules (also for DeleteTags' keys).
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(ComputeError::Invalid(
            "InvalidTagKey.Malformed",
            "The specified tag key is not valid: tag keys cannot be empty".into(),
        ));
    }
    validate::field("Tag.Key", key, MAX_KEY_CHARS)?;
    if key.starts_with("aws:") {
        return Err(ComputeError::invalid(format!(
            "Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use"
        )));
    }
    Ok(())
}

/// Tags to set: valid keys and values, at most [`MAX_TAGS`].
pub fn validate(tags: &[(String, String)]) -> Result<()> {
    if tags.len() > MAX_TAGS {
        return Err(too_many());
    }
    for (key, value) in tags {
        validate_key(key)?;
        validate::field("Tag.Value", value, MAX_VALUE_CHARS)?;
    }
    Ok(())
}

/// Set tags on a resource (validated here too); a key given twice keeps its last value.
/// The resource may hold at most [`MAX_TAGS`] tags afterwards (`TagLimitExceeded`).
pub async fn put<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    account_id: &str,
    resource_id: &str,
    tags: &[(String, String)],
) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    validate(tags)?;
    let unique: BTreeMap<&str, &str> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let keys: Vec<&str> = unique.keys().copied().collect();
    let values: Vec<&str> = unique.values().copied().collect();
    let written = sqlx::query(
        "WITH new AS (SELECT k, v FROM unnest($3::text[], $4::text[]) AS t(k, v)),
              total AS (SELECT count(*) AS n FROM (
                  SELECT key FROM compute.tags WHERE resource_id = $1 AND account_id = $2
                  UNION SELECT k FROM new) AS all_keys)
         INSERT INTO compute.tags (resource_id, account_id, key, value)
         SELECT $1, $2, k, v FROM new WHERE (SELECT n FROM total) <= $5
         ON CONFLICT (resource_id, key) DO UPDATE SET value = EXCLUDED.value",
    )
    .bind(resource_id)
    .bind(account_id)
    .bind(&keys)
    .bind(&values)
    .bind(MAX_TAGS as i64)
    .execute(executor)
    .await?;
    if written.rows_affected() == 0 {
        return Err(too_many());
    }
    Ok(())
}

/// Delete tags: by key alone (`None` value) or by key and value.
pub async fn delete(
    pool: &PgPool,
    account_id: &str,
    resource_id: &str,
    tags: &[(String, Option<String>)],
) -> Result<()> {
    if tags.is_empty() {
        sqlx::query("DELETE FROM compute.tags WHERE resource_id = $1 AND account_id = $2")
            .bind(resource_id)
            .bind(account_id)
            .execute(pool)
            .await?;
        return Ok(());
    }
    for (key, value) in tags {
        sqlx::query(
            "DELETE FROM compute.tags WHERE resource_id = $1 AND account_id = $2 AND key = $3
             AND ($4::text IS NULL OR value = $4)",
        )
        .bind(resource_id)
        .bind(account_id)
        .bind(key)
        .bind(value)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Tags of many resources at once.
pub async fn for_resources(
    pool: &PgPool,
    account_id: &str,
    resource_ids: &[String],
) -> Result<BTreeMap<String, Tags>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT resource_id, key, value FROM compute.tags WHERE account_id = $1 AND resource_id = ANY($2)
         ORDER BY resource_id, key",
    )
    .bind(account_id)
    .bind(resource_ids)
    .fetch_all(pool)
    .await?;
    let mut out: BTreeMap<String, Tags> = BTreeMap::new();
    for (resource, key, value) in rows {
        out.entry(resource).or_default().insert(key, value);
    }
    Ok(out)
}

#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TagDescription {
    pub resource_id: String,
    pub key: String,
    pub value: String,
}

/// Every tag of the account (DescribeTags), optionally only some resources or keys.
pub async fn describe(
    pool: &PgPool,
    account_id: &str,
    resource_ids: &[String],
    keys: &[String],
) -> Result<Vec<TagDescription>> {
    Ok(sqlx::query_as::<_, TagDescription>(
        "SELECT resource_id, key, value FROM compute.tags WHERE account_id = $1
           AND (cardinality($2::text[]) = 0 OR resource_id = ANY($2))
           AND (cardinality($3::text[]) = 0 OR key = ANY($3))
         ORDER BY resource_id, key",
    )
    .bind(account_id)
    .bind(resource_ids)
    .bind(keys)
    .fetch_all(pool)
    .await?)
}

/// The EC2 resource type of an id, from its prefix.
pub fn resource_type(resource_id: &str) -> &'static str {
    match resource_id.split('-').next() {
        Some("i") => "instance",
        Some("ami") => "image",
        Some("key") => "key-pair",
        Some("subnet") => "subnet",
        _ => "unknown",
    }
}
