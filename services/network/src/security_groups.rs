//! Security groups (`sg-…`): the control plane. Every VPC has a `default` group, created
//! with the VPC (AWS's default rules: all egress, all ingress from the group itself); the
//! agents enforce what the groups' rules ([`crate::security_group_rules`]) allow.
//!
//! Bounds (AWS's default quotas): [`MAX_GROUPS_PER_VPC`] groups per VPC, names and
//! descriptions of 1–255 characters from AWS's VPC character set, 60 rules per direction
//! per group.

mod api;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{SecurityGroupId, SecurityGroupRuleId, VpcId};
use kumo_ec2_query::filters::{check_names, select_by_fields};
use kumo_ec2_query::tags::is_tag_filter;
use kumo_ec2_query::{Filter, Page};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

pub use api::{router, SecurityGroupsApi};

use crate::error::{NetworkError, Result};
use crate::security_group_rules::{self, SecurityGroupRule};
use crate::tags::{self, Tags};
use crate::{require_write, vpcs, Network};

/// The name and description AWS gives every VPC's default group.
pub const DEFAULT_GROUP_NAME: &str = "default";
pub const DEFAULT_GROUP_DESCRIPTION: &str = "default VPC security group";
/// AWS's default quota (`VPC security groups per Region`: 2,500), applied per VPC under
/// the VPC's lock (`SecurityGroupLimitExceeded`).
pub const MAX_GROUPS_PER_VPC: i64 = 2500;
/// Names, descriptions and rule descriptions: at most this many characters.
pub const MAX_TEXT_CHARS: usize = 255;

/// One security group with its rules, as described.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SecurityGroup {
    pub group_id: String,
    pub owner_id: String,
    pub vpc_id: String,
    pub group_name: String,
    pub description: String,
    /// The VPC's `default` group (it cannot be deleted).
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    /// Inbound rules, oldest first.
    pub ingress: Vec<SecurityGroupRule>,
    /// Outbound rules, oldest first.
    pub egress: Vec<SecurityGroupRule>,
    pub tags: Tags,
}

/// A group's own row (no rules, no tags).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GroupRow {
    pub group_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub group_name: String,
    pub description: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "group_id, account_id, vpc_id, group_name, description, is_default, created_at";

/// CreateSecurityGroup's input.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSecurityGroup {
    pub group_name: String,
    pub description: String,
    /// Default: the account's default VPC.
    pub vpc_id: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

pub fn not_found(group: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidGroup.NotFound",
        format!("The security group '{group}' does not exist"),
    )
}

/// AWS's character set for VPC group names, descriptions and rule descriptions.
fn allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " ._-:/()#,@[]+=&;{}!$*".contains(c)
}

/// A name or description: 1–255 characters of [`allowed_char`] (`empty_ok` for rule
/// descriptions, which may be empty).
fn check_text(field: &str, value: &str, empty_ok: bool) -> Result<()> {
    let count = value.chars().count();
    if (count == 0 && !empty_ok) || count > MAX_TEXT_CHARS {
        return Err(NetworkError::invalid(format!(
            "Value for parameter {field} is invalid: it must be 1 to {MAX_TEXT_CHARS} characters long"
        )));
    }
    if let Some(bad) = value.chars().find(|c| !allowed_char(*c)) {
        let shown = if bad.is_control() {
            format!("U+{:04X}", u32::from(bad))
        } else {
            bad.to_string()
        };
        return Err(NetworkError::invalid(format!(
            "Value for parameter {field} is invalid: character '{shown}' is not allowed (a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{{}}!$*)"
        )));
    }
    Ok(())
}

/// A rule's description: at most 255 characters of AWS's set.
pub fn check_rule_description(description: &str) -> Result<()> {
    check_text("Description", description, true)
}

fn check_name(name: &str) -> Result<()> {
    check_text("GroupName", name, false)?;
    if name.len() >= 3 && name[..3].eq_ignore_ascii_case("sg-") {
        return Err(NetworkError::invalid(format!(
            "Value ({name}) for parameter GroupName is invalid. Group names may not be in the format sg-*."
        )));
    }
    Ok(())
}

/// The caller's group, locked for this transaction (rule changes and deletes run one at a
/// time per group).
pub async fn lock_group(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    group_id: &str,
) -> Result<GroupRow> {
    SecurityGroupId::parse(group_id)?;
    sqlx::query_as::<_, GroupRow>(&format!(
        "SELECT {COLUMNS} FROM network.security_groups \
         WHERE group_id = $1 AND account_id = $2 FOR NO KEY UPDATE"
    ))
    .bind(group_id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(group_id))
}

/// The account's default VPC, if it has one.
async fn default_vpc_id(pool: &PgPool, account_id: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT vpc_id FROM network.vpcs WHERE account_id = $1 AND is_default")
            .bind(account_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// A group of the account's default VPC by name (`GroupName` parameters address those).
pub async fn id_by_name(pool: &PgPool, caller: &Principal, name: &str) -> Result<String> {
    let vpc_id = default_vpc_id(pool, &caller.account_id).await?;
    let found: Option<String> = sqlx::query_scalar(
        "SELECT group_id FROM network.security_groups \
         WHERE account_id = $1 AND vpc_id = $2 AND group_name = $3",
    )
    .bind(&caller.account_id)
    .bind(&vpc_id)
    .bind(name)
    .fetch_optional(pool)
    .await?;
    found.ok_or_else(|| match vpc_id {
        Some(vpc) => NetworkError::NotFound(
            "InvalidGroup.NotFound",
            format!("The security group '{name}' does not exist in default VPC '{vpc}'"),
        ),
        None => not_found(name),
    })
}

/// Create a VPC's `default` group inside the VPC's creating transaction, with AWS's
/// default rules: egress allow-all to 0.0.0.0/0 and ingress allow-all from the group
/// itself.
pub async fn create_default(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    vpc_id: &str,
) -> Result<SecurityGroupId> {
    let group_id = SecurityGroupId::generate();
    insert_group(
        tx,
        account_id,
        vpc_id,
        group_id.as_str(),
        DEFAULT_GROUP_NAME,
        DEFAULT_GROUP_DESCRIPTION,
        true,
    )
    .await?;
    sqlx::query(
        "INSERT INTO network.security_group_rules \
             (rule_id, account_id, group_id, is_egress, protocol, cidr, referenced_group_id) \
         VALUES ($1, $2, $3, false, '-1', NULL, $3)",
    )
    .bind(SecurityGroupRuleId::generate().as_str())
    .bind(account_id)
    .bind(group_id.as_str())
    .execute(&mut **tx)
    .await?;
    insert_allow_all_egress(tx, account_id, group_id.as_str()).await?;
    Ok(group_id)
}

async fn insert_group(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    vpc_id: &str,
    group_id: &str,
    name: &str,
    description: &str,
    is_default: bool,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO network.security_groups \
             (group_id, account_id, vpc_id, group_name, description, is_default) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(group_id)
    .bind(account_id)
    .bind(vpc_id)
    .bind(name)
    .bind(description)
    .bind(is_default)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Every new group's outbound rule, as in AWS: all traffic to 0.0.0.0/0.
async fn insert_allow_all_egress(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    group_id: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO network.security_group_rules \
             (rule_id, account_id, group_id, is_egress, protocol, cidr) \
         VALUES ($1, $2, $3, true, '-1', '0.0.0.0/0')",
    )
    .bind(SecurityGroupRuleId::generate().as_str())
    .bind(account_id)
    .bind(group_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// CreateSecurityGroup: a group in the given VPC or the account's default VPC, with the
/// allow-all egress rule. Names are unique per VPC, case-insensitively
/// (`InvalidGroup.Duplicate`); `default` is the VPC's own (`InvalidGroup.Reserved`).
pub async fn create(
    network: &Network,
    caller: &Principal,
    input: &CreateSecurityGroup,
) -> Result<SecurityGroup> {
    require_write(caller)?;
    check_name(&input.group_name)?;
    check_text("GroupDescription", &input.description, false)?;
    tags::validate(&input.tags)?;
    let account_id = caller.account_id.as_str();
    let vpc_id = match &input.vpc_id {
        Some(vpc_id) => {
            VpcId::parse(vpc_id)?;
            vpc_id.clone()
        }
        None => {
            vpcs::ensure_default(network, account_id).await?;
            default_vpc_id(&network.pool, account_id)
                .await?
                .ok_or_else(|| {
                    NetworkError::Invalid(
                        "VPCIdNotSpecified",
                        "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.".into(),
                    )
                })?
        }
    };
    if input.group_name.eq_ignore_ascii_case(DEFAULT_GROUP_NAME) {
        return Err(NetworkError::Invalid(
            "InvalidGroup.Reserved",
            "The security group 'default' is reserved".into(),
        ));
    }
    let mut tx = network.pool.begin().await?;
    vpcs::lock(&mut tx, account_id, &vpc_id).await?;
    let (count, taken): (i64, bool) = sqlx::query_as(
        "SELECT count(*), coalesce(bool_or(lower(group_name) = lower($2)), false) \
         FROM network.security_groups WHERE vpc_id = $1",
    )
    .bind(&vpc_id)
    .bind(&input.group_name)
    .fetch_one(&mut *tx)
    .await?;
    if taken {
        return Err(NetworkError::Conflict(
            "InvalidGroup.Duplicate",
            format!(
                "The security group '{}' already exists for VPC '{vpc_id}'",
                input.group_name
            ),
        ));
    }
    if count >= MAX_GROUPS_PER_VPC {
        return Err(NetworkError::LimitExceeded(
            "SecurityGroupLimitExceeded",
            format!("The maximum number of security groups for VPC '{vpc_id}' has been reached ({MAX_GROUPS_PER_VPC})."),
        ));
    }
    let group_id = SecurityGroupId::generate().into_string();
    insert_group(
        &mut tx,
        account_id,
        &vpc_id,
        &group_id,
        &input.group_name,
        &input.description,
        false,
    )
    .await?;
    insert_allow_all_egress(&mut tx, account_id, &group_id).await?;
    tags::put(&mut tx, account_id, &group_id, &input.tags).await?;
    tx.commit().await?;
    get(&network.pool, caller, &group_id).await
}

/// Delete a group. The VPC's default group cannot be deleted (`CannotDelete`); a group
/// another group's rule references, or a network interface uses, is in use
/// (`DependencyViolation`). Its rules and tags go with it.
pub async fn delete(network: &Network, caller: &Principal, group_id: &str) -> Result<()> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    let group = lock_group(&mut tx, account_id, group_id).await?;
    if group.is_default {
        return Err(NetworkError::Invalid(
            "CannotDelete",
            format!(
                "the specified group: \"{group_id}\" name: \"{}\" cannot be deleted by a user",
                group.group_name
            ),
        ));
    }
    // FOR UPDATE conflicts with the key-share locks that new members' and referencing
    // rules' foreign keys take: those commit first and are seen below, or wait for this.
    sqlx::query("SELECT 1 FROM network.security_groups WHERE group_id = $1 FOR UPDATE")
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
    let in_use: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM network.security_group_rules \
                        WHERE referenced_group_id = $1 AND group_id <> $1) \
             OR EXISTS (SELECT 1 FROM network.network_interface_groups WHERE group_id = $1)",
    )
    .bind(group_id)
    .fetch_one(&mut *tx)
    .await?;
    if in_use {
        return Err(NetworkError::DependencyViolation(format!(
            "resource {group_id} has a dependent object"
        )));
    }
    let mut gone: Vec<String> = sqlx::query_scalar(
        "DELETE FROM network.security_group_rules WHERE group_id = $1 RETURNING rule_id",
    )
    .bind(group_id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM network.security_groups WHERE group_id = $1")
        .bind(group_id)
        .execute(&mut *tx)
        .await?;
    gone.push(group_id.to_string());
    tags::delete_all(&mut tx, account_id, &gone).await?;
    tx.commit().await?;
    Ok(())
}

/// One group of the caller's.
pub async fn get(pool: &PgPool, caller: &Principal, group_id: &str) -> Result<SecurityGroup> {
    SecurityGroupId::parse(group_id)?;
    let rows = rows(pool, &caller.account_id, &[group_id.to_string()]).await?;
    let mut groups = with_rules_and_tags(pool, &caller.account_id, rows).await?;
    groups.pop().ok_or_else(|| not_found(group_id))
}

async fn rows(pool: &PgPool, account_id: &str, ids: &[String]) -> Result<Vec<GroupRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM network.security_groups \
         WHERE account_id = $1 AND (cardinality($2::text[]) = 0 OR group_id = ANY($2)) \
         ORDER BY group_id"
    ))
    .bind(account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?)
}

async fn with_rules_and_tags(
    pool: &PgPool,
    account_id: &str,
    rows: Vec<GroupRow>,
) -> Result<Vec<SecurityGroup>> {
    let ids: Vec<String> = rows.iter().map(|g| g.group_id.clone()).collect();
    let mut rules = security_group_rules::for_groups(pool, account_id, &ids).await?;
    let mut tags = tags::for_resources(pool, account_id, &ids).await?;
    let mut by_group: std::collections::HashMap<String, Vec<SecurityGroupRule>> =
        std::collections::HashMap::new();
    for rule in rules.drain(..) {
        by_group
            .entry(rule.group_id.clone())
            .or_default()
            .push(rule);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let (egress, ingress) = by_group
                .remove(&row.group_id)
                .unwrap_or_default()
                .into_iter()
                .partition(|r| r.is_egress);
            SecurityGroup {
                tags: tags.remove(&row.group_id).unwrap_or_default(),
                group_id: row.group_id,
                owner_id: row.account_id,
                vpc_id: row.vpc_id,
                group_name: row.group_name,
                description: row.description,
                is_default: row.is_default,
                created_at: row.created_at,
                ingress,
                egress,
            }
        })
        .collect())
}

/// DescribeSecurityGroups' request.
#[derive(Debug, Clone)]
pub struct DescribeGroups {
    pub group_ids: Vec<String>,
    /// Names of groups in the account's default VPC.
    pub group_names: Vec<String>,
    pub filters: Vec<Filter>,
    pub page: Page,
}

const GROUP_FILTERS: [&str; 5] = [
    "group-id",
    "group-name",
    "vpc-id",
    "description",
    "owner-id",
];
const PERMISSION_FILTERS: [&str; 7] = [
    "cidr",
    "from-port",
    "to-port",
    "protocol",
    "group-id",
    "group-name",
    "user-id",
];

fn is_group_filter(name: &str) -> bool {
    let permission = name
        .strip_prefix("egress.ip-permission.")
        .or_else(|| name.strip_prefix("ip-permission."));
    is_tag_filter(name)
        || GROUP_FILTERS.contains(&name)
        || permission.is_some_and(|field| PERMISSION_FILTERS.contains(&field))
}

fn permission_field(rules: &[SecurityGroupRule], field: &str) -> Vec<String> {
    let port = |p: Option<i32>| p.map(|p| p.to_string());
    rules
        .iter()
        .filter_map(|r| match field {
            "cidr" => r.cidr.clone(),
            "from-port" => port(r.from_port),
            "to-port" => port(r.to_port),
            "protocol" => Some(r.protocol.clone()),
            "group-id" => r.referenced_group_id.clone(),
            "group-name" => r.referenced_group_name.clone(),
            "user-id" => r.referenced_group_id.as_ref().map(|_| r.owner_id.clone()),
            _ => None,
        })
        .collect()
}

fn group_field(group: &SecurityGroup, name: &str) -> Vec<String> {
    if let Some(field) = name.strip_prefix("egress.ip-permission.") {
        return permission_field(&group.egress, field);
    }
    if let Some(field) = name.strip_prefix("ip-permission.") {
        return permission_field(&group.ingress, field);
    }
    let one = |s: &str| vec![s.to_string()];
    match name {
        "group-id" => one(&group.group_id),
        "group-name" => one(&group.group_name),
        "vpc-id" => one(&group.vpc_id),
        "description" => one(&group.description),
        "owner-id" => one(&group.owner_id),
        _ => Vec::new(),
    }
}

/// The caller's groups: those named by id or by name (each must exist:
/// `InvalidGroup.NotFound`), filtered, one page (by group id).
pub async fn describe(
    pool: &PgPool,
    caller: &Principal,
    query: DescribeGroups,
) -> Result<(Vec<SecurityGroup>, Option<String>)> {
    check_names(&query.filters, is_group_filter)?;
    let mut ids = Vec::with_capacity(query.group_ids.len() + query.group_names.len());
    for group_id in &query.group_ids {
        SecurityGroupId::parse(group_id)?;
        ids.push(group_id.clone());
    }
    for name in &query.group_names {
        ids.push(id_by_name(pool, caller, name).await?);
    }
    let rows = rows(pool, &caller.account_id, &ids).await?;
    if let Some(missing) = ids
        .iter()
        .find(|id| !rows.iter().any(|g| &g.group_id == *id))
    {
        return Err(not_found(missing));
    }
    let groups = with_rules_and_tags(pool, &caller.account_id, rows).await?;
    let selected = select_by_fields(
        &caller.account_id,
        groups,
        &query.filters,
        group_field,
        |g: &SecurityGroup| Some(&g.tags),
    )
    .await?;
    Ok(query.page.apply(selected, |g| g.group_id.clone())?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_and_descriptions_follow_aws_rules() {
        assert!(check_name("web servers (prod) #1").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("sg-web").is_err());
        assert!(check_name("SG-web").is_err());
        assert!(check_name(&"a".repeat(256)).is_err());
        assert!(check_name(&"a".repeat(255)).is_ok());
        assert!(check_name("café").is_err());
        assert!(check_name("tab\t").is_err());
        assert!(check_rule_description("").is_ok());
        assert!(check_rule_description("ssh from the office; 2 & 3").is_ok());
        assert!(check_rule_description("quote\"").is_err());
    }

    #[test]
    fn filter_names() {
        for known in [
            "group-id",
            "tag:Name",
            "tag-key",
            "ip-permission.cidr",
            "egress.ip-permission.protocol",
            "ip-permission.group-name",
        ] {
            assert!(is_group_filter(known), "{known}");
        }
        assert!(!is_group_filter("ip-permission.bogus"));
        assert!(!is_group_filter("instance-id"));
    }
}
