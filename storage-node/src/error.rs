//! The storage node's one error type, and how the chunk API answers with it.

use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use kumo_storage_protocol::{ChunkError, MAX_CHUNK_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum StorageNodeError {
    #[error("invalid chunk name {0:?}: expected 64 lowercase hex digits")]
    InvalidChunkName(String),
    #[error("the body's SHA-256 is {actual}, not {expected}")]
    ChecksumMismatch { expected: String, actual: String },
    #[error("chunk larger than {MAX_CHUNK_BYTES} bytes")]
    TooLarge,
    #[error("no such chunk {0}")]
    NoSuchChunk(String),
    /// A conditional delete found the chunk written after the given time.
    #[error("chunk {0} was written after the given time; not deleted")]
    Modified(String),
    /// A bad request parameter other than a chunk name (e.g. `limit=abc`).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The request body could not be read to its end (the client went away, …).
    #[error("reading the request body: {0}")]
    Body(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The control plane refused us (4xx) or answered something unusable.
    #[error("control plane: {0}")]
    ControlPlane(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = StorageNodeError> = std::result::Result<T, E>;

impl StorageNodeError {
    /// HTTP status and [`ChunkError`] code of the chunk API for this error.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::InvalidChunkName(_) => (StatusCode::BAD_REQUEST, "InvalidChunkName"),
            Self::ChecksumMismatch { .. } => (StatusCode::BAD_REQUEST, "ChecksumMismatch"),
            Self::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "EntityTooLarge"),
            Self::NoSuchChunk(_) => (StatusCode::NOT_FOUND, "NoSuchChunk"),
            Self::Modified(_) => (StatusCode::PRECONDITION_FAILED, "ChunkModified"),
            Self::InvalidArgument(_) => (StatusCode::BAD_REQUEST, "InvalidArgument"),
            Self::Body(_) => (StatusCode::BAD_REQUEST, "IncompleteBody"),
            Self::Io(_) | Self::ControlPlane(_) | Self::Config(_) | Self::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "InternalError")
            }
        }
    }
}

/// A JSON [`ChunkError`] response.
pub fn chunk_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = ChunkError {
        code: code.to_string(),
        message: message.into(),
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for StorageNodeError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "chunk API request failed");
        }
        chunk_error(status, code, self.to_string())
    }
}
