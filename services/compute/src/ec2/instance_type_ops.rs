//! EC2 DescribeInstanceTypes.

use super::*;

pub(super) const INSTANCE_TYPE_FILTERS: [&str; 15] = [
    "instance-type",
    "vcpu-info.default-vcpus",
    "vcpu-info.default-cores",
    "vcpu-info.default-threads-per-core",
    "memory-info.size-in-mib",
    "current-generation",
    "bare-metal",
    "free-tier-eligible",
    "instance-storage-supported",
    "burstable-performance-supported",
    "hypervisor",
    "processor-info.supported-architecture",
    "supported-usage-class",
    "supported-root-device-type",
    "supported-virtualization-type",
];

pub(super) fn instance_type_field(t: &InstanceType, name: &str) -> Vec<String> {
    let (cores, threads) = xml::cpu_topology(t.vcpus);
    let one = |s: &str| vec![s.to_string()];
    match name {
        "instance-type" => one(&t.name),
        "vcpu-info.default-vcpus" => one(&t.vcpus.to_string()),
        "vcpu-info.default-cores" => one(&cores.to_string()),
        "vcpu-info.default-threads-per-core" => one(&threads.to_string()),
        "memory-info.size-in-mib" => one(&t.memory_mib.to_string()),
        "current-generation" => one("true"),
        "bare-metal" | "free-tier-eligible" | "instance-storage-supported" => one("false"),
        "burstable-performance-supported" => one(if t.name.starts_with('t') {
            "true"
        } else {
            "false"
        }),
        "hypervisor" => one("nitro"),
        "processor-info.supported-architecture" => one("x86_64"),
        "supported-usage-class" => one("on-demand"),
        "supported-root-device-type" => one("ebs"),
        "supported-virtualization-type" => one("hvm"),
        _ => Vec::new(),
    }
}

pub(super) async fn describe_instance_types(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<String> {
    let page = page(p, (5, 100))?;
    let names = p.list("InstanceType")?;
    let filters = p.filters()?;
    check_filters(&filters, |name| INSTANCE_TYPE_FILTERS.contains(&name))?;
    let all = instance_types::list(&compute.pool).await?;
    // The catalog's order (seeded by the migrations, never reordered) as the sort key.
    let ordinal: Vec<String> = all.iter().map(|t| t.name.clone()).collect();
    let unknown: Vec<&str> = names
        .iter()
        .filter(|n| !all.iter().any(|t| &t.name == *n))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(ComputeError::Invalid(
            "InvalidInstanceType",
            format!(
                "The following supplied instance types do not exist: [{}]",
                unknown.join(", ")
            ),
        ));
    }
    let selected: Vec<InstanceType> = all
        .into_iter()
        .filter(|t| names.is_empty() || names.contains(&t.name))
        .collect();
    let selected = apply_filters(caller, selected, &filters, instance_type_field, |_| None).await?;
    let (page, next_token) = page.apply(selected, |t| {
        ordinal
            .iter()
            .position(|name| *name == t.name)
            .unwrap_or(usize::MAX)
    })?;
    Ok(xml::describe_instance_types_xml(
        &page,
        next_token.as_deref(),
    ))
}
