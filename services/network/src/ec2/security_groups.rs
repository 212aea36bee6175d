//! EC2 CreateSecurityGroup, DeleteSecurityGroup and DescribeSecurityGroups: their
//! parameters and XML. A group's rules are written as AWS groups them: one `ipPermissions`
//! item per protocol and port range, holding the rules' CIDRs (`ipRanges`) and groups
//! (`groups`).

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::{response, Params};

use crate::error::{NetworkError, Result};
use crate::security_group_rules::SecurityGroupRule;
use crate::security_groups::{self, CreateSecurityGroup, DescribeGroups, SecurityGroup};
use crate::tags;
use crate::Network;

/// `arn:aws:ec2:<region>:<account>:<kind>/<id>`.
pub(super) fn arn(network: &Network, account_id: &str, kind: &str, id: &str) -> String {
    format!(
        "arn:aws:ec2:{}:{account_id}:{kind}/{id}",
        network.config.region
    )
}

/// The group a rule action addresses: `GroupId`, or (ingress and delete only) `GroupName`
/// in the default VPC.
pub(super) async fn target_group(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
    by_name: bool,
) -> Result<String> {
    match (p.string("GroupId"), p.string("GroupName")) {
        (Some(group_id), _) => Ok(group_id.to_string()),
        (None, Some(name)) if by_name => {
            security_groups::id_by_name(&network.pool, caller, name).await
        }
        _ => Err(NetworkError::Missing(if by_name {
            "groupName or groupId".into()
        } else {
            "GroupId".into()
        })),
    }
}

pub(super) async fn create_security_group(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let input = CreateSecurityGroup {
        group_name: p.required("GroupName")?.to_string(),
        description: p.required("GroupDescription")?.to_string(),
        vpc_id: p.string("VpcId").map(str::to_string),
        tags: tags::from_pairs(p.tags_for("security-group", &[])?),
    };
    let group = security_groups::create(network, caller, &input).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("groupId", &group.group_id).text(
        "securityGroupArn",
        &arn(network, &group.owner_id, "security-group", &group.group_id),
    );
    if !group.tags.is_empty() {
        response::tag_set(&mut xml, &group.tags);
    }
    Ok(xml)
}

pub(super) async fn delete_security_group(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let group_id = target_group(network, caller, p, true).await?;
    security_groups::delete(network, caller, &group_id).await?;
    let mut xml = XmlWriter::fragment();
    xml.bool("return", true).text("groupId", &group_id);
    Ok(xml)
}

pub(super) async fn describe_security_groups(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let query = DescribeGroups {
        group_ids: p.list("GroupId")?,
        group_names: p.list("GroupName")?,
        filters: p.filters()?,
        page: response::page(p, (5, 1000))?,
    };
    let (groups, next_token) = security_groups::describe(&network.pool, caller, query).await?;
    let mut xml = XmlWriter::fragment();
    xml.list("securityGroupInfo", "item", &groups, |xml, group| {
        write_group(xml, network, group);
    });
    xml.opt("nextToken", next_token.as_deref());
    Ok(xml)
}

fn write_group(xml: &mut XmlWriter, network: &Network, group: &SecurityGroup) {
    xml.text("ownerId", &group.owner_id)
        .text("groupId", &group.group_id)
        .text("groupName", &group.group_name)
        .text("groupDescription", &group.description)
        .text("vpcId", &group.vpc_id)
        .text(
            "securityGroupArn",
            &arn(network, &group.owner_id, "security-group", &group.group_id),
        );
    write_permissions(xml, "ipPermissions", &group.ingress);
    write_permissions(xml, "ipPermissionsEgress", &group.egress);
    response::tag_set(xml, &group.tags);
}

/// One `ipPermissions` item: a protocol and port range, and its rules.
struct Permission<'a> {
    protocol: &'a str,
    ports: (Option<i32>, Option<i32>),
    rules: Vec<&'a SecurityGroupRule>,
}

/// Rules grouped as AWS shows them: one item per (protocol, from, to), in the order each
/// combination first appears.
fn write_permissions(xml: &mut XmlWriter, name: &str, rules: &[SecurityGroupRule]) {
    let mut permissions: Vec<Permission> = Vec::new();
    for rule in rules {
        let ports = (rule.from_port, rule.to_port);
        match permissions
            .iter_mut()
            .find(|p| p.protocol == rule.protocol && p.ports == ports)
        {
            Some(permission) => permission.rules.push(rule),
            None => permissions.push(Permission {
                protocol: &rule.protocol,
                ports,
                rules: vec![rule],
            }),
        }
    }
    xml.list(name, "item", &permissions, |xml, permission| {
        xml.text("ipProtocol", permission.protocol);
        if let (Some(from), Some(to)) = permission.ports {
            xml.num("fromPort", from).num("toPort", to);
        }
        let groups = permission
            .rules
            .iter()
            .filter(|r| r.referenced_group_id.is_some());
        xml.list("groups", "item", groups, |xml, rule| {
            xml.opt("description", rule_description(rule))
                .text("userId", &rule.owner_id)
                .opt("groupId", rule.referenced_group_id.as_deref());
        });
        let ranges = permission.rules.iter().filter(|r| r.cidr.is_some());
        xml.list("ipRanges", "item", ranges, |xml, rule| {
            xml.opt("cidrIp", rule.cidr.as_deref())
                .opt("description", rule_description(rule));
        });
        xml.empty("ipv6Ranges").empty("prefixListIds");
    });
}

/// A rule's description, when it has one.
pub(super) fn rule_description(rule: &SecurityGroupRule) -> Option<&str> {
    Some(rule.description.as_str()).filter(|d| !d.is_empty())
}
