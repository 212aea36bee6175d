//! Network ACLs (`acl-…`): described only. Every VPC has one default ACL that allows all
//! traffic both ways (AWS's default entries: rule 100 allow, then the catch-all deny) and
//! holds every subnet of the VPC. Security groups do the filtering.

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::NetworkAclId;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{NetworkError, Result};
use crate::listed::found_with_tags;
use crate::tags::Tags;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NetworkAclEntry {
    pub rule_number: i32,
    /// `-1`: every protocol.
    pub protocol: String,
    /// `allow` or `deny`.
    pub rule_action: String,
    pub egress: bool,
    pub cidr_block: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct NetworkAclAssociation {
    /// `aclassoc-…`, derived from the subnet's id.
    pub association_id: String,
    pub network_acl_id: String,
    pub subnet_id: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct NetworkAcl {
    pub network_acl_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub is_default: bool,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub entries: Vec<NetworkAclEntry>,
    #[sqlx(skip)]
    pub associations: Vec<NetworkAclAssociation>,
    #[sqlx(skip)]
    pub tags: Tags,
}

/// The default ACL's entries: allow all, then AWS's catch-all deny, each way.
pub fn default_entries() -> Vec<NetworkAclEntry> {
    let mut entries = Vec::with_capacity(4);
    for egress in [true, false] {
        for (rule_number, rule_action) in [(100, "allow"), (32767, "deny")] {
            entries.push(NetworkAclEntry {
                rule_number,
                protocol: "-1".into(),
                rule_action: rule_action.into(),
                egress,
                cidr_block: "0.0.0.0/0".into(),
            });
        }
    }
    entries
}

pub fn not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidNetworkAclID.NotFound",
        format!("The networkAcl ID '{id}' does not exist"),
    )
}

/// The VPC's default ACL, made with it.
pub(crate) async fn create_default(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    vpc_id: &str,
) -> Result<String> {
    let id = NetworkAclId::generate().into_string();
    sqlx::query(
        "INSERT INTO network.network_acls (network_acl_id, account_id, vpc_id, is_default)
         VALUES ($1, $2, $3, true)",
    )
    .bind(&id)
    .bind(account_id)
    .bind(vpc_id)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

/// The ACLs of a VPC being deleted; returns their ids.
pub(crate) async fn delete_all_in(
    tx: &mut Transaction<'_, Postgres>,
    vpc_id: &str,
) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "DELETE FROM network.network_acls WHERE vpc_id = $1 RETURNING network_acl_id",
    )
    .bind(vpc_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// The caller's ACLs (all, or those of `ids`: an unknown one is
/// `InvalidNetworkAclID.NotFound`), oldest first, with entries, associations and tags.
pub async fn list(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<Vec<NetworkAcl>> {
    for id in ids {
        NetworkAclId::parse(id)?;
    }
    let mut acls = sqlx::query_as::<_, NetworkAcl>(
        "SELECT network_acl_id, account_id, vpc_id, is_default, created_at FROM network.network_acls
         WHERE account_id = $1 AND (cardinality($2::text[]) = 0 OR network_acl_id = ANY($2))
         ORDER BY created_at, network_acl_id",
    )
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let found: Vec<String> = acls.iter().map(|a| a.network_acl_id.clone()).collect();
    // The default ACL holds every subnet of its VPC.
    let associations = sqlx::query_as::<_, NetworkAclAssociation>(
        "SELECT 'aclassoc-' || substr(s.subnet_id, 8) AS association_id, a.network_acl_id, s.subnet_id
         FROM network.network_acls a JOIN network.subnets s ON s.vpc_id = a.vpc_id
         WHERE a.network_acl_id = ANY($1) AND a.is_default
         ORDER BY s.created_at, s.subnet_id",
    )
    .bind(&found)
    .fetch_all(pool)
    .await?;
    for acl in &mut acls {
        acl.entries = default_entries();
        acl.associations = associations
            .iter()
            .filter(|a| a.network_acl_id == acl.network_acl_id)
            .cloned()
            .collect();
    }
    found_with_tags(pool, &caller.account_id, ids, acls, not_found).await
}
