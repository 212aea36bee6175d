//! Native routes: `/v1/vpcs` and `/v1/network-acls`. Handlers are thin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use serde::{Deserialize, Serialize};

use super::{CreateVpc, Vpc, VpcAttribute};
use crate::error::Result;
use crate::listed::{native_page, page_of};
use crate::network_acls::{self, NetworkAcl, NetworkAclAssociation, NetworkAclEntry};
use crate::{vpcs, Network};

pub fn router(network: Network) -> Router {
    Router::new()
        .route("/v1/vpcs", get(list_vpcs).post(create_vpc))
        .route("/v1/vpcs/default", post(create_default_vpc))
        .route(
            "/v1/vpcs/{vpc_id}",
            get(get_vpc).patch(modify_vpc).delete(delete_vpc),
        )
        .route("/v1/network-acls", get(list_network_acls))
        .with_state(network)
}

/// A list's query: an optional VPC and a page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only those of this VPC.
    pub vpc_id: Option<String>,
    /// Page size (5–1000).
    pub max_results: Option<i64>,
    /// From the previous page's `next_token`.
    pub next_token: Option<String>,
}

impl ListQuery {
    pub(crate) fn wants(&self, vpc_id: &str) -> bool {
        self.vpc_id.as_deref().is_none_or(|wanted| wanted == vpc_id)
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VpcPage {
    pub vpcs: Vec<Vpc>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NetworkAclPage {
    pub network_acls: Vec<NetworkAcl>,
    pub next_token: Option<String>,
}

/// The DNS attributes to change.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifyVpc {
    pub enable_dns_support: Option<bool>,
    pub enable_dns_hostnames: Option<bool>,
}

#[utoipa::path(get, path = "/v1/vpcs", tag = "network", params(ListQuery),
    responses((status = 200, body = VpcPage), (status = 400, body = ApiErrorBody)))]
async fn list_vpcs(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<VpcPage>> {
    let page = native_page(query.max_results, query.next_token.as_deref())?;
    vpcs::ensure_default(&network, &caller.account_id).await?;
    let mut found = vpcs::list(&network.pool, &caller, &[]).await?;
    found.retain(|v| query.wants(&v.vpc_id));
    let (vpcs, next_token) = page_of(page, found)?;
    Ok(Json(VpcPage { vpcs, next_token }))
}

#[utoipa::path(post, path = "/v1/vpcs", tag = "network", request_body = CreateVpc,
    responses((status = 201, body = Vpc), (status = 400, body = ApiErrorBody)))]
async fn create_vpc(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateVpc>,
) -> Result<(StatusCode, Json<Vpc>)> {
    Ok((
        StatusCode::CREATED,
        Json(vpcs::create(&network, &caller, &input).await?),
    ))
}

#[utoipa::path(post, path = "/v1/vpcs/default", tag = "network",
    responses((status = 201, body = Vpc), (status = 409, body = ApiErrorBody)))]
async fn create_default_vpc(
    State(network): State<Network>,
    Caller(caller): Caller,
) -> Result<(StatusCode, Json<Vpc>)> {
    Ok((
        StatusCode::CREATED,
        Json(vpcs::create_default(&network, &caller).await?),
    ))
}

#[utoipa::path(get, path = "/v1/vpcs/{vpc_id}", tag = "network", params(("vpc_id" = String, Path)),
    responses((status = 200, body = Vpc), (status = 404, body = ApiErrorBody)))]
async fn get_vpc(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(vpc_id): ValidPath<String>,
) -> Result<Json<Vpc>> {
    Ok(Json(vpcs::get(&network.pool, &caller, &vpc_id).await?))
}

#[utoipa::path(patch, path = "/v1/vpcs/{vpc_id}", tag = "network", params(("vpc_id" = String, Path)),
    request_body = ModifyVpc,
    responses((status = 200, body = Vpc), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn modify_vpc(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(vpc_id): ValidPath<String>,
    ValidJson(input): ValidJson<ModifyVpc>,
) -> Result<Json<Vpc>> {
    // Support first when turning on (hostnames need it), hostnames first when turning off.
    let mut changes = vec![
        (VpcAttribute::EnableDnsSupport, input.enable_dns_support),
        (VpcAttribute::EnableDnsHostnames, input.enable_dns_hostnames),
    ];
    if input.enable_dns_support == Some(false) {
        changes.reverse();
    }
    let mut vpc = vpcs::get(&network.pool, &caller, &vpc_id).await?;
    for (attribute, value) in changes {
        if let Some(value) = value {
            vpc = vpcs::modify_attribute(&network, &caller, &vpc_id, attribute, value).await?;
        }
    }
    Ok(Json(vpc))
}

#[utoipa::path(delete, path = "/v1/vpcs/{vpc_id}", tag = "network", params(("vpc_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn delete_vpc(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(vpc_id): ValidPath<String>,
) -> Result<StatusCode> {
    vpcs::delete(&network, &caller, &vpc_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/network-acls", tag = "network", params(ListQuery),
    responses((status = 200, body = NetworkAclPage), (status = 400, body = ApiErrorBody)))]
async fn list_network_acls(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<NetworkAclPage>> {
    let page = native_page(query.max_results, query.next_token.as_deref())?;
    vpcs::ensure_default(&network, &caller.account_id).await?;
    let mut found = network_acls::list(&network.pool, &caller, &[]).await?;
    found.retain(|a| query.wants(&a.vpc_id));
    let (network_acls, next_token) = page_of(page, found)?;
    Ok(Json(NetworkAclPage {
        network_acls,
        next_token,
    }))
}

/// The VPC routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_vpcs,
        create_vpc,
        create_default_vpc,
        get_vpc,
        modify_vpc,
        delete_vpc,
        list_network_acls
    ),
    components(schemas(
        Vpc,
        VpcPage,
        CreateVpc,
        ModifyVpc,
        NetworkAcl,
        NetworkAclPage,
        NetworkAclEntry,
        NetworkAclAssociation
    ))
)]
pub struct VpcsApi;
