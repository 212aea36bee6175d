//! The VPC data plane a host must build: what the control plane tells an agent about the
//! VPCs its instances are in, and what the agent says about its own underlay.
//!
//! An agent long-polls `GET /v1/agent/network?after=<generation>`: the answer comes as soon
//! as anything in the catalog that shapes the host's network changed (an interface, an
//! address, a security-group rule, a route, an instance moving), or after a timeout with
//! the same generation. The answer is the whole desired network of the host: applying it
//! twice changes nothing, and a lost answer is made up by the next.
//!
//! Layout on a host, for each VPC with at least one interface there (names are derived by
//! the control plane, so an agent never invents one):
//! - a Linux bridge without addresses (`bridge`), holding the instances' veths and taps;
//! - a VXLAN device (`vxlan`, VNI `vni`, the host's `vtep_address`) on that bridge, with
//!   one forwarding entry per remote interface's MAC and one neighbour entry per remote
//!   address (answered locally: no flooding, no multicast);
//! - a router namespace (`router_netns`) joined to the bridge by a veth pair, holding every
//!   subnet's gateway, `169.254.169.254` (the metadata service), the DNS address, and the
//!   1:1 NAT of the elastic IPs towards the host's uplink.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `GET /v1/agent/network` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNetworkSpec {
    /// Grows with every change; send it back as `after` to wait for the next one.
    pub generation: i64,
    /// The host's underlay settings, as the operator set them or the agent reported them.
    pub host: HostNetworkSettings,
    /// Every VPC with an interface on this host, by VPC id.
    pub vpcs: Vec<VpcSpec>,
}

/// A host's underlay: where its VXLAN tunnels end, and where public traffic leaves.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNetworkSettings {
    /// The host's tunnel endpoint address; `None`: no VXLAN (instances reach only
    /// instances on the same host).
    pub vtep_address: Option<Ipv4Addr>,
    /// The interface that carries elastic IPs; `None`: no public traffic on this host.
    pub uplink: Option<String>,
}

/// What an agent reports about its underlay (in enrolment and every sync); the operator's
/// settings, where made, win.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostNetworkReport {
    pub vtep_address: Option<Ipv4Addr>,
    pub uplink: Option<String>,
}

/// One VPC as one host must carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VpcSpec {
    pub vpc_id: String,
    /// VXLAN network identifier (the catalog's, unique across the cloud).
    pub vni: u32,
    /// Host bridge (≤ 15 characters), e.g. `kb-1a2b3c4d5e6f`.
    pub bridge: String,
    /// VXLAN device (≤ 15 characters), e.g. `kx-1a2b3c4d5e6f`.
    pub vxlan: String,
    /// The router namespace's name (unique per host and VPC on the machine).
    pub router_netns: String,
    /// The VPC's CIDR blocks, e.g. `10.0.0.0/16`.
    pub cidr_blocks: Vec<String>,
    /// The resolver's address, the VPC's base + 2; `None` when DNS support is off.
    pub dns_address: Option<Ipv4Addr>,
    /// `ip-a-b-c-d.<domain>` names are answered for the VPC's addresses.
    pub dns_domain: String,
    /// Every subnet of the VPC (the gateways are on every host: distributed routing).
    pub subnets: Vec<SubnetSpec>,
    /// This host's interfaces in the VPC.
    pub interfaces: Vec<InterfaceSpec>,
    /// The VPC's interfaces on other hosts: where to send their frames.
    pub remote_interfaces: Vec<RemoteInterface>,
    /// Every security group a local interface is in, and every group their rules name.
    pub security_groups: Vec<SecurityGroupSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubnetSpec {
    pub subnet_id: String,
    /// e.g. `10.0.1.0/24`.
    pub cidr_block: String,
    /// The subnet's base + 1.
    pub gateway: Ipv4Addr,
    pub prefix_len: u8,
    /// The subnet's route table sends `0.0.0.0/0` to an attached internet gateway: its
    /// interfaces' elastic IPs carry traffic. Without it nothing leaves the VPC.
    pub internet_gateway: bool,
}

/// A local interface: an instance's (or a detached one, which gets no plumbing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceSpec {
    pub network_interface_id: String,
    /// The instance it is attached to, with its device index.
    pub instance_id: String,
    pub device_index: i32,
    pub subnet_id: String,
    /// `02:…`.
    pub mac: String,
    /// Every private address, the primary first.
    pub private_ips: Vec<Ipv4Addr>,
    /// When false the interface may send from and receive for any address.
    pub source_dest_check: bool,
    /// Its security groups' ids.
    pub groups: Vec<String>,
    /// Elastic (or launch-time public) addresses of its private addresses.
    pub public_ips: Vec<PublicMapping>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicMapping {
    pub private_ip: Ipv4Addr,
    pub public_ip: Ipv4Addr,
}

/// An interface on another host of the same VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteInterface {
    pub mac: String,
    pub private_ips: Vec<Ipv4Addr>,
    /// The tunnel endpoint of the host it is on.
    pub vtep_address: Ipv4Addr,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupSpec {
    pub group_id: String,
    /// The private addresses of every interface in the group, on any host (what a rule
    /// naming this group as its source or destination matches).
    pub member_ips: Vec<Ipv4Addr>,
    pub ingress: Vec<RuleSpec>,
    pub egress: Vec<RuleSpec>,
}

/// One rule: traffic of `protocol` (on `from_port..=to_port` for TCP/UDP, ICMP type/code
/// for ICMP) from (ingress) or to (egress) any of `cidrs` or any member of `groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSpec {
    pub protocol: RuleProtocol,
    /// TCP/UDP: the first port; ICMP: the type (`None`: any).
    pub from_port: Option<u16>,
    /// TCP/UDP: the last port; ICMP: the code (`None`: any).
    pub to_port: Option<u16>,
    /// IPv4 CIDRs, e.g. `0.0.0.0/0`.
    pub cidrs: Vec<String>,
    /// Group ids whose members match.
    pub groups: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleProtocol {
    /// `-1`: every protocol, every port.
    All,
    Tcp,
    Udp,
    Icmp,
    /// Another IP protocol number (ports do not apply).
    Number(u8),
}

/// Names of a VPC's devices on a host (each ≤ 15 characters, as Linux requires), all from
/// one hash of the VPC id so that every host names them alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VpcLinkNames {
    /// The VPC's bridge: `kb-` + 12 hex digits.
    pub bridge: String,
    /// Its VXLAN device: `kx-…`.
    pub vxlan: String,
    /// The bridge's port towards the router namespace: `kg-…` (its peer there is `gw`).
    pub gateway_port: String,
    /// The host end of the router namespace's link to the uplink side: `kr-…` (its peer
    /// there is `up`).
    pub transit: String,
}

impl VpcLinkNames {
    pub fn for_vpc(vpc_id: &str) -> Self {
        let hash = short_hash(vpc_id);
        Self {
            bridge: format!("kb-{hash}"),
            vxlan: format!("kx-{hash}"),
            gateway_port: format!("kg-{hash}"),
            transit: format!("kr-{hash}"),
        }
    }
}

/// The router namespace of a VPC on a host: `kumo-r-` + 12 hex digits of the pair, so that
/// agents sharing a machine (tests) never share one.
pub fn router_netns(host_id: &str, vpc_id: &str) -> String {
    format!("kumo-r-{}", short_hash(&format!("{host_id}/{vpc_id}")))
}

/// The router namespace's end of the bridge link, holding the gateways.
pub const ROUTER_GATEWAY_LINK: &str = "gw";
/// The router namespace's end of the transit link towards the host.
pub const ROUTER_TRANSIT_LINK: &str = "up";

fn short_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect()
}
