//! DescribeInstanceAttribute/ModifyInstanceAttribute's attributes.

use super::lifecycle::lock_rows;
use super::*;

/// Instance attributes, as DescribeInstanceAttribute names them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttributeValue {
    Text(String),
    Bool(bool),
    UserData(Option<Vec<u8>>),
}

pub async fn get_attribute(
    pool: &PgPool,
    caller: &Principal,
    instance_id: &InstanceId,
    attribute: &str,
) -> Result<AttributeValue> {
    let row = sqlx::query_as::<_, InstanceRow>(&format!(
        "SELECT {COLUMNS} FROM compute.instances WHERE account_id = $1 AND instance_id = $2"
    ))
    .bind(&caller.account_id)
    .bind(instance_id.as_str())
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ComputeError::instance_not_found(&[instance_id.to_string()]))?;
    Ok(match attribute {
        "instanceType" => AttributeValue::Text(row.instance_type),
        "userData" => AttributeValue::UserData(row.user_data),
        "disableApiTermination" => AttributeValue::Bool(row.disable_api_termination),
        "instanceInitiatedShutdownBehavior" => {
            AttributeValue::Text(row.shutdown_behavior.as_str().into())
        }
        other => {
            return Err(ComputeError::invalid(format!(
                "Value ({other}) for parameter attribute is invalid. Supported: instanceType, userData, disableApiTermination, instanceInitiatedShutdownBehavior"
            )))
        }
    })
}

pub async fn modify_attribute(
    pool: &PgPool,
    caller: &Principal,
    instance_id: &InstanceId,
    attribute: &str,
    value: AttributeValue,
) -> Result<()> {
    require_write(caller)?;
    let mut tx = pool.begin().await?;
    let rows = lock_rows(&mut tx, caller, std::slice::from_ref(instance_id)).await?;
    let row = rows
        .into_iter()
        .next()
        .ok_or_else(|| ComputeError::instance_not_found(&[instance_id.to_string()]))?;
    let must_be_stopped = || {
        if row.state == InstanceState::Stopped {
            Ok(())
        } else {
            Err(ComputeError::IncorrectState(format!(
                "The instance '{instance_id}' is not in the 'stopped' state."
            )))
        }
    };
    match (attribute, value) {
        ("instanceType", AttributeValue::Text(name)) => {
            must_be_stopped()?;
            let new_type = instance_types::get(&mut *tx, &name).await?;
            // Capacity follows the type: adjust the host's claim.
            if let Some(host_id) = &row.host_id {
                sqlx::query("UPDATE compute.hosts SET vcpus_used = vcpus_used + $2, memory_mib_used = memory_mib_used + $3 WHERE host_id = $1")
                    .bind(host_id)
                    .bind(new_type.vcpus - row.vcpus)
                    .bind(new_type.memory_mib - row.memory_mib)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query("UPDATE compute.instances SET instance_type = $2, vcpus = $3, memory_mib = $4, updated_at = now() WHERE instance_id = $1")
                .bind(instance_id.as_str())
                .bind(&new_type.name)
                .bind(new_type.vcpus)
                .bind(new_type.memory_mib)
                .execute(&mut *tx)
                .await?;
        }
        ("userData", AttributeValue::UserData(data)) => {
            must_be_stopped()?;
            if data.as_ref().is_some_and(|d| d.len() > MAX_USER_DATA) {
                return Err(ComputeError::invalid(format!(
                    "User data is limited to {MAX_USER_DATA} bytes"
                )));
            }
            sqlx::query("UPDATE compute.instances SET user_data = $2, updated_at = now() WHERE instance_id = $1")
                .bind(instance_id.as_str())
                .bind(data)
                .execute(&mut *tx)
                .await?;
        }
        ("disableApiTermination", AttributeValue::Bool(flag)) => {
            sqlx::query("UPDATE compute.instances SET disable_api_termination = $2, updated_at = now() WHERE instance_id = $1")
                .bind(instance_id.as_str())
                .bind(flag)
                .execute(&mut *tx)
                .await?;
        }
        ("instanceInitiatedShutdownBehavior", AttributeValue::Text(behavior)) => {
            let behavior = ShutdownBehavior::parse(&behavior).ok_or_else(|| {
                ComputeError::invalid(format!(
                    "Invalid value '{behavior}' for instanceInitiatedShutdownBehavior"
                ))
            })?;
            sqlx::query("UPDATE compute.instances SET shutdown_behavior = $2, updated_at = now() WHERE instance_id = $1")
                .bind(instance_id.as_str())
                .bind(behavior)
                .execute(&mut *tx)
                .await?;
        }
        (other, _) => {
            return Err(ComputeError::invalid(format!(
                "Value ({other}) for parameter attribute is invalid"
            )));
        }
    }
    tx.commit().await?;
    Ok(())
}
