//! Secondary interfaces (device index > 0) and secondary private addresses for real, on
//! the multi-host namespace topology (`kumo_compute_node::testing`) with hand-built host
//! network specs fed to `VpcPlumbing::converge`.
//!
//! - Containers (runc): `eth1` in another subnet of the VPC appears with its MAC and
//!   addresses, carries TCP to instances on the other host (same subnet over the VXLAN,
//!   other subnet through the gateway, answers leaving by `eth1`), secondary addresses
//!   land on the right device and leave when unassigned, a second pass and a fresh
//!   converger change nothing, detaching removes `eth1`, its host veth and its rules.
//! - A TCG VM: the NIC is hot-plugged over QMP (tap on the VPC bridge, `virtio-net-pci`
//!   with the interface's MAC), the guest sees it (its user-data script prints the MAC
//!   and serves HTTP on it), a fresh converger adopts it, detaching unplugs it and
//!   removes the tap.
//!
//! Needs root, runc, iproute2, nftables, busybox-static, qemu-system-x86_64 and the VM
//! image from `deploy/build-images.sh` (`$KUMO_IMAGE_DIR`).
#![allow(clippy::unwrap_used)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kumo_compute_node::container::{ContainerConfig, ContainerRuntime};
use kumo_compute_node::metadata::MetadataService;
use kumo_compute_node::network::HostNetwork;
use kumo_compute_node::testing::{self, PeerProbe, Topology, UPLINK};
use kumo_compute_node::vm::{Accel, VmConfig, VmRuntime};
use kumo_compute_node::vpc::{eni, VpcPlumbing};
use kumo_compute_protocol::network::{
    router_netns, InterfaceSpec, RemoteInterface, RuleProtocol, RuleSpec, SecurityGroupSpec,
    SubnetSpec, VpcLinkNames, VpcSpec,
};
use kumo_compute_protocol::{
    DesiredState, HostNetworkSettings, HostNetworkSpec, ImageSource, InstanceKind,
    InstanceMetadata, InstanceSpec, NetworkAttachment,
};

const GROUP: &str = "sg-0000000000000000a";

/// One interface of the test world.
#[derive(Clone, Debug)]
struct Nic {
    eni: String,
    instance: String,
    host: u8,
    device_index: i32,
    /// 0: subnet a (10.0.1.0/24), 1: subnet b (10.0.2.0/24).
    subnet: usize,
    ips: Vec<Ipv4Addr>,
    mac: String,
}

struct World {
    vpc_id: String,
    vni: u32,
    subnets: [String; 2],
}

fn hex(n: u64) -> String {
    format!("{n:017x}")
}

fn world() -> World {
    World {
        vpc_id: format!("vpc-{}", hex(rand::random::<u64>() >> 4)),
        vni: 200_000 + rand::random::<u32>() % 1_000_000,
        subnets: [
            format!("subnet-a{:08x}", rand::random::<u32>()),
            format!("subnet-b{:08x}", rand::random::<u32>()),
        ],
    }
}

fn instance_id() -> String {
    format!("i-{}", hex(rand::random::<u64>() >> 4))
}

fn nic(instance: &str, host: u8, device_index: i32, subnet: usize, ips: &[[u8; 4]]) -> Nic {
    let last = ips[0][3];
    Nic {
        eni: format!("eni-{}", hex(rand::random::<u64>() >> 4)),
        instance: instance.to_string(),
        host,
        device_index,
        subnet,
        ips: ips.iter().map(|o| Ipv4Addr::from(*o)).collect(),
        mac: format!("02:00:0b:{host:02x}:{subnet:02x}:{last:02x}"),
    }
}

fn gateway(subnet: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, subnet as u8 + 1, 1)
}

/// Host `host`'s spec: its interfaces, the others as remote, one allow-all group.
fn host_spec(
    world: &World,
    owner: &str,
    host: u8,
    nics: &[Nic],
    generation: i64,
) -> HostNetworkSpec {
    let names = VpcLinkNames::for_vpc(&world.vpc_id);
    let all = RuleSpec {
        protocol: RuleProtocol::All,
        from_port: None,
        to_port: None,
        cidrs: vec!["0.0.0.0/0".into()],
        groups: vec![],
    };
    let local: Vec<&Nic> = nics.iter().filter(|n| n.host == host).collect();
    let vpcs = if local.is_empty() {
        vec![]
    } else {
        vec![VpcSpec {
            vpc_id: world.vpc_id.clone(),
            vni: world.vni,
            bridge: names.bridge,
            vxlan: names.vxlan,
            router_netns: router_netns(owner, &world.vpc_id),
            cidr_blocks: vec!["10.0.0.0/16".into()],
            dns_address: None,
            dns_domain: "ec2.internal".into(),
            subnets: (0..2)
                .map(|s| SubnetSpec {
                    subnet_id: world.subnets[s].clone(),
                    cidr_block: format!("10.0.{}.0/24", s + 1),
                    gateway: gateway(s),
                    prefix_len: 24,
                    internet_gateway: false,
                })
                .collect(),
            interfaces: local
                .iter()
                .map(|n| InterfaceSpec {
                    network_interface_id: n.eni.clone(),
                    instance_id: n.instance.clone(),
                    device_index: n.device_index,
                    subnet_id: world.subnets[n.subnet].clone(),
                    mac: n.mac.clone(),
                    private_ips: n.ips.clone(),
                    source_dest_check: true,
                    groups: vec![GROUP.into()],
                    public_ips: vec![],
                })
                .collect(),
            remote_interfaces: nics
                .iter()
                .filter(|n| n.host != host)
                .map(|n| RemoteInterface {
                    mac: n.mac.clone(),
                    private_ips: n.ips.clone(),
                    vtep_address: Topology::vtep(n.host),
                })
                .collect(),
            security_groups: vec![SecurityGroupSpec {
                group_id: GROUP.into(),
                member_ips: nics.iter().flat_map(|n| n.ips.clone()).collect(),
                ingress: vec![all.clone()],
                egress: vec![all],
            }],
        }]
    };
    HostNetworkSpec {
        generation,
        host: HostNetworkSettings {
            vtep_address: Some(Topology::vtep(host)),
            uplink: Some(UPLINK.into()),
        },
        vpcs,
    }
}

/// The spec of the instance whose primary interface is `primary`.
fn instance_spec(
    world: &World,
    primary: &Nic,
    kind: InstanceKind,
    image: ImageSource,
    user_data: &str,
) -> InstanceSpec {
    let ip = primary.ips[0];
    InstanceSpec {
        instance_id: primary.instance.clone(),
        account_id: "123456789012".into(),
        kind,
        desired: DesiredState::Running,
        generation: 1,
        reboot_count: 0,
        vcpus: 1,
        memory_mib: if kind == InstanceKind::Vm { 256 } else { 64 },
        image,
        volumes: Vec::new(),
        metadata: InstanceMetadata {
            instance_id: primary.instance.clone(),
            instance_type: "c.small".into(),
            ami_id: "ami-test".into(),
            reservation_id: "r-0000000000000001".into(),
            account_id: "123456789012".into(),
            availability_zone: "kumo-1a".into(),
            region: "kumo-1".into(),
            local_ipv4: ip,
            mac: primary.mac.clone(),
            hostname: primary.instance.clone(),
            public_keys: vec![],
            user_data: Some(user_data.as_bytes().to_vec()),
        },
        network: NetworkAttachment {
            network_interface_id: primary.eni.clone(),
            vpc_id: world.vpc_id.clone(),
            subnet_id: world.subnets[primary.subnet].clone(),
            bridge: VpcLinkNames::for_vpc(&world.vpc_id).bridge,
            ip,
            prefix_len: 24,
            gateway: gateway(primary.subnet),
            mac: primary.mac.clone(),
            dns_server: None,
            dns_domain: String::new(),
        },
    }
}

/// `ip -n <ns> <args>`'s output.
fn ip_in(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A container's view of itself: links with MACs, addresses, rules, every route table.
fn inside(ns: &str) -> String {
    [
        "-br link show",
        "-br addr show",
        "rule show",
        "route show table all",
    ]
    .iter()
    .map(|args| ip_in(ns, &args.split(' ').collect::<Vec<_>>()))
    .collect()
}

/// The host's links (name, master, MAC, alias) and permanent fdb entries.
fn host_state(ns: &str) -> String {
    let text = ip_in(ns, &["-o", "link", "show"])
        .lines()
        // Counters and queue state vary; name, flags, master, MAC, alias do not.
        .map(|l| format!("{}\n", l.split(" qlen").next().unwrap_or(l)))
        .collect::<String>();
    text + &testing::programmed_fdb(ns)
}

/// `GET http://<ip>/` from `ns` until it answers, 15 s at most.
fn fetch(ns: &str, ip: Ipv4Addr) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if let Some(body) = testing::http_get_in(ns, SocketAddr::from((ip, 80)), "/", 2) {
            return Some(body);
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

fn plumbing(topo: &Topology, n: u8, owner: &str, metadata: &MetadataService) -> VpcPlumbing {
    VpcPlumbing::new(
        HostNetwork::in_netns(&topo.host_netns(n)),
        owner,
        metadata.clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_secondary_interface_and_addresses() {
    let prefix = format!("ks{:04x}", rand::random::<u16>());
    let topo = Topology::create(&prefix, 2).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let rootfs = testing::busybox_rootfs(tmp.path()).unwrap();
    let owners: Vec<String> = (1..=2)
        .map(|n| format!("h-sec{n}{:08x}", rand::random::<u32>()))
        .collect();
    owners.iter().for_each(|o| topo.adopt_owner(o));
    let metadata: Vec<MetadataService> = (1..=2)
        .map(|n| MetadataService::in_netns(&topo.host_netns(n)))
        .collect();
    let hosts = [
        plumbing(&topo, 1, &owners[0], &metadata[0]),
        plumbing(&topo, 2, &owners[1], &metadata[1]),
    ];
    let world = world();
    // x on host 1: eth0 in subnet a (+ a secondary address), eth1 in subnet b (two
    // addresses). y on host 2 in subnet b, z on host 2 in subnet a.
    let (x, y, z) = (instance_id(), instance_id(), instance_id());
    let x0 = nic(&x, 1, 0, 0, &[[10, 0, 1, 10], [10, 0, 1, 11]]);
    let x1 = nic(&x, 1, 1, 1, &[[10, 0, 2, 40], [10, 0, 2, 41]]);
    let y0 = nic(&y, 2, 0, 1, &[[10, 0, 2, 30]]);
    let z0 = nic(&z, 2, 0, 0, &[[10, 0, 1, 20]]);
    let mut nics = vec![x0.clone(), x1.clone(), y0.clone(), z0.clone()];
    let state_dir = tmp.path().join("state");
    let _cleanup = testing::RemoveContainersOnDrop {
        root: state_dir.join("runc"),
        ids: vec![x.clone(), y.clone(), z.clone()],
    };
    let converge = |nics: Vec<Nic>, generation: i64| {
        let hosts = &hosts;
        let owners = &owners;
        let world = &world;
        async move {
            for n in 1..=2u8 {
                let spec = host_spec(world, &owners[n as usize - 1], n, &nics, generation);
                hosts[n as usize - 1].converge(&spec).await.unwrap();
            }
        }
    };
    converge(nics.clone(), 1).await;
    let runtime = ContainerRuntime::new(ContainerConfig::new(&state_dir));
    let image = ImageSource {
        image_id: "ami-busybox".into(),
        kind: InstanceKind::Container,
        kernel: None,
        initramfs: None,
        disk: None,
        rootfs: Some(rootfs.clone()),
    };
    for primary in [&x0, &y0, &z0] {
        let user_data = format!(
            "#!/bin/sh\necho served-by-{} > /www/index.html\nhttpd -p 80 -h /www\n",
            primary.instance
        );
        let spec = instance_spec(
            &world,
            primary,
            InstanceKind::Container,
            image.clone(),
            &user_data,
        );
        let net = HostNetwork::in_netns(&topo.host_netns(primary.host))
            .with_owner(&owners[primary.host as usize - 1]);
        let netns = net
            .attach_container(&primary.instance, &spec.network)
            .await
            .unwrap();
        runtime.start(&spec, &netns).await.unwrap();
    }
    // The containers started after the last pass: a new generation with the same
    // structure still plugs x's eth1 (not only the security groups).
    converge(nics.clone(), 2).await;

    let xns = HostNetwork::netns_name(&x);
    let (yns, zns) = (HostNetwork::netns_name(&y), HostNetwork::netns_name(&z));
    let eth1 = ip_in(&xns, &["-br", "link", "show", "eth1"]);
    assert!(eth1.contains(&x1.mac), "eth1 without its MAC: {eth1}");
    let addr = |dev: &str| ip_in(&xns, &["-4", "-br", "addr", "show", dev]);
    for (dev, want) in [
        ("eth1", "10.0.2.40/24"),
        ("eth1", "10.0.2.41/24"),
        ("eth0", "10.0.1.10/24"),
        ("eth0", "10.0.1.11/24"),
    ] {
        assert!(
            addr(dev).contains(want),
            "{want} not on {dev}: {}",
            addr(dev)
        );
    }
    assert!(
        !addr("eth0").contains("10.0.2."),
        "eth1's addresses on eth0"
    );
    let host1 = topo.host_netns(1);
    let veth = eni::veth_name(&x1.eni);
    let bridge = VpcLinkNames::for_vpc(&world.vpc_id).bridge;
    let port = ip_in(&host1, &["-d", "link", "show", &veth]);
    assert!(
        port.contains(&format!("master {bridge}")),
        "{veth} not on the bridge: {port}"
    );
    // Its anti-spoofing chain exists (the firewall knows the port).
    let spoof = Command::new("ip")
        .args([
            "netns",
            "exec",
            &host1,
            "nft",
            "list",
            "table",
            "bridge",
            "kumo_spoof",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&spoof.stdout).contains(&format!("\"{veth}\"")));

    let served = |id: &str| Some(format!("served-by-{id}\n"));
    // Same subnet over the VXLAN, both addresses of eth1.
    assert_eq!(fetch(&yns, Ipv4Addr::new(10, 0, 2, 40)), served(&x));
    assert_eq!(fetch(&yns, Ipv4Addr::new(10, 0, 2, 41)), served(&x));
    // From the other subnet through the gateway: the answer leaves by eth1 too.
    assert_eq!(fetch(&zns, Ipv4Addr::new(10, 0, 2, 40)), served(&x));
    // eth0's secondary address, from both.
    assert_eq!(fetch(&zns, Ipv4Addr::new(10, 0, 1, 11)), served(&x));
    assert_eq!(fetch(&yns, Ipv4Addr::new(10, 0, 1, 11)), served(&x));
    // Outbound by eth1 to its subnet: y sees eth1's address.
    let probe =
        PeerProbe::listen(&yns, SocketAddr::from((Ipv4Addr::new(10, 0, 2, 30), 9000))).unwrap();
    let _ = testing::http_get_in(
        &xns,
        SocketAddr::from((Ipv4Addr::new(10, 0, 2, 30), 9000)),
        "/",
        2,
    );
    let peer = probe.accept_peer(Duration::from_secs(5)).unwrap();
    assert_eq!(peer.ip(), std::net::IpAddr::V4(Ipv4Addr::new(10, 0, 2, 40)));

    // A second pass and a fresh converger (a restarted agent) change nothing.
    let before = (host_state(&host1), inside(&xns));
    converge(nics.clone(), 3).await;
    assert_eq!(
        before,
        (host_state(&host1), inside(&xns)),
        "a second pass changed something"
    );
    let spec = host_spec(&world, &owners[0], 1, &nics, 3);
    plumbing(&topo, 1, &owners[0], &metadata[0])
        .converge(&spec)
        .await
        .unwrap();
    assert_eq!(
        before,
        (host_state(&host1), inside(&xns)),
        "a fresh converger changed something"
    );

    // UnassignPrivateIpAddresses: the secondary addresses leave their devices.
    nics[0].ips.truncate(1);
    nics[1].ips.truncate(1);
    converge(nics.clone(), 4).await;
    assert!(!addr("eth0").contains("10.0.1.11/"), "{}", addr("eth0"));
    assert!(!addr("eth1").contains("10.0.2.41/"), "{}", addr("eth1"));
    assert!(!ip_in(&xns, &["rule", "show"]).contains("10.0.2.41"));
    assert_eq!(fetch(&yns, Ipv4Addr::new(10, 0, 2, 40)), served(&x));

    // Detach: eth1, its veth and its rules go; eth0 still works.
    nics.remove(1);
    converge(nics.clone(), 5).await;
    assert!(!ip_in(&xns, &["-br", "link", "show"]).contains("eth1"));
    assert!(!ip_in(&host1, &["-br", "link", "show"]).contains(&veth));
    assert!(!ip_in(&xns, &["rule", "show"]).contains("lookup 1001"));
    assert_eq!(fetch(&zns, Ipv4Addr::new(10, 0, 1, 10)), served(&x));
    let before = (host_state(&host1), inside(&xns));
    converge(nics.clone(), 6).await;
    assert_eq!(
        before,
        (host_state(&host1), inside(&xns)),
        "a pass after detaching changed something"
    );

    // Everything goes.
    for id in [&x, &y, &z] {
        runtime.remove(id).await.unwrap();
    }
    for (n, id) in [(1, &x), (2, &y), (2, &z)] {
        HostNetwork::in_netns(&topo.host_netns(n))
            .detach(id)
            .await
            .unwrap();
    }
    converge(vec![], 7).await;
    for n in 1..=2 {
        let left = ip_in(&topo.host_netns(n), &["-br", "link", "show"]);
        for prefix in ["kb-", "kx-", "kg-", "kv", "kt"] {
            assert!(
                !left.contains(prefix),
                "{prefix}* left on host {n}:\n{left}"
            );
        }
    }
}

fn vm_image() -> (PathBuf, PathBuf) {
    let dir = std::env::var_os("KUMO_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kumo-images"))
        .join("vm");
    let (kernel, initramfs) = (dir.join("vmlinuz"), dir.join("initramfs.img"));
    assert!(
        kernel.is_file() && initramfs.is_file(),
        "VM image missing in {}: run deploy/build-images.sh",
        dir.display()
    );
    (kernel, initramfs)
}

/// Waits until the console holds `marker` `n` times; panics with its tail on timeout.
async fn wait_console(path: &Path, marker: &str, n: usize, limit: Duration) -> String {
    let deadline = Instant::now() + limit;
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        if text.matches(marker).count() >= n {
            return text;
        }
        if Instant::now() >= deadline {
            let tail = &text[text.len().saturating_sub(3000)..];
            panic!("{marker:?} not seen {n} time(s) within {limit:?}; console tail:\n{tail}");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vm_secondary_interface_hot_plug() {
    let (kernel, initramfs) = vm_image();
    let prefix = format!("kh{:04x}", rand::random::<u16>());
    let topo = Topology::create(&prefix, 1).unwrap();
    let host_ns = topo.host_netns(1);
    let owner = format!("h-hot{:08x}", rand::random::<u32>());
    topo.adopt_owner(&owner);
    let tmp = tempfile::tempdir().unwrap();
    let vms = Arc::new(
        VmRuntime::new(VmConfig {
            qemu: PathBuf::from("qemu-system-x86_64"),
            state_dir: tmp.path().join("vms"),
            accel: Accel::Tcg,
            stop_grace: Duration::from_secs(2),
        })
        .in_netns(Some(&host_ns)),
    );
    let metadata = MetadataService::in_netns(&host_ns);
    let host = plumbing(&topo, 1, &owner, &metadata).with_vms(vms.clone());
    let world = world();
    let (vm, peer) = (instance_id(), instance_id());
    let v0 = nic(&vm, 1, 0, 0, &[[10, 0, 1, 50]]);
    let v1 = nic(&vm, 1, 1, 1, &[[10, 0, 2, 50]]);
    // A container-less peer in subnet b: a namespace on the bridge, made by hand.
    let p0 = nic(&peer, 1, 0, 1, &[[10, 0, 2, 60]]);
    let mut nics = vec![v0.clone(), p0.clone()];
    let _vms = testing::KillQemuOnDrop(tmp.path().join("vms"));
    let _namespaces = testing::RemoveContainersOnDrop {
        root: tmp.path().join("runc"),
        ids: vec![peer.clone()],
    };
    host.converge(&host_spec(&world, &owner, 1, &nics, 1))
        .await
        .unwrap();
    let net = HostNetwork::in_netns(&host_ns).with_owner(&owner);
    let user_data = "#!/bin/sh\n\
        while [ ! -e /sys/class/net/eth1 ]; do sleep 1; done\n\
        echo \"KUMO-ETH1 $(cat /sys/class/net/eth1/address)\"\n\
        ip link set eth1 up\nip addr add 10.0.2.50/24 dev eth1\n\
        mkdir -p /tmp/www && echo served-by-eth1 > /tmp/www/index.html\n\
        httpd -p 80 -h /tmp/www\n\
        while [ -e /sys/class/net/eth1 ]; do sleep 1; done\necho KUMO-ETH1-GONE\n";
    let image = ImageSource {
        image_id: "ami-kumovm".into(),
        kind: InstanceKind::Vm,
        kernel: Some(kernel),
        initramfs: Some(initramfs),
        disk: None,
        rootfs: None,
    };
    let spec = instance_spec(&world, &v0, InstanceKind::Vm, image, user_data);
    metadata.register(&spec.network.bridge, spec.metadata.clone());
    let tap = net.attach_vm(&vm, &spec.network).await.unwrap();
    vms.start(&spec, Some(&tap)).await.unwrap();
    let peer_att = instance_spec(
        &world,
        &p0,
        InstanceKind::Container,
        ImageSource {
            image_id: "ami-none".into(),
            kind: InstanceKind::Container,
            kernel: None,
            initramfs: None,
            disk: None,
            rootfs: None,
        },
        "",
    )
    .network;
    net.attach_container(&peer, &peer_att).await.unwrap();
    let console = vms.console_path(&vm);
    wait_console(
        &console,
        "running the user-data script",
        1,
        Duration::from_secs(180),
    )
    .await;

    // Attach: the tap on the bridge, the NIC in QEMU with the MAC, the guest sees it.
    nics.push(v1.clone());
    host.converge(&host_spec(&world, &owner, 1, &nics, 2))
        .await
        .unwrap();
    let kt = eni::tap_name(&v1.eni);
    let bridge = VpcLinkNames::for_vpc(&world.vpc_id).bridge;
    let link = ip_in(&host_ns, &["-d", "link", "show", &kt]);
    assert!(
        link.contains(&format!("master {bridge}")),
        "{kt} not on the bridge: {link}"
    );
    let plugged = vms.hotplugged_nics(&vm).await.unwrap();
    assert_eq!(plugged.get(&v1.eni), Some(&v1.mac));
    let text = wait_console(&console, "KUMO-ETH1 ", 1, Duration::from_secs(60)).await;
    assert!(
        text.contains(&format!("KUMO-ETH1 {}", v1.mac)),
        "guest's eth1 has another MAC"
    );
    // TCP to the guest's eth1 from the peer in its subnet.
    let peer_ns = HostNetwork::netns_name(&peer);
    assert_eq!(
        fetch(&peer_ns, Ipv4Addr::new(10, 0, 2, 50)).as_deref(),
        Some("served-by-eth1\n")
    );

    // Again, and from a fresh converger (a restarted agent): nothing added twice.
    let before = host_state(&host_ns);
    host.converge(&host_spec(&world, &owner, 1, &nics, 3))
        .await
        .unwrap();
    plumbing(&topo, 1, &owner, &metadata)
        .with_vms(vms.clone())
        .converge(&host_spec(&world, &owner, 1, &nics, 3))
        .await
        .unwrap();
    assert_eq!(before, host_state(&host_ns));
    assert_eq!(vms.hotplugged_nics(&vm).await.unwrap(), plugged);

    // The VM restarts (without it): the next generation, even one that changed nothing
    // but groups, plugs it again.
    vms.stop(&vm).await.unwrap();
    vms.start(&spec, Some(&tap)).await.unwrap();
    assert!(vms.hotplugged_nics(&vm).await.unwrap().is_empty());
    host.converge(&host_spec(&world, &owner, 1, &nics, 4))
        .await
        .unwrap();
    assert_eq!(vms.hotplugged_nics(&vm).await.unwrap(), plugged);
    wait_console(&console, "KUMO-ETH1 ", 2, Duration::from_secs(180)).await;
    assert_eq!(
        fetch(&peer_ns, Ipv4Addr::new(10, 0, 2, 50)).as_deref(),
        Some("served-by-eth1\n")
    );

    // Detach: unplugged (the guest lets go of it), the tap gone.
    nics.pop();
    host.converge(&host_spec(&world, &owner, 1, &nics, 5))
        .await
        .unwrap();
    assert!(!ip_in(&host_ns, &["-br", "link", "show"]).contains(&kt));
    wait_console(&console, "KUMO-ETH1-GONE", 1, Duration::from_secs(60)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while vms
        .hotplugged_nics(&vm)
        .await
        .unwrap()
        .contains_key(&v1.eni)
    {
        assert!(Instant::now() < deadline, "the device is still in QEMU");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    host.converge(&host_spec(&world, &owner, 1, &nics, 6))
        .await
        .unwrap();

    vms.remove(&vm).await.unwrap();
    for id in [&vm, &peer] {
        net.detach(id).await.unwrap();
    }
    host.converge(&host_spec(&world, &owner, 1, &[], 7))
        .await
        .unwrap();
    let left = ip_in(&host_ns, &["-br", "link", "show"]);
    for prefix in ["kb-", "kg-", "kv", "kt"] {
        assert!(!left.contains(prefix), "{prefix}* left:\n{left}");
    }
}
