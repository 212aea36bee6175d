//! Rebuilding a DETACHED volume's replacement replica: its storage node copies it from an
//! in-sync peer's NBD export (`ReplicaSource::Peer`), since no compute host writes to the
//! volume to rebuild it. An attached volume's stale replicas are the attached host's job.
//!
//! A replacement starts `peer_copy = 'due'`. While the volume has no attachment and an
//! in-sync, ready replica on a healthy node exists, the replacement's node is handed that
//! peer's address and export key (`copying`) — only while the copy is due; with no peer
//! the replacement is left out of the node's list (never created empty). A ready report
//! of a `copying` replica, the volume still detached, makes it in sync. Attaching the
//! volume spoils a copy under way (`spoiled`: a guest may write to the peer meanwhile):
//! the copy never counts, and the attached host rebuilds the replica as any stale one.
//!
//! A detached volume's other stale replicas (a returned node's, a spoiled copy) are
//! rebuilt the same way on their own node ([`reset_stale`]): `reset` makes the node delete
//! the replica (desired absent); once it reports it gone, the replica is wanted again,
//! `due`, and copied from a peer (the node never refills an image it holds).

use kumo_storage_protocol::block::{ReplicaSource, VolumeReplicaSpec};
use sqlx::{PgPool, Postgres, Transaction};

use crate::error::Result;

/// `volumes` (a node's assigned replicas) with the peer each replica to copy reads,
/// leaving out the ones that must wait for a peer.
pub async fn with_peer_sources(
    pool: &PgPool,
    node_id: &str,
    volumes: Vec<VolumeReplicaSpec>,
) -> Result<Vec<VolumeReplicaSpec>> {
    // (volume, attached) of this node's replicas to copy that the node does not hold yet.
    let due: Vec<(String, bool)> = sqlx::query_as(
        "SELECT r.volume_id,
                EXISTS (SELECT 1 FROM block_storage.attachments a WHERE a.volume_id = r.volume_id)
         FROM block_storage.volume_replicas r
         WHERE r.node_id = $1 AND r.desired = 'present' AND r.peer_copy IN ('due', 'copying')
           AND r.reported IS DISTINCT FROM 'ready'",
    )
    .bind(node_id)
    .fetch_all(pool)
    .await?;
    if due.is_empty() {
        return Ok(volumes);
    }
    let mut out = Vec::with_capacity(volumes.len());
    for mut volume in volumes {
        match due.iter().find(|(id, _)| *id == volume.volume_id) {
            // Attached: the host rebuilds it from the quorum; created as usual.
            None | Some((_, true)) => out.push(volume),
            Some((_, false)) => {
                if let Some(source) = start_copy(pool, &volume.volume_id, node_id).await? {
                    volume.source = Some(source);
                    out.push(volume);
                }
            }
        }
    }
    Ok(out)
}

/// Mark the replica `copying` and name the peer it copies (an in-sync, ready replica on a
/// healthy node), or `None` when there is no such peer or the volume got attached.
async fn start_copy(
    pool: &PgPool,
    volume_id: &str,
    node_id: &str,
) -> Result<Option<ReplicaSource>> {
    let mut tx = pool.begin().await?;
    // The volume's replicas, locked in node order (as every writer takes them).
    sqlx::query(
        "SELECT 1 FROM block_storage.volume_replicas WHERE volume_id = $1
         ORDER BY node_id FOR UPDATE",
    )
    .bind(volume_id)
    .execute(&mut *tx)
    .await?;
    let peer: Option<(String, i32, String, String)> = sqlx::query_as(
        "SELECT n.address, r.nbd_port, r.psk_identity, r.psk_key_hex
         FROM block_storage.volume_replicas r
         JOIN object_storage.node_inventory n ON n.node_id = r.node_id
         WHERE r.volume_id = $1 AND r.node_id <> $2 AND r.desired = 'present'
           AND r.reported = 'ready' AND r.in_sync AND r.nbd_port IS NOT NULL AND n.healthy
           AND NOT EXISTS (SELECT 1 FROM block_storage.attachments a WHERE a.volume_id = $1)
           AND EXISTS (SELECT 1 FROM block_storage.volume_replicas c
                       WHERE c.volume_id = $1 AND c.node_id = $2
                         AND c.peer_copy IN ('due', 'copying'))
         ORDER BY r.node_id LIMIT 1",
    )
    .bind(volume_id)
    .bind(node_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((address, port, psk_identity, psk_key_hex)) = peer else {
        return Ok(None);
    };
    let Ok(nbd_port) = u16::try_from(port) else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE block_storage.volume_replicas SET peer_copy = 'copying'
         WHERE volume_id = $1 AND node_id = $2",
    )
    .bind(volume_id)
    .bind(node_id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(ReplicaSource::Peer {
        host: kumo_common::host::url_host(&address).to_string(),
        nbd_port,
        psk_identity,
        psk_key_hex,
    }))
}

/// The node reported these replicas ready: a finished copy of a still-detached volume is in
/// sync (the caller's transaction holds the node's replicas locked).
pub(crate) async fn copied(
    tx: &mut Transaction<'_, Postgres>,
    node_id: &str,
    ready: &[&str],
) -> Result<()> {
    let done: Vec<String> = sqlx::query_scalar(
        "UPDATE block_storage.volume_replicas r
         SET in_sync = true, peer_copy = NULL, sync_changed_at = now()
         WHERE r.node_id = $1 AND r.volume_id = ANY($2) AND r.desired = 'present'
           AND r.peer_copy = 'copying'
           AND NOT EXISTS (SELECT 1 FROM block_storage.attachments a
                           WHERE a.volume_id = r.volume_id)
         RETURNING r.volume_id",
    )
    .bind(node_id)
    .bind(ready)
    .fetch_all(&mut **tx)
    .await?;
    for volume_id in done {
        tracing::info!(%volume_id, node_id, "replica copied from a peer: in sync");
    }
    Ok(())
}

/// The volume is being attached: a copy under way never counts (see the module's comment).
pub(crate) async fn spoil(tx: &mut Transaction<'_, Postgres>, volume_id: &str) -> Result<()> {
    sqlx::query(
        "UPDATE block_storage.volume_replicas SET peer_copy = 'spoiled'
         WHERE volume_id = $1 AND peer_copy = 'copying'",
    )
    .bind(volume_id)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Start the rebuild of every stale, ready replica of an available, detached volume that
/// has an in-sync, ready replica on another healthy node (see the module's comment), on
/// healthy, non-draining nodes. Returns how many were reset.
pub async fn reset_stale(pool: &PgPool) -> Result<usize> {
    let stale: Vec<(String, String)> = sqlx::query_as(
        "SELECT r.volume_id, r.node_id FROM block_storage.volume_replicas r
         JOIN block_storage.volumes v ON v.volume_id = r.volume_id
         JOIN object_storage.node_inventory n ON n.node_id = r.node_id
         WHERE r.desired = 'present' AND NOT r.in_sync AND r.reported = 'ready'
           AND (r.peer_copy IS NULL OR r.peer_copy = 'spoiled')
           AND v.state = 'available' AND n.healthy
           AND NOT EXISTS (SELECT 1 FROM block_storage.node_drains d WHERE d.node_id = r.node_id)
         ORDER BY r.volume_id, r.node_id",
    )
    .fetch_all(pool)
    .await?;
    let mut reset = 0;
    for (volume_id, node_id) in stale {
        let mut tx = pool.begin().await?;
        sqlx::query(
            "SELECT 1 FROM block_storage.volume_replicas WHERE volume_id = $1
             ORDER BY node_id FOR UPDATE",
        )
        .bind(&volume_id)
        .execute(&mut *tx)
        .await?;
        let changed = sqlx::query(
            "UPDATE block_storage.volume_replicas r
             SET desired = 'absent', peer_copy = 'reset'
             WHERE r.volume_id = $1 AND r.node_id = $2 AND r.desired = 'present'
               AND NOT r.in_sync AND r.reported = 'ready'
               AND (r.peer_copy IS NULL OR r.peer_copy = 'spoiled')
               AND NOT EXISTS (SELECT 1 FROM block_storage.attachments a WHERE a.volume_id = $1)
               AND EXISTS (SELECT 1 FROM block_storage.volume_replicas o
                           JOIN object_storage.node_inventory n ON n.node_id = o.node_id
                           WHERE o.volume_id = $1 AND o.node_id <> $2 AND o.desired = 'present'
                             AND o.in_sync AND o.reported = 'ready' AND n.healthy)",
        )
        .bind(&volume_id)
        .bind(&node_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        if changed > 0 {
            tracing::info!(%volume_id, %node_id, "stale replica of a detached volume: recopied from a peer");
            reset += 1;
        }
    }
    Ok(reset)
}

/// The node no longer holds these `reset` replicas (`held`: what it reported holding): they
/// are wanted again, to be copied from a peer — unless their volume is being deleted
/// (the caller's transaction holds the node's replicas locked).
pub(crate) async fn rewanted(
    tx: &mut Transaction<'_, Postgres>,
    node_id: &str,
    held: &[&str],
) -> Result<()> {
    sqlx::query(
        "UPDATE block_storage.volume_replicas r
         SET desired = 'present', peer_copy = 'due', nbd_port = NULL
         WHERE r.node_id = $1 AND r.desired = 'absent' AND r.peer_copy = 'reset'
           AND NOT (r.volume_id = ANY($2))
           AND EXISTS (SELECT 1 FROM block_storage.volumes v
                       WHERE v.volume_id = r.volume_id AND v.state IN ('available', 'in-use'))",
    )
    .bind(node_id)
    .bind(held)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
