//! Interfaces and instances: the primary interface every instance gets at launch (in the
//! launch's own transaction), attaching and detaching more, and giving them back when the
//! instance ends. The network service knows an instance by its primary interface: an
//! instance id without one is not found here.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{InstanceId, NetworkInterfaceAttachmentId, NetworkInterfaceId};
use sqlx::{PgConnection, Postgres, Transaction};

use super::store::{delete_interfaces, interfaces_where, lock_interface, InterfaceRow, COLUMNS};
use super::{
    addresses, check_description, device_taken, groups_for, insert, is_unique_violation,
    lock_subnet, secondary_count, NetworkInterface, NewInterface, SubnetRow,
};
use crate::error::{NetworkError, Result};
use crate::{require_write, Network};

/// The highest device index an instance takes.
pub const MAX_DEVICE_INDEX: i64 = 31;

pub(crate) fn attachment_not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidAttachmentID.NotFound",
        format!("Attachment '{id}' not found"),
    )
}

fn instance_not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidInstanceID.NotFound",
        format!("The instance ID '{id}' does not exist"),
    )
}

/// An instance's network at launch, as RunInstances (or its `NetworkInterface.0.*`) asks.
#[derive(Debug, Clone, Default)]
pub struct LaunchRequest {
    /// The subnet; the account's default subnet of the instance's zone when absent.
    pub subnet_id: Option<String>,
    pub group_ids: Vec<String>,
    /// Group names, of the default VPC.
    pub group_names: Vec<String>,
    pub private_ip: Option<String>,
    pub secondary_count: Option<i64>,
    pub description: Option<String>,
    /// The primary interface goes with the instance unless asked otherwise.
    pub delete_on_termination: Option<bool>,
    /// A launch-time public address (`AssociatePublicIpAddress`); the subnet's
    /// `mapPublicIpOnLaunch` when absent.
    pub associate_public_ip: Option<bool>,
}

/// The account's default VPC.
async fn default_vpc(conn: &mut PgConnection, account_id: &str) -> Result<String> {
    sqlx::query_scalar("SELECT vpc_id FROM network.vpcs WHERE account_id = $1 AND is_default")
        .bind(account_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| {
            NetworkError::Invalid("VPCIdNotSpecified", "No default VPC for this user".into())
        })
}

/// The default VPC's default subnet of `zone`, locked.
async fn default_subnet(
    conn: &mut PgConnection,
    account_id: &str,
    zone: &str,
) -> Result<SubnetRow> {
    let vpc_id = default_vpc(&mut *conn, account_id).await?;
    if let Some(subnet) = zone_subnet(&mut *conn, &vpc_id, zone).await? {
        return Ok(subnet);
    }
    // A zone the default VPC has no subnet for yet (a host joined a new zone): under the
    // VPC's lock, look again, else give the zone a default subnet, as AWS has one per zone.
    crate::vpcs::lock_conn(&mut *conn, account_id, &vpc_id).await?;
    if let Some(subnet) = zone_subnet(&mut *conn, &vpc_id, zone).await? {
        return Ok(subnet);
    }
    if crate::vpcs::add_default_subnet(&mut *conn, account_id, &vpc_id, zone)
        .await?
        .is_some()
    {
        if let Some(subnet) = zone_subnet(&mut *conn, &vpc_id, zone).await? {
            return Ok(subnet);
        }
    }
    Err(NetworkError::Invalid(
        "MissingInput",
        format!(
            "No subnets found for the default VPC '{vpc_id}' in {zone}. Please specify a subnet."
        ),
    ))
}

/// The VPC's subnet for `zone` (its default one first), locked.
async fn zone_subnet(
    conn: &mut PgConnection,
    vpc_id: &str,
    zone: &str,
) -> Result<Option<SubnetRow>> {
    Ok(sqlx::query_as::<_, SubnetRow>(
        "SELECT subnet_id, vpc_id, cidr::text AS cidr, zone FROM network.subnets
         WHERE vpc_id = $1 AND zone = $2 ORDER BY default_for_az DESC, created_at, subnet_id LIMIT 1 FOR NO KEY UPDATE",
    )
    .bind(vpc_id)
    .bind(zone)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Group names of the default VPC as ids (`InvalidGroup.NotFound` for an unknown name).
async fn group_ids_by_name(
    conn: &mut PgConnection,
    account_id: &str,
    vpc_id: &str,
    names: &[String],
) -> Result<Vec<String>> {
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let id: Option<String> = sqlx::query_scalar(
            "SELECT group_id FROM network.security_groups WHERE account_id = $1 AND vpc_id = $2 AND group_name = $3",
        )
        .bind(account_id)
        .bind(vpc_id)
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
        ids.push(id.ok_or_else(|| {
            NetworkError::NotFound(
                "InvalidGroup.NotFound",
                format!("The security group '{name}' does not exist in default VPC '{vpc_id}'"),
            )
        })?);
    }
    Ok(ids)
}

/// The subnet and groups of a launch: the subnet given (or the default one of `zone`).
/// `None` when neither a subnet nor a zone is known yet (the groups are still checked).
async fn resolve(
    conn: &mut PgConnection,
    account_id: &str,
    request: &LaunchRequest,
    zone: Option<&str>,
) -> Result<Option<(SubnetRow, Vec<String>)>> {
    let subnet = match (&request.subnet_id, zone) {
        (Some(id), _) => {
            kumo_common::ids::SubnetId::parse(id)?;
            let subnet = lock_subnet(&mut *conn, account_id, id).await?;
            if let Some(zone) = zone.filter(|z| *z != subnet.zone) {
                return Err(NetworkError::Invalid(
                    "InvalidParameterCombination",
                    format!("Subnet {id} is in {}, not in {zone}", subnet.zone),
                ));
            }
            Some(subnet)
        }
        (None, Some(zone)) => Some(default_subnet(&mut *conn, account_id, zone).await?),
        (None, None) => None,
    };
    let vpc_id = match &subnet {
        Some(s) => s.vpc_id.clone(),
        None => default_vpc(&mut *conn, account_id).await?,
    };
    let mut ids = request.group_ids.clone();
    for id in &ids {
        kumo_common::ids::SecurityGroupId::parse(id)?;
    }
    if !request.group_names.is_empty() {
        let is_default: bool =
            sqlx::query_scalar("SELECT is_default FROM network.vpcs WHERE vpc_id = $1")
                .bind(&vpc_id)
                .fetch_one(&mut *conn)
                .await?;
        if !is_default {
            return Err(NetworkError::Invalid(
                "InvalidParameterCombination",
                "The parameter groupName cannot be used with the parameter subnet".into(),
            ));
        }
        ids.extend(group_ids_by_name(&mut *conn, account_id, &vpc_id, &request.group_names).await?);
    }
    let probe = subnet.clone().unwrap_or_else(|| SubnetRow {
        subnet_id: String::new(),
        vpc_id: vpc_id.clone(),
        cidr: String::new(),
        zone: String::new(),
    });
    let groups = groups_for(&mut *conn, account_id, &probe, &ids).await?;
    Ok(subnet.map(|s| (s, groups)))
}

/// Check a launch's network before any host is claimed; the zone its subnet fixes, if any.
pub async fn plan_launch(
    conn: &mut PgConnection,
    caller: &Principal,
    request: &LaunchRequest,
    zone: Option<&str>,
    count: usize,
) -> Result<Option<String>> {
    require_write(caller)?;
    if let Some(description) = &request.description {
        check_description(description)?;
    }
    secondary_count(request.secondary_count)?;
    let private_ip = request
        .private_ip
        .as_deref()
        .map(addresses::parse_ip)
        .transpose()?;
    if private_ip.is_some() && count > 1 {
        return Err(NetworkError::Invalid(
            "InvalidParameterCombination",
            "A private IP address can be given only when launching one instance".into(),
        ));
    }
    let resolved = resolve(conn, &caller.account_id, request, zone).await?;
    if let (Some((subnet, _)), Some(ip)) = (&resolved, private_ip) {
        addresses::check_requested(subnet, ip)?;
    }
    Ok(resolved.map(|(subnet, _)| subnet.zone))
}

/// Make an instance's primary interface (device index 0) in the launch's transaction.
pub async fn launch_primary(
    network: &Network,
    tx: &mut Transaction<'_, Postgres>,
    caller: &Principal,
    request: &LaunchRequest,
    instance_id: &str,
    zone: &str,
) -> Result<NetworkInterface> {
    let conn: &mut PgConnection = tx;
    let (subnet, groups) = resolve(&mut *conn, &caller.account_id, request, Some(zone))
        .await?
        .ok_or_else(|| NetworkError::Internal("a launch's zone resolves a subnet".into()))?;
    let private_ip = request
        .private_ip
        .as_deref()
        .map(addresses::parse_ip)
        .transpose()?;
    let id = insert(
        &mut *conn,
        NewInterface {
            account_id: &caller.account_id,
            subnet: &subnet,
            groups,
            private_ip,
            secondary_count: secondary_count(request.secondary_count)?,
            description: request.description.clone().unwrap_or_default(),
            mac: None,
            attach_to: Some((
                instance_id,
                0,
                request.delete_on_termination.unwrap_or(true),
                Utc::now(),
            )),
        },
    )
    .await?;
    // The desire first, then the address it asks for (none if the zone's pools are full).
    sqlx::query(
        "UPDATE network.network_interfaces i
         SET public_ip_on_launch = COALESCE($2, s.map_public_ip_on_launch),
             public_ip_wanted = COALESCE($2, s.map_public_ip_on_launch)
         FROM network.subnets s
         WHERE i.network_interface_id = $1 AND s.subnet_id = i.subnet_id",
    )
    .bind(&id)
    .bind(request.associate_public_ip)
    .execute(&mut *conn)
    .await?;
    crate::addresses::launch::reconcile(&mut *conn, std::slice::from_ref(&id)).await?;
    interfaces_where(
        &mut *conn,
        &network.pool,
        "i.account_id = $1 AND i.network_interface_id = ANY($2)",
        &caller.account_id,
        &[id],
    )
    .await?
    .pop()
    .ok_or_else(|| NetworkError::Internal("the new interface vanished".into()))
}

/// Of these instances, the ones with no primary interface yet (one query, so a start-up
/// adopts only what is left to adopt).
pub async fn without_primary(
    pool: &sqlx::PgPool,
    instance_ids: &[String],
) -> Result<std::collections::HashSet<String>> {
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM unnest($1::text[]) AS id
         WHERE NOT EXISTS (SELECT 1 FROM network.network_interfaces
                           WHERE instance_id = id AND device_index = 0)",
    )
    .bind(instance_ids)
    .fetch_all(pool)
    .await?;
    Ok(missing.into_iter().collect())
}

/// An instance that existed before VPCs: give it a primary interface holding the address
/// and MAC it already has, in `subnet_id`. Does nothing when it has one. Idempotent.
pub async fn adopt_primary(
    conn: &mut PgConnection,
    account_id: &str,
    subnet_id: &str,
    instance_id: &str,
    ip: Ipv4Addr,
    mac: &str,
    since: DateTime<Utc>,
) -> Result<bool> {
    let exists: Option<String> = sqlx::query_scalar(
        "SELECT network_interface_id FROM network.network_interfaces WHERE instance_id = $1 AND device_index = 0",
    )
    .bind(instance_id)
    .fetch_optional(&mut *conn)
    .await?;
    if exists.is_some() {
        return Ok(false);
    }
    let subnet = lock_subnet(&mut *conn, account_id, subnet_id).await?;
    let groups = groups_for(&mut *conn, account_id, &subnet, &[]).await?;
    insert(
        &mut *conn,
        NewInterface {
            account_id,
            subnet: &subnet,
            groups,
            private_ip: Some(ip),
            secondary_count: 0,
            description: String::new(),
            mac: Some(mac.to_string()),
            attach_to: Some((instance_id, 0, true, since)),
        },
    )
    .await?;
    Ok(true)
}

/// The instance ended: its delete-on-termination interfaces are deleted (their addresses
/// freed), the others detached. Idempotent; runs in the caller's transaction, so the
/// instance's end and its addresses' release commit together.
pub async fn release_instance(tx: &mut Transaction<'_, Postgres>, instance_id: &str) -> Result<()> {
    crate::addresses::launch::set_instance_running(tx, instance_id, false).await?;
    let attached: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT network_interface_id, account_id, delete_on_termination FROM network.network_interfaces
         WHERE instance_id = $1 ORDER BY network_interface_id FOR NO KEY UPDATE",
    )
    .bind(instance_id)
    .fetch_all(&mut **tx)
    .await?;
    let doomed: Vec<String> = attached
        .iter()
        .filter(|(_, _, delete)| *delete)
        .map(|(id, _, _)| id.clone())
        .collect();
    if let Some((_, account_id, _)) = attached.first() {
        delete_interfaces(tx, account_id, &doomed).await?;
    }
    sqlx::query(
        "UPDATE network.network_interfaces
         SET instance_id = NULL, attachment_id = NULL, device_index = NULL, attach_time = NULL
         WHERE instance_id = $1",
    )
    .bind(instance_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The interfaces of the account's instances, each instance's in device order.
pub async fn of_instances(
    network: &Network,
    account_id: &str,
    instance_ids: &[String],
) -> Result<BTreeMap<String, Vec<NetworkInterface>>> {
    let mut conn = network.pool.acquire().await?;
    let found = interfaces_where(
        &mut conn,
        &network.pool,
        "i.account_id = $1 AND i.instance_id = ANY($2)",
        account_id,
        instance_ids,
    )
    .await?;
    let mut by_instance: BTreeMap<String, Vec<NetworkInterface>> = BTreeMap::new();
    for eni in found {
        if let Some(instance) = eni.attachment.as_ref().map(|a| a.instance_id.clone()) {
            by_instance.entry(instance).or_default().push(eni);
        }
    }
    for list in by_instance.values_mut() {
        list.sort_by_key(|e| e.attachment.as_ref().map_or(0, |a| a.device_index));
    }
    Ok(by_instance)
}

/// AttachNetworkInterface: the caller's available interface to the caller's instance, at
/// `device_index`, in the same VPC and zone. Returns the attachment id.
pub async fn attach(
    network: &Network,
    caller: &Principal,
    id: &NetworkInterfaceId,
    instance_id: &InstanceId,
    device_index: i64,
) -> Result<String> {
    require_write(caller)?;
    if !(1..=MAX_DEVICE_INDEX).contains(&device_index) {
        return Err(NetworkError::invalid(format!(
            "Invalid value '{device_index}' for deviceIndex: expecting 1 to {MAX_DEVICE_INDEX} (0 is the primary interface)"
        )));
    }
    let mut tx = network.pool.begin().await?;
    let eni = lock_interface(&mut tx, &caller.account_id, id.as_str()).await?;
    if eni.instance_id.is_some() {
        return Err(NetworkError::Conflict(
            "InvalidNetworkInterface.InUse",
            format!("Interface {id} is currently in use."),
        ));
    }
    // The primary interface locked too: an instance ending (which locks its interfaces)
    // either commits first, and the instance is not found, or waits for this attachment.
    let primary = sqlx::query_as::<_, InterfaceRow>(&format!(
        "SELECT {COLUMNS} FROM network.network_interfaces i JOIN network.subnets s ON s.subnet_id = i.subnet_id
         WHERE i.account_id = $1 AND i.instance_id = $2 AND i.device_index = 0 FOR NO KEY UPDATE OF i"
    ))
    .bind(&caller.account_id)
    .bind(instance_id.as_str())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| instance_not_found(instance_id.as_str()))?;
    if primary.vpc_id != eni.vpc_id || primary.zone != eni.zone {
        return Err(NetworkError::Invalid(
            "InvalidParameterCombination",
            format!(
                "Interface {id} ({}, {}) and instance {instance_id} ({}, {}) must be in the same VPC and availability zone",
                eni.vpc_id, eni.zone, primary.vpc_id, primary.zone
            ),
        ));
    }
    let attachment_id = NetworkInterfaceAttachmentId::generate().into_string();
    sqlx::query(
        "UPDATE network.network_interfaces
         SET instance_id = $2, attachment_id = $3, device_index = $4, attach_time = now(), delete_on_termination = false
         WHERE network_interface_id = $1",
    )
    .bind(id.as_str())
    .bind(instance_id.as_str())
    .bind(&attachment_id)
    .bind(device_index as i32)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            device_taken(instance_id.as_str(), device_index as i32)
        } else {
            e.into()
        }
    })?;
    tx.commit().await?;
    tracing::info!(network_interface_id = %id, %instance_id, device_index, "network interface attached");
    Ok(attachment_id)
}

/// DetachNetworkInterface: any attachment but an instance's primary interface's.
pub async fn detach(
    network: &Network,
    caller: &Principal,
    attachment_id: &NetworkInterfaceAttachmentId,
) -> Result<()> {
    require_write(caller)?;
    let mut tx = network.pool.begin().await?;
    let found: Option<(String, i32)> = sqlx::query_as(
        "SELECT network_interface_id, device_index FROM network.network_interfaces
         WHERE account_id = $1 AND attachment_id = $2 FOR NO KEY UPDATE",
    )
    .bind(&caller.account_id)
    .bind(attachment_id.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let (id, device_index) = found.ok_or_else(|| attachment_not_found(attachment_id.as_str()))?;
    if device_index == 0 {
        return Err(NetworkError::Invalid(
            "OperationNotPermitted",
            "The network interface at device index 0 cannot be detached.".into(),
        ));
    }
    sqlx::query(
        "UPDATE network.network_interfaces
         SET instance_id = NULL, attachment_id = NULL, device_index = NULL, attach_time = NULL, delete_on_termination = false
         WHERE network_interface_id = $1",
    )
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(network_interface_id = %id, %attachment_id, "network interface detached");
    Ok(())
}
