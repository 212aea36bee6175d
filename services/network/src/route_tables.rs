//! Route tables (`rtb-…`): routes (the VPC's `local` route, internet-gateway and network
//! interface targets) and associations (`rtbassoc-…`). Each VPC has one main table, whose
//! association row has no subnet; a subnet without an explicit association uses it.

pub mod api;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{NetworkInterfaceId, RouteTableAssociationId, RouteTableId};
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::cidr::Ipv4Block;
use crate::client_tokens::ClientToken;
use crate::error::{NetworkError, Result};
use crate::listed::found_with_tags;
use crate::tags::{self, Tags};
use crate::{internet_gateways, require_write, subnets, vpcs, Network};

/// Route tables one VPC may hold, and routes one table may hold (AWS's default quotas).
pub const MAX_TABLES_PER_VPC: i64 = 200;
pub const MAX_ROUTES_PER_TABLE: i64 = 50;

/// Where a route sends its traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteTarget {
    /// Within the VPC.
    Local,
    /// An internet gateway attached to the VPC.
    Gateway(String),
    /// A network interface in the VPC.
    NetworkInterface(String),
}

impl RouteTarget {
    fn kind(&self) -> &'static str {
        match self {
            RouteTarget::Local => "local",
            RouteTarget::Gateway(_) => "gateway",
            RouteTarget::NetworkInterface(_) => "network-interface",
        }
    }

    fn id(&self) -> &str {
        match self {
            RouteTarget::Local => "local",
            RouteTarget::Gateway(id) | RouteTarget::NetworkInterface(id) => id,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Route {
    #[serde(skip)]
    pub route_table_id: String,
    pub destination_cidr_block: String,
    /// `local` or an internet gateway's id.
    pub gateway_id: Option<String>,
    pub network_interface_id: Option<String>,
    /// `CreateRouteTable` (made with the table) or `CreateRoute`.
    pub origin: String,
    /// `active`, or `blackhole` when the target is gone or detached.
    pub state: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct RouteTableAssociation {
    pub association_id: String,
    pub route_table_id: String,
    /// The subnet (none for the main association).
    pub subnet_id: Option<String>,
    pub main: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct RouteTable {
    pub route_table_id: String,
    pub account_id: String,
    pub vpc_id: String,
    pub is_main: bool,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub routes: Vec<Route>,
    #[sqlx(skip)]
    pub associations: Vec<RouteTableAssociation>,
    #[sqlx(skip)]
    pub tags: Tags,
}

const COLUMNS: &str = "route_table_id, account_id, vpc_id, is_main, created_at";

pub fn not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidRouteTableID.NotFound",
        format!("The routeTable ID '{id}' does not exist"),
    )
}

fn association_not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidAssociationID.NotFound",
        format!("The association ID '{id}' does not exist"),
    )
}

fn in_use(id: &str) -> NetworkError {
    NetworkError::DependencyViolation(format!(
        "The routeTable '{id}' has dependencies and cannot be deleted."
    ))
}

/// Insert a table of `vpc_id` with its `local` route (and, for the main table, the main
/// association); returns its id.
pub(crate) async fn create_in(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    vpc_id: &str,
    vpc_block: Ipv4Block,
    is_main: bool,
) -> Result<String> {
    let id = RouteTableId::generate().into_string();
    sqlx::query(
        "INSERT INTO network.route_tables (route_table_id, account_id, vpc_id, is_main)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(account_id)
    .bind(vpc_id)
    .bind(is_main)
    .execute(&mut **tx)
    .await?;
    add_route_in(tx, &id, vpc_block, &RouteTarget::Local, "CreateRouteTable").await?;
    if is_main {
        insert_association(tx, account_id, &id, None).await?;
    }
    Ok(id)
}

pub(crate) async fn add_route_in(
    tx: &mut Transaction<'_, Postgres>,
    route_table_id: &str,
    destination: Ipv4Block,
    target: &RouteTarget,
    origin: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO network.routes (route_table_id, destination, target_kind, target_id, origin)
         VALUES ($1, $2::cidr, $3, $4, $5)",
    )
    .bind(route_table_id)
    .bind(destination.to_string())
    .bind(target.kind())
    .bind(target.id())
    .bind(origin)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_association(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    route_table_id: &str,
    subnet_id: Option<&str>,
) -> Result<String> {
    let id = RouteTableAssociationId::generate().into_string();
    sqlx::query(
        "INSERT INTO network.route_table_associations
             (association_id, account_id, route_table_id, subnet_id)
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&id)
    .bind(account_id)
    .bind(route_table_id)
    .bind(subnet_id)
    .execute(&mut **tx)
    .await?;
    Ok(id)
}

pub async fn create(
    network: &Network,
    caller: &Principal,
    vpc_id: &str,
    tags: &Tags,
) -> Result<RouteTable> {
    create_idempotent(network, caller, vpc_id, tags, None).await
}

/// CreateRouteTable with its `ClientToken`: a retry with the same VPC and tags answers the
/// table the first request made (see [`crate::client_tokens`]).
pub async fn create_idempotent(
    network: &Network,
    caller: &Principal,
    vpc_id: &str,
    tags: &Tags,
    client_token: Option<&str>,
) -> Result<RouteTable> {
    require_write(caller)?;
    tags::validate(tags)?;
    let account_id = caller.account_id.as_str();
    let token = client_token
        .map(|t| {
            let fingerprint = serde_json::json!([vpc_id, tags]).to_string();
            ClientToken::new("CreateRouteTable", t, fingerprint)
        })
        .transpose()?;
    if let Some(token) = &token {
        if let Some(earlier) = token.earlier(&network.pool, account_id).await? {
            return get(&network.pool, caller, &earlier).await;
        }
    }
    let mut tx = network.pool.begin().await?;
    let vpc = vpcs::lock(&mut tx, account_id, vpc_id).await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM network.route_tables WHERE vpc_id = $1")
            .bind(vpc_id)
            .fetch_one(&mut *tx)
            .await?;
    if count >= MAX_TABLES_PER_VPC {
        return Err(NetworkError::LimitExceeded(
            "RouteTableLimitExceeded",
            format!("The maximum number of route tables has been reached ({MAX_TABLES_PER_VPC} per VPC)."),
        ));
    }
    let id = create_in(&mut tx, account_id, vpc_id, vpc.block()?, false).await?;
    if let Some(token) = &token {
        if let Some(earlier) = token.claim(&mut tx, &network.pool, account_id, &id).await? {
            tx.rollback().await?;
            return get(&network.pool, caller, &earlier).await;
        }
    }
    tags::put(&mut tx, account_id, &id, tags).await?;
    tx.commit().await?;
    get(&network.pool, caller, &id).await
}

/// The caller's route tables (all, or those of `ids`: an unknown one is
/// `InvalidRouteTableID.NotFound`), oldest first, with routes, associations and tags.
pub async fn list(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<Vec<RouteTable>> {
    for id in ids {
        RouteTableId::parse(id)?;
    }
    let mut tables = sqlx::query_as::<_, RouteTable>(&format!(
        "SELECT {COLUMNS} FROM network.route_tables
         WHERE account_id = $1 AND (cardinality($2::text[]) = 0 OR route_table_id = ANY($2))
         ORDER BY created_at, route_table_id"
    ))
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    let found: Vec<String> = tables.iter().map(|t| t.route_table_id.clone()).collect();
    let routes = sqlx::query_as::<_, Route>(
        "SELECT r.route_table_id, r.destination::text AS destination_cidr_block,
                CASE WHEN r.target_kind IN ('local', 'gateway') THEN r.target_id END AS gateway_id,
                CASE WHEN r.target_kind = 'network-interface' THEN r.target_id END AS network_interface_id,
                r.origin,
                CASE WHEN r.target_kind = 'gateway' AND NOT EXISTS (
                         SELECT 1 FROM network.internet_gateways g
                         WHERE g.internet_gateway_id = r.target_id AND g.vpc_id = t.vpc_id)
                     THEN 'blackhole'
                     WHEN r.target_kind = 'network-interface' AND NOT EXISTS (
                         SELECT 1 FROM network.network_interfaces n
                         WHERE n.network_interface_id = r.target_id)
                     THEN 'blackhole' ELSE 'active' END AS state
         FROM network.routes r JOIN network.route_tables t USING (route_table_id)
         WHERE r.route_table_id = ANY($1)
         ORDER BY r.route_table_id, r.target_kind <> 'local', r.destination",
    )
    .bind(&found)
    .fetch_all(pool)
    .await?;
    let associations = sqlx::query_as::<_, RouteTableAssociation>(
        "SELECT association_id, route_table_id, subnet_id, subnet_id IS NULL AS main
         FROM network.route_table_associations WHERE route_table_id = ANY($1)
         ORDER BY subnet_id IS NOT NULL, created_at, association_id",
    )
    .bind(&found)
    .fetch_all(pool)
    .await?;
    for table in &mut tables {
        let id = table.route_table_id.clone();
        table.routes = routes
            .iter()
            .filter(|r| r.route_table_id == id)
            .cloned()
            .collect();
        table.associations = associations
            .iter()
            .filter(|a| a.route_table_id == id)
            .cloned()
            .collect();
    }
    found_with_tags(pool, &caller.account_id, ids, tables, not_found).await
}

pub async fn get(pool: &PgPool, caller: &Principal, id: &str) -> Result<RouteTable> {
    let mut found = list(pool, caller, &[id.to_string()]).await?;
    found.pop().ok_or_else(|| not_found(id))
}

/// The caller's table (without routes), with its VPC locked for this transaction.
async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    id: &str,
) -> Result<RouteTable> {
    let vpc_id = vpc_of(tx, account_id, id).await?;
    vpcs::lock(tx, account_id, &vpc_id).await?;
    sqlx::query_as::<_, RouteTable>(&format!(
        "SELECT {COLUMNS} FROM network.route_tables WHERE route_table_id = $1 AND account_id = $2"
    ))
    .bind(id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(id))
}

/// The VPC of the caller's route table, without a lock (a table never changes VPC).
async fn vpc_of(tx: &mut Transaction<'_, Postgres>, account_id: &str, id: &str) -> Result<String> {
    RouteTableId::parse(id)?;
    sqlx::query_scalar(
        "SELECT vpc_id FROM network.route_tables WHERE route_table_id = $1 AND account_id = $2",
    )
    .bind(id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(id))
}

/// Delete a table that is neither main nor associated (`DependencyViolation`).
pub async fn delete(network: &Network, caller: &Principal, id: &str) -> Result<()> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    let table = lock(&mut tx, account_id, id).await?;
    let associated: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM network.route_table_associations WHERE route_table_id = $1)",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if table.is_main || associated {
        return Err(in_use(id));
    }
    sqlx::query("DELETE FROM network.route_tables WHERE route_table_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tags::delete_all(&mut tx, account_id, &[id.to_string()]).await?;
    tx.commit().await?;
    Ok(())
}

/// Every table of a VPC being deleted (routes go with them); returns their ids.
pub(crate) async fn delete_all_in(
    tx: &mut Transaction<'_, Postgres>,
    vpc_id: &str,
) -> Result<Vec<String>> {
    sqlx::query(
        "DELETE FROM network.route_table_associations WHERE route_table_id IN
             (SELECT route_table_id FROM network.route_tables WHERE vpc_id = $1)",
    )
    .bind(vpc_id)
    .execute(&mut **tx)
    .await?;
    Ok(sqlx::query_scalar(
        "DELETE FROM network.route_tables WHERE vpc_id = $1 RETURNING route_table_id",
    )
    .bind(vpc_id)
    .fetch_all(&mut **tx)
    .await?)
}

/// The destination of a route being created, replaced or deleted.
fn destination(text: &str) -> Result<Ipv4Block> {
    Ipv4Block::parse(text, "destinationCidrBlock")
}

fn route_not_found(destination: Ipv4Block, table: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidRoute.NotFound",
        format!("no route with destination-cidr-block {destination} in route table {table}"),
    )
}

/// The target kind of the route to `destination` in `table`, if there is one.
async fn route_kind(
    tx: &mut Transaction<'_, Postgres>,
    table: &str,
    destination: Ipv4Block,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar(
        "SELECT target_kind FROM network.routes WHERE route_table_id = $1 AND destination = $2::cidr",
    )
    .bind(table)
    .bind(destination.to_string())
    .fetch_optional(&mut **tx)
    .await?)
}

/// A new target for a route of `table`: an internet gateway of the caller's attached to
/// the table's VPC (for a destination outside the VPC's block), or a network interface of
/// the caller's in that VPC.
async fn check_target(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    table: &RouteTable,
    destination: Ipv4Block,
    target: &RouteTarget,
) -> Result<()> {
    match target {
        RouteTarget::Local => Err(NetworkError::invalid(
            "A route to 'local' is made with the route table; it cannot be created",
        )),
        RouteTarget::Gateway(id) => {
            let gateway = internet_gateways::lock(tx, account_id, id).await?;
            if gateway.vpc_id.as_deref() != Some(table.vpc_id.as_str()) {
                return Err(NetworkError::invalid(format!(
                    "route table {} and network gateway {id} belong to different networks",
                    table.route_table_id
                )));
            }
            let vpc = vpcs::lock(tx, account_id, &table.vpc_id).await?;
            if vpc.block()?.contains(&destination) {
                return Err(NetworkError::invalid(format!(
                    "The destination CIDR block {destination} is equal to or more specific than one of this VPC's CIDR blocks. This route can target only an interface or an instance."
                )));
            }
            Ok(())
        }
        RouteTarget::NetworkInterface(id) => {
            NetworkInterfaceId::parse(id)?;
            let vpc_id: Option<String> = sqlx::query_scalar(
                "SELECT vpc_id FROM network.network_interfaces
                 WHERE network_interface_id = $1 AND account_id = $2",
            )
            .bind(id)
            .bind(account_id)
            .fetch_optional(&mut **tx)
            .await?;
            match vpc_id {
                None => Err(NetworkError::NotFound(
                    "InvalidNetworkInterfaceID.NotFound",
                    format!("The networkInterface ID '{id}' does not exist"),
                )),
                Some(vpc_id) if vpc_id != table.vpc_id => Err(NetworkError::invalid(format!(
                    "route table {} and interface {id} belong to different networks",
                    table.route_table_id
                ))),
                Some(_) => Ok(()),
            }
        }
    }
}

/// CreateRoute: a new route (`RouteAlreadyExists` when the destination has one).
pub async fn create_route(
    network: &Network,
    caller: &Principal,
    table_id: &str,
    destination_cidr: &str,
    target: &RouteTarget,
) -> Result<()> {
    require_write(caller)?;
    let destination = destination(destination_cidr)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    let table = lock(&mut tx, account_id, table_id).await?;
    if route_kind(&mut tx, table_id, destination).await?.is_some() {
        return Err(NetworkError::Conflict(
            "RouteAlreadyExists",
            format!("The route identified by {destination} already exists."),
        ));
    }
    check_target(&mut tx, account_id, &table, destination, target).await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM network.routes WHERE route_table_id = $1")
            .bind(table_id)
            .fetch_one(&mut *tx)
            .await?;
    if count >= MAX_ROUTES_PER_TABLE {
        return Err(NetworkError::LimitExceeded(
            "RouteLimitExceeded",
            format!("The maximum number of routes has been reached ({MAX_ROUTES_PER_TABLE} per route table)."),
        ));
    }
    add_route_in(&mut tx, table_id, destination, target, "CreateRoute").await?;
    tx.commit().await?;
    Ok(())
}

/// ReplaceRoute: a new target for an existing route (not the `local` one).
pub async fn replace_route(
    network: &Network,
    caller: &Principal,
    table_id: &str,
    destination_cidr: &str,
    target: &RouteTarget,
) -> Result<()> {
    require_write(caller)?;
    let destination = destination(destination_cidr)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    let table = lock(&mut tx, account_id, table_id).await?;
    match route_kind(&mut tx, table_id, destination).await?.as_deref() {
        None => return Err(route_not_found(destination, table_id)),
        Some("local") => {
            return Err(NetworkError::invalid(format!(
                "cannot replace local route {destination} in route table {table_id}"
            )))
        }
        Some(_) => {}
    }
    check_target(&mut tx, account_id, &table, destination, target).await?;
    sqlx::query(
        "UPDATE network.routes SET target_kind = $3, target_id = $4
         WHERE route_table_id = $1 AND destination = $2::cidr",
    )
    .bind(table_id)
    .bind(destination.to_string())
    .bind(target.kind())
    .bind(target.id())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// DeleteRoute: any route but the `local` one.
pub async fn delete_route(
    network: &Network,
    caller: &Principal,
    table_id: &str,
    destination_cidr: &str,
) -> Result<()> {
    require_write(caller)?;
    let destination = destination(destination_cidr)?;
    let mut tx = network.pool.begin().await?;
    lock(&mut tx, &caller.account_id, table_id).await?;
    match route_kind(&mut tx, table_id, destination).await?.as_deref() {
        None => return Err(route_not_found(destination, table_id)),
        Some("local") => {
            return Err(NetworkError::invalid(format!(
                "cannot remove local route {destination} in route table {table_id}"
            )))
        }
        Some(_) => {}
    }
    sqlx::query("DELETE FROM network.routes WHERE route_table_id = $1 AND destination = $2::cidr")
        .bind(table_id)
        .bind(destination.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// AssociateRouteTable: the subnet (of the same VPC, not yet explicitly associated) uses
/// this table; returns the association's id.
pub async fn associate(
    network: &Network,
    caller: &Principal,
    table_id: &str,
    subnet_id: &str,
) -> Result<String> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    // Refused before any lock: locking two VPCs in request order could deadlock against
    // the opposite request.
    if vpc_of(&mut tx, account_id, table_id).await?
        != subnets::vpc_of(&mut tx, account_id, subnet_id).await?
    {
        return Err(NetworkError::invalid(format!(
            "Route table {table_id} and subnet {subnet_id} belong to different networks"
        )));
    }
    let _table = lock(&mut tx, account_id, table_id).await?;
    subnets::lock(&mut tx, account_id, subnet_id).await?;
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT association_id FROM network.route_table_associations WHERE subnet_id = $1",
    )
    .bind(subnet_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(existing) = existing {
        return Err(NetworkError::Conflict(
            "Resource.AlreadyAssociated",
            format!("the specified association for route table {table_id} conflicts with an existing association ({existing})"),
        ));
    }
    let id = insert_association(&mut tx, account_id, table_id, Some(subnet_id)).await?;
    tx.commit().await?;
    Ok(id)
}

/// An association of the caller's: (route table, subnet), with its VPC locked.
async fn lock_association(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    association_id: &str,
) -> Result<(RouteTable, Option<String>)> {
    let (table_id, subnet_id) = association(tx, account_id, association_id).await?;
    let table = lock(tx, account_id, &table_id).await?;
    Ok((table, subnet_id))
}

/// An association of the caller's: (route table id, subnet id), without a lock.
async fn association(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    association_id: &str,
) -> Result<(String, Option<String>)> {
    RouteTableAssociationId::parse(association_id)?;
    sqlx::query_as(
        "SELECT route_table_id, subnet_id FROM network.route_table_associations
         WHERE association_id = $1 AND account_id = $2",
    )
    .bind(association_id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| association_not_found(association_id))
}

/// DisassociateRouteTable: the subnet goes back to the main table (the main association
/// itself cannot be removed).
pub async fn disassociate(
    network: &Network,
    caller: &Principal,
    association_id: &str,
) -> Result<()> {
    require_write(caller)?;
    let mut tx = network.pool.begin().await?;
    let (_, subnet) = lock_association(&mut tx, &caller.account_id, association_id).await?;
    if subnet.is_none() {
        return Err(NetworkError::invalid(format!(
            "cannot disassociate the main route table association {association_id}"
        )));
    }
    sqlx::query("DELETE FROM network.route_table_associations WHERE association_id = $1")
        .bind(association_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// ReplaceRouteTableAssociation: the association's subnet (or, for the main association,
/// the VPC) uses `table_id` instead; returns the new association's id.
pub async fn replace_association(
    network: &Network,
    caller: &Principal,
    association_id: &str,
    table_id: &str,
) -> Result<String> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    // Refused before any lock, as in `associate`: only one VPC is ever locked here.
    let (current_table, _) = association(&mut tx, account_id, association_id).await?;
    if vpc_of(&mut tx, account_id, &current_table).await?
        != vpc_of(&mut tx, account_id, table_id).await?
    {
        return Err(NetworkError::invalid(format!(
            "Route table {table_id} and association {association_id} belong to different networks"
        )));
    }
    let (old_table, subnet) = lock_association(&mut tx, account_id, association_id).await?;
    lock(&mut tx, account_id, table_id).await?;
    sqlx::query("DELETE FROM network.route_table_associations WHERE association_id = $1")
        .bind(association_id)
        .execute(&mut *tx)
        .await?;
    if subnet.is_none() {
        sqlx::query("UPDATE network.route_tables SET is_main = false WHERE route_table_id = $1")
            .bind(&old_table.route_table_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE network.route_tables SET is_main = true WHERE route_table_id = $1")
            .bind(table_id)
            .execute(&mut *tx)
            .await?;
    }
    let id = insert_association(&mut tx, account_id, table_id, subnet.as_deref()).await?;
    tx.commit().await?;
    Ok(id)
}
