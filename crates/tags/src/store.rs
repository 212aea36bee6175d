//! The store: `tags.tags (account_id, resource_id, key, value)`, one row per tag of any
//! service's resource. Every read and write is scoped by the account; the services call
//! these inside their own transactions (a create with TagSpecification tags the resource
//! atomically).

use std::collections::BTreeMap;

use sqlx::PgPool;

use crate::error::Result;
use crate::rules::{self, MAX_TAGS};

/// A resource's tags, key to value.
pub type Tags = BTreeMap<String, String>;

/// One tag of one resource, as DescribeTags lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct TagDescription {
    pub resource_id: String,
    pub key: String,
    pub value: String,
}

/// Set tags on a resource (validated here too); a key given twice keeps its last value.
/// The resource may hold at most [`MAX_TAGS`] tags afterwards (`TagLimitExceeded`). The
/// caller has checked that the resource is the account's.
pub async fn put<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    account_id: &str,
    resource_id: &str,
    tags: &[(String, String)],
) -> Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    rules::validate(tags)?;
    let unique: BTreeMap<&str, &str> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let keys: Vec<&str> = unique.keys().copied().collect();
    let values: Vec<&str> = unique.values().copied().collect();
    // One statement: the count of old and new keys and the upsert see the same snapshot.
    let written = sqlx::query(
        "WITH new AS (SELECT k, v FROM unnest($3::text[], $4::text[]) AS t(k, v)),
              total AS (SELECT count(*) AS n FROM (
                  SELECT key FROM tags.tags WHERE account_id = $1 AND resource_id = $2
                  UNION SELECT k FROM new) AS all_keys)
         INSERT INTO tags.tags (account_id, resource_id, key, value)
         SELECT $1, $2, k, v FROM new WHERE (SELECT n FROM total) <= $5
         ON CONFLICT (account_id, resource_id, key) DO UPDATE SET value = EXCLUDED.value",
    )
    .bind(account_id)
    .bind(resource_id)
    .bind(&keys)
    .bind(&values)
    .bind(MAX_TAGS as i64)
    .execute(executor)
    .await?;
    if written.rows_affected() == 0 {
        return Err(rules::too_many());
    }
    Ok(())
}

/// Delete tags of a resource: by key alone (`None` value) or by key and value; no tags
/// given deletes them all (DeleteTags without `Tag.N`).
pub async fn delete(
    pool: &PgPool,
    account_id: &str,
    resource_id: &str,
    tags: &[(String, Option<String>)],
) -> Result<()> {
    if tags.is_empty() {
        return delete_all(pool, account_id, &[resource_id.to_string()]).await;
    }
    for (key, value) in tags {
        sqlx::query(
            "DELETE FROM tags.tags WHERE account_id = $1 AND resource_id = $2 AND key = $3
             AND ($4::text IS NULL OR value = $4)",
        )
        .bind(account_id)
        .bind(resource_id)
        .bind(key)
        .bind(value)
        .execute(pool)
        .await?;
    }
    Ok(())
}

/// Every tag of resources the account deletes (in the deleting transaction).
pub async fn delete_all<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    account_id: &str,
    resource_ids: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM tags.tags WHERE account_id = $1 AND resource_id = ANY($2)")
        .bind(account_id)
        .bind(resource_ids)
        .execute(executor)
        .await?;
    Ok(())
}

/// The tags of resources a background job removed, whatever their accounts (e.g.
/// terminated instances purged after their retention).
pub async fn forget<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    resource_ids: &[String],
) -> Result<()> {
    sqlx::query("DELETE FROM tags.tags WHERE resource_id = ANY($1)")
        .bind(resource_ids)
        .execute(executor)
        .await?;
    Ok(())
}

/// The tags of many resources at once (a describe's page), by resource id.
pub async fn for_resources<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    account_id: &str,
    resource_ids: &[String],
) -> Result<BTreeMap<String, Tags>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT resource_id, key, value FROM tags.tags
         WHERE account_id = $1 AND resource_id = ANY($2)
         ORDER BY resource_id, key",
    )
    .bind(account_id)
    .bind(resource_ids)
    .fetch_all(executor)
    .await?;
    let mut out: BTreeMap<String, Tags> = BTreeMap::new();
    for (resource, key, value) in rows {
        out.entry(resource).or_default().insert(key, value);
    }
    Ok(out)
}

/// Every tag of the account (DescribeTags), optionally only some resources or keys,
/// ordered by resource id and key.
pub async fn describe(
    pool: &PgPool,
    account_id: &str,
    resource_ids: &[String],
    keys: &[String],
) -> Result<Vec<TagDescription>> {
    Ok(sqlx::query_as::<_, TagDescription>(
        "SELECT resource_id, key, value FROM tags.tags WHERE account_id = $1
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
