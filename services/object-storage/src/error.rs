//! The object-storage service's one error type, mapped once to S3's XML errors and once to
//! the native JSON shape.

use axum::response::{IntoResponse, Response};
use http::StatusCode;
use kumo_common::{AwsError, AwsErrorFormat, JsonError};

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A client error with S3's code: `(status, code, message)`.
    #[error("{2}")]
    S3(StatusCode, &'static str, String),
    #[error("The specified bucket does not exist")]
    NoSuchBucket(String),
    #[error("The specified key does not exist.")]
    NoSuchKey(String),
    /// The upload id asked for, when it can be repeated (it is text).
    #[error("The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")]
    NoSuchUpload(Option<String>),
    #[error("Access Denied")]
    AccessDenied,
    /// Not enough healthy storage nodes to place or read data.
    #[error("{0}")]
    Unavailable(String),
    #[error("{0}")]
    Internal(String),
    #[error("catalog error: {0}")]
    Database(#[from] sqlx::Error),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

impl StorageError {
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        StorageError::S3(StatusCode::BAD_REQUEST, "InvalidArgument", message.into())
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        StorageError::S3(StatusCode::BAD_REQUEST, "InvalidRequest", message.into())
    }

    pub fn not_implemented(what: &str) -> Self {
        StorageError::S3(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            format!("A header or query you provided implies functionality that is not implemented: {what}"),
        )
    }

    pub fn status(&self) -> StatusCode {
        match self {
            StorageError::S3(status, _, _) => *status,
            StorageError::NoSuchBucket(_)
            | StorageError::NoSuchKey(_)
            | StorageError::NoSuchUpload(_) => StatusCode::NOT_FOUND,
            StorageError::AccessDenied => StatusCode::FORBIDDEN,
            StorageError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            StorageError::Database(e) if kumo_catalog::is_unavailable(e) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            StorageError::Internal(_) | StorageError::Database(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            StorageError::S3(_, code, _) => code,
            StorageError::NoSuchBucket(_) => "NoSuchBucket",
            StorageError::NoSuchKey(_) => "NoSuchKey",
            StorageError::NoSuchUpload(_) => "NoSuchUpload",
            StorageError::AccessDenied => "AccessDenied",
            StorageError::Unavailable(_) => "ServiceUnavailable",
            StorageError::Database(e) if kumo_catalog::is_unavailable(e) => "ServiceUnavailable",
            StorageError::Internal(_) | StorageError::Database(_) => "InternalError",
        }
    }

    /// S3's XML error, naming the resource (`/bucket/key`) when known.
    pub fn to_s3(&self, resource: Option<&str>) -> AwsError {
        let message = match self {
            StorageError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                "Service is unable to handle request.".to_string()
            }
            StorageError::Internal(_) | StorageError::Database(_) => {
                tracing::error!(error = %self, "object storage internal error");
                "We encountered an internal error. Please try again.".to_string()
            }
            StorageError::Unavailable(m) => {
                tracing::warn!(error = %m, "object storage unavailable");
                "Please reduce your request rate.".to_string()
            }
            other => other.to_string(),
        };
        let mut error = AwsError::new(self.status(), self.code(), message);
        error.resource = resource.map(str::to_string).or(match self {
            StorageError::NoSuchBucket(b) => Some(b.clone()),
            StorageError::NoSuchKey(k) => Some(k.clone()),
            _ => None,
        });
        error.names = s3_names(self.code(), resource);
        if let StorageError::NoSuchUpload(Some(upload_id)) = self {
            error.names.push(("UploadId", upload_id.clone()));
        }
        error
    }

    pub fn into_s3_response(self, resource: Option<&str>) -> Response {
        self.to_s3(resource).into_response_as(AwsErrorFormat::S3)
    }

    pub fn to_json(&self) -> JsonError {
        match self {
            StorageError::Database(e) if kumo_catalog::is_unavailable(e) => {
                tracing::debug!(error = %e, "catalog unavailable");
                JsonError::new(
                    self.status(),
                    self.code(),
                    "the catalog is unavailable; retry shortly",
                )
            }
            StorageError::Internal(_) | StorageError::Database(_) => {
                tracing::error!(error = %self, "object storage internal error");
                JsonError::internal()
            }
            other => JsonError::new(other.status(), other.code(), other.to_string()),
        }
    }
}

/// What S3 names in an error's own elements, from the request's `/bucket/key`: the bucket
/// that is missing or lacks a configuration, the key that is missing.
fn s3_names(code: &str, resource: Option<&str>) -> Vec<(&'static str, String)> {
    let Some(path) = resource.and_then(|r| r.strip_prefix('/')) else {
        return Vec::new();
    };
    let (bucket, key) = path.split_once('/').unwrap_or((path, ""));
    match code {
        "NoSuchKey" if !key.is_empty() => vec![("Key", key.to_string())],
        "NoSuchBucket"
        | "NoSuchTagSet"
        | "NoSuchBucketPolicy"
        | "NoSuchCORSConfiguration"
        | "NoSuchWebsiteConfiguration"
        | "NoSuchLifecycleConfiguration"
        | "ReplicationConfigurationNotFoundError"
        | "ServerSideEncryptionConfigurationNotFoundError"
        | "OwnershipControlsNotFoundError"
        | "BucketNotEmpty"
        | "BucketAlreadyOwnedByYou"
            if !bucket.is_empty() =>
        {
            vec![("BucketName", bucket.to_string())]
        }
        _ => Vec::new(),
    }
}

impl IntoResponse for StorageError {
    fn into_response(self) -> Response {
        self.to_json().into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_such_upload_names_the_upload_when_it_is_text() {
        let named = StorageError::NoSuchUpload(Some("abc".into())).to_s3(Some("/b/k"));
        assert_eq!(named.code, "NoSuchUpload");
        assert_eq!(named.names, vec![("UploadId", "abc".to_string())]);
        let unnamed = StorageError::NoSuchUpload(None).to_s3(Some("/b/k"));
        assert!(unnamed.names.is_empty());
    }
}
