//! The public endpoint. One listener serves:
//! - the native JSON API under `/v1/` (each service's router, merged);
//! - AWS Query requests (`POST /` with a form body, or `GET /?Action=…`), routed by the
//!   SigV4 credential scope's service name: `sts`/`iam` to identity, `ec2` to the compute
//!   service's EC2 facade;
//! - room for S3 path-style and virtual-host requests (service `s3`), answered with S3's
//!   `NotImplemented` until the object store exists.
//!
//! Every request gets a request id (also the AWS `RequestId`) and passes the auth layer,
//! which yields a `Principal` from a Bearer JWT or a SigV4 signature.

pub mod config;
pub mod server;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use http::{Method, StatusCode};
use kumo_auth::{AuthConfig, AuthLayer, Principal, SigV4Context};
use kumo_common::{AwsError, AwsErrorFormat, JsonError, QueryRequest};
use kumo_compute::Compute;
use kumo_identity::Identity;

/// Largest request body the gateway reads for the JSON and Query APIs.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The services this gateway mounts.
#[derive(Clone)]
pub struct Services {
    pub identity: Identity,
    pub compute: Compute,
}

/// What one process serves: the whole gateway, or one service on its own.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mount {
    Gateway,
    IdentityOnly,
    ComputeOnly,
}

#[derive(Clone)]
struct AppState {
    services: Services,
    mount: Mount,
}

/// The whole HTTP application: routes plus the edge layers (request id, auth, limits).
pub fn app(services: Services, auth_config: AuthConfig) -> Router {
    build(services, auth_config, Mount::Gateway)
}

/// The identity service alone (the `kumo-identity` binary): `/v1/` identity routes and
/// STS/IAM Query actions, behind the same edge layers.
pub fn identity_app(services: Services, auth_config: AuthConfig) -> Router {
    build(services, auth_config, Mount::IdentityOnly)
}

/// The compute service alone (the `kumo-compute` binary): `/v1/` compute routes, the agent
/// protocol and EC2 Query actions. It authenticates callers against the shared catalog.
pub fn compute_app(services: Services, auth_config: AuthConfig) -> Router {
    build(services, auth_config, Mount::ComputeOnly)
}

fn build(services: Services, auth_config: AuthConfig, mount: Mount) -> Router {
    let auth = AuthLayer::with_config(services.identity.credential_store(), auth_config);
    let mut router = Router::new()
        .route("/", get(aws_query).post(aws_query))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ready))
        .with_state(AppState {
            services: services.clone(),
            mount,
        });
    if mount != Mount::ComputeOnly {
        router = router.merge(services.identity.router());
    }
    if mount != Mount::IdentityOnly {
        router = router.merge(services.compute.router());
    }
    router
        .fallback(fallback)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(auth)
        .layer(axum::middleware::from_fn(
            kumo_common::request_id_middleware,
        ))
}

/// Ready when the catalog answers.
async fn ready(State(state): State<AppState>) -> Response {
    match kumo_catalog::ping(&state.services.identity.pool).await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "catalog not reachable");
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
    // S3's ListBuckets is `GET /` signed for s3.
    if service.as_deref() == Some("s3") && mount == Mount::Gateway {
        return s3_not_implemented();
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
        Some(s) if kumo_identity::aws::SERVICES.contains(&s) && mount != Mount::ComputeOnly => {
            kumo_identity::aws::dispatch(&services.identity, s, principal.as_ref(), &parsed).await
        }
        Some("ec2") if mount != Mount::IdentityOnly => {
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

fn s3_not_implemented() -> Response {
    AwsError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NotImplemented",
        "Kumo's S3 service is not available yet.",
    )
    .into_response_as(AwsErrorFormat::S3)
}

async fn fallback(context: Option<Extension<SigV4Context>>) -> Response {
    if signed_service(context.as_ref()) == Some("s3") {
        return s3_not_implemented();
    }
    JsonError::not_found("no such route; the native API lives under /v1/").into_response()
}

/// The OpenAPI document of the native API, merged from every service.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = kumo_identity::api::IdentityApi::openapi();
    doc.merge(kumo_compute::api::ComputeApi::openapi());
    doc.info = utoipa::openapi::InfoBuilder::new()
        .title("Kumo native API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "The native JSON API of Kumo, a self-hosted AWS-compatible cloud. Authenticate with `Authorization: Bearer <token>` from POST /v1/login, or with AWS SigV4.",
        ))
        .build();
    doc
}
