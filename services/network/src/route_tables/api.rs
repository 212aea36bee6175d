//! Native routes: `/v1/route-tables`, their routes and associations. Handlers are thin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use serde::{Deserialize, Serialize};

use super::{Route, RouteTable, RouteTableAssociation, RouteTarget};
use crate::error::{NetworkError, Result};
use crate::listed::{native_page, page_of};
use crate::tags::Tags;
use crate::vpcs::api::ListQuery;
use crate::{route_tables, vpcs, Network};

pub fn router(network: Network) -> Router {
    Router::new()
        .route(
            "/v1/route-tables",
            get(list_route_tables).post(create_route_table),
        )
        .route(
            "/v1/route-tables/{route_table_id}",
            get(get_route_table).delete(delete_route_table),
        )
        .route(
            "/v1/route-tables/{route_table_id}/routes",
            post(create_route).put(replace_route).delete(delete_route),
        )
        .route(
            "/v1/route-tables/{route_table_id}/associations",
            post(associate_route_table),
        )
        .route(
            "/v1/route-table-associations/{association_id}",
            put(replace_association).delete(disassociate_route_table),
        )
        .with_state(network)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RouteTablePage {
    pub route_tables: Vec<RouteTable>,
    pub next_token: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRouteTable {
    pub vpc_id: String,
    #[serde(default)]
    pub tags: Tags,
}

/// A route: its destination and one target.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    pub destination_cidr_block: String,
    /// An internet gateway attached to the table's VPC.
    pub gateway_id: Option<String>,
    pub network_interface_id: Option<String>,
}

impl RouteSpec {
    fn target(&self) -> Result<RouteTarget> {
        match (&self.gateway_id, &self.network_interface_id) {
            (Some(g), None) if g == "local" => Ok(RouteTarget::Local),
            (Some(g), None) => Ok(RouteTarget::Gateway(g.clone())),
            (None, Some(n)) => Ok(RouteTarget::NetworkInterface(n.clone())),
            _ => Err(NetworkError::invalid(
                "give exactly one of gateway_id and network_interface_id",
            )),
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RouteDestination {
    /// The destination of the route to delete.
    pub destination_cidr_block: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Association {
    pub subnet_id: String,
}

/// The table an association's subnet (or, for the main association, the VPC) uses instead.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceAssociation {
    pub route_table_id: String,
}

#[utoipa::path(get, path = "/v1/route-tables", tag = "network", params(ListQuery),
    responses((status = 200, body = RouteTablePage), (status = 400, body = ApiErrorBody)))]
async fn list_route_tables(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<ListQuery>,
) -> Result<Json<RouteTablePage>> {
    let page = native_page(query.max_results, query.next_token.as_deref())?;
    vpcs::ensure_default(&network, &caller.account_id).await?;
    let mut found = route_tables::list(&network.pool, &caller, &[]).await?;
    found.retain(|t| query.wants(&t.vpc_id));
    let (route_tables, next_token) = page_of(page, found)?;
    Ok(Json(RouteTablePage {
        route_tables,
        next_token,
    }))
}

#[utoipa::path(post, path = "/v1/route-tables", tag = "network", request_body = CreateRouteTable,
    responses((status = 201, body = RouteTable), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn create_route_table(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateRouteTable>,
) -> Result<(StatusCode, Json<RouteTable>)> {
    let table = route_tables::create(&network, &caller, &input.vpc_id, &input.tags).await?;
    Ok((StatusCode::CREATED, Json(table)))
}

#[utoipa::path(get, path = "/v1/route-tables/{route_table_id}", tag = "network",
    params(("route_table_id" = String, Path)),
    responses((status = 200, body = RouteTable), (status = 404, body = ApiErrorBody)))]
async fn get_route_table(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<RouteTable>> {
    Ok(Json(route_tables::get(&network.pool, &caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/route-tables/{route_table_id}", tag = "network",
    params(("route_table_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn delete_route_table(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    route_tables::delete(&network, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/route-tables/{route_table_id}/routes", tag = "network",
    params(("route_table_id" = String, Path)), request_body = RouteSpec,
    responses((status = 201, body = RouteTable), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn create_route(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<RouteSpec>,
) -> Result<(StatusCode, Json<RouteTable>)> {
    let target = input.target()?;
    route_tables::create_route(
        &network,
        &caller,
        &id,
        &input.destination_cidr_block,
        &target,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(route_tables::get(&network.pool, &caller, &id).await?),
    ))
}

#[utoipa::path(put, path = "/v1/route-tables/{route_table_id}/routes", tag = "network",
    params(("route_table_id" = String, Path)), request_body = RouteSpec,
    responses((status = 200, body = RouteTable), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn replace_route(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<RouteSpec>,
) -> Result<Json<RouteTable>> {
    let target = input.target()?;
    route_tables::replace_route(
        &network,
        &caller,
        &id,
        &input.destination_cidr_block,
        &target,
    )
    .await?;
    Ok(Json(route_tables::get(&network.pool, &caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/route-tables/{route_table_id}/routes", tag = "network",
    params(("route_table_id" = String, Path), RouteDestination),
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn delete_route(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidQuery(query): ValidQuery<RouteDestination>,
) -> Result<StatusCode> {
    route_tables::delete_route(&network, &caller, &id, &query.destination_cidr_block).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/route-tables/{route_table_id}/associations", tag = "network",
    params(("route_table_id" = String, Path)), request_body = Association,
    responses((status = 201, body = RouteTableAssociation), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn associate_route_table(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<Association>,
) -> Result<(StatusCode, Json<RouteTableAssociation>)> {
    let association_id = route_tables::associate(&network, &caller, &id, &input.subnet_id).await?;
    Ok((
        StatusCode::CREATED,
        Json(RouteTableAssociation {
            association_id,
            route_table_id: id,
            subnet_id: Some(input.subnet_id),
            main: false,
        }),
    ))
}

#[utoipa::path(put, path = "/v1/route-table-associations/{association_id}", tag = "network",
    params(("association_id" = String, Path)), request_body = ReplaceAssociation,
    responses((status = 200, body = RouteTableAssociation), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn replace_association(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(association_id): ValidPath<String>,
    ValidJson(input): ValidJson<ReplaceAssociation>,
) -> Result<Json<RouteTableAssociation>> {
    let new_id = route_tables::replace_association(
        &network,
        &caller,
        &association_id,
        &input.route_table_id,
    )
    .await?;
    let table = route_tables::get(&network.pool, &caller, &input.route_table_id).await?;
    table
        .associations
        .into_iter()
        .find(|a| a.association_id == new_id)
        .map(Json)
        .ok_or_else(|| NetworkError::Internal("the new association vanished".into()))
}

#[utoipa::path(delete, path = "/v1/route-table-associations/{association_id}", tag = "network",
    params(("association_id" = String, Path)),
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn disassociate_route_table(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(association_id): ValidPath<String>,
) -> Result<StatusCode> {
    route_tables::disassociate(&network, &caller, &association_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The route table routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_route_tables,
        create_route_table,
        get_route_table,
        delete_route_table,
        create_route,
        replace_route,
        delete_route,
        associate_route_table,
        replace_association,
        disassociate_route_table
    ),
    components(schemas(
        RouteTable,
        RouteTablePage,
        Route,
        RouteTableAssociation,
        CreateRouteTable,
        RouteSpec,
        Association,
        ReplaceAssociation
    ))
)]
pub struct RouteTablesApi;
