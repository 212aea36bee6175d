//! Every request gets one id. It is returned as `x-amzn-RequestId` (and `x-amz-request-id`
//! for S3 clients) and is the `RequestId` inside AWS XML bodies, so a client's error report
//! and our logs name the same request.

use axum::{extract::Request, middleware::Next, response::Response};
use http::HeaderValue;

pub const REQUEST_ID_HEADER: &str = "x-amzn-requestid";
const S3_REQUEST_ID_HEADER: &str = "x-amz-request-id";

/// The request id, also placed in the request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub String);

tokio::task_local! {
    static CURRENT: String;
}

/// The id of the request being served by this task, or a fresh one outside a request.
pub fn current_request_id() -> String {
    CURRENT
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| uuid::Uuid::new_v4().to_string())
}

/// axum middleware: assigns the id, makes it current for the handler, and sets the headers.
pub async fn request_id_middleware(mut req: Request, next: Next) -> Response {
    let id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let mut response = CURRENT
        .scope(id.clone(), async move {
            let _enter = span.clone();
            tracing::Instrument::instrument(next.run(req), span).await
        })
        .await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER, value.clone());
        response.headers_mut().insert(S3_REQUEST_ID_HEADER, value);
    }
    response
}
