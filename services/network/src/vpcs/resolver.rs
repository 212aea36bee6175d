//! A VPC's resolver (AWS's AmazonProvidedDNS): the address at the VPC block's base + 2
//! while `enableDnsSupport` is on, and the private domain its `ip-a-b-c-d` names are in.
//! Hosts serve it from the VPC's router namespace ([`crate::host_plans`]); instances are
//! told it with their primary interface.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::cidr::Ipv4Block;
use crate::error::{NetworkError, Result};
use crate::Network;

/// What an instance in one VPC resolves names with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcResolver {
    /// `None` while the VPC's DNS support is off.
    pub address: Option<Ipv4Addr>,
    /// `ec2.internal` in us-east-1, `<region>.compute.internal` elsewhere.
    pub domain: String,
}

/// The resolver address of a VPC with this block: base + 2, when DNS support is on.
pub fn address(block: &Ipv4Block, enable_dns_support: bool) -> Option<Ipv4Addr> {
    enable_dns_support.then(|| Ipv4Addr::from(block.first + 2))
}

/// The private DNS domain of the region the network serves.
pub fn domain(network: &Network) -> String {
    kumo_ec2_query::zones::private_dns_domain(&network.config.region)
}

/// The resolvers of some VPCs (ids not found are left out).
pub async fn of_vpcs(
    network: &Network,
    vpc_ids: &[String],
) -> Result<BTreeMap<String, VpcResolver>> {
    let rows = sqlx::query_as::<_, (String, String, bool)>(
        "SELECT vpc_id, cidr::text, enable_dns_support FROM network.vpcs WHERE vpc_id = ANY($1)",
    )
    .bind(vpc_ids)
    .fetch_all(&network.pool)
    .await?;
    let domain = domain(network);
    rows.into_iter()
        .map(|(vpc_id, cidr, enable_dns_support)| {
            let block = Ipv4Block::parse(&cidr, "cidr").map_err(|_| {
                NetworkError::Internal(format!("the catalog holds a bad CIDR block for {vpc_id}"))
            })?;
            let resolver = VpcResolver {
                address: address(&block, enable_dns_support),
                domain: domain.clone(),
            };
            Ok((vpc_id, resolver))
        })
        .collect()
}
