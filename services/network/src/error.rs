//! The network service's one error type, mapped once to the native JSON shape and once to
//! EC2's error codes.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kumo_common::{AwsError, JsonError};

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// `(EC2 code, message)`, e.g. `("InvalidParameterValue", "…")`,
    /// `("InvalidSubnet.Range", "…")`.
    #[error("{1}")]
    Invalid(&'static str, String),
    #[error("The request must contain the parameter {0}")]
    Missing(String),
    /// `(EC2 code, message)`, e.g. `("InvalidVpcID.NotFound", "…")`.
    #[error("{1}")]
    NotFound(&'static str, String),
    /// `(EC2 code, message)`, e.g. `("InvalidGroup.Duplicate", "…")`,
    /// `("InvalidSubnet.Conflict", "…")`, `("Resource.AlreadyAssociated", "…")`.
    #[error("{1}")]
    Conflict(&'static str, String),
    /// Deleting something still in use (`DependencyViolation`).
    #[error("{0}")]
    DependencyViolation(String),
    /// A per-account limit (`(code, message)`, e.g. `("VpcLimitExceeded", "…")`).
    #[error("{1}")]
    LimitExceeded(&'static str, String),
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

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;

impl NetworkError {
    pub fn invalid(message: impl Into<String>) -> Self {
        NetworkError::Invalid("InvalidParameterValue", message.into())
    }

    pub fn to_json(&self) -> JsonError {
        match self {
            NetworkError::Invalid(_, m) | NetworkError::LimitExceeded(_, m) => {
                JsonError::bad_request(m.clone())
            }
            NetworkError::Missing(_) => JsonError::bad_request(self.to_string()),
            NetworkError::NotFound(_, m) => JsonError::not_found(m.clone()),
            NetworkError::Conflict(_, m) => JsonError::conflict(m.clone()),
            NetworkError::DependencyViolation(m) => {
                JsonError::new(StatusCode::CONFLICT, "DependencyViolation", m.clone())
            }
            NetworkError::Forbidden(m) => JsonError::forbidden(m.clone()),
            NetworkError::Unauthenticated => JsonError::unauthorized(
                "authentication required: send `Authorization: Bearer <token>` from POST /v1/login",
            ),
            NetworkError::Throttled(m) => {
                JsonError::new(StatusCode::TOO_MANY_REQUESTS, "TooManyRequests", m.clone())
            }
            NetworkError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                JsonError::catalog_unavailable()
            }
            NetworkError::Internal(_) | NetworkError::Database(_) => {
                tracing::error!(error = %self, "network internal error");
                JsonError::internal()
            }
        }
    }

    pub fn to_aws(&self) -> AwsError {
        match self {
            NetworkError::Invalid(code, m)
            | NetworkError::NotFound(code, m)
            | NetworkError::Conflict(code, m)
            | NetworkError::LimitExceeded(code, m) => {
                AwsError::new(StatusCode::BAD_REQUEST, *code, m.clone())
            }
            NetworkError::Missing(name) => AwsError::missing_parameter(name),
            NetworkError::DependencyViolation(m) => {
                AwsError::new(StatusCode::BAD_REQUEST, "DependencyViolation", m.clone())
            }
            NetworkError::Forbidden(m) => {
                AwsError::new(StatusCode::FORBIDDEN, "UnauthorizedOperation", m.clone())
            }
            NetworkError::Unauthenticated => AwsError::new(
                StatusCode::UNAUTHORIZED,
                "AuthFailure",
                "AWS was not able to validate the provided access credentials",
            ),
            NetworkError::Throttled(m) => AwsError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "RequestLimitExceeded",
                m.clone(),
            ),
            NetworkError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                AwsError::ec2_unavailable()
            }
            NetworkError::Internal(_) | NetworkError::Database(_) => {
                tracing::error!(error = %self, "network internal error");
                AwsError::internal()
            }
        }
    }
}

impl From<kumo_common::ids::MalformedId> for NetworkError {
    fn from(e: kumo_common::ids::MalformedId) -> Self {
        NetworkError::Invalid(e.code, e.to_string())
    }
}

impl From<kumo_ec2_query::DescribeError> for NetworkError {
    fn from(e: kumo_ec2_query::DescribeError) -> Self {
        match e {
            kumo_ec2_query::DescribeError::Invalid(code, m) => NetworkError::Invalid(code, m),
            kumo_ec2_query::DescribeError::Missing(name) => NetworkError::Missing(name),
            kumo_ec2_query::DescribeError::Throttled(m) => NetworkError::Throttled(m),
            kumo_ec2_query::DescribeError::Internal(m) => NetworkError::Internal(m),
        }
    }
}

/// The tag store's errors keep their AWS codes.
impl From<kumo_tags::TagError> for NetworkError {
    fn from(e: kumo_tags::TagError) -> Self {
        match e {
            kumo_tags::TagError::Invalid(code, m) => NetworkError::Invalid(code, m),
            kumo_tags::TagError::Missing(name) => NetworkError::Missing(name),
            kumo_tags::TagError::NotFound(code, m) => NetworkError::NotFound(code, m),
            kumo_tags::TagError::Throttled(m) => NetworkError::Throttled(m),
            kumo_tags::TagError::Internal(m) => NetworkError::Internal(m),
            kumo_tags::TagError::Database(e) => NetworkError::Database(e),
        }
    }
}

impl IntoResponse for NetworkError {
    fn into_response(self) -> Response {
        self.to_json().into_response()
    }
}
