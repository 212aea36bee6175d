//! EC2 DescribeAvailabilityZones and DescribeRegions: their parameters, filters and XML.

use std::collections::BTreeSet;

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;

use super::params::Params;
use super::xml::fragment;
use crate::error::{ComputeError, Result};
use crate::Compute;
use kumo_ec2_query::filters::{check_names, select_by_fields};
pub use kumo_ec2_query::zones::zone_id;

pub(super) async fn describe_availability_zones(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let region = compute.config.region.as_str();
    let filters = p.filters()?;
    check_names(&filters, |name| {
        [
            "zone-name",
            "zone-id",
            "region-name",
            "group-name",
            "network-border-group",
            "state",
            "zone-type",
            "opt-in-status",
        ]
        .contains(&name)
    })?;
    let wanted_names = p.list("ZoneName")?;
    let wanted_ids = p.list("ZoneId")?;
    p.bool("AllAvailabilityZones")?;
    let mut names: BTreeSet<String> =
        sqlx::query_scalar::<_, String>("SELECT DISTINCT zone FROM compute.hosts")
            .fetch_all(&compute.pool)
            .await?
            .into_iter()
            .collect();
    names.insert(compute.config.default_zone.clone());
    let zones: Vec<(String, String)> = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| {
            let id = zone_id(region, &name, i + 1);
            (name, id)
        })
        .collect();
    for name in &wanted_names {
        if !zones.iter().any(|(n, _)| n == name) {
            return Err(ComputeError::invalid(format!(
                "Invalid availability zone: [{name}]"
            )));
        }
    }
    for id in &wanted_ids {
        if !zones.iter().any(|(_, i)| i == id) {
            return Err(ComputeError::invalid(format!(
                "Invalid availability zone id: [{id}]"
            )));
        }
    }
    let zones: Vec<(String, String)> = zones
        .into_iter()
        .filter(|(n, i)| {
            (wanted_names.is_empty() && wanted_ids.is_empty())
                || wanted_names.contains(n)
                || wanted_ids.contains(i)
        })
        .collect();
    let owned_region = region.to_string();
    let selected = select_by_fields(
        &caller.account_id,
        zones,
        &filters,
        move |(name, id): &(String, String), filter: &str| {
            let one = |s: &str| vec![s.to_string()];
            match filter {
                "zone-name" => one(name),
                "zone-id" => one(id),
                "region-name" | "group-name" | "network-border-group" => one(&owned_region),
                "state" => one("available"),
                "zone-type" => one("availability-zone"),
                "opt-in-status" => one("opt-in-not-required"),
                _ => Vec::new(),
            }
        },
        |_| None,
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    xml.list(
        "availabilityZoneInfo",
        "item",
        &selected,
        |xml, (name, id)| write_zone(xml, name, region, id),
    );
    Ok(xml)
}

pub(super) async fn describe_regions(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let region = compute.config.region.clone();
    p.bool("AllRegions")?;
    let wanted = p.list("RegionName")?;
    let regions: Vec<String> = std::iter::once(region)
        .filter(|r| wanted.is_empty() || wanted.contains(r))
        .collect();
    let filters = p.filters()?;
    check_names(&filters, |name| {
        ["region-name", "endpoint", "opt-in-status"].contains(&name)
    })?;
    let selected = select_by_fields(
        &caller.account_id,
        regions,
        &filters,
        |r: &String, filter: &str| match filter {
            "region-name" => vec![r.clone()],
            "endpoint" => vec![endpoint(r)],
            "opt-in-status" => vec!["opt-in-not-required".to_string()],
            _ => Vec::new(),
        },
        |_| None,
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    xml.list("regionInfo", "item", &selected, |xml, r| {
        write_region(xml, r)
    });
    Ok(xml)
}

// ---------------------------------------------------------------- XML

/// One availability zone's fields.
fn write_zone(xml: &mut XmlWriter, zone: &str, region: &str, zone_id: &str) {
    xml.text("zoneName", zone)
        .text("zoneState", "available")
        .text("regionName", region)
        .text("zoneId", zone_id)
        .text("zoneType", "availability-zone")
        .text("optInStatus", "opt-in-not-required")
        .text("groupName", region)
        .text("networkBorderGroup", region)
        .empty("messageSet");
}

/// One availability zone.
pub fn zone_xml(zone: &str, region: &str, zone_id: &str) -> String {
    fragment(|xml| write_zone(xml, zone, region, zone_id))
}

/// A region's EC2 endpoint.
fn endpoint(region: &str) -> String {
    format!("ec2.{region}.amazonaws.com")
}

/// One region's fields.
fn write_region(xml: &mut XmlWriter, region: &str) {
    xml.text("regionName", region)
        .text("regionEndpoint", &endpoint(region))
        .text("optInStatus", "opt-in-not-required");
}

/// One region.
pub fn region_xml(region: &str) -> String {
    fragment(|xml| write_region(xml, region))
}
