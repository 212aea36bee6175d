//! The compute service's slice of networking until the network service lands: one
//! default subnet per account (AWS's default-VPC range) and IP address management in the
//! catalog. Each subnet becomes one Linux bridge on every host that runs its instances.

use std::net::Ipv4Addr;

use kumo_compute_protocol::NetworkAttachment;
use sha2::Digest;
use sqlx::{Postgres, Transaction};

use crate::error::{ComputeError, Result};

/// Every account's default subnet (as AWS's default VPC's first subnet).
pub const DEFAULT_CIDR: (Ipv4Addr, u8) = (Ipv4Addr::new(172, 31, 0, 0), 20);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Subnet {
    pub subnet_id: String,
    pub account_id: String,
    pub cidr: String,
    pub gateway: String,
}

impl Subnet {
    pub fn network(&self) -> Result<(Ipv4Addr, u8)> {
        let (addr, prefix) = self
            .cidr
            .split_once('/')
            .ok_or_else(|| ComputeError::Internal(format!("bad cidr {}", self.cidr)))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| ComputeError::Internal(format!("bad cidr {}", self.cidr)))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| ComputeError::Internal(format!("bad cidr {}", self.cidr)))?;
        Ok((addr, prefix))
    }

    pub fn gateway(&self) -> Result<Ipv4Addr> {
        self.gateway
            .split('/')
            .next()
            .and_then(|g| g.parse().ok())
            .ok_or_else(|| ComputeError::Internal(format!("bad gateway {}", self.gateway)))
    }
}

/// The host bridge for a subnet: `kb-` and 12 hex digits (Linux allows 15 characters).
pub fn bridge_name(subnet_id: &str) -> String {
    let digest = sha2::Sha256::digest(subnet_id.as_bytes());
    format!("kb-{}", &hex::encode(digest)[..12])
}

/// A stable, locally administered MAC for an instance.
pub fn mac_for(instance_id: &str) -> String {
    let d = sha2::Sha256::digest(instance_id.as_bytes());
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        d[0], d[1], d[2], d[3], d[4]
    )
}

/// The account's default subnet, created on first use; locked for this transaction so
/// concurrent launches allocate addresses one at a time.
pub async fn default_subnet_for_update(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
) -> Result<Subnet> {
    let (net, prefix) = DEFAULT_CIDR;
    let gateway = Ipv4Addr::from(u32::from(net) + 1);
    sqlx::query(
        "INSERT INTO compute.subnets (subnet_id, account_id, cidr, gateway) VALUES ($1, $2, $3::cidr, $4::inet)
         ON CONFLICT (account_id) DO NOTHING",
    )
    .bind(kumo_common::ids::SubnetId::generate().as_str())
    .bind(account_id)
    .bind(format!("{net}/{prefix}"))
    .bind(gateway.to_string())
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query_as::<_, Subnet>(
        "SELECT subnet_id, account_id, cidr::text AS cidr, host(gateway) AS gateway FROM compute.subnets
         WHERE account_id = $1 FOR UPDATE",
    )
    .bind(account_id)
    .fetch_one(&mut **tx)
    .await?)
}

pub async fn subnet(pool: &sqlx::PgPool, subnet_id: &str) -> Result<Subnet> {
    Ok(sqlx::query_as::<_, Subnet>(
        "SELECT subnet_id, account_id, cidr::text AS cidr, host(gateway) AS gateway FROM compute.subnets WHERE subnet_id = $1",
    )
    .bind(subnet_id)
    .fetch_one(pool)
    .await?)
}

/// Allocate the lowest free address of the subnet (AWS reserves the first four and the last).
pub async fn allocate_ip(
    tx: &mut Transaction<'_, Postgres>,
    subnet: &Subnet,
    instance_id: &str,
) -> Result<Ipv4Addr> {
    let (net, prefix) = subnet.network()?;
    let used: Vec<String> =
        sqlx::query_scalar("SELECT host(ip) FROM compute.ip_allocations WHERE subnet_id = $1")
            .bind(&subnet.subnet_id)
            .fetch_all(&mut **tx)
            .await?;
    let used: std::collections::HashSet<Ipv4Addr> =
        used.iter().filter_map(|s| s.parse().ok()).collect();
    let size = 1u32 << (32 - u32::from(prefix));
    let base = u32::from(net);
    let free = (4..size.saturating_sub(1))
        .map(|offset| Ipv4Addr::from(base + offset))
        .find(|ip| !used.contains(ip))
        .ok_or_else(|| {
            ComputeError::Invalid(
                "InsufficientFreeAddressesInSubnet",
                format!("The subnet {} has no free addresses", subnet.subnet_id),
            )
        })?;
    sqlx::query(
        "INSERT INTO compute.ip_allocations (subnet_id, ip, instance_id) VALUES ($1, $2::inet, $3)",
    )
    .bind(&subnet.subnet_id)
    .bind(free.to_string())
    .bind(instance_id)
    .execute(&mut **tx)
    .await?;
    Ok(free)
}

/// Return an instance's address to the pool.
pub async fn release_ip<'e, E: sqlx::PgExecutor<'e>>(executor: E, instance_id: &str) -> Result<()> {
    sqlx::query("DELETE FROM compute.ip_allocations WHERE instance_id = $1")
        .bind(instance_id)
        .execute(executor)
        .await?;
    Ok(())
}

pub fn attachment(subnet: &Subnet, ip: Ipv4Addr, mac: &str) -> Result<NetworkAttachment> {
    let (_, prefix) = subnet.network()?;
    Ok(NetworkAttachment {
        subnet_id: subnet.subnet_id.clone(),
        bridge: bridge_name(&subnet.subnet_id),
        ip,
        prefix_len: prefix,
        gateway: subnet.gateway()?,
        mac: mac.to_string(),
    })
}
