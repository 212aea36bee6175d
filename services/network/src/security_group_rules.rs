//! Security group rules (`sgr-…`): what one rule allows (protocol, ports, a CIDR or another
//! group), checked and normalized as AWS does, and the actions on rules: authorize, revoke
//! (by definition or by id), modify, update descriptions and describe.
//!
//! A rule is the unit AWS counts and names: one `IpPermissions.N` with two CIDRs and a
//! group is three rules. Two rules are the same rule when their direction, protocol, ports
//! and peer are equal (the description is not part of a rule's identity).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{SecurityGroupId, SecurityGroupRuleId};
use kumo_ec2_query::filters::{check_names, select_by_fields};
use kumo_ec2_query::tags::is_tag_filter;
use kumo_ec2_query::{Filter, Page};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

use crate::cidr::Ipv4Block;
use crate::error::{NetworkError, Result};
use crate::security_groups::{check_rule_description, lock_group, not_found};
use crate::tags::{self, Tags};
use crate::{require_write, Network};

/// AWS's default quota: inbound, and separately outbound, rules per security group
/// (`RulesPerSecurityGroupLimitExceeded`).
pub const MAX_RULES_PER_DIRECTION: usize = 60;

/// The rule to add or match, as a client gives it (the native API's body; the EC2 facade
/// expands `IpPermissions.N` into these).
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// `tcp`, `udp`, `icmp`, `-1` (all) or an IP protocol number.
    pub protocol: String,
    /// TCP/UDP: first port; ICMP: the type (`-1`: all). Ignored for other protocols.
    pub from_port: Option<i32>,
    /// TCP/UDP: last port; ICMP: the code (`-1`: all).
    pub to_port: Option<i32>,
    /// The peer as an IPv4 CIDR block…
    pub cidr: Option<String>,
    /// …or as a security group of the same account and VPC.
    pub referenced_group_id: Option<String>,
    pub description: Option<String>,
}

/// A rule's identity, normalized: protocol names for 6/17/1, no ports where they mean
/// nothing (all traffic, protocols other than TCP/UDP/ICMP).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Definition {
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr: Option<String>,
    pub referenced_group_id: Option<String>,
}

/// One stored rule.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct SecurityGroupRule {
    pub rule_id: String,
    pub group_id: String,
    pub owner_id: String,
    pub is_egress: bool,
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub cidr: Option<String>,
    pub referenced_group_id: Option<String>,
    /// The referenced group's name (for the `ip-permission.group-name` filters).
    pub referenced_group_name: Option<String>,
    /// Empty when the rule has none.
    pub description: String,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub tags: Tags,
}

impl SecurityGroupRule {
    pub fn definition(&self) -> Definition {
        Definition {
            protocol: self.protocol.clone(),
            from_port: self.from_port,
            to_port: self.to_port,
            cidr: self.cidr.clone(),
            referenced_group_id: self.referenced_group_id.clone(),
        }
    }
}

fn invalid(message: String) -> NetworkError {
    NetworkError::invalid(message)
}

/// The protocol's canonical name: `tcp`/`udp`/`icmp` for their names or numbers (any case),
/// `-1` for all, else the number 0–255 as given.
fn normalize_protocol(protocol: &str) -> Result<String> {
    let lower = protocol.trim().to_ascii_lowercase();
    let canonical = match lower.as_str() {
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        "-1" | "all" => "-1",
        "icmpv6" | "58" => {
            return Err(invalid(
                "Invalid value 'icmpv6' for IP protocol: IPv6 is not supported in this cloud"
                    .into(),
            ))
        }
        number => match number.parse::<u8>() {
            Ok(n) if number.bytes().all(|b| b.is_ascii_digit()) => return Ok(n.to_string()),
            _ => {
                return Err(invalid(format!(
                    "Invalid value '{protocol}' for IP protocol. Unknown protocol."
                )))
            }
        },
    };
    Ok(canonical.to_string())
}

/// Ports as AWS checks them: TCP/UDP need both, 0–65535, from ≤ to; ICMP needs a type and
/// a code, each −1–255, and type −1 (all) only with code −1; other protocols carry none.
fn normalize_ports(
    protocol: &str,
    from: Option<i32>,
    to: Option<i32>,
) -> Result<(Option<i32>, Option<i32>)> {
    match protocol {
        "tcp" | "udp" => {
            let (Some(from), Some(to)) = (from, to) else {
                return Err(invalid(
                    "Invalid value 'Must specify both from and to ports with TCP/UDP.' for portRange"
                        .into(),
                ));
            };
            if !(0..=65535).contains(&from) || !(0..=65535).contains(&to) || from > to {
                return Err(invalid(format!(
                    "Invalid TCP/UDP port range: from port {from}, to port {to} (0-65535, from <= to)"
                )));
            }
            Ok((Some(from), Some(to)))
        }
        "icmp" => {
            let (Some(kind), Some(code)) = (from, to) else {
                return Err(invalid(
                    "Invalid value 'Must specify both from and to ports with ICMP.' for portRange"
                        .into(),
                ));
            };
            if !(-1..=255).contains(&kind) || !(-1..=255).contains(&code) {
                return Err(invalid(format!(
                    "Invalid value for portRange: ICMP type {kind} and code {code} must be between -1 and 255"
                )));
            }
            if kind == -1 && code != -1 {
                return Err(invalid(format!(
                    "Invalid value for portRange: ICMP code {code} needs an ICMP type (type -1 means all types and all codes)"
                )));
            }
            Ok((Some(kind), Some(code)))
        }
        _ => Ok((None, None)),
    }
}

impl RuleSpec {
    /// Check and normalize this rule's definition.
    pub fn definition(&self) -> Result<Definition> {
        let protocol = normalize_protocol(&self.protocol)?;
        let (from_port, to_port) = normalize_ports(&protocol, self.from_port, self.to_port)?;
        let (cidr, referenced_group_id) = match (&self.cidr, &self.referenced_group_id) {
            (Some(cidr), None) => {
                let block = Ipv4Block::parse(cidr, "cidrIp")?;
                (Some(block_text(&block)), None)
            }
            (None, Some(group)) => (None, Some(SecurityGroupId::parse(group)?.into_string())),
            _ => {
                return Err(NetworkError::Invalid(
                    "InvalidParameterCombination",
                    "A rule needs exactly one peer: a CIDR block or a security group".into(),
                ))
            }
        };
        if let Some(description) = &self.description {
            check_rule_description(description)?;
        }
        Ok(Definition {
            protocol,
            from_port,
            to_port,
            cidr,
            referenced_group_id,
        })
    }
}

/// `a.b.c.d/n` as Postgres writes a `cidr`.
fn block_text(block: &Ipv4Block) -> String {
    format!("{}/{}", std::net::Ipv4Addr::from(block.first), block.prefix)
}

/// How AWS names a rule in its duplicate / not-found messages.
fn describe_definition(d: &Definition) -> String {
    let peer = d
        .cidr
        .as_deref()
        .or(d.referenced_group_id.as_deref())
        .unwrap_or("");
    let protocol = if d.protocol == "-1" {
        "ALL".to_string()
    } else {
        d.protocol.to_ascii_uppercase()
    };
    match (d.from_port, d.to_port) {
        (Some(from), Some(to)) => {
            format!("peer: {peer}, {protocol}, from port: {from}, to port: {to}, ALLOW")
        }
        _ => format!("peer: {peer}, {protocol}, ALLOW"),
    }
}

const RULE_COLUMNS: &str =
    "r.rule_id, r.group_id, r.account_id AS owner_id, r.is_egress, r.protocol, \
     r.from_port, r.to_port, r.cidr::text AS cidr, r.referenced_group_id, \
     peer.group_name AS referenced_group_name, r.description, r.created_at";

/// The rules of some groups (both directions), oldest first, with their tags.
pub async fn for_groups(
    pool: &PgPool,
    account_id: &str,
    group_ids: &[String],
) -> Result<Vec<SecurityGroupRule>> {
    let mut rules: Vec<SecurityGroupRule> = sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM network.security_group_rules r \
         LEFT JOIN network.security_groups peer ON peer.group_id = r.referenced_group_id \
         WHERE r.account_id = $1 AND r.group_id = ANY($2) ORDER BY r.created_at, r.rule_id"
    ))
    .bind(account_id)
    .bind(group_ids)
    .fetch_all(pool)
    .await?;
    attach_tags(pool, account_id, &mut rules).await?;
    Ok(rules)
}

async fn attach_tags(
    pool: &PgPool,
    account_id: &str,
    rules: &mut [SecurityGroupRule],
) -> Result<()> {
    let ids: Vec<String> = rules.iter().map(|r| r.rule_id.clone()).collect();
    let mut tags = tags::for_resources(pool, account_id, &ids).await?;
    for rule in rules {
        rule.tags = tags.remove(&rule.rule_id).unwrap_or_default();
    }
    Ok(())
}

/// One group's rules in one direction, inside a transaction that holds the group's lock.
async fn rules_of(
    tx: &mut Transaction<'_, Postgres>,
    group_id: &str,
    egress: bool,
) -> Result<Vec<SecurityGroupRule>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM network.security_group_rules r \
         LEFT JOIN network.security_groups peer ON peer.group_id = r.referenced_group_id \
         WHERE r.group_id = $1 AND r.is_egress = $2 ORDER BY r.created_at, r.rule_id"
    ))
    .bind(group_id)
    .bind(egress)
    .fetch_all(&mut **tx)
    .await?)
}

/// Referenced groups must be the caller's, in the same VPC as the rule's group (another
/// account's group answers `InvalidGroup.NotFound`, as if it did not exist).
async fn check_references(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    vpc_id: &str,
    definitions: &[Definition],
) -> Result<()> {
    let referenced: Vec<String> = definitions
        .iter()
        .filter_map(|d| d.referenced_group_id.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    if referenced.is_empty() {
        return Ok(());
    }
    let found: Vec<(String, String)> = sqlx::query_as(
        // Key-share: a group being deleted cannot vanish under the rule that names it.
        "SELECT group_id, vpc_id FROM network.security_groups \
         WHERE account_id = $1 AND group_id = ANY($2) FOR KEY SHARE",
    )
    .bind(account_id)
    .bind(&referenced)
    .fetch_all(&mut **tx)
    .await?;
    let found: BTreeMap<String, String> = found.into_iter().collect();
    for group in &referenced {
        match found.get(group) {
            None => return Err(not_found(group)),
            Some(vpc) if vpc != vpc_id => {
                return Err(NetworkError::NotFound(
                    "InvalidGroup.NotFound",
                    "You have specified two resources that belong to different networks.".into(),
                ))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

fn duplicate(definition: &Definition) -> NetworkError {
    NetworkError::Conflict(
        "InvalidPermission.Duplicate",
        format!(
            "the specified rule \"{}\" already exists",
            describe_definition(definition)
        ),
    )
}

fn too_many_rules() -> NetworkError {
    NetworkError::LimitExceeded(
        "RulesPerSecurityGroupLimitExceeded",
        format!(
            "The maximum number of rules per security group has been reached ({MAX_RULES_PER_DIRECTION} inbound and {MAX_RULES_PER_DIRECTION} outbound)."
        ),
    )
}

/// Add rules to a group (AuthorizeSecurityGroupIngress/Egress): all or none. An existing
/// rule, or the same rule twice in the request, is `InvalidPermission.Duplicate`. `tags`
/// go on every new rule. Returns the new rules.
pub async fn authorize(
    network: &Network,
    caller: &Principal,
    group_id: &str,
    egress: bool,
    specs: &[RuleSpec],
    rule_tags: &Tags,
) -> Result<Vec<SecurityGroupRule>> {
    require_write(caller)?;
    if specs.is_empty() {
        return Err(NetworkError::Missing("IpPermissions".into()));
    }
    tags::validate(rule_tags)?;
    let definitions = specs
        .iter()
        .map(RuleSpec::definition)
        .collect::<Result<Vec<_>>>()?;
    let mut tx = network.pool.begin().await?;
    let group = lock_group(&mut tx, &caller.account_id, group_id).await?;
    check_references(&mut tx, &caller.account_id, &group.vpc_id, &definitions).await?;
    let existing = rules_of(&mut tx, group_id, egress).await?;
    let mut seen: HashSet<Definition> = existing.iter().map(|r| r.definition()).collect();
    for definition in &definitions {
        if !seen.insert(definition.clone()) {
            return Err(duplicate(definition));
        }
    }
    if existing.len() + definitions.len() > MAX_RULES_PER_DIRECTION {
        return Err(too_many_rules());
    }
    let mut added = Vec::with_capacity(definitions.len());
    for (definition, spec) in definitions.iter().zip(specs) {
        let rule_id = SecurityGroupRuleId::generate().into_string();
        insert(
            &mut tx,
            &caller.account_id,
            group_id,
            egress,
            &rule_id,
            definition,
            spec.description.as_deref().unwrap_or(""),
        )
        .await?;
        tags::put(&mut tx, &caller.account_id, &rule_id, rule_tags).await?;
        added.push(rule_id);
    }
    tx.commit().await?;
    let mut rules = for_groups(&network.pool, &caller.account_id, &[group_id.to_string()]).await?;
    rules.retain(|r| added.contains(&r.rule_id));
    // In the order asked for (ids are random, so the listing's order is not it).
    rules.sort_by_key(|r| added.iter().position(|id| *id == r.rule_id));
    Ok(rules)
}

async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    group_id: &str,
    egress: bool,
    rule_id: &str,
    d: &Definition,
    description: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO network.security_group_rules (rule_id, account_id, group_id, is_egress, \
             protocol, from_port, to_port, cidr, referenced_group_id, description) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8::cidr, $9, $10)",
    )
    .bind(rule_id)
    .bind(account_id)
    .bind(group_id)
    .bind(egress)
    .bind(&d.protocol)
    .bind(d.from_port)
    .bind(d.to_port)
    .bind(&d.cidr)
    .bind(&d.referenced_group_id)
    .bind(description)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub fn rule_not_found(rule_id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidSecurityGroupRuleId.NotFound",
        format!("The security group rule ID '{rule_id}' does not exist"),
    )
}

fn permission_not_found() -> NetworkError {
    NetworkError::NotFound(
        "InvalidPermission.NotFound",
        "The specified rule does not exist in this security group.".into(),
    )
}

/// Rules picked by definition (description ignored) or by id, within one direction of a
/// locked group: every one must exist.
fn pick<'a>(
    existing: &'a [SecurityGroupRule],
    specs: &[RuleSpec],
    rule_ids: &[String],
) -> Result<Vec<&'a SecurityGroupRule>> {
    let mut picked: Vec<&SecurityGroupRule> = Vec::new();
    for spec in specs {
        // A definition AWS would refuse can match nothing.
        let definition = spec.definition().map_err(|_| permission_not_found())?;
        let rule = existing
            .iter()
            .find(|r| r.definition() == definition)
            .ok_or_else(permission_not_found)?;
        picked.push(rule);
    }
    for rule_id in rule_ids {
        SecurityGroupRuleId::parse(rule_id)?;
        let rule = existing
            .iter()
            .find(|r| &r.rule_id == rule_id)
            .ok_or_else(|| rule_not_found(rule_id))?;
        picked.push(rule);
    }
    picked.sort_by(|a, b| a.rule_id.cmp(&b.rule_id));
    picked.dedup_by(|a, b| a.rule_id == b.rule_id);
    Ok(picked)
}

/// Remove rules from a group (RevokeSecurityGroupIngress/Egress), by definition or by id:
/// all or none (`InvalidPermission.NotFound`, `InvalidSecurityGroupRuleId.NotFound`).
/// Returns the revoked rules.
pub async fn revoke(
    network: &Network,
    caller: &Principal,
    group_id: &str,
    egress: bool,
    specs: &[RuleSpec],
    rule_ids: &[String],
) -> Result<Vec<SecurityGroupRule>> {
    require_write(caller)?;
    if specs.is_empty() && rule_ids.is_empty() {
        return Err(NetworkError::Missing("IpPermissions".into()));
    }
    let mut tx = network.pool.begin().await?;
    lock_group(&mut tx, &caller.account_id, group_id).await?;
    let existing = rules_of(&mut tx, group_id, egress).await?;
    let revoked: Vec<SecurityGroupRule> = pick(&existing, specs, rule_ids)?
        .into_iter()
        .cloned()
        .collect();
    let ids: Vec<String> = revoked.iter().map(|r| r.rule_id.clone()).collect();
    sqlx::query("DELETE FROM network.security_group_rules WHERE rule_id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tags::delete_all(&mut tx, &caller.account_id, &ids).await?;
    tx.commit().await?;
    Ok(revoked)
}

/// Set rules' descriptions (UpdateSecurityGroupRuleDescriptionsIngress/Egress): picked by
/// definition (the spec's description is the new one) or by id.
pub async fn update_descriptions(
    network: &Network,
    caller: &Principal,
    group_id: &str,
    egress: bool,
    specs: &[RuleSpec],
    by_id: &[(String, String)],
) -> Result<()> {
    require_write(caller)?;
    let mut tx = network.pool.begin().await?;
    lock_group(&mut tx, &caller.account_id, group_id).await?;
    let existing = rules_of(&mut tx, group_id, egress).await?;
    let mut updates: Vec<(String, String)> = Vec::new();
    for spec in specs {
        let description = spec.description.clone().unwrap_or_default();
        check_rule_description(&description)?;
        let rule = pick(&existing, std::slice::from_ref(spec), &[])?;
        updates.extend(
            rule.into_iter()
                .map(|r| (r.rule_id.clone(), description.clone())),
        );
    }
    for (rule_id, description) in by_id {
        check_rule_description(description)?;
        let rule = pick(&existing, &[], std::slice::from_ref(rule_id))?;
        updates.extend(
            rule.into_iter()
                .map(|r| (r.rule_id.clone(), description.clone())),
        );
    }
    for (rule_id, description) in &updates {
        sqlx::query("UPDATE network.security_group_rules SET description = $2 WHERE rule_id = $1")
            .bind(rule_id)
            .bind(description)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Replace rules' definitions in place (ModifySecurityGroupRules): each rule keeps its id
/// and direction; the new definition must not duplicate another rule of that direction.
pub async fn modify(
    network: &Network,
    caller: &Principal,
    group_id: &str,
    updates: &[(String, RuleSpec)],
) -> Result<()> {
    require_write(caller)?;
    if updates.is_empty() {
        return Err(NetworkError::Missing("SecurityGroupRule".into()));
    }
    let mut tx = network.pool.begin().await?;
    let group = lock_group(&mut tx, &caller.account_id, group_id).await?;
    let mut rules = rules_of(&mut tx, group_id, false).await?;
    rules.extend(rules_of(&mut tx, group_id, true).await?);
    let mut planned: Vec<(String, bool, Definition, String)> = Vec::new();
    for (rule_id, spec) in updates {
        SecurityGroupRuleId::parse(rule_id)?;
        let rule = rules
            .iter()
            .find(|r| &r.rule_id == rule_id)
            .ok_or_else(|| rule_not_found(rule_id))?;
        let definition = spec.definition()?;
        let description = spec.description.clone().unwrap_or_default();
        planned.push((rule_id.clone(), rule.is_egress, definition, description));
    }
    let definitions: Vec<Definition> = planned.iter().map(|p| p.2.clone()).collect();
    check_references(&mut tx, &caller.account_id, &group.vpc_id, &definitions).await?;
    // The rules after the change, per direction: no two may be the same.
    let mut after: BTreeMap<&str, (bool, Definition)> = rules
        .iter()
        .map(|r| (r.rule_id.as_str(), (r.is_egress, r.definition())))
        .collect();
    for (rule_id, egress, definition, _) in &planned {
        after.insert(rule_id.as_str(), (*egress, definition.clone()));
    }
    let mut seen = HashSet::new();
    for (egress, definition) in after.values() {
        if !seen.insert((*egress, definition.clone())) {
            return Err(duplicate(definition));
        }
    }
    for (rule_id, _, d, description) in &planned {
        sqlx::query(
            "UPDATE network.security_group_rules SET protocol = $2, from_port = $3, to_port = $4, \
                 cidr = $5::cidr, referenced_group_id = $6, description = $7 WHERE rule_id = $1",
        )
        .bind(rule_id)
        .bind(&d.protocol)
        .bind(d.from_port)
        .bind(d.to_port)
        .bind(&d.cidr)
        .bind(&d.referenced_group_id)
        .bind(description)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// DescribeSecurityGroupRules' request.
#[derive(Debug, Clone)]
pub struct DescribeRules {
    pub rule_ids: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

const RULE_FILTERS: [&str; 2] = ["group-id", "security-group-rule-id"];

fn rule_field(rule: &SecurityGroupRule, name: &str) -> Vec<String> {
    match name {
        "group-id" => vec![rule.group_id.clone()],
        "security-group-rule-id" => vec![rule.rule_id.clone()],
        _ => Vec::new(),
    }
}

/// The caller's rules: those named (each must exist:
/// `InvalidSecurityGroupRuleId.NotFound`), filtered, one page (by rule id).
pub async fn describe(
    pool: &PgPool,
    caller: &Principal,
    query: DescribeRules,
) -> Result<(Vec<SecurityGroupRule>, Option<String>)> {
    check_names(&query.filters, |name| {
        is_tag_filter(name) || RULE_FILTERS.contains(&name)
    })?;
    for rule_id in &query.rule_ids {
        SecurityGroupRuleId::parse(rule_id)?;
    }
    let mut rules: Vec<SecurityGroupRule> = sqlx::query_as(&format!(
        "SELECT {RULE_COLUMNS} FROM network.security_group_rules r \
         LEFT JOIN network.security_groups peer ON peer.group_id = r.referenced_group_id \
         WHERE r.account_id = $1 AND (cardinality($2::text[]) = 0 OR r.rule_id = ANY($2))"
    ))
    .bind(&caller.account_id)
    .bind(&query.rule_ids)
    .fetch_all(pool)
    .await?;
    if let Some(missing) = query
        .rule_ids
        .iter()
        .find(|id| !rules.iter().any(|r| &r.rule_id == *id))
    {
        return Err(rule_not_found(missing));
    }
    attach_tags(pool, &caller.account_id, &mut rules).await?;
    let selected = select_by_fields(
        &caller.account_id,
        rules,
        &query.filters,
        rule_field,
        |r: &SecurityGroupRule| Some(&r.tags),
    )
    .await?;
    Ok(query.page.apply(selected, |r| r.rule_id.clone())?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(protocol: &str, from: Option<i32>, to: Option<i32>) -> RuleSpec {
        RuleSpec {
            protocol: protocol.into(),
            from_port: from,
            to_port: to,
            cidr: Some("10.0.0.0/8".into()),
            ..RuleSpec::default()
        }
    }

    #[test]
    fn protocols_and_ports_normalize_as_aws_does() {
        let tcp = spec("6", Some(22), Some(22)).definition().unwrap();
        assert_eq!(tcp.protocol, "tcp");
        assert_eq!((tcp.from_port, tcp.to_port), (Some(22), Some(22)));
        // All traffic and other protocols drop their ports (Terraform sends 0/0 with -1).
        let all = spec("-1", Some(0), Some(0)).definition().unwrap();
        assert_eq!((all.protocol.as_str(), all.from_port), ("-1", None));
        let gre = spec("47", Some(1), Some(2)).definition().unwrap();
        assert_eq!((gre.protocol.as_str(), gre.to_port), ("47", None));
        assert_eq!(
            spec("ICMP", Some(-1), Some(-1))
                .definition()
                .unwrap()
                .protocol,
            "icmp"
        );
        for bad in [
            spec("tcp", None, Some(22)),
            spec("tcp", Some(23), Some(22)),
            spec("udp", Some(0), Some(65536)),
            spec("icmp", Some(-1), Some(3)),
            spec("icmp", Some(256), Some(0)),
            spec("icmp", None, None),
            spec("foo", None, None),
            spec("256", None, None),
            spec("icmpv6", None, None),
        ] {
            let error = bad.definition().unwrap_err();
            assert!(matches!(error, NetworkError::Invalid(..)), "{bad:?}");
        }
    }

    #[test]
    fn a_rule_has_exactly_one_peer() {
        let mut both = spec("tcp", Some(1), Some(2));
        both.referenced_group_id = Some("sg-12345678".into());
        assert!(both.definition().is_err());
        let mut neither = spec("tcp", Some(1), Some(2));
        neither.cidr = None;
        assert!(neither.definition().is_err());
        let mut host_bits = spec("tcp", Some(1), Some(2));
        host_bits.cidr = Some("10.0.0.1/8".into());
        assert!(host_bits.definition().is_err());
        let mut bad_text = spec("tcp", Some(1), Some(2));
        bad_text.description = Some("tab\there".into());
        assert!(bad_text.definition().is_err());
    }
}
