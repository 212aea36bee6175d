//! The EC2 networking actions (`Action=CreateVpc&…`), answered in EC2's XML with the
//! shared EC2 Query toolkit (`kumo-ec2-query`). This module is the dispatcher (the action
//! table, DryRun, the response); one file per resource family answers its actions,
//! reading their parameters, calling the domain and writing the XML, top to bottom.
//!
//! The gateway sends an EC2 request here when [`serves`] names its action, and to the
//! compute service otherwise.

use axum::response::Response;
use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_common::{AwsError, AwsErrorFormat, QueryRequest};
use kumo_ec2_query::{response, Params};

use crate::error::{NetworkError, Result};
use crate::{require_write, Network};

/// Every action this facade answers, and whether it writes.
pub const ACTIONS: [(&str, bool); 0] = [];

/// Does the network service answer this EC2 action?
pub fn serves(action: &str) -> bool {
    ACTIONS.iter().any(|(name, _)| *name == action)
}

/// Answer one EC2 Query request.
pub async fn dispatch(
    network: &Network,
    principal: Option<&Principal>,
    request: &QueryRequest,
) -> Response {
    let Some(caller) = principal else {
        return NetworkError::Unauthenticated
            .to_aws()
            .into_response_as(AwsErrorFormat::Ec2);
    };
    let action = request.action.as_str();
    let Some(&(_, writes)) = ACTIONS.iter().find(|(name, _)| *name == action) else {
        return AwsError::invalid_action(action).into_response_as(AwsErrorFormat::Ec2);
    };
    let p = Params::new(&request.params);
    if let Err(error) =
        response::dry_run(p, writes, || require_write(caller).map_err(|e| e.to_aws()))
    {
        return error.into_response_as(AwsErrorFormat::Ec2);
    }
    match answer(network, caller, action, p).await {
        Ok(inner) => response::xml_response(action, inner),
        Err(error) => error.to_aws().into_response_as(AwsErrorFormat::Ec2),
    }
}

/// The action's own work: one arm per action of [`ACTIONS`], each calling its resource's
/// file.
async fn answer(
    network: &Network,
    caller: &Principal,
    action: &str,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let _ = (network, caller, p);
    Err(NetworkError::Invalid(
        "InvalidAction",
        format!("The action {action} is not valid for this web service."),
    ))
}
