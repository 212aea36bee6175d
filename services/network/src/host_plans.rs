//! What one host must build for the VPCs its instances are in ([`VpcSpec`]s, the body of
//! the agent's `GET /v1/agent/network`): every VPC with an attached interface of an active
//! instance on the host, its subnets and whether they reach an internet gateway, the
//! host's interfaces, the VPC's interfaces on other hosts (where to tunnel their frames)
//! and the security groups the local interfaces are in or their rules name.
//!
//! Where instances run is compute's, read through its contract view
//! `compute.instance_placement(instance_id, host_id, vtep_address, active)`. A handful of
//! set-based queries per host, whatever its number of interfaces.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use kumo_compute_protocol::network::{
    router_netns, InterfaceSpec, PublicMapping, RemoteInterface, RuleProtocol,
    RuleSpec as PlannedRule, SecurityGroupSpec, SubnetSpec, VpcLinkNames, VpcSpec,
};

use crate::cidr::Ipv4Block;
use crate::error::{NetworkError, Result};
use crate::vpcs::resolver;
use crate::Network;

/// One attached interface of an active instance on the host.
#[derive(sqlx::FromRow)]
struct LocalRow {
    network_interface_id: String,
    instance_id: String,
    device_index: i32,
    subnet_id: String,
    vpc_id: String,
    mac: String,
    source_dest_check: bool,
    /// The primary first.
    private_ips: Vec<String>,
    groups: Vec<String>,
    /// `"<private> <public>"` pairs: elastic IPs and launch-time public addresses.
    public_ips: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct VpcRow {
    vpc_id: String,
    cidr: String,
    vni: i32,
    enable_dns_support: bool,
}

#[derive(sqlx::FromRow)]
struct SubnetRow {
    subnet_id: String,
    vpc_id: String,
    cidr: String,
    internet_gateway: bool,
}

#[derive(sqlx::FromRow)]
struct RemoteRow {
    vpc_id: String,
    mac: String,
    vtep_address: String,
    private_ips: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct GroupRow {
    group_id: String,
    vpc_id: String,
    member_ips: Vec<String>,
}

#[derive(sqlx::FromRow)]
struct RuleRow {
    group_id: String,
    is_egress: bool,
    protocol: String,
    from_port: Option<i32>,
    to_port: Option<i32>,
    cidr: Option<String>,
    referenced_group_id: Option<String>,
}

/// An interface's addresses (primary first), groups (in their order) and elastic IPs.
const INTERFACE_ADDRESSES: &str = "
    array(SELECT host(a.private_ip) FROM network.network_interface_addresses a
          WHERE a.network_interface_id = n.network_interface_id
          ORDER BY a.is_primary DESC, a.private_ip) AS private_ips";

/// The VPC specs of `host_id` (sorted by VPC id; everything inside in a stable order, so
/// that an unchanged network gives an equal answer).
pub async fn for_host(network: &Network, host_id: &str) -> Result<Vec<VpcSpec>> {
    let pool = &network.pool;
    let locals = sqlx::query_as::<_, LocalRow>(&format!(
        "SELECT n.network_interface_id, n.instance_id, n.device_index, n.subnet_id, n.vpc_id,
                n.mac, n.source_dest_check, {INTERFACE_ADDRESSES},
                array(SELECT m.group_id FROM network.network_interface_groups m
                      WHERE m.network_interface_id = n.network_interface_id
                      ORDER BY m.position) AS groups,
                array(SELECT host(e.private_ip) || ' ' || host(e.public_ip)
                      FROM network.public_mappings e
                      WHERE e.network_interface_id = n.network_interface_id
                      ORDER BY e.private_ip, e.public_ip) AS public_ips
         FROM network.network_interfaces n
         JOIN compute.instance_placement p ON p.instance_id = n.instance_id
         WHERE p.host_id = $1 AND p.active
         ORDER BY n.instance_id, n.device_index"
    ))
    .bind(host_id)
    .fetch_all(pool)
    .await?;
    if locals.is_empty() {
        return Ok(Vec::new());
    }
    let mut vpc_ids: Vec<String> = locals.iter().map(|l| l.vpc_id.clone()).collect();
    vpc_ids.sort();
    vpc_ids.dedup();
    let interface_ids: Vec<String> = locals
        .iter()
        .map(|l| l.network_interface_id.clone())
        .collect();

    let vpcs = sqlx::query_as::<_, VpcRow>(
        "SELECT vpc_id, cidr::text AS cidr, vni, enable_dns_support FROM network.vpcs
         WHERE vpc_id = ANY($1) ORDER BY vpc_id",
    )
    .bind(&vpc_ids)
    .fetch_all(pool)
    .await?;
    // A subnet's effective route table: its own association, else the VPC's main table.
    let subnets = sqlx::query_as::<_, SubnetRow>(
        "SELECT s.subnet_id, s.vpc_id, s.cidr::text AS cidr,
                EXISTS (SELECT 1 FROM network.routes r
                        JOIN network.internet_gateways g
                          ON g.internet_gateway_id = r.target_id AND g.vpc_id = s.vpc_id
                        WHERE r.route_table_id = COALESCE(own.route_table_id, main.route_table_id)
                          AND r.target_kind = 'gateway' AND r.destination = '0.0.0.0/0'::cidr)
                    AS internet_gateway
         FROM network.subnets s
         LEFT JOIN network.route_table_associations own ON own.subnet_id = s.subnet_id
         LEFT JOIN network.route_tables main ON main.vpc_id = s.vpc_id AND main.is_main
         WHERE s.vpc_id = ANY($1)
         ORDER BY s.vpc_id, s.cidr",
    )
    .bind(&vpc_ids)
    .fetch_all(pool)
    .await?;
    let remotes = sqlx::query_as::<_, RemoteRow>(&format!(
        "SELECT n.vpc_id, n.mac, host(p.vtep_address) AS vtep_address, {INTERFACE_ADDRESSES}
         FROM network.network_interfaces n
         JOIN compute.instance_placement p ON p.instance_id = n.instance_id
         WHERE n.vpc_id = ANY($1) AND p.active AND p.host_id <> $2
           AND p.vtep_address IS NOT NULL
         ORDER BY n.vpc_id, n.mac"
    ))
    .bind(&vpc_ids)
    .bind(host_id)
    .fetch_all(pool)
    .await?;
    // The local interfaces' groups, and every group their rules name.
    let groups = sqlx::query_as::<_, GroupRow>(
        "WITH wanted AS (
             SELECT m.group_id FROM network.network_interface_groups m
             WHERE m.network_interface_id = ANY($1)
             UNION
             SELECT r.referenced_group_id FROM network.security_group_rules r
             JOIN network.network_interface_groups m ON m.group_id = r.group_id
             WHERE m.network_interface_id = ANY($1) AND r.referenced_group_id IS NOT NULL)
         SELECT g.group_id, g.vpc_id,
                array(SELECT host(a.private_ip)
                      FROM network.network_interface_groups m
                      JOIN network.network_interface_addresses a
                        ON a.network_interface_id = m.network_interface_id
                      WHERE m.group_id = g.group_id
                      ORDER BY a.private_ip) AS member_ips
         FROM network.security_groups g JOIN wanted ON wanted.group_id = g.group_id
         ORDER BY g.group_id",
    )
    .bind(&interface_ids)
    .fetch_all(pool)
    .await?;
    let group_ids: Vec<String> = groups.iter().map(|g| g.group_id.clone()).collect();
    let rules = sqlx::query_as::<_, RuleRow>(
        "SELECT group_id, is_egress, protocol, from_port, to_port, cidr::text AS cidr,
                referenced_group_id
         FROM network.security_group_rules WHERE group_id = ANY($1)
         ORDER BY group_id, protocol, from_port NULLS FIRST, to_port NULLS FIRST, cidr,
                  referenced_group_id",
    )
    .bind(&group_ids)
    .fetch_all(pool)
    .await?;

    let dns_domain = resolver::domain(network);
    let mut specs: BTreeMap<String, VpcSpec> = BTreeMap::new();
    for vpc in vpcs {
        let block = block(&vpc.cidr)?;
        let names = VpcLinkNames::for_vpc(&vpc.vpc_id);
        let spec = VpcSpec {
            vni: u32::try_from(vpc.vni).map_err(|_| bad("VNI", &vpc.vpc_id))?,
            bridge: names.bridge,
            vxlan: names.vxlan,
            router_netns: router_netns(host_id, &vpc.vpc_id),
            cidr_blocks: vec![vpc.cidr],
            dns_address: resolver::address(&block, vpc.enable_dns_support),
            dns_domain: dns_domain.clone(),
            subnets: Vec::new(),
            interfaces: Vec::new(),
            remote_interfaces: Vec::new(),
            security_groups: Vec::new(),
            vpc_id: vpc.vpc_id.clone(),
        };
        specs.insert(vpc.vpc_id, spec);
    }
    for subnet in subnets {
        let block = block(&subnet.cidr)?;
        if let Some(spec) = specs.get_mut(&subnet.vpc_id) {
            spec.subnets.push(SubnetSpec {
                subnet_id: subnet.subnet_id,
                cidr_block: subnet.cidr,
                gateway: Ipv4Addr::from(block.first + 1),
                prefix_len: block.prefix,
                internet_gateway: subnet.internet_gateway,
            });
        }
    }
    for local in locals {
        if let Some(spec) = specs.get_mut(&local.vpc_id) {
            spec.interfaces.push(interface(local)?);
        }
    }
    for remote in remotes {
        let vtep_address = ip(&remote.vtep_address, &remote.mac)?;
        if let Some(spec) = specs.get_mut(&remote.vpc_id) {
            spec.remote_interfaces.push(RemoteInterface {
                private_ips: ips(&remote.private_ips, &remote.mac)?,
                mac: remote.mac,
                vtep_address,
            });
        }
    }
    let mut rules_by_group: BTreeMap<String, Vec<RuleRow>> = BTreeMap::new();
    for rule in rules {
        rules_by_group
            .entry(rule.group_id.clone())
            .or_default()
            .push(rule);
    }
    for group in groups {
        let rules = rules_by_group.remove(&group.group_id).unwrap_or_default();
        let (egress, ingress): (Vec<RuleRow>, Vec<RuleRow>) =
            rules.into_iter().partition(|r| r.is_egress);
        if let Some(spec) = specs.get_mut(&group.vpc_id) {
            spec.security_groups.push(SecurityGroupSpec {
                member_ips: ips(&group.member_ips, &group.group_id)?,
                ingress: planned_rules(ingress)?,
                egress: planned_rules(egress)?,
                group_id: group.group_id,
            });
        }
    }
    Ok(specs.into_values().collect())
}

fn interface(row: LocalRow) -> Result<InterfaceSpec> {
    let id = row.network_interface_id;
    let public_ips = row
        .public_ips
        .iter()
        .map(|pair| {
            let (private, public) = pair.split_once(' ').ok_or_else(|| bad("elastic IP", &id))?;
            Ok(PublicMapping {
                private_ip: ip(private, &id)?,
                public_ip: ip(public, &id)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(InterfaceSpec {
        instance_id: row.instance_id,
        device_index: row.device_index,
        subnet_id: row.subnet_id,
        mac: row.mac,
        private_ips: ips(&row.private_ips, &id)?,
        source_dest_check: row.source_dest_check,
        groups: row.groups,
        public_ips,
        network_interface_id: id,
    })
}

/// A group's rules of one direction, those with the same protocol and ports folded into
/// one (their CIDRs and groups together), ordered by what they match (not by their random
/// ids): an unchanged group gives an equal list.
fn planned_rules(rows: Vec<RuleRow>) -> Result<Vec<PlannedRule>> {
    let mut planned: Vec<PlannedRule> = Vec::new();
    for row in rows {
        let (protocol, from_port, to_port) =
            protocol(&row.protocol, row.from_port, row.to_port, &row.group_id)?;
        let position = planned
            .iter()
            .position(|p| (p.protocol, p.from_port, p.to_port) == (protocol, from_port, to_port));
        let rule = match position {
            Some(i) => &mut planned[i],
            None => {
                planned.push(PlannedRule {
                    protocol,
                    from_port,
                    to_port,
                    cidrs: Vec::new(),
                    groups: Vec::new(),
                });
                let last = planned.len() - 1;
                &mut planned[last]
            }
        };
        match (row.cidr, row.referenced_group_id) {
            (Some(cidr), _) => rule.cidrs.push(cidr),
            (None, Some(group)) => rule.groups.push(group),
            (None, None) => return Err(bad("rule peer", &row.group_id)),
        }
    }
    Ok(planned)
}

/// A stored rule's protocol and ports as the agent matches them: `-1` is all traffic;
/// ICMP's type and code `-1` mean any.
fn protocol(
    stored: &str,
    from: Option<i32>,
    to: Option<i32>,
    group_id: &str,
) -> Result<(RuleProtocol, Option<u16>, Option<u16>)> {
    let port = |value: Option<i32>| -> Result<Option<u16>> {
        match value {
            None | Some(-1) => Ok(None),
            Some(n) => u16::try_from(n)
                .map(Some)
                .map_err(|_| bad("rule port", group_id)),
        }
    };
    Ok(match stored {
        "-1" => (RuleProtocol::All, None, None),
        "tcp" => (RuleProtocol::Tcp, port(from)?, port(to)?),
        "udp" => (RuleProtocol::Udp, port(from)?, port(to)?),
        "icmp" => (RuleProtocol::Icmp, port(from)?, port(to)?),
        number => (
            RuleProtocol::Number(number.parse().map_err(|_| bad("rule protocol", group_id))?),
            None,
            None,
        ),
    })
}

fn block(cidr: &str) -> Result<Ipv4Block> {
    Ipv4Block::parse(cidr, "cidr").map_err(|_| bad("CIDR block", cidr))
}

fn ip(text: &str, owner: &str) -> Result<Ipv4Addr> {
    text.parse().map_err(|_| bad("address", owner))
}

fn ips(list: &[String], owner: &str) -> Result<Vec<Ipv4Addr>> {
    list.iter().map(|text| ip(text, owner)).collect()
}

fn bad(what: &str, owner: &str) -> NetworkError {
    NetworkError::Internal(format!("the catalog holds a bad {what} for {owner}"))
}
