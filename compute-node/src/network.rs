//! Host networking of instances: the VPC's bridge, a named network namespace plus a veth
//! pair per container, a tap device per VM. (The VPC's router namespace, VXLAN and NAT
//! are [`crate::vpc`]'s.)
//!
//! Everything is done with the `ip` command (iproute2) and `nft`, and every operation is
//! idempotent: the agent re-runs them on every convergence pass.
//!
//! Layout for an instance `i-…` in a VPC whose bridge is `kb-…`:
//! - bridge `kb-…`, up, without addresses (pure L2: the gateways and `169.254.169.254`
//!   are on the VPC's router namespace, a port of the same bridge);
//! - container: netns `kumo-<instance-id>` (`/var/run/netns/kumo-<instance-id>`), veth
//!   `kv<12 hex>` on the bridge, its peer `eth0` inside the netns with the instance's MAC
//!   and address, and a default route via the gateway;
//! - VM: tap `kt<12 hex>` on the bridge, for QEMU's `-netdev tap,ifname=…,script=no,downscript=no`.
//!
//! Isolation between VPCs: each has its own bridge, and the `inet kumo` nftables table
//! drops anything routed from one `kb-*` bridge to another.
//!
//! Clean-up: a bridge is removed once no instance uses it (no port left on it), and the
//! `inet kumo` table once no `kb-*` bridge is left ([`HostNetwork::remove_bridge_if_unused`],
//! [`HostNetwork::sweep`]). Whose a bridge is shows in its MAC address, set atomically when
//! it is created: derived from the owner's tag (the agent's host id) and the bridge name,
//! so a sweep never touches the bridges of another agent sharing the machine (tests run
//! several). Bridges made before owners existed carry the name-only MAC and count as
//! anyone's.
//!
//! [`HostNetwork::in_netns`] runs all of this inside another network namespace instead
//! of the current one (tests use it to stay out of the host's root namespace).

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use kumo_common::ids::InstanceId;
use kumo_compute_protocol::NetworkAttachment;
use sha2::{Digest, Sha256};

use crate::error::{run, NodeError, Result};
use crate::netns::Netns;

/// Where `ip netns` keeps named network namespaces.
pub const NETNS_DIR: &str = "/var/run/netns";

/// The metadata service's address, held by every VPC router's gateway link.
pub const METADATA_ADDR: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// The nftables rule set that keeps bridges apart, with `{ELEMENTS}` the `same_bridge`
/// entries of the host's `kb-*` bridges: created (or reset) in one atomic `nft`
/// transaction, so running it again changes nothing.
///
/// The Linux bridge netfilter hook (`bridge-nf-call-iptables`, built in and on here) also
/// sends traffic *within* a bridge through the `forward` hook, with the bridge as both
/// input and output interface: the `same_bridge` set lets that through, and everything
/// else between two `kb-*` interfaces is dropped.
const ISOLATION_RULESET: &str = "add table inet kumo; \
     add set inet kumo same_bridge { type ifname . ifname; }; \
     add element inet kumo same_bridge { {ELEMENTS} }; \
     add chain inet kumo forward { type filter hook forward priority 0; policy accept; }; \
     flush chain inet kumo forward; \
     add rule inet kumo forward iifname . oifname @same_bridge accept; \
     add rule inet kumo forward iifname \"kb-*\" oifname \"kb-*\" drop";

/// Host networking for instances. Holds no global state: everything is on the host.
#[derive(Debug, Clone, Default)]
pub struct HostNetwork {
    /// The named network namespace that plays the host's role; `None`: the current one.
    host_netns: Option<String>,
    /// Whose bridges these are (the agent's host id); goes into each bridge's MAC.
    owner: Option<String>,
}

impl HostNetwork {
    /// Work in the current network namespace.
    pub fn new() -> Self {
        Self::default()
    }

    /// Work inside the named network namespace `name` (which must exist) as if it were
    /// the host: bridges, host ends of veths, taps and nftables rules go there. Instance
    /// namespaces are still named `kumo-<instance-id>`.
    pub fn in_netns(name: &str) -> Self {
        Self {
            host_netns: Some(name.to_string()),
            owner: None,
        }
    }

    /// Mark the bridges this creates as `owner`'s (the agent's host id), so that
    /// [`Self::sweep`] removes only its own.
    pub fn with_owner(mut self, owner: &str) -> Self {
        self.owner = Some(owner.to_string());
        self
    }

    /// The namespace this works in (`None`: the current one).
    pub fn host_netns(&self) -> Option<&str> {
        self.host_netns.as_deref()
    }

    /// Host end of an instance's veth pair: `kv` + 12 hex digits of sha256(id).
    pub fn veth_name(instance_id: &str) -> String {
        format!("kv{}", short_hash(instance_id))
    }

    /// A VM's tap device: `kt` + 12 hex digits of sha256(id).
    pub fn tap_name(instance_id: &str) -> String {
        format!("kt{}", short_hash(instance_id))
    }

    /// A container's network namespace name: `kumo-<instance-id>`.
    pub fn netns_name(instance_id: &str) -> String {
        format!("kumo-{instance_id}")
    }

    /// A container's network namespace path: `/var/run/netns/kumo-<instance-id>`.
    pub fn netns_path(instance_id: &str) -> PathBuf {
        Path::new(NETNS_DIR).join(Self::netns_name(instance_id))
    }

    /// The attachment's bridge (its VPC's): created if missing, up, without addresses
    /// (the gateways live in the VPC's router namespace); plus the isolation rules.
    pub async fn ensure_bridge(&self, att: &NetworkAttachment) -> Result<()> {
        validate_attachment(att)?;
        self.ensure_bare_bridge(&att.bridge).await
    }

    /// A bridge without addresses, created if missing (with this owner's MAC), up; plus
    /// the isolation rules.
    pub async fn ensure_bare_bridge(&self, br: &str) -> Result<()> {
        validate_link_name(br)?;
        if !self.link_exists(br).await {
            // A fixed MAC: otherwise the bridge takes its ports' lowest MAC, which changes
            // as instances come and go.
            let mac = bridge_mac(self.owner.as_deref(), br);
            if let Err(e) = self
                .ip(&["link", "add", br, "address", &mac, "type", "bridge"])
                .await
            {
                // Someone else may have created it in the meantime.
                if !self.link_exists(br).await {
                    return Err(e);
                }
            }
        }
        self.ip(&["link", "set", br, "up"]).await?;
        self.ensure_isolation(br).await
    }

    /// Attach a container: its netns (created if missing), a veth pair whose host end is
    /// on the bridge and whose other end is `eth0` in the netns with the instance's MAC and
    /// address, `lo` up, default route via the gateway. Creates the bridge if needed.
    /// Returns the netns path, for the OCI config.
    pub async fn attach_container(
        &self,
        instance_id: &str,
        att: &NetworkAttachment,
    ) -> Result<PathBuf> {
        InstanceId::parse(instance_id)?;
        self.ensure_bridge(att).await?;
        let ns = Self::netns_name(instance_id);
        let ns_path = Self::netns_path(instance_id);
        if !ns_path.exists() {
            if let Err(e) = run("ip", &["netns", "add", &ns]).await {
                if !ns_path.exists() {
                    return Err(e);
                }
            }
        }
        let veth = Self::veth_name(instance_id);
        let host_end = self.link_exists(&veth).await;
        let inner_end = link_exists_in(&ns, "eth0").await;
        if host_end && !inner_end {
            // Half an attachment (the peer went elsewhere): start over.
            self.ip(&["link", "del", &veth]).await?;
        }
        if !inner_end || !host_end {
            if inner_end {
                run("ip", &["-n", &ns, "link", "del", "eth0"]).await?;
            }
            self.ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "address", &att.mac,
                "netns", &ns,
            ])
            .await?;
        }
        self.ip(&["link", "set", &veth, "master", &att.bridge])
            .await?;
        self.ip(&["link", "set", &veth, "up"]).await?;

        // Inside the instance's namespace.
        let current_mac = link_mac_in(&ns, "eth0").await?;
        if !current_mac.eq_ignore_ascii_case(&att.mac) {
            run("ip", &["-n", &ns, "link", "set", "eth0", "down"]).await?;
            run(
                "ip",
                &["-n", &ns, "link", "set", "eth0", "address", &att.mac],
            )
            .await?;
        }
        let want = format!("{}/{}", att.ip, att.prefix_len);
        for old in Netns::named(&ns).ipv4_addresses("eth0").await? {
            if old != want {
                run("ip", &["-n", &ns, "addr", "del", &old, "dev", "eth0"]).await?;
            }
        }
        run("ip", &["-n", &ns, "addr", "replace", &want, "dev", "eth0"]).await?;
        run("ip", &["-n", &ns, "link", "set", "lo", "up"]).await?;
        run("ip", &["-n", &ns, "link", "set", "eth0", "up"]).await?;
        let gw = att.gateway.to_string();
        run(
            "ip",
            &[
                "-n", &ns, "route", "replace", "default", "via", &gw, "dev", "eth0",
            ],
        )
        .await?;
        Ok(ns_path)
    }

    /// Attach a VM: a tap device on the bridge, up (created if missing; the bridge too).
    /// Returns the tap's name for QEMU.
    pub async fn attach_vm(&self, instance_id: &str, att: &NetworkAttachment) -> Result<String> {
        InstanceId::parse(instance_id)?;
        self.ensure_bridge(att).await?;
        let tap = Self::tap_name(instance_id);
        if !self.link_exists(&tap).await {
            if let Err(e) = self
                .ip(&["tuntap", "add", "dev", &tap, "mode", "tap"])
                .await
            {
                if !self.link_exists(&tap).await {
                    return Err(e);
                }
            }
        }
        self.ip(&["link", "set", &tap, "master", &att.bridge])
            .await?;
        self.ip(&["link", "set", &tap, "up"]).await?;
        Ok(tap)
    }

    /// Remove an instance's veth, tap and netns; anything already gone is fine.
    pub async fn detach(&self, instance_id: &str) -> Result<()> {
        InstanceId::parse(instance_id)?;
        for link in [Self::veth_name(instance_id), Self::tap_name(instance_id)] {
            if self.link_exists(&link).await {
                if let Err(e) = self.ip(&["link", "del", &link]).await {
                    if self.link_exists(&link).await {
                        return Err(e);
                    }
                }
            }
        }
        let ns_path = Self::netns_path(instance_id);
        if ns_path.exists() {
            let ns = Self::netns_name(instance_id);
            if let Err(e) = run("ip", &["netns", "del", &ns]).await {
                if ns_path.exists() {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Delete a subnet's bridge (when no instance uses it any more); fine if already gone.
    pub async fn remove_bridge(&self, bridge: &str) -> Result<()> {
        validate_link_name(bridge)?;
        if self.link_exists(bridge).await {
            if let Err(e) = self.ip(&["link", "del", bridge]).await {
                if self.link_exists(bridge).await {
                    return Err(e);
                }
            }
        }
        // Fails when the table or the element is not there: nothing to remove then.
        let _ = self
            .nft(&format!(
                "delete element inet kumo same_bridge {{ \"{bridge}\" . \"{bridge}\" }}"
            ))
            .await;
        Ok(())
    }

    /// The bridge (if any) an instance's veth or tap is a port of.
    pub async fn bridge_of(&self, instance_id: &str) -> Option<String> {
        for link in [Self::veth_name(instance_id), Self::tap_name(instance_id)] {
            let Ok(out) = self.ip(&["-j", "link", "show", "dev", &link]).await else {
                continue;
            };
            let master = serde_json::from_str::<serde_json::Value>(&out)
                .ok()
                .and_then(|v| v.get(0)?.get("master")?.as_str().map(str::to_string));
            if master.is_some() {
                return master;
            }
        }
        None
    }

    /// The ports (veths, taps) on a bridge; empty when the bridge is gone.
    pub async fn bridge_ports(&self, bridge: &str) -> Result<Vec<String>> {
        validate_link_name(bridge)?;
        if !self.link_exists(bridge).await {
            return Ok(Vec::new());
        }
        let out = self.ip(&["-j", "link", "show", "master", bridge]).await?;
        Ok(link_names(&out))
    }

    /// Remove the bridge if no instance uses it any more (no port is left on it), and the
    /// isolation table once no `kb-*` bridge is left. Returns whether the bridge went.
    /// The caller makes sure no attachment to this bridge is under way.
    pub async fn remove_bridge_if_unused(&self, bridge: &str) -> Result<bool> {
        if !self.bridge_ports(bridge).await?.is_empty() {
            return Ok(false);
        }
        self.remove_bridge(bridge).await?;
        self.remove_isolation_if_unused().await?;
        Ok(true)
    }

    /// Remove this owner's `kb-*` bridges that have no port and are not in `keep` (the
    /// bridges of instances the caller knows), then the isolation table if no `kb-*`
    /// bridge is left. Returns the bridges removed. The caller makes sure no attachment
    /// is under way.
    pub async fn sweep(&self, keep: &HashSet<String>) -> Result<Vec<String>> {
        let out = self.ip(&["-j", "link", "show", "type", "bridge"]).await?;
        let mut removed = Vec::new();
        for (name, address) in links_with_address(&out) {
            if !name.starts_with("kb-")
                || validate_link_name(&name).is_err()
                || keep.contains(&name)
            {
                continue;
            }
            let ours = address.eq_ignore_ascii_case(&bridge_mac(self.owner.as_deref(), &name))
                || address.eq_ignore_ascii_case(&bridge_mac(None, &name));
            if !ours || !self.bridge_ports(&name).await?.is_empty() {
                continue;
            }
            self.remove_bridge(&name).await?;
            removed.push(name);
        }
        self.remove_isolation_if_unused().await?;
        Ok(removed)
    }

    /// The `kb-*` bridges on the host.
    pub async fn bridges(&self) -> Result<Vec<String>> {
        let out = self.ip(&["-j", "link", "show", "type", "bridge"]).await?;
        Ok(link_names(&out)
            .into_iter()
            .filter(|n| n.starts_with("kb-"))
            .collect())
    }

    /// Delete the `inet kumo` table when no `kb-*` bridge is left; fine if it is gone.
    async fn remove_isolation_if_unused(&self) -> Result<()> {
        if self.bridges().await?.is_empty() {
            // Fails when there is no such table: nothing to remove then.
            let _ = self.nft("delete table inet kumo").await;
        }
        Ok(())
    }

    /// The `inet kumo` table: drop forwarding between `kb-*` bridges, let each bridge's
    /// own traffic through. Covers every `kb-*` bridge on the host, not just `bridge`, so
    /// a lost rule set comes back whole.
    async fn ensure_isolation(&self, bridge: &str) -> Result<()> {
        let mut bridges = vec![bridge.to_string()];
        let out = self.ip(&["-j", "link", "show", "type", "bridge"]).await?;
        if let Ok(serde_json::Value::Array(links)) = serde_json::from_str(&out) {
            for link in links {
                if let Some(name) = link.get("ifname").and_then(|n| n.as_str()) {
                    if name.starts_with("kb-")
                        && validate_link_name(name).is_ok()
                        && !bridges.iter().any(|b| b == name)
                    {
                        bridges.push(name.to_string());
                    }
                }
            }
        }
        let elements = bridges
            .iter()
            .map(|b| format!("\"{b}\" . \"{b}\""))
            .collect::<Vec<_>>()
            .join(", ");
        self.nft(&ISOLATION_RULESET.replace("{ELEMENTS}", &elements))
            .await
            .map(|_| ())
    }

    /// The namespace this works in, to run commands there.
    pub fn netns(&self) -> Netns {
        Netns::from_option(self.host_netns.as_deref())
    }

    /// `nft <script>` in the host namespace.
    async fn nft(&self, script: &str) -> Result<String> {
        self.netns().nft(script).await
    }

    /// `ip …` in the host namespace.
    async fn ip(&self, args: &[&str]) -> Result<String> {
        self.netns().ip(args).await
    }

    async fn link_exists(&self, name: &str) -> bool {
        self.netns().link_exists(name).await
    }
}

/// A stable, locally administered unicast MAC for a bridge, from its owner and name
/// (the name alone for bridges without an owner, as before owners existed).
pub(crate) fn bridge_mac(owner: Option<&str>, bridge: &str) -> String {
    let seed = match owner {
        Some(owner) => format!("kumo-bridge:{owner}:{bridge}"),
        None => format!("kumo-bridge:{bridge}"),
    };
    derived_mac(&seed)
}

/// A stable, locally administered unicast MAC derived from `seed`.
pub(crate) fn derived_mac(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    let mut bytes = [0u8; 6];
    bytes.copy_from_slice(&digest[..6]);
    bytes[0] = (bytes[0] & 0xfc) | 0x02;
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The `ifname`s in `ip -j link show` output.
fn link_names(json: &str) -> Vec<String> {
    links_with_address(json)
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

/// The (`ifname`, `address`) pairs in `ip -j link show` output.
fn links_with_address(json: &str) -> Vec<(String, String)> {
    let Ok(serde_json::Value::Array(links)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    links
        .iter()
        .filter_map(|l| {
            let name = l.get("ifname")?.as_str()?.to_string();
            let address = l
                .get("address")
                .and_then(|a| a.as_str())
                .unwrap_or_default()
                .to_string();
            Some((name, address))
        })
        .collect()
}

fn short_hash(instance_id: &str) -> String {
    let digest = Sha256::digest(instance_id.as_bytes());
    hex::encode(&digest[..6])
}

async fn link_exists_in(ns: &str, name: &str) -> bool {
    run("ip", &["-n", ns, "link", "show", "dev", name])
        .await
        .is_ok()
}

/// The MAC address of a link in a namespace.
async fn link_mac_in(ns: &str, name: &str) -> Result<String> {
    let out = run("ip", &["-j", "-n", ns, "link", "show", "dev", name]).await?;
    let v: serde_json::Value = serde_json::from_str(&out)
        .map_err(|e| NodeError::Other(format!("ip -j link show {name}: {e}")))?;
    Ok(v.get(0)
        .and_then(|l| l.get("address"))
        .and_then(|a| a.as_str())
        .unwrap_or_default()
        .to_string())
}

/// A Linux interface name we create (bridge, veth, tap): 1–15 safe characters.
pub(crate) fn validate_link_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(NodeError::InvalidSpec(format!(
            "link name {name:?} must be 1–15 characters of [A-Za-z0-9._-]"
        )))
    }
}

fn validate_attachment(att: &NetworkAttachment) -> Result<()> {
    validate_link_name(&att.bridge)?;
    if att.prefix_len == 0 || att.prefix_len > 30 {
        return Err(NodeError::InvalidSpec(format!(
            "prefix length /{} out of range",
            att.prefix_len
        )));
    }
    validate_mac(&att.mac)
}

/// `xx:xx:xx:xx:xx:xx` in hex.
pub(crate) fn validate_mac(mac: &str) -> Result<()> {
    let parts: Vec<&str> = mac.split(':').collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    if ok {
        Ok(())
    } else {
        Err(NodeError::InvalidSpec(format!("bad MAC address {mac:?}")))
    }
}
