//! Subnets (`subnet-…`): a block inside their VPC's (/16 to /28), overlapping no other
//! subnet of the VPC, in one zone of the region. As in AWS, the first four addresses and
//! the last are reserved (network, router, DNS, future use; broadcast).

pub mod api;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{SubnetId, VpcId};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

use crate::cidr::Ipv4Block;
use crate::error::{NetworkError, Result};
use crate::listed::found_with_tags;
use crate::tags::{self, Tags};
use crate::{require_write, vpcs, Network};

/// Addresses of every subnet that instances never get.
pub const RESERVED_ADDRESSES: i64 = 5;
/// Subnets one VPC may hold (AWS's default quota).
pub const MAX_SUBNETS_PER_VPC: i64 = 200;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Subnet {
    pub subnet_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub cidr_block: String,
    pub availability_zone: String,
    /// `available` (creation is immediate).
    pub state: String,
    pub map_public_ip_on_launch: bool,
    /// One of the default VPC's subnets (one per zone).
    pub default_for_az: bool,
    /// The block's size less the five reserved addresses and those in use.
    pub available_ip_address_count: i64,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub tags: Tags,
}

/// CreateSubnet's input.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubnet {
    pub vpc_id: String,
    /// A block inside the VPC's, /16 to /28.
    pub cidr_block: String,
    /// One of the region's zones (default: the first).
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// The available count: the block's size, less the reserved addresses and the network
/// interfaces' addresses in the subnet.
const COLUMNS: &str = "subnet_id, account_id, vpc_id, cidr::text AS cidr_block, \
    zone AS availability_zone, state, map_public_ip_on_launch, default_for_az, \
    (1::bigint << (32 - masklen(cidr))) - 5 - (SELECT count(*) FROM network.network_interface_addresses a \
        WHERE a.subnet_id = network.subnets.subnet_id) AS available_ip_address_count, created_at";

pub fn not_found(subnet_id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidSubnetID.NotFound",
        format!("The subnet ID '{subnet_id}' does not exist"),
    )
}

/// A subnet row to insert (the default VPC's and CreateSubnet's).
pub(crate) struct NewSubnet<'a> {
    pub subnet_id: &'a str,
    pub account_id: &'a str,
    pub vpc_id: &'a str,
    pub block: Ipv4Block,
    pub zone: &'a str,
    /// The default VPC's subnets: default for their zone, public addresses on launch.
    pub default_for_az: bool,
}

/// (The creation time is the statement's, not the transaction's: the default VPC's
/// subnets list in zone order.)
pub(crate) async fn insert(conn: &mut sqlx::PgConnection, new: &NewSubnet<'_>) -> Result<Subnet> {
    Ok(sqlx::query_as::<_, Subnet>(&format!(
        "INSERT INTO network.subnets
             (subnet_id, account_id, vpc_id, cidr, zone, map_public_ip_on_launch, default_for_az,
              created_at)
         VALUES ($1, $2, $3, $4::cidr, $5, $6, $6, clock_timestamp()) RETURNING {COLUMNS}"
    ))
    .bind(new.subnet_id)
    .bind(new.account_id)
    .bind(new.vpc_id)
    .bind(new.block.to_string())
    .bind(new.zone)
    .bind(new.default_for_az)
    .fetch_one(conn)
    .await?)
}

/// The zone a new subnet goes to: the one named (it must be the region's), else the first.
fn zone_for<'a>(network: &'a Network, wanted: Option<&'a str>) -> Result<&'a str> {
    let zones = &network.config.zones;
    match wanted {
        Some(zone) if zones.iter().any(|z| z == zone) => Ok(zone),
        Some(zone) => Err(NetworkError::invalid(format!(
            "Value ({zone}) for parameter availabilityZone is invalid. Subnets can currently only be created in the following availability zones: {}.",
            zones.join(", ")
        ))),
        None => zones
            .first()
            .map(String::as_str)
            .ok_or_else(|| NetworkError::Internal("the region has no zones".into())),
    }
}

pub async fn create(network: &Network, caller: &Principal, input: &CreateSubnet) -> Result<Subnet> {
    require_write(caller)?;
    VpcId::parse(&input.vpc_id)?;
    let block = Ipv4Block::parse(&input.cidr_block, "cidrBlock")?;
    let zone = zone_for(network, input.availability_zone.as_deref())?;
    tags::validate(&input.tags)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    let vpc = vpcs::lock(&mut tx, account_id, &input.vpc_id).await?;
    if !(16..=28).contains(&block.prefix) || !vpc.block()?.contains(&block) {
        return Err(NetworkError::Invalid(
            "InvalidSubnet.Range",
            format!("The CIDR '{block}' is invalid."),
        ));
    }
    let (overlapping, count): (Option<String>, i64) = sqlx::query_as(
        "SELECT (SELECT cidr::text FROM network.subnets WHERE vpc_id = $1 AND cidr && $2::cidr LIMIT 1),
                (SELECT count(*) FROM network.subnets WHERE vpc_id = $1)",
    )
    .bind(&vpc.vpc_id)
    .bind(block.to_string())
    .fetch_one(&mut *tx)
    .await?;
    if overlapping.is_some() {
        return Err(NetworkError::Conflict(
            "InvalidSubnet.Conflict",
            format!("The CIDR '{block}' conflicts with another subnet"),
        ));
    }
    if count >= MAX_SUBNETS_PER_VPC {
        return Err(NetworkError::LimitExceeded(
            "SubnetLimitExceeded",
            format!(
                "The maximum number of subnets has been reached ({MAX_SUBNETS_PER_VPC} per VPC)."
            ),
        ));
    }
    let subnet_id = SubnetId::generate();
    let mut subnet = insert(
        &mut tx,
        &NewSubnet {
            subnet_id: subnet_id.as_str(),
            account_id,
            vpc_id: &vpc.vpc_id,
            block,
            zone,
            default_for_az: false,
        },
    )
    .await?;
    tags::put(&mut tx, account_id, &subnet.subnet_id, &input.tags).await?;
    tx.commit().await?;
    subnet.tags = input.tags.clone();
    Ok(subnet)
}

/// The caller's subnets (all, or those of `ids`: an unknown one is
/// `InvalidSubnetID.NotFound`), oldest first, with their tags.
pub async fn list(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<Vec<Subnet>> {
    for id in ids {
        SubnetId::parse(id)?;
    }
    let subnets = sqlx::query_as::<_, Subnet>(&format!(
        "SELECT {COLUMNS} FROM network.subnets
         WHERE account_id = $1 AND (cardinality($2::text[]) = 0 OR subnet_id = ANY($2))
         ORDER BY created_at, subnet_id"
    ))
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    found_with_tags(pool, &caller.account_id, ids, subnets, not_found).await
}

pub async fn get(pool: &PgPool, caller: &Principal, subnet_id: &str) -> Result<Subnet> {
    let mut found = list(pool, caller, &[subnet_id.to_string()]).await?;
    found.pop().ok_or_else(|| not_found(subnet_id))
}

/// The caller's subnet, with its VPC locked for this transaction (VPC first, as every
/// "in use" check takes them).
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    subnet_id: &str,
) -> Result<Subnet> {
    let vpc_id = vpc_of(tx, account_id, subnet_id).await?;
    vpcs::lock(tx, account_id, &vpc_id).await?;
    // The subnet's row too: launches and new interfaces lock it (not the VPC), so its
    // "in use" check holds against them.
    sqlx::query_as::<_, Subnet>(&format!(
        "SELECT {COLUMNS} FROM network.subnets WHERE subnet_id = $1 AND account_id = $2 FOR NO KEY UPDATE"
    ))
    .bind(subnet_id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(subnet_id))
}

/// The VPC of the caller's subnet, without a lock (a subnet never changes VPC).
pub async fn vpc_of(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    subnet_id: &str,
) -> Result<String> {
    SubnetId::parse(subnet_id)?;
    sqlx::query_scalar(
        "SELECT vpc_id FROM network.subnets WHERE subnet_id = $1 AND account_id = $2",
    )
    .bind(subnet_id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(subnet_id))
}

/// Delete a subnet; its explicit route table association goes with it.
pub async fn delete(network: &Network, caller: &Principal, subnet_id: &str) -> Result<()> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    lock(&mut tx, account_id, subnet_id).await?;
    // Network interfaces in the subnet (instances' included) make it in use.
    let in_use: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM network.network_interfaces WHERE subnet_id = $1)",
    )
    .bind(subnet_id)
    .fetch_one(&mut *tx)
    .await?;
    if in_use {
        return Err(NetworkError::DependencyViolation(format!(
            "The subnet '{subnet_id}' has dependencies and cannot be deleted."
        )));
    }
    sqlx::query("DELETE FROM network.route_table_associations WHERE subnet_id = $1")
        .bind(subnet_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM network.subnets WHERE subnet_id = $1")
        .bind(subnet_id)
        .execute(&mut *tx)
        .await?;
    tags::delete_all(&mut tx, account_id, &[subnet_id.to_string()]).await?;
    tx.commit().await?;
    Ok(())
}

/// ModifySubnetAttribute's `MapPublicIpOnLaunch`.
pub async fn set_map_public_ip_on_launch(
    network: &Network,
    caller: &Principal,
    subnet_id: &str,
    value: bool,
) -> Result<Subnet> {
    require_write(caller)?;
    let mut tx = network.pool.begin().await?;
    lock(&mut tx, &caller.account_id, subnet_id).await?;
    sqlx::query("UPDATE network.subnets SET map_public_ip_on_launch = $2 WHERE subnet_id = $1")
        .bind(subnet_id)
        .bind(value)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get(&network.pool, caller, subnet_id).await
}
