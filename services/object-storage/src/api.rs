//! The native JSON API under `/v1/` (buckets and objects for the web console; storage
//! nodes, join tokens, usage and garbage collection for operators) and the storage-node
//! protocol under `/v1/storage-agent/`. Handlers are thin.

use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use http::{HeaderMap, StatusCode};
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use kumo_storage_protocol::{
    EnrolRequest, EnrolResponse, HeartbeatRequest, HeartbeatResponse, NODE_TOKEN_HEADER,
};
use serde::{Deserialize, Serialize};

use crate::buckets::{self, Access, Bucket};
use crate::checksum::ObjectHasher;
use crate::error::{Result, StorageError};
use crate::gc::{self, GcReport};
use crate::nodes::{self, AccountUsage, JoinToken, NodeState, StorageNode};
use crate::objects::{self, ListPosition, ListQuery, NewVersion, ObjectKey, WriteCondition};
use crate::write;
use crate::ObjectStorage;

pub fn router(storage: ObjectStorage) -> Router {
    Router::new()
        .route("/v1/buckets", get(list_buckets).post(create_bucket))
        .route("/v1/buckets/{bucket}", axum::routing::delete(delete_bucket))
        .route("/v1/buckets/{bucket}/objects", get(list_objects))
        .route(
            "/v1/buckets/{bucket}/objects/{*key}",
            get(download).put(upload).delete(delete_object),
        )
        .route("/v1/storage/nodes", get(list_nodes))
        .route(
            "/v1/storage/nodes/{node_id}",
            axum::routing::delete(remove_node),
        )
        .route("/v1/storage/nodes/{node_id}/enable", post(enable_node))
        .route("/v1/storage/nodes/{node_id}/disable", post(disable_node))
        .route("/v1/storage/join-tokens", post(join_token))
        .route("/v1/storage/usage", get(usage))
        .route("/v1/storage/gc", post(collect_garbage))
        .route("/v1/storage-agent/enrol", post(enrol))
        .route("/v1/storage-agent/heartbeat", post(heartbeat))
        .with_state(storage)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBucket {
    /// Globally unique, S3 naming rules (3–63 lowercase letters, digits, '.', '-').
    pub name: String,
}

#[utoipa::path(get, path = "/v1/buckets", tag = "object-storage",
    responses((status = 200, body = [Bucket]), (status = 401, body = ApiErrorBody)))]
async fn list_buckets(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
) -> Result<Json<Vec<Bucket>>> {
    Ok(Json(buckets::list(&storage, &caller).await?))
}

#[utoipa::path(post, path = "/v1/buckets", tag = "object-storage", request_body = CreateBucket,
    responses((status = 201, body = Bucket), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn create_bucket(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidJson(request): ValidJson<CreateBucket>,
) -> Result<(StatusCode, Json<Bucket>)> {
    let bucket = buckets::create(&storage, &caller, &request.name, None).await?;
    Ok((StatusCode::CREATED, Json(bucket.into_bucket())))
}

#[utoipa::path(delete, path = "/v1/buckets/{bucket}", tag = "object-storage",
    params(("bucket" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn delete_bucket(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidPath(bucket): ValidPath<String>,
) -> Result<StatusCode> {
    let bucket = buckets::authorize(&storage, &caller, &bucket, Access::Write).await?;
    buckets::delete(&storage, bucket).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListObjectsQuery {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Roll keys up to the first occurrence after the prefix (usually `/`).
    pub delimiter: Option<String>,
    /// Page size (1–1000, default 1000).
    pub max_keys: Option<usize>,
    /// From the previous page's `next_after`.
    pub after: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectSummary {
    pub key: String,
    pub size: i64,
    pub etag: String,
    pub content_type: Option<String>,
    pub version_id: String,
    pub last_modified: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ObjectPage {
    pub objects: Vec<ObjectSummary>,
    pub common_prefixes: Vec<String>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

#[utoipa::path(get, path = "/v1/buckets/{bucket}/objects", tag = "object-storage",
    params(("bucket" = String, Path), ListObjectsQuery),
    responses((status = 200, body = ObjectPage), (status = 404, body = ApiErrorBody)))]
async fn list_objects(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidPath(bucket): ValidPath<String>,
    ValidQuery(query): ValidQuery<ListObjectsQuery>,
) -> Result<Json<ObjectPage>> {
    let bucket = buckets::authorize(&storage, &caller, &bucket, Access::Read).await?;
    for (what, value) in [
        ("prefix", &query.prefix),
        ("delimiter", &query.delimiter),
        ("after", &query.after),
    ] {
        if let Some(value) = value {
            objects::check_listing_text(what, value)?;
        }
    }
    let max_keys = query.max_keys.unwrap_or(1000).clamp(1, 1000);
    let delimiter = query.delimiter.filter(|d| !d.is_empty());
    let start = query.after.map(|after| match &delimiter {
        Some(d) if after.ends_with(d.as_str()) => ListPosition::AfterPrefix(after),
        _ => ListPosition::AfterKey(after),
    });
    let listing = objects::list(
        &storage,
        &bucket,
        &ListQuery {
            prefix: query.prefix.unwrap_or_default(),
            delimiter,
            max_keys,
            start,
            versions: false,
        },
    )
    .await?;
    let next_after = listing
        .truncated
        .then_some(listing.next)
        .flatten()
        .map(|p| match p {
            ListPosition::AfterKey(k)
            | ListPosition::AfterPrefix(k)
            | ListPosition::AfterVersion(k, _) => k,
        });
    Ok(Json(ObjectPage {
        objects: listing
            .entries
            .into_iter()
            .map(|o| ObjectSummary {
                key: o.key,
                size: o.size,
                etag: o.etag,
                content_type: o.content_type,
                version_id: o.version_id,
                last_modified: o.last_modified,
            })
            .collect(),
        common_prefixes: listing.common_prefixes,
        next_after,
    }))
}

#[utoipa::path(put, path = "/v1/buckets/{bucket}/objects/{key}", tag = "object-storage",
    params(("bucket" = String, Path), ("key" = String, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 200, body = ObjectSummary), (status = 404, body = ApiErrorBody)))]
async fn upload(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidPath((bucket, key)): ValidPath<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<ObjectSummary>> {
    let content_type = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let key = ObjectKey::new(key)?;
    let bucket = buckets::authorize(&storage, &caller, &bucket, Access::Write).await?;
    let stream = futures::StreamExt::map(body.into_data_stream(), |r| {
        r.map_err(|e| {
            StorageError::invalid_request(format!("the request body could not be read: {e}"))
        })
    });
    // Nothing to check the body against: the MD5 (the ETag) is computed.
    let written = write::write_object(&storage, Box::pin(stream), ObjectHasher::new(None)).await?;
    let template = NewVersion {
        content_type,
        ..NewVersion::default()
    };
    let o = objects::commit_written(
        &storage,
        &bucket,
        &key,
        &written,
        template,
        &WriteCondition::Always,
    )
    .await?;
    Ok(Json(ObjectSummary {
        key: o.key,
        size: o.size,
        etag: o.etag,
        content_type: o.content_type,
        version_id: o.version_id,
        last_modified: o.last_modified,
    }))
}

#[utoipa::path(get, path = "/v1/buckets/{bucket}/objects/{key}", tag = "object-storage",
    params(("bucket" = String, Path), ("key" = String, Path)),
    responses((status = 200, content_type = "application/octet-stream"), (status = 404, body = ApiErrorBody)))]
async fn download(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidPath((bucket, key)): ValidPath<(String, String)>,
) -> Result<Response> {
    let key = ObjectKey::new(key)?;
    let bucket = buckets::authorize(&storage, &caller, &bucket, Access::Read).await?;
    let version = objects::get(&storage, &bucket, &key, None).await?;
    if version.delete_marker {
        return Err(StorageError::NoSuchKey(key.to_string()));
    }
    let stream =
        crate::blobs::read_range(&storage, version.blob_id, 0, version.size as u64).await?;
    let body = Body::from_stream(futures::StreamExt::map(stream, |r| {
        r.map_err(|e| std::io::Error::other(e.to_string()))
    }));
    let mut response = body.into_response();
    crate::s3::set_header(&mut response, "content-length", &version.size.to_string());
    crate::s3::set_header(
        &mut response,
        "content-type",
        version
            .content_type
            .as_deref()
            .unwrap_or("application/octet-stream"),
    );
    crate::s3::set_header(&mut response, "etag", &version.etag);
    Ok(response)
}

#[utoipa::path(delete, path = "/v1/buckets/{bucket}/objects/{key}", tag = "object-storage",
    params(("bucket" = String, Path), ("key" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn delete_object(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidPath((bucket, key)): ValidPath<(String, String)>,
) -> Result<StatusCode> {
    let key = ObjectKey::new(key)?;
    let bucket = buckets::authorize(&storage, &caller, &bucket, Access::Write).await?;
    objects::delete(&storage, &bucket, &key, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/storage/nodes", tag = "object-storage",
    responses((status = 200, body = [StorageNode]), (status = 403, body = ApiErrorBody)))]
async fn list_nodes(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
) -> Result<Json<Vec<StorageNode>>> {
    Ok(Json(nodes::list(&storage, &caller).await?))
}

#[utoipa::path(delete, path = "/v1/storage/nodes/{node_id}", tag = "object-storage",
    params(("node_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody),
        (status = 409, description = "not disabled, or its chunks are not yet copied elsewhere", body = ApiErrorBody)))]
async fn remove_node(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidPath(node_id): ValidPath<String>,
) -> Result<StatusCode> {
    nodes::remove(&storage, &caller, &node_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/storage/nodes/{node_id}/enable", tag = "object-storage",
    params(("node_id" = String, Path)),
    responses((status = 200, body = StorageNode), (status = 404, body = ApiErrorBody)))]
async fn enable_node(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidPath(node_id): ValidPath<String>,
) -> Result<Json<StorageNode>> {
    Ok(Json(
        nodes::set_state(&storage, &caller, &node_id, NodeState::Enabled).await?,
    ))
}

#[utoipa::path(post, path = "/v1/storage/nodes/{node_id}/disable", tag = "object-storage",
    params(("node_id" = String, Path)),
    responses((status = 200, body = StorageNode), (status = 404, body = ApiErrorBody)))]
async fn disable_node(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidPath(node_id): ValidPath<String>,
) -> Result<Json<StorageNode>> {
    Ok(Json(
        nodes::set_state(&storage, &caller, &node_id, NodeState::Disabled).await?,
    ))
}

#[utoipa::path(post, path = "/v1/storage/join-tokens", tag = "object-storage",
    responses((status = 200, body = JoinToken), (status = 403, body = ApiErrorBody)))]
async fn join_token(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
) -> Result<Json<JoinToken>> {
    Ok(Json(nodes::issue_join_token(&storage.pool, &caller).await?))
}

#[utoipa::path(get, path = "/v1/storage/usage", tag = "object-storage",
    responses((status = 200, body = [AccountUsage]), (status = 403, body = ApiErrorBody)))]
async fn usage(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
) -> Result<Json<Vec<AccountUsage>>> {
    Ok(Json(nodes::account_usage(&storage, &caller).await?))
}

/// The longest grace period a collection may ask for: beyond it, timestamps overflow.
const MAX_GC_GRACE_SECONDS: u64 = 10 * 365 * 24 * 3600;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct GcQuery {
    /// Spare unreferenced chunks younger than this many seconds (default: the configured
    /// grace period).
    pub grace_seconds: Option<u64>,
}

#[utoipa::path(post, path = "/v1/storage/gc", tag = "object-storage", params(GcQuery),
    responses((status = 200, body = GcReport), (status = 403, body = ApiErrorBody)))]
async fn collect_garbage(
    State(storage): State<ObjectStorage>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<GcQuery>,
) -> Result<Json<GcReport>> {
    crate::require_operator(&caller)?;
    if query
        .grace_seconds
        .is_some_and(|s| s > MAX_GC_GRACE_SECONDS)
    {
        return Err(StorageError::invalid_argument(format!(
            "grace_seconds must be at most {MAX_GC_GRACE_SECONDS} (ten years)"
        )));
    }
    let grace = query
        .grace_seconds
        .map(std::time::Duration::from_secs)
        .unwrap_or(storage.config.gc_grace);
    Ok(Json(gc::collect(&storage, grace).await?))
}

/// The enrolled storage node a request comes from.
pub struct Node(pub String);

impl FromRequestParts<ObjectStorage> for Node {
    type Rejection = StorageError;

    async fn from_request_parts(parts: &mut Parts, storage: &ObjectStorage) -> Result<Self> {
        let token = parts
            .headers
            .get(NODE_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(StorageError::AccessDenied)?;
        Ok(Node(nodes::authenticate(&storage.pool, token).await?))
    }
}

async fn enrol(
    State(storage): State<ObjectStorage>,
    ValidJson(request): ValidJson<EnrolRequest>,
) -> Result<Json<EnrolResponse>> {
    Ok(Json(nodes::enrol(&storage.pool, &request).await?))
}

async fn heartbeat(
    State(storage): State<ObjectStorage>,
    Node(node_id): Node,
    ValidJson(request): ValidJson<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>> {
    Ok(Json(nodes::heartbeat(&storage, &node_id, &request).await?))
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_buckets, create_bucket, delete_bucket, list_objects, upload, download, delete_object,
        list_nodes, remove_node, enable_node, disable_node, join_token, usage, collect_garbage),
    components(schemas(Bucket, CreateBucket, ObjectSummary, ObjectPage, StorageNode, JoinToken, AccountUsage, GcReport, ApiErrorBody)),
    tags((name = "object-storage", description = "Buckets and objects; storage nodes for operators"))
)]
pub struct ObjectStorageApi;
