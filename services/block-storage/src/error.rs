//! The block-storage service's one error type, mapped once to the native JSON shape and once to
//! EC2's error codes.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kumo_common::{AwsError, JsonError};

#[derive(Debug, thiserror::Error)]
pub enum BlockStorageError {
    /// `(EC2 code, message)`, e.g. `("InvalidParameterValue", "…")`.
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("The request must contain the parameter {0}")]
    Missing(String),
    /// `(EC2 code, message)`, e.g. `("InvalidVolume.NotFound", "…")`.
    #[error("{1}")]
    NotFound(&'static str, String),
    /// `(EC2 code, message)`, e.g. `("VolumeInUse", "…")`, `("IncorrectState", "…")`.
    #[error("{1}")]
    Conflict(&'static str, String),
    /// No storage node of the zone can hold it (`InsufficientVolumeCapacity`, a server
    /// error on AWS).
    #[error("{0}")]
    InsufficientCapacity(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Internal(String),
    /// The account has too many costly requests in flight (AWS: `RequestLimitExceeded`).
    #[error("{0}")]
    Throttled(String),
    #[error("catalog error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = BlockStorageError> = std::result::Result<T, E>;

impl BlockStorageError {
    pub fn invalid(message: impl Into<String>) -> Self {
        BlockStorageError::Invalid("InvalidParameterValue", message.into())
    }

    pub fn to_json(&self) -> JsonError {
        match self {
            BlockStorageError::Invalid(_, m) => JsonError::bad_request(m.clone()),
            BlockStorageError::InsufficientCapacity(m) => JsonError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "InsufficientCapacity",
                m.clone(),
            ),
            BlockStorageError::Missing(_) => JsonError::bad_request(self.to_string()),
            BlockStorageError::NotFound(_, m) => JsonError::not_found(m.clone()),
            BlockStorageError::Conflict(_, m) => JsonError::conflict(m.clone()),
            BlockStorageError::Forbidden(m) => JsonError::forbidden(m.clone()),
            BlockStorageError::Unauthenticated => JsonError::unauthorized(
                "authentication required: send `Authorization: Bearer <token>` from POST /v1/login",
            ),
            BlockStorageError::Throttled(m) => {
                JsonError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", m.clone())
            }
            BlockStorageError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                JsonError::catalog_unavailable()
            }
            BlockStorageError::Internal(_) | BlockStorageError::Database(_) => {
                tracing::error!(error = %self, "block storage internal error");
                JsonError::internal()
            }
        }
    }

    pub fn to_aws(&self) -> AwsError {
        match self {
            BlockStorageError::Invalid(code, m)
            | BlockStorageError::NotFound(code, m)
            | BlockStorageError::Conflict(code, m) => {
                AwsError::new(StatusCode::BAD_REQUEST, *code, m.clone())
            }
            BlockStorageError::InsufficientCapacity(m) => AwsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InsufficientVolumeCapacity",
                m.clone(),
            ),
            BlockStorageError::Missing(name) => AwsError::missing_parameter(name),
            BlockStorageError::Forbidden(m) => {
                AwsError::new(StatusCode::FORBIDDEN, "UnauthorizedOperation", m.clone())
            }
            BlockStorageError::Unauthenticated => AwsError::new(
                StatusCode::UNAUTHORIZED,
                "AuthFailure",
                "AWS was not able to validate the provided access credentials",
            ),
            BlockStorageError::Throttled(m) => AwsError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "RequestLimitExceeded",
                m.clone(),
            ),
            BlockStorageError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                AwsError::ec2_unavailable()
            }
            BlockStorageError::Internal(_) | BlockStorageError::Database(_) => {
                tracing::error!(error = %self, "block storage internal error");
                AwsError::internal()
            }
        }
    }
}

impl From<kumo_common::ids::MalformedId> for BlockStorageError {
    fn from(e: kumo_common::ids::MalformedId) -> Self {
        BlockStorageError::Invalid(e.code, e.to_string())
    }
}

impl From<kumo_ec2_query::DescribeError> for BlockStorageError {
    fn from(e: kumo_ec2_query::DescribeError) -> Self {
        match e {
            kumo_ec2_query::DescribeError::Invalid(code, m) => BlockStorageError::Invalid(code, m),
            kumo_ec2_query::DescribeError::Missing(name) => BlockStorageError::Missing(name),
            kumo_ec2_query::DescribeError::Throttled(m) => BlockStorageError::Throttled(m),
            kumo_ec2_query::DescribeError::Internal(m) => BlockStorageError::Internal(m),
        }
    }
}

/// The tag store's errors keep their AWS codes.
impl From<kumo_tags::TagError> for BlockStorageError {
    fn from(e: kumo_tags::TagError) -> Self {
        match e {
            kumo_tags::TagError::Invalid(code, m) => BlockStorageError::Invalid(code, m),
            kumo_tags::TagError::Missing(name) => BlockStorageError::Missing(name),
            kumo_tags::TagError::NotFound(code, m) => BlockStorageError::NotFound(code, m),
            kumo_tags::TagError::Throttled(m) => BlockStorageError::Throttled(m),
            kumo_tags::TagError::Internal(m) => BlockStorageError::Internal(m),
            kumo_tags::TagError::Database(e) => BlockStorageError::Database(e),
        }
    }
}

impl IntoResponse for BlockStorageError {
    fn into_response(self) -> Response {
        self.to_json().into_response()
    }
}
