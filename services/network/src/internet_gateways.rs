//! Internet gateways (`igw-…`): attached to at most one VPC, a VPC has at most one. A
//! route table's `0.0.0.0/0 → igw` route sends the VPC's traffic out through it.

pub mod api;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::InternetGatewayId;
use serde::Serialize;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{NetworkError, Result};
use crate::listed::found_with_tags;
use crate::tags::{self, Tags};
use crate::{require_write, vpcs, Network};

/// Internet gateways one account may hold.
pub const MAX_GATEWAYS_PER_ACCOUNT: i64 = 50;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct InternetGateway {
    pub internet_gateway_id: String,
    pub account_id: String,
    /// The VPC it is attached to (its attachment's state is `available`).
    pub vpc_id: Option<String>,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub tags: Tags,
}

const COLUMNS: &str = "internet_gateway_id, account_id, vpc_id, created_at";

pub fn not_found(id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidInternetGatewayID.NotFound",
        format!("The internetGateway ID '{id}' does not exist"),
    )
}

/// Insert a gateway (attached to `vpc_id` when given); returns its id.
pub(crate) async fn create_in(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    vpc_id: Option<&str>,
) -> Result<String> {
    let id = InternetGatewayId::generate();
    sqlx::query(
        "INSERT INTO network.internet_gateways (internet_gateway_id, account_id, vpc_id)
         VALUES ($1, $2, $3)",
    )
    .bind(id.as_str())
    .bind(account_id)
    .bind(vpc_id)
    .execute(&mut **tx)
    .await?;
    Ok(id.into_string())
}

pub async fn create(network: &Network, caller: &Principal, tags: &Tags) -> Result<InternetGateway> {
    require_write(caller)?;
    tags::validate(tags)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('network.internet_gateways:' || $1))")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM network.internet_gateways WHERE account_id = $1")
            .bind(account_id)
            .fetch_one(&mut *tx)
            .await?;
    if count >= MAX_GATEWAYS_PER_ACCOUNT {
        return Err(NetworkError::LimitExceeded(
            "InternetGatewayLimitExceeded",
            format!("The maximum number of internet gateways has been reached ({MAX_GATEWAYS_PER_ACCOUNT})."),
        ));
    }
    let id = create_in(&mut tx, account_id, None).await?;
    tags::put(&mut tx, account_id, &id, tags).await?;
    tx.commit().await?;
    get(&network.pool, caller, &id).await
}

/// The caller's gateways (all, or those of `ids`: an unknown one is
/// `InvalidInternetGatewayID.NotFound`), oldest first, with their tags.
pub async fn list(
    pool: &PgPool,
    caller: &Principal,
    ids: &[String],
) -> Result<Vec<InternetGateway>> {
    for id in ids {
        InternetGatewayId::parse(id)?;
    }
    let gateways = sqlx::query_as::<_, InternetGateway>(&format!(
        "SELECT {COLUMNS} FROM network.internet_gateways
         WHERE account_id = $1 AND (cardinality($2::text[]) = 0 OR internet_gateway_id = ANY($2))
         ORDER BY created_at, internet_gateway_id"
    ))
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    found_with_tags(pool, &caller.account_id, ids, gateways, not_found).await
}

pub async fn get(pool: &PgPool, caller: &Principal, id: &str) -> Result<InternetGateway> {
    let mut found = list(pool, caller, &[id.to_string()]).await?;
    found.pop().ok_or_else(|| not_found(id))
}

/// The caller's gateway, locked for this transaction.
pub(crate) async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    id: &str,
) -> Result<InternetGateway> {
    InternetGatewayId::parse(id)?;
    sqlx::query_as::<_, InternetGateway>(&format!(
        "SELECT {COLUMNS} FROM network.internet_gateways
         WHERE internet_gateway_id = $1 AND account_id = $2 FOR NO KEY UPDATE"
    ))
    .bind(id)
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?
    .ok_or_else(|| not_found(id))
}

/// Attach a detached gateway to a VPC that has none (`Resource.AlreadyAssociated`
/// otherwise).
pub async fn attach(network: &Network, caller: &Principal, id: &str, vpc_id: &str) -> Result<()> {
    require_write(caller)?;
    InternetGatewayId::parse(id)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    // VPC first, then the gateway: the order every check takes.
    vpcs::lock(&mut tx, account_id, vpc_id).await?;
    let gateway = lock(&mut tx, account_id, id).await?;
    if let Some(attached) = gateway.vpc_id {
        return Err(NetworkError::Conflict(
            "Resource.AlreadyAssociated",
            format!("resource {id} is already attached to network {attached}"),
        ));
    }
    let other: Option<String> = sqlx::query_scalar(
        "SELECT internet_gateway_id FROM network.internet_gateways WHERE vpc_id = $1",
    )
    .bind(vpc_id)
    .fetch_optional(&mut *tx)
    .await?;
    if let Some(other) = other {
        return Err(NetworkError::Conflict(
            "Resource.AlreadyAssociated",
            format!("network {vpc_id} already has an internet gateway attached ({other})"),
        ));
    }
    sqlx::query("UPDATE network.internet_gateways SET vpc_id = $2 WHERE internet_gateway_id = $1")
        .bind(id)
        .bind(vpc_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Detach a gateway from the VPC it is attached to (`Gateway.NotAttached` otherwise).
/// Routes to it stay, as blackholes.
pub async fn detach(network: &Network, caller: &Principal, id: &str, vpc_id: &str) -> Result<()> {
    require_write(caller)?;
    InternetGatewayId::parse(id)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    vpcs::lock(&mut tx, account_id, vpc_id).await?;
    let gateway = lock(&mut tx, account_id, id).await?;
    if gateway.vpc_id.as_deref() != Some(vpc_id) {
        return Err(NetworkError::Invalid(
            "Gateway.NotAttached",
            format!("resource {id} is not attached to network {vpc_id}"),
        ));
    }
    // Public addresses (elastic or launch-time) reach the VPC through its gateway: AWS
    // keeps it while any is mapped.
    let mapped: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM network.public_mappings m \
         JOIN network.network_interfaces i ON i.network_interface_id = m.network_interface_id \
         WHERE i.vpc_id = $1)",
    )
    .bind(vpc_id)
    .fetch_one(&mut *tx)
    .await?;
    if mapped {
        return Err(NetworkError::DependencyViolation(format!(
            "Network {vpc_id} has some mapped public address(es). Please unmap those public address(es) before detaching the gateway."
        )));
    }
    sqlx::query(
        "UPDATE network.internet_gateways SET vpc_id = NULL WHERE internet_gateway_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Delete a detached gateway (`DependencyViolation` while attached).
pub async fn delete(network: &Network, caller: &Principal, id: &str) -> Result<()> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    let gateway = lock(&mut tx, account_id, id).await?;
    if gateway.vpc_id.is_some() {
        return Err(NetworkError::DependencyViolation(format!(
            "The internetGateway '{id}' has dependencies and cannot be deleted."
        )));
    }
    // Routes that still name it point nowhere, as in AWS.
    sqlx::query("DELETE FROM network.internet_gateways WHERE internet_gateway_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tags::delete_all(&mut tx, account_id, &[id.to_string()]).await?;
    tx.commit().await?;
    Ok(())
}
