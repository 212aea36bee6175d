//! Native routes: `/v1/internet-gateways`. Handlers are thin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use serde::{Deserialize, Serialize};

use super::InternetGateway;
use crate::error::Result;
use crate::listed::{native_page, page_of};
use crate::tags::Tags;
use crate::vpcs::api::ListQuery;
use crate::{internet_gateways, vpcs, Network};

pub fn router(network: Network) -> Router {
    Router::new()
        .route(
            "/v1/internet-gateways",
            get(list_internet_gateways).post(create_internet_gateway),
        )
        .route(
            "/v1/internet-gateways/{internet_gateway_id}",
            get(get_internet_gateway).delete(delete_internet_gateway),
        )
        .route(
            "/v1/internet-gateways/{internet_gateway_id}/attach",
            post(attach_internet_gateway),
        )
        .route(
            "/v1/internet-gateways/{internet_gateway_id}/detach",
            post(detach_internet_gateway),
        )
        .with_state(network)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InternetGatewayPage {
    pub internet_gateways: Vec<InternetGateway>,
    pub next_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInternetGateway {
    #[serde(default)]
    pub tags: Tags,
}

/// The VPC to attach to or detach from.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GatewayAttachment {
    pub vpc_id: String,
}

#[utoipa::path(get, path = "/v1/internet-gateways", tag = "network", params(ListQuery),
    responses((status = 200, body = InternetGatewayPage), (status = 400, body = ApiErrorBody)))]
async fn list_internet_gateways(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<InternetGatewayPage>> {
    let page = native_page(query.max_results, query.next_token.as_deref())?;
    vpcs::ensure_default(&network, &caller.account_id).await?;
    let mut found = internet_gateways::list(&network.pool, &caller, &[]).await?;
    found.retain(|g| query.vpc_id.is_none() || g.vpc_id == query.vpc_id);
    let (internet_gateways, next_token) = page_of(page, found)?;
    Ok(Json(InternetGatewayPage {
        internet_gateways,
        next_token,
    }))
}

#[utoipa::path(post, path = "/v1/internet-gateways", tag = "network", request_body = CreateInternetGateway,
    responses((status = 201, body = InternetGateway), (status = 400, body = ApiErrorBody)))]
async fn create_internet_gateway(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateInternetGateway>,
) -> Result<(StatusCode, Json<InternetGateway>)> {
    let gateway = internet_gateways::create(&network, &caller, &input.tags).await?;
    Ok((StatusCode::CREATED, Json(gateway)))
}

#[utoipa::path(get, path = "/v1/internet-gateways/{internet_gateway_id}", tag = "network",
    params(("internet_gateway_id" = String, Path)),
    responses((status = 200, body = InternetGateway), (status = 404, body = ApiErrorBody)))]
async fn get_internet_gateway(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<InternetGateway>> {
    Ok(Json(
        internet_gateways::get(&network.pool, &caller, &id).await?,
    ))
}

#[utoipa::path(delete, path = "/v1/internet-gateways/{internet_gateway_id}", tag = "network",
    params(("internet_gateway_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn delete_internet_gateway(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    internet_gateways::delete(&network, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/internet-gateways/{internet_gateway_id}/attach", tag = "network",
    params(("internet_gateway_id" = String, Path)), request_body = GatewayAttachment,
    responses((status = 200, body = InternetGateway), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn attach_internet_gateway(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<GatewayAttachment>,
) -> Result<Json<InternetGateway>> {
    internet_gateways::attach(&network, &caller, &id, &input.vpc_id).await?;
    Ok(Json(
        internet_gateways::get(&network.pool, &caller, &id).await?,
    ))
}

#[utoipa::path(post, path = "/v1/internet-gateways/{internet_gateway_id}/detach", tag = "network",
    params(("internet_gateway_id" = String, Path)), request_body = GatewayAttachment,
    responses((status = 200, body = InternetGateway), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn detach_internet_gateway(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<GatewayAttachment>,
) -> Result<Json<InternetGateway>> {
    internet_gateways::detach(&network, &caller, &id, &input.vpc_id).await?;
    Ok(Json(
        internet_gateways::get(&network.pool, &caller, &id).await?,
    ))
}

/// The internet gateway routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_internet_gateways,
        create_internet_gateway,
        get_internet_gateway,
        delete_internet_gateway,
        attach_internet_gateway,
        detach_internet_gateway
    ),
    components(schemas(
        InternetGateway,
        InternetGatewayPage,
        CreateInternetGateway,
        GatewayAttachment
    ))
)]
pub struct InternetGatewaysApi;
