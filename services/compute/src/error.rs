//! The compute service's one error type, mapped once to the native JSON shape and once to
//! EC2's error codes.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kumo_common::{AwsError, JsonError};

#[derive(Debug, thiserror::Error)]
pub enum ComputeError {
    /// `(EC2 code, message)`, e.g. `("InvalidParameterValue", "…")`.
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("The request must contain the parameter {0}")]
    Missing(String),
    /// `(EC2 code, message)`, e.g. `("InvalidInstanceID.NotFound", "…")`.
    #[error("{1}")]
    NotFound(&'static str, String),
    /// `(EC2 code, message)`, e.g. `("InvalidKeyPair.Duplicate", "…")`.
    #[error("{1}")]
    Conflict(&'static str, String),
    #[error("{0}")]
    IncorrectState(String),
    #[error("{0}")]
    InsufficientCapacity(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("authentication required")]
    Unauthenticated,
    #[error("{0}")]
    Internal(String),
    /// A part this request needs (the catalog, object storage) cannot answer now: 503,
    /// which AWS clients retry.
    #[error("{0}")]
    Unavailable(String),
    /// The account has too many costly requests in flight (AWS: `RequestLimitExceeded`).
    #[error("{0}")]
    Throttled(String),
    #[error("catalog error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = ComputeError> = std::result::Result<T, E>;

impl ComputeError {
    pub fn invalid(message: impl Into<String>) -> Self {
        ComputeError::Invalid("InvalidParameterValue", message.into())
    }

    pub fn instance_not_found(ids: &[String]) -> Self {
        let message = if ids.len() == 1 {
            format!("The instance ID '{}' does not exist", ids[0])
        } else {
            format!("The instance IDs '{}' do not exist", ids.join(", "))
        };
        ComputeError::NotFound("InvalidInstanceID.NotFound", message)
    }

    pub fn to_json(&self) -> JsonError {
        match self {
            ComputeError::Invalid(_, m) => JsonError::bad_request(m.clone()),
            ComputeError::Missing(_) => JsonError::bad_request(self.to_string()),
            ComputeError::NotFound(_, m) => JsonError::not_found(m.clone()),
            ComputeError::Conflict(_, m) => JsonError::conflict(m.clone()),
            ComputeError::IncorrectState(m) => {
                JsonError::new(StatusCode::CONFLICT, "IncorrectState", m.clone())
            }
            ComputeError::InsufficientCapacity(m) => JsonError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "InsufficientCapacity",
                m.clone(),
            ),
            ComputeError::Forbidden(m) => JsonError::forbidden(m.clone()),
            ComputeError::Unauthenticated => JsonError::unauthorized(
                "authentication required: send `Authorization: Bearer <token>` from POST /v1/login",
            ),
            ComputeError::Throttled(m) => {
                JsonError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", m.clone())
            }
            ComputeError::Unavailable(m) => {
                tracing::warn!(error = %m, "compute: a dependency is unavailable");
                JsonError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "a service this request needs is unavailable; retry shortly",
                )
            }
            ComputeError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                JsonError::catalog_unavailable()
            }
            ComputeError::Internal(_) | ComputeError::Database(_) => {
                tracing::error!(error = %self, "compute internal error");
                JsonError::internal()
            }
        }
    }

    pub fn to_aws(&self) -> AwsError {
        match self {
            ComputeError::Invalid(code, m) => {
                AwsError::new(StatusCode::BAD_REQUEST, *code, m.clone())
            }
            ComputeError::Missing(name) => AwsError::missing_parameter(name),
            ComputeError::NotFound(code, m) => {
                AwsError::new(StatusCode::BAD_REQUEST, *code, m.clone())
            }
            ComputeError::Conflict(code, m) => {
                AwsError::new(StatusCode::BAD_REQUEST, *code, m.clone())
            }
            ComputeError::IncorrectState(m) => {
                AwsError::new(StatusCode::BAD_REQUEST, "IncorrectInstanceState", m.clone())
            }
            ComputeError::InsufficientCapacity(m) => AwsError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InsufficientInstanceCapacity",
                m.clone(),
            ),
            ComputeError::Forbidden(m) => {
                AwsError::new(StatusCode::FORBIDDEN, "UnauthorizedOperation", m.clone())
            }
            ComputeError::Unauthenticated => AwsError::new(
                StatusCode::UNAUTHORIZED,
                "AuthFailure",
                "AWS was not able to validate the provided access credentials",
            ),
            ComputeError::Throttled(m) => AwsError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "RequestLimitExceeded",
                m.clone(),
            ),
            ComputeError::Unavailable(m) => {
                tracing::warn!(error = %m, "compute: a dependency is unavailable");
                AwsError::ec2_unavailable()
            }
            // EC2's code for a temporary server-side failure (botocore retries any 503).
            ComputeError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                AwsError::ec2_unavailable()
            }
            ComputeError::Internal(_) | ComputeError::Database(_) => {
                tracing::error!(error = %self, "compute internal error");
                AwsError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "An internal error has occurred",
                )
            }
        }
    }
}

/// A malformed id keeps its kind's AWS code (`InvalidInstanceID.Malformed`, …).
impl From<kumo_common::ids::MalformedId> for ComputeError {
    fn from(error: kumo_common::ids::MalformedId) -> Self {
        ComputeError::Invalid(error.code, error.to_string())
    }
}

/// The describe toolkit's errors keep their AWS codes.
impl From<kumo_ec2_query::DescribeError> for ComputeError {
    fn from(error: kumo_ec2_query::DescribeError) -> Self {
        use kumo_ec2_query::DescribeError;
        match error {
            DescribeError::Invalid(code, message) => ComputeError::Invalid(code, message),
            DescribeError::Missing(name) => ComputeError::Missing(name),
            DescribeError::Throttled(message) => ComputeError::Throttled(message),
            DescribeError::Internal(message) => ComputeError::Internal(message),
        }
    }
}

/// The tag store's errors keep their AWS codes.
impl From<kumo_tags::TagError> for ComputeError {
    fn from(error: kumo_tags::TagError) -> Self {
        use kumo_tags::TagError;
        match error {
            TagError::Invalid(code, message) => ComputeError::Invalid(code, message),
            TagError::Missing(name) => ComputeError::Missing(name),
            TagError::NotFound(code, message) => ComputeError::NotFound(code, message),
            TagError::Throttled(message) => ComputeError::Throttled(message),
            TagError::Internal(message) => ComputeError::Internal(message),
            TagError::Database(error) => ComputeError::Database(error),
        }
    }
}

impl IntoResponse for ComputeError {
    fn into_response(self) -> Response {
        self.to_json().into_response()
    }
}
