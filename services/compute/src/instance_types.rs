//! Instance types: vCPU and memory per type, seeded by the migration.

use serde::Serialize;
use sqlx::PgPool;

use crate::error::{ComputeError, Result};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct InstanceType {
    pub name: String,
    pub vcpus: i32,
    pub memory_mib: i32,
}

pub async fn list(pool: &PgPool) -> Result<Vec<InstanceType>> {
    Ok(sqlx::query_as::<_, InstanceType>(
        "SELECT name, vcpus, memory_mib FROM compute.instance_types ORDER BY ordinal",
    )
    .fetch_all(pool)
    .await?)
}

pub async fn get<'e, E: sqlx::PgExecutor<'e>>(executor: E, name: &str) -> Result<InstanceType> {
    sqlx::query_as::<_, InstanceType>(
        "SELECT name, vcpus, memory_mib FROM compute.instance_types WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| ComputeError::invalid(format!("Invalid value '{name}' for InstanceType.")))
}
