//! EC2 CreateVolume, DeleteVolume, DescribeVolumes, ModifyVolume,
//! DescribeVolumesModifications, DescribeVolumeStatus and DescribeVolumeAttribute: their
//! parameters, filters and XML (botocore's `Volume`, `VolumeModification`,
//! `VolumeStatusItem` shapes).

use kumo_auth::Principal;
use kumo_common::xml::{iso8601, XmlWriter};
use kumo_ec2_query::filters::{check_names, select_by_fields};
use kumo_ec2_query::response::{self, returned_true, tag_set};
use kumo_ec2_query::tags::is_tag_filter;
use kumo_ec2_query::zones::zone_id;
use kumo_ec2_query::{Page, Params};

use crate::error::{BlockStorageError, Result};
use crate::modifications::{self, VolumeModification};
use crate::volume_types::Requested;
use crate::volumes::{self, CreateVolume, Volume};
use crate::BlockStorage;

const VOLUME_FILTERS: [&str; 14] = [
    "volume-id",
    "status",
    "availability-zone",
    "size",
    "volume-type",
    "create-time",
    "encrypted",
    "snapshot-id",
    "multi-attach-enabled",
    "fast-restored",
    "attachment.instance-id",
    "attachment.status",
    "attachment.device",
    "attachment.delete-on-termination",
];

const MODIFICATION_FILTERS: [&str; 9] = [
    "volume-id",
    "modification-state",
    "target-size",
    "target-iops",
    "target-volume-type",
    "original-size",
    "original-iops",
    "original-volume-type",
    "start-time",
];

const STATUS_FILTERS: [&str; 3] = ["volume-id", "availability-zone", "volume-status.status"];

fn one(value: impl ToString) -> Vec<String> {
    vec![value.to_string()]
}

fn opt_num(value: Option<i32>) -> Vec<String> {
    value.iter().map(i32::to_string).collect()
}

fn volume_field(volume: &Volume, name: &str) -> Vec<String> {
    match name {
        "volume-id" => one(&volume.volume_id),
        "status" => one(&volume.state),
        "availability-zone" => one(&volume.zone),
        "size" => one(volume.size_gib),
        "volume-type" => one(&volume.volume_type),
        "create-time" => one(iso8601(volume.created_at)),
        "encrypted" => one(volume.encrypted),
        "snapshot-id" => volume.snapshot_id.iter().cloned().collect(),
        "multi-attach-enabled" | "fast-restored" => one(false),
        _ => super::attachments::attachment_field(volume.attachment.as_ref(), name),
    }
}

fn modification_field(m: &VolumeModification, name: &str) -> Vec<String> {
    match name {
        "volume-id" => one(&m.volume_id),
        "modification-state" => one(&m.state),
        "target-size" => one(m.target_size_gib),
        "target-iops" => opt_num(m.target_iops),
        "target-volume-type" => one(&m.target_type),
        "original-size" => one(m.original_size_gib),
        "original-iops" => opt_num(m.original_iops),
        "original-volume-type" => one(&m.original_type),
        "start-time" => one(iso8601(m.started_at)),
        _ => Vec::new(),
    }
}

/// Filters (each `known` or a tag filter when `tagged`) and, for pages, the bounds.
pub(super) fn parse_filters(
    p: Params<'_>,
    known: &[&str],
    tagged: bool,
) -> Result<Vec<kumo_ec2_query::filters::Filter>> {
    let filters = p.filters()?;
    check_names(&filters, |name| {
        (tagged && is_tag_filter(name)) || known.contains(&name)
    })?;
    Ok(filters)
}

/// `MaxResults`/`NextToken`; AWS refuses `MaxResults` together with ids.
fn page_of(p: Params<'_>, ids: &[String]) -> Result<Page> {
    if !ids.is_empty() && p.string("MaxResults").is_some() {
        return Err(BlockStorageError::Invalid(
            "InvalidParameterCombination",
            "The parameter volumeSet cannot be used with the parameter maxResults".into(),
        ));
    }
    Ok(response::page(p, (5, 1000))?)
}

fn volume_key(volume: &Volume) -> (i64, String) {
    (
        volume.created_at.timestamp_micros(),
        volume.volume_id.clone(),
    )
}

pub(super) async fn create_volume(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let zone = match (p.string("AvailabilityZone"), p.string("AvailabilityZoneId")) {
        (Some(zone), _) => zone.to_string(),
        (None, Some(id)) => storage
            .config
            .zones
            .iter()
            .enumerate()
            .find(|(i, zone)| zone_id(&storage.config.region, zone, i + 1) == id)
            .map(|(_, zone)| zone.clone())
            .ok_or_else(|| {
                BlockStorageError::Invalid(
                    "InvalidZone.NotFound",
                    format!("The zone ID '{id}' does not exist."),
                )
            })?,
        (None, None) => return Err(BlockStorageError::Missing("AvailabilityZone".into())),
    };
    let input = CreateVolume {
        zone,
        size_gib: p.int("Size")?,
        volume_type: p.string("VolumeType").map(str::to_string),
        iops: p.int("Iops")?,
        throughput: p.int("Throughput")?,
        snapshot_id: p.string("SnapshotId").map(str::to_string),
        encrypted: p.bool("Encrypted")?.unwrap_or(false),
        multi_attach: p.bool("MultiAttachEnabled")?.unwrap_or(false),
        client_token: p.string("ClientToken").map(str::to_string),
        tags: p.tags_for("volume", &[])?.into_iter().collect(),
    };
    if input.size_gib.is_none() && input.snapshot_id.is_none() {
        return Err(BlockStorageError::Missing("Size".into()));
    }
    let volume = volumes::create(storage, caller, &input).await?;
    let mut xml = XmlWriter::fragment();
    write_volume(&mut xml, storage, &volume);
    Ok(xml)
}

pub(super) async fn delete_volume(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    volumes::delete(storage, caller, p.required("VolumeId")?).await?;
    Ok(returned_true())
}

pub(super) async fn describe_volumes(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let filters = parse_filters(p, &VOLUME_FILTERS, true)?;
    let ids = p.list("VolumeId")?;
    let page = page_of(p, &ids)?;
    let found = volumes::list(&storage.pool, caller, &ids).await?;
    let selected = select_by_fields(&caller.account_id, found, &filters, volume_field, |v| {
        Some(&v.tags)
    })
    .await?;
    let (items, next_token) = page.apply(selected, volume_key)?;
    let mut xml = XmlWriter::fragment();
    xml.list("volumeSet", "item", &items, |xml, volume| {
        write_volume(xml, storage, volume)
    })
    .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

pub(super) async fn modify_volume(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let id = p.required("VolumeId")?;
    if p.bool("MultiAttachEnabled")? == Some(true) {
        return Err(BlockStorageError::invalid(
            "Multi-Attach is not supported by this cloud: MultiAttachEnabled must be false.",
        ));
    }
    let asked = Requested {
        size_gib: p.int("Size")?,
        volume_type: p.string("VolumeType").map(str::to_string),
        iops: p.int("Iops")?,
        throughput: p.int("Throughput")?,
    };
    let modification = modifications::modify(storage, caller, id, &asked).await?;
    let mut xml = XmlWriter::fragment();
    xml.element("volumeModification", |xml| {
        write_modification(xml, &modification)
    });
    Ok(xml)
}

pub(super) async fn describe_volumes_modifications(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let filters = parse_filters(p, &MODIFICATION_FILTERS, false)?;
    let ids = p.list("VolumeId")?;
    let page = response::page(p, (1, 500))?;
    let found = modifications::list(&storage.pool, caller, &ids).await?;
    let selected = select_by_fields(
        &caller.account_id,
        found,
        &filters,
        modification_field,
        |_| None,
    )
    .await?;
    let (items, next_token) = page.apply(selected, |m| {
        (m.started_at.timestamp_micros(), m.volume_id.clone())
    })?;
    let mut xml = XmlWriter::fragment();
    xml.list("volumeModificationSet", "item", &items, write_modification)
        .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

/// `ok` once the volume is usable; `insufficient-data` before (creating) and after.
fn status_of(volume: &Volume) -> &'static str {
    match volume.state.as_str() {
        "available" | "in-use" => "ok",
        "error" => "impaired",
        _ => "insufficient-data",
    }
}

pub(super) async fn describe_volume_status(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let filters = parse_filters(p, &STATUS_FILTERS, false)?;
    let ids = p.list("VolumeId")?;
    let page = page_of(p, &ids)?;
    let found = volumes::list(&storage.pool, caller, &ids).await?;
    let field = |volume: &Volume, name: &str| match name {
        "volume-status.status" => one(status_of(volume)),
        other => volume_field(volume, other),
    };
    let selected = select_by_fields(&caller.account_id, found, &filters, field, |_| None).await?;
    let (items, next_token) = page.apply(selected, volume_key)?;
    let mut xml = XmlWriter::fragment();
    xml.list("volumeStatusSet", "item", &items, |xml, volume| {
        let status = status_of(volume);
        let io = if status == "ok" { "passed" } else { "failed" };
        xml.text("volumeId", &volume.volume_id)
            .text("availabilityZone", &volume.zone)
            .text("availabilityZoneId", &zone_id_of(storage, &volume.zone))
            .element("volumeStatus", |xml| {
                xml.text("status", status).list(
                    "details",
                    "item",
                    [("io-enabled", io), ("io-performance", "not-applicable")],
                    |xml, (name, value)| {
                        xml.text("name", name).text("status", value);
                    },
                );
            })
            .empty("actionsSet")
            .empty("eventsSet");
    })
    .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

pub(super) async fn describe_volume_attribute(
    storage: &BlockStorage,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let attribute = p.required("Attribute")?;
    let id = p.required("VolumeId")?;
    if !matches!(attribute, "autoEnableIO" | "productCodes") {
        return Err(BlockStorageError::invalid(format!(
            "Value ({attribute}) for parameter attribute is invalid. Valid values: autoEnableIO, productCodes"
        )));
    }
    let volume = volumes::get(&storage.pool, caller, id).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("volumeId", &volume.volume_id);
    if attribute == "autoEnableIO" {
        xml.element("autoEnableIO", |xml| {
            xml.bool("value", false);
        });
    } else {
        xml.empty("productCodes");
    }
    Ok(xml)
}

fn zone_id_of(storage: &BlockStorage, zone: &str) -> String {
    let position = storage
        .config
        .zones
        .iter()
        .position(|z| z == zone)
        .unwrap_or(0);
    zone_id(&storage.config.region, zone, position + 1)
}

/// One volume's fields (a `volumeSet` item, or CreateVolume's answer).
fn write_volume(xml: &mut XmlWriter, storage: &BlockStorage, volume: &Volume) {
    xml.text("volumeId", &volume.volume_id)
        .num("size", volume.size_gib)
        .text("snapshotId", volume.snapshot_id.as_deref().unwrap_or(""))
        .text("availabilityZone", &volume.zone)
        .text("availabilityZoneId", &zone_id_of(storage, &volume.zone))
        .text("status", &volume.state)
        .time("createTime", volume.created_at)
        .list(
            "attachmentSet",
            "item",
            volume.attachment.as_slice(),
            super::attachments::write_attachment,
        )
        .text("volumeType", &volume.volume_type);
    if let Some(iops) = volume.iops {
        xml.num("iops", iops);
    }
    if let Some(throughput) = volume.throughput {
        xml.num("throughput", throughput);
    }
    xml.bool("encrypted", volume.encrypted)
        .bool("multiAttachEnabled", false)
        .bool("fastRestored", false)
        .text("ownerId", &volume.account_id);
    if !volume.tags.is_empty() {
        tag_set(xml, &volume.tags);
    }
}

fn write_modification(xml: &mut XmlWriter, m: &VolumeModification) {
    xml.text("volumeId", &m.volume_id)
        .text("modificationState", &m.state)
        .num("targetSize", m.target_size_gib)
        .text("targetVolumeType", &m.target_type);
    if let Some(iops) = m.target_iops {
        xml.num("targetIops", iops);
    }
    if let Some(throughput) = m.target_throughput {
        xml.num("targetThroughput", throughput);
    }
    xml.bool("targetMultiAttachEnabled", false)
        .num("originalSize", m.original_size_gib)
        .text("originalVolumeType", &m.original_type);
    if let Some(iops) = m.original_iops {
        xml.num("originalIops", iops);
    }
    if let Some(throughput) = m.original_throughput {
        xml.num("originalThroughput", throughput);
    }
    xml.bool("originalMultiAttachEnabled", false)
        .num("progress", m.progress)
        .time("startTime", m.started_at);
    if let Some(ended) = m.ended_at {
        xml.time("endTime", ended);
    }
}
