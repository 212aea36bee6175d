//! Tags on network resources, in the shared tag store (`kumo-tags`, table `tags.tags`),
//! scoped by account. The create actions store their `TagSpecification` tags with
//! [`put`], in the creating transaction; describes read them back with
//! [`for_resources`] for `tagSet` and the tag filters; deletes drop them with
//! [`delete_all`]. [`NetworkResources`] tells CreateTags/DeleteTags (answered by the shared
//! store for every service) which `vpc-…`, `sg-…` … ids exist in the caller's account.

use std::collections::{BTreeMap, BTreeSet};

use kumo_common::ids::is_resource_id;
use kumo_tags::TagError;
use sqlx::PgPool;

use crate::error::Result;

pub use kumo_tags::{Tags, MAX_TAGS};

/// One taggable kind this service owns.
struct Kind {
    /// The id prefix (`vpc` for `vpc-…`).
    prefix: &'static str,
    /// The table and id column that hold it; every such table has `account_id`.
    table: &'static str,
    column: &'static str,
    /// AWS's not-found code, and its message's start ("The vpc ID").
    not_found: &'static str,
    noun: &'static str,
}

/// Every taggable kind this service owns; a new taggable resource adds its row here.
const KINDS: &[Kind] = &[
    Kind {
        prefix: "vpc",
        table: "network.vpcs",
        column: "vpc_id",
        not_found: "InvalidVpcID.NotFound",
        noun: "The vpc ID",
    },
    Kind {
        prefix: "subnet",
        table: "network.subnets",
        column: "subnet_id",
        not_found: "InvalidSubnetID.NotFound",
        noun: "The subnet ID",
    },
    Kind {
        prefix: "sg",
        table: "network.security_groups",
        column: "group_id",
        not_found: "InvalidGroup.NotFound",
        noun: "The security group",
    },
    Kind {
        prefix: "sgr",
        table: "network.security_group_rules",
        column: "rule_id",
        not_found: "InvalidSecurityGroupRuleId.NotFound",
        noun: "The security group rule ID",
    },
    Kind {
        prefix: "igw",
        table: "network.internet_gateways",
        column: "internet_gateway_id",
        not_found: "InvalidInternetGatewayID.NotFound",
        noun: "The internetGateway ID",
    },
    Kind {
        prefix: "rtb",
        table: "network.route_tables",
        column: "route_table_id",
        not_found: "InvalidRouteTableID.NotFound",
        noun: "The routeTable ID",
    },
    Kind {
        prefix: "acl",
        table: "network.network_acls",
        column: "network_acl_id",
        not_found: "InvalidNetworkAclID.NotFound",
        noun: "The networkAcl ID",
    },
    Kind {
        prefix: "eni",
        table: "network.network_interfaces",
        column: "network_interface_id",
        not_found: "InvalidNetworkInterfaceID.NotFound",
        noun: "The networkInterface ID",
    },
    Kind {
        prefix: "eipalloc",
        table: "network.addresses",
        column: "allocation_id",
        not_found: "InvalidAllocationID.NotFound",
        noun: "The allocation ID",
    },
];

/// The prefixes of [`KINDS`], as [`kumo_tags::TaggableResources::prefixes`] names them.
const PREFIXES: &[&str] = &[
    "vpc", "subnet", "sg", "sgr", "igw", "rtb", "acl", "eni", "eipalloc",
];

/// Tags to set (a create action's `TagSpecification`): keys of 1–128 characters not
/// starting with `aws:`, values of at most 256, at most [`MAX_TAGS`].
pub fn validate(tags: &Tags) -> Result<()> {
    Ok(kumo_tags::validate(&pairs(tags))?)
}

/// The tags of `TagSpecification`s, key to value (a key given twice keeps its last value).
pub fn from_pairs(pairs: Vec<(String, String)>) -> Tags {
    pairs.into_iter().collect()
}

fn pairs(tags: &Tags) -> Vec<(String, String)> {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// Set tags on a resource of the account (validated here), in the caller's transaction.
pub async fn put(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: &str,
    resource_id: &str,
    tags: &Tags,
) -> Result<()> {
    Ok(kumo_tags::put(&mut **tx, account_id, resource_id, &pairs(tags)).await?)
}

/// The tags of each of `resource_ids` (resources without tags are absent).
pub async fn for_resources(
    pool: &PgPool,
    account_id: &str,
    resource_ids: &[String],
) -> Result<BTreeMap<String, Tags>> {
    Ok(kumo_tags::for_resources(pool, account_id, resource_ids).await?)
}

/// Forget the tags of deleted resources, in the deleting transaction.
pub async fn delete_all(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    account_id: &str,
    resource_ids: &[String],
) -> Result<()> {
    Ok(kumo_tags::delete_all(&mut **tx, account_id, resource_ids).await?)
}

/// The network service's taggable resources (registered by the gateway).
pub struct NetworkResources {
    pool: PgPool,
}

impl NetworkResources {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn kind_of(id: &str) -> Option<&'static Kind> {
    let prefix = id.split('-').next().unwrap_or_default();
    KINDS.iter().find(|kind| kind.prefix == prefix)
}

#[async_trait::async_trait]
impl kumo_tags::TaggableResources for NetworkResources {
    fn prefixes(&self) -> &'static [&'static str] {
        PREFIXES
    }

    async fn existing(
        &self,
        account_id: &str,
        ids: &[String],
    ) -> kumo_tags::Result<BTreeSet<String>> {
        let mut found = BTreeSet::new();
        for kind in KINDS {
            let asked: Vec<&String> = ids
                .iter()
                .filter(|id| kind_of(id).is_some_and(|k| k.prefix == kind.prefix))
                .collect();
            if asked.is_empty() {
                continue;
            }
            // The table and column come from KINDS, never from the request.
            let (table, column) = (kind.table, kind.column);
            let rows: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT {column} FROM {table} WHERE account_id = $1 AND {column} = ANY($2)"
            ))
            .bind(account_id)
            .bind(asked)
            .fetch_all(&self.pool)
            .await?;
            found.extend(rows);
        }
        Ok(found)
    }

    fn not_found(&self, id: &str) -> TagError {
        match kind_of(id) {
            Some(kind) if is_resource_id(kind.prefix, id) => TagError::NotFound(
                kind.not_found,
                format!("{} '{id}' does not exist", kind.noun),
            ),
            _ => TagError::Invalid("InvalidID", format!("The ID '{id}' is not valid")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_a_prefix() {
        let kinds: Vec<&str> = KINDS.iter().map(|kind| kind.prefix).collect();
        assert_eq!(kinds, PREFIXES);
        for prefix in PREFIXES {
            assert_ne!(kumo_tags::resource_type(&format!("{prefix}-1")), "unknown");
        }
    }
}
