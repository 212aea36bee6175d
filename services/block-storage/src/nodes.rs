//! The storage nodes' block pools, for operators: per node its zone, health, the replicas
//! it is asked to hold, the bytes promised to them and the bytes it still has free, and
//! whether it is draining (see `drain`).

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use kumo_auth::{Caller, Principal};
use kumo_common::{ApiErrorBody, ValidPath};
use serde::Serialize;
use sqlx::PgPool;

use crate::error::Result;
use crate::{drain, require_operator, BlockStorage};

/// Operators' drain routes (the list is `GET /v1/block/nodes` in `api`).
pub fn router(storage: BlockStorage) -> Router {
    Router::new()
        .route("/v1/block/nodes/{node_id}/drain", post(drain_node))
        .route("/v1/block/nodes/{node_id}/undrain", post(undrain_node))
        .with_state(storage)
}

/// Drain a storage node: its replicas move to other nodes of its zone (each removed once
/// its replacement is in sync); no new replica is placed on it.
#[utoipa::path(post, path = "/v1/block/nodes/{node_id}/drain", tag = "block-storage",
    params(("node_id" = String, Path, description = "The storage node's id")),
    responses((status = 200, body = BlockNode), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)))]
async fn drain_node(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(node_id): ValidPath<String>,
) -> Result<Json<BlockNode>> {
    Ok(Json(
        drain::set_draining(&storage.pool, &caller, &node_id, true).await?,
    ))
}

/// Stop draining a storage node (replicas already moved stay where they went).
#[utoipa::path(post, path = "/v1/block/nodes/{node_id}/undrain", tag = "block-storage",
    params(("node_id" = String, Path, description = "The storage node's id")),
    responses((status = 200, body = BlockNode), (status = 403, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody)))]
async fn undrain_node(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(node_id): ValidPath<String>,
) -> Result<Json<BlockNode>> {
    Ok(Json(
        drain::set_draining(&storage.pool, &caller, &node_id, false).await?,
    ))
}

#[derive(utoipa::OpenApi)]
#[openapi(paths(drain_node, undrain_node), components(schemas(BlockNode)))]
pub struct NodesApi;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct BlockNode {
    pub node_id: String,
    pub name: String,
    pub zone: String,
    pub healthy: bool,
    /// Its replicas are being moved to other nodes; no new ones are placed on it.
    pub draining: bool,
    /// Replicas the node should hold.
    pub replicas: i64,
    /// The sizes of those replicas' volumes (qcow2 files are thin: not all written yet).
    pub allocated_bytes: i64,
    pub free_bytes: i64,
}

pub async fn list(pool: &PgPool, caller: &Principal) -> Result<Vec<BlockNode>> {
    require_operator(caller)?;
    Ok(sqlx::query_as::<_, BlockNode>(
        "SELECT n.node_id, n.name, n.zone, n.healthy,
                EXISTS (SELECT 1 FROM block_storage.node_drains d
                        WHERE d.node_id = n.node_id) AS draining,
                count(r.volume_id) AS replicas,
                COALESCE(sum(v.size_gib::bigint * 1073741824), 0)::bigint AS allocated_bytes,
                n.free_bytes
         FROM object_storage.node_inventory n
         LEFT JOIN block_storage.volume_replicas r
                ON r.node_id = n.node_id AND r.desired = 'present'
         LEFT JOIN block_storage.volumes v ON v.volume_id = r.volume_id
         GROUP BY n.node_id, n.name, n.zone, n.healthy, n.free_bytes
         ORDER BY n.zone, n.name",
    )
    .fetch_all(pool)
    .await?)
}
