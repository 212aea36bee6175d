//! EC2 CreateTags, DeleteTags and DescribeTags over every service's resources: their
//! parameters, filters and XML. One service's EC2 dispatcher lists the three actions and
//! calls these (after its own write check); the [`ResourceOwners`] it was given by the
//! composition root say which ids exist.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::filters::{check_names, select_by_fields};
use kumo_ec2_query::{response, Params};
use sqlx::PgPool;

use crate::error::{Result, TagError};
use crate::owners::{resource_type, ResourceOwners};
use crate::rules;
use crate::store::{self, TagDescription};

/// DescribeTags' `MaxResults` bounds.
const PAGE_BOUNDS: (i64, i64) = (5, 1000);

/// CreateTags: every tag on every resource, all or nothing. The caller may write.
pub async fn create_tags(
    pool: &PgPool,
    owners: &ResourceOwners,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let resource_ids = p.list("ResourceId")?;
    let tags: Vec<(String, String)> = p
        .tags("Tag")?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    if tags.is_empty() {
        return Err(TagError::Missing("Tag".into()));
    }
    rules::validate(&tags)?;
    check_resources(owners, caller, &resource_ids).await?;
    let mut tx = pool.begin().await?;
    for id in &resource_ids {
        store::put(&mut *tx, &caller.account_id, id, &tags).await?;
    }
    tx.commit().await?;
    Ok(response::returned_true())
}

/// DeleteTags: by key, by key and value, or (no `Tag.N`) every tag. The caller may write.
pub async fn delete_tags(
    pool: &PgPool,
    owners: &ResourceOwners,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let resource_ids = p.list("ResourceId")?;
    let tags = p.tags("Tag")?;
    check_resources(owners, caller, &resource_ids).await?;
    for id in &resource_ids {
        store::delete(pool, &caller.account_id, id, &tags).await?;
    }
    Ok(response::returned_true())
}

/// At least one id, and every one a resource of the caller's account.
async fn check_resources(
    owners: &ResourceOwners,
    caller: &Principal,
    resource_ids: &[String],
) -> Result<()> {
    if resource_ids.is_empty() {
        return Err(TagError::Missing("ResourceId".into()));
    }
    owners.check(&caller.account_id, resource_ids).await
}

/// DescribeTags' filters; `tag:Key` means "the key is Key and the value matches".
fn tag_description_field(tag: &TagDescription, name: &str) -> Vec<String> {
    let one = |s: &str| vec![s.to_string()];
    match name {
        "resource-id" => one(&tag.resource_id),
        "resource-type" => one(resource_type(&tag.resource_id)),
        "key" => one(&tag.key),
        "value" => one(&tag.value),
        other => match other.strip_prefix("tag:") {
            Some(key) if key == tag.key => one(&tag.value),
            _ => Vec::new(),
        },
    }
}

/// DescribeTags: every tag of the caller's account, whichever service owns the resource,
/// filtered and paged (ordered by resource id, then key).
pub async fn describe_tags(pool: &PgPool, caller: &Principal, p: Params<'_>) -> Result<XmlWriter> {
    let page = response::page(p, PAGE_BOUNDS)?;
    let filters = p.filters()?;
    check_names(&filters, |name| {
        name.starts_with("tag:") || ["resource-id", "resource-type", "key", "value"].contains(&name)
    })?;
    let all = store::describe(pool, &caller.account_id, &[], &[]).await?;
    let selected = select_by_fields(
        &caller.account_id,
        all,
        &filters,
        tag_description_field,
        |_| None,
    )
    .await?;
    let (page, next_token) = page.apply(selected, |t| (t.resource_id.clone(), t.key.clone()))?;
    let mut xml = XmlWriter::fragment();
    write_describe_tags(&mut xml, &page, next_token.as_deref());
    Ok(xml)
}

/// DescribeTags: `tagSet` of `{resourceId, resourceType, key, value}`.
fn write_describe_tags(xml: &mut XmlWriter, tags: &[TagDescription], next_token: Option<&str>) {
    xml.list("tagSet", "item", tags, |xml, t| {
        xml.text("resourceId", &t.resource_id)
            .text("resourceType", resource_type(&t.resource_id))
            .text("key", &t.key)
            .text("value", &t.value);
    })
    .opt("nextToken", next_token);
}

/// [`describe_tags`]' XML for these tags, as text.
pub fn describe_tags_xml(tags: &[TagDescription], next_token: Option<&str>) -> String {
    let mut xml = XmlWriter::fragment();
    write_describe_tags(&mut xml, tags, next_token);
    xml.finish()
}
