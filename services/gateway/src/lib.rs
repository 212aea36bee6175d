//! The public endpoint. One listener serves:
//! - the native JSON API under `/v1/` (each service's router, merged);
//! - AWS Query requests (`POST /` with a form body, or `GET /?Action=…`), routed by the
//!   SigV4 credential scope's service name: `sts`/`iam` to identity, `ec2` to the compute
//!   service's EC2 facade;
//! - S3 REST requests, path style and virtual-host style, to the object-storage service:
//!   any request signed for `s3` (header or presigned URL), any request whose `Host` names
//!   a bucket (`<bucket>.s3.localhost`), and any request outside the native and Query
//!   routes (anonymous S3 requests, answered `AccessDenied`).
//!
//! Every request gets a request id (also the AWS `RequestId`) and passes the auth layer,
//! which yields a `Principal` from a Bearer JWT or a SigV4 signature.

pub mod compose;
pub mod config;
pub mod console;
pub mod server;

pub use compose::{start, start_with_console, Mount, Services};
pub use console::ConsoleConfig;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{Method, StatusCode};
use kumo_auth::{AuthConfig, AuthLayer, Principal, SigV4Context};
use kumo_common::{AwsError, AwsErrorFormat, JsonError, QueryRequest};
use kumo_object_storage::ObjectStorage;

/// Largest request body the gateway reads for the JSON and Query APIs.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Clone)]
struct AppState {
    services: Services,
    mount: Mount,
}

/// The whole HTTP application over `services` (every route, plus the edge layers), without
/// starting any service's loops: what tests serve. Processes start theirs with [`start`].
pub fn app(services: Services, auth_config: AuthConfig) -> Router {
    app_with_console(services, auth_config, ConsoleConfig::from_env())
}

/// [`app`], serving the web console from `console`.
pub fn app_with_console(
    services: Services,
    auth_config: AuthConfig,
    console: ConsoleConfig,
) -> Router {
    let services = services.wired();
    let routes = services.routes(Mount::Gateway);
    build(services, routes, auth_config, Mount::Gateway, console)
}

/// The edge in front of `service_routes` (the mounted services' native routes): the AWS
/// Query and S3 routing, health and readiness, the web console (whole gateway only),
/// request ids, auth and limits.
fn build(
    services: Services,
    service_routes: Router,
    mut auth_config: AuthConfig,
    mount: Mount,
    console: ConsoleConfig,
) -> Router {
    // SigV4 credential scopes must name a region this endpoint's services are configured for.
    for region in [
        &services.compute.config.region,
        &services.object_storage.config.region,
    ] {
        if !auth_config.regions.contains(region) {
            auth_config.regions.push(region.clone());
        }
    }
    let auth = AuthLayer::with_config(services.identity.credential_store(), auth_config);
    let mut router = Router::new()
        .route("/", get(aws_query).post(aws_query))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(AppState {
            services: services.clone(),
            mount,
        })
        .merge(service_routes);
    if mount == Mount::Gateway {
        router = router
            .merge(console::router(console))
            .merge(compose::overview::router(services.identity.pool.clone()));
    }
    let s3_state = AppState {
        services: services.clone(),
        mount,
    };
    router
        .fallback(fallback)
        .layer(axum::middleware::from_fn_with_state(s3_state, s3_intercept))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(auth)
        .layer(axum::middleware::from_fn(drain_unread_body))
        .layer(axum::middleware::from_fn(
            kumo_common::request_id_middleware,
        ))
        .layer(axum::middleware::map_response(sandbox_untrusted))
}

/// Every answer but the console's own files (which carry their policy) is sandboxed: the
/// console shares this origin with S3, whose objects (and `response-content-type`
/// overrides on presigned URLs any tenant can make) may be HTML. Rendered here, a tenant's
/// page would run as the console: read the CSRF cookie and act with a visitor's session.
/// `sandbox` gives such a page a unique origin and no scripts; `nosniff` keeps the other
/// answers what they say they are.
async fn sandbox_untrusted(mut response: Response) -> Response {
    let headers = response.headers_mut();
    if !headers.contains_key(http::header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            http::header::CONTENT_SECURITY_POLICY,
            http::HeaderValue::from_static(UNTRUSTED_CONTENT_POLICY),
        );
    }
    headers
        .entry(http::header::X_CONTENT_TYPE_OPTIONS)
        .or_insert(http::HeaderValue::from_static("nosniff"));
    response
}

/// The policy of every answer but the console's files.
pub const UNTRUSTED_CONTENT_POLICY: &str = "sandbox; default-src 'none'; style-src 'unsafe-inline'";

/// How much of a refused request's unread body is read and discarded before answering.
const DRAIN_LIMIT_BYTES: usize = 64 * 1024 * 1024;

/// A request body that the layers inside may read, and this one may finish reading after.
#[derive(Clone)]
struct SharedBody(std::sync::Arc<std::sync::Mutex<axum::body::BodyDataStream>>);

impl futures::Stream for SharedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        let mut stream = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::pin::Pin::new(&mut *stream).poll_next(cx)
    }
}

/// Answers refused before their body was read (a bad signature, an unknown bucket) reach
/// clients that send the whole body before reading the answer (no `Expect: 100-continue`):
/// the rest of the body, up to [`DRAIN_LIMIT_BYTES`], is read and discarded first. Without
/// this the server closes the connection under a client still sending, which then sees a
/// reset instead of the error.
async fn drain_unread_body(request: Request, next: axum::middleware::Next) -> Response {
    let has_body = request
        .headers()
        .contains_key(http::header::TRANSFER_ENCODING)
        || request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|length| length > 0);
    if !has_body {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let shared = SharedBody(std::sync::Arc::new(std::sync::Mutex::new(
        body.into_data_stream(),
    )));
    let request = Request::from_parts(parts, axum::body::Body::from_stream(shared.clone()));
    let response = next.run(request).await;
    if response.status().is_client_error() || response.status().is_server_error() {
        let mut drained = 0;
        let mut rest = shared;
        while let Some(Ok(frame)) = futures::StreamExt::next(&mut rest).await {
            drained += frame.len();
            if drained > DRAIN_LIMIT_BYTES {
                break;
            }
        }
    }
    response
}

/// How long `/readyz` waits for the catalog's answer.
pub const READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// `/readyz`: ready when the catalog answers a `SELECT 1` within [`READY_TIMEOUT`]; 503
/// `NotReady` otherwise (within about a second of losing Postgres, and 200 again as soon
/// as it is back). `/healthz` is liveness only: the process runs and serves HTTP; it stays
/// 200 while the catalog is away (restarting the process would not bring it back).
async fn ready(State(state): State<AppState>) -> Response {
    match kumo_catalog::ping_within(&state.services.identity.pool, READY_TIMEOUT).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            // The catalog's probe warns once per outage; not once per readiness check.
            tracing::debug!(error = %e, "catalog not reachable");
            JsonError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "NotReady",
                "the catalog is not reachable",
            )
            .into_response()
        }
    }
}

/// The SigV4 service a request was signed for, if it was signed.
fn signed_service(context: Option<&Extension<SigV4Context>>) -> Option<&str> {
    context.map(|Extension(c)| c.service.as_str())
}

/// `POST /` or `GET /?Action=…`: AWS Query, routed by the credential scope's service.
async fn aws_query(
    State(AppState { services, mount }): State<AppState>,
    principal: Option<Extension<Principal>>,
    context: Option<Extension<SigV4Context>>,
    method: Method,
    request: Request,
) -> Response {
    let service = signed_service(context.as_ref()).map(str::to_string);
    let query = request.uri().query().map(str::to_string);
    if method == Method::GET
        && mount == Mount::Gateway
        && principal.is_none()
        && console::wants_console(request.headers(), query.as_deref())
    {
        return (StatusCode::FOUND, [(http::header::LOCATION, "/console/")]).into_response();
    }
    if method == Method::GET && !query.as_deref().unwrap_or("").contains("Action=") {
        return Json(serde_json::json!({
            "service": "kumo",
            "version": env!("CARGO_PKG_VERSION"),
            "native_api": "/v1/",
        }))
        .into_response();
    }
    let body: Bytes = match axum::body::to_bytes(request.into_body(), MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(_) => {
            return AwsError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                "Request body too large",
            )
            .into_response_as(AwsErrorFormat::for_service(
                service.as_deref().unwrap_or("sts"),
            ))
        }
    };
    let format = AwsErrorFormat::for_service(service.as_deref().unwrap_or("sts"));
    let parsed = match QueryRequest::parse(query.as_deref(), &body) {
        Ok(p) => p,
        Err(e) => return e.into_response_as(format),
    };
    let principal = principal.map(|Extension(p)| p);
    match service.as_deref() {
        Some(s) if kumo_identity::aws::SERVICES.contains(&s) && mount.serves_identity() => {
            kumo_identity::aws::dispatch(&services.identity, s, principal.as_ref(), &parsed).await
        }
        Some("ec2") if kumo_network::ec2::serves(&parsed.action) => {
            if mount.serves_network() {
                kumo_network::ec2::dispatch(&services.network, principal.as_ref(), &parsed).await
            } else {
                AwsError::invalid_action(&parsed.action).into_response_as(format)
            }
        }
        Some("ec2") if kumo_block_storage::ec2::serves(&parsed.action) => {
            if mount.serves_block_storage() {
                kumo_block_storage::ec2::dispatch(
                    &services.block_storage,
                    principal.as_ref(),
                    &parsed,
                )
                .await
            } else {
                AwsError::invalid_action(&parsed.action).into_response_as(format)
            }
        }
        Some("ec2") if mount.serves_compute() => {
            kumo_compute::ec2::dispatch(&services.compute, principal.as_ref(), &parsed).await
        }
        Some(other) => AwsError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!("This Kumo endpoint does not offer the AWS service {other:?}."),
        )
        .into_response_as(format),
        None => AwsError::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        )
        .into_response_as(format),
    }
}

/// Is this an S3 REST request? Signed for s3, addressed to a bucket's virtual host, or
/// outside the native and Query routes and the console's files (so a bucket named
/// `console` is reached signed or by virtual host only).
fn is_s3_request(request: &Request, storage: &ObjectStorage) -> bool {
    if let Some(context) = request.extensions().get::<SigV4Context>() {
        return context.service == "s3";
    }
    let host = request
        .headers()
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kumo_object_storage::s3::bucket_from_host(host, &storage.config.virtual_host_suffixes)
        .is_some()
    {
        return true;
    }
    let path = request.uri().path();
    let console = path == "/console" || path.starts_with("/console/");
    !(path == "/" || path == "/healthz" || path == "/readyz" || path.starts_with("/v1/") || console)
}

/// `Expect: 100-continue` with an empty body: the server never sends a 100 for it.
fn expects_continue_without_body(request: &Request) -> bool {
    let headers = request.headers();
    let expects = headers
        .get(http::header::EXPECT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));
    let empty = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0");
    expects && empty
}

async fn s3_intercept(
    State(AppState { services, mount }): State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let serves_s3 = mount.serves_object_storage();
    if serves_s3 && is_s3_request(&request, &services.object_storage) {
        // The console's session cookie never stands for an S3 caller (a virtual-host
        // request for a `/v1/…` key could carry one if a browser ever sent it there).
        let principal = request
            .extensions()
            .get::<Principal>()
            .filter(|p| p.method != kumo_auth::AuthMethod::Session)
            .cloned();
        let context = request.extensions().get::<SigV4Context>().cloned();
        let empty_expecting_continue = expects_continue_without_body(&request);
        let mut response =
            kumo_object_storage::s3::handle(&services.object_storage, principal, context, request)
                .await;
        if empty_expecting_continue {
            // No body, so no `100 Continue` precedes the answer. botocore then keeps the
            // final status it read while waiting for the 100 and misreads the next response
            // on this connection (a read timeout in aws-cli): a fresh connection avoids it.
            response.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
        }
        return response;
    }
    next.run(request).await
}

async fn fallback() -> Response {
    JsonError::not_found("no such route; the native API lives under /v1/").into_response()
}

/// The OpenAPI document of the native API, merged from every service.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = kumo_identity::api::IdentityApi::openapi();
    doc.merge(kumo_compute::api::ComputeApi::openapi());
    doc.merge(kumo_object_storage::api::ObjectStorageApi::openapi());
    doc.merge(kumo_network::openapi());
    doc.merge(kumo_block_storage::openapi());
    doc.merge(compose::overview::OverviewApi::openapi());
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("Kumo native API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The native JSON API of Kumo, a self-hosted AWS-compatible cloud. Authenticate with `Authorization: Bearer <token>` from POST /v1/login, or with AWS SigV4.",
        ))
        .build();
    doc
}
