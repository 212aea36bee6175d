//! Where a new volume's replicas go: the healthy storage nodes of its zone (as object
//! storage's `object_storage.node_inventory` view shows them), the ones with the most room
//! first (free bytes less what is already promised to replicas), `min(replicas, healthy
//! nodes in the zone)` of them (a draining node takes none); none at all is `InsufficientVolumeCapacity`.

use rand::RngCore;
use sqlx::{Postgres, Transaction};

use crate::error::{BlockStorageError, Result};

/// The nodes for a new volume's `replicas` replicas in `zone`, best first. Placements in
/// one zone are serialized (the transaction holds the zone's lock until it commits), so
/// concurrent creates see each other's replicas.
pub async fn choose(
    tx: &mut Transaction<'_, Postgres>,
    zone: &str,
    replicas: usize,
) -> Result<Vec<String>> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('block_storage.placement:' || $1))")
        .bind(zone)
        .execute(&mut **tx)
        .await?;
    let nodes: Vec<String> = sqlx::query_scalar(
        "SELECT n.node_id FROM object_storage.node_inventory n
         LEFT JOIN (SELECT r.node_id, sum(v.size_gib::bigint * 1073741824) AS allocated
                    FROM block_storage.volume_replicas r
                    JOIN block_storage.volumes v ON v.volume_id = r.volume_id
                    WHERE r.desired = 'present'
                    GROUP BY r.node_id) a ON a.node_id = n.node_id
         WHERE n.zone = $1 AND n.healthy
           AND NOT EXISTS (SELECT 1 FROM block_storage.node_drains d WHERE d.node_id = n.node_id)
         ORDER BY n.free_bytes - COALESCE(a.allocated, 0) DESC, n.node_id
         LIMIT $2",
    )
    .bind(zone)
    .bind(i64::try_from(replicas).unwrap_or(i64::MAX))
    .fetch_all(&mut **tx)
    .await?;
    if nodes.is_empty() {
        return Err(BlockStorageError::InsufficientCapacity(format!(
            "There is not enough capacity to fulfill your EBS volume provision request in {zone}: no healthy storage node. You can try again later or in a different availability zone."
        )));
    }
    Ok(nodes)
}

/// Whether `zone` has a healthy storage node.
pub async fn zone_has_healthy_node(tx: &mut Transaction<'_, Postgres>, zone: &str) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM object_storage.node_inventory WHERE zone = $1 AND healthy)",
    )
    .bind(zone)
    .fetch_one(&mut **tx)
    .await?)
}

/// Choose the nodes of a new volume (see [`choose`]) and record its replicas there, each
/// with its own export credentials (the PSK identity is the volume id).
pub async fn place(
    tx: &mut Transaction<'_, Postgres>,
    volume_id: &str,
    zone: &str,
    replicas: usize,
) -> Result<Vec<String>> {
    let nodes = choose(tx, zone, replicas).await?;
    for node_id in &nodes {
        sqlx::query(
            "INSERT INTO block_storage.volume_replicas (volume_id, node_id, psk_identity, psk_key_hex)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(volume_id)
        .bind(node_id)
        .bind(volume_id)
        .bind(export_key())
        .execute(&mut **tx)
        .await?;
    }
    Ok(nodes)
}

/// A fresh export key: 32 bytes from the OS's CSPRNG, as 64 lowercase hex digits.
pub fn export_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    hex::encode(key)
}
