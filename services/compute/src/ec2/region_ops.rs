//! EC2 DescribeAvailabilityZones and DescribeRegions.

use super::*;

pub(super) async fn describe_availability_zones(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let region = compute.config.region.as_str();
    let filters = p.filters()?;
    check_filters(&filters, |name| {
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
            let id = xml::zone_id(region, &name, i + 1);
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
    let selected = apply_filters(
        caller,
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
    Ok(xml::set(
        "availabilityZoneInfo",
        selected
            .iter()
            .map(|(name, id)| xml::zone_xml(name, region, id)),
    ))
}

pub(super) async fn describe_regions(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let region = compute.config.region.clone();
    p.bool("AllRegions")?;
    let wanted = p.list("RegionName")?;
    let regions: Vec<String> = std::iter::once(region)
        .filter(|r| wanted.is_empty() || wanted.contains(r))
        .collect();
    let filters = p.filters()?;
    check_filters(&filters, |name| {
        ["region-name", "endpoint", "opt-in-status"].contains(&name)
    })?;
    let selected = apply_filters(
        caller,
        regions,
        &filters,
        |r: &String, filter: &str| match filter {
            "region-name" => vec![r.clone()],
            "endpoint" => vec![format!("ec2.{r}.amazonaws.com")],
            "opt-in-status" => vec!["opt-in-not-required".to_string()],
            _ => Vec::new(),
        },
        |_| None,
    )
    .await?;
    Ok(xml::set(
        "regionInfo",
        selected.iter().map(|r| xml::region_xml(r)),
    ))
}
