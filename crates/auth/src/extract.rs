//! The authenticated caller as an axum extractor.

use axum::extract::FromRequestParts;
use http::request::Parts;
use kumo_common::JsonError;

use crate::Principal;

/// The caller the auth layer authenticated; a request without credentials gets a JSON 401.
pub struct Caller(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = JsonError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().map(Caller).ok_or_else(|| {
            JsonError::unauthorized(
                "authentication required: send `Authorization: Bearer <token>` from POST /v1/login, or sign with AWS SigV4",
            )
        })
    }
}
