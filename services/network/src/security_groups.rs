//! Security groups (`sg-…`) and their rules (`sgr-…`): the control plane. Every VPC has a
//! `default` group, created with the VPC; the agents enforce the rules with nftables.

use kumo_common::ids::{SecurityGroupId, SecurityGroupRuleId};

use crate::error::Result;

/// The name and description AWS gives every VPC's default group.
pub const DEFAULT_GROUP_NAME: &str = "default";
pub const DEFAULT_GROUP_DESCRIPTION: &str = "default VPC security group";

/// Create a VPC's `default` group inside the VPC's creating transaction, with AWS's
/// default rules: egress allow-all to 0.0.0.0/0 and ingress allow-all from the group
/// itself.
pub async fn create_default(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: &str,
    vpc_id: &str,
) -> Result<SecurityGroupId> {
    let group_id = SecurityGroupId::generate();
    sqlx::query(
        "INSERT INTO network.security_groups \
             (group_id, account_id, vpc_id, group_name, description, is_default) \
         VALUES ($1, $2, $3, $4, $5, true)",
    )
    .bind(group_id.as_str())
    .bind(account_id)
    .bind(vpc_id)
    .bind(DEFAULT_GROUP_NAME)
    .bind(DEFAULT_GROUP_DESCRIPTION)
    .execute(&mut **tx)
    .await?;
    sqlx::query(
        "INSERT INTO network.security_group_rules \
             (rule_id, account_id, group_id, is_egress, protocol, cidr, referenced_group_id) \
         VALUES ($1, $3, $4, true, '-1', '0.0.0.0/0', NULL), \
                ($2, $3, $4, false, '-1', NULL, $4)",
    )
    .bind(SecurityGroupRuleId::generate().as_str())
    .bind(SecurityGroupRuleId::generate().as_str())
    .bind(account_id)
    .bind(group_id.as_str())
    .execute(&mut **tx)
    .await?;
    Ok(group_id)
}
