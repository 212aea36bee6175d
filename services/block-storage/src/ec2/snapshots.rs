//! EC2 CreateSnapshot, DeleteSnapshot, DescribeSnapshots, CopySnapshot and
//! DescribeSnapshotAttribute: their parameters, filters and XML (botocore's `Snapshot`
//! shape).

use kumo_auth::Principal;
use kumo_common::xml::{iso8601, XmlWriter};
use kumo_ec2_query::filters::select_by_fields;
use kumo_ec2_query::response::{self, returned_true, tag_set};
use kumo_ec2_query::Params;

use crate::error::{BlockStorageError, Result};
use crate::snapshots::{self, Snapshot};
use crate::BlockStorage;

const SNAPSHOT_FILTERS: [&str; 11] = [
    "description",
    "encrypted",
    "owner-alias",
    "owner-id",
    "progress",
    "snapshot-id",
    "start-time",
    "status",
    "storage-tier",
    "volume-id",
    "volume-size",
];

fn one(value: impl ToString) -> Vec<String> {
    vec![value.to_string()]
}

fn snapshot_field(snapshot: &Snapshot, name: &str) -> Vec<String> {
    match name {
        "description" => one(&snapshot.description),
        "encrypted" => one(false),
        "owner-id" => one(&snapshot.account_id),
        "progress" => one(progress(snapshot)),
        "snapshot-id" => one(&snapshot.snapshot_id),
        "start-time" => one(iso8601(snapshot.started_at)),
        "status" => one(&snapshot.state),
        "storage-tier" => one("standard"),
        "volume-id" => one(&snapshot.volume_id),
        "volume-size" => one(snapshot.volume_size_gib),
        // No snapshot of this cloud has an owner alias (`amazon` owns none).
        _ => Vec::new(),
    }
}

fn progress(snapshot: &Snapshot) -> String {
    format!("{}%", snapshot.progress)
}

fn write_snapshot(xml: &mut XmlWriter, snapshot: &Snapshot) {
    xml.text("snapshotId", &snapshot.snapshot_id)
        .text("volumeId", &snapshot.volume_id)
        .text("status", &snapshot.state)
        .opt("statusMessage", snapshot.status_message.as_deref())
        .time("startTime", snapshot.started_at)
        .text("progress", &progress(snapshot))
        .text("ownerId", &snapshot.account_id)
        .text("description", &snapshot.description)
        .num("volumeSize", snapshot.volume_size_gib)
        .bool("encrypted", false)
        .text("storageTier", "standard");
    if !snapshot.tags.is_empty() {
        tag_set(xml, &snapshot.tags);
    }
}

pub(super) async fn create_snapshot(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let volume_id = p.required("VolumeId")?;
    if p.string("OutpostArn").is_some() {
        return Err(BlockStorageError::invalid(
            "Outposts are not supported by this cloud: OutpostArn must be absent.",
        ));
    }
    let tags = p.tags_for("snapshot", &[])?.into_iter().collect();
    let description = p.string("Description").unwrap_or_default();
    let snapshot = snapshots::create(storage, caller, volume_id, description, &tags).await?;
    let mut xml = XmlWriter::fragment();
    write_snapshot(&mut xml, &snapshot);
    Ok(xml)
}

pub(super) async fn delete_snapshot(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    snapshots::delete(storage, caller, p.required("SnapshotId")?).await?;
    Ok(returned_true())
}

pub(super) async fn copy_snapshot(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let source = p.required("SourceSnapshotId")?;
    let source_region = p.required("SourceRegion")?;
    let region = storage.config.region.as_str();
    if source_region != region
        || p.string("DestinationRegion")
            .is_some_and(|destination| destination != region)
    {
        return Err(BlockStorageError::invalid(format!(
            "This cloud has one region ({region}): SourceRegion and DestinationRegion must name it."
        )));
    }
    if p.bool("Encrypted")? == Some(true) || p.string("KmsKeyId").is_some() {
        return Err(BlockStorageError::invalid(
            "Encrypted snapshots are not supported by this cloud: Encrypted must be false.",
        ));
    }
    let tags = p.tags_for("snapshot", &[])?.into_iter().collect();
    let description = p.string("Description").unwrap_or_default();
    let copy = snapshots::copy(storage, caller, source, description, &tags).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("snapshotId", &copy.snapshot_id);
    // CopySnapshot's answer always has its (possibly empty) tag set.
    tag_set(&mut xml, &copy.tags);
    Ok(xml)
}

/// Is `owner` (an `Owner.N` value) the caller? `self` and its account id are; `amazon`
/// and other accounts own nothing the caller can see (no sharing).
fn owner_is_caller(caller: &Principal, owner: &str) -> bool {
    owner == "self" || owner == caller.account_id
}

pub(super) async fn describe_snapshots(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let filters = super::volumes::parse_filters(p, &SNAPSHOT_FILTERS, true)?;
    let ids = p.list("SnapshotId")?;
    let owners = p.list("Owner")?;
    let restorable_by = p.list("RestorableBy")?;
    if !ids.is_empty() && p.string("MaxResults").is_some() {
        return Err(BlockStorageError::Invalid(
            "InvalidParameterCombination",
            "The parameter snapshotSet cannot be used with the parameter maxResults".into(),
        ));
    }
    let page = response::page(p, (5, 1000))?;
    let visible = (owners.is_empty() || owners.iter().any(|o| owner_is_caller(caller, o)))
        && (restorable_by.is_empty() || restorable_by.iter().any(|o| owner_is_caller(caller, o)));
    let found = snapshots::list(&storage.pool, caller, &ids).await?;
    let found = if visible { found } else { Vec::new() };
    let selected = select_by_fields(&caller.account_id, found, &filters, snapshot_field, |s| {
        Some(&s.tags)
    })
    .await?;
    let (items, next_token) = page.apply(selected, |s| {
        (s.started_at.timestamp_micros(), s.snapshot_id.clone())
    })?;
    let mut xml = XmlWriter::fragment();
    xml.list("snapshotSet", "item", &items, write_snapshot)
        .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

pub(super) async fn describe_snapshot_attribute(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let attribute = p.required("Attribute")?;
    let id = p.required("SnapshotId")?;
    if !matches!(attribute, "createVolumePermission" | "productCodes") {
        return Err(BlockStorageError::invalid(format!(
            "Value ({attribute}) for parameter attribute is invalid. Valid values: productCodes, createVolumePermission"
        )));
    }
    let snapshot = snapshots::get(&storage.pool, caller, id).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("snapshotId", &snapshot.snapshot_id)
        // Snapshots are never shared (nor public) here: both lists are empty.
        .empty(attribute);
    Ok(xml)
}
