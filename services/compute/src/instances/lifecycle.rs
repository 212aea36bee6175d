//! State changes asked of instances (start, stop, reboot, terminate) and the end of their lives (termination finished, purge).
//! What each request does is [`transition`]'s decision; this file loads and writes rows.

use super::transitions::{transition, Action, Event, Refusal, Transition};
use super::*;

/// The caller's rows for `ids`, locked; every id must exist in the caller's account.
pub(super) async fn lock_rows(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    caller: &Principal,
    ids: &[InstanceId],
) -> Result<Vec<InstanceRow>> {
    if ids.is_empty() {
        return Err(ComputeError::Missing("InstanceId".into()));
    }
    let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
    filters::check_ids("InstanceId", &ids)?;
    let rows = sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM compute.instances WHERE account_id = $1 AND instance_id = ANY($2)
         ORDER BY instance_id FOR UPDATE"
    ))
    .bind(&caller.account_id)
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?;
    all_found(&ids, &rows)?;
    Ok(rows)
}

/// The transition each row makes on `event`, decided before anything is written: the
/// first refusal (in row order) refuses the whole call.
fn decide(rows: &[InstanceRow], event: Event<'_>) -> Result<Vec<Transition>> {
    rows.iter()
        .map(|row| transition(&row.facts(), event).map_err(|refusal| refused(row, refusal)))
        .collect()
}

fn refused(row: &InstanceRow, refusal: Refusal) -> ComputeError {
    let instance_id = &row.instance_id;
    match refusal {
        Refusal::IncorrectState(verb) => ComputeError::IncorrectState(format!(
            "The instance '{instance_id}' is not in a state from which it can be {verb}."
        )),
        Refusal::TerminationProtected => ComputeError::Invalid(
            "OperationNotPermitted",
            format!(
                "The instance '{instance_id}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again."
            ),
        ),
    }
}

/// Who caused a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The tenant: the reason is written as is (`None` clears it) and the generation
    /// always moves, so that agents act on the request.
    Request,
    /// The agent's observation: the reason stays unless there is a new one, and the
    /// generation moves only with the desired state (the agent already did what it saw).
    Observation,
}

/// Carry out a transition on one locked row.
pub async fn apply(
    compute: &Compute,
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    row: &InstanceRow,
    change: &Transition,
    cause: Cause,
) -> Result<()> {
    match change.action {
        Action::None => {}
        Action::Update => {
            sqlx::query(
                "UPDATE compute.instances SET state = $2, desired_state = $3,
                     state_reason = CASE WHEN $5 THEN $4 ELSE COALESCE($4, state_reason) END,
                     generation = CASE WHEN $5 OR desired_state <> $3 THEN generation + 1 ELSE generation END,
                     updated_at = now()
                 WHERE instance_id = $1",
            )
            .bind(&row.instance_id)
            .bind(change.state)
            .bind(change.desired)
            .bind(&change.reason)
            .bind(cause == Cause::Request)
            .execute(&mut **tx)
            .await?;
            // A start gives the launch-time public address back; a stop or termination
            // asked gives it up (AWS releases it then), with the state change.
            if change.desired != row.desired_state {
                if let Some(networking) = &compute.networking {
                    let running = change.desired == DesiredState::Running;
                    networking
                        .set_running(tx, &row.instance_id, running)
                        .await?;
                }
            }
        }
        Action::Reboot => {
            sqlx::query("UPDATE compute.instances SET reboot_count = reboot_count + 1, generation = generation + 1, updated_at = now() WHERE instance_id = $1")
                .bind(&row.instance_id)
                .execute(&mut **tx)
                .await?;
        }
        Action::FinishTermination => finish_termination(compute, tx, row).await?,
    }
    Ok(())
}

/// Start, stop, reboot or terminate the caller's instances `ids`, all or none.
async fn request(
    compute: &Compute,
    caller: &Principal,
    ids: &[InstanceId],
    event: Event<'_>,
) -> Result<Vec<StateChange>> {
    require_write(caller)?;
    let mut tx = compute.pool.begin().await?;
    let rows = lock_rows(&mut tx, caller, ids).await?;
    let decided = decide(&rows, event)?;
    let mut changes = Vec::with_capacity(rows.len());
    for (row, change) in rows.iter().zip(&decided) {
        if matches!(event, Event::Start) {
            super::relocation::place_for_start(compute, &mut tx, row).await?;
        }
        apply(compute, &mut tx, row, change, Cause::Request).await?;
        changes.push(StateChange {
            instance_id: row.instance_id.clone(),
            previous_state: row.state,
            current_state: change.state,
        });
    }
    tx.commit().await?;
    changes.sort_by_key(|c| ids.iter().position(|i| i.as_str() == c.instance_id));
    Ok(changes)
}

pub async fn start(
    compute: &Compute,
    caller: &Principal,
    ids: &[InstanceId],
) -> Result<Vec<StateChange>> {
    request(compute, caller, ids, Event::Start).await
}

pub async fn stop(
    compute: &Compute,
    caller: &Principal,
    ids: &[InstanceId],
) -> Result<Vec<StateChange>> {
    request(compute, caller, ids, Event::Stop).await
}

pub async fn reboot(compute: &Compute, caller: &Principal, ids: &[InstanceId]) -> Result<()> {
    request(compute, caller, ids, Event::Reboot).await?;
    Ok(())
}

pub async fn terminate(
    compute: &Compute,
    caller: &Principal,
    ids: &[InstanceId],
) -> Result<Vec<StateChange>> {
    request(compute, caller, ids, Event::Terminate).await
}

/// The instance is gone from its host: mark it terminated and give back its capacity and
/// its network interfaces' addresses, in one transaction (nothing leaks on a crash).
pub async fn finish_termination(
    compute: &Compute,
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
    if let Some(networking) = &compute.networking {
        networking.release(tx, &row.instance_id).await?;
    }
    if let Some(volumes) = &compute.volumes {
        volumes.release(tx, &row.instance_id).await?;
    }
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
        crate::tags::forget(pool, &purged).await?;
    }
    Ok(purged.len() as u64)
}
