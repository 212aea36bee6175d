//! `GET /v1/overview`: the cloud at a glance for operators — instances and hosts by state,
//! compute capacity, object storage and volumes, accounts. It spans every service's part
//! of the catalog, so it lives here with the other cross-service wiring; each figure is
//! one aggregate query over that service's tables.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use http::StatusCode;
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, JsonError};
use serde::Serialize;
use sqlx::PgPool;

/// The whole cloud's totals.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    pub accounts: AccountTotals,
    /// Instances of every account by state (`pending`, `running`, …, `terminated`);
    /// states with none are left out.
    pub instances_by_state: BTreeMap<String, i64>,
    /// Compute hosts by state (`enabled`, `disabled`, `draining`).
    pub hosts_by_state: BTreeMap<String, i64>,
    pub compute: ComputeCapacity,
    pub object_storage: ObjectStorageTotals,
    pub volumes: VolumeTotals,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountTotals {
    pub total: i64,
    pub disabled: i64,
}

/// What the hosts offer and what placed instances have claimed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComputeCapacity {
    pub vcpus_total: i64,
    pub vcpus_used: i64,
    pub memory_mib_total: i64,
    pub memory_mib_used: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ObjectStorageTotals {
    pub nodes: i64,
    /// Bytes the storage nodes hold (every replica) and can hold.
    pub used_bytes: i64,
    pub capacity_bytes: i64,
    /// Current objects (latest versions, not delete markers) and their logical size.
    pub objects: i64,
    pub object_bytes: i64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VolumeTotals {
    /// Volumes not deleted.
    pub count: i64,
    pub size_gib: i64,
}

pub(crate) fn router(pool: PgPool) -> Router {
    Router::new()
        .route("/v1/overview", get(overview))
        .with_state(pool)
}

#[utoipa::path(get, path = "/v1/overview", tag = "overview",
    responses((status = 200, body = Overview), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody)))]
async fn overview(State(pool): State<PgPool>, Caller(caller): Caller) -> Response {
    if !caller.is_operator() {
        return JsonError::forbidden("only operators see the cloud's overview").into_response();
    }
    match totals(&pool).await {
        Ok(overview) => Json(overview).into_response(),
        Err(e) if kumo_catalog::is_unavailable(&e) => {
            JsonError::catalog_unavailable().into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "overview failed");
            JsonError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "the overview could not be computed",
            )
            .into_response()
        }
    }
}

async fn by_state(pool: &PgPool, sql: &str) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(sql).fetch_all(pool).await?;
    Ok(rows.into_iter().collect())
}

/// Every figure, read now.
pub async fn totals(pool: &PgPool) -> Result<Overview, sqlx::Error> {
    let (total, disabled): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (WHERE NOT enabled) FROM identity.accounts",
    )
    .fetch_one(pool)
    .await?;
    let instances_by_state = by_state(
        pool,
        "SELECT state, count(*) FROM compute.instances GROUP BY state",
    )
    .await?;
    let hosts_by_state = by_state(
        pool,
        "SELECT state, count(*) FROM compute.hosts GROUP BY state",
    )
    .await?;
    let (vcpus_total, vcpus_used, memory_mib_total, memory_mib_used): (i64, i64, i64, i64) =
        sqlx::query_as(
            "SELECT COALESCE(sum(vcpus), 0)::bigint, COALESCE(sum(vcpus_used), 0)::bigint,
                    COALESCE(sum(memory_mib), 0)::bigint, COALESCE(sum(memory_mib_used), 0)::bigint
             FROM compute.hosts",
        )
        .fetch_one(pool)
        .await?;
    let (nodes, used_bytes, capacity_bytes): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(used_bytes), 0)::bigint,
                COALESCE(sum(capacity_bytes), 0)::bigint
         FROM object_storage.nodes",
    )
    .fetch_one(pool)
    .await?;
    let (objects, object_bytes): (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(size), 0)::bigint FROM object_storage.objects
         WHERE is_latest AND NOT delete_marker",
    )
    .fetch_one(pool)
    .await?;
    let (volume_count, size_gib): (i64, i64) = sqlx::query_as(
        "SELECT count(*), COALESCE(sum(size_gib), 0)::bigint FROM block_storage.volumes
         WHERE state <> 'deleted'",
    )
    .fetch_one(pool)
    .await?;
    Ok(Overview {
        accounts: AccountTotals { total, disabled },
        instances_by_state,
        hosts_by_state,
        compute: ComputeCapacity {
            vcpus_total,
            vcpus_used,
            memory_mib_total,
            memory_mib_used,
        },
        object_storage: ObjectStorageTotals {
            nodes,
            used_bytes,
            capacity_bytes,
            objects,
            object_bytes,
        },
        volumes: VolumeTotals {
            count: volume_count,
            size_gib,
        },
    })
}

/// The overview's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(overview),
    components(schemas(Overview, AccountTotals, ComputeCapacity, ObjectStorageTotals, VolumeTotals)),
    tags((name = "overview", description = "The cloud at a glance, for operators"))
)]
pub struct OverviewApi;
