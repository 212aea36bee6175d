//! Native routes for snapshots: `/v1/snapshots` (the caller's), create from a volume, copy,
//! read, delete. Handlers are thin; the rules are `snapshots`'.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use kumo_ec2_query::Page;
use serde::{Deserialize, Serialize};

use super::Snapshot;
use crate::error::Result;
use crate::tags::Tags;
use crate::{snapshots, BlockStorage};

pub fn router(storage: BlockStorage) -> Router {
    Router::new()
        .route("/v1/snapshots", get(list_snapshots).post(create_snapshot))
        .route(
            "/v1/snapshots/{snapshot_id}",
            get(get_snapshot).delete(delete_snapshot),
        )
        .route("/v1/snapshots/{snapshot_id}/copy", post(copy_snapshot))
        .with_state(storage)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SnapshotListQuery {
    /// Only the snapshots of this volume.
    pub volume_id: Option<String>,
    /// Page size (5–1000).
    pub max_results: Option<i64>,
    /// From the previous page's `next_token`.
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SnapshotPage {
    pub snapshots: Vec<Snapshot>,
    pub next_token: Option<String>,
}

/// A point-in-time snapshot of one of the caller's volumes (`available` or `in-use`).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSnapshotRequest {
    pub volume_id: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Tags,
}

/// A copy of a completed snapshot (it shares the source's chunks).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CopySnapshotRequest {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub tags: Tags,
}

#[utoipa::path(get, path = "/v1/snapshots", tag = "block-storage", params(SnapshotListQuery),
    responses((status = 200, body = SnapshotPage), (status = 400, body = ApiErrorBody)))]
async fn list_snapshots(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<SnapshotListQuery>,
) -> Result<Json<SnapshotPage>> {
    let page = Page::parse(query.max_results, query.next_token.as_deref(), (5, 1000))?;
    let mut found = snapshots::list(&storage.pool, &caller, &[]).await?;
    found.retain(|s| query.volume_id.as_deref().is_none_or(|v| v == s.volume_id));
    let (snapshots, next_token) = page.apply(found, |s| {
        (s.started_at.timestamp_micros(), s.snapshot_id.clone())
    })?;
    Ok(Json(SnapshotPage {
        snapshots,
        next_token,
    }))
}

#[utoipa::path(post, path = "/v1/snapshots", tag = "block-storage",
    request_body = CreateSnapshotRequest,
    responses((status = 201, body = Snapshot), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn create_snapshot(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateSnapshotRequest>,
) -> Result<(StatusCode, Json<Snapshot>)> {
    let snapshot = snapshots::create(
        &storage,
        &caller,
        &input.volume_id,
        &input.description,
        &input.tags,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(snapshot)))
}

#[utoipa::path(get, path = "/v1/snapshots/{snapshot_id}", tag = "block-storage",
    params(("snapshot_id" = String, Path)),
    responses((status = 200, body = Snapshot), (status = 404, body = ApiErrorBody)))]
async fn get_snapshot(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Snapshot>> {
    Ok(Json(snapshots::get(&storage.pool, &caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/snapshots/{snapshot_id}", tag = "block-storage",
    params(("snapshot_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn delete_snapshot(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    snapshots::delete(&storage, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/snapshots/{snapshot_id}/copy", tag = "block-storage",
    params(("snapshot_id" = String, Path)), request_body = CopySnapshotRequest,
    responses((status = 201, body = Snapshot), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)))]
async fn copy_snapshot(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<CopySnapshotRequest>,
) -> Result<(StatusCode, Json<Snapshot>)> {
    let copied = snapshots::copy(&storage, &caller, &id, &input.description, &input.tags).await?;
    Ok((StatusCode::CREATED, Json(copied)))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_snapshots,
        create_snapshot,
        get_snapshot,
        delete_snapshot,
        copy_snapshot
    ),
    components(schemas(Snapshot, SnapshotPage, CreateSnapshotRequest, CopySnapshotRequest))
)]
pub struct SnapshotApi;
