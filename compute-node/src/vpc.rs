//! The VPC data plane of a host: converges the host to a [`HostNetworkSpec`] (see
//! `kumo_compute_protocol::network` for the layout). Every pass is idempotent and needs no
//! local state: what exists is read back from the host (names, MACs and link aliases say
//! whose and which VPC's a device is), so a restarted agent adopts what it finds.
//!
//! Per VPC (files: [`router`] for the router namespace, its transit link and the elastic
//! IPs' NAT; [`overlay`] for the VXLAN and its forwarding entries; [`eni`] for instances'
//! secondary interfaces: containers' veths, VMs' hot-plugged NICs):
//! - the bridge `kb-…` (no address), made here or by the first instance's port;
//! - the router namespace (`lo` carries the ownership mark
//!   `kumo-router owner=<host id> vpc=<vpc id>`), joined to the bridge by `kg-…` ↔ `gw`;
//! - `kx-…` when the host has a tunnel endpoint; `kr-…` ↔ `up` when it has an uplink;
//! - the metadata listener (in the router namespace, bound to `gw`), the VPC's dnsmasq
//!   ([`crate::dns`]), and, for the whole host, the security groups ([`crate::firewall`]).
//!
//! Whatever of this agent's the spec no longer names goes: the router namespace (and with
//! it `gw`, `up`, the NAT and dnsmasq's addresses), `kx`/`kg`/`kr` (with the host routes
//! and proxy-ARP entries of the elastic IPs), then the bridge once no instance port is
//! left on it.

pub mod eni;
pub mod overlay;
pub mod poll;
pub mod router;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use kumo_compute_protocol::network::{router_netns, VpcLinkNames, VpcSpec};
use kumo_compute_protocol::HostNetworkSpec;

use crate::dns::DnsServers;
use crate::error::{NodeError, Result};
use crate::firewall::Firewall;
use crate::metadata::MetadataService;
use crate::netns::{field, Netns};
use crate::network::{validate_link_name, validate_mac, HostNetwork, NETNS_DIR};

/// Prefix of every router namespace's name.
pub const ROUTER_NETNS_PREFIX: &str = "kumo-r-";

/// Converges a host's VPC plumbing. Cheap to share behind an `Arc`.
pub struct VpcPlumbing {
    host: HostNetwork,
    owner: String,
    metadata: MetadataService,
    dns: Option<DnsServers>,
    firewall: Firewall,
    /// The host's VMs, for hot-plugging their secondary interfaces.
    vm_nics: Option<eni::VmNics>,
    /// Router namespace → the NAT script last applied there (skips unchanged ones).
    nat_applied: tokio::sync::Mutex<BTreeMap<String, String>>,
    /// The generation and [`structure`] of the last pass that converged everything.
    converged: tokio::sync::Mutex<Option<(i64, HostNetworkSpec)>>,
}

impl std::fmt::Debug for VpcPlumbing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VpcPlumbing")
            .field("host_netns", &self.host.host_netns())
            .field("owner", &self.owner)
            .finish()
    }
}

/// What a link alias or a router namespace's mark says: whose and which VPC's it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub owner: String,
    pub vpc_id: String,
    /// A secondary interface's veth: its interface id.
    pub eni: Option<String>,
}

impl Mark {
    pub fn render(&self, what: &str) -> String {
        match &self.eni {
            Some(eni) => format!("{what} owner={} vpc={} eni={eni}", self.owner, self.vpc_id),
            None => format!("{what} owner={} vpc={}", self.owner, self.vpc_id),
        }
    }

    pub fn parse(alias: &str) -> Option<Self> {
        let mut words = alias.split_whitespace();
        if !words.next()?.starts_with("kumo-") {
            return None;
        }
        let (mut owner, mut vpc_id, mut eni) = (None, None, None);
        for word in words {
            match word.split_once('=')? {
                ("owner", v) => owner = Some(v.to_string()),
                ("vpc", v) => vpc_id = Some(v.to_string()),
                ("eni", v) => eni = Some(v.to_string()),
                _ => {}
            }
        }
        Some(Self {
            owner: owner?,
            vpc_id: vpc_id?,
            eni,
        })
    }
}

impl VpcPlumbing {
    /// Plumbing in `host` (its namespace and owner: the agent's host id, which goes into
    /// every name, MAC and mark that must differ between hosts).
    pub fn new(host: HostNetwork, owner: &str, metadata: MetadataService) -> Self {
        let firewall = Firewall::new(host.host_netns());
        Self {
            host: host.with_owner(owner),
            owner: owner.to_string(),
            metadata,
            dns: None,
            firewall,
            vm_nics: None,
            nat_applied: tokio::sync::Mutex::new(BTreeMap::new()),
            converged: tokio::sync::Mutex::new(None),
        }
    }

    /// Run a dnsmasq per VPC (DHCP and DNS) with these servers.
    pub fn with_dns(mut self, dns: DnsServers) -> Self {
        self.dns = Some(dns);
        self
    }

    /// Hot-plug the secondary interfaces of the VMs `vms` runs (QEMU must run in this
    /// plumbing's host namespace, where the taps are made).
    pub fn with_vms(mut self, vms: std::sync::Arc<crate::vm::VmRuntime>) -> Self {
        self.vm_nics = Some(eni::VmNics::new(vms));
        self
    }

    pub(crate) fn vm_nics(&self) -> Option<&eni::VmNics> {
        self.vm_nics.as_ref()
    }

    pub fn host(&self) -> &HostNetwork {
        &self.host
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// The router namespace of `vpc_id` on this host.
    pub fn router_netns(&self, vpc_id: &str) -> String {
        router_netns(&self.owner, vpc_id)
    }

    /// Converge the host to `spec`: every VPC it names built (each on its own: one
    /// failing VPC does not stop the others), everything of this agent's it no longer
    /// names removed, then the security groups. Returns the first error.
    pub async fn converge(&self, spec: &HostNetworkSpec) -> Result<()> {
        let structure = structure(spec);
        let mut converged = self.converged.lock().await;
        // A new generation that changed only security groups: the devices were converged
        // for this structure already, so only the rule set is re-rendered (unless an
        // instance that started since lacks a secondary interface). (The same generation
        // again, a timed-out poll, re-asserts everything.)
        if let Some((generation, last)) = converged.as_mut() {
            let ports = self.ports(spec).await;
            if *generation != spec.generation
                && *last == structure
                && !eni::unplugged(self, spec, &ports).await
            {
                self.firewall.apply(spec, &ports).await?;
                *generation = spec.generation;
                return Ok(());
            }
        }
        *converged = None;
        let mut first_error = None;
        let mut note = |what: &str, e: NodeError| {
            tracing::warn!(error = %e, "{what}");
            first_error.get_or_insert(e);
        };
        // Security groups first, with the ports there already: a rule change is enforced
        // without waiting for the pass over every VPC's devices (hundreds of ms of `ip`
        // runs); the apply at the end adds the ports this pass made (skipped if unchanged).
        let ports = self.ports(spec).await;
        if let Err(e) = self.firewall.apply(spec, &ports).await {
            note("applying the security groups failed", e);
        }
        if let Err(e) = eni::unplug_absent(self, spec).await {
            note("unplugging VMs' secondary interfaces failed", e);
        }
        let mut wanted = HashSet::new();
        let public = spec.host.uplink.is_some()
            && spec
                .vpcs
                .iter()
                .any(|v| !router::public_mappings(v).is_empty());
        if public {
            if let Err(e) = router::prepare_host(&self.host.netns(), &spec.host).await {
                note("preparing the host for elastic IPs failed", e);
            }
        }
        for vpc in &spec.vpcs {
            wanted.insert(vpc.vpc_id.clone());
            if let Err(e) = self.converge_vpc(spec, vpc).await {
                note(&format!("converging VPC {} failed", vpc.vpc_id), e);
            }
        }
        if let Err(e) = self.remove_absent(&wanted).await {
            note("removing VPCs this host no longer carries failed", e);
        }
        if let Err(e) = eni::remove_absent(self, spec).await {
            note("removing secondary interfaces failed", e);
        }
        let ports = self.ports(spec).await;
        if let Err(e) = self.firewall.apply(spec, &ports).await {
            note("applying the security groups failed", e);
        }
        match first_error {
            Some(e) => Err(e),
            None => {
                *converged = Some((spec.generation, structure));
                Ok(())
            }
        }
    }

    /// Force the next pass to re-apply the nftables rule sets even when unchanged (a
    /// periodic re-assertion against edits from outside).
    pub async fn forget_applied(&self) {
        self.firewall.forget().await;
        self.nat_applied.lock().await.clear();
        *self.converged.lock().await = None;
    }

    /// Remove everything of this agent's, whatever the spec (tests; decommissioning).
    pub async fn remove_everything(&self) -> Result<()> {
        eni::unplug_absent(self, &HostNetworkSpec::default()).await?;
        self.remove_absent(&HashSet::new()).await?;
        eni::remove_absent(self, &HostNetworkSpec::default()).await?;
        self.firewall.remove().await.map(|_| ())
    }

    async fn converge_vpc(&self, spec: &HostNetworkSpec, vpc: &VpcSpec) -> Result<()> {
        let names = self.validate(vpc)?;
        let host = self.host.netns();
        let router_ns = self.router_netns(&vpc.vpc_id);
        let mark = Mark {
            owner: self.owner.clone(),
            vpc_id: vpc.vpc_id.clone(),
            eni: None,
        };
        self.host.ensure_bare_bridge(&names.bridge).await?;
        router::ensure_router(&host, &names, &router_ns, &mark, vpc).await?;
        overlay::converge(&host, &names, &mark, vpc, spec.host.vtep_address).await?;
        let nat = router::converge_transit(
            &host,
            &names,
            &router_ns,
            &mark,
            vpc,
            spec.host.uplink.as_deref(),
        )
        .await?;
        {
            let mut applied = self.nat_applied.lock().await;
            if applied.get(&router_ns) != Some(&nat) {
                Netns::named(&router_ns).nft_script(&nat).await?;
                applied.insert(router_ns.clone(), nat);
            }
        }
        self.metadata
            .ensure_listener_at(
                &names.bridge,
                Some(&router_ns),
                kumo_compute_protocol::network::ROUTER_GATEWAY_LINK,
            )
            .await?;
        eni::converge(self, &names, vpc).await?;
        if let Some(dns) = &self.dns {
            dns.ensure(&router_ns, vpc).await?;
        }
        Ok(())
    }

    /// The names a VPC's devices get, checked against what the spec says.
    fn validate(&self, vpc: &VpcSpec) -> Result<VpcLinkNames> {
        let names = VpcLinkNames::for_vpc(&vpc.vpc_id);
        let id_ok = vpc.vpc_id.len() <= 64
            && vpc.vpc_id.starts_with("vpc-")
            && vpc
                .vpc_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !id_ok {
            return Err(NodeError::InvalidSpec(format!(
                "VPC id {:?} is malformed",
                vpc.vpc_id
            )));
        }
        if vpc.bridge != names.bridge
            || vpc.vxlan != names.vxlan
            || vpc.router_netns != self.router_netns(&vpc.vpc_id)
        {
            return Err(NodeError::InvalidSpec(format!(
                "VPC {}: device names {}/{}/{} are not this host's",
                vpc.vpc_id, vpc.bridge, vpc.vxlan, vpc.router_netns
            )));
        }
        for name in [
            &names.bridge,
            &names.vxlan,
            &names.gateway_port,
            &names.transit,
        ] {
            validate_link_name(name)?;
        }
        if vpc.vni == 0 || vpc.vni >= 1 << 24 {
            return Err(NodeError::InvalidSpec(format!(
                "VNI {} out of range",
                vpc.vni
            )));
        }
        for subnet in &vpc.subnets {
            if subnet.prefix_len == 0 || subnet.prefix_len > 30 {
                return Err(NodeError::InvalidSpec(format!(
                    "subnet {} prefix /{} out of range",
                    subnet.subnet_id, subnet.prefix_len
                )));
            }
        }
        for remote in &vpc.remote_interfaces {
            validate_mac(&remote.mac)?;
        }
        for interface in &vpc.interfaces {
            validate_mac(&interface.mac)?;
        }
        Ok(names)
    }

    /// The VPCs this agent has plumbing for on the host (router namespaces and host
    /// links carrying its mark).
    pub async fn present_vpcs(&self) -> Result<BTreeSet<String>> {
        let mut vpcs = BTreeSet::new();
        for ns in router_namespaces() {
            if let Some(mark) = router_mark(&ns).await {
                if mark.owner == self.owner && ns == self.router_netns(&mark.vpc_id) {
                    vpcs.insert(mark.vpc_id);
                }
            }
        }
        for link in self.host.netns().ip_json(&["link", "show"]).await? {
            let Some(name) = field(&link, "ifname") else {
                continue;
            };
            if !["kx-", "kg-", "kr-"].iter().any(|p| name.starts_with(p)) {
                continue;
            }
            let mark = field(&link, "ifalias").and_then(Mark::parse);
            if let Some(mark) = mark.filter(|m| m.owner == self.owner && m.eni.is_none()) {
                if VpcLinkNames::for_vpc(&mark.vpc_id).bridge[3..] == name[3..] {
                    vpcs.insert(mark.vpc_id);
                }
            }
        }
        Ok(vpcs)
    }

    /// Remove the plumbing of every VPC of this agent's not in `keep`.
    async fn remove_absent(&self, keep: &HashSet<String>) -> Result<()> {
        let mut first_error = None;
        for vpc_id in self.present_vpcs().await? {
            if keep.contains(&vpc_id) {
                continue;
            }
            match self.remove_vpc(&vpc_id).await {
                Ok(()) => tracing::info!(vpc_id, "removed a VPC's plumbing: no interface left"),
                Err(e) => {
                    tracing::warn!(vpc_id, error = %e, "removing a VPC's plumbing failed");
                    first_error.get_or_insert(e);
                }
            }
        }
        // dnsmasq directories of router namespaces that are gone.
        if let Some(dns) = &self.dns {
            for ns in dns.managed() {
                if ns.starts_with(ROUTER_NETNS_PREFIX) && !Netns::named(&ns).exists() {
                    if let Err(e) = dns.stop(&ns).await {
                        first_error.get_or_insert(e);
                    }
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One VPC's plumbing, all of it (the bridge only if no instance port is left).
    pub async fn remove_vpc(&self, vpc_id: &str) -> Result<()> {
        let names = VpcLinkNames::for_vpc(vpc_id);
        let router_ns = self.router_netns(vpc_id);
        let host = self.host.netns();
        self.metadata.remove_listener(&names.bridge).await;
        if let Some(dns) = &self.dns {
            dns.stop(&router_ns).await?;
        }
        router::remove_transit(&host, &names.transit, None).await?;
        host.delete_link(&names.vxlan).await?;
        host.delete_link(&names.gateway_port).await?;
        Netns::named(&router_ns).delete().await?;
        self.nat_applied.lock().await.remove(&router_ns);
        self.host.remove_bridge_if_unused(&names.bridge).await?;
        Ok(())
    }

    /// Each local interface's host port (for the anti-spoofing rules): the primary's veth
    /// or tap, a secondary's veth, when it exists.
    async fn ports(&self, spec: &HostNetworkSpec) -> BTreeMap<String, String> {
        // One listing of the host's links instead of a command per candidate.
        let links: HashSet<String> = match self.host.netns().ip_json(&["link", "show"]).await {
            Ok(links) => links
                .iter()
                .filter_map(|l| field(l, "ifname").map(str::to_owned))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "listing the host's links failed");
                HashSet::new()
            }
        };
        let mut ports = BTreeMap::new();
        for interface in spec.vpcs.iter().flat_map(|v| &v.interfaces) {
            let candidates = if interface.device_index == 0 {
                vec![
                    HostNetwork::veth_name(&interface.instance_id),
                    HostNetwork::tap_name(&interface.instance_id),
                ]
            } else {
                vec![
                    eni::veth_name(&interface.network_interface_id),
                    eni::tap_name(&interface.network_interface_id),
                ]
            };
            for port in candidates {
                if links.contains(&port) {
                    ports.insert(interface.network_interface_id.clone(), port);
                    break;
                }
            }
        }
        ports
    }
}

/// `spec` less what only the security groups' rule set uses (the generation, the groups,
/// the interfaces' memberships): equal structures need the same devices.
fn structure(spec: &HostNetworkSpec) -> HostNetworkSpec {
    let mut structure = spec.clone();
    structure.generation = 0;
    for vpc in &mut structure.vpcs {
        vpc.security_groups.clear();
        for interface in &mut vpc.interfaces {
            interface.groups.clear();
        }
    }
    structure
}

/// The router namespaces on the machine (anyone's).
pub fn router_namespaces() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with(ROUTER_NETNS_PREFIX))
        .collect()
}

/// The mark on a router namespace's `lo`.
pub async fn router_mark(ns: &str) -> Option<Mark> {
    let lo = Netns::named(ns).link_details("lo").await?;
    field(&lo, "ifalias").and_then(Mark::parse)
}
