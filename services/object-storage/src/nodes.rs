//! Storage nodes: enrolment with an operator-issued join token, heartbeats (address,
//! capacity, usage), health, and the operator's view.

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_storage_protocol::{EnrolRequest, EnrolResponse, HeartbeatRequest, HeartbeatResponse};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::{Result, StorageError};
use crate::{require_operator, ObjectStorage};

pub use kumo_common::JoinToken;

/// A join token for enrolling storage nodes (valid for `ttl`, usable by any number of nodes).
pub async fn create_join_token(pool: &PgPool, ttl: std::time::Duration) -> Result<JoinToken> {
    Ok(kumo_catalog::join_tokens::create(pool, "object_storage.join_tokens", "ksj", ttl).await?)
}

pub async fn issue_join_token(pool: &PgPool, caller: &Principal) -> Result<JoinToken> {
    require_operator(caller)?;
    create_join_token(pool, std::time::Duration::from_secs(24 * 3600)).await
}

fn validate_enrol(request: &EnrolRequest) -> Result<()> {
    if !kumo_common::enrolment::is_valid_agent_name(&request.name) {
        return Err(StorageError::invalid_argument(
            "node name: 1 to 64 letters, digits, '-', '_' or '.'",
        ));
    }
    validate_address(&request.address)?;
    if request.zone.is_empty() || request.zone.len() > 64 {
        return Err(StorageError::invalid_argument(
            "zone must be 1 to 64 characters",
        ));
    }
    Ok(())
}

fn validate_address(address: &str) -> Result<()> {
    if !(address.starts_with("http://") || address.starts_with("https://")) || address.len() > 256 {
        return Err(StorageError::invalid_argument(
            "address must be an http(s) base URL",
        ));
    }
    Ok(())
}

fn bytes_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Enrol (or re-enrol under the same name, replacing its token) a storage node.
pub async fn enrol(pool: &PgPool, request: &EnrolRequest) -> Result<EnrolResponse> {
    validate_enrol(request)?;
    if !kumo_catalog::join_tokens::is_valid(pool, "object_storage.join_tokens", &request.join_token)
        .await?
    {
        return Err(StorageError::S3(
            http::StatusCode::FORBIDDEN,
            "AccessDenied",
            "the join token is unknown or expired".into(),
        ));
    }
    let candidate_id = kumo_common::ids::resource_id("sn");
    let secret = kumo_common::ids::secret_string(40);
    let node_id: String = sqlx::query_scalar(
        "INSERT INTO object_storage.nodes (node_id, name, zone, address, node_token, capacity_bytes, last_heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $6, now())
         ON CONFLICT (name) DO UPDATE SET zone = EXCLUDED.zone, address = EXCLUDED.address,
             node_token = object_storage.nodes.node_id || ':' || $7, capacity_bytes = EXCLUDED.capacity_bytes,
             last_heartbeat_at = now()
         RETURNING node_id",
    )
    .bind(&candidate_id)
    .bind(&request.name)
    .bind(&request.zone)
    .bind(&request.address)
    .bind(format!("{candidate_id}:{secret}"))
    .bind(bytes_i64(request.capacity_bytes))
    .bind(&secret)
    .fetch_one(pool)
    .await?;
    tracing::info!(%node_id, name = %request.name, address = %request.address, "storage node enrolled");
    Ok(EnrolResponse {
        node_token: format!("{node_id}:{secret}"),
        node_id,
    })
}

/// The node a token belongs to.
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<String> {
    let (node_id, _) = token.split_once(':').ok_or(StorageError::AccessDenied)?;
    let stored: Option<String> =
        sqlx::query_scalar("SELECT node_token FROM object_storage.nodes WHERE node_id = $1")
            .bind(node_id)
            .fetch_optional(pool)
            .await?;
    match stored {
        Some(stored) if kumo_auth::sigv4::constant_time_eq(stored.as_bytes(), token.as_bytes()) => {
            Ok(node_id.to_string())
        }
        _ => Err(StorageError::AccessDenied),
    }
}

pub async fn heartbeat(
    storage: &ObjectStorage,
    node_id: &str,
    request: &HeartbeatRequest,
) -> Result<HeartbeatResponse> {
    validate_address(&request.address)?;
    sqlx::query(
        "UPDATE object_storage.nodes SET address = $2, capacity_bytes = $3, used_bytes = $4, chunks = $5,
             last_heartbeat_at = now()
         WHERE node_id = $1",
    )
    .bind(node_id)
    .bind(&request.address)
    .bind(bytes_i64(request.capacity_bytes))
    .bind(bytes_i64(request.used_bytes))
    .bind(bytes_i64(request.chunks))
    .execute(&storage.pool)
    .await?;
    Ok(HeartbeatResponse {
        interval_seconds: storage.config.heartbeat_interval.as_secs().max(1),
    })
}

/// A node's `state` column (a CHECKed TEXT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum NodeState {
    Enabled,
    /// No new chunks; still read until re-replication has copied its chunks away.
    Disabled,
}

impl NodeState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "enabled",
            Self::Disabled => "disabled",
        }
    }
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the data path needs to know of a node.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NodeEndpoint {
    pub node_id: String,
    pub address: String,
    pub node_token: String,
    pub healthy: bool,
    pub writable: bool,
    pub free_bytes: i64,
}

/// Every node with its health (heartbeat within the timeout) and writability.
pub async fn endpoints(storage: &ObjectStorage) -> Result<Vec<NodeEndpoint>> {
    Ok(sqlx::query_as::<_, NodeEndpoint>(
        "SELECT node_id, address, node_token,
                COALESCE(last_heartbeat_at > now() - make_interval(secs => $1), false) AS healthy,
                state = $2 AS writable,
                GREATEST(capacity_bytes - used_bytes, 0) AS free_bytes
         FROM object_storage.nodes ORDER BY node_id",
    )
    .bind(storage.config.heartbeat_timeout.as_secs_f64())
    .bind(NodeState::Enabled)
    .fetch_all(&storage.pool)
    .await?)
}

/// The operator's view of one node.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct StorageNode {
    pub node_id: String,
    pub name: String,
    pub zone: String,
    pub address: String,
    /// `enabled` or `disabled` (no new chunks).
    #[schema(value_type = String)]
    pub state: NodeState,
    /// False when the node has not sent a heartbeat within the timeout.
    pub healthy: bool,
    pub capacity_bytes: i64,
    /// Bytes on the node's disk, as it reports them.
    pub used_bytes: i64,
    /// Chunks the node holds, as it reports them.
    pub chunks: i64,
    /// Chunk replicas the catalog places on this node.
    pub replicas: i64,
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

pub async fn list(storage: &ObjectStorage, caller: &Principal) -> Result<Vec<StorageNode>> {
    require_operator(caller)?;
    Ok(sqlx::query_as::<_, StorageNode>(
        "SELECT n.node_id, n.name, n.zone, n.address, n.state,
                COALESCE(n.last_heartbeat_at > now() - make_interval(secs => $1), false) AS healthy,
                n.capacity_bytes, n.used_bytes, n.chunks,
                (SELECT count(*) FROM object_storage.chunk_replicas r WHERE r.node_id = n.node_id) AS replicas,
                n.last_heartbeat_at
         FROM object_storage.nodes n ORDER BY n.name",
    )
    .bind(storage.config.heartbeat_timeout.as_secs_f64())
    .fetch_all(&storage.pool)
    .await?)
}

/// Forget a disabled node once every chunk it holds has enough replicas elsewhere (on
/// healthy, enabled nodes): re-replication copies a disabled node's chunks away, so
/// disable, wait for `replicas` to be safe, then remove. Its disk is left as it is.
pub async fn remove(storage: &ObjectStorage, caller: &Principal, node_id: &str) -> Result<()> {
    require_operator(caller)?;
    let endpoints = endpoints(storage).await?;
    let node = endpoints
        .iter()
        .find(|n| n.node_id == node_id)
        .ok_or_else(|| no_such_node(node_id))?;
    if node.writable {
        return Err(StorageError::S3(
            http::StatusCode::CONFLICT,
            "NodeNotDisabled",
            format!(
                "disable storage node {node_id} first; its chunks are then copied to the others"
            ),
        ));
    }
    let others: Vec<String> = endpoints
        .iter()
        .filter(|n| n.healthy && n.writable && n.node_id != node_id)
        .map(|n| n.node_id.clone())
        .collect();
    let wanted = storage.config.replication.min(others.len()).max(1) as i64;
    let mut tx = storage.pool.begin().await?;
    // New replicas are recorded on other nodes only; lock this node's row so a concurrent
    // removal or re-enable waits.
    sqlx::query("SELECT 1 FROM object_storage.nodes WHERE node_id = $1 FOR UPDATE")
        .bind(node_id)
        .execute(&mut *tx)
        .await?;
    let short: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM object_storage.chunk_replicas mine
         WHERE mine.node_id = $1
           AND EXISTS (SELECT 1 FROM object_storage.blob_chunks b WHERE b.sha256 = mine.sha256)
           AND (SELECT count(*) FROM object_storage.chunk_replicas r
                WHERE r.sha256 = mine.sha256 AND r.node_id = ANY($2)) < $3",
    )
    .bind(node_id)
    .bind(&others)
    .bind(wanted)
    .fetch_one(&mut *tx)
    .await?;
    if short > 0 {
        return Err(StorageError::S3(
            http::StatusCode::CONFLICT,
            "NodeStillHoldsData",
            format!("storage node {node_id} still holds {short} chunks not yet copied to enough other nodes; try again after re-replication"),
        ));
    }
    sqlx::query("DELETE FROM object_storage.chunk_replicas WHERE node_id = $1")
        .bind(node_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM object_storage.nodes WHERE node_id = $1")
        .bind(node_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(%node_id, "storage node removed");
    Ok(())
}

fn no_such_node(node_id: &str) -> StorageError {
    StorageError::S3(
        http::StatusCode::NOT_FOUND,
        "NoSuchStorageNode",
        format!("storage node {node_id} not found"),
    )
}

/// Enable or disable a node. A disabled node takes no new chunks and is drained:
/// re-replication copies its chunks to enabled nodes (it is still read until then).
pub async fn set_state(
    storage: &ObjectStorage,
    caller: &Principal,
    node_id: &str,
    state: NodeState,
) -> Result<StorageNode> {
    require_operator(caller)?;
    if kumo_common::text::check(node_id).is_err() {
        return Err(no_such_node(node_id));
    }
    let updated = sqlx::query("UPDATE object_storage.nodes SET state = $2 WHERE node_id = $1")
        .bind(node_id)
        .bind(state)
        .execute(&storage.pool)
        .await?;
    if updated.rows_affected() == 0 {
        return Err(no_such_node(node_id));
    }
    tracing::info!(%node_id, %state, "storage node state changed");
    list(storage, caller)
        .await?
        .into_iter()
        .find(|n| n.node_id == node_id)
        .ok_or_else(|| StorageError::Internal("node vanished".into()))
}

/// Per-account storage usage (operator view).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AccountUsage {
    pub account_id: String,
    pub buckets: i64,
    /// Object versions (delete markers excluded).
    pub objects: i64,
    /// Logical bytes stored (every version), before replication.
    pub bytes: i64,
}

pub async fn account_usage(
    storage: &ObjectStorage,
    caller: &Principal,
) -> Result<Vec<AccountUsage>> {
    require_operator(caller)?;
    Ok(sqlx::query_as::<_, AccountUsage>(
        "SELECT b.account_id, count(DISTINCT b.name) AS buckets,
                count(o.key) FILTER (WHERE NOT o.delete_marker) AS objects,
                COALESCE(sum(o.size), 0)::bigint AS bytes
         FROM object_storage.buckets b
         LEFT JOIN object_storage.objects o ON o.bucket = b.name
         GROUP BY b.account_id ORDER BY b.account_id",
    )
    .fetch_all(&storage.pool)
    .await?)
}
