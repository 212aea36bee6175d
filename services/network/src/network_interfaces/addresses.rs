//! The subnets' IPAM: an interface's addresses are rows unique per subnet. A new address
//! is the subnet's lowest free one; AWS reserves the first four (network, router, DNS,
//! future use) and the last.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use kumo_auth::Principal;
use kumo_common::ids::NetworkInterfaceId;
use sqlx::PgConnection;

use super::store::lock_interface;
use super::{is_unique_violation, lock_subnet, SubnetRow, MAX_ADDRESSES_PER_INTERFACE};
use crate::error::{NetworkError, Result};
use crate::{require_write, Network};

/// `a.b.c.d/n` as `(network, n)`.
pub fn parse_cidr(cidr: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || NetworkError::Internal(format!("bad cidr {cidr}"));
    let (addr, prefix) = cidr.split_once('/').ok_or_else(bad)?;
    let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.parse().map_err(|_| bad())?;
    if prefix > 32 {
        return Err(bad());
    }
    Ok((addr, prefix))
}

/// A private address given by a client.
pub fn parse_ip(text: &str) -> Result<Ipv4Addr> {
    text.parse().map_err(|_| {
        NetworkError::Invalid(
            "InvalidParameterValue",
            format!(
                "Invalid value '{}' for IP address",
                text.chars().take(64).collect::<String>()
            ),
        )
    })
}

/// The usable offsets of a subnet of `prefix` bits: after the first four, before the last.
fn usable(prefix: u8) -> std::ops::Range<u32> {
    let size = 1u32 << (32 - u32::from(prefix.min(31)));
    4..size.saturating_sub(1)
}

/// A requested address must be a usable address of the subnet.
pub(crate) fn check_requested(subnet: &SubnetRow, ip: Ipv4Addr) -> Result<()> {
    let (net, prefix) = parse_cidr(&subnet.cidr)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    if u32::from(ip) & mask != u32::from(net) {
        return Err(NetworkError::invalid(format!(
            "Address {ip} does not fall within the subnet's address range"
        )));
    }
    if !usable(prefix).contains(&(u32::from(ip) - u32::from(net))) {
        return Err(NetworkError::invalid(format!(
            "Address {ip} is reserved in subnet {}",
            subnet.subnet_id
        )));
    }
    Ok(())
}

pub(crate) fn subnet_full(subnet_id: &str) -> NetworkError {
    NetworkError::Invalid(
        "InsufficientFreeAddressesInSubnet",
        format!("The subnet {subnet_id} has no free addresses"),
    )
}

pub(crate) fn too_many() -> NetworkError {
    NetworkError::LimitExceeded(
        "PrivateIpAddressLimitExceeded",
        format!("An interface can have at most {MAX_ADDRESSES_PER_INTERFACE} private addresses"),
    )
}

fn in_use(ip: Ipv4Addr) -> NetworkError {
    NetworkError::Conflict("InvalidIPAddress.InUse", format!("Address {ip} is in use."))
}

/// The `count` lowest free addresses of a subnet locked by the caller's transaction.
pub(crate) async fn lowest_free(
    conn: &mut PgConnection,
    subnet: &SubnetRow,
    count: usize,
) -> Result<Vec<Ipv4Addr>> {
    let (net, prefix) = parse_cidr(&subnet.cidr)?;
    let used: Vec<String> = sqlx::query_scalar(
        "SELECT host(private_ip) FROM network.network_interface_addresses WHERE subnet_id = $1",
    )
    .bind(&subnet.subnet_id)
    .fetch_all(&mut *conn)
    .await?;
    let used: HashSet<Ipv4Addr> = used.iter().filter_map(|s| s.parse().ok()).collect();
    let free: Vec<Ipv4Addr> = usable(prefix)
        .map(|offset| Ipv4Addr::from(u32::from(net) + offset))
        .filter(|ip| !used.contains(ip))
        .take(count)
        .collect();
    if free.len() < count {
        return Err(subnet_full(&subnet.subnet_id));
    }
    Ok(free)
}

/// Record one address of an interface (`InvalidIPAddress.InUse` when taken).
pub(crate) async fn insert(
    conn: &mut PgConnection,
    interface_id: &str,
    subnet: &SubnetRow,
    ip: Ipv4Addr,
    primary: bool,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO network.network_interface_addresses (network_interface_id, subnet_id, private_ip, is_primary)
         VALUES ($1, $2, $3::inet, $4)",
    )
    .bind(interface_id)
    .bind(&subnet.subnet_id)
    .bind(ip.to_string())
    .bind(primary)
    .execute(&mut *conn)
    .await
    .map_err(|e| if is_unique_violation(&e) { in_use(ip) } else { e.into() })?;
    Ok(())
}

/// AssignPrivateIpAddresses: the given secondary addresses, or `count` of the subnet's
/// lowest free ones. Returns the addresses assigned.
pub async fn assign_private_ips(
    network: &Network,
    caller: &Principal,
    id: &NetworkInterfaceId,
    requested: &[String],
    count: Option<i64>,
) -> Result<Vec<Ipv4Addr>> {
    require_write(caller)?;
    let requested: Vec<Ipv4Addr> = requested
        .iter()
        .map(|t| parse_ip(t))
        .collect::<Result<_>>()?;
    let count = match (requested.is_empty(), count) {
        (true, None) => {
            return Err(NetworkError::Missing(
                "PrivateIpAddress or SecondaryPrivateIpAddressCount".into(),
            ))
        }
        (false, Some(_)) => {
            return Err(NetworkError::Invalid(
                "InvalidParameterCombination",
                "Specify either private IP addresses or a secondary address count, not both".into(),
            ))
        }
        (false, None) => requested.len(),
        (true, Some(n)) => super::secondary_count(Some(n))?,
    };
    let mut tx = network.pool.begin().await?;
    let row = lock_interface(&mut tx, &caller.account_id, id.as_str()).await?;
    let subnet = lock_subnet(&mut tx, &caller.account_id, &row.subnet_id).await?;
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM network.network_interface_addresses WHERE network_interface_id = $1",
    )
    .bind(id.as_str())
    .fetch_one(&mut *tx)
    .await?;
    if held as usize + count > MAX_ADDRESSES_PER_INTERFACE {
        return Err(too_many());
    }
    let assigned = if requested.is_empty() {
        lowest_free(&mut tx, &subnet, count).await?
    } else {
        for ip in &requested {
            check_requested(&subnet, *ip)?;
        }
        requested
    };
    for ip in &assigned {
        insert(&mut tx, id.as_str(), &subnet, *ip, false).await?;
    }
    tx.commit().await?;
    Ok(assigned)
}

/// UnassignPrivateIpAddresses: secondary addresses only; every one must be assigned to the
/// interface.
pub async fn unassign_private_ips(
    network: &Network,
    caller: &Principal,
    id: &NetworkInterfaceId,
    addresses: &[String],
) -> Result<()> {
    require_write(caller)?;
    if addresses.is_empty() {
        return Err(NetworkError::Missing("PrivateIpAddress".into()));
    }
    let addresses: Vec<String> = addresses
        .iter()
        .map(|t| parse_ip(t).map(|ip| ip.to_string()))
        .collect::<Result<_>>()?;
    let mut tx = network.pool.begin().await?;
    lock_interface(&mut tx, &caller.account_id, id.as_str()).await?;
    let held: Vec<(String, bool)> = sqlx::query_as(
        "SELECT host(private_ip), is_primary FROM network.network_interface_addresses WHERE network_interface_id = $1",
    )
    .bind(id.as_str())
    .fetch_all(&mut *tx)
    .await?;
    for ip in &addresses {
        match held.iter().find(|(held, _)| held == ip) {
            None => {
                return Err(NetworkError::invalid(format!(
                    "Some of the specified addresses are not assigned to interface {id}"
                )))
            }
            Some((_, true)) => {
                return Err(NetworkError::invalid(format!(
                    "The primary address {ip} of interface {id} cannot be unassigned"
                )))
            }
            Some(_) => {}
        }
    }
    // Their elastic IPs let go first, as in AWS.
    crate::addresses::disassociate_from(&mut tx, &[id.to_string()], &addresses).await?;
    sqlx::query(
        "DELETE FROM network.network_interface_addresses
         WHERE network_interface_id = $1 AND host(private_ip) = ANY($2) AND NOT is_primary",
    )
    .bind(id.as_str())
    .bind(&addresses)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
