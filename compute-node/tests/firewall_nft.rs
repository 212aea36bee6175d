//! Security groups on a real kernel: a throw-away "host" namespace with two VPC bridges
//! (the same addresses on both), two "instance" namespaces on each joined by veths, the
//! rule set rendered from a `HostNetworkSpec` and applied with nft, and real TCP/UDP
//! sockets opened inside the instance namespaces. Needs root, iproute2 and nftables.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use kumo_compute_node::firewall::{render, Firewall};
use kumo_compute_node::network::HostNetwork;
use kumo_compute_protocol::network::{
    HostNetworkSettings, HostNetworkSpec, InterfaceSpec, RuleProtocol, RuleSpec, SecurityGroupSpec,
    SubnetSpec, VpcLinkNames, VpcSpec,
};

const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 10);
const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 11);
const SPOOFED_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 99);

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sh_output(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Throw-away namespaces, deleted when dropped (also when the test panics).
struct Namespaces(Vec<String>);

impl Namespaces {
    fn add(&mut self, role: &str) -> String {
        let name = format!("kfw{role}{:08x}", rand::random::<u32>());
        sh(&["ip", "netns", "add", &name]);
        self.0.push(name.clone());
        sh(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        name
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

/// Run `f` on a thread inside the namespace `ns`: sockets it opens stay there.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = format!("/var/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).unwrap();
        // SAFETY: setns on this thread only, with a valid namespace descriptor.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}");
        f()
    })
    .join()
    .unwrap()
}

/// An instance: its namespace with `eth0` (MAC, address) on the bridge through `port`.
struct Instance {
    netns: String,
    port: String,
    mac: String,
}

fn plug(
    namespaces: &mut Namespaces,
    host: &str,
    bridge: &str,
    ip: Ipv4Addr,
    mac: &str,
) -> Instance {
    let netns = namespaces.add("i");
    let port = HostNetwork::veth_name(&netns);
    sh(&[
        "ip", "-n", host, "link", "add", &port, "type", "veth", "peer", "name", "eth0", "address",
        mac, "netns", &netns,
    ]);
    sh(&["ip", "-n", host, "link", "set", &port, "master", bridge]);
    sh(&["ip", "-n", host, "link", "set", &port, "up"]);
    sh(&[
        "ip",
        "-n",
        &netns,
        "addr",
        "add",
        &format!("{ip}/24"),
        "dev",
        "eth0",
    ]);
    sh(&["ip", "-n", &netns, "link", "set", "eth0", "up"]);
    Instance {
        netns,
        port,
        mac: mac.to_string(),
    }
}

/// A TCP echo server on `port` inside `ns` (a thread per connection, for the test's life).
fn echo_server(ns: &str, port: u16) {
    let listener = in_netns(ns, move || TcpListener::bind(("0.0.0.0", port)).unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buffer = [0u8; 256];
                while let Ok(n) = stream.read(&mut buffer) {
                    if n == 0 || stream.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

/// A TCP connection from `ns` (from `source` when given) to `to`, or `None` when it does
/// not open within 1 s (dropped, or refused).
fn connect(ns: &str, source: Option<Ipv4Addr>, to: SocketAddrV4) -> Option<TcpStream> {
    in_netns(ns, move || {
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).ok()?;
        if let Some(source) = source {
            socket.bind(&SocketAddrV4::new(source, 0).into()).ok()?;
        }
        socket
            .connect_timeout(&to.into(), Duration::from_secs(1))
            .ok()?;
        let stream: TcpStream = socket.into();
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        Some(stream)
    })
}

/// The connection carries data both ways.
fn exchange(stream: &mut TcpStream, text: &str) -> bool {
    let mut buffer = vec![0u8; text.len()];
    stream.write_all(text.as_bytes()).is_ok()
        && stream.read_exact(&mut buffer).is_ok()
        && buffer == text.as_bytes()
}

/// A TCP connection opens and carries data (a few tries: the first SYN may wait on ARP).
fn works(ns: &str, source: Option<Ipv4Addr>, to: SocketAddrV4) -> bool {
    (0..3).any(|_| connect(ns, source, to).is_some_and(|mut s| exchange(&mut s, "ping")))
}

fn fails(ns: &str, source: Option<Ipv4Addr>, to: SocketAddrV4) -> bool {
    connect(ns, source, to).is_none()
}

fn rule(
    protocol: RuleProtocol,
    ports: Option<(u16, u16)>,
    cidrs: &[&str],
    groups: &[&str],
) -> RuleSpec {
    RuleSpec {
        protocol,
        from_port: ports.map(|p| p.0),
        to_port: ports.map(|p| p.1),
        cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

fn allow_all_out() -> Vec<RuleSpec> {
    vec![rule(RuleProtocol::All, None, &["0.0.0.0/0"], &[])]
}

fn interface(id: &str, instance: &Instance, ip: Ipv4Addr, group: &str) -> InterfaceSpec {
    InterfaceSpec {
        network_interface_id: id.to_string(),
        instance_id: format!("i-{id}"),
        device_index: 0,
        subnet_id: "subnet-1".to_string(),
        mac: instance.mac.clone(),
        private_ips: vec![ip],
        source_dest_check: true,
        groups: vec![group.to_string()],
        public_ips: Vec::new(),
    }
}

fn group(id: &str, members: &[Ipv4Addr], ingress: Vec<RuleSpec>) -> SecurityGroupSpec {
    SecurityGroupSpec {
        group_id: id.to_string(),
        member_ips: members.to_vec(),
        ingress,
        egress: allow_all_out(),
    }
}

fn vpc(
    vpc_id: &str,
    vni: u32,
    interfaces: Vec<InterfaceSpec>,
    groups: Vec<SecurityGroupSpec>,
) -> VpcSpec {
    let names = VpcLinkNames::for_vpc(vpc_id);
    VpcSpec {
        vpc_id: vpc_id.to_string(),
        vni,
        bridge: names.bridge,
        vxlan: names.vxlan,
        router_netns: "unused".to_string(),
        cidr_blocks: vec!["10.0.0.0/16".to_string()],
        dns_address: Some(Ipv4Addr::new(10, 0, 0, 2)),
        dns_domain: "ec2.internal".to_string(),
        subnets: vec![SubnetSpec {
            subnet_id: "subnet-1".to_string(),
            cidr_block: "10.0.1.0/24".to_string(),
            gateway: Ipv4Addr::new(10, 0, 1, 1),
            prefix_len: 24,
            internet_gateway: false,
        }],
        interfaces,
        remote_interfaces: Vec::new(),
        security_groups: groups,
    }
}

fn udp_socket(ns: &str, port: u16) -> UdpSocket {
    in_netns(ns, move || {
        let socket = UdpSocket::bind(("0.0.0.0", port)).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(700)))
            .unwrap();
        socket
    })
}

/// `from` (bound to `from_port` in its namespace) sends to `to`; whether `receiver`
/// (bound to `to`'s port in the destination namespace) gets it.
fn udp_delivered(from: &UdpSocket, to: SocketAddrV4, receiver: &UdpSocket) -> bool {
    let mut buffer = [0u8; 16];
    (0..3).any(|_| {
        from.send_to(b"datagram", to).unwrap();
        receiver.recv_from(&mut buffer).is_ok()
    })
}

/// The "host": a namespace passing bridged IPv4 through the inet hooks (per namespace;
/// the default, but be sure), with an up bridge per VPC. Returns it and the bridges.
fn host_with_bridges(namespaces: &mut Namespaces, vpc_ids: &[&str]) -> (String, Vec<String>) {
    let host = namespaces.add("h");
    let sysctl = "net.bridge.bridge-nf-call-iptables=1";
    sh(&["ip", "netns", "exec", &host, "sysctl", "-qw", sysctl]);
    let mut bridges = Vec::new();
    for vpc_id in vpc_ids {
        let bridge = VpcLinkNames::for_vpc(vpc_id).bridge;
        sh(&["ip", "-n", &host, "link", "add", &bridge, "type", "bridge"]);
        sh(&["ip", "-n", &host, "link", "set", &bridge, "up"]);
        bridges.push(bridge);
    }
    (host, bridges)
}

fn set_mac(ns: &str, mac: &str) {
    sh(&["ip", "-n", ns, "link", "set", "eth0", "address", mac]);
}

fn spec_of(vpcs: Vec<VpcSpec>) -> HostNetworkSpec {
    HostNetworkSpec {
        generation: 1,
        host: HostNetworkSettings::default(),
        vpcs,
    }
}

#[test]
fn security_groups_on_a_real_kernel() {
    let mut namespaces = Namespaces(Vec::new());
    let suffix = format!("{:08x}", rand::random::<u32>());
    let (vpc1_id, vpc2_id) = (format!("vpc-1{suffix}"), format!("vpc-2{suffix}"));
    let (host, bridges) = host_with_bridges(&mut namespaces, &[&vpc1_id, &vpc2_id]);
    // The same two addresses in both VPCs.
    let client = plug(
        &mut namespaces,
        &host,
        &bridges[0],
        CLIENT_IP,
        "02:00:00:01:00:0a",
    );
    let server = plug(
        &mut namespaces,
        &host,
        &bridges[0],
        SERVER_IP,
        "02:00:00:01:00:0b",
    );
    let client2 = plug(
        &mut namespaces,
        &host,
        &bridges[1],
        CLIENT_IP,
        "02:00:00:02:00:0a",
    );
    let server2 = plug(
        &mut namespaces,
        &host,
        &bridges[1],
        SERVER_IP,
        "02:00:00:02:00:0b",
    );
    let ports = BTreeMap::from([
        ("eni-client".to_string(), client.port.clone()),
        ("eni-server".to_string(), server.port.clone()),
        ("eni-client2".to_string(), client2.port.clone()),
        ("eni-server2".to_string(), server2.port.clone()),
    ]);

    // VPC 1: the server's group lets in TCP 80 (and UDP 5000) from the client's group.
    let web = rule(RuleProtocol::Tcp, Some((80, 80)), &[], &["sg-client"]);
    let udp = rule(RuleProtocol::Udp, Some((5000, 5001)), &[], &["sg-client"]);
    let ssh = rule(RuleProtocol::Tcp, Some((22, 22)), &[], &["sg-client"]);
    let vpc1 = vpc(
        &vpc1_id,
        101,
        vec![
            interface("eni-client", &client, CLIENT_IP, "sg-client"),
            interface("eni-server", &server, SERVER_IP, "sg-server"),
        ],
        vec![
            group("sg-client", &[CLIENT_IP], Vec::new()),
            group("sg-server", &[SERVER_IP], vec![web.clone(), udp.clone()]),
        ],
    );
    // VPC 2: same addresses, no ingress rule at all.
    let vpc2 = vpc(
        &vpc2_id,
        202,
        vec![
            interface("eni-client2", &client2, CLIENT_IP, "sg-client"),
            interface("eni-server2", &server2, SERVER_IP, "sg-server"),
        ],
        vec![
            group("sg-client", &[CLIENT_IP], Vec::new()),
            group("sg-server", &[SERVER_IP], Vec::new()),
        ],
    );
    let mut spec = spec_of(vec![vpc1, vpc2]);
    let firewall = Firewall::new(Some(&host));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let apply = |spec: &HostNetworkSpec| {
        let started = Instant::now();
        let ran = runtime.block_on(firewall.apply(spec, &ports)).unwrap();
        (ran, started.elapsed())
    };
    let (ran, took) = apply(&spec);
    assert!(ran);
    println!("apply, 2 VPCs / 4 interfaces: {took:?}");
    assert!(!apply(&spec).0, "an unchanged spec is not applied again");

    let to_server = |port| SocketAddrV4::new(SERVER_IP, port);
    echo_server(&server.netns, 80);
    echo_server(&server.netns, 22);
    echo_server(&client.netns, 80);
    echo_server(&server2.netns, 80);

    // Default-deny ingress; port 80 from the client's group only.
    assert!(works(&client.netns, None, to_server(80)), "port 80 allowed");
    assert!(
        fails(&client.netns, None, to_server(22)),
        "port 22 not allowed"
    );
    assert!(
        fails(&server.netns, None, SocketAddrV4::new(CLIENT_IP, 80)),
        "the client's group lets nothing in"
    );
    assert!(
        fails(&client2.netns, None, to_server(80)),
        "VPC 2 lets nothing in"
    );
    let mut held = connect(&client.netns, None, to_server(80)).expect("held connection");
    assert!(exchange(&mut held, "before"));

    // Authorize 22: works; revoke it: new connections stop; port 80's flow lives on.
    spec.vpcs[0].security_groups[1].ingress.push(ssh.clone());
    let (ran, took) = apply(&spec);
    assert!(ran);
    println!("apply, authorize tcp 22: {took:?}");
    assert!(
        works(&client.netns, None, to_server(22)),
        "port 22 after authorize"
    );
    assert!(exchange(&mut held, "after authorize"));
    spec.vpcs[0].security_groups[1]
        .ingress
        .retain(|r| r != &ssh);
    let (ran, took) = apply(&spec);
    assert!(ran);
    println!("apply, revoke tcp 22: {took:?}");
    assert!(
        fails(&client.netns, None, to_server(22)),
        "port 22 after revoke"
    );
    assert!(
        exchange(&mut held, "after revoke"),
        "established port-80 flow survives"
    );

    // Egress: without the allow-all egress rule nothing new leaves the client.
    spec.vpcs[0].security_groups[0].egress.clear();
    apply(&spec);
    assert!(fails(&client.netns, None, to_server(80)), "no egress rule");
    spec.vpcs[0].security_groups[0].egress = vec![rule(
        RuleProtocol::Tcp,
        Some((80, 80)),
        &["10.0.1.11/32"],
        &[],
    )];
    apply(&spec);
    assert!(
        works(&client.netns, None, to_server(80)),
        "egress tcp 80 to the server"
    );
    assert!(
        fails(&client.netns, None, to_server(22)),
        "egress allows 80 only"
    );
    spec.vpcs[0].security_groups[1].ingress.push(ssh.clone());
    apply(&spec);
    assert!(
        fails(&client.netns, None, to_server(22)),
        "ingress open, egress still closed"
    );
    spec.vpcs[0].security_groups[1]
        .ingress
        .retain(|r| r != &ssh);
    spec.vpcs[0].security_groups[0].egress = allow_all_out();
    apply(&spec);
    assert!(exchange(&mut held, "after egress changes"));

    // Anti-spoofing: the server lets in port 80 from the whole subnet; the client sends
    // from an address it does not own.
    sh(&[
        "ip",
        "-n",
        &client.netns,
        "addr",
        "add",
        &format!("{SPOOFED_IP}/32"),
        "dev",
        "eth0",
    ]);
    spec.vpcs[0].security_groups[1].ingress = vec![rule(
        RuleProtocol::Tcp,
        Some((80, 80)),
        &["10.0.1.0/24"],
        &[],
    )];
    apply(&spec);
    assert!(
        works(&client.netns, Some(CLIENT_IP), to_server(80)),
        "own address"
    );
    assert!(
        fails(&client.netns, Some(SPOOFED_IP), to_server(80)),
        "spoofed address"
    );
    spec.vpcs[0].interfaces[0].source_dest_check = false;
    apply(&spec);
    assert!(
        works(&client.netns, Some(SPOOFED_IP), to_server(80)),
        "source/dest check off"
    );
    spec.vpcs[0].interfaces[0].source_dest_check = true;
    apply(&spec);
    assert!(
        fails(&client.netns, Some(SPOOFED_IP), to_server(80)),
        "source/dest check on again"
    );
    set_mac(&client.netns, "02:00:00:01:00:99");
    assert!(
        fails(&client.netns, Some(CLIENT_IP), to_server(80)),
        "spoofed MAC"
    );
    set_mac(&client.netns, &client.mac);
    assert!(
        works(&client.netns, Some(CLIENT_IP), to_server(80)),
        "own MAC again"
    );
    spec.vpcs[0].security_groups[1].ingress = vec![web, udp];
    apply(&spec);
    assert!(exchange(&mut held, "after anti-spoofing"));

    // Conntrack zones: VPC 1's client→server UDP flow must not make VPC 2's server→client
    // datagram (the same addresses and ports, reversed) look like its reply.
    let zone_check = |client_port: u16, server_port: u16| {
        let sender = udp_socket(&client.netns, client_port);
        let receiver = udp_socket(&server.netns, server_port);
        assert!(
            udp_delivered(&sender, to_server(server_port), &receiver),
            "VPC 1 UDP allowed"
        );
        let sender2 = udp_socket(&server2.netns, server_port);
        let receiver2 = udp_socket(&client2.netns, client_port);
        udp_delivered(
            &sender2,
            SocketAddrV4::new(CLIENT_IP, client_port),
            &receiver2,
        )
    };
    assert!(
        !zone_check(4000, 5000),
        "VPC 2's datagram is not VPC 1's reply"
    );
    // Control: without the zones the same exchange gets through (the check is real).
    sh(&[
        "ip", "netns", "exec", &host, "nft", "flush", "chain", "inet", "kumo_sg", "zones",
    ]);
    assert!(
        zone_check(4001, 5001),
        "without zones, conntrack mixes the VPCs up"
    );
    runtime.block_on(firewall.forget());
    assert!(apply(&spec).0);
    assert!(exchange(&mut held, "at the end"));

    benchmark(&runtime, &host);

    // No VPC left: both tables go.
    spec.vpcs.clear();
    assert!(runtime.block_on(firewall.apply(&spec, &ports)).unwrap());
    let tables = sh_output(&["ip", "netns", "exec", &host, "nft", "list", "tables"]);
    assert!(
        !tables.contains("kumo_sg") && !tables.contains("kumo_spoof"),
        "{tables}"
    );
    drop(held);
}

/// Render + apply of one group with 1,000 rules and 100 interfaces (a figure for the
/// issue), then one rule changed, then unchanged.
fn benchmark(runtime: &tokio::runtime::Runtime, host: &str) {
    let rules: Vec<RuleSpec> = (0..1000u16)
        .map(|i| {
            let cidr = format!("10.{}.{}.0/24", 100 + i / 250, i % 250);
            rule(RuleProtocol::Tcp, Some((1000 + i, 1000 + i)), &[&cidr], &[])
        })
        .collect();
    let members: Vec<Ipv4Addr> = (0..100u8)
        .map(|i| Ipv4Addr::new(10, 0, 2, 10 + i))
        .collect();
    let interfaces: Vec<InterfaceSpec> = members
        .iter()
        .enumerate()
        .map(|(i, ip)| InterfaceSpec {
            network_interface_id: format!("eni-{i:03}"),
            instance_id: format!("i-{i:03}"),
            device_index: 0,
            subnet_id: "subnet-1".to_string(),
            mac: format!("02:00:00:03:00:{i:02x}"),
            private_ips: vec![*ip],
            source_dest_check: true,
            groups: vec!["sg-big".to_string()],
            public_ips: Vec::new(),
        })
        .collect();
    let ports: BTreeMap<String, String> = interfaces
        .iter()
        .map(|i| {
            (
                i.network_interface_id.clone(),
                HostNetwork::veth_name(&i.instance_id),
            )
        })
        .collect();
    let mut spec = spec_of(vec![vpc(
        "vpc-bench",
        303,
        interfaces,
        vec![group("sg-big", &members, rules)],
    )]);
    let firewall = Firewall::new(Some(host));
    let started = Instant::now();
    let script = render(&spec, &ports).unwrap();
    let rendered = started.elapsed();
    assert!(runtime.block_on(firewall.apply(&spec, &ports)).unwrap());
    let first = started.elapsed();
    let count = sh_output(&[
        "ip", "netns", "exec", host, "nft", "list", "table", "inet", "kumo_sg",
    ])
    .lines()
    .filter(|l| l.contains("tcp dport"))
    .count();
    assert_eq!(count, 1000, "the group's rules are in once");

    spec.vpcs[0].security_groups[0].ingress[0].to_port = Some(1001);
    let started = Instant::now();
    assert!(runtime.block_on(firewall.apply(&spec, &ports)).unwrap());
    let changed = started.elapsed();
    let started = Instant::now();
    assert!(!runtime.block_on(firewall.apply(&spec, &ports)).unwrap());
    let unchanged = started.elapsed();
    println!(
        "benchmark, 1,000 rules in one group, 100 interfaces ({} lines, {} bytes): \
         render {rendered:?}; render+apply {first:?}; one rule changed, render+apply {changed:?}; \
         unchanged {unchanged:?}",
        script.lines().count(),
        script.len()
    );
}

/// Traffic between two subnets goes client → router namespace (on the bridge) → server:
/// the host's forward hook sees each packet twice with the same addresses. The rules and
/// conntrack must cope: 80 allowed, 22 not, the flow established both passes.
#[test]
fn routed_between_subnets_through_the_router_namespace() {
    let mut namespaces = Namespaces(Vec::new());
    let vpc_id = format!("vpc-r{:08x}", rand::random::<u32>());
    let (host, _) = host_with_bridges(&mut namespaces, &[&vpc_id]);
    let names = VpcLinkNames::for_vpc(&vpc_id);
    let router = namespaces.add("r");
    sh(&[
        "ip",
        "-n",
        &host,
        "link",
        "add",
        &names.gateway_port,
        "type",
        "veth",
        "peer",
        "name",
        "gw",
        "netns",
        &router,
    ]);
    sh(&[
        "ip",
        "-n",
        &host,
        "link",
        "set",
        &names.gateway_port,
        "master",
        &names.bridge,
    ]);
    sh(&["ip", "-n", &host, "link", "set", &names.gateway_port, "up"]);
    for address in ["10.0.1.1/24", "10.0.2.1/24"] {
        sh(&["ip", "-n", &router, "addr", "add", address, "dev", "gw"]);
    }
    sh(&["ip", "-n", &router, "link", "set", "gw", "up"]);
    sh(&[
        "ip",
        "netns",
        "exec",
        &router,
        "sysctl",
        "-qw",
        "net.ipv4.ip_forward=1",
    ]);
    let server_ip = Ipv4Addr::new(10, 0, 2, 20);
    let client = plug(
        &mut namespaces,
        &host,
        &names.bridge,
        CLIENT_IP,
        "02:00:00:04:00:0a",
    );
    let server = plug(
        &mut namespaces,
        &host,
        &names.bridge,
        server_ip,
        "02:00:00:04:00:14",
    );
    sh(&[
        "ip",
        "-n",
        &client.netns,
        "route",
        "add",
        "default",
        "via",
        "10.0.1.1",
    ]);
    sh(&[
        "ip",
        "-n",
        &server.netns,
        "route",
        "add",
        "default",
        "via",
        "10.0.2.1",
    ]);

    let mut vpc = vpc(
        &vpc_id,
        404,
        vec![
            interface("eni-client", &client, CLIENT_IP, "sg-client"),
            interface("eni-server", &server, server_ip, "sg-server"),
        ],
        vec![
            group("sg-client", &[CLIENT_IP], Vec::new()),
            group(
                "sg-server",
                &[server_ip],
                vec![rule(RuleProtocol::Tcp, Some((80, 80)), &[], &["sg-client"])],
            ),
        ],
    );
    vpc.subnets.push(SubnetSpec {
        subnet_id: "subnet-2".to_string(),
        cidr_block: "10.0.2.0/24".to_string(),
        gateway: Ipv4Addr::new(10, 0, 2, 1),
        prefix_len: 24,
        internet_gateway: false,
    });
    let spec = spec_of(vec![vpc]);
    let ports = BTreeMap::from([
        ("eni-client".to_string(), client.port.clone()),
        ("eni-server".to_string(), server.port.clone()),
    ]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert!(runtime
        .block_on(Firewall::new(Some(&host)).apply(&spec, &ports))
        .unwrap());
    echo_server(&server.netns, 80);
    echo_server(&server.netns, 22);
    let to_server = |port| SocketAddrV4::new(server_ip, port);
    let mut held = connect(&client.netns, None, to_server(80)).expect("routed port 80");
    assert!(exchange(&mut held, "routed"));
    assert!(fails(&client.netns, None, to_server(22)), "routed port 22");
    for round in 0..20 {
        assert!(exchange(&mut held, &format!("round {round}")));
    }
}
