//! EC2 AllocateAddress, AssociateAddress, DisassociateAddress, ReleaseAddress,
//! DescribeAddresses and DescribeAddressesAttribute: their parameters, filters and XML.

use kumo_auth::Principal;
use kumo_common::ids::{InstanceId, NetworkInterfaceId};
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::response::{self, returned_true, tag_set};
use kumo_ec2_query::Params;

use super::describe::{one, Describe};
use crate::addresses::{
    self, Address, AddressAssociation, AddressRef, AssociateAddress, AssociationRef,
};
use crate::error::{NetworkError, Result};
use crate::tags;
use crate::Network;

/// Where every address comes from, as AWS names Amazon's own pool.
const PUBLIC_IPV4_POOL: &str = "amazon";

const ADDRESS_FILTERS: [&str; 11] = [
    "allocation-id",
    "association-id",
    "instance-id",
    "network-interface-id",
    "network-interface-owner-id",
    "private-ip-address",
    "public-ip",
    "domain",
    "public-ipv4-pool",
    "network-border-group",
    "subnet-id",
];

fn address_field(address: &Address, name: &str) -> Vec<String> {
    let opt = |v: &Option<String>| v.iter().cloned().collect();
    match name {
        "allocation-id" => one(&address.allocation_id),
        "association-id" => opt(&address.association_id),
        "instance-id" => opt(&address.instance_id),
        "network-interface-id" => opt(&address.network_interface_id),
        "network-interface-owner-id" => address
            .network_interface_id
            .iter()
            .map(|_| address.account_id.clone())
            .collect(),
        "private-ip-address" => opt(&address.private_ip_address),
        "public-ip" => one(&address.public_ip),
        "domain" => one(&address.domain),
        "public-ipv4-pool" => one(PUBLIC_IPV4_POOL),
        "subnet-id" => opt(&address.subnet_id),
        _ => Vec::new(),
    }
}

/// The region is the only network border group; another is refused.
fn check_border_group(network: &Network, p: Params<'_>) -> Result<()> {
    match p.string("NetworkBorderGroup") {
        Some(group) if group != network.config.region => Err(NetworkError::invalid(format!(
            "The network border group '{}' is not valid in this region",
            group.chars().take(64).collect::<String>()
        ))),
        _ => Ok(()),
    }
}

pub(super) async fn allocate_address(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    if let Some(domain) = p.string("Domain").filter(|d| *d != "vpc") {
        return Err(NetworkError::invalid(format!(
            "Invalid value '{}' for domain: only 'vpc' addresses exist",
            domain.chars().take(64).collect::<String>()
        )));
    }
    check_border_group(network, p)?;
    if p.string("PublicIpv4Pool")
        .is_some_and(|pool| pool != PUBLIC_IPV4_POOL)
    {
        return Err(NetworkError::Invalid(
            "InvalidPublicIpv4PoolID.NotFound",
            "Only the provider's pool ('amazon') allocates addresses".into(),
        ));
    }
    for unsupported in ["Address", "CustomerOwnedIpv4Pool", "IpamPoolId"] {
        if p.string(unsupported).is_some() {
            return Err(NetworkError::Invalid(
                "Unsupported",
                format!("The parameter {unsupported} is not supported"),
            ));
        }
    }
    let tags = tags::from_pairs(p.tags_for("elastic-ip", &[])?);
    let address = addresses::allocate(network, caller, &tags).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("publicIp", &address.public_ip)
        .text("allocationId", &address.allocation_id)
        .text("publicIpv4Pool", PUBLIC_IPV4_POOL)
        .text("networkBorderGroup", &network.config.region)
        .text("domain", &address.domain);
    Ok(xml)
}

pub(super) async fn associate_address(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let address = AddressRef::parse(
        p.string("AllocationId"),
        p.string("PublicIp"),
        "AllocationId",
    )?;
    let request = AssociateAddress {
        instance_id: p.string("InstanceId").map(InstanceId::parse).transpose()?,
        network_interface_id: p
            .string("NetworkInterfaceId")
            .map(NetworkInterfaceId::parse)
            .transpose()?,
        private_ip_address: p.string("PrivateIpAddress").map(str::to_string),
        allow_reassociation: p.bool("AllowReassociation")?.unwrap_or(false),
    };
    let association_id = addresses::associate(network, caller, &address, &request).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("associationId", &association_id);
    Ok(xml)
}

pub(super) async fn disassociate_address(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let association = AssociationRef::parse(p.string("AssociationId"), p.string("PublicIp"))?;
    addresses::disassociate(network, caller, &association).await?;
    Ok(returned_true())
}

pub(super) async fn release_address(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    check_border_group(network, p)?;
    let address = AddressRef::parse(
        p.string("AllocationId"),
        p.string("PublicIp"),
        "AllocationId",
    )?;
    addresses::release(network, caller, &address).await?;
    Ok(returned_true())
}

pub(super) async fn describe_addresses(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    // DescribeAddresses has no pages.
    let describe = Describe::parse(p, &ADDRESS_FILTERS, None)?;
    let allocation_ids = p.list("AllocationId")?;
    let public_ips = p.list("PublicIp")?;
    kumo_ec2_query::filters::check_ids("AllocationId", &allocation_ids)?;
    kumo_ec2_query::filters::check_ids("PublicIp", &public_ips)?;
    let found = addresses::list(network, caller, &allocation_ids, &public_ips).await?;
    let (selected, _) = describe
        .select(&caller.account_id, found, address_field)
        .await?;
    let mut xml = XmlWriter::fragment();
    xml.list("addressesSet", "item", &selected, |xml, address| {
        write_address(xml, &network.config.region, address)
    });
    Ok(xml)
}

pub(super) async fn describe_addresses_attribute(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let attribute = p.required("Attribute")?;
    if attribute != "domain-name" {
        return Err(NetworkError::invalid(format!(
            "Value ({}) for parameter attribute is invalid. Unknown attribute.",
            attribute.chars().take(64).collect::<String>()
        )));
    }
    let page = response::page(p, (1, 1000))?;
    let allocation_ids = p.list("AllocationId")?;
    kumo_ec2_query::filters::check_ids("AllocationId", &allocation_ids)?;
    let found = addresses::list(network, caller, &allocation_ids, &[]).await?;
    let (selected, next_token) = crate::listed::page_of(page, found)?;
    // No address has a reverse DNS record: each is listed without a `ptrRecord`.
    let mut xml = XmlWriter::fragment();
    xml.list("addressSet", "item", &selected, |xml, address| {
        xml.text("publicIp", &address.public_ip)
            .text("allocationId", &address.allocation_id);
    })
    .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

/// One `addressesSet` item.
fn write_address(xml: &mut XmlWriter, region: &str, address: &Address) {
    xml.text("publicIp", &address.public_ip)
        .text("allocationId", &address.allocation_id)
        .text("domain", &address.domain)
        .opt("instanceId", address.instance_id.as_deref())
        .opt("associationId", address.association_id.as_deref())
        .opt(
            "networkInterfaceId",
            address.network_interface_id.as_deref(),
        )
        .opt(
            "networkInterfaceOwnerId",
            address
                .network_interface_id
                .as_ref()
                .map(|_| address.account_id.as_str()),
        )
        .opt("privateIpAddress", address.private_ip_address.as_deref())
        .opt("subnetId", address.subnet_id.as_deref());
    tag_set(xml, &address.tags);
    xml.text("publicIpv4Pool", PUBLIC_IPV4_POOL)
        .text("networkBorderGroup", region);
}

/// An interface's (or one of its private addresses') `association`.
pub(super) fn write_association(xml: &mut XmlWriter, region: &str, a: &AddressAssociation) {
    xml.element("association", |xml| {
        xml.opt("allocationId", a.allocation_id.as_deref())
            .opt("associationId", a.association_id.as_deref())
            .text("ipOwnerId", &a.ip_owner_id)
            .text("publicDnsName", &a.public_dns_name(region))
            .text("publicIp", &a.public_ip);
    });
}
