//! The EC2 networking actions (`Action=CreateVpc&…`), answered in EC2's XML with the
//! shared EC2 Query toolkit (`kumo-ec2-query`). This module is the dispatcher (the action
//! table, DryRun, the response); one file per resource family answers its actions,
//! reading their parameters, calling the domain and writing the XML, top to bottom.
//!
//! The gateway sends an EC2 request here when [`serves`] names its action, and to the
//! compute service otherwise.

mod addresses;
mod describe;
mod internet_gateways;
mod network_acls;
mod network_interfaces;
mod route_tables;
mod security_group_rules;
mod security_groups;
mod subnets;
mod vpcs;

use axum::response::Response;
use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_common::{AwsError, AwsErrorFormat, QueryRequest};
use kumo_ec2_query::{response, Params};

use crate::error::{NetworkError, Result};
use crate::{require_write, Network};

/// Every action this facade answers, and whether it writes.
pub const ACTIONS: &[(&str, bool)] = &[
    ("CreateVpc", true),
    ("DeleteVpc", true),
    ("DescribeVpcs", false),
    ("DescribeVpcAttribute", false),
    ("ModifyVpcAttribute", true),
    ("CreateDefaultVpc", true),
    ("CreateSubnet", true),
    ("DeleteSubnet", true),
    ("DescribeSubnets", false),
    ("ModifySubnetAttribute", true),
    ("CreateInternetGateway", true),
    ("DeleteInternetGateway", true),
    ("DescribeInternetGateways", false),
    ("AttachInternetGateway", true),
    ("DetachInternetGateway", true),
    ("CreateRouteTable", true),
    ("DeleteRouteTable", true),
    ("DescribeRouteTables", false),
    ("CreateRoute", true),
    ("ReplaceRoute", true),
    ("DeleteRoute", true),
    ("AssociateRouteTable", true),
    ("DisassociateRouteTable", true),
    ("ReplaceRouteTableAssociation", true),
    ("DescribeNetworkAcls", false),
    ("CreateSecurityGroup", true),
    ("DeleteSecurityGroup", true),
    ("DescribeSecurityGroups", false),
    ("AuthorizeSecurityGroupIngress", true),
    ("AuthorizeSecurityGroupEgress", true),
    ("RevokeSecurityGroupIngress", true),
    ("RevokeSecurityGroupEgress", true),
    ("DescribeSecurityGroupRules", false),
    ("ModifySecurityGroupRules", true),
    ("UpdateSecurityGroupRuleDescriptionsIngress", true),
    ("UpdateSecurityGroupRuleDescriptionsEgress", true),
    ("CreateNetworkInterface", true),
    ("DeleteNetworkInterface", true),
    ("DescribeNetworkInterfaces", false),
    ("AttachNetworkInterface", true),
    ("DetachNetworkInterface", true),
    ("ModifyNetworkInterfaceAttribute", true),
    ("DescribeNetworkInterfaceAttribute", false),
    ("AssignPrivateIpAddresses", true),
    ("UnassignPrivateIpAddresses", true),
    ("AllocateAddress", true),
    ("AssociateAddress", true),
    ("DisassociateAddress", true),
    ("ReleaseAddress", true),
    ("DescribeAddresses", false),
    ("DescribeAddressesAttribute", false),
];

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
    match action {
        "CreateVpc" => vpcs::create_vpc(network, caller, p).await,
        "DeleteVpc" => vpcs::delete_vpc(network, caller, p).await,
        "DescribeVpcs" => vpcs::describe_vpcs(network, caller, p).await,
        "DescribeVpcAttribute" => vpcs::describe_vpc_attribute(network, caller, p).await,
        "ModifyVpcAttribute" => vpcs::modify_vpc_attribute(network, caller, p).await,
        "CreateDefaultVpc" => vpcs::create_default_vpc(network, caller, p).await,
        "CreateSubnet" => subnets::create_subnet(network, caller, p).await,
        "DeleteSubnet" => subnets::delete_subnet(network, caller, p).await,
        "DescribeSubnets" => subnets::describe_subnets(network, caller, p).await,
        "ModifySubnetAttribute" => subnets::modify_subnet_attribute(network, caller, p).await,
        "CreateInternetGateway" => {
            internet_gateways::create_internet_gateway(network, caller, p).await
        }
        "DeleteInternetGateway" => {
            internet_gateways::delete_internet_gateway(network, caller, p).await
        }
        "DescribeInternetGateways" => {
            internet_gateways::describe_internet_gateways(network, caller, p).await
        }
        "AttachInternetGateway" => {
            internet_gateways::attach_internet_gateway(network, caller, p).await
        }
        "DetachInternetGateway" => {
            internet_gateways::detach_internet_gateway(network, caller, p).await
        }
        "CreateRouteTable" => route_tables::create_route_table(network, caller, p).await,
        "DeleteRouteTable" => route_tables::delete_route_table(network, caller, p).await,
        "DescribeRouteTables" => route_tables::describe_route_tables(network, caller, p).await,
        "CreateRoute" => route_tables::create_route(network, caller, p).await,
        "ReplaceRoute" => route_tables::replace_route(network, caller, p).await,
        "DeleteRoute" => route_tables::delete_route(network, caller, p).await,
        "AssociateRouteTable" => route_tables::associate_route_table(network, caller, p).await,
        "DisassociateRouteTable" => {
            route_tables::disassociate_route_table(network, caller, p).await
        }
        "ReplaceRouteTableAssociation" => {
            route_tables::replace_route_table_association(network, caller, p).await
        }
        "DescribeNetworkAcls" => network_acls::describe_network_acls(network, caller, p).await,
        "CreateSecurityGroup" => security_groups::create_security_group(network, caller, p).await,
        "DeleteSecurityGroup" => security_groups::delete_security_group(network, caller, p).await,
        "DescribeSecurityGroups" => {
            security_groups::describe_security_groups(network, caller, p).await
        }
        "AuthorizeSecurityGroupIngress" => {
            security_group_rules::authorize(network, caller, p, false).await
        }
        "AuthorizeSecurityGroupEgress" => {
            security_group_rules::authorize(network, caller, p, true).await
        }
        "RevokeSecurityGroupIngress" => {
            security_group_rules::revoke(network, caller, p, false).await
        }
        "RevokeSecurityGroupEgress" => security_group_rules::revoke(network, caller, p, true).await,
        "DescribeSecurityGroupRules" => {
            security_group_rules::describe_security_group_rules(network, caller, p).await
        }
        "ModifySecurityGroupRules" => {
            security_group_rules::modify_security_group_rules(network, caller, p).await
        }
        "UpdateSecurityGroupRuleDescriptionsIngress" => {
            security_group_rules::update_descriptions(network, caller, p, false).await
        }
        "UpdateSecurityGroupRuleDescriptionsEgress" => {
            security_group_rules::update_descriptions(network, caller, p, true).await
        }
        "CreateNetworkInterface" => {
            network_interfaces::create_network_interface(network, caller, p).await
        }
        "DeleteNetworkInterface" => {
            network_interfaces::delete_network_interface(network, caller, p).await
        }
        "DescribeNetworkInterfaces" => {
            network_interfaces::describe_network_interfaces(network, caller, p).await
        }
        "AttachNetworkInterface" => {
            network_interfaces::attach_network_interface(network, caller, p).await
        }
        "DetachNetworkInterface" => {
            network_interfaces::detach_network_interface(network, caller, p).await
        }
        "ModifyNetworkInterfaceAttribute" => {
            network_interfaces::modify_network_interface_attribute(network, caller, p).await
        }
        "DescribeNetworkInterfaceAttribute" => {
            network_interfaces::describe_network_interface_attribute(network, caller, p).await
        }
        "AssignPrivateIpAddresses" => {
            network_interfaces::assign_private_ip_addresses(network, caller, p).await
        }
        "UnassignPrivateIpAddresses" => {
            network_interfaces::unassign_private_ip_addresses(network, caller, p).await
        }
        "AllocateAddress" => addresses::allocate_address(network, caller, p).await,
        "AssociateAddress" => addresses::associate_address(network, caller, p).await,
        "DisassociateAddress" => addresses::disassociate_address(network, caller, p).await,
        "ReleaseAddress" => addresses::release_address(network, caller, p).await,
        "DescribeAddresses" => addresses::describe_addresses(network, caller, p).await,
        "DescribeAddressesAttribute" => {
            addresses::describe_addresses_attribute(network, caller, p).await
        }
        _ => Err(NetworkError::Invalid(
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )),
    }
}
