//! EC2 DescribeNetworkAcls: network ACLs are described only (each VPC's default one).

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::response::tag_set;
use kumo_ec2_query::Params;

use super::describe::{flag, one, Describe};
use crate::error::Result;
use crate::network_acls::{self, NetworkAcl};
use crate::{vpcs, Network};

const ACL_FILTERS: [&str; 12] = [
    "network-acl-id",
    "vpc-id",
    "default",
    "owner-id",
    "association.association-id",
    "association.network-acl-id",
    "association.subnet-id",
    "entry.cidr",
    "entry.egress",
    "entry.protocol",
    "entry.rule-action",
    "entry.rule-number",
];

fn acl_field(acl: &NetworkAcl, name: &str) -> Vec<String> {
    let associations = acl.associations.iter();
    let entries = acl.entries.iter();
    match name {
        "network-acl-id" => one(&acl.network_acl_id),
        "vpc-id" => one(&acl.vpc_id),
        "default" => flag(acl.is_default),
        "owner-id" => one(&acl.account_id),
        "association.association-id" => associations.map(|a| a.association_id.clone()).collect(),
        "association.network-acl-id" => associations.map(|a| a.network_acl_id.clone()).collect(),
        "association.subnet-id" => associations.map(|a| a.subnet_id.clone()).collect(),
        "entry.cidr" => entries.map(|e| e.cidr_block.clone()).collect(),
        "entry.egress" => entries.map(|e| e.egress.to_string()).collect(),
        "entry.protocol" => entries.map(|e| e.protocol.clone()).collect(),
        "entry.rule-action" => entries.map(|e| e.rule_action.clone()).collect(),
        "entry.rule-number" => entries.map(|e| e.rule_number.to_string()).collect(),
        _ => Vec::new(),
    }
}

pub(super) async fn describe_network_acls(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let describe = Describe::parse(p, &ACL_FILTERS, Some((5, 100)))?;
    let ids = p.list("NetworkAclId")?;
    vpcs::ensure_default(network, &caller.account_id).await?;
    let found = network_acls::list(&network.pool, caller, &ids).await?;
    let (page, next_token) = describe
        .select(&caller.account_id, found, acl_field)
        .await?;
    let mut xml = XmlWriter::fragment();
    xml.list("networkAclSet", "item", &page, write_acl)
        .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

fn write_acl(xml: &mut XmlWriter, acl: &NetworkAcl) {
    xml.text("networkAclId", &acl.network_acl_id)
        .text("vpcId", &acl.vpc_id)
        .bool("default", acl.is_default)
        .text("ownerId", &acl.account_id)
        .list("entrySet", "item", &acl.entries, |xml, entry| {
            xml.num("ruleNumber", entry.rule_number)
                .text("protocol", &entry.protocol)
                .text("ruleAction", &entry.rule_action)
                .bool("egress", entry.egress)
                .text("cidrBlock", &entry.cidr_block);
        })
        .list("associationSet", "item", &acl.associations, |xml, a| {
            xml.text("networkAclAssociationId", &a.association_id)
                .text("networkAclId", &a.network_acl_id)
                .text("subnetId", &a.subnet_id);
        });
    tag_set(xml, &acl.tags);
}
