//! State changes asked of instances (start, stop, reboot, terminate) and the end of their lives (termination finished, purge).

use super::*;

/// The caller's rows for `ids`, locked; every id must exist in the caller's account.
pub(super) async fn lock_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    caller: &Principal,
    ids: &[String],
) -> Result<Vec<InstanceRow>> {
    if ids.is_empty() {
        return Err(ComputeError::Missing("InstanceId".into()));
    }
    filters::check_ids("InstanceId", ids)?;
    for id in ids {
        validate_instance_id(id)?;
    }
    let rows = sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM compute.instances WHERE account_id = $1 AND instance_id = ANY($2)
         ORDER BY instance_id FOR UPDATE"
    ))
    .bind(&caller.account_id)
    .bind(ids)
    .fetch_all(&mut **tx)
    .await?;
    let missing: Vec<String> = ids
        .iter()
        .filter(|id| !rows.iter().any(|r| &r.instance_id == *id))
        .cloned()
        .collect();
    if !missing.is_empty() {
        return Err(ComputeError::instance_not_found(&missing));
    }
    Ok(rows)
}

pub(super) async fn set_state(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    instance_id: &str,
    state: InstanceState,
    desired: &str,
    reason: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "UPDATE compute.instances SET state = $2, desired_state = $3, state_reason = $4,
             generation = generation + 1, updated_at = now()
         WHERE instance_id = $1",
    )
    .bind(instance_id)
    .bind(state.as_str())
    .bind(desired)
    .bind(reason)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub(super) fn order_like(ids: &[String], mut changes: Vec<StateChange>) -> Vec<StateChange> {
    changes.sort_by_key(|c| ids.iter().position(|i| i == &c.instance_id));
    changes
}

pub async fn start(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<Vec<StateChange>> {
    require_write(caller)?;
    let mut tx = pool.begin().await?;
    let rows = lock_rows(&mut tx, caller, ids).await?;
    let mut changes = Vec::new();
    for row in &rows {
        let previous = row.state();
        let current = match previous {
            InstanceState::Stopped => {
                set_state(
                    &mut tx,
                    &row.instance_id,
                    InstanceState::Pending,
                    "running",
                    None,
                )
                .await?;
                InstanceState::Pending
            }
            InstanceState::Pending | InstanceState::Running => previous,
            _ => {
                return Err(ComputeError::IncorrectState(format!(
                    "The instance '{}' is not in a state from which it can be started.",
                    row.instance_id
                )))
            }
        };
        changes.push(StateChange {
            instance_id: row.instance_id.clone(),
            previous_state: previous,
            current_state: current,
        });
    }
    tx.commit().await?;
    Ok(order_like(ids, changes))
}

pub async fn stop(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<Vec<StateChange>> {
    require_write(caller)?;
    let mut tx = pool.begin().await?;
    let rows = lock_rows(&mut tx, caller, ids).await?;
    let mut changes = Vec::new();
    for row in &rows {
        let previous = row.state();
        let current = match previous {
            InstanceState::Pending | InstanceState::Running => {
                set_state(
                    &mut tx,
                    &row.instance_id,
                    InstanceState::Stopping,
                    "stopped",
                    Some("User initiated"),
                )
                .await?;
                InstanceState::Stopping
            }
            InstanceState::Stopping | InstanceState::Stopped => previous,
            _ => {
                return Err(ComputeError::IncorrectState(format!(
                    "The instance '{}' is not in a state from which it can be stopped.",
                    row.instance_id
                )))
            }
        };
        changes.push(StateChange {
            instance_id: row.instance_id.clone(),
            previous_state: previous,
            current_state: current,
        });
    }
    tx.commit().await?;
    Ok(order_like(ids, changes))
}

pub async fn reboot(pool: &PgPool, caller: &Principal, ids: &[String]) -> Result<()> {
    require_write(caller)?;
    let mut tx = pool.begin().await?;
    let rows = lock_rows(&mut tx, caller, ids).await?;
    for row in &rows {
        match row.state() {
            InstanceState::Running | InstanceState::Pending => {
                sqlx::query("UPDATE compute.instances SET reboot_count = reboot_count + 1, generation = generation + 1, updated_at = now() WHERE instance_id = $1")
                    .bind(&row.instance_id)
                    .execute(&mut *tx)
                    .await?;
            }
            InstanceState::Stopping | InstanceState::Stopped => {}
            _ => {
                return Err(ComputeError::IncorrectState(format!(
                    "The instance '{}' is not in a state from which it can be rebooted.",
                    row.instance_id
                )))
            }
        }
    }
    tx.commit().await?;
    Ok(())
}

pub async fn terminate(
    pool: &PgPool,
    caller: &Principal,
    ids: &[String],
) -> Result<Vec<StateChange>> {
    require_write(caller)?;
    let mut tx = pool.begin().await?;
    let rows = lock_rows(&mut tx, caller, ids).await?;
    if let Some(protected) = rows
        .iter()
        .find(|r| r.disable_api_termination && r.state() != InstanceState::Terminated)
    {
        return Err(ComputeError::Invalid(
            "OperationNotPermitted",
            format!(
                "The instance '{}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.",
                protected.instance_id
            ),
        ));
    }
    let mut changes = Vec::new();
    for row in &rows {
        let previous = row.state();
        let current = match previous {
            InstanceState::Terminated | InstanceState::ShuttingDown => previous,
            _ if row.host_id.is_none() => {
                finish_termination(&mut tx, row).await?;
                InstanceState::Terminated
            }
            _ => {
                set_state(
                    &mut tx,
                    &row.instance_id,
                    InstanceState::ShuttingDown,
                    "terminated",
                    Some("User initiated"),
                )
                .await?;
                InstanceState::ShuttingDown
            }
        };
        changes.push(StateChange {
            instance_id: row.instance_id.clone(),
            previous_state: previous,
            current_state: current,
        });
    }
    tx.commit().await?;
    Ok(order_like(ids, changes))
}

/// The instance is gone from its host: mark it terminated and give back its capacity and address.
pub async fn finish_termination(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    row: &InstanceRow,
) -> Result<()> {
    sqlx::query(
        "UPDATE compute.instances SET state = 'terminated', desired_state = 'terminated', terminated_at = now(),
             generation = generation + 1, updated_at = now()
         WHERE instance_id = $1",
    )
    .bind(&row.instance_id)
    .execute(&mut **tx)
    .await?;
    if let Some(host_id) = &row.host_id {
        scheduler::release(&mut **tx, host_id, row.vcpus, row.memory_mib).await?;
    }
    network::release_ip(&mut **tx, &row.instance_id).await?;
    sqlx::query("DELETE FROM compute.console_output WHERE instance_id = $1")
        .bind(&row.instance_id)
        .execute(&mut **tx)
        .await?;
    tracing::info!(instance_id = %row.instance_id, "instance terminated");
    Ok(())
}

/// Delete instances terminated longer ago than `retention`.
pub async fn purge_terminated(pool: &PgPool, retention: std::time::Duration) -> Result<u64> {
    let purged: Vec<String> = sqlx::query_scalar(
        "DELETE FROM compute.instances WHERE state = 'terminated' AND terminated_at < now() - make_interval(secs => $1)
         RETURNING instance_id",
    )
    .bind(retention.as_secs_f64())
    .fetch_all(pool)
    .await?;
    if !purged.is_empty() {
        sqlx::query("DELETE FROM compute.tags WHERE resource_id = ANY($1)")
            .bind(&purged)
            .execute(pool)
            .await?;
    }
    Ok(purged.len() as u64)
}
