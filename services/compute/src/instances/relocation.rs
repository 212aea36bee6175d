//! Stopped EBS-backed instances are not tied to a host: their disks are volumes on storage
//! nodes. StartInstances starts one on its host while that host is enabled and alive (its
//! capacity is still claimed there), else on another host of its zone with room; draining
//! a host moves its stopped EBS-backed instances at once.

use super::*;

/// Whether `host_id` takes instances now: enabled, with a fresh heartbeat.
async fn host_usable(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    config: &crate::ComputeConfig,
    host_id: &str,
) -> Result<bool> {
    Ok(sqlx::query_scalar(
        "SELECT state = 'enabled' AND COALESCE(last_heartbeat_at > now() - make_interval(secs => $2), false)
         FROM compute.hosts WHERE host_id = $1",
    )
    .bind(host_id)
    .bind(config.heartbeat_timeout.as_secs_f64())
    .fetch_optional(&mut **tx)
    .await?
    .unwrap_or(false))
}

/// Move a (locked) stopped instance to another host of its zone: the old host gives its
/// capacity back; no room anywhere is `InsufficientInstanceCapacity` (nothing changes).
async fn relocate(
    compute: &Compute,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    row: &InstanceRow,
) -> Result<String> {
    if let Some(old) = &row.host_id {
        scheduler::release(&mut **tx, old, row.vcpus, row.memory_mib).await?;
    }
    let demand = Demand {
        kind: row.kind,
        vcpus: row.vcpus,
        memory_mib: row.memory_mib,
        zone: Some(row.zone.clone()),
        min_count: 1,
        max_count: 1,
    };
    let placed = scheduler::claim(tx, &demand, &compute.config).await?;
    let (host_id, _) = placed
        .into_iter()
        .next()
        .ok_or_else(|| ComputeError::Internal("the scheduler placed nothing".into()))?;
    sqlx::query(
        "UPDATE compute.instances SET host_id = $2, generation = generation + 1, updated_at = now()
         WHERE instance_id = $1",
    )
    .bind(&row.instance_id)
    .bind(&host_id)
    .execute(&mut **tx)
    .await?;
    tracing::info!(instance_id = %row.instance_id, from = ?row.host_id, to = %host_id, "stopped instance moved");
    Ok(host_id)
}

fn movable(row: &InstanceRow) -> bool {
    row.root_device_name.is_some() && row.state == InstanceState::Stopped
}

/// Before a start: a stopped EBS-backed instance whose host cannot take it moves.
pub(super) async fn place_for_start(
    compute: &Compute,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    row: &InstanceRow,
) -> Result<()> {
    if !movable(row) {
        return Ok(());
    }
    let usable = match &row.host_id {
        Some(host_id) => host_usable(tx, &compute.config, host_id).await?,
        None => false,
    };
    if !usable {
        relocate(compute, tx, row).await?;
    }
    Ok(())
}

/// Move the stopped EBS-backed instances of a draining host elsewhere (each where there is
/// room; one that fits nowhere stays, and moves when started). Returns how many moved.
pub async fn move_stopped_off(compute: &Compute, host_id: &str) -> Result<usize> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT instance_id FROM compute.instances
         WHERE host_id = $1 AND state = 'stopped' AND root_device_name IS NOT NULL
         ORDER BY instance_id",
    )
    .bind(host_id)
    .fetch_all(&compute.pool)
    .await?;
    let mut moved = 0;
    for instance_id in ids {
        let mut tx = compute.pool.begin().await?;
        let row = sqlx::query_as::<_, InstanceRow>(&format!(
            "SELECT {COLUMNS} FROM compute.instances WHERE instance_id = $1 AND host_id = $2 FOR UPDATE"
        ))
        .bind(&instance_id)
        .bind(host_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row.filter(movable) else {
            continue;
        };
        match relocate(compute, &mut tx, &row).await {
            Ok(_) => {
                tx.commit().await?;
                moved += 1;
            }
            Err(ComputeError::InsufficientCapacity(_)) => tx.rollback().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(moved)
}
