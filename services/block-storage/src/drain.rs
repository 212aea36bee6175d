//! Draining a storage node (operators): placement skips it, and each replica it holds of
//! an available or in-use volume gets a replacement on another healthy, non-draining node
//! of the zone that holds none of the volume (stale: rebuilt by the attached host, or
//! copied from an in-sync peer when detached, see `peer_copy`). The drained replica is
//! removed (desired absent) only once its replacement is ready and in sync, so a volume
//! never loses its last in-sync copy to a drain. Undraining stops the moves; replicas
//! already moved stay where they went.

use kumo_auth::Principal;
use sqlx::PgPool;

use crate::error::{BlockStorageError, Result};
use crate::nodes::{self, BlockNode};
use crate::{replicas, require_operator};

/// Start (`draining` true) or stop draining `node_id`; the node as the pool list shows it.
pub async fn set_draining(
    pool: &PgPool,
    caller: &Principal,
    node_id: &str,
    draining: bool,
) -> Result<BlockNode> {
    require_operator(caller)?;
    let known: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM object_storage.node_inventory WHERE node_id = $1)",
    )
    .bind(node_id)
    .fetch_one(pool)
    .await?;
    if !known {
        return Err(BlockStorageError::NotFound(
            "NotFound",
            format!("no storage node {node_id:?}"),
        ));
    }
    if draining {
        sqlx::query(
            "INSERT INTO block_storage.node_drains (node_id) VALUES ($1) ON CONFLICT DO NOTHING",
        )
        .bind(node_id)
        .execute(pool)
        .await?;
        tracing::info!(node_id, "storage node draining");
    } else {
        sqlx::query("DELETE FROM block_storage.node_drains WHERE node_id = $1")
            .bind(node_id)
            .execute(pool)
            .await?;
        tracing::info!(node_id, "storage node no longer draining");
    }
    nodes::list(pool, caller)
        .await?
        .into_iter()
        .find(|n| n.node_id == node_id)
        .ok_or_else(|| {
            BlockStorageError::NotFound("NotFound", format!("no storage node {node_id:?}"))
        })
}

/// One step for every replica on a draining node (see the module's comment). Returns how
/// many replicas were placed or removed.
pub async fn move_drained(pool: &PgPool) -> Result<usize> {
    let drained: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT r.volume_id, r.node_id, v.zone FROM block_storage.volume_replicas r
         JOIN block_storage.volumes v ON v.volume_id = r.volume_id
         JOIN block_storage.node_drains d ON d.node_id = r.node_id
         WHERE r.desired = 'present' AND v.state IN ('available', 'in-use')
         ORDER BY r.volume_id, r.node_id",
    )
    .fetch_all(pool)
    .await?;
    let mut moved = 0;
    for (volume_id, node_id, zone) in drained {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('block_storage.placement:' || $1))")
            .bind(&zone)
            .execute(&mut *tx)
            .await?;
        // (node, desired, in sync, reported, replaced by), locked in node order.
        type Row = (String, String, bool, Option<String>, Option<String>);
        let replicas: Vec<Row> = sqlx::query_as(
            "SELECT node_id, desired, in_sync, reported, replaced_by
             FROM block_storage.volume_replicas WHERE volume_id = $1
             ORDER BY node_id FOR UPDATE",
        )
        .bind(&volume_id)
        .fetch_all(&mut *tx)
        .await?;
        let Some((_, desired, _, _, replaced_by)) = replicas.iter().find(|r| r.0 == node_id) else {
            continue;
        };
        if desired != "present" {
            continue;
        }
        let replacement = replaced_by
            .as_ref()
            .and_then(|by| replicas.iter().find(|r| &r.0 == by && r.1 == "present"));
        match replacement {
            Some((by, _, true, Some(reported), _)) if reported == "ready" => {
                // Its replacement holds every write: the drained copy can go.
                sqlx::query(
                    "UPDATE block_storage.volume_replicas
                     SET desired = 'absent', in_sync = false, sync_changed_at = now()
                     WHERE volume_id = $1 AND node_id = $2",
                )
                .bind(&volume_id)
                .bind(&node_id)
                .execute(&mut *tx)
                .await?;
                tracing::info!(%volume_id, drained = %node_id, replacement = %by, "drained replica removed");
            }
            Some(_) => continue, // Being rebuilt.
            None => {
                let holders: Vec<&str> = replicas.iter().map(|r| r.0.as_str()).collect();
                let Some(spare) =
                    replicas::place_replacement(&mut tx, &volume_id, &zone, &holders).await?
                else {
                    continue;
                };
                sqlx::query(
                    "UPDATE block_storage.volume_replicas SET replaced_by = $3
                     WHERE volume_id = $1 AND node_id = $2",
                )
                .bind(&volume_id)
                .bind(&node_id)
                .bind(&spare)
                .execute(&mut *tx)
                .await?;
                tracing::info!(%volume_id, drained = %node_id, replacement = %spare, "drained replica's replacement placed");
            }
        }
        tx.commit().await?;
        moved += 1;
    }
    Ok(moved)
}
