//! EC2 RunInstances, DescribeInstances, Start/Stop/Reboot/TerminateInstances,
//! DescribeInstanceStatus and GetConsoleOutput: their parameters, and their XML.

use std::collections::{BTreeMap, BTreeSet};

use base64::Engine;
use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::InstanceId;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::{filters::invalid_filter, ValueSet};

use super::instance_types::cpu_topology;
use super::params::Params;
use super::xml::{fragment, returned_true, tag_set};
use crate::error::{ComputeError, Result};
use crate::instance_types::{self, InstanceType};
use crate::instances::{
    self, DescribeQuery, Filter, Instance, InstanceState, Reservation, RunInstances, StateChange,
};
use crate::network::{InstanceInterface, NetworkRequest, PublicAddress};
use crate::volumes::{BlockDevice, BlockDeviceMapping, EbsMapping};
use crate::{api, Compute};

/// `InstanceId.N`, parsed (`InvalidInstanceID.Malformed`).
pub(super) fn parse_instance_ids(p: Params<'_>) -> Result<Vec<InstanceId>> {
    p.list("InstanceId")?
        .iter()
        .map(|id| Ok(InstanceId::parse(id)?))
        .collect()
}

/// `InstanceId.N`, at least one.
fn instance_ids(p: Params<'_>) -> Result<Vec<InstanceId>> {
    let ids = parse_instance_ids(p)?;
    if ids.is_empty() {
        return Err(ComputeError::Missing("InstanceId".into()));
    }
    Ok(ids)
}

/// The launch's network: `SubnetId`, `SecurityGroupId.N`, `SecurityGroup.N` and
/// `PrivateIpAddress`, or one `NetworkInterface.N` at device index 0, as the SDKs send it
/// (Terraform does with `associate_public_ip_address`).
fn network_request(p: Params<'_>) -> Result<NetworkRequest> {
    let request = NetworkRequest {
        subnet_id: p
            .string("SubnetId")
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        security_group_ids: p.list("SecurityGroupId")?,
        security_groups: p.list("SecurityGroup")?,
        private_ip_address: p.string("PrivateIpAddress").map(str::to_string),
        ..Default::default()
    };
    let indices = p.indices("NetworkInterface");
    let Some(&n) = indices.first() else {
        return Ok(request);
    };
    if request.subnet_id.is_some()
        || !request.security_group_ids.is_empty()
        || !request.security_groups.is_empty()
        || request.private_ip_address.is_some()
    {
        return Err(ComputeError::Invalid(
            "InvalidParameterCombination",
            "Network interfaces and an instance-level subnet ID, security groups or private IP address may not be specified on the same request".into(),
        ));
    }
    let unsupported = |what: &str| {
        ComputeError::Invalid(
            "Unsupported",
            format!("{what} at launch is not supported: give one new interface at device index 0"),
        )
    };
    if indices.len() > 1 {
        return Err(unsupported("More than one network interface"));
    }
    let name = |member: &str| format!("NetworkInterface.{n}.{member}");
    match p.int(&name("DeviceIndex"))? {
        Some(0) => {}
        Some(_) => {
            return Err(unsupported(
                "A network interface at a device index other than 0",
            ))
        }
        None => return Err(ComputeError::Missing(name("DeviceIndex"))),
    }
    if p.string(&name("NetworkInterfaceId")).is_some() {
        return Err(unsupported("Attaching an existing network interface"));
    }
    Ok(NetworkRequest {
        subnet_id: p.string(&name("SubnetId")).map(str::to_string),
        security_group_ids: p.list(&name("SecurityGroupId"))?,
        security_groups: Vec::new(),
        private_ip_address: p.string(&name("PrivateIpAddress")).map(str::to_string),
        secondary_private_ip_address_count: p.int(&name("SecondaryPrivateIpAddressCount"))?,
        description: p.string(&name("Description")).map(str::to_string),
        delete_on_termination: p.bool(&name("DeleteOnTermination"))?,
        associate_public_ip_address: p.bool(&name("AssociatePublicIpAddress"))?,
    })
}

/// `BlockDeviceMapping.N`: device name, `NoDevice`, `VirtualName` and `Ebs.*`.
pub(super) fn block_device_mappings(p: Params<'_>) -> Result<Vec<BlockDeviceMapping>> {
    p.indices("BlockDeviceMapping")
        .into_iter()
        .map(|n| {
            let at = |field: &str| format!("BlockDeviceMapping.{n}.{field}");
            let has_ebs = [
                "VolumeSize",
                "VolumeType",
                "Iops",
                "Throughput",
                "DeleteOnTermination",
                "SnapshotId",
                "Encrypted",
            ]
            .iter()
            .any(|f| p.string(&at(&format!("Ebs.{f}"))).is_some());
            if p.bool(&at("Ebs.Encrypted"))? == Some(true) {
                return Err(ComputeError::invalid(
                    "Encrypted volumes are not supported by this cloud: Ebs.Encrypted must be false.",
                ));
            }
            let ebs = has_ebs.then(|| -> Result<EbsMapping> {
                Ok(EbsMapping {
                    volume_size: p.int(&at("Ebs.VolumeSize"))?,
                    volume_type: p.string(&at("Ebs.VolumeType")).map(str::to_string),
                    iops: p.int(&at("Ebs.Iops"))?,
                    throughput: p.int(&at("Ebs.Throughput"))?,
                    delete_on_termination: p.bool(&at("Ebs.DeleteOnTermination"))?,
                    snapshot_id: p
                        .string(&at("Ebs.SnapshotId"))
                        .filter(|s| !s.is_empty())
                        .map(str::to_string),
                })
            });
            Ok(BlockDeviceMapping {
                device_name: p.required(&at("DeviceName"))?.to_string(),
                no_device: p.string(&at("NoDevice")).is_some(),
                virtual_name: p.string(&at("VirtualName")).map(str::to_string),
                ebs: ebs.transpose()?,
            })
        })
        .collect()
}

/// `blockDeviceMapping`: the instance's volumes (DescribeInstances, DescribeInstanceAttribute).
pub(super) fn write_block_devices(xml: &mut XmlWriter, devices: &[BlockDevice]) {
    xml.list("blockDeviceMapping", "item", devices, |xml, device| {
        xml.text("deviceName", &device.device_name)
            .element("ebs", |xml| {
                xml.text("volumeId", &device.volume_id)
                    .text("status", &device.status)
                    .time("attachTime", device.attach_time)
                    .bool("deleteOnTermination", device.delete_on_termination);
            });
    });
}

pub(super) async fn run_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let image_id = p.required("ImageId")?.to_string();
    // An EBS image whose snapshots just completed launches without a describe first.
    crate::ebs_images::refresh(compute, &caller.account_id).await?;
    let min_count = p.required_int("MinCount")?;
    let max_count = p.required_int("MaxCount")?;
    let user_data_bytes = match p.string("UserData").filter(|u| !u.trim().is_empty()) {
        Some(text) => Some(api::decode_user_data(text)?),
        None => None,
    };
    // Volumes and interfaces are not separate resources here: their tags have nowhere to go.
    let tags: BTreeMap<String, String> = p
        .tags_for("instance", &["volume", "network-interface"])?
        .into_iter()
        .collect();
    let input = RunInstances {
        image_id,
        instance_type: p.string("InstanceType").map(str::to_string),
        min_count: Some(min_count),
        max_count: Some(max_count),
        key_name: p.string("KeyName").map(str::to_string),
        user_data: None,
        user_data_bytes,
        client_token: p.string("ClientToken").map(str::to_string),
        tags,
        availability_zone: p
            .string("Placement.AvailabilityZone")
            .filter(|z| !z.is_empty())
            .map(str::to_string),
        disable_api_termination: p.bool("DisableApiTermination")?,
        shutdown_behavior: p
            .string("InstanceInitiatedShutdownBehavior")
            .map(str::to_string),
        network: network_request(p)?,
        block_device_mappings: block_device_mappings(p)?,
    };
    p.bool("EbsOptimized")?;
    let reservation = instances::run(compute, caller, &input).await?;
    let types = instance_types::list(&compute.pool).await?;
    let mut xml = XmlWriter::fragment();
    write_reservation(&mut xml, &reservation, &types);
    Ok(xml)
}

pub(super) async fn describe_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let query = DescribeQuery {
        instance_ids: parse_instance_ids(p)?,
        filters: p.filters()?,
        max_results: p.int("MaxResults")?,
        next_token: next_token(p),
    };
    let (found, next_token) = instances::describe(compute, caller, &query).await?;
    let types = instance_types::list(&compute.pool).await?;
    let mut xml = XmlWriter::fragment();
    write_describe_instances(
        &mut xml,
        &group_reservations(found),
        next_token.as_deref(),
        &types,
    );
    Ok(xml)
}

pub(super) fn next_token(p: Params<'_>) -> Option<String> {
    p.string("NextToken")
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}

pub(super) async fn start_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let ids = instance_ids(p)?;
    let changes = instances::start(compute, caller, &ids).await?;
    Ok(state_changes(&changes))
}

pub(super) async fn stop_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let ids = instance_ids(p)?;
    // Accepted and ignored: every stop is a clean one.
    p.bool("Force")?;
    p.bool("Hibernate")?;
    let changes = instances::stop(compute, caller, &ids).await?;
    Ok(state_changes(&changes))
}

pub(super) async fn terminate_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let ids = instance_ids(p)?;
    let changes = instances::terminate(compute, caller, &ids).await?;
    Ok(state_changes(&changes))
}

pub(super) async fn reboot_instances(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let ids = instance_ids(p)?;
    instances::reboot(compute, caller, &ids).await?;
    Ok(returned_true())
}

/// The instance states whose status is `status` (`ok` when running, else `not-applicable`).
pub(super) fn states_with_status(values: &[String], reachability: bool) -> Vec<String> {
    let all = [
        "pending",
        "running",
        "stopping",
        "stopped",
        "shutting-down",
        "terminated",
    ];
    let wanted = ValueSet::new(values);
    let mut states = BTreeSet::new();
    for state in all {
        let running = state == "running";
        let status = match (reachability, running) {
            (false, true) => "ok",
            (false, false) => "not-applicable",
            (true, true) => "passed",
            (true, false) => "",
        };
        if !status.is_empty() && wanted.matches(status) {
            states.insert(state.to_string());
        }
    }
    states.into_iter().collect()
}

pub(super) async fn describe_instance_status(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let include_all = p.bool("IncludeAllInstances")?.unwrap_or(false);
    let mut filters = Vec::new();
    for filter in p.filters()? {
        match filter.name.as_str() {
            "availability-zone" | "instance-state-name" | "instance-state-code" => {
                filters.push(filter)
            }
            "instance-status.status" | "system-status.status" => filters.push(Filter {
                name: "instance-state-name".into(),
                values: states_with_status(&filter.values, false),
            }),
            "instance-status.reachability" | "system-status.reachability" => filters.push(Filter {
                name: "instance-state-name".into(),
                values: states_with_status(&filter.values, true),
            }),
            other => return Err(invalid_filter(other).into()),
        }
    }
    if !include_all {
        filters.push(Filter {
            name: "instance-state-name".into(),
            values: vec!["running".into()],
        });
    }
    let query = DescribeQuery {
        instance_ids: parse_instance_ids(p)?,
        filters,
        max_results: p.int("MaxResults")?,
        next_token: next_token(p),
    };
    let (found, next_token) = instances::describe(compute, caller, &query).await?;
    let mut xml = XmlWriter::fragment();
    write_instance_status(&mut xml, &found, next_token.as_deref());
    Ok(xml)
}

pub(super) async fn get_console_output(
    compute: &Compute,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let instance_id = InstanceId::parse(p.required("InstanceId")?)?;
    p.bool("Latest")?;
    let (output, at) = instances::console_output(compute, caller, &instance_id).await?;
    let mut xml = XmlWriter::fragment();
    write_console_output(
        &mut xml,
        instance_id.as_str(),
        &output,
        &at.unwrap_or_else(chrono::Utc::now),
    );
    Ok(xml)
}

// ---------------------------------------------------------------- XML

fn write_state(xml: &mut XmlWriter, name: &str, state: InstanceState) {
    xml.element(name, |xml| {
        xml.num("code", state.code()).text("name", state.as_str());
    });
}

fn vcpus_of(types: &[InstanceType], name: &str) -> i32 {
    types
        .iter()
        .find(|t| t.name == name)
        .map(|t| t.vcpus)
        .unwrap_or(1)
}

/// `ip-a-b-c-d.ec2.internal`, or empty without an address.
pub fn private_dns_name(ip: Option<&str>) -> String {
    ip.map(|ip| kumo_ec2_query::zones::private_dns_name(kumo_auth::DEFAULT_REGION, ip))
        .unwrap_or_default()
}

/// EC2's `stateReason` (code, message) of a stop or terminate the user asked for.
const USER_SHUTDOWN: (&str, &str) = (
    "Client.UserInitiatedShutdown",
    "Client.UserInitiatedShutdown: User initiated shutdown",
);

/// A stored state reason, as `(code, message, transition reason)`. Reasons written as
/// `Code: message` keep the whole text as the message, as EC2 does
/// (`Client.UserInitiatedShutdown: User initiated shutdown`). The only reason stored
/// without a code is a request's (`User initiated`, on stop and terminate): EC2 gives
/// those the code `Client.UserInitiatedShutdown`, and the text as transition reason.
pub fn split_reason(reason: &str) -> (String, String, String) {
    match reason.split_once(": ") {
        Some((code, message)) if !code.is_empty() && !code.contains(' ') => {
            (code.to_string(), reason.to_string(), message.to_string())
        }
        _ => (
            USER_SHUTDOWN.0.to_string(),
            USER_SHUTDOWN.1.to_string(),
            reason.to_string(),
        ),
    }
}

/// One `instancesSet` item's fields.
fn write_instance(xml: &mut XmlWriter, instance: &Instance, types: &[InstanceType]) {
    let ip = instance.private_ip.as_deref();
    let dns = private_dns_name(ip);
    let primary = instance.primary_interface();
    let public = instance.public_address();
    let (cores, threads) = cpu_topology(vcpus_of(types, &instance.instance_type));
    let reason = instance
        .state_reason
        .as_deref()
        .filter(|r| !r.is_empty())
        .map(split_reason);
    let transition = reason.as_ref().map_or("", |(_, _, t)| t.as_str());
    xml.text("instanceId", &instance.instance_id)
        .text("imageId", &instance.image_id);
    write_state(xml, "instanceState", instance.state);
    xml.text("privateDnsName", &dns)
        .text("dnsName", public.map_or("", |a| a.public_dns_name.as_str()))
        .text("reason", transition)
        .opt("keyName", instance.key_name.as_deref())
        .num("amiLaunchIndex", instance.launch_index)
        .empty("productCodes")
        .text("instanceType", &instance.instance_type)
        .time("launchTime", instance.launch_time)
        .element("placement", |xml| {
            xml.text("availabilityZone", &instance.availability_zone)
                .text("groupName", "")
                .text("tenancy", "default");
        })
        .element("monitoring", |xml| {
            xml.text("state", "disabled");
        })
        .text("subnetId", &instance.subnet_id)
        .opt("vpcId", instance.vpc_id())
        .opt("privateIpAddress", ip)
        .opt("ipAddress", public.map(|a| a.public_ip.as_str()))
        .bool(
            "sourceDestCheck",
            primary.is_none_or(|p| p.source_dest_check),
        )
        .list("groupSet", "item", instance.security_groups(), |xml, g| {
            xml.text("groupName", &g.group_name)
                .text("groupId", &g.group_id);
        });
    let state_reason = match &reason {
        Some((code, message, _)) => Some((code.as_str(), message.as_str())),
        // A launching (or starting) instance's reason is `pending`, as in EC2's
        // RunInstances answer; a running one has none.
        None if instance.state == InstanceState::Pending => Some(("pending", "pending")),
        None => None,
    };
    if let Some((code, message)) = state_reason {
        xml.element("stateReason", |xml| {
            xml.text("code", code).text("message", message);
        });
    }
    xml.text("architecture", "x86_64")
        .text(
            "rootDeviceType",
            super::images::root_device_type(instance.root_device_name.is_some()),
        )
        .text(
            "rootDeviceName",
            instance
                .root_device_name
                .as_deref()
                .unwrap_or(crate::volumes::ROOT_DEVICE_NAME),
        );
    write_block_devices(xml, &instance.block_devices);
    xml.text("virtualizationType", "hvm").text(
        "clientToken",
        instance.client_token.as_deref().unwrap_or(""),
    );
    tag_set(xml, &instance.tags);
    xml.text("hypervisor", "xen")
        .list(
            "networkInterfaceSet",
            "item",
            &instance.network_interfaces,
            write_interface,
        )
        .bool("ebsOptimized", false)
        .bool("enaSupport", true)
        .element("cpuOptions", |xml| {
            xml.num("coreCount", cores).num("threadsPerCore", threads);
        })
        .text("platformDetails", "Linux/UNIX")
        .text("usageOperation", "RunInstances")
        .element("hibernationOptions", |xml| {
            xml.bool("configured", false);
        })
        // The metadata service answers on IPv4 only and serves no tags.
        .element("metadataOptions", |xml| {
            xml.text("state", "applied")
                .text("httpTokens", "optional")
                .num("httpPutResponseHopLimit", 1)
                .text("httpEndpoint", "enabled")
                .text("httpProtocolIpv6", "disabled")
                .text("instanceMetadataTags", "disabled");
        });
}

/// One `networkInterfaceSet` item of an instance (EC2's `InstanceNetworkInterface`).
fn write_interface(xml: &mut XmlWriter, eni: &InstanceInterface) {
    xml.text("networkInterfaceId", &eni.network_interface_id)
        .text("subnetId", &eni.subnet_id)
        .text("vpcId", &eni.vpc_id)
        .text("description", &eni.description)
        .text("ownerId", &eni.owner_id)
        .text("status", "in-use")
        .text("macAddress", &eni.mac_address)
        .text("privateIpAddress", &eni.private_ip_address)
        .text(
            "privateDnsName",
            &private_dns_name(Some(&eni.private_ip_address)),
        )
        .bool("sourceDestCheck", eni.source_dest_check)
        .list("groupSet", "item", &eni.groups, |xml, g| {
            xml.text("groupName", &g.group_name)
                .text("groupId", &g.group_id);
        });
    if let Some(public) = eni.public_address(&eni.private_ip_address) {
        write_association(xml, public);
    }
    xml.element("attachment", |xml| {
        xml.text("attachmentId", &eni.attachment_id)
            .num("deviceIndex", eni.device_index)
            .text("status", "attached")
            .time("attachTime", eni.attach_time)
            .bool("deleteOnTermination", eni.delete_on_termination)
            .num("networkCardIndex", 0);
    })
    .list(
        "privateIpAddressesSet",
        "item",
        &eni.private_ip_addresses,
        |xml, address| {
            xml.text("privateIpAddress", address)
                .text("privateDnsName", &private_dns_name(Some(address)))
                .bool("primary", *address == eni.private_ip_address);
            if let Some(public) = eni.public_address(address) {
                write_association(xml, public);
            }
        },
    )
    .empty("ipv6AddressesSet")
    .text("interfaceType", &eni.interface_type);
}

/// An interface's (or private address's) elastic IP (EC2's
/// `InstanceNetworkInterfaceAssociation`).
fn write_association(xml: &mut XmlWriter, public: &PublicAddress) {
    xml.element("association", |xml| {
        xml.text("publicIp", &public.public_ip)
            .text("publicDnsName", &public.public_dns_name)
            .text("ipOwnerId", &public.ip_owner_id);
    });
}

/// One `instancesSet` item.
pub fn instance_xml(instance: &Instance, types: &[InstanceType]) -> String {
    fragment(|xml| write_instance(xml, instance, types))
}

/// The fields of one reservation (RunInstances' whole answer; a `reservationSet` item).
fn write_reservation(xml: &mut XmlWriter, reservation: &Reservation, types: &[InstanceType]) {
    xml.text("reservationId", &reservation.reservation_id)
        .text("ownerId", &reservation.owner_id)
        .empty("groupSet")
        .list("instancesSet", "item", &reservation.instances, |xml, i| {
            write_instance(xml, i, types)
        });
}

/// [`write_reservation`], as text.
pub fn reservation_xml(reservation: &Reservation, types: &[InstanceType]) -> String {
    fragment(|xml| write_reservation(xml, reservation, types))
}

/// Instances grouped by reservation, in order of first appearance.
pub fn group_reservations(instances: Vec<Instance>) -> Vec<Reservation> {
    let mut reservations: Vec<Reservation> = Vec::new();
    for instance in instances {
        match reservations
            .iter_mut()
            .find(|r| r.reservation_id == instance.reservation_id)
        {
            Some(reservation) => reservation.instances.push(instance),
            None => reservations.push(Reservation {
                reservation_id: instance.reservation_id.clone(),
                owner_id: instance.account_id.clone(),
                instances: vec![instance],
            }),
        }
    }
    reservations
}

/// DescribeInstances: `reservationSet` and `nextToken` when there are more.
fn write_describe_instances(
    xml: &mut XmlWriter,
    reservations: &[Reservation],
    next_token: Option<&str>,
    types: &[InstanceType],
) {
    xml.list("reservationSet", "item", reservations, |xml, r| {
        write_reservation(xml, r, types)
    })
    .opt("nextToken", next_token);
}

/// [`write_describe_instances`], as text.
pub fn describe_instances_xml(
    reservations: &[Reservation],
    next_token: Option<&str>,
    types: &[InstanceType],
) -> String {
    fragment(|xml| write_describe_instances(xml, reservations, next_token, types))
}

/// Start/Stop/TerminateInstances: `instancesSet` of state changes.
fn state_changes(changes: &[StateChange]) -> XmlWriter {
    let mut xml = XmlWriter::fragment();
    xml.list("instancesSet", "item", changes, |xml, change| {
        xml.text("instanceId", &change.instance_id);
        write_state(xml, "currentState", change.current_state);
        write_state(xml, "previousState", change.previous_state);
    });
    xml
}

/// [`state_changes`], as text.
pub fn state_changes_xml(changes: &[StateChange]) -> String {
    state_changes(changes).finish()
}

/// DescribeInstanceStatus: running instances report `ok` with reachability `passed`.
fn write_instance_status(xml: &mut XmlWriter, instances: &[Instance], next_token: Option<&str>) {
    let status = |xml: &mut XmlWriter, name: &str, running: bool| {
        xml.element(name, |xml| {
            if running {
                xml.text("status", "ok")
                    .list("details", "item", [()], |xml, ()| {
                        xml.text("name", "reachability").text("status", "passed");
                    });
            } else {
                xml.text("status", "not-applicable");
            }
        });
    };
    xml.list("instanceStatusSet", "item", instances, |xml, i| {
        let running = i.state == InstanceState::Running;
        xml.text("instanceId", &i.instance_id)
            .text("availabilityZone", &i.availability_zone);
        write_state(xml, "instanceState", i.state);
        status(xml, "systemStatus", running);
        status(xml, "instanceStatus", running);
    })
    .opt("nextToken", next_token);
}

/// [`write_instance_status`], as text.
pub fn instance_status_xml(instances: &[Instance], next_token: Option<&str>) -> String {
    fragment(|xml| write_instance_status(xml, instances, next_token))
}

/// GetConsoleOutput: the console bytes as base64.
fn write_console_output(xml: &mut XmlWriter, instance_id: &str, output: &[u8], at: &DateTime<Utc>) {
    xml.text("instanceId", instance_id).time("timestamp", *at);
    if !output.is_empty() {
        let encoded = base64::engine::general_purpose::STANDARD.encode(output);
        xml.text("output", &encoded);
    }
}

/// [`write_console_output`], as text.
pub fn console_output_xml(instance_id: &str, output: &[u8], at: &DateTime<Utc>) -> String {
    fragment(|xml| write_console_output(xml, instance_id, output, at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_split_into_code_and_message() {
        let (code, message, transition) =
            split_reason("Client.UserInitiatedShutdown: User initiated shutdown");
        assert_eq!(code, "Client.UserInitiatedShutdown");
        assert_eq!(
            message,
            "Client.UserInitiatedShutdown: User initiated shutdown"
        );
        assert_eq!(transition, "User initiated shutdown");
        assert_eq!(
            split_reason("User initiated"),
            (
                "Client.UserInitiatedShutdown".into(),
                "Client.UserInitiatedShutdown: User initiated shutdown".into(),
                "User initiated".into()
            )
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            private_dns_name(Some("172.31.0.5")),
            "ip-172-31-0-5.ec2.internal"
        );
    }
}
