//! Public address pools: the IPv4 blocks the operator routes to each zone's hosts, which
//! elastic IPs and launch-time public addresses come from. Operators only; pools never
//! overlap, and a pool that still has addresses in use cannot be deleted.

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use serde::{Deserialize, Serialize};

use crate::cidr::Ipv4Block;
use crate::error::{NetworkError, Result};
use crate::{require_operator, Network};

/// The smallest and largest pool blocks.
pub const POOL_PREFIXES: (u8, u8) = (16, 32);

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct AddressPool {
    pub name: String,
    pub zone: String,
    pub cidr: String,
    /// Addresses the pool hands out (a block of /30 or larger keeps its first and last).
    pub size: i64,
    /// Addresses taken from it now: elastic IPs and launch-time public addresses.
    pub allocated: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAddressPool {
    /// 1–63 characters: lowercase letters, digits and `-`, not starting with `-`.
    pub name: String,
    /// A zone of the region.
    pub zone: String,
    /// An IPv4 block, /16 to /32, its address the block's first.
    pub cidr: String,
}

pub fn not_found(name: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidAddressPool.NotFound",
        format!("The address pool '{name}' does not exist"),
    )
}

const SELECT: &str = "SELECT p.name, p.zone, p.cidr::text AS cidr,
        CASE WHEN masklen(p.cidr) >= 31 THEN (2::bigint ^ (32 - masklen(p.cidr)))::bigint
             ELSE (2::bigint ^ (32 - masklen(p.cidr)))::bigint - 2 END AS size,
        (SELECT count(*) FROM network.addresses a WHERE a.pool_name = p.name)
          + (SELECT count(*) FROM network.launch_public_ips l WHERE l.pool_name = p.name) AS allocated,
        p.created_at
    FROM network.address_pools p";

fn check_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(NetworkError::invalid(format!(
            "Invalid pool name '{name}': 1 to 63 lowercase letters, digits and '-', not starting with '-'"
        )))
    }
}

/// Add a pool (operators only).
pub async fn create(
    network: &Network,
    caller: &Principal,
    input: &CreateAddressPool,
) -> Result<AddressPool> {
    require_operator(caller)?;
    check_name(&input.name)?;
    if !network.config.zones.contains(&input.zone) {
        return Err(NetworkError::invalid(format!(
            "The zone '{}' is not a zone of this region ({})",
            input.zone,
            network.config.zones.join(", ")
        )));
    }
    let block = Ipv4Block::parse(&input.cidr, "cidr")?;
    let (min, max) = POOL_PREFIXES;
    if !(min..=max).contains(&block.prefix) {
        return Err(NetworkError::Invalid(
            "InvalidParameterValue",
            format!(
                "A pool's block must be /{min} to /{max}, not /{}",
                block.prefix
            ),
        ));
    }
    let mut tx = network.pool.begin().await?;
    super::lock_allocations(&mut tx).await?;
    let overlapping: Option<String> = sqlx::query_scalar(
        "SELECT name FROM network.address_pools WHERE cidr && $1::cidr OR name = $2 LIMIT 1",
    )
    .bind(block.to_string())
    .bind(&input.name)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(other) = overlapping {
        return Err(NetworkError::Conflict(
            "InvalidAddressPool.Conflict",
            if other == input.name {
                format!("The address pool '{other}' already exists")
            } else {
                format!("The block {block} overlaps the address pool '{other}'")
            },
        ));
    }
    sqlx::query("INSERT INTO network.address_pools (name, zone, cidr) VALUES ($1, $2, $3::cidr)")
        .bind(&input.name)
        .bind(&input.zone)
        .bind(block.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(pool = %input.name, zone = %input.zone, cidr = %block, "address pool created");
    get(network, caller, &input.name).await
}

/// Every pool, by name (operators only).
pub async fn list(network: &Network, caller: &Principal) -> Result<Vec<AddressPool>> {
    require_operator(caller)?;
    Ok(
        sqlx::query_as::<_, AddressPool>(&format!("{SELECT} ORDER BY p.name"))
            .fetch_all(&network.pool)
            .await?,
    )
}

pub async fn get(network: &Network, caller: &Principal, name: &str) -> Result<AddressPool> {
    require_operator(caller)?;
    sqlx::query_as::<_, AddressPool>(&format!("{SELECT} WHERE p.name = $1"))
        .bind(name)
        .fetch_optional(&network.pool)
        .await?
        .ok_or_else(|| not_found(name))
}

/// Delete a pool none of whose addresses is allocated (`DependencyViolation` otherwise).
pub async fn delete(network: &Network, caller: &Principal, name: &str) -> Result<()> {
    require_operator(caller)?;
    let mut tx = network.pool.begin().await?;
    super::lock_allocations(&mut tx).await?;
    let allocated: Option<i64> = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM network.addresses a WHERE a.pool_name = p.name)
              + (SELECT count(*) FROM network.launch_public_ips l WHERE l.pool_name = p.name)
         FROM network.address_pools p WHERE p.name = $1",
    )
    .bind(name)
    .fetch_optional(&mut *tx)
    .await?;
    match allocated {
        None => return Err(not_found(name)),
        Some(n) if n > 0 => {
            return Err(NetworkError::DependencyViolation(format!(
                "The address pool '{name}' has {n} allocated addresses"
            )))
        }
        Some(_) => {}
    }
    sqlx::query("DELETE FROM network.address_pools WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(pool = %name, "address pool deleted");
    Ok(())
}
