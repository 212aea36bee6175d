//! The storage nodes' block pools, for operators: per node its zone, health, the replicas
//! it is asked to hold, the bytes promised to them and the bytes it still has free.

use kumo_auth::Principal;
use serde::Serialize;
use sqlx::PgPool;

use crate::error::Result;
use crate::require_operator;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct BlockNode {
    pub node_id: String,
    pub name: String,
    pub zone: String,
    pub healthy: bool,
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
