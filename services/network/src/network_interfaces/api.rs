//! Network interfaces in the native JSON API under `/v1/network-interfaces`. Handlers are
//! thin: the domain functions of [`super`] do the work.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_auth::Caller;
use kumo_common::ids::{InstanceId, NetworkInterfaceAttachmentId, NetworkInterfaceId};
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use kumo_ec2_query::{Filter, Page};
use serde::{Deserialize, Serialize};

use super::{
    Attachment, CreateNetworkInterface, DescribeQuery, GroupIdentifier, InterfaceChange,
    InterfaceStatus, NetworkInterface, PrivateIpAddress,
};
use crate::error::Result;
use crate::Network;

pub fn router(network: Network) -> Router {
    Router::new()
        .route(
            "/v1/network-interfaces",
            get(list_interfaces).post(create_interface),
        )
        .route(
            "/v1/network-interfaces/{network_interface_id}",
            get(get_interface).delete(delete_interface),
        )
        .route(
            "/v1/network-interfaces/{network_interface_id}/modify",
            post(modify_interface),
        )
        .route(
            "/v1/network-interfaces/{network_interface_id}/attach",
            post(attach_interface),
        )
        .route(
            "/v1/network-interfaces/{network_interface_id}/private-ips/assign",
            post(assign_private_ips),
        )
        .route(
            "/v1/network-interfaces/{network_interface_id}/private-ips/unassign",
            post(unassign_private_ips),
        )
        .route(
            "/v1/network-interface-attachments/{attachment_id}/detach",
            post(detach_interface),
        )
        .with_state(network)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListInterfacesQuery {
    /// Only interfaces of this subnet.
    pub subnet_id: Option<String>,
    /// Only interfaces attached to this instance.
    pub instance_id: Option<String>,
    /// Page size (5–1000).
    pub max_results: Option<i64>,
    /// From the previous page's `next_token`.
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InterfacePage {
    pub network_interfaces: Vec<NetworkInterface>,
    pub next_token: Option<String>,
}

#[utoipa::path(get, path = "/v1/network-interfaces", tag = "network", params(ListInterfacesQuery),
    responses((status = 200, body = InterfacePage), (status = 400, body = ApiErrorBody)))]
async fn list_interfaces(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<ListInterfacesQuery>,
) -> Result<Json<InterfacePage>> {
    let filter = |name: &str, value: Option<String>| {
        value.map(|v| Filter {
            name: name.into(),
            values: vec![v],
        })
    };
    let describe = DescribeQuery {
        ids: Vec::new(),
        filters: [
            filter("subnet-id", query.subnet_id),
            filter("attachment.instance-id", query.instance_id),
        ]
        .into_iter()
        .flatten()
        .collect(),
        page: Some(Page::parse(
            query.max_results,
            query.next_token.as_deref(),
            (5, 1000),
        )?),
    };
    let (network_interfaces, next_token) = super::describe(&network, &caller, &describe).await?;
    Ok(Json(InterfacePage {
        network_interfaces,
        next_token,
    }))
}

#[utoipa::path(post, path = "/v1/network-interfaces", tag = "network", request_body = CreateNetworkInterface,
    responses((status = 201, body = NetworkInterface), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn create_interface(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateNetworkInterface>,
) -> Result<(StatusCode, Json<NetworkInterface>)> {
    Ok((
        StatusCode::CREATED,
        Json(super::create(&network, &caller, &input).await?),
    ))
}

#[utoipa::path(get, path = "/v1/network-interfaces/{network_interface_id}", tag = "network",
    params(("network_interface_id" = String, Path)),
    responses((status = 200, body = NetworkInterface), (status = 404, body = ApiErrorBody)))]
async fn get_interface(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<NetworkInterface>> {
    let id = NetworkInterfaceId::parse(&id)?;
    Ok(Json(super::get(&network, &caller, id.as_str()).await?))
}

#[utoipa::path(delete, path = "/v1/network-interfaces/{network_interface_id}", tag = "network",
    params(("network_interface_id" = String, Path)),
    responses((status = 204), (status = 404, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn delete_interface(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    super::delete(&network, &caller, &NetworkInterfaceId::parse(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/network-interfaces/{network_interface_id}/modify", tag = "network",
    params(("network_interface_id" = String, Path)), request_body = InterfaceChange,
    responses((status = 200, body = NetworkInterface), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn modify_interface(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(change): ValidJson<InterfaceChange>,
) -> Result<Json<NetworkInterface>> {
    let id = NetworkInterfaceId::parse(&id)?;
    super::modify(&network, &caller, &id, &change).await?;
    Ok(Json(super::get(&network, &caller, id.as_str()).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachInterface {
    #[schema(value_type = String)]
    pub instance_id: InstanceId,
    /// 1–31 (0 is the instance's primary interface).
    pub device_index: i64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentCreated {
    pub attachment_id: String,
}

#[utoipa::path(post, path = "/v1/network-interfaces/{network_interface_id}/attach", tag = "network",
    params(("network_interface_id" = String, Path)), request_body = AttachInterface,
    responses((status = 200, body = AttachmentCreated), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn attach_interface(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<AttachInterface>,
) -> Result<Json<AttachmentCreated>> {
    let id = NetworkInterfaceId::parse(&id)?;
    let attachment_id = super::attach(
        &network,
        &caller,
        &id,
        &input.instance_id,
        input.device_index,
    )
    .await?;
    Ok(Json(AttachmentCreated { attachment_id }))
}

#[utoipa::path(post, path = "/v1/network-interface-attachments/{attachment_id}/detach", tag = "network",
    params(("attachment_id" = String, Path)),
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn detach_interface(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    super::detach(
        &network,
        &caller,
        &NetworkInterfaceAttachmentId::parse(&id)?,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignPrivateIps {
    /// These addresses…
    #[serde(default)]
    pub private_ip_addresses: Vec<String>,
    /// …or this many of the subnet's lowest free ones.
    #[serde(default)]
    pub secondary_private_ip_address_count: Option<i64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AssignedPrivateIps {
    pub assigned_private_ip_addresses: Vec<String>,
}

#[utoipa::path(post, path = "/v1/network-interfaces/{network_interface_id}/private-ips/assign", tag = "network",
    params(("network_interface_id" = String, Path)), request_body = AssignPrivateIps,
    responses((status = 200, body = AssignedPrivateIps), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn assign_private_ips(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<AssignPrivateIps>,
) -> Result<Json<AssignedPrivateIps>> {
    let id = NetworkInterfaceId::parse(&id)?;
    let assigned = super::assign_private_ips(
        &network,
        &caller,
        &id,
        &input.private_ip_addresses,
        input.secondary_private_ip_address_count,
    )
    .await?;
    Ok(Json(AssignedPrivateIps {
        assigned_private_ip_addresses: assigned.iter().map(|ip| ip.to_string()).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnassignPrivateIps {
    pub private_ip_addresses: Vec<String>,
}

#[utoipa::path(post, path = "/v1/network-interfaces/{network_interface_id}/private-ips/unassign", tag = "network",
    params(("network_interface_id" = String, Path)), request_body = UnassignPrivateIps,
    responses((status = 204), (status = 400, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn unassign_private_ips(
    State(network): State<Network>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<UnassignPrivateIps>,
) -> Result<StatusCode> {
    let id = NetworkInterfaceId::parse(&id)?;
    super::unassign_private_ips(&network, &caller, &id, &input.private_ip_addresses).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_interfaces, create_interface, get_interface, delete_interface, modify_interface,
        attach_interface, detach_interface, assign_private_ips, unassign_private_ips),
    components(schemas(NetworkInterface, InterfacePage, CreateNetworkInterface, InterfaceChange,
        InterfaceStatus, PrivateIpAddress, GroupIdentifier, Attachment, AttachInterface,
        AttachmentCreated, AssignPrivateIps, AssignedPrivateIps, UnassignPrivateIps)),
    tags((name = "network", description = "VPCs, subnets, gateways, route tables, security groups, network interfaces and elastic IPs"))
)]
pub struct NetworkInterfacesApi;
