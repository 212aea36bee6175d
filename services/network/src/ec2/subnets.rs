//! EC2 CreateSubnet, DeleteSubnet, DescribeSubnets and ModifySubnetAttribute: their
//! parameters, filters and XML.

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::response::{returned_true, tag_set};
use kumo_ec2_query::zones::zone_id;
use kumo_ec2_query::Params;

use super::describe::{flag, one, Describe, Listed};
use crate::error::{NetworkError, Result};
use crate::subnets::{self, CreateSubnet, Subnet};
use crate::tags::{self, Tags};
use crate::{vpcs, Network};

const SUBNET_FILTERS: [&str; 17] = [
    "subnet-id",
    "vpc-id",
    "cidr-block",
    "cidr",
    "cidrBlock",
    "availability-zone",
    "availabilityZone",
    "availability-zone-id",
    "availabilityZoneId",
    "available-ip-address-count",
    "default-for-az",
    "defaultForAz",
    "map-public-ip-on-launch",
    "owner-id",
    "state",
    "subnet-arn",
    "ipv6-native",
];

/// A subnet with what its XML shows beyond the row: its ARN and zone id.
struct Shown {
    subnet: Subnet,
    arn: String,
    zone_id: String,
}

impl Listed for Shown {
    fn tags(&self) -> &Tags {
        &self.subnet.tags
    }
    fn tags_mut(&mut self) -> &mut Tags {
        &mut self.subnet.tags
    }
    fn created_at(&self) -> DateTime<Utc> {
        self.subnet.created_at
    }
    fn id(&self) -> &str {
        &self.subnet.subnet_id
    }
}

fn shown(network: &Network, subnet: Subnet) -> Shown {
    let region = network.config.region.as_str();
    let position = network
        .config
        .zones
        .iter()
        .position(|z| *z == subnet.availability_zone)
        .map_or(1, |n| n + 1);
    Shown {
        arn: format!(
            "arn:aws:ec2:{region}:{}:subnet/{}",
            subnet.account_id, subnet.subnet_id
        ),
        zone_id: zone_id(region, &subnet.availability_zone, position),
        subnet,
    }
}

fn subnet_field(shown: &Shown, name: &str) -> Vec<String> {
    let subnet = &shown.subnet;
    match name {
        "subnet-id" => one(&subnet.subnet_id),
        "vpc-id" => one(&subnet.vpc_id),
        "cidr-block" | "cidr" | "cidrBlock" => one(&subnet.cidr_block),
        "availability-zone" | "availabilityZone" => one(&subnet.availability_zone),
        "availability-zone-id" | "availabilityZoneId" => one(&shown.zone_id),
        "available-ip-address-count" => one(&subnet.available_ip_address_count.to_string()),
        "default-for-az" | "defaultForAz" => flag(subnet.default_for_az),
        "map-public-ip-on-launch" => flag(subnet.map_public_ip_on_launch),
        "owner-id" => one(&subnet.account_id),
        "state" => one(&subnet.state),
        "subnet-arn" => one(&shown.arn),
        "ipv6-native" => flag(false),
        _ => Vec::new(),
    }
}

pub(super) async fn create_subnet(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let vpc_id = p.required("VpcId")?.to_string();
    let cidr_block = p.required("CidrBlock")?.to_string();
    if p.string("Ipv6CidrBlock").is_some() || p.bool("Ipv6Native")? == Some(true) {
        return Err(NetworkError::invalid("IPv6 subnets are not supported"));
    }
    let mut availability_zone = p.string("AvailabilityZone").map(str::to_string);
    if let Some(wanted) = p.string("AvailabilityZoneId") {
        let region = network.config.region.as_str();
        let zone = network
            .config
            .zones
            .iter()
            .enumerate()
            .find(|(n, z)| zone_id(region, z, n + 1) == wanted)
            .map(|(_, z)| z.clone())
            .ok_or_else(|| {
                NetworkError::invalid(format!(
                    "Value ({wanted}) for parameter availabilityZoneId is invalid."
                ))
            })?;
        if availability_zone
            .as_ref()
            .is_some_and(|given| *given != zone)
        {
            return Err(NetworkError::invalid(
                "AvailabilityZone and AvailabilityZoneId name different zones",
            ));
        }
        availability_zone = Some(zone);
    }
    let input = CreateSubnet {
        vpc_id,
        cidr_block,
        availability_zone,
        tags: tags::from_pairs(p.tags_for("subnet", &[])?),
    };
    let subnet = subnets::create(network, caller, &input).await?;
    let mut xml = XmlWriter::fragment();
    xml.element("subnet", |xml| write_subnet(xml, &shown(network, subnet)));
    Ok(xml)
}

pub(super) async fn delete_subnet(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    subnets::delete(network, caller, p.required("SubnetId")?).await?;
    Ok(returned_true())
}

pub(super) async fn describe_subnets(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let describe = Describe::parse(p, &SUBNET_FILTERS, Some((5, 1000)))?;
    let ids = p.list("SubnetId")?;
    vpcs::ensure_default(network, &caller.account_id).await?;
    let found: Vec<Shown> = subnets::list(&network.pool, caller, &ids)
        .await?
        .into_iter()
        .map(|s| shown(network, s))
        .collect();
    let (page, next_token) = describe
        .select(&caller.account_id, found, subnet_field)
        .await?;
    let mut xml = XmlWriter::fragment();
    xml.list("subnetSet", "item", &page, write_subnet)
        .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

pub(super) async fn modify_subnet_attribute(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let subnet_id = p.required("SubnetId")?;
    // The IPv6 and DNS-name options Kumo lacks: their off values are what it does.
    for name in [
        "AssignIpv6AddressOnCreation.Value",
        "EnableDns64.Value",
        "EnableResourceNameDnsAAAARecordOnLaunch.Value",
        "EnableResourceNameDnsARecordOnLaunch.Value",
        "MapCustomerOwnedIpOnLaunch.Value",
    ] {
        if p.bool(name)? == Some(true) {
            return Err(NetworkError::invalid(format!(
                "{name}=true is not supported"
            )));
        }
    }
    if let Some(kind) = p.string("PrivateDnsHostnameTypeOnLaunch") {
        if kind != "ip-name" {
            return Err(NetworkError::invalid(format!(
                "Value ({kind}) for parameter privateDnsHostnameTypeOnLaunch is invalid. Only ip-name is supported."
            )));
        }
    }
    match p.bool("MapPublicIpOnLaunch.Value")? {
        Some(value) => {
            subnets::set_map_public_ip_on_launch(network, caller, subnet_id, value).await?;
        }
        None => {
            subnets::get(&network.pool, caller, subnet_id).await?;
        }
    }
    Ok(returned_true())
}

/// One subnet's fields (a `subnetSet` item, or CreateSubnet's `subnet`).
fn write_subnet(xml: &mut XmlWriter, shown: &Shown) {
    let subnet = &shown.subnet;
    xml.text("subnetId", &subnet.subnet_id)
        .text("subnetArn", &shown.arn)
        .text("state", &subnet.state)
        .text("vpcId", &subnet.vpc_id)
        .text("ownerId", &subnet.account_id)
        .text("cidrBlock", &subnet.cidr_block)
        .num("availableIpAddressCount", subnet.available_ip_address_count)
        .text("availabilityZone", &subnet.availability_zone)
        .text("availabilityZoneId", &shown.zone_id)
        .bool("defaultForAz", subnet.default_for_az)
        .bool("mapPublicIpOnLaunch", subnet.map_public_ip_on_launch)
        .bool("mapCustomerOwnedIpOnLaunch", false)
        .bool("assignIpv6AddressOnCreation", false)
        .empty("ipv6CidrBlockAssociationSet")
        .bool("ipv6Native", false)
        .bool("enableDns64", false)
        .element("privateDnsNameOptionsOnLaunch", |xml| {
            xml.text("hostnameType", "ip-name")
                .bool("enableResourceNameDnsARecord", false)
                .bool("enableResourceNameDnsAAAARecord", false);
        });
    tag_set(xml, &subnet.tags);
}
