//! Network interfaces (`eni-…`): an address (or several) in a subnet, a MAC, a set of
//! security groups, and at most one attachment to an instance (`eni-attach-…`). Every
//! instance has a primary interface at device index 0, made with it at launch (see
//! [`instances`]); tenants create, attach and detach more. The interfaces' addresses are
//! the subnets' IPAM (`network.network_interface_addresses`, unique per subnet).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{
    NetworkInterfaceAttachmentId, NetworkInterfaceId, SecurityGroupId, SubnetId,
};
use kumo_ec2_query::{filters, Filter, Page};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;

use crate::client_tokens::ClientToken;
use crate::error::{NetworkError, Result};
use crate::{require_write, Network};

pub mod addresses;
pub mod api;
pub mod instances;
mod store;

pub use addresses::{assign_private_ips, unassign_private_ips};
pub use instances::{attach, detach};
use store::{interfaces_where, lock_interface};

/// AWS's limit on a description.
pub const MAX_DESCRIPTION: usize = 255;
/// Addresses one interface holds at most (primary included).
pub const MAX_ADDRESSES_PER_INTERFACE: usize = 50;
/// Security groups per interface (AWS's default quota).
pub const MAX_GROUPS_PER_INTERFACE: usize = 5;

/// `available` (detached) or `in-use` (attached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum InterfaceStatus {
    Available,
    InUse,
}

impl InterfaceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Available => "available",
            Self::InUse => "in-use",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PrivateIpAddress {
    pub private_ip_address: String,
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct GroupIdentifier {
    pub group_id: String,
    pub group_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(as = NetworkInterfaceAttachment)]
pub struct Attachment {
    pub attachment_id: String,
    pub instance_id: String,
    pub instance_owner_id: String,
    pub device_index: i32,
    pub attach_time: DateTime<Utc>,
    pub delete_on_termination: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NetworkInterface {
    pub network_interface_id: String,
    pub owner_id: String,
    pub subnet_id: String,
    pub vpc_id: String,
    pub availability_zone: String,
    /// The subnet's CIDR: the interface's prefix length; the gateway is its first address.
    pub subnet_cidr: String,
    pub mac_address: String,
    pub description: String,
    pub source_dest_check: bool,
    pub interface_type: String,
    pub status: InterfaceStatus,
    /// The primary private address.
    pub private_ip_address: String,
    /// Every private address, the primary first.
    pub private_ip_addresses: Vec<PrivateIpAddress>,
    pub groups: Vec<GroupIdentifier>,
    pub attachment: Option<Attachment>,
    /// The elastic IPs associated with its private addresses.
    pub associations: Vec<crate::addresses::AddressAssociation>,
    pub tags: BTreeMap<String, String>,
}

impl NetworkInterface {
    /// The subnet's network and prefix length.
    pub fn network(&self) -> Result<(Ipv4Addr, u8)> {
        addresses::parse_cidr(&self.subnet_cidr)
    }

    /// The elastic IP of the primary private address, if any (the interface's
    /// `association`).
    pub fn association(&self) -> Option<&crate::addresses::AddressAssociation> {
        self.associations
            .iter()
            .find(|a| a.private_ip_address == self.private_ip_address)
    }

    /// The subnet's gateway (its first address, as AWS's VPC router).
    pub fn gateway(&self) -> Result<Ipv4Addr> {
        let (net, _) = self.network()?;
        Ok(Ipv4Addr::from(u32::from(net) + 1))
    }
}

/// A CreateNetworkInterface request (both APIs decode into it).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateNetworkInterface {
    #[schema(value_type = String)]
    pub subnet_id: SubnetId,
    #[serde(default)]
    pub description: Option<String>,
    /// The primary address; the subnet's lowest free one when absent.
    #[serde(default)]
    pub private_ip_address: Option<String>,
    /// Security groups of the subnet's VPC; its default group when empty.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub groups: Vec<SecurityGroupId>,
    #[serde(default)]
    pub secondary_private_ip_address_count: Option<i64>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The subnet an interface goes into, locked for the address allocation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct SubnetRow {
    pub subnet_id: String,
    pub vpc_id: String,
    pub cidr: String,
    pub zone: String,
}

/// What a new interface is made of, already checked.
pub(crate) struct NewInterface<'a> {
    pub account_id: &'a str,
    pub subnet: &'a SubnetRow,
    pub groups: Vec<String>,
    pub private_ip: Option<Ipv4Addr>,
    pub secondary_count: usize,
    pub description: String,
    /// A MAC to keep (adopted instances); a fresh one otherwise.
    pub mac: Option<String>,
    /// Attached at creation: `(instance, device index, delete on termination, since)`.
    pub attach_to: Option<(&'a str, i32, bool, DateTime<Utc>)>,
}

fn not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidNetworkInterfaceID.NotFound",
        format!("The networkInterface ID '{id}' does not exist"),
    )
}

pub(crate) fn subnet_not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidSubnetID.NotFound",
        format!("The subnet ID '{id}' does not exist"),
    )
}

pub(crate) fn check_description(description: &str) -> Result<()> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(NetworkError::invalid(format!(
            "Description is limited to {MAX_DESCRIPTION} characters"
        )));
    }
    Ok(())
}

/// The caller's subnet, locked (addresses are allocated one launch at a time per subnet).
pub(crate) async fn lock_subnet(
    conn: &mut PgConnection,
    account_id: &str,
    subnet_id: &str,
) -> Result<SubnetRow> {
    sqlx::query_as::<_, SubnetRow>(
        "SELECT subnet_id, vpc_id, cidr::text AS cidr, zone FROM network.subnets
         WHERE subnet_id = $1 AND account_id = $2 FOR NO KEY UPDATE",
    )
    .bind(subnet_id)
    .bind(account_id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| subnet_not_found(subnet_id))
}

/// The security groups for an interface in `vpc_id`: `ids` (the caller's, of that VPC), or
/// the VPC's default group when there are none.
pub(crate) async fn groups_for(
    conn: &mut PgConnection,
    account_id: &str,
    subnet: &SubnetRow,
    ids: &[String],
) -> Result<Vec<String>> {
    if ids.is_empty() {
        let default: Option<String> = sqlx::query_scalar(
            "SELECT group_id FROM network.security_groups WHERE vpc_id = $1 AND is_default",
        )
        .bind(&subnet.vpc_id)
        .fetch_optional(&mut *conn)
        .await?;
        return Ok(default.into_iter().collect());
    }
    if ids.len() > MAX_GROUPS_PER_INTERFACE {
        return Err(NetworkError::LimitExceeded(
            "SecurityGroupsPerInterfaceLimitExceeded",
            format!("An interface can have at most {MAX_GROUPS_PER_INTERFACE} security groups"),
        ));
    }
    let found: Vec<(String, String)> = sqlx::query_as(
        // Key-share locked: a group being deleted is waited for, then not found.
        "SELECT group_id, vpc_id FROM network.security_groups WHERE account_id = $1 AND group_id = ANY($2) FOR KEY SHARE",
    )
    .bind(account_id)
    .bind(ids)
    .fetch_all(&mut *conn)
    .await?;
    let mut groups: Vec<String> = Vec::with_capacity(ids.len());
    for id in ids {
        match found.iter().find(|(g, _)| g == id) {
            None => {
                return Err(NetworkError::NotFound(
                    "InvalidGroup.NotFound",
                    format!("The security group '{id}' does not exist"),
                ))
            }
            Some((_, vpc)) if *vpc != subnet.vpc_id => {
                return Err(NetworkError::Invalid(
                    "InvalidParameter",
                    format!(
                        "Security group {id} and subnet {} belong to different networks.",
                        subnet.subnet_id
                    ),
                ))
            }
            Some(_) if groups.contains(id) => {}
            Some(_) => groups.push(id.clone()),
        }
    }
    Ok(groups)
}

/// A fresh locally administered unicast MAC.
fn fresh_mac() -> String {
    let bytes: [u8; 5] = rand::random();
    format!(
        "02:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4]
    )
}

/// Insert a checked interface with its addresses and groups; returns its id.
pub(crate) async fn insert(conn: &mut PgConnection, new: NewInterface<'_>) -> Result<String> {
    let id = NetworkInterfaceId::generate().into_string();
    let (instance_id, device_index, delete_on_termination, attach_time) = match new.attach_to {
        Some((instance, index, delete, since)) => {
            (Some(instance), Some(index), delete, Some(since))
        }
        None => (None, None, false, None),
    };
    let attachment_id = instance_id.map(|_| NetworkInterfaceAttachmentId::generate().into_string());
    let mac = new.mac.unwrap_or_else(fresh_mac);
    sqlx::query(
        "INSERT INTO network.network_interfaces (network_interface_id, account_id, subnet_id, vpc_id, mac,
             description, instance_id, attachment_id, device_index, attach_time, delete_on_termination)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(new.account_id)
    .bind(&new.subnet.subnet_id)
    .bind(&new.subnet.vpc_id)
    .bind(&mac)
    .bind(&new.description)
    .bind(instance_id)
    .bind(&attachment_id)
    .bind(device_index)
    .bind(attach_time)
    .bind(delete_on_termination)
    .execute(&mut *conn)
    .await
    .map_err(|e| match instance_id {
        Some(instance) if is_unique_violation(&e) => device_taken(instance, device_index.unwrap_or(0)),
        _ => e.into(),
    })?;
    let primary = match new.private_ip {
        Some(ip) => {
            addresses::check_requested(new.subnet, ip)?;
            ip
        }
        None => addresses::lowest_free(&mut *conn, new.subnet, 1)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| addresses::subnet_full(&new.subnet.subnet_id))?,
    };
    addresses::insert(&mut *conn, &id, new.subnet, primary, true).await?;
    if new.secondary_count > 0 {
        for ip in addresses::lowest_free(&mut *conn, new.subnet, new.secondary_count).await? {
            addresses::insert(&mut *conn, &id, new.subnet, ip, false).await?;
        }
    }
    set_groups(&mut *conn, &id, &new.groups).await?;
    Ok(id)
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .is_some_and(|d| d.is_unique_violation())
}

pub(crate) fn device_taken(instance_id: &str, index: i32) -> NetworkError {
    NetworkError::Invalid(
        "InvalidParameterValue",
        format!(
            "Instance '{instance_id}' already has an interface attached at device index '{index}'."
        ),
    )
}

async fn set_groups(conn: &mut PgConnection, id: &str, groups: &[String]) -> Result<()> {
    sqlx::query("DELETE FROM network.network_interface_groups WHERE network_interface_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO network.network_interface_groups (network_interface_id, group_id, position)
         SELECT $1, g, n::int FROM unnest($2::text[]) WITH ORDINALITY AS t(g, n)",
    )
    .bind(id)
    .bind(groups)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The number of secondary addresses asked for, within the per-interface limit.
pub(crate) fn secondary_count(count: Option<i64>) -> Result<usize> {
    match count {
        None => Ok(0),
        Some(n) if n < 1 => Err(NetworkError::invalid(format!(
            "Value ({n}) for parameter secondaryPrivateIpAddressCount is invalid. Expecting a value of at least 1."
        ))),
        Some(n) if n as usize >= MAX_ADDRESSES_PER_INTERFACE => Err(addresses::too_many()),
        Some(n) => Ok(n as usize),
    }
}

/// CreateNetworkInterface: an available interface in the caller's subnet.
pub async fn create(
    network: &Network,
    caller: &Principal,
    input: &CreateNetworkInterface,
) -> Result<NetworkInterface> {
    create_idempotent(network, caller, input, &[], None).await
}

/// CreateNetworkInterface as EC2 has it: with explicit secondary addresses (all or
/// nothing) and its `ClientToken` (a retry with the same parameters answers the interface
/// the first request made; see [`crate::client_tokens`]).
pub async fn create_idempotent(
    network: &Network,
    caller: &Principal,
    input: &CreateNetworkInterface,
    secondaries: &[String],
    client_token: Option<&str>,
) -> Result<NetworkInterface> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let token = client_token
        .map(|t| {
            let fingerprint = serde_json::json!([
                input.subnet_id,
                input.description,
                input.private_ip_address,
                input.groups,
                input.secondary_private_ip_address_count,
                input.tags,
                secondaries,
            ])
            .to_string();
            ClientToken::new("CreateNetworkInterface", t, fingerprint)
        })
        .transpose()?;
    if let Some(token) = &token {
        if let Some(earlier) = token.earlier(&network.pool, account_id).await? {
            return get(network, caller, &earlier).await;
        }
    }
    let (id, claimed) = insert_checked(network, caller, input, token.as_ref()).await?;
    if !claimed || secondaries.is_empty() {
        return get(network, caller, &id).await;
    }
    let interface_id = NetworkInterfaceId::parse(&id)?;
    let assigned =
        addresses::assign_private_ips(network, caller, &interface_id, secondaries, None).await;
    if let Err(e) = assigned {
        // All or nothing: the interface (and its token) go when its addresses cannot be had.
        delete(network, caller, &interface_id).await?;
        if let Some(token) = &token {
            token.release(&network.pool, account_id).await?;
        }
        return Err(e);
    }
    get(network, caller, &id).await
}

/// Checks and inserts a new interface; `(id, true)` when this request made it, `(id,
/// false)` when a concurrent twin with the same token did.
async fn insert_checked(
    network: &Network,
    caller: &Principal,
    input: &CreateNetworkInterface,
    token: Option<&ClientToken<'_>>,
) -> Result<(String, bool)> {
    let description = input.description.clone().unwrap_or_default();
    check_description(&description)?;
    let private_ip = input
        .private_ip_address
        .as_deref()
        .map(addresses::parse_ip)
        .transpose()?;
    let secondary = secondary_count(input.secondary_private_ip_address_count)?;
    crate::tags::validate(&input.tags)?;
    let group_ids: Vec<String> = input.groups.iter().map(|g| g.to_string()).collect();
    let mut tx = network.pool.begin().await?;
    let subnet = lock_subnet(&mut tx, &caller.account_id, input.subnet_id.as_str()).await?;
    let groups = groups_for(&mut tx, &caller.account_id, &subnet, &group_ids).await?;
    let id = insert(
        &mut tx,
        NewInterface {
            account_id: &caller.account_id,
            subnet: &subnet,
            groups,
            private_ip,
            secondary_count: secondary,
            description,
            mac: None,
            attach_to: None,
        },
    )
    .await?;
    if let Some(token) = token {
        if let Some(earlier) = token
            .claim(&mut tx, &network.pool, &caller.account_id, &id)
            .await?
        {
            tx.rollback().await?;
            return Ok((earlier, false));
        }
    }
    crate::tags::put(&mut tx, &caller.account_id, &id, &input.tags).await?;
    tx.commit().await?;
    tracing::info!(network_interface_id = %id, subnet_id = %subnet.subnet_id, account_id = %caller.account_id, "network interface created");
    Ok((id, true))
}

/// DeleteNetworkInterface: only a detached interface (`InvalidNetworkInterface.InUse`).
pub async fn delete(network: &Network, caller: &Principal, id: &NetworkInterfaceId) -> Result<()> {
    require_write(caller)?;
    let mut tx = network.pool.begin().await?;
    let row = lock_interface(&mut tx, &caller.account_id, id.as_str()).await?;
    if row.instance_id.is_some() {
        return Err(NetworkError::Conflict(
            "InvalidNetworkInterface.InUse",
            format!("Network interface '{id}' is currently in use."),
        ));
    }
    store::delete_interfaces(&mut tx, &caller.account_id, &[id.to_string()]).await?;
    tx.commit().await?;
    tracing::info!(network_interface_id = %id, "network interface deleted");
    Ok(())
}

/// One attribute change (ModifyNetworkInterfaceAttribute changes one per call).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum InterfaceChange {
    Description(String),
    SourceDestCheck(bool),
    #[schema(value_type = Vec<String>)]
    Groups(Vec<SecurityGroupId>),
    /// The attachment's delete-on-termination flag.
    DeleteOnTermination {
        #[schema(value_type = String)]
        attachment_id: NetworkInterfaceAttachmentId,
        delete_on_termination: bool,
    },
}

/// ModifyNetworkInterfaceAttribute.
pub async fn modify(
    network: &Network,
    caller: &Principal,
    id: &NetworkInterfaceId,
    change: &InterfaceChange,
) -> Result<()> {
    require_write(caller)?;
    let mut tx = network.pool.begin().await?;
    let row = lock_interface(&mut tx, &caller.account_id, id.as_str()).await?;
    match change {
        InterfaceChange::Description(text) => {
            check_description(text)?;
            store::set_column(&mut tx, id.as_str(), "description", text.clone()).await?;
        }
        InterfaceChange::SourceDestCheck(check) => {
            store::set_column(&mut tx, id.as_str(), "source_dest_check", *check).await?;
        }
        InterfaceChange::Groups(ids) => {
            if ids.is_empty() {
                return Err(NetworkError::Missing("SecurityGroupId".into()));
            }
            let ids: Vec<String> = ids.iter().map(|g| g.to_string()).collect();
            let subnet = SubnetRow {
                subnet_id: row.subnet_id.clone(),
                vpc_id: row.vpc_id.clone(),
                cidr: row.cidr.clone(),
                zone: row.zone.clone(),
            };
            let groups = groups_for(&mut tx, &caller.account_id, &subnet, &ids).await?;
            set_groups(&mut tx, id.as_str(), &groups).await?;
        }
        InterfaceChange::DeleteOnTermination {
            attachment_id,
            delete_on_termination,
        } => {
            if row.attachment_id.as_deref() != Some(attachment_id.as_str()) {
                return Err(instances::attachment_not_found(attachment_id.as_str()));
            }
            store::set_column(
                &mut tx,
                id.as_str(),
                "delete_on_termination",
                *delete_on_termination,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// DescribeNetworkInterfaces' filter names (besides the tag filters).
pub const INTERFACE_FILTERS: [&str; 16] = [
    "network-interface-id",
    "subnet-id",
    "vpc-id",
    "availability-zone",
    "attachment.instance-id",
    "attachment.instance-owner-id",
    "attachment.attachment-id",
    "attachment.device-index",
    "attachment.status",
    "attachment.delete-on-termination",
    "group-id",
    "group-name",
    "private-ip-address",
    "addresses.private-ip-address",
    "status",
    "owner-id",
];

/// What one filter name reads of an interface.
fn filter_values(eni: &NetworkInterface, name: &str) -> Vec<String> {
    let one = |v: &str| vec![v.to_string()];
    let attached = |f: &dyn Fn(&Attachment) -> String| eni.attachment.iter().map(f).collect();
    match name {
        "network-interface-id" => one(&eni.network_interface_id),
        "subnet-id" => one(&eni.subnet_id),
        "vpc-id" => one(&eni.vpc_id),
        "availability-zone" => one(&eni.availability_zone),
        "owner-id" => one(&eni.owner_id),
        "status" => one(eni.status.as_str()),
        "description" => one(&eni.description),
        "mac-address" => one(&eni.mac_address),
        "source-dest-check" => one(&eni.source_dest_check.to_string()),
        "private-ip-address" => one(&eni.private_ip_address),
        "addresses.private-ip-address" => eni
            .private_ip_addresses
            .iter()
            .map(|a| a.private_ip_address.clone())
            .collect(),
        "group-id" => eni.groups.iter().map(|g| g.group_id.clone()).collect(),
        "group-name" => eni.groups.iter().map(|g| g.group_name.clone()).collect(),
        "attachment.instance-id" => attached(&|a| a.instance_id.clone()),
        "attachment.instance-owner-id" => attached(&|a| a.instance_owner_id.clone()),
        "attachment.attachment-id" => attached(&|a| a.attachment_id.clone()),
        "attachment.device-index" => attached(&|a| a.device_index.to_string()),
        "attachment.status" => attached(&|_| "attached".to_string()),
        "attachment.delete-on-termination" => attached(&|a| a.delete_on_termination.to_string()),
        "association.public-ip" => eni
            .associations
            .iter()
            .map(|a| a.public_ip.clone())
            .collect(),
        "association.allocation-id" => eni
            .associations
            .iter()
            .filter_map(|a| a.allocation_id.clone())
            .collect(),
        "association.association-id" => eni
            .associations
            .iter()
            .filter_map(|a| a.association_id.clone())
            .collect(),
        "association.ip-owner-id" => eni
            .associations
            .iter()
            .map(|a| a.ip_owner_id.clone())
            .collect(),
        _ => Vec::new(),
    }
}

fn is_interface_filter(name: &str) -> bool {
    kumo_ec2_query::tags::is_tag_filter(name)
        || INTERFACE_FILTERS.contains(&name)
        || matches!(
            name,
            "description"
                | "mac-address"
                | "source-dest-check"
                | "association.public-ip"
                | "association.allocation-id"
                | "association.association-id"
                | "association.ip-owner-id"
        )
}

/// A page of DescribeNetworkInterfaces.
#[derive(Debug, Clone, Default)]
pub struct DescribeQuery {
    pub ids: Vec<NetworkInterfaceId>,
    pub filters: Vec<Filter>,
    pub page: Option<Page>,
}

/// The caller's interfaces (never another account's), filtered, in id order, paged.
pub async fn describe(
    network: &Network,
    caller: &Principal,
    query: &DescribeQuery,
) -> Result<(Vec<NetworkInterface>, Option<String>)> {
    let ids: Vec<String> = query.ids.iter().map(|id| id.to_string()).collect();
    filters::check_ids("NetworkInterfaceId", &ids)?;
    filters::check_names(&query.filters, is_interface_filter)?;
    let mut conn = network.pool.acquire().await?;
    let found = interfaces_where(
        &mut conn,
        &network.pool,
        "i.account_id = $1 AND (cardinality($2::text[]) = 0 OR i.network_interface_id = ANY($2))",
        &caller.account_id,
        &ids,
    )
    .await?;
    drop(conn);
    if let Some(missing) = ids
        .iter()
        .find(|id| !found.iter().any(|f| &f.network_interface_id == *id))
    {
        return Err(not_found(missing));
    }
    let kept = filters::select_by_fields(
        &caller.account_id,
        found,
        &query.filters,
        filter_values,
        |eni: &NetworkInterface| Some(&eni.tags),
    )
    .await?;
    let page = query.page.clone().unwrap_or_else(Page::all);
    Ok(page.apply(kept, |eni| eni.network_interface_id.clone())?)
}

/// One of the caller's interfaces.
pub async fn get(network: &Network, caller: &Principal, id: &str) -> Result<NetworkInterface> {
    let mut conn = network.pool.acquire().await?;
    interfaces_where(
        &mut conn,
        &network.pool,
        "i.account_id = $1 AND i.network_interface_id = ANY($2)",
        &caller.account_id,
        &[id.to_string()],
    )
    .await?
    .pop()
    .ok_or_else(|| not_found(id))
}
