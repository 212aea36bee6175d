//! The EC2 volume actions (`Action=CreateVolume&…`), answered in EC2's XML with the shared
//! EC2 Query toolkit (`kumo-ec2-query`). This module is the dispatcher (the action table,
//! DryRun, the response); [`volumes`] answers the actions.
//!
//! The gateway sends an EC2 request here when [`serves`] names its action.

mod attachments;
mod snapshots;
mod volumes;

use axum::response::Response;
use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_common::{AwsError, AwsErrorFormat, QueryRequest};
use kumo_ec2_query::{response, Params};

use crate::error::{BlockStorageError, Result};
use crate::{require_write, BlockStorage};

/// Every action this facade answers, and whether it writes.
pub const ACTIONS: &[(&str, bool)] = &[
    ("CreateVolume", true),
    ("DeleteVolume", true),
    ("DescribeVolumes", false),
    ("ModifyVolume", true),
    ("DescribeVolumesModifications", false),
    ("DescribeVolumeStatus", false),
    ("DescribeVolumeAttribute", false),
    ("AttachVolume", true),
    ("DetachVolume", true),
    ("CreateSnapshot", true),
    ("DeleteSnapshot", true),
    ("DescribeSnapshots", false),
    ("CopySnapshot", true),
    ("DescribeSnapshotAttribute", false),
];

/// Does the block-storage service answer this EC2 action?
pub fn serves(action: &str) -> bool {
    ACTIONS.iter().any(|(name, _)| *name == action)
}

/// Answer one EC2 Query request.
pub async fn dispatch(
    storage: &BlockStorage,
    principal: Option<&Principal>,
    request: &QueryRequest,
) -> Response {
    let Some(caller) = principal else {
        return BlockStorageError::Unauthenticated
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
    match answer(storage, caller, action, p).await {
        Ok(inner) => response::xml_response(action, inner),
        Err(error) => error.to_aws().into_response_as(AwsErrorFormat::Ec2),
    }
}

/// The action's own work: one arm per action of [`ACTIONS`].
async fn answer(
    storage: &BlockStorage,
    caller: &Principal,
    action: &str,
    p: Params<'_>,
) -> Result<XmlWriter> {
    match action {
        "CreateVolume" => volumes::create_volume(storage, caller, p).await,
        "DeleteVolume" => volumes::delete_volume(storage, caller, p).await,
        "DescribeVolumes" => volumes::describe_volumes(storage, caller, p).await,
        "ModifyVolume" => volumes::modify_volume(storage, caller, p).await,
        "DescribeVolumesModifications" => {
            volumes::describe_volumes_modifications(storage, caller, p).await
        }
        "DescribeVolumeStatus" => volumes::describe_volume_status(storage, caller, p).await,
        "DescribeVolumeAttribute" => volumes::describe_volume_attribute(storage, caller, p).await,
        "AttachVolume" => attachments::attach_volume(storage, caller, p).await,
        "DetachVolume" => attachments::detach_volume(storage, caller, p).await,
        "CreateSnapshot" => snapshots::create_snapshot(storage, caller, p).await,
        "DeleteSnapshot" => snapshots::delete_snapshot(storage, caller, p).await,
        "DescribeSnapshots" => snapshots::describe_snapshots(storage, caller, p).await,
        "CopySnapshot" => snapshots::copy_snapshot(storage, caller, p).await,
        "DescribeSnapshotAttribute" => {
            snapshots::describe_snapshot_attribute(storage, caller, p).await
        }
        _ => Err(BlockStorageError::Invalid(
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )),
    }
}
