//! Hosts: enrolment with an operator-issued join token, the agent's sync (heartbeat,
//! capacity, observed states in; desired specs out), and the operator's view and controls
//! (list with capacity and usage, enable, disable, drain).

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_compute_protocol::{
    EnrolRequest, EnrolResponse, InstanceKind, ObservedState, SyncRequest, SyncResponse,
};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{ComputeError, Result};
use crate::instances::transitions::{self, Action, Event, Observation, Transition};
use crate::instances::{self, Cause, InstanceRow, InstanceState};
use crate::{host_network, require_operator, Compute};

use kumo_common::digest::sha256_hex;

pub use kumo_common::JoinToken;

/// A join token for enrolling hosts (valid for `ttl`, usable by any number of hosts).
pub async fn create_join_token(pool: &PgPool, ttl: std::time::Duration) -> Result<JoinToken> {
    Ok(kumo_catalog::join_tokens::create(pool, "compute.join_tokens", "kjt", ttl).await?)
}

pub async fn issue_join_token(pool: &PgPool, caller: &Principal) -> Result<JoinToken> {
    require_operator(caller)?;
    create_join_token(pool, std::time::Duration::from_secs(24 * 3600)).await
}

fn validate_capacity(request: &EnrolRequest) -> Result<()> {
    if !kumo_common::enrolment::is_valid_agent_name(&request.name) {
        return Err(ComputeError::invalid(
            "host name: 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    if request.capacity.kinds.is_empty() {
        return Err(ComputeError::invalid(
            "a host must support at least one instance kind",
        ));
    }
    if request.zone.is_empty() || request.zone.len() > 64 {
        return Err(ComputeError::invalid("zone must be 1 to 64 characters"));
    }
    Ok(())
}

fn kinds(list: &[InstanceKind]) -> Vec<String> {
    list.iter().map(|k| k.as_str().to_string()).collect()
}

/// Enrol (or re-enrol, replacing its credential) a host.
pub async fn enrol(pool: &PgPool, request: &EnrolRequest) -> Result<EnrolResponse> {
    validate_capacity(request)?;
    host_network::check_report(&request.network)?;
    let (vtep_address, uplink) = host_network::report_columns(&request.network);
    if !kumo_catalog::join_tokens::is_valid(pool, "compute.join_tokens", &request.join_token)
        .await?
    {
        return Err(ComputeError::Forbidden(
            "the join token is unknown or expired".into(),
        ));
    }
    let secret = kumo_common::ids::secret_string(40);
    let host_id: String = sqlx::query_scalar(
        "INSERT INTO compute.hosts (host_id, name, zone, address, token_sha256, vcpus, memory_mib, disk_gib, kinds,
             reported_vtep_address, reported_uplink, last_heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::inet, $11, now())
         ON CONFLICT (name) DO UPDATE SET zone = EXCLUDED.zone, address = EXCLUDED.address,
             token_sha256 = EXCLUDED.token_sha256, vcpus = EXCLUDED.vcpus, memory_mib = EXCLUDED.memory_mib,
             disk_gib = EXCLUDED.disk_gib, kinds = EXCLUDED.kinds,
             reported_vtep_address = EXCLUDED.reported_vtep_address, reported_uplink = EXCLUDED.reported_uplink,
             last_heartbeat_at = now()
         RETURNING host_id",
    )
    .bind(kumo_common::ids::resource_id("host"))
    .bind(&request.name)
    .bind(&request.zone)
    .bind(&request.address)
    .bind(sha256_hex(&secret))
    .bind(request.capacity.vcpus as i32)
    .bind(request.capacity.memory_mib as i32)
    .bind(request.capacity.disk_gib as i32)
    .bind(kinds(&request.capacity.kinds))
    .bind(vtep_address)
    .bind(uplink)
    .fetch_one(pool)
    .await?;
    tracing::info!(%host_id, name = %request.name, vcpus = request.capacity.vcpus, memory_mib = request.capacity.memory_mib, "host enrolled");
    Ok(EnrolResponse {
        node_token: format!("{host_id}:{secret}"),
        host_id,
    })
}

/// The host a node token belongs to.
pub async fn authenticate_node(pool: &PgPool, token: &str) -> Result<String> {
    let (host_id, secret) = token.split_once(':').ok_or(ComputeError::Unauthenticated)?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT token_sha256 FROM compute.hosts WHERE host_id = $1")
            .bind(host_id)
            .fetch_optional(pool)
            .await?;
    match stored {
        Some(hash)
            if kumo_auth::sigv4::constant_time_eq(
                hash.as_bytes(),
                sha256_hex(secret).as_bytes(),
            ) =>
        {
            Ok(host_id.to_string())
        }
        _ => Err(ComputeError::Unauthenticated),
    }
}

/// What an agent's observation does to an instance (see [`instances::transitions`]);
/// `None` when it changes nothing.
pub fn transition(
    row: &InstanceRow,
    observed: ObservedState,
    observed_generation: i64,
    detail: Option<&str>,
) -> Option<Transition> {
    let observation = Observation {
        state: observed,
        current_generation: observed_generation == row.generation,
        detail,
    };
    // Observations are never refused.
    transitions::transition(&row.facts(), Event::Observed(observation))
        .ok()
        .filter(|change| change.action != Action::None)
}

/// One agent round: record capacity and heartbeat, apply observations, return the specs.
pub async fn sync(compute: &Compute, host_id: &str, request: &SyncRequest) -> Result<SyncResponse> {
    let pool = &compute.pool;
    host_network::check_report(&request.network)?;
    let (vtep_address, uplink) = host_network::report_columns(&request.network);
    sqlx::query(
        "UPDATE compute.hosts SET vcpus = $2, memory_mib = $3, disk_gib = $4, kinds = $5,
             reported_vtep_address = $6::inet, reported_uplink = $7, last_heartbeat_at = now()
         WHERE host_id = $1",
    )
    .bind(host_id)
    .bind(request.capacity.vcpus as i32)
    .bind(request.capacity.memory_mib as i32)
    .bind(request.capacity.disk_gib as i32)
    .bind(kinds(&request.capacity.kinds))
    .bind(vtep_address)
    .bind(uplink)
    .execute(pool)
    .await?;

    for observed in &request.instances {
        let mut tx = pool.begin().await?;
        let row = sqlx::query_as::<_, InstanceRow>(&format!(
            "SELECT {} FROM compute.instances WHERE instance_id = $1 AND host_id = $2 FOR UPDATE",
            instances::COLUMNS
        ))
        .bind(&observed.instance_id)
        .bind(host_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { continue };
        let change = transition(
            &row,
            observed.state,
            observed.generation,
            observed.detail.as_deref(),
        );
        if let Some(change) = change {
            instances::apply(compute, &mut tx, &row, &change, Cause::Observation).await?;
            if change.action == Action::Update {
                tracing::info!(instance_id = %row.instance_id, from = row.state.as_str(), to = change.state.as_str(), detail = ?observed.detail, "instance state changed");
            }
        }
        tx.commit().await?;
        if let Some(volumes) = &compute.volumes {
            // A running VM reports what it has plugged; a stopped or gone one has nothing.
            let plugged = match (observed.state, &observed.volumes) {
                (ObservedState::Running, Some(list)) => Some((true, list.as_slice())),
                (ObservedState::Stopped | ObservedState::Absent, _) => Some((false, &[][..])),
                _ => None,
            };
            if let Some((running, list)) = plugged {
                volumes
                    .observed(&observed.instance_id, running, list)
                    .await?;
            }
            if let (ObservedState::Running, Some(replicas)) =
                (observed.state, &observed.volume_replicas)
            {
                volumes
                    .observed_replicas(&observed.instance_id, replicas)
                    .await?;
            }
        }
    }

    let rows = sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {} FROM compute.instances WHERE host_id = $1 AND state <> 'terminated' ORDER BY instance_id",
        instances::COLUMNS
    ))
    .bind(host_id)
    .fetch_all(pool)
    .await?;
    // Each instance is plugged into its primary interface (the network service's).
    let mut interfaces = std::collections::BTreeMap::new();
    if let Some(networking) = &compute.networking {
        let mut by_account: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for row in &rows {
            by_account
                .entry(row.account_id.as_str())
                .or_default()
                .push(row.instance_id.clone());
        }
        for (account_id, ids) in by_account {
            interfaces.extend(networking.interfaces(account_id, &ids).await?);
        }
    }
    let mut plugs = match &compute.volumes {
        Some(volumes) => {
            let ids: Vec<String> = rows.iter().map(|r| r.instance_id.clone()).collect();
            volumes.to_plug(&ids).await?
        }
        None => Default::default(),
    };
    let mut specs = Vec::with_capacity(rows.len());
    for row in &rows {
        let primary = interfaces
            .get(&row.instance_id)
            .and_then(|list| list.iter().find(|i| i.device_index == 0));
        let volumes = plugs.remove(&row.instance_id).unwrap_or_default();
        // An EBS-backed instance starts only once its root volume can be plugged (its
        // replicas are ready): until then it stays `pending`, unknown to the host.
        let root_ready = volumes.iter().any(|v| v.boot && !v.replicas.is_empty());
        if row.root_device_name.is_some() && row.state == InstanceState::Pending && !root_ready {
            continue;
        }
        specs.push(instances::spec(pool, &compute.config, row, primary, volumes).await?);
    }
    Ok(SyncResponse { instances: specs })
}

/// Store the tail of an instance's console (EC2 keeps the last 64 KiB).
pub async fn upload_console(
    pool: &PgPool,
    host_id: &str,
    instance_id: &str,
    output: &[u8],
) -> Result<()> {
    let tail = &output[output.len().saturating_sub(64 * 1024)..];
    let updated = sqlx::query(
        "INSERT INTO compute.console_output (instance_id, output, updated_at)
         SELECT $1, $3, now() WHERE EXISTS (SELECT 1 FROM compute.instances WHERE instance_id = $1 AND host_id = $2)
         ON CONFLICT (instance_id) DO UPDATE SET output = EXCLUDED.output, updated_at = now()",
    )
    .bind(instance_id)
    .bind(host_id)
    .bind(tail)
    .execute(pool)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ComputeError::instance_not_found(&[instance_id.to_string()]));
    }
    Ok(())
}

/// Whether the scheduler places new instances on a host (the `state` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum HostState {
    Enabled,
    /// No new placements.
    Disabled,
    /// No new placements; running instances stay until stopped or terminated.
    Draining,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
            Self::Draining => "draining",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Host {
    pub host_id: String,
    pub name: String,
    pub zone: String,
    pub address: String,
    /// `enabled`, `disabled` or `draining`.
    #[schema(value_type = String)]
    pub state: HostState,
    /// False when the agent has not synced within the heartbeat timeout.
    pub reachable: bool,
    pub vcpus: i32,
    pub memory_mib: i32,
    pub disk_gib: i32,
    pub vcpus_used: i32,
    pub memory_mib_used: i32,
    pub kinds: Vec<String>,
    pub instances: i64,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
    /// The VXLAN endpoint in use: the operator's, else what the agent reports.
    pub vtep_address: Option<String>,
    /// The uplink in use: the operator's, else what the agent reports.
    pub uplink: Option<String>,
    /// What the agent reports.
    pub reported_vtep_address: Option<String>,
    pub reported_uplink: Option<String>,
}

pub async fn list(compute: &Compute, caller: &Principal) -> Result<Vec<Host>> {
    require_operator(caller)?;
    Ok(sqlx::query_as::<_, Host>(&format!(
        "SELECT {HOST_COLUMNS} FROM compute.hosts h ORDER BY h.name"
    ))
    .bind(compute.config.heartbeat_timeout.as_secs_f64())
    .fetch_all(&compute.pool)
    .await?)
}

const HOST_COLUMNS: &str = "h.host_id, h.name, h.zone, h.address, h.state,
    COALESCE(h.last_heartbeat_at > now() - make_interval(secs => $1), false) AS reachable,
    h.vcpus, h.memory_mib, h.disk_gib, h.vcpus_used, h.memory_mib_used, h.kinds,
    (SELECT count(*) FROM compute.instances i WHERE i.host_id = h.host_id AND i.state <> 'terminated') AS instances,
    h.last_heartbeat_at,
    host(COALESCE(h.operator_vtep_address, h.reported_vtep_address)) AS vtep_address,
    COALESCE(h.operator_uplink, h.reported_uplink) AS uplink,
    host(h.reported_vtep_address) AS reported_vtep_address, h.reported_uplink";

/// One host, as the operator's listing shows it.
pub async fn get(compute: &Compute, caller: &Principal, host_id: &str) -> Result<Host> {
    require_operator(caller)?;
    sqlx::query_as::<_, Host>(&format!(
        "SELECT {HOST_COLUMNS} FROM compute.hosts h WHERE h.host_id = $2"
    ))
    .bind(compute.config.heartbeat_timeout.as_secs_f64())
    .bind(host_id)
    .fetch_optional(&compute.pool)
    .await?
    .ok_or_else(|| host_network::host_not_found(host_id))
}

/// Enable, disable (no new placements) or drain (no new placements; running instances
/// stay until stopped or terminated — live migration is not available).
pub async fn set_state(
    compute: &Compute,
    caller: &Principal,
    host_id: &str,
    state: HostState,
) -> Result<Host> {
    require_operator(caller)?;
    let updated = sqlx::query("UPDATE compute.hosts SET state = $2 WHERE host_id = $1")
        .bind(host_id)
        .bind(state)
        .execute(&compute.pool)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(host_network::host_not_found(host_id));
    }
    tracing::info!(%host_id, state = state.as_str(), "host state changed");
    if state == HostState::Draining {
        let moved = instances::move_stopped_off(compute, host_id).await?;
        tracing::info!(%host_id, moved, "stopped EBS-backed instances moved off the draining host");
    }
    get(compute, caller, host_id).await
}
