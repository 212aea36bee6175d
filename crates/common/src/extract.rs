//! Extractors that validate at the edge and answer bad input with a JSON 4xx, never a
//! plain-text rejection or a 500.

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use http::request::Parts;
use http::StatusCode;
use serde::de::DeserializeOwned;

use crate::errors::JsonError;

/// A JSON body, deserialized strictly. Malformed JSON, a wrong content type, unknown
/// fields (where the type denies them), oversized bodies and strings (or keys) holding
/// NUL or controls (see [`crate::text`]) all become JSON 400s before a handler runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidJson<T>(pub T);

impl<T, S> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = JsonError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let value = match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(value)) => value,
            Err(rejection) => return Err(json_rejection(rejection)),
        };
        if let Err((path, problem)) = crate::text::check_json(&value) {
            let field = if path.is_empty() { "/" } else { path.as_str() };
            return Err(JsonError::bad_request(format!(
                "invalid request body: the string at {} {problem}",
                field
                    .chars()
                    .take(200)
                    .flat_map(char::escape_debug)
                    .collect::<String>()
            )));
        }
        serde_json::from_value(value)
            .map(ValidJson)
            .map_err(|e| JsonError::bad_request(format!("invalid request body: {e}")))
    }
}

fn json_rejection(rejection: JsonRejection) -> JsonError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            JsonError::bad_request(format!("invalid request body: {}", e.body_text()))
        }
        JsonRejection::JsonSyntaxError(e) => {
            JsonError::bad_request(format!("malformed JSON: {}", e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => JsonError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UnsupportedMediaType",
            "expected a request body with Content-Type: application/json",
        ),
        JsonRejection::BytesRejection(e) => {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                JsonError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "PayloadTooLarge",
                    "request body is larger than the limit",
                )
            } else {
                JsonError::bad_request(format!("could not read request body: {}", e.body_text()))
            }
        }
        other => JsonError::bad_request(other.body_text()),
    }
}

/// Path parameters; a value that does not parse is a 400 that says which.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ValidPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = JsonError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if let Ok(raw) = axum::extract::RawPathParams::from_request_parts(parts, state).await {
            for (name, value) in &raw {
                if let Err(problem) = crate::text::check(value) {
                    return Err(JsonError::bad_request(format!(
                        "invalid path parameter: {name} {problem}"
                    )));
                }
            }
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ValidPath(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> JsonError {
    JsonError::bad_request(format!("invalid path parameter: {}", rejection.body_text()))
}

/// A URL query string, deserialized strictly: undecodable values, NUL and controls
/// (see [`crate::text`]) are a JSON 400 before a handler runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ValidQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = JsonError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        // Checked on the raw query string because lossy decoding would hide bad bytes.
        if let Some(Err(refused)) = crate::text::form_pairs(query.as_bytes()).find(Result::is_err) {
            let what = refused.name.map_or_else(
                || "a parameter name".to_string(),
                |name| format!("the value of {}", name.chars().take(64).collect::<String>()),
            );
            return Err(JsonError::bad_request(format!(
                "invalid query string: {what} {}",
                refused.problem
            )));
        }
        match axum::extract::Query::<T>::try_from_uri(&parts.uri) {
            Ok(axum::extract::Query(value)) => Ok(ValidQuery(value)),
            Err(rejection) => Err(JsonError::bad_request(format!(
                "invalid query string: {}",
                rejection.body_text()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::{routing::post, Router};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Input {
        name: String,
    }

    async fn call(body: &'static str) -> (StatusCode, serde_json::Value) {
        let app = Router::new().route("/", post(|ValidJson(_i): ValidJson<Input>| async { "ok" }));
        let req = Request::post("/")
            .header("content-type", "application/json")
            .body(axum::body::Body::from(body))
            .unwrap();
        let resp = app.oneshot(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Q {
        prefix: Option<String>,
    }

    async fn get(uri: &str) -> StatusCode {
        let app = Router::new()
            .route(
                "/q",
                axum::routing::get(|ValidQuery(_q): ValidQuery<Q>| async { "ok" }),
            )
            .route(
                "/p/{name}",
                axum::routing::get(|ValidPath(_n): ValidPath<String>| async { "ok" }),
            );
        let req = Request::get(uri).body(axum::body::Body::empty()).unwrap();
        app.oneshot(req).await.unwrap().status()
    }

    #[tokio::test]
    async fn query_and_path_refuse_nul_and_bad_utf8() {
        assert_eq!(get("/q?prefix=a%20b").await, StatusCode::OK);
        assert_eq!(get("/q?prefix=a%00b").await, StatusCode::BAD_REQUEST);
        assert_eq!(get("/q?prefix=a%FFb").await, StatusCode::BAD_REQUEST);
        assert_eq!(get("/p/abc").await, StatusCode::OK);
        assert_eq!(get("/p/a%00c").await, StatusCode::BAD_REQUEST);
        assert_eq!(get("/p/a%01c").await, StatusCode::BAD_REQUEST);
        assert_eq!(get("/p/a%FFc").await, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn bad_json_is_a_clear_400() {
        let (status, body) = call("{not json").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "InvalidInput");
        let (status, body) = call(r#"{"name":"a","extra":1}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown field"));
        let (status, body) = call(r#"{"name":"a\u0000"}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "InvalidInput");
        assert!(body["error"]["message"].as_str().unwrap().contains("NUL"));
        let (status, _) = call(r#"{"name":"a\u0001"}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = call(r#"{"name":"ok\n"}"#).await;
        assert_eq!(status, StatusCode::OK);
    }
}
