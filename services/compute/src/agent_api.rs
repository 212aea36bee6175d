//! The agent protocol under `/v1/agent/`: enrolment with a join token, then sync, console
//! uploads and the network long poll, authenticated by the node's own credential
//! (`x-kumo-node-token`).

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use kumo_common::{ValidJson, ValidQuery};
use kumo_compute_protocol::{
    ConsoleUpload, EnrolRequest, EnrolResponse, HostNetworkSpec, SyncRequest, SyncResponse,
    NODE_TOKEN_HEADER,
};
use serde::Deserialize;

use crate::error::{ComputeError, Result};
use crate::{host_network, hosts, Compute};

pub fn router(compute: Compute) -> Router {
    Router::new()
        .route("/v1/agent/enrol", post(enrol))
        .route("/v1/agent/sync", post(sync))
        .route("/v1/agent/console", put(console))
        .route("/v1/agent/network", get(network))
        .with_state(compute)
}

/// The enrolled host a request comes from.
pub struct Node(pub String);

impl FromRequestParts<Compute> for Node {
    type Rejection = ComputeError;

    async fn from_request_parts(parts: &mut Parts, compute: &Compute) -> Result<Self> {
        let token = parts
            .headers
            .get(NODE_TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(ComputeError::Unauthenticated)?;
        Ok(Node(hosts::authenticate_node(&compute.pool, token).await?))
    }
}

async fn enrol(
    State(compute): State<Compute>,
    ValidJson(request): ValidJson<EnrolRequest>,
) -> Result<Json<EnrolResponse>> {
    Ok(Json(hosts::enrol(&compute.pool, &request).await?))
}

async fn sync(
    State(compute): State<Compute>,
    Node(host_id): Node,
    ValidJson(request): ValidJson<SyncRequest>,
) -> Result<Json<SyncResponse>> {
    Ok(Json(hosts::sync(&compute, &host_id, &request).await?))
}

async fn console(
    State(compute): State<Compute>,
    Node(host_id): Node,
    ValidJson(upload): ValidJson<ConsoleUpload>,
) -> Result<axum::http::StatusCode> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&upload.output_base64)
        .map_err(|_| ComputeError::invalid("output_base64 is not base64"))?;
    hosts::upload_console(&compute.pool, &host_id, &upload.instance_id, &bytes).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworkPoll {
    /// The generation the agent has; absent: answer at once.
    after: Option<i64>,
}

/// The host's whole VPC data plane, at once or when it next changes (≤ 25 s).
async fn network(
    State(compute): State<Compute>,
    Node(host_id): Node,
    ValidQuery(poll): ValidQuery<NetworkPoll>,
) -> Result<Json<HostNetworkSpec>> {
    Ok(Json(
        host_network::spec(&compute, &host_id, poll.after).await?,
    ))
}
