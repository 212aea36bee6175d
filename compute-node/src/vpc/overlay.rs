//! A VPC's VXLAN on a host: `kx-…` (VNI, the host's tunnel endpoint, port 4789, no
//! learning, ARP answered locally) on the VPC's bridge, with exactly one forwarding entry
//! per remote interface's MAC (→ its host's endpoint) and one permanent neighbour entry
//! per remote address (→ its MAC). No all-zero entry: broadcasts and unknown unicast
//! never leave the host. Without an endpoint there is no VXLAN.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use kumo_compute_protocol::network::{VpcLinkNames, VpcSpec};

use super::router::set_alias;
use super::Mark;
use crate::error::Result;
use crate::netns::{field, Netns};

/// The UDP port of every VXLAN (IANA's).
pub const VXLAN_PORT: u16 = 4789;
/// The MTU inside the VPC: the tunnel's packets may be fragmented on the underlay when it
/// has no room for the 50 bytes of encapsulation.
const VXLAN_MTU: &str = "1500";

pub async fn converge(
    host: &Netns,
    names: &VpcLinkNames,
    mark: &Mark,
    vpc: &VpcSpec,
    vtep: Option<Ipv4Addr>,
) -> Result<()> {
    let Some(vtep) = vtep else {
        return host.delete_link(&names.vxlan).await;
    };
    let vxlan = names.vxlan.as_str();
    if let Some(details) = host.link_details(vxlan).await {
        if !matches_wanted(&details, vpc.vni, vtep) {
            host.delete_link(vxlan).await?;
        }
    }
    if !host.link_exists(vxlan).await {
        let vni = vpc.vni.to_string();
        let local = vtep.to_string();
        let port = VXLAN_PORT.to_string();
        host.ip(&[
            "link",
            "add",
            vxlan,
            "mtu",
            VXLAN_MTU,
            "type",
            "vxlan",
            "id",
            &vni,
            "local",
            &local,
            "dstport",
            &port,
            "nolearning",
            "proxy",
        ])
        .await?;
    }
    set_alias(host, vxlan, &mark.render("kumo-vxlan")).await?;
    host.ip(&["link", "set", "dev", vxlan, "master", &names.bridge])
        .await?;
    host.ip(&["link", "set", "dev", vxlan, "up"]).await?;

    // Forwarding entries: MAC → remote endpoint.
    let wanted_fdb: BTreeSet<(String, Ipv4Addr)> = vpc
        .remote_interfaces
        .iter()
        .map(|r| (r.mac.to_ascii_lowercase(), r.vtep_address))
        .collect();
    let present_fdb: BTreeSet<(String, Ipv4Addr)> = host
        .bridge_json(&["fdb", "show", "dev", vxlan])
        .await?
        .iter()
        .filter_map(|e| {
            let dst = field(e, "dst")?.parse().ok()?;
            Some((field(e, "mac")?.to_ascii_lowercase(), dst))
        })
        .collect();
    for (mac, dst) in present_fdb.difference(&wanted_fdb) {
        let dst = dst.to_string();
        host.bridge(&["fdb", "del", mac, "dev", vxlan, "dst", &dst])
            .await?;
    }
    for (mac, dst) in wanted_fdb.difference(&present_fdb) {
        let dst = dst.to_string();
        host.bridge(&[
            "fdb",
            "replace",
            mac,
            "dev",
            vxlan,
            "dst",
            &dst,
            "self",
            "permanent",
        ])
        .await?;
    }

    // Neighbour entries: remote address → MAC (answered by the VXLAN's ARP proxy).
    let wanted_neigh: BTreeSet<(Ipv4Addr, String)> = vpc
        .remote_interfaces
        .iter()
        .flat_map(|r| {
            r.private_ips
                .iter()
                .map(|ip| (*ip, r.mac.to_ascii_lowercase()))
        })
        .collect();
    let present_neigh: BTreeSet<(Ipv4Addr, String)> = host
        .ip_json(&["-4", "neigh", "show", "dev", vxlan])
        .await?
        .iter()
        .filter_map(|n| {
            let ip = field(n, "dst")?.parse().ok()?;
            let mac = field(n, "lladdr").unwrap_or_default().to_ascii_lowercase();
            Some((ip, mac))
        })
        .collect();
    for (ip, _) in present_neigh.difference(&wanted_neigh) {
        let ip = ip.to_string();
        // Fails when it went meanwhile: nothing to remove then.
        let _ = host.ip(&["neigh", "del", &ip, "dev", vxlan]).await;
    }
    for (ip, mac) in wanted_neigh.difference(&present_neigh) {
        let ip = ip.to_string();
        host.ip(&[
            "neigh",
            "replace",
            &ip,
            "lladdr",
            mac,
            "dev",
            vxlan,
            "nud",
            "permanent",
        ])
        .await?;
    }
    Ok(())
}

/// Whether an existing VXLAN device has the VNI, endpoint and flags wanted.
fn matches_wanted(details: &serde_json::Value, vni: u32, vtep: Ipv4Addr) -> bool {
    let Some(info) = details.get("linkinfo") else {
        return false;
    };
    if field(info, "info_kind") != Some("vxlan") {
        return false;
    }
    let Some(data) = info.get("info_data") else {
        return false;
    };
    let vtep = vtep.to_string();
    data.get("id").and_then(|v| v.as_u64()) == Some(u64::from(vni))
        && field(data, "local") == Some(vtep.as_str())
        && data.get("port").and_then(|v| v.as_u64()) == Some(u64::from(VXLAN_PORT))
        && data.get("learning").and_then(|v| v.as_bool()) == Some(false)
        && data.get("proxy").and_then(|v| v.as_bool()) == Some(true)
}
