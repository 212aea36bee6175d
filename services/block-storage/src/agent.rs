//! The storage nodes' block protocol (`kumo_storage_protocol::block`): a node polls the
//! replicas it should hold (`GET /v1/storage-agent/volumes`) and reports what it holds
//! (`POST /v1/storage-agent/volumes/report`), authenticated by its node token (the one
//! object storage gave it at enrolment, read through `object_storage.node_inventory`).
//! Reports move volumes along: `creating → available` once every replica is ready (`error`
//! when one has kept failing for [`FAILED_FOR`]), `deleting → deleted` once none is left,
//! and a modification's `modifying → optimizing → completed` once every replica has the
//! new size.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_common::ValidJson;
use kumo_storage_protocol::block::{
    ExportCredentials, NodeVolumes, ReplicaDesired, ReplicaSource, ReplicaState, VolumeReplicaSpec,
    VolumeReport,
};
use kumo_storage_protocol::NODE_TOKEN_HEADER;
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{BlockStorageError, Result};
use crate::BlockStorage;

/// How long a replica may keep failing before its `creating` volume is `error`.
pub const FAILED_FOR_SECONDS: f64 = 60.0;

/// Replicas per report at most (a node's whole set).
pub const MAX_REPORTED: usize = 10_000;

const GIB: i64 = 1 << 30;

pub fn router(storage: BlockStorage) -> Router {
    Router::new()
        .route("/v1/storage-agent/volumes", get(node_volumes))
        .route("/v1/storage-agent/volumes/report", post(report))
        .with_state(storage)
}

/// The enrolled storage node a request comes from.
pub struct Node(pub String);

impl FromRequestParts<BlockStorage> for Node {
    type Rejection = BlockStorageError;

    async fn from_request_parts(parts: &mut Parts, storage: &BlockStorage) -> Result<Self> {
        let token = parts
            .headers
            .get(NODE_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(BlockStorageError::Unauthenticated)?;
        Ok(Node(authenticate(&storage.pool, token).await?))
    }
}

/// The node a token belongs to (`node_id:secret`, compared in constant time).
pub async fn authenticate(pool: &PgPool, token: &str) -> Result<String> {
    let (node_id, _) = token
        .split_once(':')
        .ok_or(BlockStorageError::Unauthenticated)?;
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT node_token FROM object_storage.node_inventory WHERE node_id = $1",
    )
    .bind(node_id)
    .fetch_optional(pool)
    .await?;
    match stored {
        Some(stored) if kumo_auth::sigv4::constant_time_eq(stored.as_bytes(), token.as_bytes()) => {
            Ok(node_id.to_string())
        }
        _ => Err(BlockStorageError::Unauthenticated),
    }
}

async fn node_volumes(
    State(storage): State<BlockStorage>,
    Node(node_id): Node,
) -> Result<Json<NodeVolumes>> {
    Ok(Json(assigned(&storage.pool, &node_id).await?))
}

async fn report(
    State(storage): State<BlockStorage>,
    Node(node_id): Node,
    ValidJson(report): ValidJson<VolumeReport>,
) -> Result<StatusCode> {
    apply_report(&storage.pool, &node_id, &report).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Every replica assigned to the node, with what should become of it.
pub async fn assigned(pool: &PgPool, node_id: &str) -> Result<NodeVolumes> {
    let rows: Vec<(String, i32, String, String, String, Option<String>)> = sqlx::query_as(
        "SELECT r.volume_id, v.size_gib, r.desired, r.psk_identity, r.psk_key_hex, v.source_disk
         FROM block_storage.volume_replicas r
         JOIN block_storage.volumes v ON v.volume_id = r.volume_id
         WHERE r.node_id = $1 ORDER BY r.volume_id",
    )
    .bind(node_id)
    .fetch_all(pool)
    .await?;
    let volumes = rows
        .into_iter()
        .map(
            |(volume_id, size_gib, desired, psk_identity, psk_key_hex, source_disk)| {
                VolumeReplicaSpec {
                    volume_id,
                    size_bytes: u64::try_from(i64::from(size_gib) * GIB).unwrap_or_default(),
                    desired: if desired == "present" {
                        ReplicaDesired::Present
                    } else {
                        ReplicaDesired::Absent
                    },
                    export: ExportCredentials {
                        psk_identity,
                        psk_key_hex,
                    },
                    source: source_disk.map(|disk| ReplicaSource::Image { disk: disk.into() }),
                }
            },
        )
        .collect();
    let volumes = crate::snapshots::agent::with_snapshot_sources(pool, volumes).await?;
    let volumes = crate::peer_copy::with_peer_sources(pool, node_id, volumes).await?;
    let snapshots = crate::snapshots::agent::tasks(pool, node_id).await?;
    Ok(NodeVolumes { volumes, snapshots })
}

fn state_name(state: ReplicaState) -> &'static str {
    match state {
        ReplicaState::Ready => "ready",
        ReplicaState::Failed => "failed",
        ReplicaState::Absent => "absent",
    }
}

/// Record a node's report and move the volumes it concerns along.
pub async fn apply_report(pool: &PgPool, node_id: &str, report: &VolumeReport) -> Result<()> {
    if report.volumes.len() > MAX_REPORTED {
        return Err(BlockStorageError::invalid(format!(
            "a report lists at most {MAX_REPORTED} replicas"
        )));
    }
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO block_storage.node_reports (node_id, free_bytes) VALUES ($1, $2)
         ON CONFLICT (node_id) DO UPDATE SET free_bytes = EXCLUDED.free_bytes, reported_at = now()",
    )
    .bind(node_id)
    .bind(i64::try_from(report.free_bytes).unwrap_or(i64::MAX))
    .execute(&mut *tx)
    .await?;
    // The node's replicas, locked in volume order (as every writer takes them).
    let held: Vec<String> = sqlx::query_scalar(
        "SELECT volume_id FROM block_storage.volume_replicas WHERE node_id = $1
         ORDER BY volume_id FOR UPDATE",
    )
    .bind(node_id)
    .fetch_all(&mut *tx)
    .await?;
    for replica in &report.volumes {
        if !held.contains(&replica.volume_id) {
            continue; // Not ours to track (the node removes what it was not asked for).
        }
        let detail: Option<String> = replica
            .detail
            .as_deref()
            .map(|d| d.chars().filter(|c| !c.is_control()).take(1024).collect());
        sqlx::query(
            "UPDATE block_storage.volume_replicas
             SET reported = $3, nbd_port = $4, reported_size_bytes = $5, detail = $6,
                 reported_at = now(),
                 failed_since = CASE WHEN $3 = 'failed' THEN COALESCE(failed_since, now()) END
             WHERE volume_id = $1 AND node_id = $2",
        )
        .bind(&replica.volume_id)
        .bind(node_id)
        .bind(state_name(replica.state))
        .bind(
            replica
                .nbd_port
                .filter(|_| replica.state == ReplicaState::Ready)
                .map(i32::from),
        )
        .bind(i64::try_from(replica.size_bytes).unwrap_or(i64::MAX))
        .bind(detail)
        .execute(&mut *tx)
        .await?;
    }
    let ready: Vec<&str> = report
        .volumes
        .iter()
        .filter(|r| r.state == ReplicaState::Ready && held.contains(&r.volume_id))
        .map(|r| r.volume_id.as_str())
        .collect();
    crate::peer_copy::copied(&mut tx, node_id, &ready).await?;
    // A replica to remove that the node no longer holds is gone.
    let reported: Vec<&str> = report
        .volumes
        .iter()
        .filter(|r| r.state != ReplicaState::Absent)
        .map(|r| r.volume_id.as_str())
        .collect();
    crate::peer_copy::rewanted(&mut tx, node_id, &reported).await?;
    sqlx::query(
        "DELETE FROM block_storage.volume_replicas
         WHERE node_id = $1 AND desired = 'absent' AND NOT (volume_id = ANY($2))",
    )
    .bind(node_id)
    .bind(&reported)
    .execute(&mut *tx)
    .await?;
    for volume_id in &held {
        settle(&mut tx, volume_id).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Move one volume (locked by the caller's transaction) along from its replicas' reports.
pub(crate) async fn settle(tx: &mut Transaction<'_, Postgres>, volume_id: &str) -> Result<()> {
    let state: Option<(String, String, i32)> = sqlx::query_as(
        "SELECT state, account_id, size_gib FROM block_storage.volumes WHERE volume_id = $1",
    )
    .bind(volume_id)
    .fetch_optional(&mut **tx)
    .await?;
    let Some((state, account_id, size_gib)) = state else {
        return Ok(());
    };
    // (present replicas, ready ones, failed long enough, ready at the volume's size)
    let (present, ready, failing, sized): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE desired = 'present'),
                count(*) FILTER (WHERE desired = 'present' AND reported = 'ready'),
                count(*) FILTER (WHERE desired = 'present' AND reported = 'failed'
                                 AND failed_since < now() - make_interval(secs => $2)),
                count(*) FILTER (WHERE desired = 'present' AND reported = 'ready'
                                 AND reported_size_bytes >= $3)
         FROM block_storage.volume_replicas WHERE volume_id = $1",
    )
    .bind(volume_id)
    .bind(FAILED_FOR_SECONDS)
    .bind(i64::from(size_gib) * GIB)
    .fetch_one(&mut **tx)
    .await?;
    let all: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM block_storage.volume_replicas WHERE volume_id = $1",
    )
    .bind(volume_id)
    .fetch_one(&mut **tx)
    .await?;
    // A launch's volume is attached from the start: ready, it is in use.
    let attached: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM block_storage.attachments WHERE volume_id = $1)",
    )
    .bind(volume_id)
    .fetch_one(&mut **tx)
    .await?;
    let next = match state.as_str() {
        "creating" if present > 0 && ready == present && attached => Some("in-use"),
        "creating" if present > 0 && ready == present => Some("available"),
        "creating" if failing > 0 => Some("error"),
        "deleting" if all == 0 => Some("deleted"),
        _ => None,
    };
    if let Some(next) = next {
        sqlx::query(
            "UPDATE block_storage.volumes SET state = $2,
                    deleted_at = CASE WHEN $2 = 'deleted' THEN now() END
             WHERE volume_id = $1",
        )
        .bind(volume_id)
        .bind(next)
        .execute(&mut **tx)
        .await?;
        if next == "deleted" {
            kumo_tags::delete_all(&mut **tx, &account_id, &[volume_id.to_string()]).await?;
        }
    }
    if present > 0 && sized == present {
        crate::modifications::advance(tx, volume_id).await?;
    }
    Ok(())
}
