//! Tags on any compute resource (instances, images, key pairs), scoped by account.

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::error::{ComputeError, Result};

pub type Tags = BTreeMap<String, String>;

pub fn validate(tags: &[(String, String)]) -> Result<()> {
    if tags.len() > 50 {
        return Err(ComputeError::Invalid(
            "TagLimitExceeded",
            "a resource has at most 50 tags".into(),
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 {
            return Err(ComputeError::invalid(
                "Tag keys must be 1 to 128 characters",
            ));
        }
        if key.starts_with("aws:") {
            return Err(ComputeError::invalid(
                "Tag keys starting with 'aws:' are reserved for internal use",
            ));
        }
        if value.chars().count() > 256 {
            return Err(ComputeError::invalid(
                "Tag values must be at most 256 characters",
            ));
        }
    }
    Ok(())
}

pub async fn put<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    account_id: &str,
    resource_id: &str,
    tags: &[(String, String)],
) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let keys: Vec<&str> = tags.iter().map(|(k, _)| k.as_str()).collect();
    let values: Vec<&str> = tags.iter().map(|(_, v)| v.as_str()).collect();
    sqlx::query(
        "INSERT INTO compute.tags (resource_id, account_id, key, value)
         SELECT $1, $2, k, v FROM unnest($3::text[], $4::text[]) AS t(k, v)
         ON CONFLICT (resource_id, key) DO UPDATE SET value = EXCLUDED.value",
    )
    .bind(resource_id)
    .bind(account_id)
    .bind(&keys)
    .bind(&values)
    .execute(executor)
    .await?;
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
