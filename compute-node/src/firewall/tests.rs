//! The rendered text: shapes, mappings, references, order, and hostile input refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use kumo_compute_protocol::network::{
    HostNetworkSettings, InterfaceSpec, SecurityGroupSpec, SubnetSpec, VpcLinkNames,
};

use super::*;

fn rule(protocol: RuleProtocol, from: Option<u16>, to: Option<u16>) -> RuleSpec {
    RuleSpec {
        protocol,
        from_port: from,
        to_port: to,
        cidrs: Vec::new(),
        groups: Vec::new(),
    }
}

fn from_cidrs(mut rule: RuleSpec, cidrs: &[&str]) -> RuleSpec {
    rule.cidrs = cidrs.iter().map(|c| c.to_string()).collect();
    rule
}

fn from_groups(mut rule: RuleSpec, groups: &[&str]) -> RuleSpec {
    rule.groups = groups.iter().map(|g| g.to_string()).collect();
    rule
}

fn interface(id: &str, ip: [u8; 4], groups: &[&str]) -> InterfaceSpec {
    InterfaceSpec {
        network_interface_id: id.to_string(),
        instance_id: format!("i-{id}"),
        device_index: 0,
        subnet_id: "subnet-1".to_string(),
        mac: format!("02:00:00:00:00:{:02x}", ip[3]),
        private_ips: vec![Ipv4Addr::from(ip)],
        source_dest_check: true,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        public_ips: Vec::new(),
    }
}

fn group(id: &str, members: &[[u8; 4]], ingress: Vec<RuleSpec>) -> SecurityGroupSpec {
    SecurityGroupSpec {
        group_id: id.to_string(),
        member_ips: members.iter().map(|m| Ipv4Addr::from(*m)).collect(),
        ingress,
        egress: vec![from_cidrs(
            rule(RuleProtocol::All, None, None),
            &["0.0.0.0/0"],
        )],
    }
}

fn vpc(id: &str, vni: u32) -> VpcSpec {
    VpcSpec {
        vpc_id: id.to_string(),
        vni,
        bridge: VpcLinkNames::for_vpc(id).bridge,
        vxlan: VpcLinkNames::for_vpc(id).vxlan,
        router_netns: "kumo-r-0".to_string(),
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
        interfaces: vec![
            interface("eni-a", [10, 0, 1, 10], &["sg-web"]),
            interface("eni-b", [10, 0, 1, 11], &["sg-db"]),
        ],
        remote_interfaces: Vec::new(),
        security_groups: vec![
            group("sg-web", &[[10, 0, 1, 10]], Vec::new()),
            group(
                "sg-db",
                &[[10, 0, 1, 11]],
                vec![from_groups(
                    rule(RuleProtocol::Tcp, Some(80), Some(80)),
                    &["sg-web"],
                )],
            ),
        ],
    }
}

fn spec(vpcs: Vec<VpcSpec>) -> HostNetworkSpec {
    HostNetworkSpec {
        generation: 1,
        host: HostNetworkSettings::default(),
        vpcs,
    }
}

fn ports() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("eni-a".to_string(), "kvaaaa".to_string()),
        ("eni-b".to_string(), "kvbbbb".to_string()),
    ])
}

fn name(prefix: &str, parts: &[&str]) -> String {
    Names::default().unique(prefix, parts).unwrap()
}

/// The rules of one chain, without the `add rule <family> <table> <chain> ` prefix.
fn rules_of(script: &str, family: &str, table: &str, chain: &str) -> Vec<String> {
    let prefix = format!("add rule {family} {table} {chain} ");
    script
        .lines()
        .filter_map(|line| line.strip_prefix(&prefix).map(str::to_string))
        .collect()
}

fn sg_rules(script: &str, chain: &str) -> Vec<String> {
    rules_of(script, "inet", SG_TABLE, chain)
}

#[test]
fn base_chains_zones_and_dispatch() {
    let script = render(&spec(vec![vpc("vpc-1", 70_001)]), &ports()).unwrap();
    let bridge = VpcLinkNames::for_vpc("vpc-1").bridge;
    let vpc_chain = name("vpc", &["vpc-1"]);
    assert!(script.starts_with(&format!(
        "add table inet {SG_TABLE}\ndelete table inet {SG_TABLE}\nadd table inet {SG_TABLE}\n"
    )));
    assert!(script.contains(
        "add chain inet kumo_sg zones { type filter hook prerouting priority -300; policy accept; }"
    ));
    // 1 + 70001 % 65000.
    assert_eq!(
        sg_rules(&script, "zones"),
        [format!("ct zone set iifname map {{ \"{bridge}\" : 5002 }}")]
    );
    assert_eq!(
        sg_rules(&script, "forward"),
        [
            "iifname != \"kb-*\" accept".to_string(),
            "ct state established,related accept".to_string(),
            "ct state invalid drop".to_string(),
            "ip daddr 169.254.169.254 accept".to_string(),
            format!("iifname vmap {{ \"{bridge}\" : jump {vpc_chain} }}"),
        ]
    );
    let ing = name("ing", &["vpc-1"]);
    let (out_a, out_b) = (
        name("out", &["vpc-1", "eni-a"]),
        name("out", &["vpc-1", "eni-b"]),
    );
    let (in_a, in_b) = (
        name("in", &["vpc-1", "eni-a"]),
        name("in", &["vpc-1", "eni-b"]),
    );
    assert_eq!(
        sg_rules(&script, &vpc_chain),
        [
            "ip daddr 10.0.0.2 meta l4proto { tcp, udp } th dport 53 accept".to_string(),
            "ip daddr { 255.255.255.255, 10.0.1.1 } udp sport 68 udp dport 67 accept".to_string(),
            "ip saddr { 10.0.1.1 } udp sport 67 udp dport 68 accept".to_string(),
            format!("ip saddr vmap {{ 10.0.1.10 : goto {out_a}, 10.0.1.11 : goto {out_b} }}"),
            format!("goto {ing}"),
        ]
    );
    assert_eq!(
        sg_rules(&script, &ing),
        [
            format!("ip daddr vmap {{ 10.0.1.10 : goto {in_a}, 10.0.1.11 : goto {in_b} }}"),
            "accept".to_string(),
        ]
    );
}

#[test]
fn interfaces_jump_to_their_groups_and_drop() {
    let script = render(&spec(vec![vpc("vpc-1", 1)]), &ports()).unwrap();
    let (eg_db, ig_db) = (
        name("eg", &["vpc-1", "sg-db"]),
        name("ig", &["vpc-1", "sg-db"]),
    );
    assert_eq!(
        sg_rules(&script, &name("out", &["vpc-1", "eni-b"])),
        [format!("jump {eg_db}"), "drop".to_string()]
    );
    assert_eq!(
        sg_rules(&script, &name("in", &["vpc-1", "eni-b"])),
        [format!("jump {ig_db}"), "drop".to_string()]
    );
    // The group reference: web's member set, as the source of db's ingress rule.
    let sg_web = name("sg", &["vpc-1", "sg-web"]);
    assert!(script.contains(&format!(
        "add set inet kumo_sg {sg_web} {{ type ipv4_addr; }}\nadd element inet kumo_sg {sg_web} {{ 10.0.1.10 }}\n"
    )));
    assert_eq!(
        sg_rules(&script, &ig_db),
        [format!("ip saddr @{sg_web} tcp dport 80 accept")]
    );
    // Default egress allow-all: anything IPv4 goes on to the ingress check.
    let ing = name("ing", &["vpc-1"]);
    assert_eq!(
        sg_rules(&script, &eg_db),
        [format!("meta nfproto ipv4 goto {ing}")]
    );
    // Web has no ingress rule: its chain is empty, its interface's chain ends in drop.
    assert!(sg_rules(&script, &name("ig", &["vpc-1", "sg-web"])).is_empty());
}

#[test]
fn protocols_ports_and_icmp() {
    let cases = [
        (
            rule(RuleProtocol::All, None, None),
            "ip saddr { 192.0.2.0/24 }",
        ),
        (
            rule(RuleProtocol::Tcp, Some(22), Some(22)),
            "ip saddr { 192.0.2.0/24 } tcp dport 22",
        ),
        (
            rule(RuleProtocol::Tcp, Some(1000), Some(2000)),
            "ip saddr { 192.0.2.0/24 } tcp dport 1000-2000",
        ),
        (
            rule(RuleProtocol::Tcp, Some(0), Some(65535)),
            "ip saddr { 192.0.2.0/24 } meta l4proto tcp",
        ),
        (
            rule(RuleProtocol::Udp, Some(53), Some(53)),
            "ip saddr { 192.0.2.0/24 } udp dport 53",
        ),
        (
            rule(RuleProtocol::Udp, None, None),
            "ip saddr { 192.0.2.0/24 } meta l4proto udp",
        ),
        (
            rule(RuleProtocol::Icmp, None, None),
            "ip saddr { 192.0.2.0/24 } meta l4proto icmp",
        ),
        (
            rule(RuleProtocol::Icmp, Some(8), None),
            "ip saddr { 192.0.2.0/24 } icmp type 8",
        ),
        (
            rule(RuleProtocol::Icmp, Some(3), Some(4)),
            "ip saddr { 192.0.2.0/24 } icmp type 3 icmp code 4",
        ),
        (
            rule(RuleProtocol::Number(47), Some(1), Some(2)),
            "ip saddr { 192.0.2.0/24 } meta l4proto 47",
        ),
    ];
    for (rule, expected) in cases {
        let rule = from_cidrs(rule, &["192.0.2.0/24"]);
        let lines = rule_lines(&rule, Direction::Ingress, &BTreeMap::new()).unwrap();
        assert_eq!(lines, [expected], "{rule:?}");
    }
    let egress = from_cidrs(
        rule(RuleProtocol::Tcp, Some(443), Some(443)),
        &["198.51.100.7/32"],
    );
    assert_eq!(
        rule_lines(&egress, Direction::Egress, &BTreeMap::new()).unwrap(),
        ["ip daddr { 198.51.100.7/32 } tcp dport 443"]
    );
}

#[test]
fn cidrs_normalized_sorted_deduplicated_and_any() {
    let rule = from_cidrs(
        rule(RuleProtocol::Tcp, Some(80), Some(80)),
        &[
            "10.9.9.9/8",
            "192.168.0.0/16",
            "10.0.0.0/8",
            "172.16.5.4/32",
        ],
    );
    assert_eq!(
        rule_lines(&rule, Direction::Ingress, &BTreeMap::new()).unwrap(),
        ["ip saddr { 10.0.0.0/8, 172.16.5.4/32, 192.168.0.0/16 } tcp dport 80"]
    );
    let any = from_cidrs(rule.clone(), &["10.0.0.0/8", "0.0.0.0/0"]);
    assert_eq!(
        rule_lines(&any, Direction::Ingress, &BTreeMap::new()).unwrap(),
        ["meta nfproto ipv4 tcp dport 80"]
    );
}

#[test]
fn rule_with_cidrs_and_groups_is_one_line_per_peer_and_unknown_groups_match_nothing() {
    let mut vpc = vpc("vpc-1", 1);
    vpc.security_groups[1].ingress = vec![from_groups(
        from_cidrs(
            rule(RuleProtocol::Tcp, Some(22), Some(22)),
            &["192.0.2.0/24"],
        ),
        &["sg-web", "sg-db", "sg-unknown", "sg-web"],
    )];
    let script = render(&spec(vec![vpc]), &ports()).unwrap();
    let (sg_db, sg_web) = (
        name("sg", &["vpc-1", "sg-db"]),
        name("sg", &["vpc-1", "sg-web"]),
    );
    let mut expected = vec![
        "ip saddr { 192.0.2.0/24 } tcp dport 22 accept".to_string(),
        format!("ip saddr @{sg_db} tcp dport 22 accept"),
        format!("ip saddr @{sg_web} tcp dport 22 accept"),
    ];
    expected.sort();
    assert_eq!(
        sg_rules(&script, &name("ig", &["vpc-1", "sg-db"])),
        expected
    );
    assert!(!script.contains("sg-unknown"));
}

#[test]
fn same_spec_in_any_order_renders_the_same_text() {
    let ordered = spec(vec![vpc("vpc-1", 1), vpc("vpc-2", 2)]);
    let mut shuffled = ordered.clone();
    shuffled.vpcs.reverse();
    for vpc in &mut shuffled.vpcs {
        vpc.interfaces.reverse();
        vpc.security_groups.reverse();
        vpc.subnets.reverse();
        vpc.security_groups[0].member_ips.reverse();
        let extra = from_cidrs(rule(RuleProtocol::Udp, Some(1), Some(2)), &["10.0.0.0/8"]);
        vpc.security_groups[0].ingress.insert(0, extra.clone());
        vpc.security_groups[0].ingress.push(extra.clone());
    }
    let mut with_extra = ordered.clone();
    for vpc in &mut with_extra.vpcs {
        let db = vpc
            .security_groups
            .iter_mut()
            .find(|g| g.group_id == "sg-db")
            .unwrap();
        db.ingress.push(from_cidrs(
            rule(RuleProtocol::Udp, Some(1), Some(2)),
            &["10.0.0.0/8"],
        ));
    }
    // The interface ids repeat across the two VPCs: no ports.
    let none = BTreeMap::new();
    let first = render(&with_extra, &none).unwrap();
    assert_eq!(first, render(&shuffled, &none).unwrap());
    assert_eq!(first, render(&with_extra, &none).unwrap());
    // Both VPCs in one dispatch map, in bridge order.
    let (b1, b2) = (
        VpcLinkNames::for_vpc("vpc-1").bridge,
        VpcLinkNames::for_vpc("vpc-2").bridge,
    );
    let zones = &sg_rules(&first, "zones")[0];
    let mut expected = [format!("\"{b1}\" : 2"), format!("\"{b2}\" : 3")];
    expected.sort();
    assert!(zones.contains(&expected.join(", ")), "{zones}");
}

#[test]
fn anti_spoofing_per_port() {
    let mut vpc = vpc("vpc-1", 1);
    vpc.interfaces[1].source_dest_check = false;
    vpc.interfaces[0]
        .private_ips
        .push(Ipv4Addr::new(10, 0, 1, 5));
    vpc.interfaces
        .push(interface("eni-c", [10, 0, 1, 12], &["sg-web"]));
    let script = render(&spec(vec![vpc]), &ports()).unwrap();
    let spoof = |chain: &str| rules_of(&script, "bridge", SPOOF_TABLE, chain);
    let (port_a, port_b) = (
        name("port", &["vpc-1", "eni-a"]),
        name("port", &["vpc-1", "eni-b"]),
    );
    assert!(script.contains(
        "add chain bridge kumo_spoof prerouting { type filter hook prerouting priority -200; policy accept; }"
    ));
    // eni-c has no port (yet): not in the map.
    assert_eq!(
        spoof("prerouting"),
        [format!(
            "iifname vmap {{ \"kvaaaa\" : jump {port_a}, \"kvbbbb\" : jump {port_b} }}"
        )]
    );
    assert_eq!(
        spoof(&port_a),
        [
            "ether saddr != 02:00:00:00:00:0a drop",
            "ether type != { ip, arp } drop",
            "arp saddr ether != 02:00:00:00:00:0a drop",
            "ip saddr != { 10.0.1.5, 10.0.1.10, 0.0.0.0 } drop",
            "arp saddr ip != { 10.0.1.5, 10.0.1.10, 0.0.0.0 } drop",
        ]
    );
    // Source/dest check off: any address, still its own MAC.
    assert_eq!(
        spoof(&port_b),
        [
            "ether saddr != 02:00:00:00:00:0b drop",
            "ether type != { ip, arp } drop",
            "arp saddr ether != 02:00:00:00:00:0b drop",
        ]
    );
}

#[test]
fn hostile_strings_are_refused_or_never_reach_nft() {
    let hostile = "x; flush ruleset; }\n";
    // Ids only ever appear hashed.
    let mut tame = vpc("vpc-1", 1);
    tame.vpc_id = format!("vpc-{hostile}");
    tame.interfaces[0].network_interface_id = hostile.to_string();
    tame.interfaces[0].groups.push(hostile.to_string());
    tame.security_groups[0].group_id = hostile.to_string();
    let mut ports = ports();
    ports.insert(hostile.to_string(), "kvcccc".to_string());
    let script = render(&spec(vec![tame]), &ports).unwrap();
    assert!(!script.contains("flush"));
    assert!(script
        .lines()
        .all(|l| l.starts_with("add ") || l.starts_with("delete ")));

    let refused = |edit: &dyn Fn(&mut VpcSpec), ports: &BTreeMap<String, String>| {
        let mut bad = vpc("vpc-1", 1);
        edit(&mut bad);
        let error = render(&spec(vec![bad]), ports).unwrap_err();
        assert!(matches!(error, NodeError::InvalidSpec(_)), "{error}");
    };
    let plain = super::tests::ports();
    refused(&|v| v.bridge = "kb-x\" accept".to_string(), &plain);
    refused(&|v| v.bridge = "eth0".to_string(), &plain);
    refused(&|v| v.bridge = "kb-0123456789abcdef".to_string(), &plain);
    refused(
        &|v| v.interfaces[0].mac = "02:00:00:00:00:0a drop".to_string(),
        &plain,
    );
    refused(
        &|v| v.interfaces[1].private_ips = v.interfaces[0].private_ips.clone(),
        &plain,
    );
    refused(
        &|v| v.security_groups.push(v.security_groups[0].clone()),
        &plain,
    );
    let cidrs = [
        "10.0.0.0/8 }",
        "10.0.0.0",
        "10.0.0.0/33",
        "10.0.0.0/+8",
        "::/0",
        "10.0.0/8",
        "10.0.0.0/08 ",
    ];
    for cidr in cidrs {
        refused(
            &|v| {
                v.security_groups[0].ingress =
                    vec![from_cidrs(rule(RuleProtocol::All, None, None), &[cidr])]
            },
            &plain,
        );
    }
    refused(
        &|v| {
            v.security_groups[0].ingress = vec![from_cidrs(
                rule(RuleProtocol::Tcp, Some(90), Some(80)),
                &["10.0.0.0/8"],
            )]
        },
        &plain,
    );
    refused(
        &|v| {
            v.security_groups[0].egress = vec![from_cidrs(
                rule(RuleProtocol::Icmp, Some(256), None),
                &["10.0.0.0/8"],
            )]
        },
        &plain,
    );
    let mut bad_port = plain.clone();
    bad_port.insert("eni-a".to_string(), "kv\"; flush ruleset".to_string());
    refused(&|_| {}, &bad_port);
    let mut wildcard = plain.clone();
    wildcard.insert("eni-a".to_string(), "kv*".to_string());
    refused(&|_| {}, &wildcard);
    let mut shared = plain;
    shared.insert("eni-b".to_string(), "kvaaaa".to_string());
    refused(&|_| {}, &shared);
    // Two VPCs claiming one bridge.
    let mut twin = vpc("vpc-2", 2);
    twin.bridge = VpcLinkNames::for_vpc("vpc-1").bridge;
    assert!(render(&spec(vec![vpc("vpc-1", 1), twin]), &super::tests::ports()).is_err());
}

#[test]
fn zones_stay_in_range() {
    assert_eq!(conntrack_zone(0), 1);
    assert_eq!(conntrack_zone(64_999), 65_000);
    assert_eq!(conntrack_zone(65_000), 1);
    assert_eq!(conntrack_zone(u32::MAX), 1 + (u32::MAX % 65_000) as u16);
}

/// A two-VPC sample renders both tables (run with `--nocapture` to read the script).
#[test]
fn sample_with_two_vpcs_renders() {
    let mut two = vpc("vpc-2", 2);
    for i in &mut two.interfaces {
        i.network_interface_id.push('2');
    }
    let script = render(&spec(vec![vpc("vpc-1", 1), two]), &ports()).unwrap();
    assert!(script.contains("table inet kumo_sg"), "{script}");
    assert!(script.contains("table bridge kumo_spoof"), "{script}");
    print!("{script}");
}
