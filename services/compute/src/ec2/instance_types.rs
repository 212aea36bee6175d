//! EC2 DescribeInstanceTypes: its parameters, filters and XML.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;

use super::page;
use super::params::Params;
use super::xml::fragment;
use crate::error::{ComputeError, Result};
use crate::instance_types::{self, InstanceType};
use crate::Compute;
use kumo_ec2_query::filters::{check_names, select_by_fields};

const INSTANCE_TYPE_FILTERS: [&str; 15] = [
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

fn instance_type_field(t: &InstanceType, name: &str) -> Vec<String> {
    let (cores, threads) = cpu_topology(t.vcpus);
    let one = |s: &str| vec![s.to_string()];
    match name {
        "instance-type" => one(&t.name),
        "vcpu-info.default-vcpus" => one(&t.vcpus.to_string()),
        "vcpu-info.default-cores" => one(&cores.to_string()),
        "vcpu-info.default-threads-per-core" => one(&threads.to_string()),
        "memory-info.size-in-mib" => one(&t.memory_mib.to_string()),
        "current-generation" => one("true"),
        "bare-metal" | "free-tier-eligible" | "instance-storage-supported" => one("false"),
        "burstable-performance-supported" => one(if is_burstable(t) { "true" } else { "false" }),
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
) -> Result<XmlWriter> {
    let page = page(p, (5, 100))?;
    let names = p.list("InstanceType")?;
    let filters = p.filters()?;
    check_names(&filters, |name| INSTANCE_TYPE_FILTERS.contains(&name))?;
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
    let selected = select_by_fields(
        &caller.account_id,
        selected,
        &filters,
        instance_type_field,
        |_| None,
    )
    .await?;
    let (page, next_token) = page.apply(selected, |t| {
        ordinal
            .iter()
            .position(|name| *name == t.name)
            .unwrap_or(usize::MAX)
    })?;
    let mut xml = XmlWriter::fragment();
    write_describe_instance_types(&mut xml, &page, next_token.as_deref());
    Ok(xml)
}

// ---------------------------------------------------------------- XML

/// vCPUs as EC2 presents them: two threads per core when the count is even.
pub fn cpu_topology(vcpus: i32) -> (i32, i32) {
    let vcpus = vcpus.max(1);
    if vcpus % 2 == 0 {
        (vcpus / 2, 2)
    } else {
        (vcpus, 1)
    }
}

/// The `t` family bursts.
fn is_burstable(t: &InstanceType) -> bool {
    t.name.starts_with('t')
}

/// One `instanceTypeSet` item's fields.
fn write_instance_type(xml: &mut XmlWriter, t: &InstanceType) {
    let (cores, threads) = cpu_topology(t.vcpus);
    xml.text("instanceType", &t.name)
        .bool("currentGeneration", true)
        .bool("freeTierEligible", false)
        .element("supportedUsageClasses", |xml| {
            xml.text("item", "on-demand");
        })
        .element("supportedRootDeviceTypes", |xml| {
            xml.text("item", "ebs");
        })
        .element("supportedVirtualizationTypes", |xml| {
            xml.text("item", "hvm");
        })
        .bool("bareMetal", false)
        .text("hypervisor", "nitro")
        .element("processorInfo", |xml| {
            xml.element("supportedArchitectures", |xml| {
                xml.text("item", "x86_64");
            });
        })
        .element("vCpuInfo", |xml| {
            xml.num("defaultVCpus", t.vcpus)
                .num("defaultCores", cores)
                .num("defaultThreadsPerCore", threads);
        })
        .element("memoryInfo", |xml| {
            xml.num("sizeInMiB", t.memory_mib);
        })
        .bool("instanceStorageSupported", false);
    write_network_info(xml, t);
    xml // Features Kumo does not offer: hibernation, dedicated hosts, recovery onto
        // another host, the PTP hardware clock, reboot-time host migration.
        .bool("hibernationSupported", false)
        .bool("burstablePerformanceSupported", is_burstable(t))
        .bool("dedicatedHostsSupported", false)
        .bool("autoRecoverySupported", false)
        .text("phcSupport", "unsupported")
        .text("rebootMigrationSupport", "unsupported");
}

/// A type's `networkInfo` (EC2's NetworkInfo): one network card, IPv4 only, virtio NICs
/// (ENA's place), the hosts' Linux conntrack timeouts.
fn write_network_info(xml: &mut XmlWriter, t: &InstanceType) {
    let limits = t.network_limits();
    xml.element("networkInfo", |xml| {
        xml.text("networkPerformance", limits.network_performance)
            .num(
                "maximumNetworkInterfaces",
                limits.maximum_network_interfaces,
            )
            .num("maximumNetworkCards", 1)
            .num("defaultNetworkCardIndex", 0)
            .element("networkCards", |xml| {
                xml.element("item", |xml| {
                    xml.num("networkCardIndex", 0)
                        .text("networkPerformance", limits.network_performance)
                        .num(
                            "maximumNetworkInterfaces",
                            limits.maximum_network_interfaces,
                        )
                        .num("baselineBandwidthInGbps", limits.baseline_bandwidth_gbps)
                        .num("peakBandwidthInGbps", limits.peak_bandwidth_gbps)
                        .num(
                            "defaultEnaQueueCountPerInterface",
                            limits.ena_queues_per_interface,
                        )
                        .element("interfaceTypeSet", |xml| {
                            xml.text("item", "interface");
                        });
                });
            })
            .num(
                "ipv4AddressesPerInterface",
                limits.ipv4_addresses_per_interface,
            )
            .num("ipv6AddressesPerInterface", 0)
            .bool("ipv6Supported", false)
            .text("enaSupport", "supported")
            .bool("efaSupported", false)
            .bool("encryptionInTransitSupported", false)
            .bool("enaSrdSupported", false)
            .text("flexibleEnaQueuesSupport", "unsupported")
            .element("connectionTrackingConfiguration", |xml| {
                xml.num("defaultTcpEstablishedTimeout", 432_000)
                    .num("defaultUdpStreamTimeout", 120)
                    .num("defaultUdpTimeout", 30);
            })
            .bool("secondaryNetworkSupported", false);
    });
}

/// One `instanceTypeSet` item.
pub fn instance_type_xml(t: &InstanceType) -> String {
    fragment(|xml| write_instance_type(xml, t))
}

/// DescribeInstanceTypes' answer.
fn write_describe_instance_types(
    xml: &mut XmlWriter,
    types: &[InstanceType],
    next_token: Option<&str>,
) {
    xml.list("instanceTypeSet", "item", types, write_instance_type)
        .opt("nextToken", next_token);
}

/// [`write_describe_instance_types`], as text.
pub fn describe_instance_types_xml(types: &[InstanceType], next_token: Option<&str>) -> String {
    fragment(|xml| write_describe_instance_types(xml, types, next_token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_info_per_type() {
        let micro = InstanceType {
            name: "t3.micro".into(),
            vcpus: 2,
            memory_mib: 1024,
        };
        let xml = instance_type_xml(&micro);
        for part in [
            "<networkInfo><networkPerformance>Up to 5 Gigabit</networkPerformance><maximumNetworkInterfaces>2</maximumNetworkInterfaces>",
            "<networkCards><item><networkCardIndex>0</networkCardIndex>",
            "<baselineBandwidthInGbps>0.064</baselineBandwidthInGbps><peakBandwidthInGbps>5</peakBandwidthInGbps>",
            "<interfaceTypeSet><item>interface</item></interfaceTypeSet>",
            "<ipv4AddressesPerInterface>2</ipv4AddressesPerInterface>",
            "<ipv6Supported>false</ipv6Supported>",
        ] {
            assert!(xml.contains(part), "{part} not in {xml}");
        }
        let large = InstanceType {
            name: "m5.large".into(),
            vcpus: 2,
            memory_mib: 8192,
        };
        let limits = large.network_limits();
        assert_eq!(
            (
                limits.maximum_network_interfaces,
                limits.ipv4_addresses_per_interface,
                limits.network_performance
            ),
            (3, 10, "Up to 10 Gigabit")
        );
    }

    #[test]
    fn cpu_topology_pairs_threads() {
        assert_eq!(cpu_topology(2), (1, 2));
        assert_eq!(cpu_topology(1), (1, 1));
        assert_eq!(cpu_topology(8), (4, 2));
    }
}
