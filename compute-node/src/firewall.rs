//! Security groups on a host: the nftables rule set rendered from the host's
//! [`HostNetworkSpec`], applied as one atomic transaction.
//!
//! Two tables, both re-created whole in one `nft -f -` transaction (`add table` + `delete
//! table` + everything again), and only when the rendered text changed: the switch is
//! atomic, conntrack is untouched, so established flows survive unrelated rule changes.
//!
//! `table inet kumo_sg` (stateful; bridged IPv4 shows up here through br_netfilter with
//! `iifname`/`oifname` = the VPC's bridge, never the port):
//! - `zones` (prerouting, before conntrack): `ct zone set iifname map { bridge : zone }`,
//!   zone = 1 + vni % 65000, so that VPCs with the same addresses never share a flow.
//! - `forward`: anything not from a `kb-*` bridge passes; established/related pass,
//!   invalid drops; the metadata address passes; then `iifname vmap` → `vpc_<h>`.
//! - `vpc_<h>`: DNS (to the VPC's resolver, port 53) and DHCP (to/from the subnets'
//!   gateways) pass; `ip saddr vmap` → `out_<h>` of the local interface sending, else
//!   `goto ing_<h>`.
//! - `out_<h>` (egress): `jump eg_<h>` of each of its groups; `drop`. A group's egress
//!   rule that matches does `goto ing_<h>` (allowed out, now the ingress check).
//! - `ing_<h>`: `ip daddr vmap` → `in_<h>` of the local interface receiving, else
//!   `accept` (a remote interface: its host checks its ingress).
//! - `in_<h>`: `jump ig_<h>` of each of its groups; `drop`. `ig_<h>`: one `accept` per
//!   ingress rule.
//! - `sg_<h>`: the member addresses of each group a rule names (`ip saddr @sg_<h>`).
//!
//! Rules live once per group (not per interface): 1,000 rules and 100 interfaces make
//! ~1,000 nft rules, not 100,000.
//!
//! `table bridge kumo_spoof` (stateless, per instance port, through `iifname vmap` →
//! `port_<h>`): frames from another MAC, anything but IPv4 and ARP (no IPv6 in VPCs: it
//! would pass the IPv4-only groups), and — when source/dest check is on — IPv4 or ARP from
//! an address the interface does not own, are dropped.
//!
//! Names that reach nft are either generated (chains and sets: a prefix + 12 hex digits
//! of a hash of the ids) or validated (link names, MACs; addresses and CIDRs parsed and
//! printed back, ports and protocol numbers are integers): a hostile spec cannot inject.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;

use kumo_compute_protocol::network::{
    HostNetworkSpec, InterfaceSpec, RuleProtocol, RuleSpec, VpcSpec,
};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::error::{NodeError, Result};
use crate::netns::Netns;
use crate::network::{validate_link_name, validate_mac, METADATA_ADDR};

/// The stateful table (security groups).
pub const SG_TABLE: &str = "kumo_sg";
/// The anti-spoofing table (family `bridge`).
pub const SPOOF_TABLE: &str = "kumo_spoof";

/// The conntrack zone of a VPC's bridge: 1 + vni % 65000 (0 is the default zone).
pub fn conntrack_zone(vni: u32) -> u16 {
    // Fits: the remainder is below 65000.
    1 + (vni % 65_000) as u16
}

/// The host's firewall: applies rendered rule sets, skipping unchanged ones.
#[derive(Debug, Default)]
pub struct Firewall {
    /// The namespace that plays the host's role.
    host: Netns,
    /// What was last applied: `Some("")` after [`Self::remove`], `None` when unknown
    /// (after a start): the next apply or remove always runs.
    last_applied: Mutex<Option<String>>,
}

impl Firewall {
    /// A firewall in `host_netns` (`None`: the current namespace), as
    /// `HostNetwork::host_netns()` says.
    pub fn new(host_netns: Option<&str>) -> Self {
        Self {
            host: Netns::from_option(host_netns),
            last_applied: Mutex::new(None),
        }
    }

    /// Converge the host's firewall to `spec`: `ports` maps each local interface id to
    /// its host port (veth `kv…` / tap `kt…`; interfaces without one get no anti-spoofing
    /// yet). Returns whether nft ran (false: same text as last time). No VPC left:
    /// [`Self::remove`]. An invalid spec is refused whole and the last rule set stays.
    pub async fn apply(
        &self,
        spec: &HostNetworkSpec,
        ports: &BTreeMap<String, String>,
    ) -> Result<bool> {
        if spec.vpcs.is_empty() {
            return self.remove().await;
        }
        let script = render(spec, ports)?;
        let mut last = self.last_applied.lock().await;
        if last.as_deref() == Some(script.as_str()) {
            return Ok(false);
        }
        self.host.nft_script(&script).await?;
        *last = Some(script);
        Ok(true)
    }

    /// Delete both tables (fine when absent). Returns whether nft ran.
    pub async fn remove(&self) -> Result<bool> {
        let mut last = self.last_applied.lock().await;
        if last.as_deref() == Some("") {
            return Ok(false);
        }
        let script = format!(
            "add table inet {SG_TABLE}\ndelete table inet {SG_TABLE}\n\
             add table bridge {SPOOF_TABLE}\ndelete table bridge {SPOOF_TABLE}\n"
        );
        self.host.nft_script(&script).await?;
        *last = Some(String::new());
        Ok(true)
    }

    /// Forget what was applied: the next [`Self::apply`] runs nft even if unchanged (for
    /// a periodic re-assertion against outside edits).
    pub async fn forget(&self) {
        *self.last_applied.lock().await = None;
    }
}

/// The whole nft script (both tables) for `spec`; `ports`: local interface id → host
/// port name. Deterministic: the same spec (in any order) renders the same text.
pub fn render(spec: &HostNetworkSpec, ports: &BTreeMap<String, String>) -> Result<String> {
    let mut vpcs: Vec<&VpcSpec> = spec.vpcs.iter().collect();
    vpcs.sort_by(|a, b| a.vpc_id.cmp(&b.vpc_id));
    let mut names = Names::default();
    let mut sg = Script::new("inet", SG_TABLE);
    let mut zones = BTreeMap::new();
    let mut dispatch = BTreeMap::new();
    for vpc in &vpcs {
        check_bridge(&vpc.bridge)?;
        let chain = names.unique("vpc", &[&vpc.vpc_id])?;
        if dispatch.insert(vpc.bridge.clone(), chain.clone()).is_some() {
            return Err(invalid(format!(
                "bridge {:?} given to two VPCs",
                vpc.bridge
            )));
        }
        zones.insert(vpc.bridge.clone(), conntrack_zone(vpc.vni));
        render_vpc(&mut sg, &mut names, vpc, &chain)?;
    }

    let mut out = String::new();
    sg.base_chain("zones", "prerouting", -300);
    sg.base_chain("forward", "forward", 0);
    let zone_map = join(
        zones
            .iter()
            .map(|(bridge, zone)| format!("\"{bridge}\" : {zone}")),
    );
    sg.rule(
        "zones",
        &format!("ct zone set iifname map {{ {zone_map} }}"),
    );
    sg.rule("forward", "iifname != \"kb-*\" accept");
    sg.rule("forward", "ct state established,related accept");
    sg.rule("forward", "ct state invalid drop");
    sg.rule("forward", &format!("ip daddr {METADATA_ADDR} accept"));
    let vmap = join(
        dispatch
            .iter()
            .map(|(bridge, chain)| format!("\"{bridge}\" : jump {chain}")),
    );
    sg.rule("forward", &format!("iifname vmap {{ {vmap} }}"));
    sg.finish_into(&mut out);

    let mut spoof = Script::new("bridge", SPOOF_TABLE);
    render_spoof(&mut spoof, &mut names, &vpcs, ports)?;
    spoof.finish_into(&mut out);
    Ok(out)
}

/// One VPC's chains, sets and rules.
fn render_vpc(sg: &mut Script, names: &mut Names, vpc: &VpcSpec, chain: &str) -> Result<()> {
    let vpc_id = vpc.vpc_id.as_str();
    let ingress_chain = names.unique("ing", &[vpc_id])?;
    sg.chain(chain);
    sg.chain(&ingress_chain);

    // Groups: member sets (for every group listed) and rule chains.
    let mut groups: BTreeMap<&str, GroupNames> = BTreeMap::new();
    for group in &vpc.security_groups {
        let names = GroupNames {
            set: names.unique("sg", &[vpc_id, &group.group_id])?,
            egress: names.unique("eg", &[vpc_id, &group.group_id])?,
            ingress: names.unique("ig", &[vpc_id, &group.group_id])?,
        };
        if groups.insert(&group.group_id, names).is_some() {
            return Err(invalid(format!("group {:?} listed twice", group.group_id)));
        }
    }
    let mut group_specs: Vec<_> = vpc.security_groups.iter().collect();
    group_specs.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    for group in &group_specs {
        let own = &groups[group.group_id.as_str()];
        let members: BTreeSet<Ipv4Addr> = group.member_ips.iter().copied().collect();
        sg.set(&own.set, &members);
        sg.chain(&own.egress);
        sg.chain(&own.ingress);
        let mut egress = BTreeSet::new();
        for rule in &group.egress {
            egress.extend(rule_lines(rule, Direction::Egress, &groups)?);
        }
        for line in egress {
            sg.rule(&own.egress, &format!("{line} goto {ingress_chain}"));
        }
        let mut ingress = BTreeSet::new();
        for rule in &group.ingress {
            ingress.extend(rule_lines(rule, Direction::Ingress, &groups)?);
        }
        for line in ingress {
            sg.rule(&own.ingress, &format!("{line} accept"));
        }
    }

    // Exemptions: the VPC's resolver and DHCP with the router (its gateways).
    if let Some(dns) = vpc.dns_address {
        sg.rule(
            chain,
            &format!("ip daddr {dns} meta l4proto {{ tcp, udp }} th dport 53 accept"),
        );
    }
    let mut gateways = BTreeSet::new();
    for subnet in &vpc.subnets {
        gateways.insert(subnet.gateway);
    }
    if !gateways.is_empty() {
        let list = join(gateways.iter().map(Ipv4Addr::to_string));
        sg.rule(
            chain,
            &format!("ip daddr {{ 255.255.255.255, {list} }} udp sport 68 udp dport 67 accept"),
        );
        sg.rule(
            chain,
            &format!("ip saddr {{ {list} }} udp sport 67 udp dport 68 accept"),
        );
    }

    // Interfaces: per-interface chains, dispatched by address.
    let mut interfaces: Vec<&InterfaceSpec> = vpc.interfaces.iter().collect();
    interfaces.sort_by(|a, b| a.network_interface_id.cmp(&b.network_interface_id));
    let mut by_address: BTreeMap<Ipv4Addr, (String, String)> = BTreeMap::new();
    for interface in interfaces {
        let eni = interface.network_interface_id.as_str();
        let out_chain = names.unique("out", &[vpc_id, eni])?;
        let in_chain = names.unique("in", &[vpc_id, eni])?;
        sg.chain(&out_chain);
        sg.chain(&in_chain);
        let own_groups: BTreeSet<&str> = interface.groups.iter().map(String::as_str).collect();
        for group in own_groups {
            // A group the spec does not describe has no rules: nothing to jump to.
            if let Some(names) = groups.get(group) {
                sg.rule(&out_chain, &format!("jump {}", names.egress));
                sg.rule(&in_chain, &format!("jump {}", names.ingress));
            }
        }
        sg.rule(&out_chain, "drop");
        sg.rule(&in_chain, "drop");
        for ip in &interface.private_ips {
            let pair = (out_chain.clone(), in_chain.clone());
            if by_address.insert(*ip, pair).is_some() {
                return Err(invalid(format!(
                    "address {ip} on two interfaces of {vpc_id:?}"
                )));
            }
        }
    }
    if !by_address.is_empty() {
        let out = join(
            by_address
                .iter()
                .map(|(ip, (out, _))| format!("{ip} : goto {out}")),
        );
        let inn = join(
            by_address
                .iter()
                .map(|(ip, (_, inn))| format!("{ip} : goto {inn}")),
        );
        sg.rule(chain, &format!("ip saddr vmap {{ {out} }}"));
        sg.rule(&ingress_chain, &format!("ip daddr vmap {{ {inn} }}"));
    }
    sg.rule(chain, &format!("goto {ingress_chain}"));
    sg.rule(&ingress_chain, "accept");
    Ok(())
}

/// The anti-spoofing chains of every local interface that has a port.
fn render_spoof(
    spoof: &mut Script,
    names: &mut Names,
    vpcs: &[&VpcSpec],
    ports: &BTreeMap<String, String>,
) -> Result<()> {
    spoof.base_chain("prerouting", "prerouting", -200);
    let mut dispatch = BTreeMap::new();
    for vpc in vpcs {
        let mut interfaces: Vec<&InterfaceSpec> = vpc.interfaces.iter().collect();
        interfaces.sort_by(|a, b| a.network_interface_id.cmp(&b.network_interface_id));
        for interface in interfaces {
            let Some(port) = ports.get(&interface.network_interface_id) else {
                continue;
            };
            validate_link_name(port)?;
            validate_mac(&interface.mac)?;
            let chain = names.unique("port", &[&vpc.vpc_id, &interface.network_interface_id])?;
            if dispatch.insert(port.clone(), chain.clone()).is_some() {
                return Err(invalid(format!("port {port:?} given to two interfaces")));
            }
            let mac = interface.mac.to_ascii_lowercase();
            spoof.chain(&chain);
            spoof.rule(&chain, &format!("ether saddr != {mac} drop"));
            spoof.rule(&chain, "ether type != { ip, arp } drop");
            spoof.rule(&chain, &format!("arp saddr ether != {mac} drop"));
            if interface.source_dest_check {
                let owned: BTreeSet<Ipv4Addr> = interface.private_ips.iter().copied().collect();
                let list = join(
                    owned
                        .iter()
                        .map(Ipv4Addr::to_string)
                        .chain(["0.0.0.0".into()]),
                );
                spoof.rule(&chain, &format!("ip saddr != {{ {list} }} drop"));
                spoof.rule(&chain, &format!("arp saddr ip != {{ {list} }} drop"));
            }
        }
    }
    if !dispatch.is_empty() {
        let vmap = join(
            dispatch
                .iter()
                .map(|(port, chain)| format!("\"{port}\" : jump {chain}")),
        );
        spoof.rule("prerouting", &format!("iifname vmap {{ {vmap} }}"));
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    /// Matches the peer as the source (`ip saddr`).
    Ingress,
    /// Matches the peer as the destination (`ip daddr`).
    Egress,
}

struct GroupNames {
    set: String,
    egress: String,
    ingress: String,
}

/// The match expressions (without verdict) of one rule: one per peer alternative (its
/// CIDRs together, each group it names that the spec describes).
fn rule_lines(
    rule: &RuleSpec,
    direction: Direction,
    groups: &BTreeMap<&str, GroupNames>,
) -> Result<Vec<String>> {
    let protocol = protocol_match(rule)?;
    let field = match direction {
        Direction::Ingress => "ip saddr",
        Direction::Egress => "ip daddr",
    };
    let mut peers = Vec::new();
    if !rule.cidrs.is_empty() {
        let mut cidrs = BTreeSet::new();
        for cidr in &rule.cidrs {
            cidrs.insert(parse_cidr(cidr)?);
        }
        if cidrs.iter().any(|(_, len)| *len == 0) {
            // 0.0.0.0/0: any IPv4 address (still IPv4 only).
            peers.push("meta nfproto ipv4".to_string());
        } else {
            let list = join(cidrs.iter().map(|(net, len)| format!("{net}/{len}")));
            peers.push(format!("{field} {{ {list} }}"));
        }
    }
    let referenced: BTreeSet<&str> = rule.groups.iter().map(String::as_str).collect();
    for group in referenced {
        // A group the spec does not describe has no members the rule could match.
        if let Some(names) = groups.get(group) {
            peers.push(format!("{field} @{}", names.set));
        }
    }
    Ok(peers
        .into_iter()
        .map(|peer| match &protocol {
            Some(protocol) => format!("{peer} {protocol}"),
            None => peer,
        })
        .collect())
}

/// The protocol (and port / ICMP type) part of a rule; `None`: every protocol.
fn protocol_match(rule: &RuleSpec) -> Result<Option<String>> {
    let ports = |name: &str| -> Result<String> {
        match (rule.from_port, rule.to_port) {
            (Some(0), Some(65535)) | (None, _) | (_, None) => Ok(format!("meta l4proto {name}")),
            (Some(from), Some(to)) if from == to => Ok(format!("{name} dport {from}")),
            (Some(from), Some(to)) if from < to => Ok(format!("{name} dport {from}-{to}")),
            (Some(from), Some(to)) => Err(invalid(format!("port range {from}-{to} is reversed"))),
        }
    };
    Ok(match rule.protocol {
        RuleProtocol::All => None,
        RuleProtocol::Tcp => Some(ports("tcp")?),
        RuleProtocol::Udp => Some(ports("udp")?),
        RuleProtocol::Icmp => {
            let byte = |value: u16, what: &str| -> Result<u16> {
                if value > 255 {
                    Err(invalid(format!("ICMP {what} {value} is over 255")))
                } else {
                    Ok(value)
                }
            };
            let mut expression = "meta l4proto icmp".to_string();
            if let Some(kind) = rule.from_port {
                expression = format!("icmp type {}", byte(kind, "type")?);
            }
            if let Some(code) = rule.to_port {
                expression = format!("{expression} icmp code {}", byte(code, "code")?);
            }
            Some(expression)
        }
        RuleProtocol::Number(number) => Some(format!("meta l4proto {number}")),
    })
}

/// `a.b.c.d/n` → (network with host bits cleared, n).
fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || invalid(format!("bad IPv4 CIDR {text:?}"));
    let (address, length) = text.split_once('/').ok_or_else(bad)?;
    let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
    if length.is_empty() || length.len() > 2 || !length.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let length: u8 = length.parse().map_err(|_| bad())?;
    if length > 32 {
        return Err(bad());
    }
    let mask = u32::MAX.checked_shl(32 - u32::from(length)).unwrap_or(0);
    Ok((Ipv4Addr::from(u32::from(address) & mask), length))
}

/// A VPC bridge: a valid link name under `kb-` (the forward chain lets every other
/// interface's traffic through, so a bridge elsewhere would go unfiltered).
fn check_bridge(bridge: &str) -> Result<()> {
    validate_link_name(bridge)?;
    if bridge.starts_with("kb-") {
        Ok(())
    } else {
        Err(invalid(format!("bridge {bridge:?} is not a kb-… bridge")))
    }
}

fn invalid(message: String) -> NodeError {
    NodeError::InvalidSpec(message)
}

fn join(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join(", ")
}

/// Generated chain and set names: `<prefix>_` + 12 hex digits of sha256 of the parts;
/// a collision (or the same name asked twice) is refused rather than merged.
#[derive(Default)]
struct Names {
    given: HashSet<String>,
}

impl Names {
    fn unique(&mut self, prefix: &str, parts: &[&str]) -> Result<String> {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.as_bytes());
            hasher.update([0u8]);
        }
        let digest = hasher.finalize();
        let name = format!("{prefix}_{}", hex::encode(&digest[..6]));
        if self.given.insert(name.clone()) {
            Ok(name)
        } else {
            Err(invalid(format!("{prefix} name for {parts:?} given twice")))
        }
    }
}

/// One table's commands: declarations first (nft resolves `jump` and `@set` at once, so
/// chains and sets must exist before the rules that name them), then the rules.
struct Script {
    family: &'static str,
    table: &'static str,
    declarations: String,
    rules: String,
}

impl Script {
    fn new(family: &'static str, table: &'static str) -> Self {
        Self {
            family,
            table,
            declarations: String::new(),
            rules: String::new(),
        }
    }

    fn base_chain(&mut self, name: &str, hook: &str, priority: i32) {
        let (family, table) = (self.family, self.table);
        let _ = writeln!(
            self.declarations,
            "add chain {family} {table} {name} {{ type filter hook {hook} priority {priority}; policy accept; }}"
        );
    }

    fn chain(&mut self, name: &str) {
        let _ = writeln!(
            self.declarations,
            "add chain {} {} {name}",
            self.family, self.table
        );
    }

    fn set(&mut self, name: &str, members: &BTreeSet<Ipv4Addr>) {
        let (family, table) = (self.family, self.table);
        let _ = writeln!(
            self.declarations,
            "add set {family} {table} {name} {{ type ipv4_addr; }}"
        );
        if !members.is_empty() {
            let list = join(members.iter().map(Ipv4Addr::to_string));
            let _ = writeln!(
                self.declarations,
                "add element {family} {table} {name} {{ {list} }}"
            );
        }
    }

    fn rule(&mut self, chain: &str, rule: &str) {
        let _ = writeln!(
            self.rules,
            "add rule {} {} {chain} {rule}",
            self.family, self.table
        );
    }

    /// `add table` + `delete table` (a fresh table in the same transaction), then the rest.
    fn finish_into(self, out: &mut String) {
        let (family, table) = (self.family, self.table);
        let _ = writeln!(
            out,
            "add table {family} {table}\ndelete table {family} {table}\nadd table {family} {table}"
        );
        out.push_str(&self.declarations);
        out.push_str(&self.rules);
    }
}

#[cfg(test)]
mod tests;
