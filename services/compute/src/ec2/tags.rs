//! EC2 CreateTags, DeleteTags and DescribeTags: their parameters, filters and XML.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;

use super::page;
use super::params::Params;
use super::xml::{fragment, returned_true};
use crate::error::{ComputeError, Result};
use crate::tags::{self, TagDescription};
use crate::{images, instances, key_pairs, require_write, Compute};
use kumo_ec2_query::filters::{check_names, select_by_fields};

/// Every resource must exist in the caller's account.
async fn check_resources(
    compute: &Compute,
    caller: &Principal,
    resource_ids: &[String],
) -> Result<()> {
    if resource_ids.is_empty() {
        return Err(ComputeError::Missing("ResourceId".into()));
    }
    for id in resource_ids {
        match tags::resource_type(id) {
            "instance" => {
                instances::get(&compute.pool, caller, id).await?;
            }
            "image" => {
                let found =
                    images::list(&compute.pool, caller, std::slice::from_ref(id), &[], &[]).await?;
                if !found
                    .iter()
                    .any(|i| &i.image_id == id && i.account_id == caller.account_id)
                {
                    return Err(images::not_found(id));
                }
            }
            "key-pair" => {
                key_pairs::list(&compute.pool, caller, &[], std::slice::from_ref(id)).await?;
            }
            _ => {
                return Err(ComputeError::Invalid(
                    "InvalidID",
                    format!("The ID '{id}' is not valid"),
                ))
            }
        }
    }
    Ok(())
}

pub(super) async fn create_tags(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    require_write(caller)?;
    let resource_ids = p.list("ResourceId")?;
    let tag_list: Vec<(String, String)> = p
        .tags("Tag")?
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    if tag_list.is_empty() {
        return Err(ComputeError::Missing("Tag".into()));
    }
    tags::validate(&tag_list)?;
    check_resources(compute, caller, &resource_ids).await?;
    for id in &resource_ids {
        tags::put(&compute.pool, &caller.account_id, id, &tag_list).await?;
    }
    Ok(returned_true())
}

pub(super) async fn delete_tags(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    require_write(caller)?;
    let resource_ids = p.list("ResourceId")?;
    let tag_list = p.tags("Tag")?;
    check_resources(compute, caller, &resource_ids).await?;
    for id in &resource_ids {
        tags::delete(&compute.pool, &caller.account_id, id, &tag_list).await?;
    }
    Ok(returned_true())
}

/// DescribeTags' filters; `tag:Key` means "the key is Key and the value matches".
fn tag_description_field(tag: &TagDescription, name: &str) -> Vec<String> {
    let one = |s: &str| vec![s.to_string()];
    match name {
        "resource-id" => one(&tag.resource_id),
        "resource-type" => one(tags::resource_type(&tag.resource_id)),
        "key" => one(&tag.key),
        "value" => one(&tag.value),
        other => match other.strip_prefix("tag:") {
            Some(key) if key == tag.key => one(&tag.value),
            _ => Vec::new(),
        },
    }
}

pub(super) async fn describe_tags(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let page = page(p, (5, 1000))?;
    let filters = p.filters()?;
    check_names(&filters, |name| {
        name.starts_with("tag:") || ["resource-id", "resource-type", "key", "value"].contains(&name)
    })?;
    let all = tags::describe(&compute.pool, &caller.account_id, &[], &[]).await?;
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

// ---------------------------------------------------------------- XML

/// DescribeTags: `tagSet` of `{resourceId, resourceType, key, value}`.
fn write_describe_tags(xml: &mut XmlWriter, tags: &[TagDescription], next_token: Option<&str>) {
    xml.list("tagSet", "item", tags, |xml, t| {
        xml.text("resourceId", &t.resource_id)
            .text("resourceType", tags::resource_type(&t.resource_id))
            .text("key", &t.key)
            .text("value", &t.value);
    })
    .opt("nextToken", next_token);
}

/// [`write_describe_tags`], as text.
pub fn describe_tags_xml(tags: &[TagDescription], next_token: Option<&str>) -> String {
    fragment(|xml| write_describe_tags(xml, tags, next_token))
}
