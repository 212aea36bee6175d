//! Containers' extra interfaces and addresses: a secondary interface (device index N > 0)
//! is a veth `kv<12 hex of its id>` on the VPC's bridge whose peer is `eth<N>` in the
//! instance's namespace, with the interface's MAC and every address of it; the primary
//! interface's secondary addresses go on `eth0`. VMs' (hot-plug) are not done yet: their
//! instances have no namespace, and are skipped.

use std::collections::BTreeSet;

use kumo_compute_protocol::network::{InterfaceSpec, VpcLinkNames, VpcSpec};
use kumo_compute_protocol::HostNetworkSpec;
use sha2::{Digest, Sha256};

use super::router::set_alias;
use super::{Mark, VpcPlumbing};
use crate::error::{NodeError, Result};
use crate::netns::{field, Netns};
use crate::network::HostNetwork;

/// Host end of a secondary interface's veth: `kv` + 12 hex digits of sha256(interface id).
pub fn veth_name(network_interface_id: &str) -> String {
    let digest = Sha256::digest(network_interface_id.as_bytes());
    format!("kv{}", hex::encode(&digest[..6]))
}

/// Plug every local container's secondary interfaces and addresses of `vpc`.
pub async fn converge(plumbing: &VpcPlumbing, names: &VpcLinkNames, vpc: &VpcSpec) -> Result<()> {
    for interface in &vpc.interfaces {
        let instance_ns = HostNetwork::netns_name(&interface.instance_id);
        if kumo_common::ids::InstanceId::parse(&interface.instance_id).is_err()
            || !HostNetwork::netns_path(&interface.instance_id).exists()
        {
            continue;
        }
        let Some(prefix_len) = vpc
            .subnets
            .iter()
            .find(|s| s.subnet_id == interface.subnet_id)
            .map(|s| s.prefix_len)
        else {
            continue;
        };
        let instance = Netns::named(&instance_ns);
        if interface.device_index == 0 {
            // The primary's own address is the instance's (set at its start); only
            // the secondary ones are added here.
            if instance.link_exists("eth0").await {
                for ip in interface.private_ips.iter().skip(1) {
                    let cidr = format!("{ip}/{prefix_len}");
                    instance
                        .ip(&["addr", "replace", &cidr, "dev", "eth0"])
                        .await?;
                }
            }
            continue;
        }
        plug(plumbing, names, vpc, interface, &instance, prefix_len).await?;
    }
    Ok(())
}

async fn plug(
    plumbing: &VpcPlumbing,
    names: &VpcLinkNames,
    vpc: &VpcSpec,
    interface: &InterfaceSpec,
    instance: &Netns,
    prefix_len: u8,
) -> Result<()> {
    if !(1..=15).contains(&interface.device_index) {
        return Err(NodeError::InvalidSpec(format!(
            "device index {} out of range",
            interface.device_index
        )));
    }
    let host = plumbing.host().netns();
    let veth = veth_name(&interface.network_interface_id);
    let inner = format!("eth{}", interface.device_index);
    let instance_ns = instance.name().unwrap_or_default().to_string();
    let host_has = host.link_exists(&veth).await;
    let inner_has = instance.link_exists(&inner).await;
    if !(host_has && inner_has) {
        host.delete_link(&veth).await?;
        instance.delete_link(&inner).await?;
        host.ip(&[
            "link",
            "add",
            &veth,
            "type",
            "veth",
            "peer",
            "name",
            &inner,
            "address",
            &interface.mac,
            "netns",
            &instance_ns,
        ])
        .await?;
    }
    let mark = Mark {
        owner: plumbing.owner().to_string(),
        vpc_id: vpc.vpc_id.clone(),
        eni: Some(interface.network_interface_id.clone()),
    };
    set_alias(&host, &veth, &mark.render("kumo-eni")).await?;
    host.ip(&["link", "set", "dev", &veth, "master", &names.bridge])
        .await?;
    host.ip(&["link", "set", "dev", &veth, "up"]).await?;
    let addresses: Vec<String> = interface
        .private_ips
        .iter()
        .map(|ip| format!("{ip}/{prefix_len}"))
        .collect();
    instance.set_ipv4_addresses(&inner, &addresses).await?;
    instance.ip(&["link", "set", "dev", &inner, "up"]).await?;
    Ok(())
}

/// Remove this agent's secondary-interface veths the spec no longer names.
pub async fn remove_absent(plumbing: &VpcPlumbing, spec: &HostNetworkSpec) -> Result<()> {
    let wanted: BTreeSet<&str> = spec
        .vpcs
        .iter()
        .flat_map(|v| &v.interfaces)
        .filter(|i| i.device_index > 0)
        .map(|i| i.network_interface_id.as_str())
        .collect();
    let host = plumbing.host().netns();
    for link in host.ip_json(&["link", "show", "type", "veth"]).await? {
        let Some(name) = field(&link, "ifname") else {
            continue;
        };
        let Some(mark) = field(&link, "ifalias").and_then(Mark::parse) else {
            continue;
        };
        let Some(eni) = mark.eni.as_deref() else {
            continue;
        };
        if mark.owner == plumbing.owner()
            && name.starts_with("kv")
            && name == veth_name(eni)
            && !wanted.contains(eni)
        {
            host.delete_link(name).await?;
        }
    }
    Ok(())
}
