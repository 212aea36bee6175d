//! EC2 CreateVpc, DeleteVpc, DescribeVpcs, DescribeVpcAttribute, ModifyVpcAttribute and
//! CreateDefaultVpc: their parameters, filters and XML.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::response::{returned_true, tag_set};
use kumo_ec2_query::Params;

use super::describe::{flag, one, Describe};
use crate::error::{NetworkError, Result};
use crate::tags;
use crate::vpcs::{self, CreateVpc, Vpc, VpcAttribute};
use crate::Network;

const VPC_FILTERS: [&str; 11] = [
    "vpc-id",
    "cidr",
    "cidr-block-association.cidr-block",
    "cidr-block-association.association-id",
    "cidr-block-association.state",
    "dhcp-options-id",
    "is-default",
    "isDefault",
    "owner-id",
    "state",
    "instance-tenancy",
];

fn vpc_field(vpc: &Vpc, name: &str) -> Vec<String> {
    match name {
        "vpc-id" => one(&vpc.vpc_id),
        "cidr" | "cidr-block-association.cidr-block" => one(&vpc.cidr_block),
        "cidr-block-association.association-id" => one(&vpc.cidr_association_id()),
        "cidr-block-association.state" => one("associated"),
        "dhcp-options-id" => one("default"),
        "is-default" | "isDefault" => flag(vpc.is_default),
        "owner-id" => one(&vpc.account_id),
        "state" => one(&vpc.state),
        "instance-tenancy" => one("default"),
        _ => Vec::new(),
    }
}

pub(super) async fn create_vpc(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let cidr_block = p.required("CidrBlock")?.to_string();
    if p.bool("AmazonProvidedIpv6CidrBlock")? == Some(true) || p.string("Ipv6CidrBlock").is_some() {
        return Err(NetworkError::invalid("IPv6 blocks are not supported"));
    }
    if p.string("Ipv4IpamPoolId").is_some() {
        return Err(NetworkError::invalid("IPAM pools are not supported"));
    }
    match p.string("InstanceTenancy") {
        None | Some("default") => {}
        Some(other) => {
            return Err(NetworkError::invalid(format!(
                "Value ({other}) for parameter instanceTenancy is invalid. Only 'default' is supported."
            )))
        }
    }
    let input = CreateVpc {
        cidr_block,
        tags: tags::from_pairs(p.tags_for("vpc", &[])?),
    };
    let vpc = vpcs::create(network, caller, &input).await?;
    let mut xml = XmlWriter::fragment();
    xml.element("vpc", |xml| write_vpc(xml, &vpc));
    Ok(xml)
}

pub(super) async fn create_default_vpc(
    network: &Network,
    caller: &Principal,
    _p: Params<'_>,
) -> Result<XmlWriter> {
    let vpc = vpcs::create_default(network, caller).await?;
    let mut xml = XmlWriter::fragment();
    xml.element("vpc", |xml| write_vpc(xml, &vpc));
    Ok(xml)
}

pub(super) async fn delete_vpc(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    vpcs::delete(network, caller, p.required("VpcId")?).await?;
    Ok(returned_true())
}

pub(super) async fn describe_vpcs(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let describe = Describe::parse(p, &VPC_FILTERS, Some((5, 1000)))?;
    let ids = p.list("VpcId")?;
    vpcs::ensure_default(network, &caller.account_id).await?;
    let found = vpcs::list(&network.pool, caller, &ids).await?;
    let (page, next_token) = describe
        .select(&caller.account_id, found, vpc_field)
        .await?;
    let mut xml = XmlWriter::fragment();
    xml.list("vpcSet", "item", &page, write_vpc)
        .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

/// The attribute a DescribeVpcAttribute names, and its answer's element.
fn read_attribute(vpc: &Vpc, name: &str) -> Result<bool> {
    match name {
        "enableDnsSupport" => Ok(vpc.enable_dns_support),
        "enableDnsHostnames" => Ok(vpc.enable_dns_hostnames),
        "enableNetworkAddressUsageMetrics" => Ok(false),
        other => Err(NetworkError::invalid(format!(
            "Value ({other}) for parameter attribute is invalid. Unknown attribute."
        ))),
    }
}

pub(super) async fn describe_vpc_attribute(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let vpc_id = p.required("VpcId")?;
    let attribute = p.required("Attribute")?;
    let vpc = vpcs::get(&network.pool, caller, vpc_id).await?;
    let value = read_attribute(&vpc, attribute)?;
    let mut xml = XmlWriter::fragment();
    xml.text("vpcId", &vpc.vpc_id).element(attribute, |xml| {
        xml.bool("value", value);
    });
    Ok(xml)
}

pub(super) async fn modify_vpc_attribute(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let vpc_id = p.required("VpcId")?;
    let given = [
        ("EnableDnsSupport.Value", p.bool("EnableDnsSupport.Value")?),
        (
            "EnableDnsHostnames.Value",
            p.bool("EnableDnsHostnames.Value")?,
        ),
        (
            "EnableNetworkAddressUsageMetrics.Value",
            p.bool("EnableNetworkAddressUsageMetrics.Value")?,
        ),
    ];
    let mut set = given
        .iter()
        .filter_map(|(name, value)| value.map(|v| (*name, v)));
    let (name, value) = match (set.next(), set.next()) {
        (Some(one), None) => one,
        _ => {
            return Err(NetworkError::invalid(
                "Exactly one of EnableDnsSupport, EnableDnsHostnames and EnableNetworkAddressUsageMetrics must be given",
            ))
        }
    };
    let attribute = match name {
        "EnableDnsSupport.Value" => VpcAttribute::EnableDnsSupport,
        "EnableDnsHostnames.Value" => VpcAttribute::EnableDnsHostnames,
        // Address usage metrics are never collected: only `false` is accepted.
        _ if !value => {
            vpcs::get(&network.pool, caller, vpc_id).await?;
            return Ok(returned_true());
        }
        _ => {
            return Err(NetworkError::invalid(
                "enableNetworkAddressUsageMetrics is not supported",
            ))
        }
    };
    vpcs::modify_attribute(network, caller, vpc_id, attribute, value).await?;
    Ok(returned_true())
}

/// One VPC's fields (a `vpcSet` item, or CreateVpc's `vpc`).
pub(super) fn write_vpc(xml: &mut XmlWriter, vpc: &Vpc) {
    xml.text("vpcId", &vpc.vpc_id)
        .text("ownerId", &vpc.account_id)
        .text("state", &vpc.state)
        .text("cidrBlock", &vpc.cidr_block)
        .list("cidrBlockAssociationSet", "item", [vpc], |xml, vpc| {
            xml.text("associationId", &vpc.cidr_association_id())
                .text("cidrBlock", &vpc.cidr_block)
                .element("cidrBlockState", |xml| {
                    xml.text("state", "associated");
                });
        })
        .empty("ipv6CidrBlockAssociationSet")
        .text("dhcpOptionsId", "default")
        .text("instanceTenancy", "default")
        .bool("isDefault", vpc.is_default);
    tag_set(xml, &vpc.tags);
}
