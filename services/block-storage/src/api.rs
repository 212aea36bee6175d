//! Native routes: `/v1/volumes` (and a volume's `attachment`) for tenants,
//! `/v1/block/nodes` for operators. Handlers are thin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use kumo_ec2_query::Page;
use serde::{Deserialize, Serialize};

use crate::attachments::{self, Attachment};
use crate::error::Result;
use crate::nodes::{self, BlockNode};
use crate::tags::Tags;
use crate::volumes::{self, CreateVolume, Volume};
use crate::BlockStorage;

pub fn router(storage: BlockStorage) -> Router {
    Router::new()
        .route("/v1/volumes", get(list_volumes).post(create_volume))
        .route(
            "/v1/volumes/{volume_id}",
            get(get_volume).delete(delete_volume),
        )
        .route(
            "/v1/volumes/{volume_id}/attachment",
            post(attach_volume).delete(detach_volume),
        )
        .route("/v1/block/nodes", get(list_block_nodes))
        .with_state(storage)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VolumeListQuery {
    /// Only those of this availability zone.
    pub zone: Option<String>,
    /// Page size (5–1000).
    pub max_results: Option<i64>,
    /// From the previous page's `next_token`.
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VolumePage {
    pub volumes: Vec<Volume>,
    pub next_token: Option<String>,
}

/// A new volume: its zone and size in GiB; `gp2` unless `volume_type` says otherwise,
/// with the type's default IOPS and throughput unless given.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVolumeRequest {
    pub zone: String,
    /// GiB; may be left out when restoring a snapshot.
    pub size_gib: Option<i64>,
    pub volume_type: Option<String>,
    pub iops: Option<i64>,
    pub throughput: Option<i64>,
    /// Restore this completed snapshot of the caller's (the size defaults to its size).
    pub snapshot_id: Option<String>,
    /// Makes retries idempotent (1–64 printable ASCII characters).
    pub client_token: Option<String>,
    #[serde(default)]
    pub tags: Tags,
}

/// Attach the volume to one of the caller's VMs or containers in its zone.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachVolumeRequest {
    pub instance_id: String,
    /// `/dev/sd[b-z]`, `/dev/xvd[b-z]` or `/dev/vd[b-z]`, optionally one more letter.
    pub device: String,
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DetachQuery {
    /// End the attachment at once (for a dead host; a live one unplugs it all the same).
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlockNodeList {
    pub nodes: Vec<BlockNode>,
}

#[utoipa::path(get, path = "/v1/volumes", tag = "block-storage", params(VolumeListQuery),
    responses((status = 200, body = VolumePage), (status = 400, body = ApiErrorBody)))]
async fn list_volumes(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<VolumeListQuery>,
) -> Result<Json<VolumePage>> {
    let page = Page::parse(query.max_results, query.next_token.as_deref(), (5, 1000))?;
    let mut found = volumes::list(&storage.pool, &caller, &[]).await?;
    found.retain(|v| query.zone.as_deref().is_none_or(|zone| zone == v.zone));
    let (volumes, next_token) = page.apply(found, |v| {
        (v.created_at.timestamp_micros(), v.volume_id.clone())
    })?;
    Ok(Json(VolumePage {
        volumes,
        next_token,
    }))
}

#[utoipa::path(post, path = "/v1/volumes", tag = "block-storage", request_body = CreateVolumeRequest,
    responses((status = 201, body = Volume), (status = 400, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
async fn create_volume(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateVolumeRequest>,
) -> Result<(StatusCode, Json<Volume>)> {
    let request = CreateVolume {
        zone: input.zone,
        size_gib: input.size_gib,
        volume_type: input.volume_type,
        iops: input.iops,
        throughput: input.throughput,
        snapshot_id: input.snapshot_id,
        client_token: input.client_token,
        tags: input.tags,
        ..CreateVolume::default()
    };
    let volume = volumes::create(&storage, &caller, &request).await?;
    Ok((StatusCode::CREATED, Json(volume)))
}

#[utoipa::path(get, path = "/v1/volumes/{volume_id}", tag = "block-storage",
    params(("volume_id" = String, Path)),
    responses((status = 200, body = Volume), (status = 404, body = ApiErrorBody)))]
async fn get_volume(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Volume>> {
    Ok(Json(volumes::get(&storage.pool, &caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/volumes/{volume_id}", tag = "block-storage",
    params(("volume_id" = String, Path)),
    responses((status = 202), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn delete_volume(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    volumes::delete(&storage, &caller, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/v1/volumes/{volume_id}/attachment", tag = "block-storage",
    params(("volume_id" = String, Path)), request_body = AttachVolumeRequest,
    responses((status = 200, body = Attachment), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn attach_volume(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<AttachVolumeRequest>,
) -> Result<Json<Attachment>> {
    let attachment =
        attachments::attach(&storage, &caller, &id, &input.instance_id, &input.device).await?;
    Ok(Json(attachment))
}

#[utoipa::path(delete, path = "/v1/volumes/{volume_id}/attachment", tag = "block-storage",
    params(("volume_id" = String, Path), DetachQuery),
    responses((status = 200, body = Attachment), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)))]
async fn detach_volume(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidQuery(query): ValidQuery<DetachQuery>,
) -> Result<Json<Attachment>> {
    let attachment = attachments::detach(&storage, &caller, &id, None, None, query.force).await?;
    Ok(Json(attachment))
}

#[utoipa::path(get, path = "/v1/block/nodes", tag = "block-storage",
    responses((status = 200, body = BlockNodeList), (status = 403, body = ApiErrorBody)))]
async fn list_block_nodes(
    State(storage): State<BlockStorage>,
    Caller(caller): Caller,
) -> Result<Json<BlockNodeList>> {
    Ok(Json(BlockNodeList {
        nodes: nodes::list(&storage.pool, &caller).await?,
    }))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_volumes, create_volume, get_volume, delete_volume, attach_volume, detach_volume,
        list_block_nodes),
    components(schemas(Volume, VolumePage, CreateVolumeRequest, AttachVolumeRequest, Attachment,
        BlockNode, BlockNodeList, ApiErrorBody)),
    tags((name = "block-storage", description = "EBS volumes; storage nodes' block pools for operators"))
)]
pub struct BlockStorageApi;
