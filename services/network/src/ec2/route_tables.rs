//! EC2 CreateRouteTable, DeleteRouteTable, DescribeRouteTables, CreateRoute, ReplaceRoute,
//! DeleteRoute, AssociateRouteTable, DisassociateRouteTable and
//! ReplaceRouteTableAssociation: their parameters, filters and XML.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::response::{returned_true, tag_set};
use kumo_ec2_query::Params;

use super::describe::{one, Describe};
use crate::error::{NetworkError, Result};
use crate::route_tables::{self, RouteTable, RouteTarget};
use crate::tags;
use crate::{vpcs, Network};

const TABLE_FILTERS: [&str; 13] = [
    "route-table-id",
    "vpc-id",
    "owner-id",
    "association.main",
    "association.route-table-association-id",
    "association.route-table-id",
    "association.subnet-id",
    "association.association-state",
    "route.destination-cidr-block",
    "route.gateway-id",
    "route.network-interface-id",
    "route.origin",
    "route.state",
];

/// Targets EC2 knows that Kumo has no resources for.
const UNSUPPORTED_TARGETS: [&str; 10] = [
    "NatGatewayId",
    "InstanceId",
    "VpcPeeringConnectionId",
    "TransitGatewayId",
    "EgressOnlyInternetGatewayId",
    "LocalGatewayId",
    "CarrierGatewayId",
    "VpcEndpointId",
    "CoreNetworkArn",
    "OdbNetworkArn",
];

fn table_field(table: &RouteTable, name: &str) -> Vec<String> {
    let associations = table.associations.iter();
    let routes = table.routes.iter();
    match name {
        "route-table-id" => one(&table.route_table_id),
        "vpc-id" => one(&table.vpc_id),
        "owner-id" => one(&table.account_id),
        "association.main" => associations.map(|a| a.main.to_string()).collect(),
        "association.route-table-association-id" => {
            associations.map(|a| a.association_id.clone()).collect()
        }
        "association.route-table-id" => associations.map(|a| a.route_table_id.clone()).collect(),
        "association.subnet-id" => associations.filter_map(|a| a.subnet_id.clone()).collect(),
        "association.association-state" => associations.map(|_| "associated".into()).collect(),
        "route.destination-cidr-block" => {
            routes.map(|r| r.destination_cidr_block.clone()).collect()
        }
        "route.gateway-id" => routes.filter_map(|r| r.gateway_id.clone()).collect(),
        "route.network-interface-id" => routes
            .filter_map(|r| r.network_interface_id.clone())
            .collect(),
        "route.origin" => routes.map(|r| r.origin.clone()).collect(),
        "route.state" => routes.map(|r| r.state.clone()).collect(),
        _ => Vec::new(),
    }
}

pub(super) async fn create_route_table(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let vpc_id = p.required("VpcId")?;
    let tags = tags::from_pairs(p.tags_for("route-table", &[])?);
    let token = p.string("ClientToken");
    let table = route_tables::create_idempotent(network, caller, vpc_id, &tags, token).await?;
    let mut xml = XmlWriter::fragment();
    xml.element("routeTable", |xml| write_table(xml, &table))
        .opt("clientToken", token);
    Ok(xml)
}

pub(super) async fn delete_route_table(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    route_tables::delete(network, caller, p.required("RouteTableId")?).await?;
    Ok(returned_true())
}

pub(super) async fn describe_route_tables(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let describe = Describe::parse(p, &TABLE_FILTERS, Some((5, 100)))?;
    let ids = p.list("RouteTableId")?;
    vpcs::ensure_default(network, &caller.account_id).await?;
    let found = route_tables::list(&network.pool, caller, &ids).await?;
    let (page, next_token) = describe
        .select(&caller.account_id, found, table_field)
        .await?;
    let mut xml = XmlWriter::fragment();
    xml.list("routeTableSet", "item", &page, write_table)
        .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

/// The route's destination and target of CreateRoute/ReplaceRoute.
fn route_target(p: Params<'_>) -> Result<(&str, RouteTarget)> {
    if p.string("DestinationIpv6CidrBlock").is_some()
        || p.string("DestinationPrefixListId").is_some()
    {
        return Err(NetworkError::invalid(
            "Only IPv4 destinations (DestinationCidrBlock) are supported",
        ));
    }
    let destination = p.required("DestinationCidrBlock")?;
    if let Some(name) = UNSUPPORTED_TARGETS.iter().find(|n| p.string(n).is_some()) {
        return Err(NetworkError::invalid(format!(
            "{name} targets are not supported: routes target an internet gateway or a network interface"
        )));
    }
    let target = match (p.string("GatewayId"), p.string("NetworkInterfaceId")) {
        (Some("local"), None) => RouteTarget::Local,
        (Some(gateway), None) => RouteTarget::Gateway(gateway.to_string()),
        (None, Some(interface)) => RouteTarget::NetworkInterface(interface.to_string()),
        (Some(_), Some(_)) => {
            return Err(NetworkError::Invalid(
                "InvalidParameterCombination",
                "The parameter GatewayId cannot be used with the parameter NetworkInterfaceId"
                    .into(),
            ))
        }
        (None, None) => return Err(NetworkError::Missing("GatewayId".into())),
    };
    Ok((destination, target))
}

pub(super) async fn create_route(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let table_id = p.required("RouteTableId")?;
    let (destination, target) = route_target(p)?;
    route_tables::create_route(network, caller, table_id, destination, &target).await?;
    Ok(returned_true())
}

pub(super) async fn replace_route(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let table_id = p.required("RouteTableId")?;
    let (destination, target) = route_target(p)?;
    route_tables::replace_route(network, caller, table_id, destination, &target).await?;
    Ok(returned_true())
}

pub(super) async fn delete_route(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let table_id = p.required("RouteTableId")?;
    let destination = p.required("DestinationCidrBlock")?;
    route_tables::delete_route(network, caller, table_id, destination).await?;
    Ok(returned_true())
}

fn associated(xml: &mut XmlWriter) {
    xml.element("associationState", |xml| {
        xml.text("state", "associated");
    });
}

pub(super) async fn associate_route_table(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let table_id = p.required("RouteTableId")?;
    if p.string("GatewayId").is_some() {
        return Err(NetworkError::invalid(
            "Gateway route table associations are not supported",
        ));
    }
    let subnet_id = p.required("SubnetId")?;
    let id = route_tables::associate(network, caller, table_id, subnet_id).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("associationId", &id);
    associated(&mut xml);
    Ok(xml)
}

pub(super) async fn disassociate_route_table(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    route_tables::disassociate(network, caller, p.required("AssociationId")?).await?;
    Ok(returned_true())
}

pub(super) async fn replace_route_table_association(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let association_id = p.required("AssociationId")?;
    let table_id = p.required("RouteTableId")?;
    let id = route_tables::replace_association(network, caller, association_id, table_id).await?;
    let mut xml = XmlWriter::fragment();
    xml.text("newAssociationId", &id);
    associated(&mut xml);
    Ok(xml)
}

/// One table's fields (a `routeTableSet` item, or CreateRouteTable's `routeTable`).
fn write_table(xml: &mut XmlWriter, table: &RouteTable) {
    xml.text("routeTableId", &table.route_table_id)
        .text("vpcId", &table.vpc_id)
        .text("ownerId", &table.account_id)
        .list("routeSet", "item", &table.routes, |xml, route| {
            xml.text("destinationCidrBlock", &route.destination_cidr_block)
                .opt("gatewayId", route.gateway_id.as_deref())
                .opt("networkInterfaceId", route.network_interface_id.as_deref())
                .text("state", &route.state)
                .text("origin", &route.origin);
        })
        .list("associationSet", "item", &table.associations, |xml, a| {
            xml.text("routeTableAssociationId", &a.association_id)
                .text("routeTableId", &a.route_table_id)
                .opt("subnetId", a.subnet_id.as_deref())
                .bool("main", a.main);
            associated(xml);
        })
        .empty("propagatingVgwSet");
    tag_set(xml, &table.tags);
}
