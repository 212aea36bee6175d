//! Native routes: `/v1/addresses` (tenants' elastic IPs) and `/v1/address-pools` (the
//! operator's public pools). Handlers are thin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::ids::AllocationId;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath};
use serde::{Deserialize, Serialize};

use super::pools::{self, AddressPool, CreateAddressPool};
use super::{Address, AddressRef, AssociateAddress, AssociationRef};
use crate::addresses;
use crate::error::{NetworkError, Result};
use crate::tags::Tags;
use crate::Network;

pub fn router(network: Network) -> Router {
    Router::new()
        .route("/v1/addresses", get(list_addresses).post(allocate_address))
        .route(
            "/v1/addresses/{allocation_id}",
            get(get_address).delete(release_address),
        )
        .route(
            "/v1/addresses/{allocation_id}/associate",
            post(associate_address),
        )
        .route(
            "/v1/addresses/{allocation_id}/disassociate",
            post(disassociate_address),
        )
        .route(
            "/v1/address-pools",
            get(list_address_pools).post(create_address_pool),
        )
        .route(
            "/v1/address-pools/{name}",
            get(get_address_pool).delete(delete_address_pool),
        )
        .with_state(network)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddressList {
    pub addresses: Vec<Address>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddressPoolList {
    pub address_pools: Vec<AddressPool>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocateAddress {
    #[serde(default)]
    pub tags: Tags,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AddressAssociated {
    pub association_id: String,
    pub address: Address,
}

fn allocation(id: &str) -> Result<AddressRef> {
    Ok(AddressRef::Allocation(AllocationId::parse(id)?))
}

#[utoipa::path(get, path = "/v1/addresses", tag = "network",
    responses((status = 200, body = AddressList)))]
async fn list_addresses(
    State(network): State<Network>,
    Caller(caller): Caller,
) -> Result<Json<AddressList>> {
    let addresses = addresses::list(&network, &caller, &[], &[]).await?;
    Ok(Json(AddressList { addresses }))
}

#[utoipa::path(post, path = "/v1/addresses", tag = "network", request_body = AllocateAddress,
    responses((status = 201, body = Address), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn allocate_address(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<AllocateAddress>,
) -> Result<(StatusCode, Json<Address>)> {
    let address = addresses::allocate(&network, &caller, &input.tags).await?;
    Ok((StatusCode::CREATED, Json(address)))
}

#[utoipa::path(get, path = "/v1/addresses/{allocation_id}", tag = "network",
    params(("allocation_id" = String, Path)),
    responses((status = 200, body = Address), (status = 404, body = ApiErrorBody)))]
async fn get_address(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Address>> {
    AllocationId::parse(&id)?;
    Ok(Json(addresses::get(&network, &caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/addresses/{allocation_id}", tag = "network",
    params(("allocation_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn release_address(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    addresses::release(&network, &caller, &allocation(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/addresses/{allocation_id}/associate", tag = "network",
    params(("allocation_id" = String, Path)), request_body = AssociateAddress,
    responses((status = 200, body = AddressAssociated), (status = 400, body = ApiErrorBody),
        (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn associate_address(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<AssociateAddress>,
) -> Result<Json<AddressAssociated>> {
    let association_id = addresses::associate(&network, &caller, &allocation(&id)?, &input).await?;
    let address = addresses::get(&network, &caller, &id).await?;
    Ok(Json(AddressAssociated {
        association_id,
        address,
    }))
}

#[utoipa::path(post, path = "/v1/addresses/{allocation_id}/disassociate", tag = "network",
    params(("allocation_id" = String, Path)),
    responses((status = 200, body = Address), (status = 404, body = ApiErrorBody)))]
async fn disassociate_address(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Address>> {
    AllocationId::parse(&id)?;
    let address = addresses::get(&network, &caller, &id).await?;
    let association = address.association_id.as_deref().ok_or_else(|| {
        NetworkError::NotFound(
            "InvalidAssociationID.NotFound",
            format!("The address {id} is not associated"),
        )
    })?;
    addresses::disassociate(
        &network,
        &caller,
        &AssociationRef::parse(Some(association), None)?,
    )
    .await?;
    Ok(Json(addresses::get(&network, &caller, &id).await?))
}

#[utoipa::path(get, path = "/v1/address-pools", tag = "network",
    responses((status = 200, body = AddressPoolList), (status = 403, body = ApiErrorBody)))]
async fn list_address_pools(
    State(network): State<Network>,
    Caller(caller): Caller,
) -> Result<Json<AddressPoolList>> {
    let address_pools = pools::list(&network, &caller).await?;
    Ok(Json(AddressPoolList { address_pools }))
}

#[utoipa::path(post, path = "/v1/address-pools", tag = "network", request_body = CreateAddressPool,
    responses((status = 201, body = AddressPool), (status = 400, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn create_address_pool(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateAddressPool>,
) -> Result<(StatusCode, Json<AddressPool>)> {
    let pool = pools::create(&network, &caller, &input).await?;
    Ok((StatusCode::CREATED, Json(pool)))
}

#[utoipa::path(get, path = "/v1/address-pools/{name}", tag = "network",
    params(("name" = String, Path)),
    responses((status = 200, body = AddressPool), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn get_address_pool(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(name): ValidPath<String>,
) -> Result<Json<AddressPool>> {
    Ok(Json(pools::get(&network, &caller, &name).await?))
}

#[utoipa::path(delete, path = "/v1/address-pools/{name}", tag = "network",
    params(("name" = String, Path)),
    responses((status = 204), (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody),
        (status = 409, body = ApiErrorBody)))]
async fn delete_address_pool(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(name): ValidPath<String>,
) -> Result<StatusCode> {
    pools::delete(&network, &caller, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The elastic IP and address pool routes' part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(
        list_addresses,
        allocate_address,
        get_address,
        release_address,
        associate_address,
        disassociate_address,
        list_address_pools,
        create_address_pool,
        get_address_pool,
        delete_address_pool
    ),
    components(schemas(
        Address,
        AddressList,
        AllocateAddress,
        AssociateAddress,
        AddressAssociated,
        AddressPool,
        AddressPoolList,
        CreateAddressPool
    ))
)]
pub struct AddressesApi;
