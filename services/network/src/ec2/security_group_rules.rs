//! EC2 Authorize/RevokeSecurityGroupIngress/Egress, DescribeSecurityGroupRules,
//! ModifySecurityGroupRules and UpdateSecurityGroupRuleDescriptionsIngress/Egress: their
//! parameters (`IpPermissions.N` and the older flat form) and XML.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::{response, Params};

use super::security_groups::{arn, rule_description, target_group};
use crate::error::{NetworkError, Result};
use crate::security_group_rules::{self, DescribeRules, RuleSpec, SecurityGroupRule};
use crate::security_groups;
use crate::tags;
use crate::Network;

/// The rules a request names. `foreign` counts the peers Kumo has no rule for (IPv6
/// ranges, prefix lists): an authorize refuses them, a revoke finds nothing to revoke.
struct Permissions {
    specs: Vec<RuleSpec>,
    foreign: usize,
}

/// A peer's group: `GroupId`, or `GroupName` in the default VPC; a `UserId` other than the
/// caller's names a group the caller cannot see (`InvalidGroup.NotFound`).
async fn peer_group(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
    prefix: &str,
) -> Result<String> {
    let group = match (
        p.string(&format!("{prefix}.GroupId")),
        p.string(&format!("{prefix}.GroupName")),
    ) {
        (Some(id), _) => id.to_string(),
        (None, Some(name)) => security_groups::id_by_name(&network.pool, caller, name).await?,
        (None, None) => return Err(NetworkError::Missing(format!("{prefix}.GroupId"))),
    };
    match p.string(&format!("{prefix}.UserId")) {
        Some(user) if user != caller.account_id => Err(security_groups::not_found(&group)),
        _ => Ok(group),
    }
}

fn port(p: Params<'_>, name: &str) -> Result<Option<i32>> {
    match p.int(name)? {
        None => Ok(None),
        Some(n) => i32::try_from(n)
            .map(Some)
            .map_err(|_| NetworkError::invalid(format!("Invalid value '{n}' for {name}"))),
    }
}

/// `IpPermissions.N.*` (`Groups.M` or `UserIdGroupPairs.M` for groups), else the flat
/// `IpProtocol`/`FromPort`/`ToPort` with `CidrIp` or `SourceSecurityGroupName` (which,
/// without a protocol, grants all ICMP, TCP and UDP, as AWS does).
async fn permissions(network: &Network, caller: &Principal, p: Params<'_>) -> Result<Permissions> {
    let mut out = Permissions {
        specs: Vec::new(),
        foreign: 0,
    };
    for n in p.indices("IpPermissions") {
        let prefix = format!("IpPermissions.{n}");
        let base = RuleSpec {
            protocol: p.required(&format!("{prefix}.IpProtocol"))?.to_string(),
            from_port: port(p, &format!("{prefix}.FromPort"))?,
            to_port: port(p, &format!("{prefix}.ToPort"))?,
            ..RuleSpec::default()
        };
        let before = out.specs.len() + out.foreign;
        for m in p.indices(&format!("{prefix}.IpRanges")) {
            let range = format!("{prefix}.IpRanges.{m}");
            out.specs.push(RuleSpec {
                cidr: Some(p.required(&format!("{range}.CidrIp"))?.to_string()),
                description: p
                    .string(&format!("{range}.Description"))
                    .map(str::to_string),
                ..base.clone()
            });
        }
        for list in ["Groups", "UserIdGroupPairs"] {
            for m in p.indices(&format!("{prefix}.{list}")) {
                let pair = format!("{prefix}.{list}.{m}");
                out.specs.push(RuleSpec {
                    referenced_group_id: Some(peer_group(network, caller, p, &pair).await?),
                    description: p.string(&format!("{pair}.Description")).map(str::to_string),
                    ..base.clone()
                });
            }
        }
        out.foreign += p.indices(&format!("{prefix}.Ipv6Ranges")).len()
            + p.indices(&format!("{prefix}.PrefixListIds")).len();
        if out.specs.len() + out.foreign == before {
            return Err(NetworkError::Missing(format!(
                "{prefix}.IpRanges, {prefix}.Groups or {prefix}.Ipv6Ranges"
            )));
        }
    }
    if !out.specs.is_empty() || out.foreign > 0 {
        return Ok(out);
    }
    let flat = RuleSpec {
        protocol: p.string("IpProtocol").unwrap_or_default().to_string(),
        from_port: port(p, "FromPort")?,
        to_port: port(p, "ToPort")?,
        ..RuleSpec::default()
    };
    if let Some(cidr) = p.string("CidrIp") {
        out.specs.push(RuleSpec {
            cidr: Some(cidr.to_string()),
            ..flat
        });
    } else if let Some(name) = p.string("SourceSecurityGroupName") {
        if p.string("SourceSecurityGroupOwnerId")
            .is_some_and(|owner| owner != caller.account_id)
        {
            return Err(security_groups::not_found(name));
        }
        let peer = Some(security_groups::id_by_name(&network.pool, caller, name).await?);
        if flat.protocol.is_empty() {
            for (protocol, from, to) in [("icmp", -1, -1), ("tcp", 0, 65535), ("udp", 0, 65535)] {
                out.specs.push(RuleSpec {
                    protocol: protocol.into(),
                    from_port: Some(from),
                    to_port: Some(to),
                    referenced_group_id: peer.clone(),
                    ..RuleSpec::default()
                });
            }
        } else {
            out.specs.push(RuleSpec {
                referenced_group_id: peer,
                ..flat
            });
        }
    }
    Ok(out)
}

fn unsupported_peer() -> NetworkError {
    NetworkError::invalid(
        "IPv6 ranges and prefix lists are not supported in this cloud: give IPv4 CidrIp ranges or security groups",
    )
}

pub(super) async fn authorize(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
    egress: bool,
) -> Result<XmlWriter> {
    let group_id = target_group(network, caller, p, !egress).await?;
    let rule_tags = tags::from_pairs(p.tags_for("security-group-rule", &[])?);
    let wanted = permissions(network, caller, p).await?;
    if wanted.foreign > 0 {
        return Err(unsupported_peer());
    }
    let rules = security_group_rules::authorize(
        network,
        caller,
        &group_id,
        egress,
        &wanted.specs,
        &rule_tags,
    )
    .await?;
    let mut xml = XmlWriter::fragment();
    xml.bool("return", true);
    xml.list("securityGroupRuleSet", "item", &rules, |xml, rule| {
        write_rule(xml, network, rule);
    });
    Ok(xml)
}

pub(super) async fn revoke(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
    egress: bool,
) -> Result<XmlWriter> {
    let group_id = target_group(network, caller, p, !egress).await?;
    let rule_ids = p.list("SecurityGroupRuleId")?;
    let wanted = permissions(network, caller, p).await?;
    if wanted.foreign > 0 {
        // Kumo holds no IPv6 or prefix-list rule: there is nothing such to revoke.
        return Err(NetworkError::NotFound(
            "InvalidPermission.NotFound",
            "The specified rule does not exist in this security group.".into(),
        ));
    }
    let revoked =
        security_group_rules::revoke(network, caller, &group_id, egress, &wanted.specs, &rule_ids)
            .await?;
    let mut xml = XmlWriter::fragment();
    xml.bool("return", true);
    xml.list(
        "revokedSecurityGroupRuleSet",
        "item",
        &revoked,
        |xml, rule| {
            xml.text("securityGroupRuleId", &rule.rule_id)
                .text("groupId", &rule.group_id)
                .bool("isEgress", rule.is_egress)
                .text("ipProtocol", &rule.protocol)
                .num("fromPort", rule.from_port.unwrap_or(-1))
                .num("toPort", rule.to_port.unwrap_or(-1))
                .opt("cidrIpv4", rule.cidr.as_deref())
                .opt("referencedGroupId", rule.referenced_group_id.as_deref())
                .opt("description", rule_description(rule));
        },
    );
    Ok(xml)
}

/// One `SecurityGroupRule` (AWS writes −1 ports for rules without ports).
fn write_rule(xml: &mut XmlWriter, network: &Network, rule: &SecurityGroupRule) {
    xml.text("securityGroupRuleId", &rule.rule_id)
        .text("groupId", &rule.group_id)
        .text("groupOwnerId", &rule.owner_id)
        .bool("isEgress", rule.is_egress)
        .text("ipProtocol", &rule.protocol)
        .num("fromPort", rule.from_port.unwrap_or(-1))
        .num("toPort", rule.to_port.unwrap_or(-1))
        .opt("cidrIpv4", rule.cidr.as_deref());
    if let Some(group_id) = &rule.referenced_group_id {
        xml.element("referencedGroupInfo", |xml| {
            xml.text("groupId", group_id).text("userId", &rule.owner_id);
        });
    }
    xml.opt("description", rule_description(rule));
    response::tag_set(xml, &rule.tags);
    xml.text(
        "securityGroupRuleArn",
        &arn(
            network,
            &rule.owner_id,
            "security-group-rule",
            &rule.rule_id,
        ),
    );
}

pub(super) async fn describe_security_group_rules(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let query = DescribeRules {
        rule_ids: p.list("SecurityGroupRuleId")?,
        filters: p.filters()?,
        page: response::page(p, (5, 1000))?,
    };
    let (rules, next_token) = security_group_rules::describe(&network.pool, caller, query).await?;
    let mut xml = XmlWriter::fragment();
    xml.list("securityGroupRuleSet", "item", &rules, |xml, rule| {
        write_rule(xml, network, rule);
    });
    xml.opt("nextToken", next_token.as_deref());
    Ok(xml)
}

/// `SecurityGroupRule.N.SecurityGroupRuleId` with `SecurityGroupRule.N.SecurityGroupRule.*`.
pub(super) async fn modify_security_group_rules(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let group_id = p.required("GroupId")?;
    let mut updates = Vec::new();
    for n in p.indices("SecurityGroupRule") {
        let prefix = format!("SecurityGroupRule.{n}");
        let rule_id = p.required(&format!("{prefix}.SecurityGroupRuleId"))?;
        let definition = format!("{prefix}.SecurityGroupRule");
        if p.string(&format!("{definition}.CidrIpv6")).is_some()
            || p.string(&format!("{definition}.PrefixListId")).is_some()
        {
            return Err(unsupported_peer());
        }
        let spec = RuleSpec {
            protocol: p.required(&format!("{definition}.IpProtocol"))?.to_string(),
            from_port: port(p, &format!("{definition}.FromPort"))?,
            to_port: port(p, &format!("{definition}.ToPort"))?,
            cidr: p
                .string(&format!("{definition}.CidrIpv4"))
                .map(str::to_string),
            referenced_group_id: p
                .string(&format!("{definition}.ReferencedGroupId"))
                .map(str::to_string),
            description: p
                .string(&format!("{definition}.Description"))
                .map(str::to_string),
        };
        updates.push((rule_id.to_string(), spec));
    }
    security_group_rules::modify(network, caller, group_id, &updates).await?;
    Ok(response::returned_true())
}

/// By `IpPermissions.N` (each range's or group's description is the new one) or by
/// `SecurityGroupRuleDescription.N.{SecurityGroupRuleId,Description}`.
pub(super) async fn update_descriptions(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
    egress: bool,
) -> Result<XmlWriter> {
    let group_id = target_group(network, caller, p, !egress).await?;
    let wanted = permissions(network, caller, p).await?;
    if wanted.foreign > 0 {
        return Err(unsupported_peer());
    }
    let mut by_id = Vec::new();
    for n in p.indices("SecurityGroupRuleDescription") {
        let prefix = format!("SecurityGroupRuleDescription.{n}");
        by_id.push((
            p.required(&format!("{prefix}.SecurityGroupRuleId"))?
                .to_string(),
            p.string(&format!("{prefix}.Description"))
                .unwrap_or_default()
                .to_string(),
        ));
    }
    if wanted.specs.is_empty() && by_id.is_empty() {
        return Err(NetworkError::Missing("IpPermissions".into()));
    }
    security_group_rules::update_descriptions(
        network,
        caller,
        &group_id,
        egress,
        &wanted.specs,
        &by_id,
    )
    .await?;
    Ok(response::returned_true())
}
