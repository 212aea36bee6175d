//! Elastic IPs (`eipalloc-…`): public IPv4 addresses allocated to an account from the
//! operator's pools ([`pools`]), associated (`eipassoc-…`) with one private address of one
//! of the account's network interfaces — an instance's primary interface when the caller
//! names the instance — and released. The instance an address reaches is its interface's
//! current attachment. This is the control plane; agents NAT what it stores.

pub mod api;
pub mod launch;
pub mod pools;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{AllocationId, AssociationId, InstanceId, NetworkInterfaceId};
use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};

use crate::error::{NetworkError, Result};
use crate::network_interfaces::addresses::parse_ip;
use crate::tags::{self, Tags};
use crate::{require_write, Network};

/// Elastic IPs one account holds in the region (AWS's default quota).
pub const MAX_ADDRESSES_PER_ACCOUNT: i64 = 5;

/// One elastic IP, as DescribeAddresses shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Address {
    pub allocation_id: String,
    pub account_id: String,
    pub public_ip: String,
    /// The operator's pool it came from.
    pub pool_name: String,
    /// Always `vpc`.
    pub domain: String,
    pub association_id: Option<String>,
    pub network_interface_id: Option<String>,
    /// The associated private address of the interface.
    pub private_ip_address: Option<String>,
    /// The instance the interface is attached to, if any.
    pub instance_id: Option<String>,
    pub subnet_id: Option<String>,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub tags: Tags,
}

/// A public address (an elastic IP, or a launch-time one) as the interface it maps to
/// shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AddressAssociation {
    pub private_ip_address: String,
    pub public_ip: String,
    /// The elastic IP's; none for a launch-time public address.
    pub allocation_id: Option<String>,
    pub association_id: Option<String>,
    /// The account that owns the elastic IP; `amazon` for a launch-time public address.
    pub ip_owner_id: String,
    /// Whether the VPC gives public DNS names (`enableDnsHostnames`).
    pub dns_hostnames: bool,
}

impl AddressAssociation {
    /// `ec2-a-b-c-d.compute-1.amazonaws.com` (or the region's form) when the VPC has DNS
    /// hostnames; empty otherwise, as in AWS.
    pub fn public_dns_name(&self, region: &str) -> String {
        if self.dns_hostnames {
            kumo_ec2_query::zones::public_dns_name(region, &self.public_ip)
        } else {
            String::new()
        }
    }
}

/// What AssociateAddress targets: an instance (its primary interface) or an interface,
/// optionally one of its private addresses (the primary one otherwise).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssociateAddress {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub instance_id: Option<InstanceId>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub network_interface_id: Option<NetworkInterfaceId>,
    #[serde(default)]
    pub private_ip_address: Option<String>,
    /// Move an address that is already associated (`Resource.AlreadyAssociated` otherwise).
    #[serde(default)]
    pub allow_reassociation: bool,
}

pub fn not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidAllocationID.NotFound",
        format!("The allocation ID '{id}' does not exist"),
    )
}

fn address_not_found(ip: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidAddress.NotFound",
        format!("Address '{ip}' not found."),
    )
}

fn association_not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidAssociationID.NotFound",
        format!("The association ID '{id}' does not exist"),
    )
}

/// Allocations and pool changes take this lock: one at a time, so the lowest free address
/// and the per-account count are read and used without a race.
pub(crate) async fn lock_allocations(conn: &mut PgConnection) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('network.addresses'))")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

const SELECT: &str = "SELECT a.allocation_id, a.account_id, host(a.public_ip) AS public_ip, a.pool_name,
        a.domain, a.association_id, a.network_interface_id, host(a.private_ip) AS private_ip_address,
        i.instance_id, i.subnet_id, a.created_at
    FROM network.addresses a
    LEFT JOIN network.network_interfaces i ON i.network_interface_id = a.network_interface_id";

/// The lowest address of the pools (of `zone`, or of any zone) that neither an elastic
/// IP nor a launch-time public address holds: (pool, address). Callers hold
/// [`lock_allocations`].
pub(crate) async fn lowest_free(
    conn: &mut PgConnection,
    zone: Option<&str>,
) -> Result<Option<(String, String)>> {
    // Blocks of /30 and larger keep their first and last addresses out.
    Ok(sqlx::query_as(
        "SELECT p.name, host(set_masklen(p.cidr::inet, 32) + g.n)
         FROM network.address_pools p
         CROSS JOIN LATERAL generate_series(
             CASE WHEN masklen(p.cidr) >= 31 THEN 0 ELSE 1 END,
             (2::bigint ^ (32 - masklen(p.cidr)))::bigint - CASE WHEN masklen(p.cidr) >= 31 THEN 1 ELSE 2 END
         ) AS g(n)
         WHERE ($1::text IS NULL OR p.zone = $1)
           AND NOT EXISTS (
             SELECT 1 FROM network.addresses a WHERE a.public_ip = set_masklen(p.cidr::inet, 32) + g.n)
           AND NOT EXISTS (
             SELECT 1 FROM network.launch_public_ips l WHERE l.public_ip = set_masklen(p.cidr::inet, 32) + g.n)
         ORDER BY set_masklen(p.cidr::inet, 32) + g.n
         LIMIT 1",
    )
    .bind(zone)
    .fetch_optional(&mut *conn)
    .await?)
}

/// AllocateAddress: the lowest free address of the pools, for the caller's account.
pub async fn allocate(network: &Network, caller: &Principal, tags: &Tags) -> Result<Address> {
    require_write(caller)?;
    tags::validate(tags)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    lock_allocations(&mut tx).await?;
    let held: i64 =
        sqlx::query_scalar("SELECT count(*) FROM network.addresses WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?;
    if held >= MAX_ADDRESSES_PER_ACCOUNT {
        return Err(NetworkError::LimitExceeded(
            "AddressLimitExceeded",
            "The maximum number of addresses has been reached.".into(),
        ));
    }
    let free = lowest_free(&mut tx, None).await?;
    let (pool, ip) = free.ok_or_else(|| {
        NetworkError::Conflict(
            "InsufficientAddressCapacity",
            "There are not enough free public addresses to satisfy your request.".into(),
        )
    })?;
    let id = AllocationId::generate().into_string();
    sqlx::query(
        "INSERT INTO network.addresses (allocation_id, account_id, public_ip, pool_name)
         VALUES ($1, $2, $3::inet, $4)",
    )
    .bind(&id)
    .bind(account_id)
    .bind(&ip)
    .bind(&pool)
    .execute(&mut *tx)
    .await?;
    tags::put(&mut tx, account_id, &id, tags).await?;
    tx.commit().await?;
    tracing::info!(allocation_id = %id, public_ip = %ip, %account_id, "elastic IP allocated");
    get(network, caller, &id).await
}

/// An elastic IP of the caller's, by allocation id or public address, locked.
async fn lock_address(
    conn: &mut PgConnection,
    account_id: &str,
    allocation: &AddressRef,
) -> Result<Address> {
    let (condition, value) = allocation.condition();
    sqlx::query_as::<_, Address>(&format!(
        "{SELECT} WHERE a.account_id = $1 AND {condition} FOR NO KEY UPDATE OF a"
    ))
    .bind(account_id)
    .bind(&value)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| allocation.not_found())
}

/// The interface an elastic IP of the caller's is on now, unlocked (which one to lock).
async fn peek_interface(
    pool: &PgPool,
    account_id: &str,
    allocation: &AddressRef,
) -> Result<Option<String>> {
    let (condition, value) = allocation.condition();
    let found: Option<Option<String>> = sqlx::query_scalar(&format!(
        "SELECT a.network_interface_id FROM network.addresses a WHERE a.account_id = $1 AND {condition}"
    ))
    .bind(account_id)
    .bind(&value)
    .fetch_optional(pool)
    .await?;
    found.ok_or_else(|| allocation.not_found())
}

/// An elastic IP of the caller's, locked together with the one `(eni, private_ip)` has (if
/// another), in allocation id order.
async fn lock_with_target(
    conn: &mut PgConnection,
    account_id: &str,
    allocation: &AddressRef,
    eni: &str,
    private_ip: &str,
) -> Result<Address> {
    let (condition, value) = allocation.condition();
    let locked = sqlx::query_as::<_, Address>(&format!(
        "{SELECT} WHERE a.account_id = $1
           AND ({condition} OR (a.network_interface_id = $3 AND a.private_ip = $4::inet))
         ORDER BY a.allocation_id FOR NO KEY UPDATE OF a"
    ))
    .bind(account_id)
    .bind(&value)
    .bind(eni)
    .bind(private_ip)
    .fetch_all(&mut *conn)
    .await?;
    locked
        .into_iter()
        .find(|a| match allocation {
            AddressRef::Allocation(id) => a.allocation_id == id.as_str(),
            AddressRef::PublicIp(ip) => a.public_ip == ip.to_string(),
        })
        .ok_or_else(|| allocation.not_found())
}

/// How a request names an elastic IP: its allocation id, or (as older clients do) its
/// public address.
#[derive(Debug, Clone)]
pub enum AddressRef {
    Allocation(AllocationId),
    PublicIp(Ipv4Addr),
}

impl AddressRef {
    /// The SQL condition on `a` (with `$2`) naming this address, and `$2`.
    fn condition(&self) -> (&'static str, String) {
        match self {
            AddressRef::Allocation(id) => ("a.allocation_id = $2", id.to_string()),
            AddressRef::PublicIp(ip) => ("a.public_ip = $2::inet", ip.to_string()),
        }
    }

    fn not_found(&self) -> NetworkError {
        match self {
            AddressRef::Allocation(id) => not_found(id.as_str()),
            AddressRef::PublicIp(ip) => address_not_found(&ip.to_string()),
        }
    }

    /// `AllocationId` if given, else `PublicIp`; `missing` names the parameter.
    pub fn parse(
        allocation_id: Option<&str>,
        public_ip: Option<&str>,
        missing: &str,
    ) -> Result<Self> {
        match (allocation_id, public_ip) {
            (Some(id), _) => Ok(Self::Allocation(AllocationId::parse(id)?)),
            (None, Some(ip)) => Ok(Self::PublicIp(parse_ip(ip)?)),
            (None, None) => Err(NetworkError::Missing(missing.into())),
        }
    }
}

/// The interface (and its private address) an association targets, locked, with `also`
/// (the interface the address leaves), in id order.
async fn target(
    conn: &mut PgConnection,
    account_id: &str,
    request: &AssociateAddress,
    also: Option<&str>,
) -> Result<(String, String, String)> {
    let (condition, value, missing): (&str, String, fn(&str) -> NetworkError) =
        match (&request.instance_id, &request.network_interface_id) {
            (Some(_), Some(_)) => {
                return Err(NetworkError::Invalid(
                    "InvalidParameterCombination",
                    "You can specify either an instance ID or a network interface ID, not both."
                        .into(),
                ))
            }
            (Some(instance), None) => (
                "i.instance_id = $2 AND i.device_index = 0",
                instance.to_string(),
                |id| {
                    NetworkError::NotFound(
                        "InvalidInstanceID.NotFound",
                        format!("The instance ID '{id}' does not exist"),
                    )
                },
            ),
            (None, Some(eni)) => ("i.network_interface_id = $2", eni.to_string(), |id| {
                NetworkError::NotFound(
                    "InvalidNetworkInterfaceID.NotFound",
                    format!("The networkInterface ID '{id}' does not exist"),
                )
            }),
            (None, None) => return Err(NetworkError::Missing("InstanceId".into())),
        };
    let locked: Vec<(String, String, bool)> = sqlx::query_as(&format!(
        "SELECT i.network_interface_id, i.vpc_id, COALESCE({condition}, false)
         FROM network.network_interfaces i
         WHERE i.account_id = $1 AND ({condition} OR i.network_interface_id = $3)
         ORDER BY i.network_interface_id FOR NO KEY UPDATE"
    ))
    .bind(account_id)
    .bind(&value)
    .bind(also)
    .fetch_all(&mut *conn)
    .await?;
    let (eni, vpc_id, _) = locked
        .into_iter()
        .find(|(_, _, is_target)| *is_target)
        .ok_or_else(|| missing(&value))?;
    // Shared lock: a concurrent DetachInternetGateway waits for this association (and then
    // refuses, the address being mapped), or goes first and this finds no gateway.
    let gateway: Option<String> = sqlx::query_scalar(
        "SELECT internet_gateway_id FROM network.internet_gateways WHERE vpc_id = $1 FOR SHARE",
    )
    .bind(&vpc_id)
    .fetch_optional(&mut *conn)
    .await?;
    if gateway.is_none() {
        return Err(NetworkError::Invalid(
            "Gateway.NotAttached",
            format!("Network {vpc_id} is not attached to any internet gateway"),
        ));
    }
    let wanted = request
        .private_ip_address
        .as_deref()
        .map(parse_ip)
        .transpose()?
        .map(|ip| ip.to_string());
    let held: Vec<(String, bool)> = sqlx::query_as(
        "SELECT host(private_ip), is_primary FROM network.network_interface_addresses
         WHERE network_interface_id = $1",
    )
    .bind(&eni)
    .fetch_all(&mut *conn)
    .await?;
    let private_ip = match wanted {
        Some(ip) if held.iter().any(|(held, _)| *held == ip) => ip,
        Some(ip) => {
            return Err(NetworkError::invalid(format!(
                "The private IP address {ip} is not assigned to network interface {eni}"
            )))
        }
        None => held
            .into_iter()
            .find(|(_, primary)| *primary)
            .map(|(ip, _)| ip)
            .ok_or_else(|| {
                NetworkError::Internal(format!("interface {eni} has no primary address"))
            })?,
    };
    Ok((eni, vpc_id, private_ip))
}

/// AssociateAddress: the caller's elastic IP to a private address of the caller's
/// instance or interface, in a VPC with an internet gateway. An elastic IP already
/// associated moves only with `allow_reassociation`; one the target address already has
/// is disassociated, as in AWS. Returns the new association id.
pub async fn associate(
    network: &Network,
    caller: &Principal,
    address: &AddressRef,
    request: &AssociateAddress,
) -> Result<String> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    // Every interface involved (the target, the one the address leaves), then every
    // address (this one, the one the target address has), each set in id order: the order
    // an interface's end (deletion, termination, unassignment) takes them, and the same
    // for two crossed re-associations, so none of them can deadlock. Which interface the
    // address leaves is read before its lock: if it moved meanwhile, lock again.
    let mut attempts = 0;
    let (mut tx, eni, private_ip, current) = loop {
        let leaving = peek_interface(&network.pool, account_id, address).await?;
        let mut tx = network.pool.begin().await?;
        let (eni, _, private_ip) = target(&mut tx, account_id, request, leaving.as_deref()).await?;
        let current = lock_with_target(&mut tx, account_id, address, &eni, &private_ip).await?;
        if current.network_interface_id == leaving {
            break (tx, eni, private_ip, current);
        }
        attempts += 1;
        if attempts == 5 {
            return Err(NetworkError::Internal(format!(
                "address {} keeps moving",
                current.allocation_id
            )));
        }
    };
    if let Some(association) = &current.association_id {
        if !request.allow_reassociation {
            return Err(NetworkError::Conflict(
                "Resource.AlreadyAssociated",
                format!(
                    "resource {} is already associated with associate-id {association}",
                    current.allocation_id
                ),
            ));
        }
    }
    // The target's previous elastic IP, if another, lets go of it.
    sqlx::query(
        "UPDATE network.addresses
         SET association_id = NULL, network_interface_id = NULL, private_ip = NULL, associated_at = NULL
         WHERE network_interface_id = $1 AND private_ip = $2::inet",
    )
    .bind(&eni)
    .bind(&private_ip)
    .execute(&mut *tx)
    .await?;
    let association_id = AssociationId::generate().into_string();
    sqlx::query(
        "UPDATE network.addresses
         SET association_id = $2, network_interface_id = $3, private_ip = $4::inet, associated_at = now()
         WHERE allocation_id = $1",
    )
    .bind(&current.allocation_id)
    .bind(&association_id)
    .bind(&eni)
    .bind(&private_ip)
    .execute(&mut *tx)
    .await?;
    // The target's launch-time public address steps aside; the interface the address
    // leaves (on reassociation) may get its own back.
    let mut touched = vec![eni.clone()];
    touched.extend(current.network_interface_id.clone());
    launch::reconcile(&mut tx, &touched).await?;
    tx.commit().await?;
    tracing::info!(allocation_id = %current.allocation_id, %association_id, network_interface_id = %eni, %private_ip, "elastic IP associated");
    Ok(association_id)
}

/// DisassociateAddress, by association id or public address. The interface it leaves
/// gets its launch-time public address back, if it was launched with one (as in AWS).
pub async fn disassociate(
    network: &Network,
    caller: &Principal,
    association: &AssociationRef,
) -> Result<()> {
    require_write(caller)?;
    let (condition, value) = match association {
        AssociationRef::Association(id) => ("association_id = $2", id.to_string()),
        AssociationRef::PublicIp(ip) => ("public_ip = $2::inet", ip.to_string()),
    };
    let mut tx = network.pool.begin().await?;
    let done: Option<(String, String)> = sqlx::query_as(&format!(
        "UPDATE network.addresses a
         SET association_id = NULL, network_interface_id = NULL, private_ip = NULL, associated_at = NULL
         FROM network.addresses old
         WHERE old.allocation_id = a.allocation_id
           AND a.account_id = $1 AND a.{condition} AND a.association_id IS NOT NULL
         RETURNING a.allocation_id, old.network_interface_id"
    ))
    .bind(&caller.account_id)
    .bind(&value)
    .fetch_optional(&mut *tx)
    .await?;
    let (allocation_id, interface) = done.ok_or_else(|| match association {
        AssociationRef::Association(id) => association_not_found(id.as_str()),
        AssociationRef::PublicIp(ip) => address_not_found(&ip.to_string()),
    })?;
    launch::reconcile(&mut tx, &[interface]).await?;
    tx.commit().await?;
    tracing::info!(%allocation_id, "elastic IP disassociated");
    Ok(())
}

/// How DisassociateAddress names an association.
#[derive(Debug, Clone)]
pub enum AssociationRef {
    Association(AssociationId),
    PublicIp(Ipv4Addr),
}

impl AssociationRef {
    pub fn parse(association_id: Option<&str>, public_ip: Option<&str>) -> Result<Self> {
        match (association_id, public_ip) {
            (Some(id), _) => Ok(Self::Association(AssociationId::parse(id)?)),
            (None, Some(ip)) => Ok(Self::PublicIp(parse_ip(ip)?)),
            (None, None) => Err(NetworkError::Missing("AssociationId".into())),
        }
    }
}

/// ReleaseAddress: an unassociated elastic IP goes back to its pool
/// (`InvalidIPAddress.InUse` while associated).
pub async fn release(network: &Network, caller: &Principal, address: &AddressRef) -> Result<()> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    let current = lock_address(&mut tx, account_id, address).await?;
    if current.association_id.is_some() {
        return Err(NetworkError::Conflict(
            "InvalidIPAddress.InUse",
            format!("Address {} is in use.", current.allocation_id),
        ));
    }
    sqlx::query("DELETE FROM network.addresses WHERE allocation_id = $1")
        .bind(&current.allocation_id)
        .execute(&mut *tx)
        .await?;
    tags::delete_all(
        &mut tx,
        account_id,
        std::slice::from_ref(&current.allocation_id),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(allocation_id = %current.allocation_id, public_ip = %current.public_ip, "elastic IP released");
    Ok(())
}

/// The caller's elastic IPs: all, or those of `allocation_ids` and `public_ips` (each
/// must be the caller's: `InvalidAllocationID.NotFound`, `InvalidAddress.NotFound`), by
/// public address, with their tags.
pub async fn list(
    network: &Network,
    caller: &Principal,
    allocation_ids: &[String],
    public_ips: &[String],
) -> Result<Vec<Address>> {
    for id in allocation_ids {
        AllocationId::parse(id)?;
    }
    let ips: Vec<String> = public_ips
        .iter()
        .map(|ip| parse_ip(ip).map(|ip| ip.to_string()))
        .collect::<Result<_>>()?;
    let mut found = sqlx::query_as::<_, Address>(&format!(
        "{SELECT} WHERE a.account_id = $1
           AND (cardinality($2::text[]) + cardinality($3::text[]) = 0
                OR a.allocation_id = ANY($2) OR host(a.public_ip) = ANY($3))
         ORDER BY a.public_ip"
    ))
    .bind(&caller.account_id)
    .bind(allocation_ids)
    .bind(&ips)
    .fetch_all(&network.pool)
    .await?;
    if let Some(missing) = allocation_ids
        .iter()
        .find(|id| !found.iter().any(|a| &a.allocation_id == *id))
    {
        return Err(not_found(missing));
    }
    if let Some(missing) = ips
        .iter()
        .find(|ip| !found.iter().any(|a| &a.public_ip == *ip))
    {
        return Err(address_not_found(missing));
    }
    let ids: Vec<String> = found.iter().map(|a| a.allocation_id.clone()).collect();
    let mut all_tags = tags::for_resources(&network.pool, &caller.account_id, &ids).await?;
    for address in &mut found {
        address.tags = all_tags.remove(&address.allocation_id).unwrap_or_default();
    }
    Ok(found)
}

pub async fn get(network: &Network, caller: &Principal, id: &str) -> Result<Address> {
    list(network, caller, &[id.to_string()], &[])
        .await?
        .pop()
        .ok_or_else(|| not_found(id))
}

/// The public addresses (elastic and launch-time) mapped to each of the interfaces (for
/// their `association`), from the `network.public_mappings` view.
pub(crate) async fn of_interfaces(
    conn: &mut PgConnection,
    interface_ids: &[String],
) -> Result<BTreeMap<String, Vec<AddressAssociation>>> {
    type Row = (
        String,
        String,
        String,
        Option<String>,
        Option<String>,
        String,
        bool,
    );
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT m.network_interface_id, host(m.private_ip), host(m.public_ip), m.allocation_id,
                m.association_id, m.ip_owner_id, v.enable_dns_hostnames
         FROM network.public_mappings m
         JOIN network.network_interfaces i ON i.network_interface_id = m.network_interface_id
         JOIN network.vpcs v ON v.vpc_id = i.vpc_id
         WHERE m.network_interface_id = ANY($1) ORDER BY m.network_interface_id, m.private_ip",
    )
    .bind(interface_ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_interface: BTreeMap<String, Vec<AddressAssociation>> = BTreeMap::new();
    for (eni, private_ip, public_ip, allocation_id, association_id, owner, dns) in rows {
        by_interface
            .entry(eni)
            .or_default()
            .push(AddressAssociation {
                private_ip_address: private_ip,
                public_ip,
                allocation_id,
                association_id,
                ip_owner_id: owner,
                dns_hostnames: dns,
            });
    }
    Ok(by_interface)
}

/// Interfaces going away (deleted, or their instance terminated) or private addresses
/// unassigned let go of their elastic IPs, in the caller's transaction. `private_ips`
/// empty: every address of the interfaces.
pub(crate) async fn disassociate_from(
    conn: &mut PgConnection,
    interface_ids: &[String],
    private_ips: &[String],
) -> Result<()> {
    if interface_ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE network.addresses
         SET association_id = NULL, network_interface_id = NULL, private_ip = NULL, associated_at = NULL
         WHERE network_interface_id = ANY($1)
           AND (cardinality($2::text[]) = 0 OR host(private_ip) = ANY($2))",
    )
    .bind(interface_ids)
    .bind(private_ips)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
