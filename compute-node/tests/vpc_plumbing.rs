//! The VPC data plane for real: two "hosts" (network namespaces joined by an underlay
//! switch, see `kumo_compute_node::testing`), real runc containers, hand-built host network
//! specs fed to `VpcPlumbing::converge`. Proves: TCP across VXLAN within a VPC (same and
//! other subnet), a second VPC with the same CIDR apart, metadata from the router
//! namespace, an elastic IP reachable from outside and used for outbound traffic, a no-op
//! second pass, adoption by a fresh converger, and nothing left after removal. Needs root,
//! runc, iproute2, nftables and busybox-static.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use kumo_compute_node::container::{ContainerConfig, ContainerRuntime};
use kumo_compute_node::metadata::MetadataService;
use kumo_compute_node::network::HostNetwork;
use kumo_compute_node::testing::{self, PeerProbe, Topology, OUTSIDE_ADDR, UPLINK};
use kumo_compute_node::vpc::VpcPlumbing;
use kumo_compute_protocol::network::{
    router_netns, InterfaceSpec, PublicMapping, RemoteInterface, RuleProtocol, RuleSpec,
    SecurityGroupSpec, SubnetSpec, VpcLinkNames, VpcSpec,
};
use kumo_compute_protocol::{
    DesiredState, HostNetworkSettings, HostNetworkSpec, ImageSource, InstanceKind,
    InstanceMetadata, InstanceSpec, NetworkAttachment,
};

/// One instance of the test world.
#[derive(Clone)]
struct Instance {
    id: String,
    host: u8,
    vpc: usize,
    subnet: usize,
    ip: Ipv4Addr,
    mac: String,
    public: Option<Ipv4Addr>,
}

struct Vpc {
    id: String,
    vni: u32,
    /// (subnet id, cidr, gateway, internet gateway)
    subnets: Vec<(String, Ipv4Addr, bool)>,
}

fn word() -> String {
    format!("{:08x}", rand::random::<u32>())
}

fn vpc(n: u32) -> Vpc {
    let id = format!("vpc-{:017x}", rand::random::<u64>() >> 4);
    Vpc {
        id: id.clone(),
        vni: 100_000 + (rand::random::<u32>() % 1_000_000) + n,
        subnets: vec![
            (
                format!("subnet-{n}a{}", word()),
                Ipv4Addr::new(10, 0, 1, 0),
                true,
            ),
            (
                format!("subnet-{n}b{}", word()),
                Ipv4Addr::new(10, 0, 2, 0),
                false,
            ),
        ],
    }
}

fn gateway(base: Ipv4Addr) -> Ipv4Addr {
    let [a, b, c, _] = base.octets();
    Ipv4Addr::new(a, b, c, 1)
}

fn allow_all(group: &str, members: Vec<Ipv4Addr>) -> SecurityGroupSpec {
    let rule = RuleSpec {
        protocol: RuleProtocol::All,
        from_port: None,
        to_port: None,
        cidrs: vec!["0.0.0.0/0".into()],
        groups: vec![],
    };
    SecurityGroupSpec {
        group_id: group.into(),
        member_ips: members,
        ingress: vec![rule.clone()],
        egress: vec![rule],
    }
}

/// Host `host`'s spec: every VPC with an instance there, with the others as remote.
fn host_spec(
    owner: &str,
    host: u8,
    vpcs: &[Vpc],
    instances: &[Instance],
    generation: i64,
) -> HostNetworkSpec {
    let mut specs = Vec::new();
    for (v, vpc) in vpcs.iter().enumerate() {
        let local: Vec<&Instance> = instances
            .iter()
            .filter(|i| i.vpc == v && i.host == host)
            .collect();
        if local.is_empty() {
            continue;
        }
        let names = VpcLinkNames::for_vpc(&vpc.id);
        let group = format!("sg-{:017x}", v);
        specs.push(VpcSpec {
            vpc_id: vpc.id.clone(),
            vni: vpc.vni,
            bridge: names.bridge,
            vxlan: names.vxlan,
            router_netns: router_netns(owner, &vpc.id),
            cidr_blocks: vec!["10.0.0.0/16".into()],
            dns_address: Some(Ipv4Addr::new(10, 0, 0, 2)),
            dns_domain: "ec2.internal".into(),
            subnets: vpc
                .subnets
                .iter()
                .map(|(id, base, igw)| SubnetSpec {
                    subnet_id: id.clone(),
                    cidr_block: format!("{base}/24"),
                    gateway: gateway(*base),
                    prefix_len: 24,
                    internet_gateway: *igw,
                })
                .collect(),
            interfaces: local
                .iter()
                .map(|i| InterfaceSpec {
                    network_interface_id: format!("eni-{}", &i.id[2..]),
                    instance_id: i.id.clone(),
                    device_index: 0,
                    subnet_id: vpc.subnets[i.subnet].0.clone(),
                    mac: i.mac.clone(),
                    private_ips: vec![i.ip],
                    source_dest_check: true,
                    groups: vec![group.clone()],
                    public_ips: i
                        .public
                        .map(|public_ip| PublicMapping {
                            private_ip: i.ip,
                            public_ip,
                        })
                        .into_iter()
                        .collect(),
                })
                .collect(),
            remote_interfaces: instances
                .iter()
                .filter(|i| i.vpc == v && i.host != host)
                .map(|i| RemoteInterface {
                    mac: i.mac.clone(),
                    private_ips: vec![i.ip],
                    vtep_address: Topology::vtep(i.host),
                })
                .collect(),
            security_groups: vec![allow_all(
                &group,
                instances
                    .iter()
                    .filter(|i| i.vpc == v)
                    .map(|i| i.ip)
                    .collect(),
            )],
        });
    }
    HostNetworkSpec {
        generation,
        host: HostNetworkSettings {
            vtep_address: Some(Topology::vtep(host)),
            uplink: Some(UPLINK.into()),
        },
        vpcs: specs,
    }
}

fn attachment(vpc: &Vpc, i: &Instance) -> NetworkAttachment {
    let (subnet_id, base, _) = &vpc.subnets[i.subnet];
    NetworkAttachment {
        network_interface_id: format!("eni-{}", &i.id[2..]),
        vpc_id: vpc.id.clone(),
        subnet_id: subnet_id.clone(),
        bridge: VpcLinkNames::for_vpc(&vpc.id).bridge,
        ip: i.ip,
        prefix_len: 24,
        gateway: gateway(*base),
        mac: i.mac.clone(),
        dns_server: None,
        dns_domain: String::new(),
    }
}

fn instance_spec(vpc: &Vpc, i: &Instance, rootfs: &Path) -> InstanceSpec {
    let att = attachment(vpc, i);
    let user_data = format!(
        "#!/bin/sh\necho served-by-{} > /www/index.html\nhttpd -p 80 -h /www\n",
        i.id
    );
    InstanceSpec {
        instance_id: i.id.clone(),
        account_id: "123456789012".into(),
        kind: InstanceKind::Container,
        desired: DesiredState::Running,
        generation: 1,
        reboot_count: 0,
        vcpus: 1,
        memory_mib: 64,
        image: ImageSource {
            image_id: "ami-busybox".into(),
            kind: InstanceKind::Container,
            kernel: None,
            initramfs: None,
            disk: None,
            rootfs: Some(rootfs.to_path_buf()),
        },
        volumes: Vec::new(),
        metadata: InstanceMetadata {
            instance_id: i.id.clone(),
            instance_type: "c.small".into(),
            ami_id: "ami-busybox".into(),
            reservation_id: "r-0000000000000001".into(),
            account_id: "123456789012".into(),
            availability_zone: "kumo-1a".into(),
            region: "kumo-1".into(),
            local_ipv4: i.ip,
            mac: i.mac.clone(),
            hostname: i.id.clone(),
            public_keys: vec![],
            user_data: Some(user_data.into_bytes()),
        },
        network: att,
    }
}

/// Everything of `owner`'s VPC plumbing visible in host namespace `ns`: links (name,
/// kind, master, MAC, alias), addresses, fdb, neighbours, routes, router namespaces and
/// their state. Two equal snapshots: nothing changed.
fn snapshot(ns: &str, owner: &str) -> String {
    let run = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut text = String::new();
    let links: serde_json::Value =
        serde_json::from_str(&run(&["-j", "-n", ns, "-d", "link", "show"])).unwrap();
    for link in links.as_array().unwrap() {
        let info = &link["linkinfo"];
        text += &format!(
            "{} {} {} {} {} {} {}\n",
            link["ifname"],
            link["address"],
            link["master"],
            link["ifalias"],
            link["operstate"],
            info["info_kind"],
            // A bridge's data holds its timers.
            if info["info_kind"] == "vxlan" {
                &info["info_data"]
            } else {
                &serde_json::Value::Null
            }
        );
    }
    text += &run(&["-n", ns, "-br", "addr", "show"]);
    text += &run(&["-n", ns, "route", "show"]);
    text += &run(&["-n", ns, "neigh", "show", "proxy"]);
    text += &testing::programmed_fdb(ns);
    for router in routers_of(owner) {
        text += &format!("router {router}\n");
        text += &run(&["-n", &router, "-br", "addr", "show"]);
        text += &run(&["-n", &router, "route", "show"]);
        let nft = Command::new("ip")
            .args(["netns", "exec", &router, "nft", "list", "ruleset"])
            .output()
            .unwrap();
        text += &String::from_utf8_lossy(&nft.stdout);
    }
    text
}

/// The router namespaces marked as `owner`'s.
fn routers_of(owner: &str) -> BTreeSet<String> {
    kumo_compute_node::vpc::router_namespaces()
        .into_iter()
        .filter(|ns| {
            let out = Command::new("ip")
                .args(["-n", ns, "-d", "link", "show", "dev", "lo"])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).contains(&format!(" owner={owner} "))
        })
        .collect()
}

/// Equal snapshots, else the lines that differ.
fn assert_same(before: &str, after: &str, what: &str) {
    let gone: Vec<&str> = before
        .lines()
        .filter(|l| !after.lines().any(|a| a == *l))
        .collect();
    let new: Vec<&str> = after
        .lines()
        .filter(|l| !before.lines().any(|b| b == *l))
        .collect();
    assert!(
        gone.is_empty() && new.is_empty(),
        "{what} changed the host:\n gone: {gone:#?}\n new: {new:#?}"
    );
}

fn links(ns: &str) -> String {
    let out = Command::new("ip")
        .args(["-n", ns, "-br", "link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `GET http://<ip>:<port><path>` from `ns` once (2 s at most).
fn get(ns: &str, ip: Ipv4Addr, port: u16, path: &str) -> Option<String> {
    testing::http_get_in(ns, SocketAddr::from((ip, port)), path, 2)
}

/// [`get`] until it answers (VXLAN neighbours, ARP: a moment), 10 s at most.
fn fetch(ns: &str, ip: Ipv4Addr, path: &str) -> Option<String> {
    for _ in 0..20 {
        if let Some(body) = get(ns, ip, 80, path) {
            return Some(body);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_two_vpcs_elastic_ip_removal_and_adoption() {
    let prefix = format!("kv{:04x}", rand::random::<u16>());
    let topo = Topology::create(&prefix, 2).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = testing::busybox_rootfs(tmp.path()).unwrap();
    let owners: Vec<String> = (1..=2).map(|n| format!("h-vpct{n}{}", word())).collect();
    for owner in &owners {
        topo.adopt_owner(owner);
    }
    let metadata: Vec<MetadataService> = (1..=2)
        .map(|n| MetadataService::in_netns(&topo.host_netns(n)))
        .collect();
    let plumbing = |n: u8| {
        VpcPlumbing::new(
            HostNetwork::in_netns(&topo.host_netns(n)),
            &owners[n as usize - 1],
            metadata[n as usize - 1].clone(),
        )
    };
    let hosts = [plumbing(1), plumbing(2)];

    let vpcs = [vpc(1), vpc(2)];
    let public = Ipv4Addr::new(203, 0, 113, 130);
    let mk = |host, vpc, subnet, last: u8, public| Instance {
        id: format!("i-f{:016x}", rand::random::<u64>()),
        host,
        vpc,
        subnet,
        ip: Ipv4Addr::new(10, 0, subnet as u8 + 1, last),
        mac: format!("02:00:{:02x}:{:02x}:{:02x}:{last:02x}", vpc, host, subnet),
        public,
    };
    // VPC 0: a (host 1, subnet a, elastic IP), b (host 2, subnet a), c (host 2, subnet b).
    // VPC 1 (same CIDR): d on host 1 with b's address.
    let a = mk(1, 0, 0, 10, Some(public));
    let b = mk(2, 0, 0, 20, None);
    let c = mk(2, 0, 1, 30, None);
    let d = mk(1, 1, 0, 20, None);
    let instances = vec![a.clone(), b.clone(), c.clone(), d.clone()];
    let state_dir = tmp.path().join("state");
    let _containers = testing::RemoveContainersOnDrop {
        root: state_dir.join("runc"),
        ids: instances.iter().map(|i| i.id.clone()).collect(),
    };

    // The network first (as the agent's network task would), then the containers.
    for n in 1..=2u8 {
        let spec = host_spec(&owners[n as usize - 1], n, &vpcs, &instances, 1);
        hosts[n as usize - 1].converge(&spec).await.unwrap();
    }
    let runtime = ContainerRuntime::new(ContainerConfig::new(&state_dir));
    for i in &instances {
        let net = HostNetwork::in_netns(&topo.host_netns(i.host))
            .with_owner(&owners[i.host as usize - 1]);
        let spec = instance_spec(&vpcs[i.vpc], i, &rootfs);
        let netns = net.attach_container(&i.id, &spec.network).await.unwrap();
        metadata[i.host as usize - 1].register(&spec.network.bridge, spec.metadata.clone());
        runtime.start(&spec, &netns).await.unwrap();
    }
    // The anti-spoofing rules name the ports: a pass now that they exist.
    for n in 1..=2u8 {
        let spec = host_spec(&owners[n as usize - 1], n, &vpcs, &instances, 2);
        hosts[n as usize - 1].converge(&spec).await.unwrap();
    }
    let ns = |i: &Instance| HostNetwork::netns_name(&i.id);
    let served = |i: &Instance| format!("served-by-{}\n", i.id);

    // Same VPC, same subnet, across the VXLAN; and routed to the other subnet.
    assert_eq!(
        fetch(&ns(&a), Ipv4Addr::new(10, 0, 1, 20), "/").as_deref(),
        Some(served(&b).as_str())
    );
    assert_eq!(
        fetch(&ns(&b), Ipv4Addr::new(10, 0, 1, 10), "/").as_deref(),
        Some(served(&a).as_str())
    );
    assert_eq!(
        fetch(&ns(&a), Ipv4Addr::new(10, 0, 2, 30), "/").as_deref(),
        Some(served(&c).as_str())
    );
    assert_eq!(
        fetch(&ns(&c), Ipv4Addr::new(10, 0, 1, 10), "/").as_deref(),
        Some(served(&a).as_str())
    );
    // The other VPC has the same addresses, and sees only its own.
    assert_eq!(
        get(&ns(&d), Ipv4Addr::new(10, 0, 1, 10), 80, "/"),
        None,
        "VPC 1 reached VPC 0"
    );
    assert_eq!(
        get(&ns(&d), Ipv4Addr::new(10, 0, 2, 30), 80, "/"),
        None,
        "VPC 1 reached VPC 0"
    );
    // Metadata, from the router namespace of the instance's own host and VPC.
    let md = fetch(
        &ns(&a),
        kumo_compute_node::network::METADATA_ADDR,
        "/latest/meta-data/instance-id",
    );
    assert_eq!(md.as_deref(), Some(a.id.as_str()));
    let md = fetch(
        &ns(&d),
        kumo_compute_node::network::METADATA_ADDR,
        "/latest/meta-data/local-ipv4",
    );
    assert_eq!(md.as_deref(), Some("10.0.1.20"));

    // The elastic IP: reachable from outside; outbound traffic leaves with it.
    let outside = topo.outside_netns();
    assert_eq!(
        fetch(&outside, public, "/").as_deref(),
        Some(served(&a).as_str())
    );
    let probe = PeerProbe::listen(&outside, SocketAddr::from((OUTSIDE_ADDR, 9000))).unwrap();
    let _ = get(&ns(&a), OUTSIDE_ADDR, 9000, "/");
    let peer = probe.accept_peer(Duration::from_secs(5)).unwrap();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(public));
    // Without a public address, nothing leaves the VPC.
    assert_eq!(get(&ns(&b), OUTSIDE_ADDR, 9000, "/"), None);

    // A second pass changes nothing; a fresh converger (a restarted agent) adopts it all.
    for n in 1..=2u8 {
        let host_ns = topo.host_netns(n);
        let owner = &owners[n as usize - 1];
        let before = snapshot(&host_ns, owner);
        let spec = host_spec(owner, n, &vpcs, &instances, 3);
        hosts[n as usize - 1].converge(&spec).await.unwrap();
        assert_same(
            &before,
            &snapshot(&host_ns, owner),
            &format!("second pass on host {n}"),
        );
        plumbing(n).converge(&spec).await.unwrap();
        assert_same(
            &before,
            &snapshot(&host_ns, owner),
            &format!("fresh converger on host {n}"),
        );
    }
    assert_eq!(
        fetch(&ns(&a), Ipv4Addr::new(10, 0, 1, 20), "/").as_deref(),
        Some(served(&b).as_str())
    );

    // The elastic IP goes: unreachable from outside, its route and proxy entry gone.
    let no_public: Vec<Instance> = instances
        .iter()
        .map(|i| Instance {
            public: None,
            ..i.clone()
        })
        .collect();
    let spec = host_spec(&owners[0], 1, &vpcs, &no_public, 4);
    hosts[0].converge(&spec).await.unwrap();
    assert_eq!(get(&outside, public, 80, "/"), None);
    let host1 = topo.host_netns(1);
    let proxies = Command::new("ip")
        .args(["-n", &host1, "neigh", "show", "proxy"])
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&proxies.stdout).contains(&public.to_string()));

    // Host 2's instances leave: removing VPC 0 from host 2 (by a fresh converger, which
    // only knows what the host shows) leaves nothing of it, and host 1 stops sending there.
    for i in [&b, &c] {
        runtime.remove(&i.id).await.unwrap();
        HostNetwork::in_netns(&topo.host_netns(2))
            .detach(&i.id)
            .await
            .unwrap();
    }
    let remaining: Vec<Instance> = no_public.iter().filter(|i| i.host == 1).cloned().collect();
    let host2 = topo.host_netns(2);
    plumbing(2)
        .converge(&host_spec(&owners[1], 2, &vpcs, &remaining, 5))
        .await
        .unwrap();
    let left = links(&host2);
    for prefix in ["kb-", "kx-", "kg-", "kr-", "kv"] {
        assert!(!left.contains(prefix), "{prefix}* left on host 2:\n{left}");
    }
    assert!(
        routers_of(&owners[1]).is_empty(),
        "router namespace left on host 2"
    );
    let nft = Command::new("ip")
        .args(["netns", "exec", &host2, "nft", "list", "tables"])
        .output()
        .unwrap();
    let nft = String::from_utf8_lossy(&nft.stdout);
    assert!(!nft.contains("kumo"), "nft tables left on host 2: {nft}");

    hosts[0]
        .converge(&host_spec(&owners[0], 1, &vpcs, &remaining, 5))
        .await
        .unwrap();
    let vxlan = VpcLinkNames::for_vpc(&vpcs[0].id).vxlan;
    let fdb = Command::new("bridge")
        .args(["-n", &host1, "fdb", "show", "dev", &vxlan])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&fdb.stdout).contains("dst"),
        "stale fdb entries"
    );

    // Everything goes from host 1 too.
    for i in [&a, &d] {
        runtime.remove(&i.id).await.unwrap();
        HostNetwork::in_netns(&host1).detach(&i.id).await.unwrap();
    }
    hosts[0]
        .converge(&host_spec(&owners[0], 1, &vpcs, &[], 6))
        .await
        .unwrap();
    let left = links(&host1);
    for prefix in ["kb-", "kx-", "kg-", "kr-", "kv"] {
        assert!(!left.contains(prefix), "{prefix}* left on host 1:\n{left}");
    }
    assert!(routers_of(&owners[0]).is_empty());
    let routes = Command::new("ip")
        .args(["-n", &host1, "route", "show"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&routes.stdout).contains(&public.to_string()),
        "stale route"
    );
}
