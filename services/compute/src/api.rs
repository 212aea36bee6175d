//! The compute service's native JSON API under `/v1/`. Handlers are thin.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use kumo_auth::Caller;
use kumo_common::ids::InstanceId;
use kumo_common::{ApiErrorBody, ValidJson, ValidPath, ValidQuery};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::host_network::{self, SetHostNetwork};
use crate::hosts::{self, Host, JoinToken};
use crate::images::{self, Image, RegisterImage};
use crate::instance_types::{self, InstanceType};
use crate::instances::{
    self, DescribeQuery, Filter, Instance, Reservation, RunInstances, StateChange,
};
use crate::key_pairs::{self, CreateKeyPair, ImportKeyPair, KeyPair, NewKeyPair};
use crate::Compute;

pub fn router(compute: Compute) -> Router {
    Router::new()
        .route("/v1/instances", get(list_instances).post(run_instances))
        .route(
            "/v1/instances/{instance_id}",
            get(get_instance).delete(terminate_instance),
        )
        .route("/v1/instances/{instance_id}/start", post(start_instance))
        .route("/v1/instances/{instance_id}/stop", post(stop_instance))
        .route("/v1/instances/{instance_id}/reboot", post(reboot_instance))
        .route("/v1/instances/{instance_id}/console", get(console))
        .route("/v1/instance-types", get(list_instance_types))
        .route("/v1/images", get(list_images).post(register_image))
        .route(
            "/v1/images/{image_id}",
            get(get_image).delete(deregister_image),
        )
        .route("/v1/key-pairs", get(list_key_pairs).post(create_key_pair))
        .route("/v1/key-pairs/import", post(import_key_pair))
        .route(
            "/v1/key-pairs/{key_name}",
            axum::routing::delete(delete_key_pair),
        )
        .route("/v1/hosts", get(list_hosts))
        .route("/v1/hosts/{host_id}/enable", post(enable_host))
        .route("/v1/hosts/{host_id}/disable", post(disable_host))
        .route("/v1/hosts/{host_id}/drain", post(drain_host))
        .route(
            "/v1/hosts/{host_id}/network",
            axum::routing::put(set_host_network),
        )
        .route("/v1/join-tokens", post(join_token))
        .with_state(compute)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListInstancesQuery {
    /// Only instances in this state (`pending`, `running`, …).
    pub state: Option<String>,
    /// Page size (5–1000).
    pub max_results: Option<i64>,
    /// From the previous page's `next_token`.
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct InstancePage {
    pub instances: Vec<Instance>,
    pub next_token: Option<String>,
}

#[utoipa::path(get, path = "/v1/instances", tag = "compute", params(ListInstancesQuery),
    responses((status = 200, body = InstancePage), (status = 400, body = ApiErrorBody)))]
async fn list_instances(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidQuery(query): ValidQuery<ListInstancesQuery>,
) -> Result<Json<InstancePage>> {
    let describe = DescribeQuery {
        instance_ids: Vec::new(),
        filters: query
            .state
            .map(|s| {
                vec![Filter {
                    name: "instance-state-name".into(),
                    values: vec![s],
                }]
            })
            .unwrap_or_default(),
        max_results: query.max_results,
        next_token: query.next_token,
    };
    let (instances, next_token) = instances::describe(&compute, &caller, &describe).await?;
    Ok(Json(InstancePage {
        instances,
        next_token,
    }))
}

#[utoipa::path(post, path = "/v1/instances", tag = "compute", request_body = RunInstances,
    responses((status = 201, body = Reservation), (status = 400, body = ApiErrorBody), (status = 503, body = ApiErrorBody)))]
async fn run_instances(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<RunInstances>,
) -> Result<(StatusCode, Json<Reservation>)> {
    Ok((
        StatusCode::CREATED,
        Json(instances::run(&compute, &caller, &input).await?),
    ))
}

#[utoipa::path(get, path = "/v1/instances/{instance_id}", tag = "compute",
    params(("instance_id" = String, Path)), responses((status = 200, body = Instance), (status = 404, body = ApiErrorBody)))]
async fn get_instance(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Instance>> {
    Ok(Json(instances::get(&compute, &caller, &id).await?))
}

#[utoipa::path(delete, path = "/v1/instances/{instance_id}", tag = "compute",
    params(("instance_id" = String, Path)), responses((status = 200, body = StateChange), (status = 404, body = ApiErrorBody)))]
async fn terminate_instance(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<StateChange>> {
    single(instances::terminate(&compute, &caller, &[InstanceId::parse(&id)?]).await?)
}

#[utoipa::path(post, path = "/v1/instances/{instance_id}/start", tag = "compute",
    params(("instance_id" = String, Path)), responses((status = 200, body = StateChange), (status = 409, body = ApiErrorBody)))]
async fn start_instance(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<StateChange>> {
    single(instances::start(&compute, &caller, &[InstanceId::parse(&id)?]).await?)
}

#[utoipa::path(post, path = "/v1/instances/{instance_id}/stop", tag = "compute",
    params(("instance_id" = String, Path)), responses((status = 200, body = StateChange), (status = 409, body = ApiErrorBody)))]
async fn stop_instance(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<StateChange>> {
    single(instances::stop(&compute, &caller, &[InstanceId::parse(&id)?]).await?)
}

#[utoipa::path(post, path = "/v1/instances/{instance_id}/reboot", tag = "compute",
    params(("instance_id" = String, Path)), responses((status = 204), (status = 409, body = ApiErrorBody)))]
async fn reboot_instance(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    instances::reboot(&compute, &caller, &[InstanceId::parse(&id)?]).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn single(mut changes: Vec<StateChange>) -> Result<Json<StateChange>> {
    changes
        .pop()
        .map(Json)
        .ok_or_else(|| crate::ComputeError::Internal("no state change".into()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConsoleOutput {
    pub instance_id: String,
    /// The last 64 KiB of the serial console, as text (invalid UTF-8 replaced).
    pub output: String,
    pub timestamp: Option<chrono::DateTime<chrono::Utc>>,
}

#[utoipa::path(get, path = "/v1/instances/{instance_id}/console", tag = "compute",
    params(("instance_id" = String, Path)), responses((status = 200, body = ConsoleOutput), (status = 404, body = ApiErrorBody)))]
async fn console(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<ConsoleOutput>> {
    let id = InstanceId::parse(&id)?;
    let (bytes, timestamp) = instances::console_output(&compute, &caller, &id).await?;
    Ok(Json(ConsoleOutput {
        instance_id: id.into_string(),
        output: String::from_utf8_lossy(&bytes).into_owned(),
        timestamp,
    }))
}

#[utoipa::path(get, path = "/v1/instance-types", tag = "compute", responses((status = 200, body = Vec<InstanceType>)))]
async fn list_instance_types(
    State(compute): State<Compute>,
    Caller(_caller): Caller,
) -> Result<Json<Vec<InstanceType>>> {
    Ok(Json(instance_types::list(&compute.pool).await?))
}

#[utoipa::path(get, path = "/v1/images", tag = "compute", responses((status = 200, body = Vec<Image>)))]
async fn list_images(
    State(compute): State<Compute>,
    Caller(caller): Caller,
) -> Result<Json<Vec<Image>>> {
    crate::ebs_images::refresh(&compute, &caller.account_id).await?;
    Ok(Json(
        images::list(&compute.pool, &caller, &[], &[], &[]).await?,
    ))
}

#[utoipa::path(post, path = "/v1/images", tag = "compute", request_body = RegisterImage,
    responses((status = 201, body = Image), (status = 400, body = ApiErrorBody)))]
async fn register_image(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<RegisterImage>,
) -> Result<(StatusCode, Json<Image>)> {
    Ok((
        StatusCode::CREATED,
        Json(images::register(&compute, &caller, &input).await?),
    ))
}

#[utoipa::path(get, path = "/v1/images/{image_id}", tag = "compute",
    params(("image_id" = String, Path)), responses((status = 200, body = Image), (status = 404, body = ApiErrorBody)))]
async fn get_image(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Image>> {
    crate::ebs_images::refresh(&compute, &caller.account_id).await?;
    let mut found =
        images::list(&compute.pool, &caller, std::slice::from_ref(&id), &[], &[]).await?;
    found.pop().map(Json).ok_or_else(|| images::not_found(&id))
}

#[utoipa::path(delete, path = "/v1/images/{image_id}", tag = "compute",
    params(("image_id" = String, Path)), responses((status = 204), (status = 404, body = ApiErrorBody)))]
async fn deregister_image(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<StatusCode> {
    images::deregister(&compute.pool, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/key-pairs", tag = "compute", responses((status = 200, body = Vec<KeyPair>)))]
async fn list_key_pairs(
    State(compute): State<Compute>,
    Caller(caller): Caller,
) -> Result<Json<Vec<KeyPair>>> {
    Ok(Json(
        key_pairs::list(&compute.pool, &caller, &[], &[]).await?,
    ))
}

#[utoipa::path(post, path = "/v1/key-pairs", tag = "compute", request_body = CreateKeyPair,
    responses((status = 201, body = NewKeyPair), (status = 409, body = ApiErrorBody)))]
async fn create_key_pair(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<CreateKeyPair>,
) -> Result<(StatusCode, Json<NewKeyPair>)> {
    Ok((
        StatusCode::CREATED,
        Json(key_pairs::create(&compute.pool, &caller, &input).await?),
    ))
}

#[utoipa::path(post, path = "/v1/key-pairs/import", tag = "compute", request_body = ImportKeyPair,
    responses((status = 201, body = KeyPair), (status = 400, body = ApiErrorBody), (status = 409, body = ApiErrorBody)))]
async fn import_key_pair(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidJson(input): ValidJson<ImportKeyPair>,
) -> Result<(StatusCode, Json<KeyPair>)> {
    Ok((
        StatusCode::CREATED,
        Json(key_pairs::import(&compute.pool, &caller, &input).await?),
    ))
}

#[utoipa::path(delete, path = "/v1/key-pairs/{key_name}", tag = "compute",
    params(("key_name" = String, Path)), responses((status = 204)))]
async fn delete_key_pair(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(name): ValidPath<String>,
) -> Result<StatusCode> {
    key_pairs::delete(&compute.pool, &caller, Some(&name), None).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/hosts", tag = "compute", responses((status = 200, body = Vec<Host>), (status = 403, body = ApiErrorBody)))]
async fn list_hosts(
    State(compute): State<Compute>,
    Caller(caller): Caller,
) -> Result<Json<Vec<Host>>> {
    Ok(Json(hosts::list(&compute, &caller).await?))
}

#[utoipa::path(post, path = "/v1/hosts/{host_id}/enable", tag = "compute",
    params(("host_id" = String, Path)), responses((status = 200, body = Host), (status = 403, body = ApiErrorBody)))]
async fn enable_host(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Host>> {
    Ok(Json(
        hosts::set_state(&compute, &caller, &id, hosts::HostState::Enabled).await?,
    ))
}

#[utoipa::path(post, path = "/v1/hosts/{host_id}/disable", tag = "compute",
    params(("host_id" = String, Path)), responses((status = 200, body = Host), (status = 403, body = ApiErrorBody)))]
async fn disable_host(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Host>> {
    Ok(Json(
        hosts::set_state(&compute, &caller, &id, hosts::HostState::Disabled).await?,
    ))
}

#[utoipa::path(post, path = "/v1/hosts/{host_id}/drain", tag = "compute",
    params(("host_id" = String, Path)), responses((status = 200, body = Host), (status = 403, body = ApiErrorBody)))]
async fn drain_host(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
) -> Result<Json<Host>> {
    Ok(Json(
        hosts::set_state(&compute, &caller, &id, hosts::HostState::Draining).await?,
    ))
}

#[utoipa::path(put, path = "/v1/hosts/{host_id}/network", tag = "compute",
    params(("host_id" = String, Path)), request_body = SetHostNetwork,
    responses((status = 200, body = Host), (status = 400, body = ApiErrorBody),
        (status = 403, body = ApiErrorBody), (status = 404, body = ApiErrorBody)))]
async fn set_host_network(
    State(compute): State<Compute>,
    Caller(caller): Caller,
    ValidPath(id): ValidPath<String>,
    ValidJson(input): ValidJson<SetHostNetwork>,
) -> Result<Json<Host>> {
    Ok(Json(
        host_network::set(&compute, &caller, &id, &input).await?,
    ))
}

#[utoipa::path(post, path = "/v1/join-tokens", tag = "compute",
    responses((status = 201, body = JoinToken), (status = 403, body = ApiErrorBody)))]
async fn join_token(
    State(compute): State<Compute>,
    Caller(caller): Caller,
) -> Result<(StatusCode, Json<JoinToken>)> {
    Ok((
        StatusCode::CREATED,
        Json(hosts::issue_join_token(&compute.pool, &caller).await?),
    ))
}

/// Decode EC2-style base64 user data (used by the EC2 facade).
pub fn decode_user_data(text: &str) -> Result<Vec<u8>> {
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| {
            crate::ComputeError::Invalid(
                "InvalidUserData.Malformed",
                "Invalid BASE64 encoding of user data.".into(),
            )
        })
}

/// The compute service's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(list_instances, run_instances, get_instance, terminate_instance, start_instance, stop_instance,
        reboot_instance, console, list_instance_types, list_images, register_image, get_image,
        deregister_image, list_key_pairs, create_key_pair, import_key_pair, delete_key_pair, list_hosts,
        enable_host, disable_host, drain_host, set_host_network, join_token),
    components(schemas(Instance, InstancePage, Reservation, RunInstances, StateChange, ConsoleOutput,
        InstanceType, Image, RegisterImage, KeyPair, NewKeyPair, CreateKeyPair, ImportKeyPair, Host, JoinToken,
        SetHostNetwork,
        instances::InstanceState)),
    tags((name = "compute", description = "Instances, images, key pairs, instance types and hosts"))
)]
pub struct ComputeApi;
