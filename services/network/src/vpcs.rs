//! VPCs (`vpc-…`): an IPv4 block of /16 to /28, DNS attributes, and what every VPC is
//! created with: its main route table (with the `local` route), its default network ACL
//! and its default security group. Each account also has a default VPC, shaped like
//! AWS's (172.31.0.0/16, one default /20 subnet per zone, an attached internet gateway
//! and a `0.0.0.0/0` route to it), made the first time the account needs it.

pub mod api;
pub mod resolver;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_common::ids::{SubnetId, VpcId};
use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Postgres, Transaction};

use crate::cidr::Ipv4Block;
use crate::error::{NetworkError, Result};
use crate::listed::found_with_tags;
use crate::route_tables::{self, RouteTarget};
use crate::tags::{self, Tags};
use crate::{internet_gateways, network_acls, require_write, security_groups, subnets, Network};

/// VPCs one account may hold (AWS's quota is adjustable; this is Kumo's).
pub const MAX_VPCS_PER_ACCOUNT: i64 = 50;
/// Every default VPC's block, as in AWS.
pub const DEFAULT_VPC_CIDR: &str = "172.31.0.0/16";
/// The prefix of the default subnets (one per zone, in zone order).
pub const DEFAULT_SUBNET_PREFIX: u8 = 20;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct Vpc {
    pub vpc_id: String,
    pub account_id: String,
    pub cidr_block: String,
    /// `available` (creation is immediate).
    pub state: String,
    pub is_default: bool,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
    pub created_at: DateTime<Utc>,
    #[sqlx(skip)]
    pub tags: Tags,
}

impl Vpc {
    /// The id of the VPC's one IPv4 block association (`vpc-cidr-assoc-…`), derived from
    /// the VPC's id so it is stable without a row of its own.
    pub fn cidr_association_id(&self) -> String {
        let digits = self.vpc_id.strip_prefix("vpc-").unwrap_or(&self.vpc_id);
        format!("vpc-cidr-assoc-{digits}")
    }

    pub fn block(&self) -> Result<Ipv4Block> {
        Ipv4Block::parse(&self.cidr_block, "cidrBlock")
            .map_err(|_| NetworkError::Internal(format!("stored VPC block {}", self.cidr_block)))
    }
}

/// CreateVpc's input.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVpc {
    /// An IPv4 block, /16 to /28, e.g. `10.0.0.0/16`.
    pub cidr_block: String,
    #[serde(default)]
    pub tags: Tags,
}

/// A VPC attribute that ModifyVpcAttribute sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpcAttribute {
    EnableDnsSupport,
    EnableDnsHostnames,
}

const COLUMNS: &str = "vpc_id, account_id, cidr::text AS cidr_block, state, is_default, \
                       enable_dns_support, enable_dns_hostnames, created_at";

pub fn not_found(vpc_id: &str) -> NetworkError {
    NetworkError::NotFound(
        "InvalidVpcID.NotFound",
        format!("The vpc ID '{vpc_id}' does not exist"),
    )
}

fn parse_block(text: &str) -> Result<Ipv4Block> {
    let block = Ipv4Block::parse(text, "cidrBlock")?;
    if !(16..=28).contains(&block.prefix) {
        return Err(NetworkError::Invalid(
            "InvalidVpc.Range",
            format!("The CIDR '{text}' is invalid."),
        ));
    }
    Ok(block)
}

pub async fn create(network: &Network, caller: &Principal, input: &CreateVpc) -> Result<Vpc> {
    require_write(caller)?;
    let block = parse_block(&input.cidr_block)?;
    tags::validate(&input.tags)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    // One VPC creation at a time per account, so the count below holds.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('network.vpcs:' || $1))")
        .bind(account_id)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM network.vpcs WHERE account_id = $1")
        .bind(account_id)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_VPCS_PER_ACCOUNT {
        return Err(NetworkError::LimitExceeded(
            "VpcLimitExceeded",
            format!("The maximum number of VPCs has been reached ({MAX_VPCS_PER_ACCOUNT})."),
        ));
    }
    let mut vpc = insert(&mut tx, account_id, block, false).await?;
    create_dependents(&mut tx, account_id, &vpc).await?;
    tags::put(&mut tx, account_id, &vpc.vpc_id, &input.tags).await?;
    tx.commit().await?;
    vpc.tags = input.tags.clone();
    Ok(vpc)
}

async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    block: Ipv4Block,
    is_default: bool,
) -> Result<Vpc> {
    let vpc = sqlx::query_as::<_, Vpc>(&format!(
        "INSERT INTO network.vpcs (vpc_id, account_id, cidr, is_default, enable_dns_hostnames)
         VALUES ($1, $2, $3::cidr, $4, $4) RETURNING {COLUMNS}"
    ))
    .bind(VpcId::generate().as_str())
    .bind(account_id)
    .bind(block.to_string())
    // A default VPC has DNS hostnames on, as AWS's does.
    .bind(is_default)
    .fetch_one(&mut **tx)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => default_exists(),
        other => other.into(),
    })?;
    Ok(vpc)
}

/// What every VPC is created with: the main route table (with its `local` route and main
/// association), the default network ACL and the default security group. Returns the
/// main route table's id.
async fn create_dependents(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    vpc: &Vpc,
) -> Result<String> {
    let main = route_tables::create_in(tx, account_id, &vpc.vpc_id, vpc.block()?, true).await?;
    network_acls::create_default(tx, account_id, &vpc.vpc_id).await?;
    security_groups::create_default(tx, account_id, &vpc.vpc_id).await?;
    Ok(main)
}

/// One of the caller's VPCs.
pub async fn get(pool: &PgPool, caller: &Principal, vpc_id: &str) -> Result<Vpc> {
    let mut found = list(pool, caller, &[vpc_id.to_string()]).await?;
    found.pop().ok_or_else(|| not_found(vpc_id))
}

/// The caller's VPCs (all, or those of `ids`: an unknown one is `InvalidVpcID.NotFound`),
/// oldest first, with their tags.
pub async fn list(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<Vec<Vpc>> {
    for id in ids {
        VpcId::parse(id)?;
    }
    let vpcs = sqlx::query_as::<_, Vpc>(&format!(
        "SELECT {COLUMNS} FROM network.vpcs
         WHERE account_id = $1 AND (cardinality($2::text[]) = 0 OR vpc_id = ANY($2))
         ORDER BY created_at, vpc_id"
    ))
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    found_with_tags(pool, &caller.account_id, ids, vpcs, not_found).await
}

/// The caller's VPC, locked for this transaction: "in use" checks and the creation of
/// what lives in the VPC run under this lock, one at a time.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    account_id: &str,
    vpc_id: &str,
) -> Result<Vpc> {
    lock_conn(tx, account_id, vpc_id).await
}

/// [`lock`] on a connection whose transaction the caller runs (compute's launches).
pub(crate) async fn lock_conn(
    conn: &mut sqlx::PgConnection,
    account_id: &str,
    vpc_id: &str,
) -> Result<Vpc> {
    VpcId::parse(vpc_id)?;
    sqlx::query_as::<_, Vpc>(&format!(
        "SELECT {COLUMNS} FROM network.vpcs WHERE vpc_id = $1 AND account_id = $2 FOR NO KEY UPDATE"
    ))
    .bind(vpc_id)
    .bind(account_id)
    .fetch_optional(conn)
    .await?
    .ok_or_else(|| not_found(vpc_id))
}

/// Delete a VPC that holds nothing but what it was created with (subnets, an attached
/// internet gateway, other route tables or security groups: `DependencyViolation`); its
/// main route table, default network ACL and default security group go with it.
pub async fn delete(network: &Network, caller: &Principal, vpc_id: &str) -> Result<()> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    lock(&mut tx, account_id, vpc_id).await?;
    let in_use: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM network.subnets WHERE vpc_id = $1)
             OR EXISTS (SELECT 1 FROM network.internet_gateways WHERE vpc_id = $1)
             OR EXISTS (SELECT 1 FROM network.route_tables WHERE vpc_id = $1 AND NOT is_main)
             OR EXISTS (SELECT 1 FROM network.security_groups WHERE vpc_id = $1 AND NOT is_default)",
    )
    .bind(vpc_id)
    .fetch_one(&mut *tx)
    .await?;
    if in_use {
        return Err(NetworkError::DependencyViolation(format!(
            "The vpc '{vpc_id}' has dependencies and cannot be deleted."
        )));
    }
    let mut gone: Vec<String> = vec![vpc_id.to_string()];
    gone.extend(route_tables::delete_all_in(&mut tx, vpc_id).await?);
    gone.extend(network_acls::delete_all_in(&mut tx, vpc_id).await?);
    gone.extend(
        sqlx::query_scalar::<_, String>(
            "DELETE FROM network.security_groups WHERE vpc_id = $1 RETURNING group_id",
        )
        .bind(vpc_id)
        .fetch_all(&mut *tx)
        .await?,
    );
    sqlx::query("DELETE FROM network.vpcs WHERE vpc_id = $1")
        .bind(vpc_id)
        .execute(&mut *tx)
        .await?;
    tags::delete_all(&mut tx, account_id, &gone).await?;
    tx.commit().await?;
    Ok(())
}

/// Set one DNS attribute (AWS: DNS hostnames need DNS support).
pub async fn modify_attribute(
    network: &Network,
    caller: &Principal,
    vpc_id: &str,
    attribute: VpcAttribute,
    value: bool,
) -> Result<Vpc> {
    require_write(caller)?;
    let mut tx = network.pool.begin().await?;
    let vpc = lock(&mut tx, &caller.account_id, vpc_id).await?;
    let (support, hostnames) = match attribute {
        VpcAttribute::EnableDnsSupport => (value, vpc.enable_dns_hostnames),
        VpcAttribute::EnableDnsHostnames => (vpc.enable_dns_support, value),
    };
    if hostnames && !support {
        return Err(NetworkError::invalid(
            "enableDnsHostnames cannot be true while enableDnsSupport is false",
        ));
    }
    sqlx::query(
        "UPDATE network.vpcs SET enable_dns_support = $2, enable_dns_hostnames = $3
         WHERE vpc_id = $1",
    )
    .bind(vpc_id)
    .bind(support)
    .bind(hostnames)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    get(&network.pool, caller, vpc_id).await
}

fn default_exists() -> NetworkError {
    NetworkError::Conflict(
        "DefaultVpcAlreadyExists",
        "A Default VPC already exists for this account in this region.".into(),
    )
}

/// The account's default VPC, made the first time the account needs it (race-safe: one
/// request makes it, the others wait for that one's commit). A default VPC the tenant
/// deleted is not made again (CreateDefaultVpc does that).
pub async fn ensure_default(network: &Network, account_id: &str) -> Result<()> {
    ensure_default_with_subnet(network, account_id, None).await
}

/// [`ensure_default`], where the first default subnet (172.31.0.0/20, the first zone's)
/// takes the id `first_subnet_id` when it is made now: the compute service's
/// per-account subnet becomes that subnet, and its instances keep their addresses.
pub async fn ensure_default_with_subnet(
    network: &Network,
    account_id: &str,
    first_subnet_id: Option<&str>,
) -> Result<()> {
    let made: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM network.default_vpcs_made WHERE account_id = $1)",
    )
    .bind(account_id)
    .fetch_one(&network.pool)
    .await?;
    if made {
        return Ok(());
    }
    let mut tx = network.pool.begin().await?;
    ensure_default_in(&mut tx, &network.config.zones, account_id, first_subnet_id).await?;
    tx.commit().await?;
    Ok(())
}

/// [`ensure_default_with_subnet`] inside the caller's transaction (`zones`: the region's
/// zones, in order). Returns the default VPC when this call made it.
pub async fn ensure_default_in(
    tx: &mut Transaction<'_, Postgres>,
    zones: &[String],
    account_id: &str,
    first_subnet_id: Option<&str>,
) -> Result<Option<Vpc>> {
    // A concurrent maker's row blocks this insert until it commits; then it conflicts.
    let claimed = sqlx::query(
        "INSERT INTO network.default_vpcs_made (account_id) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if claimed == 0 {
        return Ok(None);
    }
    make_default(tx, zones, account_id, first_subnet_id)
        .await
        .map(Some)
}

/// CreateDefaultVpc: a new default VPC when the account has none
/// (`DefaultVpcAlreadyExists` otherwise).
pub async fn create_default(network: &Network, caller: &Principal) -> Result<Vpc> {
    require_write(caller)?;
    let account_id = caller.account_id.as_str();
    let mut tx = network.pool.begin().await?;
    sqlx::query(
        "INSERT INTO network.default_vpcs_made (account_id) VALUES ($1) ON CONFLICT DO NOTHING",
    )
    .bind(account_id)
    .execute(&mut *tx)
    .await?;
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM network.vpcs WHERE account_id = $1 AND is_default)",
    )
    .bind(account_id)
    .fetch_one(&mut *tx)
    .await?;
    if exists {
        return Err(default_exists());
    }
    let vpc = make_default(&mut tx, &network.config.zones, account_id, None).await?;
    tx.commit().await?;
    Ok(vpc)
}

/// Of these accounts, the ones whose default VPC has never been made (one query, so a
/// start-up adopts only what is left to adopt).
pub async fn without_default(
    pool: &sqlx::PgPool,
    account_ids: &[String],
) -> Result<std::collections::HashSet<String>> {
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM unnest($1::text[]) AS id
         WHERE NOT EXISTS (SELECT 1 FROM network.default_vpcs_made WHERE account_id = id)",
    )
    .bind(account_ids)
    .fetch_all(pool)
    .await?;
    Ok(missing.into_iter().collect())
}

/// A default subnet of the default VPC `vpc_id` for `zone`, made when a launch lands in a
/// zone the VPC has none for (hosts may join zones after the VPC was made): the first free
/// /20 of 172.31.0.0/16. The caller holds the VPC's lock. `None` when all sixteen are taken.
pub(crate) async fn add_default_subnet(
    conn: &mut sqlx::PgConnection,
    account_id: &str,
    vpc_id: &str,
    zone: &str,
) -> Result<Option<subnets::Subnet>> {
    let block = parse_block(DEFAULT_VPC_CIDR)?;
    let taken: Vec<String> =
        sqlx::query_scalar("SELECT cidr::text FROM network.subnets WHERE vpc_id = $1")
            .bind(vpc_id)
            .fetch_all(&mut *conn)
            .await?;
    let taken = taken
        .iter()
        .map(|text| parse_block(text))
        .collect::<Result<Vec<_>>>()?;
    let free = (0..)
        .map_while(|n| block.nth_sub_block(DEFAULT_SUBNET_PREFIX, n))
        .find(|candidate| !taken.iter().any(|t| t.overlaps(candidate)));
    let Some(free) = free else {
        return Ok(None);
    };
    let subnet_id = SubnetId::generate();
    let subnet = subnets::insert(
        conn,
        &subnets::NewSubnet {
            subnet_id: subnet_id.as_str(),
            account_id,
            vpc_id,
            block: free,
            zone,
            default_for_az: true,
        },
    )
    .await?;
    tracing::info!(%account_id, %vpc_id, %zone, subnet_id = %subnet_id, "default subnet added for a new zone");
    Ok(Some(subnet))
}

/// The default VPC and everything AWS gives it.
async fn make_default(
    tx: &mut Transaction<'_, Postgres>,
    zones: &[String],
    account_id: &str,
    first_subnet_id: Option<&str>,
) -> Result<Vpc> {
    let block = parse_block(DEFAULT_VPC_CIDR)?;
    let vpc = insert(tx, account_id, block, true).await?;
    let main = create_dependents(tx, account_id, &vpc).await?;
    let gateway = internet_gateways::create_in(tx, account_id, Some(&vpc.vpc_id)).await?;
    route_tables::add_route_in(
        tx,
        &main,
        Ipv4Block::new(std::net::Ipv4Addr::UNSPECIFIED, 0),
        &RouteTarget::Gateway(gateway),
        "CreateRoute",
    )
    .await?;
    for (n, zone) in zones.iter().enumerate() {
        let Some(subnet_block) = u32::try_from(n)
            .ok()
            .and_then(|n| block.nth_sub_block(DEFAULT_SUBNET_PREFIX, n))
        else {
            break;
        };
        let subnet_id = match (n, first_subnet_id) {
            (0, Some(id)) => SubnetId::parse(id)?,
            _ => SubnetId::generate(),
        };
        subnets::insert(
            tx,
            &subnets::NewSubnet {
                subnet_id: subnet_id.as_str(),
                account_id,
                vpc_id: &vpc.vpc_id,
                block: subnet_block,
                zone,
                default_for_az: true,
            },
        )
        .await?;
    }
    Ok(vpc)
}
