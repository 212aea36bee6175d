//! Native routes: `/v1/subnets`. Handlers are thin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use serde::{Deserialize, Serialize};

use super::{CreateSubnet, Subnet};
use crate::error::Result;
use crate::listed::{native_page, page_of};
use crate::vpcs::api::ListQuery;
use crate::{subnets, vpcs, Network};

pub fn router(network: Network) -> Router {
    Router::new()
        .route("/v1/subnets", get(list_subnets).post(create_subnet))
        .route(
            "/v1/subnets/{subnet_id}",
            get(get_subnet).patch(modify_subnet).delete(delete_subnet),
        )
        .with_state(network)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SubnetPage {
    pub subnets: Vec<Subnet>,
    pub next_token: Option<String>,
}

/// The attributes to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifySubnet {
    pub map_public_ip_on_launch: Option<bool>,
}

#[utoipa::path(get, path = "/v1/subnets", tag = "network", params(ListQuery),
    responses((status = 200, body = SubnetPage), (status = 400, body = ApiErrorBody)))]
async fn list_subnets(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<SubnetPage>> {
    let page = native_page(query.max_results, query.next_token.as_deref())?;
    vpcs::ensure_default(&network, &caller.account_id).await?;
    let mut found = subnets::list(&network.pool, &caller, &[]).await?;
    found.retain(|s| query.wants(&s.vpc_id));
    let (subnets, next_token) = page_of(page, found)?;
    Ok(Json(SubnetPage {
        subnets,
        next_token,
    }))
}

#[utoipa::path(post, path = "/v1/subnets", tag = "network", request_body = CreateSubnet,
    responses((status = 201, body = Subnet), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn create_subnet(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateSubnet>,
) -> Result<(StatusCode, Json<Subnet>)> {
    Ok((
        StatusCode::CREATED,
        Json(subnets::create(&network, &caller, &input).await?),
    ))
}

#[utoipa::path(get, path = "/v1/subnets/{subnet_id}", tag = "network", params(("subnet_id" = String, Path)),
    responses((status = 200, body = Subnet), (status = 404, body = ApiErrorBody)))]
async fn get_subnet(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(subnet_id): ValidPath<String>,
) -> Result<Json<Subnet>> {
    Ok(Json(
        subnets::get(&network.pool, &caller, &subnet_id).await?,
    ))
}

#[utoipa::path(patch, path = "/v1/subnets/{subnet_id}", tag = "network", params(("subnet_id" = String, Path)),
    request_body = ModifySubnet,
    responses((status = 200, body = Subnet), (status = 404, body = ApiErrorBody)))]
async fn modify_subnet(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(subnet_id): ValidPath<String>,
    ValidJson(input): ValidJson<ModifySubnet>,
) -> Result<Json<Subnet>> {
    Ok(Json(match input.map_public_ip_on_launch {
        Some(value) => {
            subnets::set_map_public_ip_on_launch(&network, &caller, &subnet_id, value).await?
        }
        None => subnets::get(&network.pool, &caller, &subnet_id).await?,
    }))
}

#[utoipa::path(delete, path = "/v1/subnets/{subnet_id}", tag = "network", params(("subnet_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn delete_subnet(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(subnet_id): ValidPath<String>,
) -> Result<StatusCode> {
    subnets::delete(&network, &caller, &subnet_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The subnet routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_subnets, create_subnet, get_subnet, modify_subnet, delete_subnet),
    components(schemas(Subnet, SubnetPage, CreateSubnet, ModifySubnet))
)]
pub struct SubnetsApi;
