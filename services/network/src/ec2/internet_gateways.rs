//! EC2 CreateInternetGateway, DeleteInternetGateway, DescribeInternetGateways,
//! AttachInternetGateway and DetachInternetGateway: their parameters, filters and XML.

use kumo_auth::Principal;
use kumo_common::xml::XmlWriter;
use kumo_ec2_query::response::{returned_true, tag_set};
use kumo_ec2_query::Params;

use super::describe::{one, Describe};
use crate::error::Result;
use crate::internet_gateways::{self, InternetGateway};
use crate::tags;
use crate::{vpcs, Network};

const GATEWAY_FILTERS: [&str; 4] = [
    "internet-gateway-id",
    "attachment.vpc-id",
    "attachment.state",
    "owner-id",
];

fn gateway_field(gateway: &InternetGateway, name: &str) -> Vec<String> {
    match name {
        "internet-gateway-id" => one(&gateway.internet_gateway_id),
        "attachment.vpc-id" => gateway.vpc_id.iter().cloned().collect(),
        "attachment.state" => gateway
            .vpc_id
            .iter()
            .map(|_| "available".to_string())
            .collect(),
        "owner-id" => one(&gateway.account_id),
        _ => Vec::new(),
    }
}

pub(super) async fn create_internet_gateway(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let tags = tags::from_pairs(p.tags_for("internet-gateway", &[])?);
    let gateway = internet_gateways::create(network, caller, &tags).await?;
    let mut xml = XmlWriter::fragment();
    xml.element("internetGateway", |xml| write_gateway(xml, &gateway));
    Ok(xml)
}

pub(super) async fn delete_internet_gateway(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    internet_gateways::delete(network, caller, p.required("InternetGatewayId")?).await?;
    Ok(returned_true())
}

pub(super) async fn attach_internet_gateway(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let id = p.required("InternetGatewayId")?;
    let vpc_id = p.required("VpcId")?;
    internet_gateways::attach(network, caller, id, vpc_id).await?;
    Ok(returned_true())
}

pub(super) async fn detach_internet_gateway(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let id = p.required("InternetGatewayId")?;
    let vpc_id = p.required("VpcId")?;
    internet_gateways::detach(network, caller, id, vpc_id).await?;
    Ok(returned_true())
}

pub(super) async fn describe_internet_gateways(
    network: &Network,
    caller: &Principal,
    p: Params<'_>,
) -> Result<XmlWriter> {
    let describe = Describe::parse(p, &GATEWAY_FILTERS, Some((5, 1000)))?;
    let ids = p.list("InternetGatewayId")?;
    vpcs::ensure_default(network, &caller.account_id).await?;
    let found = internet_gateways::list(&network.pool, caller, &ids).await?;
    let (page, next_token) = describe
        .select(&caller.account_id, found, gateway_field)
        .await?;
    let mut xml = XmlWriter::fragment();
    xml.list("internetGatewaySet", "item", &page, write_gateway)
        .opt("nextToken", next_token.as_deref());
    Ok(xml)
}

/// One gateway's fields (an `internetGatewaySet` item, or CreateInternetGateway's).
fn write_gateway(xml: &mut XmlWriter, gateway: &InternetGateway) {
    xml.text("internetGatewayId", &gateway.internet_gateway_id)
        .text("ownerId", &gateway.account_id)
        .list("attachmentSet", "item", &gateway.vpc_id, |xml, vpc_id| {
            xml.text("vpcId", vpc_id).text("state", "available");
        });
    tag_set(xml, &gateway.tags);
}
