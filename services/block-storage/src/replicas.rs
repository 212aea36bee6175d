//! Replica sync state: which replicas of a volume hold every acknowledged write.
//!
//! The compute host a volume is attached to writes to all its in-sync replicas (QEMU's
//! quorum) and reports each replica `InSync`, `Failed` (a write to it failed: taken out of
//! the quorum) or `Rebuilding` (being copied from the in-sync ones). Failed and rebuilding
//! replicas are stale (`in_sync = false`); a rebuilt one is in sync again. The last in-sync
//! replica of a volume is never marked stale.
//!
//! A replica whose storage node has not reported for longer than a grace (its host is
//! lost) is replaced: a new, stale replica on a healthy node of the zone that holds none
//! of the volume, and the lost one is marked absent (removed if its node ever returns),
//! unless it is the volume's last in-sync replica. The attached host rebuilds the new one
//! from the live copy; a detached volume's replacement is copied by its node from an in-sync
//! peer's export (see `peer_copy`); other stale replicas of a detached volume are rebuilt
//! at its next attach.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};

use crate::error::Result;
use crate::placement::export_key;

/// How long a replica's node may stay silent before the replica is replaced (default).
pub const DEFAULT_REPLACE_GRACE: Duration = Duration::from_secs(60);

/// One replica as the compute host writing to it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaObservation {
    pub volume_id: String,
    /// The storage node's id.
    pub replica_id: String,
    pub in_sync: bool,
}

/// The sync state of every present replica of `volume_ids`: (volume, node) → in sync.
pub async fn sync_states(
    pool: &PgPool,
    volume_ids: &[String],
) -> Result<BTreeMap<(String, String), bool>> {
    let rows: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT volume_id, node_id, in_sync FROM block_storage.volume_replicas
         WHERE volume_id = ANY($1) AND desired = 'present'",
    )
    .bind(volume_ids)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(volume, node, in_sync)| ((volume, node), in_sync))
        .collect())
}

/// The nodes holding a ready, in-sync replica of the volume (a snapshot reads one of
/// these, never a stale copy).
pub async fn in_sync_replicas(pool: &PgPool, volume_id: &str) -> Result<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT node_id FROM block_storage.volume_replicas
         WHERE volume_id = $1 AND desired = 'present' AND reported = 'ready' AND in_sync
         ORDER BY node_id",
    )
    .bind(volume_id)
    .fetch_all(pool)
    .await?)
}

/// A compute agent's report on the replicas of `instance_id`'s volumes. Observations of
/// a volume not attached to that instance are ignored (only the writing host knows).
pub async fn observed(
    pool: &PgPool,
    instance_id: &str,
    observations: &[ReplicaObservation],
) -> Result<()> {
    let mut by_volume: BTreeMap<&str, Vec<&ReplicaObservation>> = BTreeMap::new();
    for o in observations {
        by_volume.entry(o.volume_id.as_str()).or_default().push(o);
    }
    let mut tx = pool.begin().await?;
    for (volume_id, list) in by_volume {
        let attached: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM block_storage.attachments
                            WHERE volume_id = $1 AND instance_id = $2
                              AND state IN ('attaching', 'attached'))",
        )
        .bind(volume_id)
        .bind(instance_id)
        .fetch_one(&mut *tx)
        .await?;
        if !attached {
            continue;
        }
        // The volume's replicas, locked (in node order, as every writer takes them).
        sqlx::query(
            "SELECT 1 FROM block_storage.volume_replicas WHERE volume_id = $1
             ORDER BY node_id FOR UPDATE",
        )
        .bind(volume_id)
        .execute(&mut *tx)
        .await?;
        // In-sync reports first, so a stale mark never finds the volume without one.
        let mut ordered = list;
        ordered.sort_by_key(|o| !o.in_sync);
        for o in ordered {
            set_in_sync(&mut tx, volume_id, &o.replica_id, o.in_sync).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

async fn set_in_sync(
    tx: &mut Transaction<'_, Postgres>,
    volume_id: &str,
    node_id: &str,
    in_sync: bool,
) -> Result<()> {
    let changed = sqlx::query(
        "UPDATE block_storage.volume_replicas r SET in_sync = $3, sync_changed_at = now()
         WHERE r.volume_id = $1 AND r.node_id = $2 AND r.in_sync <> $3
           AND ($3 OR EXISTS (SELECT 1 FROM block_storage.volume_replicas o
                              WHERE o.volume_id = r.volume_id AND o.node_id <> r.node_id
                                AND o.desired = 'present' AND o.in_sync))",
    )
    .bind(volume_id)
    .bind(node_id)
    .bind(in_sync)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if changed > 0 {
        tracing::info!(volume_id, node_id, in_sync, "replica sync state changed");
    }
    Ok(())
}

/// Place a new, stale replica of the volume (to be rebuilt, or copied from a peer) on the
/// healthy, non-draining node of the zone with the most free bytes that holds none of it
/// (`holders`: every node with a row of the volume); its node, or `None` without one. The
/// caller holds the zone's placement lock and the volume's replicas.
pub(crate) async fn place_replacement(
    tx: &mut Transaction<'_, Postgres>,
    volume_id: &str,
    zone: &str,
    holders: &[&str],
) -> Result<Option<String>> {
    let spare: Option<String> = sqlx::query_scalar(
        "SELECT node_id FROM object_storage.node_inventory n
         WHERE zone = $1 AND healthy AND NOT (node_id = ANY($2))
           AND NOT EXISTS (SELECT 1 FROM block_storage.node_drains d
                           WHERE d.node_id = n.node_id)
         ORDER BY free_bytes DESC, node_id LIMIT 1",
    )
    .bind(zone)
    .bind(holders)
    .fetch_optional(&mut **tx)
    .await?;
    let Some(spare) = spare else {
        return Ok(None);
    };
    sqlx::query(
        "INSERT INTO block_storage.volume_replicas
             (volume_id, node_id, psk_identity, psk_key_hex, in_sync, sync_changed_at,
              peer_copy)
         VALUES ($1, $2, $1, $3, false, now(), 'due')",
    )
    .bind(volume_id)
    .bind(&spare)
    .bind(export_key())
    .execute(&mut **tx)
    .await?;
    Ok(Some(spare))
}

/// Replace the replicas whose node has not reported for longer than `grace` (see the
/// module's comment). Returns how many were replaced.
pub async fn replace_lost(pool: &PgPool, grace: Duration) -> Result<usize> {
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let lost: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT r.volume_id, r.node_id, v.zone FROM block_storage.volume_replicas r
         JOIN block_storage.volumes v ON v.volume_id = r.volume_id
         WHERE r.desired = 'present' AND v.state IN ('available', 'in-use')
           AND r.reported_at < now() - make_interval(secs => $1::double precision / 1000)
         ORDER BY r.volume_id, r.node_id",
    )
    .bind(grace_ms)
    .fetch_all(pool)
    .await?;
    let mut replaced = 0;
    for (volume_id, node_id, zone) in lost {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('block_storage.placement:' || $1))")
            .bind(&zone)
            .execute(&mut *tx)
            .await?;
        let replicas: Vec<(String, String, bool, Option<chrono::DateTime<chrono::Utc>>)> =
            sqlx::query_as(
                "SELECT node_id, desired, in_sync, reported_at FROM block_storage.volume_replicas
                 WHERE volume_id = $1 ORDER BY node_id FOR UPDATE",
            )
            .bind(&volume_id)
            .fetch_all(&mut *tx)
            .await?;
        let Some((_, desired, lost_in_sync, _)) = replicas.iter().find(|r| r.0 == node_id) else {
            continue;
        };
        if desired != "present" {
            continue;
        }
        let other_in_sync = replicas
            .iter()
            .any(|(n, d, s, _)| n != &node_id && d == "present" && *s);
        if *lost_in_sync && !other_in_sync {
            // Its last in-sync copy: kept, whatever the wait.
            continue;
        }
        let holders: Vec<&str> = replicas.iter().map(|r| r.0.as_str()).collect();
        let Some(spare) = place_replacement(&mut tx, &volume_id, &zone, &holders).await? else {
            continue;
        };
        // A drained replica whose replacement was lost waits for this one instead.
        sqlx::query(
            "UPDATE block_storage.volume_replicas SET replaced_by = $3
             WHERE volume_id = $1 AND replaced_by = $2",
        )
        .bind(&volume_id)
        .bind(&node_id)
        .bind(&spare)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE block_storage.volume_replicas
             SET desired = 'absent', in_sync = false, sync_changed_at = now()
             WHERE volume_id = $1 AND node_id = $2",
        )
        .bind(&volume_id)
        .bind(&node_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        tracing::warn!(%volume_id, lost = %node_id, replacement = %spare, "replaced a lost replica");
        replaced += 1;
    }
    Ok(replaced)
}
