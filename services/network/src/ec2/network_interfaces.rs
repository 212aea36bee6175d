//! EC2 CreateNetworkInterface, DeleteNetworkInterface, DescribeNetworkInterfaces,
//! Attach/DetachNetworkInterface, Modify/DescribeNetworkInterfaceAttribute and
//! Assign/UnassignPrivateIpAddresses: their parameters and their XML.

use kumo_auth::Principal;
use kumo_common::ids::{
    InstanceId, NetworkInterfaceAttachmentId, NetworkInterfaceId, SecurityGroupId, SubnetId,
};
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::response::{self, returned_true, tag_set};
use kumo_ec2_query::Params;

use crate::error::{NetworkError, Result};
use crate::network_interfaces::{
    self as enis, Attachment, CreateNetworkInterface, DescribeQuery, InterfaceChange,
    NetworkInterface,
};
use crate::Network;

/// `ip-a-b-c-d.ec2.internal` in us-east-1, `ip-a-b-c-d.<region>.compute.internal` elsewhere.
use kumo_ec2_query::zones::private_dns_name;

fn interface_id(p: Params<'_>) -> Result<NetworkInterfaceId> {
    Ok(NetworkInterfaceId::parse(
        p.required("NetworkInterfaceId")?,
    )?)
}

fn group_ids(p: Params<'_>, prefix: &str) -> Result<Vec<SecurityGroupId>> {
    p.list(prefix)?
        .iter()
        .map(|id| Ok(SecurityGroupId::parse(id)?))
        .collect()
}

/// An interface's `attachment` (EC2's `NetworkInterfaceAttachment`).
fn write_attachment(xml: &mut XmlWriter, a: &Attachment) {
    xml.element("attachment", |xml| {
        xml.text("attachmentId", &a.attachment_id)
            .text("instanceId", &a.instance_id)
            .text("instanceOwnerId", &a.instance_owner_id)
            .num("deviceIndex", a.device_index)
            .num("networkCardIndex", 0)
            .text("status", "attached")
            .time("attachTime", a.attach_time)
            .bool("deleteOnTermination", a.delete_on_termination);
    });
}

/// One interface (EC2's `NetworkInterface`).
fn write_interface(xml: &mut XmlWriter, region: &str, eni: &NetworkInterface) {
    xml.text("networkInterfaceId", &eni.network_interface_id)
        .text("subnetId", &eni.subnet_id)
        .text("vpcId", &eni.vpc_id)
        .text("availabilityZone", &eni.availability_zone)
        .text("description", &eni.description)
        .text("ownerId", &eni.owner_id)
        .bool("requesterManaged", false)
        .text("status", eni.status.as_str())
        .text("macAddress", &eni.mac_address)
        .text("privateIpAddress", &eni.private_ip_address)
        .text(
            "privateDnsName",
            &private_dns_name(region, &eni.private_ip_address),
        )
        .bool("sourceDestCheck", eni.source_dest_check)
        .list("groupSet", "item", &eni.groups, |xml, g| {
            xml.text("groupId", &g.group_id)
                .text("groupName", &g.group_name);
        });
    if let Some(a) = eni.association() {
        super::addresses::write_association(xml, region, a);
    }
    if let Some(a) = &eni.attachment {
        write_attachment(xml, a);
    }
    xml.list(
        "privateIpAddressesSet",
        "item",
        &eni.private_ip_addresses,
        |xml, address| {
            xml.text("privateIpAddress", &address.private_ip_address)
                .text(
                    "privateDnsName",
                    &private_dns_name(region, &address.private_ip_address),
                )
                .bool("primary", address.primary);
            let associated = eni
                .associations
                .iter()
                .find(|a| a.private_ip_address == address.private_ip_address);
            if let Some(a) = associated {
                super::addresses::write_association(xml, region, a);
            }
        },
    )
    .empty("ipv6AddressesSet")
    .text("interfaceType", &eni.interface_type);
    tag_set(xml, &eni.tags);
}

pub(super) async fn create_network_interface(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let subnet_id = SubnetId::parse(p.required("SubnetId")?)?;
    if let Some(kind) = p.string("InterfaceType").filter(|k| *k != "interface") {
        return Err(NetworkError::Invalid(
            "Unsupported",
            format!("Interface type '{kind}' is not supported"),
        ));
    }
    // `PrivateIpAddresses.N.{PrivateIpAddress,Primary}` (Terraform's form) or
    // `PrivateIpAddress`: the primary, then explicit secondaries.
    let mut primary = p.string("PrivateIpAddress").map(str::to_string);
    let mut secondaries = Vec::new();
    for n in p.indices("PrivateIpAddresses") {
        let address = p.required(&format!("PrivateIpAddresses.{n}.PrivateIpAddress"))?;
        if p.bool(&format!("PrivateIpAddresses.{n}.Primary"))? == Some(true) {
            if primary.is_some() {
                return Err(NetworkError::Invalid(
                    "InvalidParameterCombination",
                    "Only one primary private IP address can be given".into(),
                ));
            }
            primary = Some(address.to_string());
        } else {
            secondaries.push(address.to_string());
        }
    }
    let count = p.int("SecondaryPrivateIpAddressCount")?;
    if count.is_some() && !secondaries.is_empty() {
        return Err(NetworkError::Invalid(
            "InvalidParameterCombination",
            "Specify either secondary private IP addresses or a secondary address count, not both"
                .into(),
        ));
    }
    let input = CreateNetworkInterface {
        subnet_id,
        description: p.string("Description").map(str::to_string),
        private_ip_address: primary,
        groups: group_ids(p, "SecurityGroupId")?,
        secondary_private_ip_address_count: count,
        tags: p.tags_for("network-interface", &[])?.into_iter().collect(),
    };
    let eni = enis::create_idempotent(
        network,
        caller,
        &input,
        &secondaries,
        p.string("ClientToken"),
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    xml.element("networkInterface", |xml| {
        write_interface(xml, &network.config.region, &eni)
    });
    Ok(xml)
}

pub(super) async fn delete_network_interface(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    enis::delete(network, caller, &interface_id(p)?).await?;
    Ok(returned_true())
}

pub(super) async fn describe_network_interfaces(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let ids = p
        .list("NetworkInterfaceId")?
        .iter()
        .map(|id| Ok(NetworkInterfaceId::parse(id)?))
        .collect::<Result<Vec<_>>>()?;
    let page = response::page(p, (5, 1000))?;
    if !ids.is_empty() && p.string("MaxResults").is_some() {
        return Err(NetworkError::Invalid(
            "InvalidParameterCombination",
            "The parameter NetworkInterfaceIds cannot be used with the parameter MaxResults".into(),
        ));
    }
    let query = DescribeQuery {
        ids,
        filters: p.filters()?,
        page: Some(page),
    };
    let (found, next_token) = enis::describe(network, caller, &query).await?;
    let region = network.config.region.as_str();
    let mut xml = XmlWriter::fragment();
    xml.list("networkInterfaceSet", "item", &found, |xml, eni| {
        write_interface(xml, region, eni)
    })
    .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

pub(super) async fn attach_network_interface(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let id = interface_id(p)?;
    let instance_id = InstanceId::parse(p.required("InstanceId")?)?;
    let device_index = p.required_int("DeviceIndex")?;
    if let Some(card) = p.int("NetworkCardIndex")?.filter(|c| *c != 0) {
        return Err(NetworkError::invalid(format!(
            "Invalid value '{card}' for NetworkCardIndex: instances have one network card (0)"
        )));
    }
    let attachment_id = enis::attach(network, caller, &id, &instance_id, device_index).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("attachmentId", &attachment_id)
        .num("networkCardIndex", 0);
    Ok(xml)
}

pub(super) async fn detach_network_interface(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let attachment_id = NetworkInterfaceAttachmentId::parse(p.required("AttachmentId")?)?;
    p.bool("Force")?;
    enis::detach(network, caller, &attachment_id).await?;
    Ok(returned_true())
}

pub(super) async fn modify_network_interface_attribute(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let id = interface_id(p)?;
    let groups = group_ids(p, "SecurityGroupId")?;
    let mut changes = Vec::new();
    if let Some(text) = p.string("Description.Value") {
        changes.push(InterfaceChange::Description(text.to_string()));
    }
    if let Some(check) = p.bool("SourceDestCheck.Value")? {
        changes.push(InterfaceChange::SourceDestCheck(check));
    }
    if !groups.is_empty() {
        changes.push(InterfaceChange::Groups(groups));
    }
    if let Some(attachment) = p.string("Attachment.AttachmentId") {
        let delete = p
            .bool("Attachment.DeleteOnTermination")?
            .ok_or_else(|| NetworkError::Missing("Attachment.DeleteOnTermination".into()))?;
        changes.push(InterfaceChange::DeleteOnTermination {
            attachment_id: NetworkInterfaceAttachmentId::parse(attachment)?,
            delete_on_termination: delete,
        });
    }
    let change = match changes.len() {
        1 => changes.remove(0),
        0 => {
            return Err(NetworkError::Missing(
                "Description, SourceDestCheck, SecurityGroupId or Attachment".into(),
            ))
        }
        _ => {
            return Err(NetworkError::Invalid(
                "InvalidParameterCombination",
                "Fields for multiple attribute types specified: only one attribute can be modified at a time".into(),
            ))
        }
    };
    enis::modify(network, caller, &id, &change).await?;
    Ok(returned_true())
}

pub(super) async fn describe_network_interface_attribute(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let id = interface_id(p)?;
    let attribute = p.required("Attribute")?;
    if !matches!(
        attribute,
        "description" | "groupSet" | "sourceDestCheck" | "attachment" | "associatePublicIpAddress"
    ) {
        return Err(NetworkError::invalid(format!(
            "Value ({}) for parameter attribute is invalid. Unknown attribute.",
            attribute.chars().take(64).collect::<String>()
        )));
    }
    let eni = enis::get(network, caller, id.as_str()).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("networkInterfaceId", &eni.network_interface_id);
    match attribute {
        "description" => {
            xml.element("description", |xml| {
                xml.text("value", &eni.description);
            });
        }
        "sourceDestCheck" => {
            xml.element("sourceDestCheck", |xml| {
                xml.bool("value", eni.source_dest_check);
            });
        }
        "groupSet" => {
            xml.list("groupSet", "item", &eni.groups, |xml, g| {
                xml.text("groupId", &g.group_id)
                    .text("groupName", &g.group_name);
            });
        }
        "attachment" => {
            if let Some(a) = &eni.attachment {
                write_attachment(&mut xml, a);
            }
        }
        // Public addresses come from elastic IPs; none is associated at launch here.
        _ => {
            xml.bool("associatePublicIpAddress", false);
        }
    }
    Ok(xml)
}

pub(super) async fn assign_private_ip_addresses(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let id = interface_id(p)?;
    let requested = p.list("PrivateIpAddress")?;
    let count = p.int("SecondaryPrivateIpAddressCount")?;
    p.bool("AllowReassignment")?;
    let assigned = enis::assign_private_ips(network, caller, &id, &requested, count).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("networkInterfaceId", id.as_str())
        .list(
            "assignedPrivateIpAddressesSet",
            "item",
            &assigned,
            |xml, ip| {
                xml.text("privateIpAddress", &ip.to_string());
            },
        )
        .bool("return", true);
    Ok(xml)
}

pub(super) async fn unassign_private_ip_addresses(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let id = interface_id(p)?;
    let addresses = p.list("PrivateIpAddress")?;
    enis::unassign_private_ips(network, caller, &id, &addresses).await?;
    Ok(returned_true())
}
