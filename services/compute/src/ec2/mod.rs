//! The EC2 facade: EC2 Query actions (`Action=RunInstances&…`) answered in EC2's XML. The
//! same domain functions as the native API do the work. This module is the dispatcher
//! (the action table, DryRun, the response envelope) and what every describe shares; one
//! file per resource family answers its actions, reading their parameters ([`params`]),
//! calling the domain and writing the XML, top to bottom: [`instances`],
//! [`instance_attributes`], [`instance_types`], [`images`], [`key_pairs`], [`tags`],
//! [`regions`]. Networking (`vpcs.rs`, …) and block storage (`volumes.rs`, …) join them
//! as files of their own. Filters and pages come from the shared describe toolkit
//! (`kumo-ec2-query`).

mod images;
mod instance_attributes;
mod instance_types;
mod instances;
mod key_pairs;
pub mod params;
mod regions;
mod tags;
pub mod xml;

pub use instance_attributes::modified_attribute;

use axum::response::Response;
use kumo_auth::Principal;
use kumo_common::{AwsError, AwsErrorFormat, QueryRequest};
use kumo_ec2_query::{response, Page};

use crate::error::{ComputeError, Result};
use crate::{require_write, Compute};
use params::Params;

/// Every action this facade answers, and whether it writes.
pub const ACTIONS: [(&str, bool); 25] = [
    ("RunInstances", true),
    ("DescribeInstances", false),
    ("StartInstances", true),
    ("StopInstances", true),
    ("RebootInstances", true),
    ("TerminateInstances", true),
    ("DescribeInstanceStatus", false),
    ("GetConsoleOutput", false),
    ("DescribeInstanceTypes", false),
    ("DescribeImages", false),
    ("RegisterImage", true),
    ("DeregisterImage", true),
    ("CreateImage", true),
    ("ImportKeyPair", true),
    ("CreateKeyPair", true),
    ("DescribeKeyPairs", false),
    ("DeleteKeyPair", true),
    ("CreateTags", true),
    ("DeleteTags", true),
    ("DescribeTags", false),
    ("DescribeInstanceAttribute", false),
    ("ModifyInstanceAttribute", true),
    ("DescribeInstanceCreditSpecifications", false),
    ("DescribeAvailabilityZones", false),
    ("DescribeRegions", false),
];

/// Answer one EC2 Query request.
pub async fn dispatch(
    compute: &Compute,
    principal: Option<&Principal>,
    request: &QueryRequest,
) -> Response {
    let Some(caller) = principal else {
        return ComputeError::Unauthenticated
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
    let result = match action {
        "RunInstances" => instances::run_instances(compute, caller, p).await,
        "DescribeInstances" => instances::describe_instances(compute, caller, p).await,
        "StartInstances" => instances::start_instances(compute, caller, p).await,
        "StopInstances" => instances::stop_instances(compute, caller, p).await,
        "RebootInstances" => instances::reboot_instances(compute, caller, p).await,
        "TerminateInstances" => instances::terminate_instances(compute, caller, p).await,
        "DescribeInstanceStatus" => instances::describe_instance_status(compute, caller, p).await,
        "GetConsoleOutput" => instances::get_console_output(compute, caller, p).await,
        "DescribeInstanceTypes" => {
            instance_types::describe_instance_types(compute, caller, p).await
        }
        "DescribeImages" => images::describe_images(compute, caller, p).await,
        "RegisterImage" => images::register_image(compute, caller, p).await,
        "DeregisterImage" => images::deregister_image(compute, caller, p).await,
        "CreateImage" => images::create_image(compute, caller, p).await,
        "ImportKeyPair" => key_pairs::import_key_pair(compute, caller, p).await,
        "CreateKeyPair" => key_pairs::create_key_pair(compute, caller, p).await,
        "DescribeKeyPairs" => key_pairs::describe_key_pairs(compute, caller, p).await,
        "DeleteKeyPair" => key_pairs::delete_key_pair(compute, caller, p).await,
        "CreateTags" => tags::create_tags(compute, caller, p).await,
        "DeleteTags" => tags::delete_tags(compute, caller, p).await,
        "DescribeTags" => tags::describe_tags(compute, caller, p).await,
        "DescribeInstanceAttribute" => {
            instance_attributes::describe_instance_attribute(compute, caller, p).await
        }
        "ModifyInstanceAttribute" => {
            instance_attributes::modify_instance_attribute(compute, caller, p).await
        }
        "DescribeInstanceCreditSpecifications" => {
            instance_attributes::describe_instance_credit_specifications(compute, caller, p).await
        }
        "DescribeAvailabilityZones" => {
            regions::describe_availability_zones(compute, caller, p).await
        }
        "DescribeRegions" => regions::describe_regions(compute, caller, p).await,
        other => return AwsError::invalid_action(other).into_response_as(AwsErrorFormat::Ec2),
    };
    match result {
        Ok(inner) => response::xml_response(action, inner),
        Err(error) => error.to_aws().into_response_as(AwsErrorFormat::Ec2),
    }
}

/// `MaxResults` (within `bounds`) and `NextToken`, parsed before any work is done.
fn page(p: Params<'_>, bounds: (i64, i64)) -> Result<Page> {
    Ok(kumo_ec2_query::response::page(p, bounds)?)
}

#[cfg(test)]
mod tests;
