//! Instances' extra interfaces and addresses.
//!
//! Containers: a secondary interface (device index N > 0) is a veth `kv<12 hex of its
//! id>` on the VPC's bridge whose peer is `eth<N>` in the instance's namespace, with the
//! interface's MAC and every address of it; the primary interface's secondary addresses
//! go on `eth0`. With secondary interfaces, each `eth<N>` (`eth0` too) gets its own
//! route table (1000 + N: its subnet, a default route via its subnet's gateway) and a
//! rule per address (`from <ip> lookup 1000+N`), so that a packet leaves by the
//! interface its source address belongs to (else an answer could leave by another
//! interface, which the anti-spoofing rules drop), as AWS's ec2-net-utils set up in a
//! guest.
//!
//! VMs: a tap `kt<12 hex of its id>` on the bridge, in the host namespace (where QEMU
//! runs), hot-plugged into the running VM over QMP ([`crate::vm::hotplug`]). The guest
//! configures it (its device order names it, not the device index). A VM restarted by
//! the agent comes back without them: [`unplugged`] notices (the QEMU pid that got them
//! is recorded) and the next pass plugs them again.
//!
//! Whatever the spec no longer names goes: NICs unplugged from VMs ([`unplug_absent`]),
//! then this agent's veths and taps (marked `kumo-eni owner=… vpc=… eni=…`), with a
//! container's `eth<N>` and its rules.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, PoisonError};

use kumo_compute_protocol::network::{InterfaceSpec, SubnetSpec, VpcLinkNames, VpcSpec};
use kumo_compute_protocol::HostNetworkSpec;

use super::router::set_alias;
use super::{Mark, VpcPlumbing};
use crate::error::{NodeError, Result};
use crate::netns::{field, Netns};
use crate::network::HostNetwork;
use crate::vm::hotplug::HotplugNic;
use crate::vm::VmRuntime;

/// Route table (and rule priority) of a container's `eth<N>`: this + N.
const ROUTE_TABLE_BASE: u32 = 1000;
/// Highest device index a secondary interface may have.
const MAX_DEVICE_INDEX: i32 = 15;

/// Host end of a container's secondary interface: `kv` + 12 hex digits of sha256(id).
pub fn veth_name(network_interface_id: &str) -> String {
    HostNetwork::veth_name(network_interface_id)
}

/// A VM's secondary interface's tap: `kt` + 12 hex digits of sha256(id).
pub fn tap_name(network_interface_id: &str) -> String {
    HostNetwork::tap_name(network_interface_id)
}

/// The VMs of the host, for hot-plugging, and which QEMU process got which interface.
#[derive(Debug)]
pub struct VmNics {
    runtime: Arc<VmRuntime>,
    /// Interface id → pid of the QEMU it was plugged into (by this process).
    plugged: Mutex<BTreeMap<String, u32>>,
}

impl VmNics {
    pub fn new(runtime: Arc<VmRuntime>) -> Self {
        Self {
            runtime,
            plugged: Mutex::new(BTreeMap::new()),
        }
    }

    fn plugged(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, u32>> {
        self.plugged.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Plug every local instance's secondary interfaces and addresses of `vpc`.
pub async fn converge(plumbing: &VpcPlumbing, names: &VpcLinkNames, vpc: &VpcSpec) -> Result<()> {
    let mut by_instance: BTreeMap<&str, Vec<&InterfaceSpec>> = BTreeMap::new();
    for interface in &vpc.interfaces {
        by_instance
            .entry(interface.instance_id.as_str())
            .or_default()
            .push(interface);
    }
    for (instance_id, interfaces) in by_instance {
        if kumo_common::ids::InstanceId::parse(instance_id).is_err() {
            continue;
        }
        if HostNetwork::netns_path(instance_id).exists() {
            converge_container(plumbing, names, vpc, instance_id, &interfaces).await?;
        } else if let Some(vms) = plumbing.vm_nics() {
            if let Some(pid) = vms.runtime.pid(instance_id).await? {
                converge_vm(plumbing, vms, names, vpc, instance_id, pid, &interfaces).await?;
            }
        }
    }
    Ok(())
}

async fn converge_container(
    plumbing: &VpcPlumbing,
    names: &VpcLinkNames,
    vpc: &VpcSpec,
    instance_id: &str,
    interfaces: &[&InterfaceSpec],
) -> Result<()> {
    let instance = Netns::named(&HostNetwork::netns_name(instance_id));
    let multihomed = interfaces
        .iter()
        .any(|i| i.device_index > 0 && subnet_of(vpc, i).is_some());
    let mut rules = BTreeSet::new();
    for interface in interfaces {
        let Some(subnet) = subnet_of(vpc, interface) else {
            continue;
        };
        let addresses: Vec<String> = interface
            .private_ips
            .iter()
            .map(|ip| format!("{ip}/{}", subnet.prefix_len))
            .collect();
        let inner = if interface.device_index == 0 {
            // The primary address is set at the instance's start; the secondary ones
            // come and go with (Un)AssignPrivateIpAddresses.
            if addresses.is_empty() || !instance.link_exists("eth0").await {
                continue;
            }
            instance.set_ipv4_addresses("eth0", &addresses).await?;
            if !multihomed {
                continue;
            }
            "eth0".to_string()
        } else {
            let inner = plug_veth(plumbing, names, vpc, interface, &instance).await?;
            instance.set_ipv4_addresses(&inner, &addresses).await?;
            instance.ip(&["link", "set", "dev", &inner, "up"]).await?;
            inner
        };
        let table = (ROUTE_TABLE_BASE + interface.device_index as u32).to_string();
        let network = subnet_network(subnet)?;
        let gateway = subnet.gateway.to_string();
        instance
            .ip(&["route", "replace", &network, "dev", &inner, "table", &table])
            .await?;
        instance
            .ip(&[
                "route", "replace", "default", "via", &gateway, "dev", &inner, "table", &table,
            ])
            .await?;
        for ip in &interface.private_ips {
            rules.insert((ROUTE_TABLE_BASE + interface.device_index as u32, *ip));
        }
    }
    sync_rules(&instance, &rules).await
}

/// A secondary interface's veth, made (again) unless both ends are there; its peer's name.
async fn plug_veth(
    plumbing: &VpcPlumbing,
    names: &VpcLinkNames,
    vpc: &VpcSpec,
    interface: &InterfaceSpec,
    instance: &Netns,
) -> Result<String> {
    check_device_index(interface)?;
    let host = plumbing.host().netns();
    let veth = veth_name(&interface.network_interface_id);
    let inner = format!("eth{}", interface.device_index);
    let instance_ns = instance.name().unwrap_or_default().to_string();
    let mac_ok = match instance.link_details(&inner).await {
        Some(link) => {
            field(&link, "address").is_some_and(|mac| mac.eq_ignore_ascii_case(&interface.mac))
        }
        None => false,
    };
    if !(mac_ok && host.link_exists(&veth).await) {
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
    attach_port(plumbing, names, vpc, interface, &veth).await?;
    Ok(inner)
}

/// Mark a secondary interface's host port as this agent's, put it on the bridge, up.
async fn attach_port(
    plumbing: &VpcPlumbing,
    names: &VpcLinkNames,
    vpc: &VpcSpec,
    interface: &InterfaceSpec,
    port: &str,
) -> Result<()> {
    let host = plumbing.host().netns();
    let mark = Mark {
        owner: plumbing.owner().to_string(),
        vpc_id: vpc.vpc_id.clone(),
        eni: Some(interface.network_interface_id.clone()),
    };
    set_alias(&host, port, &mark.render("kumo-eni")).await?;
    host.ip(&["link", "set", "dev", port, "master", &names.bridge])
        .await?;
    host.ip(&["link", "set", "dev", port, "up"]).await?;
    Ok(())
}

/// Make the container's source rules (`from <ip> lookup <table>`, priority = table) the
/// wanted ones; rules of tables of interfaces that left go.
async fn sync_rules(instance: &Netns, wanted: &BTreeSet<(u32, Ipv4Addr)>) -> Result<()> {
    let ours = ROUTE_TABLE_BASE..=ROUTE_TABLE_BASE + MAX_DEVICE_INDEX as u32;
    let mut present = BTreeSet::new();
    let mut dropped = BTreeSet::new();
    for rule in instance.ip_json(&["-4", "rule", "show"]).await? {
        let priority = rule.get("priority").and_then(|p| p.as_u64()).unwrap_or(0) as u32;
        if !ours.contains(&priority) {
            continue;
        }
        let src = field(&rule, "src").and_then(|s| s.parse::<Ipv4Addr>().ok());
        let table = field(&rule, "table").and_then(|t| t.parse::<u32>().ok());
        let whole = rule.get("srclen").and_then(|l| l.as_u64()).unwrap_or(32) == 32;
        match (src, table) {
            (Some(src), Some(table))
                if table == priority && whole && wanted.contains(&(table, src)) =>
            {
                present.insert((table, src));
            }
            _ => {
                // Named whole: several rules share a priority (one per address).
                let priority_text = priority.to_string();
                let mut args = vec!["rule", "del", "priority", &priority_text];
                let from = field(&rule, "src").map(|src| {
                    let len = rule.get("srclen").and_then(|l| l.as_u64()).unwrap_or(32);
                    format!("{src}/{len}")
                });
                if let Some(from) = &from {
                    args.extend(["from", from]);
                }
                if let Some(table) = field(&rule, "table") {
                    args.extend(["lookup", table]);
                }
                instance.ip(&args).await?;
                dropped.insert(priority);
            }
        }
    }
    // The tables no rule leads to any more (those of removed devices emptied with them).
    for table in dropped {
        if !wanted.iter().any(|(t, _)| *t == table) {
            instance
                .ip(&["route", "flush", "table", &table.to_string()])
                .await?;
        }
    }
    for (table, ip) in wanted.difference(&present) {
        let table = table.to_string();
        instance
            .ip(&[
                "rule",
                "add",
                "from",
                &format!("{ip}/32"),
                "lookup",
                &table,
                "priority",
                &table,
            ])
            .await?;
    }
    Ok(())
}

async fn converge_vm(
    plumbing: &VpcPlumbing,
    vms: &VmNics,
    names: &VpcLinkNames,
    vpc: &VpcSpec,
    instance_id: &str,
    pid: u32,
    interfaces: &[&InterfaceSpec],
) -> Result<()> {
    let secondaries: Vec<&&InterfaceSpec> =
        interfaces.iter().filter(|i| i.device_index > 0).collect();
    if secondaries.is_empty() {
        return Ok(());
    }
    let present = vms.runtime.hotplugged_nics(instance_id).await?;
    let host = plumbing.host().netns();
    for interface in secondaries {
        check_device_index(interface)?;
        let eni = &interface.network_interface_id;
        let tap = tap_name(eni);
        if !host.link_exists(&tap).await {
            host.ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])
                .await?;
        }
        attach_port(plumbing, names, vpc, interface, &tap).await?;
        let nic = HotplugNic {
            network_interface_id: eni.clone(),
            tap,
            mac: interface.mac.clone(),
        };
        match present.get(eni) {
            Some(mac) if mac.eq_ignore_ascii_case(&interface.mac) => {}
            Some(_) => {
                // Another MAC (cannot change on a live device): out, then in again
                // once the guest let go of it (a later pass).
                vms.runtime.unplug_nic(instance_id, eni).await?;
                continue;
            }
            None => vms.runtime.plug_nic(instance_id, &nic).await?,
        }
        vms.plugged().insert(eni.clone(), pid);
    }
    Ok(())
}

/// Unplug from every running VM of this host the NICs the spec no longer gives it.
pub async fn unplug_absent(plumbing: &VpcPlumbing, spec: &HostNetworkSpec) -> Result<()> {
    let Some(vms) = plumbing.vm_nics() else {
        return Ok(());
    };
    let wanted: BTreeSet<(&str, &str)> = secondaries(spec)
        .map(|i| (i.instance_id.as_str(), i.network_interface_id.as_str()))
        .collect();
    let mut first_error = None;
    for instance_id in vms.runtime.known_instances()? {
        if vms.runtime.pid(&instance_id).await?.is_none() {
            continue;
        }
        let nics = match vms.runtime.hotplugged_nics(&instance_id).await {
            Ok(nics) => nics,
            Err(e) => {
                first_error.get_or_insert(e);
                continue;
            }
        };
        for eni in nics.keys() {
            if wanted.contains(&(instance_id.as_str(), eni.as_str())) {
                continue;
            }
            match vms.runtime.unplug_nic(&instance_id, eni).await {
                Ok(()) => {
                    vms.plugged().remove(eni);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// Remove this agent's secondary-interface veths and taps the spec no longer names.
pub async fn remove_absent(plumbing: &VpcPlumbing, spec: &HostNetworkSpec) -> Result<()> {
    let wanted: BTreeSet<&str> = secondaries(spec)
        .map(|i| i.network_interface_id.as_str())
        .collect();
    let host = plumbing.host().netns();
    for link in host.ip_json(&["link", "show"]).await? {
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
            && (name == veth_name(eni) || name == tap_name(eni))
            && !wanted.contains(eni)
        {
            host.delete_link(name).await?;
        }
    }
    Ok(())
}

/// Whether a local instance lacks a secondary interface the spec gives it (it started,
/// or its VM restarted, after the last pass): `ports` are the interfaces' host ports.
pub async fn unplugged(
    plumbing: &VpcPlumbing,
    spec: &HostNetworkSpec,
    ports: &BTreeMap<String, String>,
) -> bool {
    for interface in secondaries(spec) {
        let eni = &interface.network_interface_id;
        if HostNetwork::netns_path(&interface.instance_id).exists() {
            if !ports.contains_key(eni) {
                return true;
            }
        } else if let Some(vms) = plumbing.vm_nics() {
            if let Ok(Some(pid)) = vms.runtime.pid(&interface.instance_id).await {
                if vms.plugged().get(eni) != Some(&pid) {
                    return true;
                }
            }
        }
    }
    false
}

fn secondaries(spec: &HostNetworkSpec) -> impl Iterator<Item = &InterfaceSpec> {
    spec.vpcs
        .iter()
        .flat_map(|v| &v.interfaces)
        .filter(|i| i.device_index > 0)
}

fn subnet_of<'a>(vpc: &'a VpcSpec, interface: &InterfaceSpec) -> Option<&'a SubnetSpec> {
    vpc.subnets
        .iter()
        .find(|s| s.subnet_id == interface.subnet_id)
}

/// `a.b.c.d/len` of a subnet, checked.
fn subnet_network(subnet: &SubnetSpec) -> Result<String> {
    let base = subnet
        .cidr_block
        .split_once('/')
        .and_then(|(base, _)| base.parse::<Ipv4Addr>().ok())
        .ok_or_else(|| {
            NodeError::InvalidSpec(format!(
                "subnet {} CIDR {:?} is malformed",
                subnet.subnet_id, subnet.cidr_block
            ))
        })?;
    Ok(format!("{base}/{}", subnet.prefix_len))
}

fn check_device_index(interface: &InterfaceSpec) -> Result<()> {
    if (1..=MAX_DEVICE_INDEX).contains(&interface.device_index) {
        Ok(())
    } else {
        Err(NodeError::InvalidSpec(format!(
            "device index {} out of range",
            interface.device_index
        )))
    }
}
