//! DescribeInstances' filters: their names and how an instance matches one.

use super::*;

/// DescribeInstances' filter names.
pub const INSTANCE_FILTERS: [&str; 23] = [
    "instance-id",
    "instance-state-name",
    "instance-state-code",
    "instance-type",
    "image-id",
    "reservation-id",
    "availability-zone",
    "private-ip-address",
    "subnet-id",
    "key-name",
    "owner-id",
    "tag-key",
    "tag-value",
    "vpc-id",
    "instance.group-id",
    "instance.group-name",
    "ip-address",
    "dns-name",
    "root-device-type",
    "root-device-name",
    "block-device-mapping.device-name",
    "block-device-mapping.volume-id",
    "block-device-mapping.status",
];

pub(super) fn is_instance_filter(name: &str) -> bool {
    name.starts_with("tag:") || INSTANCE_FILTERS.contains(&name)
}

/// Does `instance` pass one (compiled) DescribeInstances filter?
pub fn filter_matches(filter: &filters::Compiled, instance: &Instance) -> bool {
    let values = &filter.values;
    let any = |value: Option<&str>| value.is_some_and(|v| values.matches(v));
    match filter.name.as_str() {
        "instance-id" => any(Some(&instance.instance_id)),
        "instance-state-name" => any(Some(instance.state.as_str())),
        "instance-state-code" => any(Some(&instance.state_code.to_string())),
        "instance-type" => any(Some(&instance.instance_type)),
        "image-id" => any(Some(&instance.image_id)),
        "reservation-id" => any(Some(&instance.reservation_id)),
        "availability-zone" => any(Some(&instance.availability_zone)),
        "private-ip-address" => any(instance.private_ip.as_deref()),
        "subnet-id" => any(Some(&instance.subnet_id)),
        "key-name" => any(instance.key_name.as_deref()),
        "owner-id" => any(Some(&instance.account_id)),
        "vpc-id" => any(instance.vpc_id()),
        "ip-address" => any(instance.public_address().map(|a| a.public_ip.as_str())),
        "dns-name" => any(instance
            .public_address()
            .map(|a| a.public_dns_name.as_str())
            .filter(|d| !d.is_empty())),
        "instance.group-id" => values.matches_any(
            instance
                .security_groups()
                .iter()
                .map(|g| g.group_id.as_str()),
        ),
        "instance.group-name" => values.matches_any(
            instance
                .security_groups()
                .iter()
                .map(|g| g.group_name.as_str()),
        ),
        "root-device-type" => any(Some(if instance.root_device_name.is_some() {
            "ebs"
        } else {
            "instance-store"
        })),
        "root-device-name" => any(Some(
            instance
                .root_device_name
                .as_deref()
                .unwrap_or(crate::volumes::ROOT_DEVICE_NAME),
        )),
        "block-device-mapping.device-name" => values.matches_any(
            instance
                .block_devices
                .iter()
                .map(|d| d.device_name.as_str()),
        ),
        "block-device-mapping.volume-id" => {
            values.matches_any(instance.block_devices.iter().map(|d| d.volume_id.as_str()))
        }
        "block-device-mapping.status" => {
            values.matches_any(instance.block_devices.iter().map(|d| d.status.as_str()))
        }
        _ => tag_filters::matches(filter, &instance.tags).unwrap_or(false),
    }
}
