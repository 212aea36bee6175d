//! A VPC's router namespace on a host: `gw` on the VPC's bridge (every subnet's gateway,
//! the metadata address, the resolver's address), and, when the host has an uplink, the
//! transit link `up` ↔ `kr-…` with the elastic IPs' 1:1 NAT.
//!
//! Inside the router: `ip kumo_nat` (DNAT of each public address arriving on `up` to its
//! private one, SNAT of that private one leaving by `up`) and `inet kumo_router` (forward:
//! within the VPC anything; out by `up` only from an address with a public mapping; in by
//! `up` only what was DNATed or answers a flow). On the host: `<public>/32 via
//! 169.254.255.2 dev kr-… onlink` and a proxy-ARP entry on the uplink, so the outside finds
//! the address and the host hands it to the right router.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use kumo_compute_protocol::network::{
    PublicMapping, VpcLinkNames, VpcSpec, ROUTER_GATEWAY_LINK, ROUTER_TRANSIT_LINK,
};
use kumo_compute_protocol::HostNetworkSettings;

use super::Mark;
use crate::error::{NodeError, Result};
use crate::netns::{field, Netns};
use crate::network::{derived_mac, validate_link_name, METADATA_ADDR};

/// The host's end of every transit link.
pub const TRANSIT_HOST_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 255, 1);
/// The router's end of every transit link.
pub const TRANSIT_ROUTER_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 255, 2);
const TRANSIT_PREFIX: u8 = 30;

/// The public mappings a VPC's router carries: those of interfaces in subnets whose route
/// table reaches an internet gateway.
pub fn public_mappings(vpc: &VpcSpec) -> Vec<PublicMapping> {
    let public_subnets: BTreeSet<&str> = vpc
        .subnets
        .iter()
        .filter(|s| s.internet_gateway)
        .map(|s| s.subnet_id.as_str())
        .collect();
    let mut mappings: Vec<PublicMapping> = vpc
        .interfaces
        .iter()
        .filter(|i| public_subnets.contains(i.subnet_id.as_str()))
        .flat_map(|i| {
            i.public_ips
                .iter()
                .filter(|m| i.private_ips.contains(&m.private_ip))
                .cloned()
        })
        .collect();
    mappings.sort_by_key(|m| (m.public_ip, m.private_ip));
    mappings.dedup_by_key(|m| m.public_ip);
    mappings
}

/// The host side of elastic IPs: forwarding on, proxy-ARP answers without delay.
pub async fn prepare_host(host: &Netns, settings: &HostNetworkSettings) -> Result<()> {
    host.sysctl("net.ipv4.ip_forward", "1").await?;
    if let Some(uplink) = &settings.uplink {
        validate_link_name(uplink)?;
        host.sysctl(&format!("net.ipv4.neigh.{uplink}.proxy_delay"), "0")
            .await?;
    }
    Ok(())
}

/// The router namespace (marked), its forwarding settings and `gw` on the bridge with
/// exactly the addresses the VPC needs.
pub async fn ensure_router(
    host: &Netns,
    names: &VpcLinkNames,
    router_ns: &str,
    mark: &Mark,
    vpc: &VpcSpec,
) -> Result<()> {
    let router = Netns::named(router_ns);
    router.create().await?;
    let wanted_mark = mark.render("kumo-router");
    let lo = router.link_details("lo").await;
    if lo.as_ref().and_then(|l| field(l, "ifalias")) != Some(wanted_mark.as_str()) {
        router
            .ip(&["link", "set", "dev", "lo", "alias", &wanted_mark])
            .await?;
    }
    router.ip(&["link", "set", "dev", "lo", "up"]).await?;
    // Routed within the VPC, out of the link it came in by: no redirects, no reverse-path
    // drops (distributed gateways answer from every host).
    for (key, value) in [
        ("net.ipv4.ip_forward", "1"),
        ("net.ipv4.conf.all.rp_filter", "0"),
        ("net.ipv4.conf.default.rp_filter", "0"),
        ("net.ipv4.conf.all.send_redirects", "0"),
        ("net.ipv4.conf.default.send_redirects", "0"),
    ] {
        router.sysctl(key, value).await?;
    }

    let gw_mac = derived_mac(&format!("kumo-router-gw:{}:{}", mark.owner, mark.vpc_id));
    let port_mac = derived_mac(&format!("kumo-gateway-port:{}:{}", mark.owner, mark.vpc_id));
    ensure_veth_pair(
        host,
        &names.gateway_port,
        &port_mac,
        &router,
        router_ns,
        ROUTER_GATEWAY_LINK,
        &gw_mac,
    )
    .await?;
    set_alias(host, &names.gateway_port, &mark.render("kumo-gateway")).await?;
    host.ip(&[
        "link",
        "set",
        "dev",
        &names.gateway_port,
        "master",
        &names.bridge,
    ])
    .await?;
    host.ip(&["link", "set", "dev", &names.gateway_port, "up"])
        .await?;
    router
        .sysctl("net.ipv4.conf.gw.send_redirects", "0")
        .await?;
    router.sysctl("net.ipv4.conf.gw.rp_filter", "0").await?;
    router
        .ip(&["link", "set", "dev", ROUTER_GATEWAY_LINK, "up"])
        .await?;

    let mut addresses: Vec<String> = vpc
        .subnets
        .iter()
        .map(|s| format!("{}/{}", s.gateway, s.prefix_len))
        .collect();
    addresses.push(format!("{METADATA_ADDR}/32"));
    if let Some(dns) = vpc.dns_address {
        addresses.push(format!("{dns}/32"));
    }
    addresses.sort();
    addresses.dedup();
    router
        .set_ipv4_addresses(ROUTER_GATEWAY_LINK, &addresses)
        .await
}

/// The transit link and the host side of the NAT (routes, proxy ARP) when the host has an
/// uplink, none of it otherwise. Returns the router's nft script to apply.
pub async fn converge_transit(
    host: &Netns,
    names: &VpcLinkNames,
    router_ns: &str,
    mark: &Mark,
    vpc: &VpcSpec,
    uplink: Option<&str>,
) -> Result<String> {
    let router = Netns::named(router_ns);
    let Some(uplink) = uplink else {
        remove_transit(host, &names.transit, None).await?;
        return Ok(render_router_nft(&[], false));
    };
    validate_link_name(uplink)?;
    let mappings = public_mappings(vpc);
    let transit_mac = derived_mac(&format!("kumo-transit:{}:{}", mark.owner, mark.vpc_id));
    let up_mac = derived_mac(&format!("kumo-router-up:{}:{}", mark.owner, mark.vpc_id));
    ensure_veth_pair(
        host,
        &names.transit,
        &transit_mac,
        &router,
        router_ns,
        ROUTER_TRANSIT_LINK,
        &up_mac,
    )
    .await?;
    set_alias(host, &names.transit, &mark.render("kumo-transit")).await?;
    router.sysctl("net.ipv4.conf.up.rp_filter", "0").await?;
    host.set_ipv4_addresses(
        &names.transit,
        &[format!("{TRANSIT_HOST_ADDR}/{TRANSIT_PREFIX}")],
    )
    .await?;
    router
        .set_ipv4_addresses(
            ROUTER_TRANSIT_LINK,
            &[format!("{TRANSIT_ROUTER_ADDR}/{TRANSIT_PREFIX}")],
        )
        .await?;
    host.ip(&["link", "set", "dev", &names.transit, "up"])
        .await?;
    router
        .ip(&["link", "set", "dev", ROUTER_TRANSIT_LINK, "up"])
        .await?;
    let via = TRANSIT_HOST_ADDR.to_string();
    router
        .ip(&[
            "route",
            "replace",
            "default",
            "via",
            &via,
            "dev",
            ROUTER_TRANSIT_LINK,
        ])
        .await?;

    // The host: a route and a proxy-ARP entry per public address.
    let wanted: BTreeSet<Ipv4Addr> = mappings.iter().map(|m| m.public_ip).collect();
    for present in public_routes(host, &names.transit).await? {
        if !wanted.contains(&present) {
            remove_public(host, &names.transit, Some(uplink), present).await?;
        }
    }
    let router_addr = TRANSIT_ROUTER_ADDR.to_string();
    for public in &wanted {
        let dst = format!("{public}/32");
        host.ip(&[
            "route",
            "replace",
            &dst,
            "via",
            &router_addr,
            "dev",
            &names.transit,
            "onlink",
        ])
        .await?;
        host.ip(&[
            "neigh",
            "replace",
            "proxy",
            &public.to_string(),
            "dev",
            uplink,
        ])
        .await?;
    }
    Ok(render_router_nft(&mappings, true))
}

/// Remove a transit link, its host routes and (on `uplink`, or every link when `None`)
/// the proxy-ARP entries of their addresses. Fine when it is gone.
pub async fn remove_transit(host: &Netns, transit: &str, uplink: Option<&str>) -> Result<()> {
    if !host.link_exists(transit).await {
        return Ok(());
    }
    for public in public_routes(host, transit).await? {
        remove_public(host, transit, uplink, public).await?;
    }
    host.delete_link(transit).await
}

/// The `/32` routes through a transit link: its public addresses.
async fn public_routes(host: &Netns, transit: &str) -> Result<Vec<Ipv4Addr>> {
    Ok(host
        .ip_json(&["-4", "route", "show", "dev", transit])
        .await?
        .iter()
        .filter_map(|r| field(r, "dst")?.parse::<Ipv4Addr>().ok())
        .collect())
}

async fn remove_public(
    host: &Netns,
    transit: &str,
    uplink: Option<&str>,
    public: Ipv4Addr,
) -> Result<()> {
    let address = public.to_string();
    let links: Vec<String> = match uplink {
        Some(uplink) => vec![uplink.to_string()],
        None => host
            .ip_json(&["neigh", "show", "proxy"])
            .await?
            .iter()
            .filter(|n| field(n, "dst") == Some(address.as_str()))
            .filter_map(|n| field(n, "dev").map(str::to_string))
            .collect(),
    };
    for link in links {
        // Fails when it is not there: nothing to remove then.
        let _ = host
            .ip(&["neigh", "del", "proxy", &address, "dev", &link])
            .await;
    }
    let dst = format!("{address}/32");
    let _ = host.ip(&["route", "del", &dst, "dev", transit]).await;
    Ok(())
}

/// The router's nft script: one transaction re-creating both tables' rules.
pub fn render_router_nft(mappings: &[PublicMapping], transit: bool) -> String {
    let mut out = String::new();
    let gw = ROUTER_GATEWAY_LINK;
    let up = ROUTER_TRANSIT_LINK;
    out.push_str("add table ip kumo_nat\nflush table ip kumo_nat\n");
    out.push_str("table ip kumo_nat {\n");
    out.push_str(
        "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n",
    );
    for m in mappings {
        let _ = writeln!(
            out,
            "    iifname \"{up}\" ip daddr {} dnat to {}",
            m.public_ip, m.private_ip
        );
    }
    out.push_str("  }\n");
    out.push_str(
        "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n",
    );
    for m in mappings {
        let _ = writeln!(
            out,
            "    oifname \"{up}\" ip saddr {} snat to {}",
            m.private_ip, m.public_ip
        );
    }
    out.push_str("  }\n}\n");
    out.push_str("add table inet kumo_router\nflush table inet kumo_router\n");
    out.push_str("table inet kumo_router {\n");
    out.push_str("  chain forward {\n    type filter hook forward priority filter; policy drop;\n");
    let _ = writeln!(out, "    iifname \"{gw}\" oifname \"{gw}\" accept");
    out.push_str("    ct state established,related accept\n");
    if transit && !mappings.is_empty() {
        let privates: BTreeSet<Ipv4Addr> = mappings.iter().map(|m| m.private_ip).collect();
        let list = privates
            .iter()
            .map(Ipv4Addr::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "    iifname \"{gw}\" oifname \"{up}\" ip saddr {{ {list} }} accept"
        );
        let _ = writeln!(
            out,
            "    iifname \"{up}\" oifname \"{gw}\" ct status dnat accept"
        );
    }
    out.push_str("  }\n}\n");
    out
}

/// A veth pair `host_end` (in `host`, MAC `host_mac`) ↔ `router_end` (in `router`, MAC
/// `router_mac`): made when missing, made anew when half of it is gone.
async fn ensure_veth_pair(
    host: &Netns,
    host_end: &str,
    host_mac: &str,
    router: &Netns,
    router_ns: &str,
    router_end: &str,
    router_mac: &str,
) -> Result<()> {
    let host_has = host.link_exists(host_end).await;
    let router_has = router.link_exists(router_end).await;
    if host_has && router_has {
        return Ok(());
    }
    host.delete_link(host_end).await?;
    router.delete_link(router_end).await?;
    host.ip(&[
        "link", "add", host_end, "address", host_mac, "type", "veth", "peer", "name", router_end,
        "address", router_mac, "netns", router_ns,
    ])
    .await
    .map(|_| ())
    .map_err(|e| match e {
        NodeError::Command { command, message } => NodeError::Command {
            command,
            message: format!("{message} (making {host_end} ↔ {router_ns}/{router_end})"),
        },
        other => other,
    })
}

/// Set a link's alias (its mark) unless it has it.
pub(crate) async fn set_alias(ns: &Netns, link: &str, alias: &str) -> Result<()> {
    let current = ns.link_details(link).await;
    if current.as_ref().and_then(|l| field(l, "ifalias")) != Some(alias) {
        ns.ip(&["link", "set", "dev", link, "alias", alias]).await?;
    }
    Ok(())
}
