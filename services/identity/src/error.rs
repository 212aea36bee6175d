//! The identity service's one error type, mapped once to the native JSON shape and once
//! to the AWS (IAM/STS Query) shape.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kumo_common::{AwsError, JsonError};

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    InvalidInput(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("invalid account, user name or password")]
    BadLogin,
    #[error("{0}")]
    Forbidden(String),
    #[error("the master key does not match the one the catalog's secrets were sealed with")]
    WrongMasterKey,
    #[error("crypto failure: {0}")]
    Crypto(String),
    #[error("catalog error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = IdentityError> = std::result::Result<T, E>;

/// A client-supplied value as error messages quote it: debug-escaped (control characters
/// never reach a response raw) and cut to 64 characters so that a huge input is not echoed.
pub fn shown(value: &str) -> String {
    const MAX: usize = 64;
    if value.chars().count() <= MAX {
        format!("{value:?}")
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("{head:?}…")
    }
}

impl IdentityError {
    pub fn to_json(&self) -> JsonError {
        match self {
            IdentityError::InvalidInput(m) => JsonError::bad_request(m.clone()),
            IdentityError::NotFound(m) => JsonError::not_found(m.clone()),
            IdentityError::AlreadyExists(m) => {
                JsonError::new(StatusCode::CONFLICT, "AlreadyExists", m.clone())
            }
            IdentityError::LimitExceeded(m) => {
                JsonError::new(StatusCode::CONFLICT, "LimitExceeded", m.clone())
            }
            IdentityError::BadLogin => JsonError::unauthorized(self.to_string()),
            IdentityError::Forbidden(m) => JsonError::forbidden(m.clone()),
            IdentityError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                JsonError::catalog_unavailable()
            }
            IdentityError::WrongMasterKey
            | IdentityError::Crypto(_)
            | IdentityError::Database(_) => {
                tracing::error!(error = %self, "identity internal error");
                JsonError::internal()
            }
        }
    }

    pub fn to_aws(&self) -> AwsError {
        match self {
            IdentityError::InvalidInput(m) => {
                AwsError::new(StatusCode::BAD_REQUEST, "ValidationError", m.clone())
            }
            IdentityError::NotFound(m) => {
                AwsError::new(StatusCode::NOT_FOUND, "NoSuchEntity", m.clone())
            }
            IdentityError::AlreadyExists(m) => {
                AwsError::new(StatusCode::CONFLICT, "EntityAlreadyExists", m.clone())
            }
            IdentityError::LimitExceeded(m) => {
                AwsError::new(StatusCode::CONFLICT, "LimitExceeded", m.clone())
            }
            IdentityError::BadLogin => AwsError::new(
                StatusCode::FORBIDDEN,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ),
            IdentityError::Forbidden(m) => {
                AwsError::new(StatusCode::FORBIDDEN, "AccessDenied", m.clone())
            }
            IdentityError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                AwsError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "The request has failed due to a temporary failure of the server.",
                )
            }
            IdentityError::WrongMasterKey
            | IdentityError::Crypto(_)
            | IdentityError::Database(_) => {
                tracing::error!(error = %self, "identity internal error");
                AwsError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceFailure",
                    "The request processing has failed because of an unknown error, exception or failure.",
                )
            }
        }
    }
}

impl IntoResponse for IdentityError {
    fn into_response(self) -> Response {
        self.to_json().into_response()
    }
}
