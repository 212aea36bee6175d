//! Host networking for real: bridges, veths, netns, taps and the nftables isolation, all
//! inside a throw-away network namespace that plays the host (nothing touches the
//! machine's root namespace). Needs root, iproute2, nftables and busybox (for ping).
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::process::Command;

use kumo_compute_node::network::HostNetwork;
use kumo_compute_protocol::NetworkAttachment;

/// Deletes a named network namespace when dropped (also when a test panics).
struct NetnsGuard(String);

impl NetnsGuard {
    fn new(prefix: &str) -> Self {
        let name = format!("{prefix}{:08x}", rand::random::<u32>());
        let st = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap();
        assert!(st.success(), "ip netns add {name}");
        NetnsGuard(name)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Removes an instance's netns (if the test did not get to `detach`).
struct InstanceNetns(String);

impl Drop for InstanceNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &HostNetwork::netns_name(&self.0)])
            .output();
    }
}

fn instance_id() -> String {
    format!("i-f{:016x}", rand::random::<u64>())
}

fn att(bridge: &str, subnet: u8, host: u8) -> NetworkAttachment {
    NetworkAttachment {
        network_interface_id: String::new(),
        vpc_id: String::new(),
        subnet_id: format!("subnet-{subnet}"),
        bridge: bridge.to_string(),
        ip: Ipv4Addr::new(10, subnet, 0, host),
        prefix_len: 24,
        gateway: Ipv4Addr::new(10, subnet, 0, 1),
        mac: format!("02:00:0a:{subnet:02x}:00:{host:02x}"),
        dns_server: None,
        dns_domain: String::new(),
    }
}

/// One ping from inside the netns `ns`.
fn ping_once(ns: &str, to: Ipv4Addr) -> bool {
    Command::new("ip")
        .args(["netns", "exec", ns, "busybox", "ping", "-c1", "-W1"])
        .arg(to.to_string())
        .output()
        .unwrap()
        .status
        .success()
}

/// Reachable: a few tries (the first packet may wait on ARP).
fn can_reach(ns: &str, to: Ipv4Addr) -> bool {
    (0..5).any(|_| ping_once(ns, to))
}

/// Unreachable: no reply to two tries.
fn cannot_reach(ns: &str, to: Ipv4Addr) -> bool {
    !ping_once(ns, to) && !ping_once(ns, to)
}

fn ip_out(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn link_exists(host_ns: &str, name: &str) -> bool {
    Command::new("ip")
        .args(["-n", host_ns, "link", "show", "dev", name])
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn names_fit_linux_limits() {
    let id = "i-0123456789abcdef0";
    let veth = HostNetwork::veth_name(id);
    let tap = HostNetwork::tap_name(id);
    assert!(veth.starts_with("kv") && veth.len() == 14, "{veth}");
    assert!(tap.starts_with("kt") && tap.len() == 14, "{tap}");
    assert_eq!(veth[2..], tap[2..]);
    assert_ne!(veth, HostNetwork::veth_name("i-0123456789abcdef1"));
    assert_eq!(HostNetwork::netns_name(id), "kumo-i-0123456789abcdef0");
    assert_eq!(
        HostNetwork::netns_path(id),
        std::path::Path::new("/var/run/netns/kumo-i-0123456789abcdef0")
    );
}

#[tokio::test]
async fn bridges_connect_a_subnet_and_isolate_subnets() {
    let host = NetnsGuard::new("kumo-t-");
    let net = HostNetwork::in_netns(&host.0);
    // Routing between bridges on, so only the nftables rule keeps subnets apart.
    let st = Command::new("ip")
        .args(["netns", "exec", &host.0, "sh", "-c"])
        .arg("echo 1 > /proc/sys/net/ipv4/ip_forward")
        .status()
        .unwrap();
    assert!(st.success());

    let (a1, a2, b1) = (instance_id(), instance_id(), instance_id());
    let _g = (
        InstanceNetns(a1.clone()),
        InstanceNetns(a2.clone()),
        InstanceNetns(b1.clone()),
    );
    let (att_a1, att_a2, att_b1) = (
        att("kb-aaaa0001", 11, 2),
        att("kb-aaaa0001", 11, 3),
        att("kb-bbbb0002", 12, 2),
    );

    net.ensure_bridge(&att_a1).await.unwrap();
    net.ensure_bridge(&att_a1).await.unwrap(); // idempotent
    let p_a1 = net.attach_container(&a1, &att_a1).await.unwrap();
    let p_a2 = net.attach_container(&a2, &att_a2).await.unwrap();
    let p_b1 = net.attach_container(&b1, &att_b1).await.unwrap();
    // Attaching again changes nothing and still works.
    assert_eq!(net.attach_container(&a1, &att_a1).await.unwrap(), p_a1);
    for (id, p) in [(&a1, &p_a1), (&a2, &p_a2), (&b1, &p_b1)] {
        assert_eq!(*p, HostNetwork::netns_path(id));
        assert!(p.exists(), "{}", p.display());
    }

    // The bridge: up, without addresses (the gateways are the VPC router's).
    let br = ip_out(&["-n", &host.0, "-4", "addr", "show", "dev", "kb-aaaa0001"]);
    assert!(!br.contains("inet "), "{br}");
    let br = ip_out(&["-n", &host.0, "link", "show", "dev", "kb-aaaa0001"]);
    assert!(br.contains("state UP") || br.contains(",UP"), "{br}");
    // Routing between the bridges is what the isolation rule must stop: a stand-in
    // router (the gateways on the bridges themselves) provides it.
    for (att, gateway) in [(&att_a1, "10.11.0.1/24"), (&att_b1, "10.12.0.1/24")] {
        kumo_compute_node::testing::gateway_on_bridge(&host.0, &att.bridge, gateway).unwrap();
    }
    // The veth's host end is on the bridge, not in the root namespace.
    let veth = HostNetwork::veth_name(&a1);
    let link = ip_out(&["-n", &host.0, "link", "show", "dev", &veth]);
    assert!(link.contains("master kb-aaaa0001"), "{link}");
    assert!(!ip_out(&["link", "show"]).contains(&veth));
    // Inside the instance: eth0 with its MAC and address, lo up, default route.
    let ns_a1 = HostNetwork::netns_name(&a1);
    let eth0 = ip_out(&["-n", &ns_a1, "addr", "show", "dev", "eth0"]);
    assert!(eth0.contains("02:00:0a:0b:00:02"), "{eth0}");
    assert!(eth0.contains("10.11.0.2/24"), "{eth0}");
    let lo = ip_out(&["-n", &ns_a1, "link", "show", "dev", "lo"]);
    assert!(lo.contains("UP"), "{lo}");
    let routes = ip_out(&["-n", &ns_a1, "route", "show", "default"]);
    assert!(routes.contains("via 10.11.0.1 dev eth0"), "{routes}");

    // Same subnet: the instances see each other and the gateway.
    let ns_a2 = HostNetwork::netns_name(&a2);
    let ns_b1 = HostNetwork::netns_name(&b1);
    assert!(can_reach(&ns_a1, att_a2.ip), "a1 -> a2");
    assert!(can_reach(&ns_a2, att_a1.ip), "a2 -> a1");
    assert!(can_reach(&ns_a1, att_a1.gateway), "a1 -> gateway");
    assert!(can_reach(&ns_b1, att_b1.gateway), "b1 -> its gateway");

    // Other subnet: nothing gets through.
    assert!(cannot_reach(&ns_b1, att_a1.ip), "b1 must not reach a1");
    assert!(cannot_reach(&ns_a1, att_b1.ip), "a1 must not reach b1");

    // It is the nftables rule that keeps them apart: without it they are routed…
    let st = Command::new("ip")
        .args(["netns", "exec", &host.0, "nft", "delete table inet kumo"])
        .status()
        .unwrap();
    assert!(st.success());
    assert!(can_reach(&ns_b1, att_a1.ip), "routed without the rule");
    // …and ensure_bridge puts it back.
    net.ensure_bridge(&att_b1).await.unwrap();
    assert!(cannot_reach(&ns_b1, att_a1.ip), "rule restored");
    let ruleset = Command::new("ip")
        .args(["netns", "exec", &host.0, "nft", "list table inet kumo"])
        .output()
        .unwrap();
    let ruleset = String::from_utf8_lossy(&ruleset.stdout);
    assert_eq!(ruleset.matches("drop").count(), 1, "{ruleset}");
    assert!(
        can_reach(&ns_a1, att_a2.ip),
        "a1 -> a2 with the rule restored"
    );

    // Detach: veth and netns go; detaching again is fine.
    net.detach(&a1).await.unwrap();
    assert!(!link_exists(&host.0, &veth));
    assert!(!p_a1.exists());
    net.detach(&a1).await.unwrap();
    assert!(can_reach(&ns_a2, att_a2.gateway), "a2 unaffected");
    net.detach(&a2).await.unwrap();
    net.detach(&b1).await.unwrap();
    assert!(!p_a2.exists() && !p_b1.exists());
}

#[tokio::test]
async fn taps_join_the_bridge_and_go_away() {
    let host = NetnsGuard::new("kumo-t-");
    let net = HostNetwork::in_netns(&host.0);
    let id = instance_id();
    let a = att("kb-cccc0003", 13, 5);
    let tap = net.attach_vm(&id, &a).await.unwrap();
    assert_eq!(tap, HostNetwork::tap_name(&id));
    assert_eq!(net.attach_vm(&id, &a).await.unwrap(), tap); // idempotent
    let link = ip_out(&["-n", &host.0, "-d", "link", "show", "dev", &tap]);
    assert!(link.contains("master kb-cccc0003"), "{link}");
    assert!(link.contains("tun type tap"), "{link}");
    net.detach(&id).await.unwrap();
    assert!(!link_exists(&host.0, &tap));
    net.detach(&id).await.unwrap();
    net.remove_bridge("kb-cccc0003").await.unwrap();
    assert!(!link_exists(&host.0, "kb-cccc0003"));
    net.remove_bridge("kb-cccc0003").await.unwrap();
}
