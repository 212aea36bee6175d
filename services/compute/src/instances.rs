//! Instances and their state machine, exactly AWS's:
//! `pending → running → stopping → stopped → pending …`, and `shutting-down → terminated`
//! from any state. The tenant-visible `state` moves when agents report what they observe;
//! the `desired_state` is what agents converge to. Terminated instances stay visible for a
//! while (`terminated_retention`), then are purged.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_compute_protocol::{DesiredState, InstanceKind, InstanceMetadata, InstanceSpec};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::error::{ComputeError, Result};
use crate::network::{self, InstanceInterface, NetworkRequest, SecurityGroupRef};
use crate::scheduler::{self, Demand};
use crate::tags::{self, Tags};
use crate::{images, instance_types, key_pairs, require_write, validate, Compute};
use kumo_common::ids::{InstanceId, ReservationId};
use kumo_ec2_query::{filters, tags as tag_filters, Page};

mod attributes;
mod describe_filters;
mod lifecycle;
mod relocation;
pub mod transitions;

pub use attributes::{get_attribute, modify_attribute, AttributeValue};
use describe_filters::is_instance_filter;
pub use describe_filters::{filter_matches, INSTANCE_FILTERS};
pub use lifecycle::{
    apply, finish_termination, purge_terminated, reboot, start, stop, terminate, Cause,
};
pub use relocation::move_stopped_off;

/// At most this many instances per RunInstances call.
pub const MAX_LAUNCH_COUNT: i64 = 100;
/// EC2's user-data limit (raw bytes).
pub const MAX_USER_DATA: usize = 16 * 1024;

// The `state` column (a CHECKed TEXT). A plain comment: a doc comment would change openapi.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, sqlx::Type,
)]
#[serde(rename_all = "kebab-case")]
#[sqlx(type_name = "text", rename_all = "kebab-case")]
pub enum InstanceState {
    Pending,
    Running,
    Stopping,
    Stopped,
    ShuttingDown,
    Terminated,
}

impl InstanceState {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "running" => Self::Running,
            "stopping" => Self::Stopping,
            "stopped" => Self::Stopped,
            "shutting-down" => Self::ShuttingDown,
            "terminated" => Self::Terminated,
            _ => return None,
        })
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::ShuttingDown => "shutting-down",
            Self::Terminated => "terminated",
        }
    }
    /// AWS's state codes.
    pub fn code(self) -> i32 {
        match self {
            Self::Pending => 0,
            Self::Running => 16,
            Self::ShuttingDown => 32,
            Self::Terminated => 48,
            Self::Stopping => 64,
            Self::Stopped => 80,
        }
    }
}

/// What an instance does when its own OS shuts it down (`InstanceInitiatedShutdownBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ShutdownBehavior {
    Stop,
    Terminate,
}

impl ShutdownBehavior {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "stop" => Some(Self::Stop),
            "terminate" => Some(Self::Terminate),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Terminate => "terminate",
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Instance {
    pub instance_id: String,
    pub account_id: String,
    pub reservation_id: String,
    pub image_id: String,
    pub instance_type: String,
    /// `vm` or `container`.
    #[schema(value_type = String)]
    pub kind: InstanceKind,
    pub state: InstanceState,
    pub state_code: i32,
    pub state_reason: Option<String>,
    pub host_id: Option<String>,
    pub availability_zone: String,
    pub subnet_id: String,
    pub private_ip: Option<String>,
    pub mac: String,
    pub key_name: Option<String>,
    pub launch_index: i32,
    pub launch_time: DateTime<Utc>,
    pub disable_api_termination: bool,
    #[schema(value_type = String)]
    pub shutdown_behavior: ShutdownBehavior,
    /// The RunInstances `ClientToken` this instance was launched with.
    pub client_token: Option<String>,
    pub tags: Tags,
    /// The instance's network interfaces, the primary (device index 0) first; none once
    /// terminated.
    pub network_interfaces: Vec<InstanceInterface>,
    /// Its attached EBS volumes, by device name.
    pub block_devices: Vec<crate::volumes::BlockDevice>,
    /// Its root volume's device (`/dev/xvda`) if EBS-backed; `None`: instance store.
    pub root_device_name: Option<String>,
}

impl Instance {
    /// The primary interface, while the instance has one.
    pub fn primary_interface(&self) -> Option<&InstanceInterface> {
        self.network_interfaces.iter().find(|i| i.device_index == 0)
    }

    /// The VPC of the primary interface.
    pub fn vpc_id(&self) -> Option<&str> {
        self.primary_interface().map(|i| i.vpc_id.as_str())
    }

    /// The instance's public address: its primary interface's primary address's (an
    /// elastic IP or a launch-time one).
    pub fn public_address(&self) -> Option<&crate::network::PublicAddress> {
        self.primary_interface()
            .and_then(|p| p.public_address(&p.private_ip_address))
    }

    /// The security groups of the primary interface.
    pub fn security_groups(&self) -> &[SecurityGroupRef] {
        self.primary_interface()
            .map_or(&[], |i| i.groups.as_slice())
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct InstanceRow {
    pub instance_id: String,
    pub account_id: String,
    pub reservation_id: String,
    pub image_id: String,
    pub instance_type: String,
    pub kind: InstanceKind,
    pub vcpus: i32,
    pub memory_mib: i32,
    pub host_id: Option<String>,
    pub zone: String,
    pub state: InstanceState,
    pub desired_state: DesiredState,
    pub state_reason: Option<String>,
    pub generation: i64,
    pub reboot_count: i64,
    pub subnet_id: String,
    pub private_ip: Option<String>,
    pub mac: String,
    pub key_name: Option<String>,
    pub user_data: Option<Vec<u8>>,
    pub client_token: Option<String>,
    pub launch_index: i32,
    pub disable_api_termination: bool,
    pub shutdown_behavior: ShutdownBehavior,
    pub launch_time: DateTime<Utc>,
    pub root_device_name: Option<String>,
}

pub const COLUMNS: &str = "instance_id, account_id, reservation_id, image_id, instance_type, kind, vcpus, memory_mib, host_id, zone, state, desired_state, state_reason, generation, reboot_count, subnet_id, host(private_ip) AS private_ip, mac, key_name, user_data, client_token, launch_index, disable_api_termination, shutdown_behavior, launch_time, root_device_name";

impl InstanceRow {
    /// What the state machine looks at.
    pub fn facts(&self) -> transitions::InstanceFacts {
        transitions::InstanceFacts {
            state: self.state,
            desired: self.desired_state,
            shutdown_behavior: self.shutdown_behavior,
            termination_protected: self.disable_api_termination,
            on_host: self.host_id.is_some(),
        }
    }

    fn into_instance(self, tags: Tags, network_interfaces: Vec<InstanceInterface>) -> Instance {
        let state = self.state;
        Instance {
            instance_id: self.instance_id,
            account_id: self.account_id,
            reservation_id: self.reservation_id,
            image_id: self.image_id,
            instance_type: self.instance_type,
            kind: self.kind,
            state,
            state_code: state.code(),
            state_reason: self.state_reason,
            host_id: self.host_id,
            availability_zone: self.zone,
            subnet_id: self.subnet_id,
            private_ip: self.private_ip,
            mac: self.mac,
            key_name: self.key_name,
            launch_index: self.launch_index,
            launch_time: self.launch_time,
            disable_api_termination: self.disable_api_termination,
            shutdown_behavior: self.shutdown_behavior,
            client_token: self.client_token,
            tags,
            network_interfaces,
            block_devices: Vec::new(),
            root_device_name: self.root_device_name,
        }
    }
}

/// A RunInstances request, in domain terms (both APIs decode into it).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunInstances {
    pub image_id: String,
    #[serde(default)]
    pub instance_type: Option<String>,
    #[serde(default)]
    pub min_count: Option<i64>,
    #[serde(default)]
    pub max_count: Option<i64>,
    #[serde(default)]
    pub key_name: Option<String>,
    /// Raw user data (the native API takes it as text; EC2 as base64).
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub user_data: Option<String>,
    #[serde(skip)]
    pub user_data_bytes: Option<Vec<u8>>,
    #[serde(default)]
    pub client_token: Option<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub availability_zone: Option<String>,
    #[serde(default)]
    pub disable_api_termination: Option<bool>,
    /// `stop` (default) or `terminate`.
    #[serde(default)]
    pub shutdown_behavior: Option<String>,
    /// Subnet, security groups and address of the primary interface.
    #[serde(default)]
    pub network: NetworkRequest,
    /// The root volume's size and type, and more EBS volumes.
    #[serde(default)]
    pub block_device_mappings: Vec<crate::volumes::BlockDeviceMapping>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reservation {
    pub reservation_id: String,
    pub owner_id: String,
    pub instances: Vec<Instance>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StateChange {
    pub instance_id: String,
    pub previous_state: InstanceState,
    pub current_state: InstanceState,
}

/// Rows made whole: their tags and network interfaces.
async fn whole_instances(
    compute: &Compute,
    account_id: &str,
    rows: Vec<InstanceRow>,
) -> Result<Vec<Instance>> {
    let ids: Vec<String> = rows.iter().map(|r| r.instance_id.clone()).collect();
    let mut tags = tags::for_resources(&compute.pool, account_id, &ids).await?;
    let mut interfaces = match &compute.networking {
        Some(networking) => networking.interfaces(account_id, &ids).await?,
        None => BTreeMap::new(),
    };
    let mut devices = match &compute.volumes {
        Some(volumes) => volumes.block_devices(account_id, &ids).await?,
        None => BTreeMap::new(),
    };
    Ok(rows
        .into_iter()
        .map(|r| {
            let t = tags.remove(&r.instance_id).unwrap_or_default();
            let n = interfaces.remove(&r.instance_id).unwrap_or_default();
            let d = devices.remove(&r.instance_id).unwrap_or_default();
            let mut instance = r.into_instance(t, n);
            instance.block_devices = d;
            instance
        })
        .collect())
}

async fn reservation(
    compute: &Compute,
    caller: &Principal,
    reservation_id: &str,
) -> Result<Reservation> {
    let pool = &compute.pool;
    let rows = sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM compute.instances WHERE account_id = $1 AND reservation_id = $2 ORDER BY launch_index"
    ))
    .bind(&caller.account_id)
    .bind(reservation_id)
    .fetch_all(pool)
    .await?;
    Ok(Reservation {
        reservation_id: reservation_id.to_string(),
        owner_id: caller.account_id.clone(),
        instances: whole_instances(compute, &caller.account_id, rows).await?,
    })
}

/// RunInstances: validate, place the batch, and record every instance (desired running)
/// in one transaction: a crash leaves either the whole reservation or nothing. Agents
/// then converge. A repeated `ClientToken` returns the first call's reservation.
pub async fn run(
    compute: &Compute,
    caller: &Principal,
    input: &RunInstances,
) -> Result<Reservation> {
    require_write(caller)?;
    let pool = &compute.pool;
    let min_count = input.min_count.unwrap_or(1);
    let max_count = input.max_count.unwrap_or(min_count);
    if min_count < 1 || max_count < 1 {
        return Err(ComputeError::invalid(
            "MinCount and MaxCount must be at least 1",
        ));
    }
    if min_count > max_count {
        return Err(ComputeError::invalid(format!(
            "MinCount ({min_count}) must not be greater than MaxCount ({max_count})"
        )));
    }
    if max_count > MAX_LAUNCH_COUNT {
        return Err(ComputeError::invalid(format!(
            "MaxCount must be at most {MAX_LAUNCH_COUNT}"
        )));
    }
    let user_data = match (&input.user_data_bytes, &input.user_data) {
        (Some(bytes), _) => Some(bytes.clone()),
        (None, Some(text)) => Some(text.as_bytes().to_vec()),
        (None, None) => None,
    };
    if user_data.as_ref().is_some_and(|u| u.len() > MAX_USER_DATA) {
        return Err(ComputeError::invalid(format!(
            "User data is limited to {MAX_USER_DATA} bytes"
        )));
    }
    if let Some(token) = &input.client_token {
        validate::client_token(token)?;
    }
    images::parse_image_id(&input.image_id)?;
    if let Some(key_name) = &input.key_name {
        key_pairs::validate_key_name(key_name)?;
    }
    if let Some(name) = &input.instance_type {
        validate::field("InstanceType", name, 64)?;
    }
    let shutdown_behavior = match input.shutdown_behavior.as_deref() {
        None => ShutdownBehavior::Stop,
        Some(text) => ShutdownBehavior::parse(text).ok_or_else(|| {
            ComputeError::invalid(format!(
                "Invalid value '{text}' for InstanceInitiatedShutdownBehavior: stop or terminate"
            ))
        })?,
    };
    let tag_list: Vec<(String, String)> = input
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    tags::validate(&tag_list)?;
    if let Some(zone) = &input.availability_zone {
        validate::field("Placement.AvailabilityZone", zone, 64)?;
        if !zone.starts_with(&compute.config.region) {
            return Err(ComputeError::invalid(format!(
                "Invalid availability zone: [{zone}]"
            )));
        }
    }

    // Idempotency: an earlier call with this token already decided the answer.
    if let Some(token) = &input.client_token {
        if let Some(existing) = token_reservation(pool, caller, token).await? {
            return reservation(compute, caller, &existing).await;
        }
    }

    let networking = compute.networking()?;
    let mut tx = pool.begin().await?;
    let image = images::get_launchable(&mut *tx, caller, &input.image_id).await?;
    let type_name = input
        .instance_type
        .clone()
        .unwrap_or_else(|| "t3.micro".into());
    let instance_type = instance_types::get(&mut *tx, &type_name).await?;
    if let Some(key_name) = &input.key_name {
        key_pairs::get(&mut *tx, caller, key_name).await?;
    }
    let reservation_id = ReservationId::generate().into_string();
    if let Some(token) = &input.client_token {
        // Claims the token; a concurrent twin waits here, then fails on the key and retries below.
        let inserted = sqlx::query(
            "INSERT INTO compute.client_tokens (account_id, client_token, reservation_id) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(&caller.account_id)
        .bind(token)
        .bind(&reservation_id)
        .execute(&mut *tx)
        .await?;
        if inserted.rows_affected() == 0 {
            tx.rollback().await?;
            let existing = token_reservation(pool, caller, token)
                .await?
                .ok_or_else(|| ComputeError::Internal("client token vanished".into()))?;
            return reservation(compute, caller, &existing).await;
        }
    }
    // The subnet, if one was asked for, fixes the zone.
    let subnet_zone = networking
        .plan(
            &mut tx,
            caller,
            &input.network,
            input.availability_zone.as_deref(),
            max_count as usize,
        )
        .await?;
    let demand = Demand {
        kind: image.kind,
        vcpus: instance_type.vcpus,
        memory_mib: instance_type.memory_mib,
        zone: subnet_zone.or_else(|| input.availability_zone.clone()),
        min_count: min_count as usize,
        max_count: max_count as usize,
    };
    let hosts = scheduler::claim(&mut tx, &demand, &compute.config).await?;
    let plan = crate::volumes::plan_for_image(compute, &image, &input.block_device_mappings)?;
    for (index, (host_id, zone)) in hosts.iter().enumerate() {
        let instance_id = InstanceId::generate().into_string();
        let mappings = &input.block_device_mappings;
        let plan = crate::volumes::plan_in_zone(compute, &mut tx, &plan, mappings, zone).await?;
        let primary = networking
            .create_primary(&mut tx, caller, &input.network, &instance_id, zone)
            .await?;

        sqlx::query(
            "INSERT INTO compute.instances (instance_id, account_id, reservation_id, image_id, instance_type, kind,
                 vcpus, memory_mib, host_id, zone, state, desired_state, subnet_id, private_ip, mac, key_name,
                 user_data, client_token, launch_index, disable_api_termination, shutdown_behavior, root_device_name)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::inet, $15, $16, $17, $18, $19, $20, $21, $22)",
        )
        .bind(&instance_id)
        .bind(&caller.account_id)
        .bind(&reservation_id)
        .bind(&image.image_id)
        .bind(&instance_type.name)
        .bind(image.kind)
        .bind(instance_type.vcpus)
        .bind(instance_type.memory_mib)
        .bind(host_id)
        .bind(zone)
        .bind(InstanceState::Pending)
        .bind(DesiredState::Running)
        .bind(&primary.subnet_id)
        .bind(&primary.private_ip_address)
        .bind(&primary.mac_address)
        .bind(&input.key_name)
        .bind(&user_data)
        .bind(&input.client_token)
        .bind(index as i32)
        .bind(input.disable_api_termination.unwrap_or(false))
        .bind(shutdown_behavior)
        .bind(&plan.root_device_name)
        .execute(&mut *tx)
        .await?;
        tags::put(&mut *tx, &caller.account_id, &instance_id, &tag_list).await?;
        if let Some(volumes) = compute.volumes.as_ref() {
            let launched = &plan.volumes;
            (volumes.create_for_launch(&mut tx, caller, &instance_id, zone, launched)).await?;
        }
    }
    tx.commit().await?;
    tracing::info!(%reservation_id, count = hosts.len(), image_id = %image.image_id, instance_type = %type_name, account_id = %caller.account_id, "instances launched");
    reservation(compute, caller, &reservation_id).await
}

async fn token_reservation(
    pool: &PgPool,
    caller: &Principal,
    token: &str,
) -> Result<Option<String>> {
    Ok(sqlx::query_scalar("SELECT reservation_id FROM compute.client_tokens WHERE account_id = $1 AND client_token = $2")
        .bind(&caller.account_id)
        .bind(token)
        .fetch_optional(pool)
        .await?)
}

pub use kumo_ec2_query::Filter;

/// Every id of `ids` is among `rows` (else `InvalidInstanceID.NotFound` naming the missing).
fn all_found(ids: &[String], rows: &[InstanceRow]) -> Result<()> {
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !rows.iter().any(|r| &r.instance_id == *id))
        .cloned()
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(ComputeError::instance_not_found(&missing))
    }
}

/// A page of DescribeInstances.
#[derive(Debug, Clone, Default)]
pub struct DescribeQuery {
    pub instance_ids: Vec<InstanceId>,
    pub filters: Vec<Filter>,
    pub max_results: Option<i64>,
    pub next_token: Option<String>,
}

/// The caller's instances (never another account's), filtered and paginated; the
/// `NextToken` is opaque to clients.
pub async fn describe(
    compute: &Compute,
    caller: &Principal,
    query: &DescribeQuery,
) -> Result<(Vec<Instance>, Option<String>)> {
    let pool = &compute.pool;
    let instance_ids: Vec<String> = query.instance_ids.iter().map(|id| id.to_string()).collect();
    filters::check_ids("InstanceId", &instance_ids)?;
    let compiled = Arc::new(filters::compile(&query.filters)?);
    if let Some(unknown) = query.filters.iter().find(|f| !is_instance_filter(&f.name)) {
        return Err(ComputeError::invalid(format!(
            "The filter '{}' is invalid",
            unknown.name
        )));
    }
    if query.max_results.is_some() && !query.instance_ids.is_empty() {
        return Err(ComputeError::Invalid(
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults".into(),
        ));
    }
    if let Some(max) = query.max_results {
        if !(5..=1000).contains(&max) {
            return Err(ComputeError::invalid(format!(
                "Value ( {max} ) for parameter maxResults is invalid. Expecting a value greater than 5."
            )));
        }
    }
    let page = Page::parse(query.max_results, query.next_token.as_deref(), (5, 1000))?;
    let rows = sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM compute.instances WHERE account_id = $1
           AND (cardinality($2::text[]) = 0 OR instance_id = ANY($2))
         ORDER BY launch_time, reservation_id, launch_index, instance_id"
    ))
    .bind(&caller.account_id)
    .bind(&instance_ids)
    .fetch_all(pool)
    .await?;
    all_found(&instance_ids, &rows)?;
    let instances = whole_instances(compute, &caller.account_id, rows).await?;
    let matching = filters::select(
        &caller.account_id,
        instances,
        compiled,
        |instance, filters| filters.iter().all(|f| filter_matches(f, instance)),
    )
    .await?;
    // The listing's order, as the page's sort key: launch time, then the batch.
    Ok(page.apply(matching, |i| {
        (
            i.launch_time.timestamp_micros(),
            i.reservation_id.clone(),
            i.launch_index,
            i.instance_id.clone(),
        )
    })?)
}

/// An account's instance's zone, state and kind, unless terminated (for block storage's
/// AttachVolume).
pub async fn facts(
    pool: &PgPool,
    account_id: &str,
    instance_id: &str,
) -> Result<Option<(String, InstanceState, InstanceKind)>> {
    Ok(sqlx::query_as(
        "SELECT zone, state, kind FROM compute.instances
         WHERE account_id = $1 AND instance_id = $2 AND state <> 'terminated'",
    )
    .bind(account_id)
    .bind(instance_id)
    .fetch_optional(pool)
    .await?)
}

/// One of the caller's instances; `instance_id` is parsed here (its callers hold ids as text).
pub async fn get(compute: &Compute, caller: &Principal, instance_id: &str) -> Result<Instance> {
    let (mut found, _) = describe(
        compute,
        caller,
        &DescribeQuery {
            instance_ids: vec![InstanceId::parse(instance_id)?],
            ..Default::default()
        },
    )
    .await?;
    found
        .pop()
        .ok_or_else(|| ComputeError::instance_not_found(&[instance_id.to_string()]))
}

/// The console output the agent last uploaded, with its time.
pub async fn console_output(
    compute: &Compute,
    caller: &Principal,
    instance_id: &InstanceId,
) -> Result<(Vec<u8>, Option<DateTime<Utc>>)> {
    let pool = &compute.pool;
    get(compute, caller, instance_id.as_str()).await?;
    let row: Option<(Vec<u8>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT output, updated_at FROM compute.console_output WHERE instance_id = $1",
    )
    .bind(instance_id.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((output, at)) => (output, Some(at)),
        None => (Vec::new(), None),
    })
}

/// The agent's view of an instance: everything needed to run it, plugged into its
/// primary interface.
pub async fn spec(
    pool: &PgPool,
    config: &crate::ComputeConfig,
    row: &InstanceRow,
    primary: Option<&InstanceInterface>,
    volumes: Vec<kumo_compute_protocol::VolumeAttachmentSpec>,
) -> Result<InstanceSpec> {
    let image = images::by_id(pool, &row.image_id).await?;
    let primary = primary.ok_or_else(|| {
        ComputeError::Internal(format!(
            "instance {} has no network interface",
            row.instance_id
        ))
    })?;
    let network = network::attachment(primary)?;
    let ip = network.ip;
    let public_keys = match &row.key_name {
        Some(name) => sqlx::query_as::<_, (String, String)>("SELECT key_name, public_key FROM compute.key_pairs WHERE account_id = $1 AND key_name = $2")
            .bind(&row.account_id)
            .bind(name)
            .fetch_all(pool)
            .await?,
        None => Vec::new(),
    };
    Ok(InstanceSpec {
        instance_id: row.instance_id.clone(),
        account_id: row.account_id.clone(),
        kind: row.kind,
        desired: row.desired_state,
        generation: row.generation,
        reboot_count: row.reboot_count,
        vcpus: row.vcpus as u32,
        memory_mib: row.memory_mib as u32,
        image: image.source(),
        network,
        volumes,
        metadata: InstanceMetadata {
            instance_id: row.instance_id.clone(),
            instance_type: row.instance_type.clone(),
            ami_id: row.image_id.clone(),
            reservation_id: row.reservation_id.clone(),
            account_id: row.account_id.clone(),
            availability_zone: row.zone.clone(),
            region: config.region.clone(),
            local_ipv4: ip,
            mac: primary.mac_address.clone(),
            hostname: format!("ip-{}.ec2.internal", ip.to_string().replace('.', "-")),
            public_keys,
            user_data: row.user_data.clone(),
        },
    })
}
