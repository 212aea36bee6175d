//! The chunk API a storage node serves (see `kumo_storage_protocol` for the contract).
//!
//! Every request must carry [`NODE_TOKEN_HEADER`] equal to this node's token; anything
//! else is answered 401 before a handler runs. Bodies stream in both directions: a PUT is
//! hashed and written to disk as it arrives, a GET is read from disk as it is sent.

use std::sync::Arc;

use axum::body::{Body, BodyDataStream};
use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use futures::StreamExt;
use http::{header, HeaderMap, StatusCode};
use kumo_storage_protocol::{NodeStatus, MAX_CHUNK_BYTES, NODE_TOKEN_HEADER};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{chunk_error, Result, StorageNodeError};
use crate::store::{ChunkStore, DEFAULT_LIST_LIMIT};

/// After refusing a PUT, read (and discard) up to this much of the rest of its body: a
/// server that answers without reading the body makes the client's connection reset,
/// and the client may then never see the answer. Beyond this, the connection is dropped.
const DRAIN_LIMIT_BYTES: u64 = 2 * MAX_CHUNK_BYTES as u64;

/// What the handlers share.
#[derive(Clone)]
pub struct ChunkApi {
    pub store: Arc<ChunkStore>,
    pub node_id: String,
    /// The node token the control plane issued at enrolment; callers must present it.
    pub node_token: String,
    pub capacity_bytes: u64,
}

/// The chunk API router.
pub fn router(api: ChunkApi) -> Router {
    let api = Arc::new(api);
    Router::new()
        .route(
            "/v1/chunks/{sha256}",
            // Chunks stream to disk; the store enforces MAX_CHUNK_BYTES itself.
            put(put_chunk)
                .layer(DefaultBodyLimit::disable())
                .get(get_chunk)
                .delete(delete_chunk),
        )
        .route("/v1/chunks", get(list_chunks))
        .route("/v1/status", get(status))
        .layer(axum::middleware::from_fn_with_state(
            api.clone(),
            require_token,
        ))
        .with_state(api)
}

/// Compare secrets without leaking through timing where they differ, nor their length
/// (both sides are hashed first, so the compared inputs always have the same length).
pub fn tokens_match(presented: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(presented), Sha256::digest(expected));
    let difference = a
        .iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(difference) == 0
}

async fn require_token(State(api): State<Arc<ChunkApi>>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(NODE_TOKEN_HEADER)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if presented.is_empty() || !tokens_match(presented, api.node_token.as_bytes()) {
        return chunk_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            format!("missing or wrong {NODE_TOKEN_HEADER}"),
        );
    }
    next.run(request).await
}

async fn drain(body: &mut BodyDataStream) {
    let mut drained = 0u64;
    while let Some(Ok(frame)) = body.next().await {
        drained += frame.len() as u64;
        if drained > DRAIN_LIMIT_BYTES {
            break;
        }
    }
}

async fn put_chunk(
    State(api): State<Arc<ChunkApi>>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let mut body = body.into_data_stream();
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let result = if declared_len.is_some_and(|len| len > MAX_CHUNK_BYTES as u64) {
        // Known too large: refuse without writing anything.
        Err(StorageNodeError::TooLarge)
    } else {
        // In a task of its own: if the client goes away, hyper drops this handler, but a
        // put already renaming its chunk into place still finishes (and counts it).
        let store = api.store.clone();
        let stored = tokio::spawn(async move {
            let result = store.put(&hash, &mut body).await;
            (result, body)
        })
        .await;
        match stored {
            Ok((result, rest)) => {
                body = rest;
                result
            }
            Err(e) => return StorageNodeError::Internal(format!("put task: {e}")).into_response(),
        }
    };
    match result {
        Ok(true) => StatusCode::CREATED.into_response(),
        Ok(false) => StatusCode::OK.into_response(),
        Err(e) => {
            drain(&mut body).await;
            e.into_response()
        }
    }
}

async fn get_chunk(State(api): State<Arc<ChunkApi>>, Path(hash): Path<String>) -> Result<Response> {
    let reader = api.store.get(&hash).await?;
    let size = reader.size();
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_LENGTH, size.to_string()),
        ],
        Body::from_stream(reader.into_stream()),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
struct DeleteParams {
    /// Delete only if the chunk was not written after this (Unix seconds).
    unmodified_since: Option<i64>,
}

async fn delete_chunk(
    State(api): State<Arc<ChunkApi>>,
    Path(hash): Path<String>,
    params: std::result::Result<Query<DeleteParams>, QueryRejection>,
) -> Result<StatusCode> {
    let Query(params) = params.map_err(|e| StorageNodeError::InvalidArgument(e.body_text()))?;
    api.store
        .delete_unless_modified_after(&hash, params.unmodified_since)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
struct ListParams {
    after: Option<String>,
    limit: Option<usize>,
}

async fn list_chunks(
    State(api): State<Arc<ChunkApi>>,
    params: std::result::Result<Query<ListParams>, QueryRejection>,
) -> Result<Response> {
    let Query(params) = params.map_err(|e| StorageNodeError::InvalidArgument(e.body_text()))?;
    // `?after=` (empty) means from the start.
    let after = params.after.filter(|a| !a.is_empty());
    let limit = params.limit.unwrap_or(DEFAULT_LIST_LIMIT);
    let list = api.store.list(after.as_deref(), limit).await?;
    Ok(Json(list).into_response())
}

async fn status(State(api): State<Arc<ChunkApi>>) -> Json<NodeStatus> {
    let usage = api.store.usage();
    Json(NodeStatus {
        node_id: api.node_id.clone(),
        capacity_bytes: api.capacity_bytes,
        used_bytes: usage.used_bytes,
        chunks: usage.chunks,
    })
}

#[cfg(test)]
mod tests {
    use super::tokens_match;

    #[test]
    fn token_comparison() {
        assert!(tokens_match(b"sn-1:secret", b"sn-1:secret"));
        assert!(!tokens_match(b"sn-1:secreT", b"sn-1:secret"));
        assert!(!tokens_match(b"sn-1:secret2", b"sn-1:secret"));
        assert!(!tokens_match(b"", b"sn-1:secret"));
    }
}
