#![allow(clippy::unwrap_used)]
//! What each host is told to build (`host_plans::for_host`) against a real catalog: two
//! accounts with a VPC each on the same CIDR, instances on three hosts (one without a
//! tunnel endpoint), a secondary interface, an elastic IP, security groups naming each
//! other, the internet-gateway route switched on and off, DNS support off, and a stopped
//! instance leaving the other hosts' lists.

use std::net::Ipv4Addr;

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::ids::{InstanceId, NetworkInterfaceId, SubnetId};
use kumo_compute_protocol::network::{
    router_netns, PublicMapping, RuleProtocol, RuleSpec as Planned, VpcLinkNames, VpcSpec,
};
use kumo_network::addresses::pools::{self, CreateAddressPool};
use kumo_network::addresses::{self, AddressRef, AssociateAddress};
use kumo_network::network_interfaces::{self as enis, instances::LaunchRequest};
use kumo_network::route_tables::{self, RouteTarget};
use kumo_network::security_group_rules::{self, RuleSpec};
use kumo_network::security_groups::{self, CreateSecurityGroup};
use kumo_network::vpcs::{self, VpcAttribute};
use kumo_network::{host_plans, internet_gateways, subnets, Network, NetworkConfig};
use sqlx::PgPool;

fn principal(account: &str, role: Role) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role,
        method: AuthMethod::Bearer,
    }
}

fn ip(text: &str) -> Ipv4Addr {
    text.parse().unwrap()
}

/// A host with its tunnel endpoint (as its agent reports it), if any.
async fn host(pool: &PgPool, name: &str, vtep: Option<&str>) -> String {
    let host_id = format!("host-{name}");
    sqlx::query(
        "INSERT INTO compute.hosts (host_id, name, zone, address, token_sha256, vcpus, memory_mib,
             disk_gib, kinds, reported_vtep_address)
         VALUES ($1, $2, 'us-east-1a', '127.0.0.1', 'x', 4, 4096, 10, ARRAY['container'], $3::inet)",
    )
    .bind(&host_id)
    .bind(name)
    .bind(vtep)
    .execute(pool)
    .await
    .unwrap();
    host_id
}

/// An instance placed on `host_id` and running, with its primary interface.
async fn instance(
    network: &Network,
    caller: &Principal,
    host_id: &str,
    subnet_id: &str,
    groups: &[&str],
    secondary: Option<i64>,
) -> (String, enis::NetworkInterface) {
    let request = LaunchRequest {
        subnet_id: Some(subnet_id.into()),
        group_ids: groups.iter().map(|g| g.to_string()).collect(),
        secondary_count: secondary,
        ..Default::default()
    };
    instance_with(network, caller, host_id, request).await
}

async fn instance_with(
    network: &Network,
    caller: &Principal,
    host_id: &str,
    request: LaunchRequest,
) -> (String, enis::NetworkInterface) {
    let subnet_id = request.subnet_id.clone().unwrap();
    let instance_id = InstanceId::generate().into_string();
    sqlx::query(
        "INSERT INTO compute.instances (instance_id, account_id, reservation_id, image_id,
             instance_type, kind, vcpus, memory_mib, host_id, zone, state, desired_state,
             subnet_id, mac)
         VALUES ($1, $2, 'r-1', 'ami-1', 't3.micro', 'container', 2, 1024, $3, 'us-east-1a',
             'running', 'running', $4, '02:00:00:00:00:00')",
    )
    .bind(&instance_id)
    .bind(&caller.account_id)
    .bind(host_id)
    .bind(&subnet_id)
    .execute(&network.pool)
    .await
    .unwrap();
    let mut tx = network.pool.begin().await.unwrap();
    let primary = enis::instances::launch_primary(
        network,
        &mut tx,
        caller,
        &request,
        &instance_id,
        "us-east-1a",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (instance_id, primary)
}

async fn vpc(network: &Network, caller: &Principal) -> String {
    vpcs::create(
        network,
        caller,
        &vpcs::CreateVpc {
            cidr_block: "10.0.0.0/16".into(),
            tags: Default::default(),
        },
    )
    .await
    .unwrap()
    .vpc_id
}

async fn subnet(network: &Network, caller: &Principal, vpc_id: &str, cidr: &str) -> String {
    subnets::create(
        network,
        caller,
        &subnets::CreateSubnet {
            vpc_id: vpc_id.into(),
            cidr_block: cidr.into(),
            availability_zone: Some("us-east-1a".into()),
            tags: Default::default(),
        },
    )
    .await
    .unwrap()
    .subnet_id
}

async fn group(network: &Network, caller: &Principal, vpc_id: &str, name: &str) -> String {
    security_groups::create(
        network,
        caller,
        &CreateSecurityGroup {
            group_name: name.into(),
            description: name.into(),
            vpc_id: Some(vpc_id.into()),
            tags: Default::default(),
        },
    )
    .await
    .unwrap()
    .group_id
}

fn rule(protocol: &str, ports: (i32, i32), cidr: Option<&str>, group: Option<&str>) -> RuleSpec {
    RuleSpec {
        protocol: protocol.into(),
        from_port: Some(ports.0),
        to_port: Some(ports.1),
        cidr: cidr.map(str::to_string),
        referenced_group_id: group.map(str::to_string),
        description: None,
    }
}

async fn main_table(pool: &PgPool, vpc_id: &str) -> String {
    sqlx::query_scalar(
        "SELECT route_table_id FROM network.route_tables WHERE vpc_id = $1 AND is_main",
    )
    .bind(vpc_id)
    .fetch_one(pool)
    .await
    .unwrap()
}

fn find<'a>(specs: &'a [VpcSpec], vpc_id: &str) -> &'a VpcSpec {
    specs.iter().find(|s| s.vpc_id == vpc_id).unwrap()
}

fn primary_ip(eni: &enis::NetworkInterface) -> Ipv4Addr {
    ip(&eni.private_ip_address)
}

#[tokio::test]
async fn each_host_is_told_its_vpcs_interfaces_tunnels_and_groups() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool.clone(), Default::default());
    let operator = principal("000000000000", Role::Operator);
    let alice = principal("111111111111", Role::Admin);
    let bob = principal("222222222222", Role::Admin);
    let h1 = host(&pool, "h1", Some("10.77.0.11")).await;
    let h2 = host(&pool, "h2", Some("10.77.0.12")).await;
    let h3 = host(&pool, "h3", None).await;
    let idle = host(&pool, "idle", Some("10.77.0.13")).await;

    // Alice: a public subnet (its own table routes 0.0.0.0/0 to the gateway) and a
    // private one (the main table, without such a route).
    let vpc_a = vpc(&network, &alice).await;
    let public = subnet(&network, &alice, &vpc_a, "10.0.1.0/24").await;
    let private = subnet(&network, &alice, &vpc_a, "10.0.2.0/24").await;
    let igw = internet_gateways::create(&network, &alice, &Default::default())
        .await
        .unwrap()
        .internet_gateway_id;
    internet_gateways::attach(&network, &alice, &igw, &vpc_a)
        .await
        .unwrap();
    let public_table = route_tables::create(&network, &alice, &vpc_a, &Default::default())
        .await
        .unwrap()
        .route_table_id;
    route_tables::create_route(
        &network,
        &alice,
        &public_table,
        "0.0.0.0/0",
        &RouteTarget::Gateway(igw.clone()),
    )
    .await
    .unwrap();
    route_tables::associate(&network, &alice, &public_table, &public)
        .await
        .unwrap();
    let web = group(&network, &alice, &vpc_a, "web").await;
    let app = group(&network, &alice, &vpc_a, "app").await;
    security_group_rules::authorize(
        &network,
        &alice,
        &web,
        false,
        &[
            rule("tcp", (80, 80), None, Some(&app)),
            rule("tcp", (22, 22), Some("192.0.2.0/24"), None),
            rule("tcp", (80, 80), Some("198.51.100.0/24"), None),
            rule("icmp", (-1, -1), Some("10.0.0.0/16"), None),
            rule("icmp", (8, 0), Some("10.0.0.0/16"), None),
            rule("50", (0, 0), Some("0.0.0.0/0"), None),
        ],
        &Default::default(),
    )
    .await
    .unwrap();

    // Bob: the same CIDR, one subnet.
    let vpc_b = vpc(&network, &bob).await;
    let bob_subnet = subnet(&network, &bob, &vpc_b, "10.0.1.0/24").await;

    let (web1, web1_eni) = instance(&network, &alice, &h1, &public, &[&web], Some(1)).await;
    let (app2, app2_eni) = instance(&network, &alice, &h2, &private, &[&app], None).await;
    let (_app3, app3_eni) = instance(&network, &alice, &h3, &public, &[&app], None).await;
    let (_bob1, bob1_eni) = instance(&network, &bob, &h1, &bob_subnet, &[], None).await;
    let (_bob2, bob2_eni) = instance(&network, &bob, &h2, &bob_subnet, &[], None).await;
    // Same addresses in both VPCs: the first free one of 10.0.1.0/24.
    assert_eq!(web1_eni.private_ip_address, bob1_eni.private_ip_address);

    // A secondary interface (in the private subnet) on web1, and an elastic IP.
    let extra = enis::create(
        &network,
        &alice,
        &enis::CreateNetworkInterface {
            subnet_id: SubnetId::parse(&private).unwrap(),
            description: None,
            private_ip_address: None,
            groups: vec![kumo_common::ids::SecurityGroupId::parse(&web).unwrap()],
            secondary_private_ip_address_count: None,
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    let extra_id = NetworkInterfaceId::parse(&extra.network_interface_id).unwrap();
    enis::instances::attach(
        &network,
        &alice,
        &extra_id,
        &InstanceId::parse(&web1).unwrap(),
        1,
    )
    .await
    .unwrap();
    pools::create(
        &network,
        &operator,
        &CreateAddressPool {
            name: "public".into(),
            zone: "us-east-1a".into(),
            cidr: "203.0.113.128/25".into(),
        },
    )
    .await
    .unwrap();
    let eip = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap();
    addresses::associate(
        &network,
        &alice,
        &AddressRef::PublicIp(ip(&eip.public_ip)),
        &AssociateAddress {
            network_interface_id: Some(
                NetworkInterfaceId::parse(&web1_eni.network_interface_id).unwrap(),
            ),
            ..Default::default()
        },
    )
    .await
    .unwrap();

    // Host 1 carries both VPCs, named alike on every host, with its own router namespace.
    let specs = host_plans::for_host(&network, &h1).await.unwrap();
    let mut ids = vec![vpc_a.clone(), vpc_b.clone()];
    ids.sort();
    assert_eq!(
        specs.iter().map(|s| s.vpc_id.clone()).collect::<Vec<_>>(),
        ids
    );
    let a = find(&specs, &vpc_a);
    let b = find(&specs, &vpc_b);
    let names = VpcLinkNames::for_vpc(&vpc_a);
    assert_eq!(
        (a.bridge.as_str(), a.vxlan.as_str()),
        (names.bridge.as_str(), names.vxlan.as_str())
    );
    assert_eq!(a.router_netns, router_netns(&h1, &vpc_a));
    assert_ne!(a.vni, b.vni);
    assert_ne!(a.bridge, b.bridge);
    assert_eq!(a.cidr_blocks, ["10.0.0.0/16"]);
    assert_eq!(a.dns_address, Some(ip("10.0.0.2")));
    assert_eq!(a.dns_domain, "ec2.internal");

    // Every subnet, the gateway at base + 1; only the public one reaches the gateway.
    let subnets: Vec<_> = a
        .subnets
        .iter()
        .map(|s| {
            (
                s.subnet_id.as_str(),
                s.gateway,
                s.prefix_len,
                s.internet_gateway,
            )
        })
        .collect();
    assert_eq!(
        subnets,
        [
            (public.as_str(), ip("10.0.1.1"), 24, true),
            (private.as_str(), ip("10.0.2.1"), 24, false)
        ]
    );
    assert!(!b.subnets[0].internet_gateway, "bob has no gateway");

    // web1's two interfaces: addresses primary first, groups, the elastic IP.
    assert_eq!(a.interfaces.len(), 2);
    let primary = &a.interfaces[0];
    assert_eq!(
        (
            primary.instance_id.as_str(),
            primary.device_index,
            primary.subnet_id.as_str()
        ),
        (web1.as_str(), 0, public.as_str())
    );
    assert_eq!(primary.network_interface_id, web1_eni.network_interface_id);
    assert_eq!(primary.mac, web1_eni.mac_address);
    assert_eq!(primary.private_ips.len(), 2);
    assert_eq!(primary.private_ips[0], primary_ip(&web1_eni));
    assert!(primary.source_dest_check);
    assert_eq!(primary.groups, vec![web.clone()]);
    assert_eq!(
        primary.public_ips,
        [PublicMapping {
            private_ip: primary_ip(&web1_eni),
            public_ip: ip(&eip.public_ip)
        }]
    );
    let secondary = &a.interfaces[1];
    assert_eq!(
        (
            secondary.network_interface_id.as_str(),
            secondary.device_index,
            secondary.subnet_id.as_str()
        ),
        (extra.network_interface_id.as_str(), 1, private.as_str())
    );
    assert!(secondary.public_ips.is_empty());

    // Remote: app2 on host 2; app3's host has no tunnel endpoint, so it is not listed.
    assert_eq!(a.remote_interfaces.len(), 1);
    assert_eq!(a.remote_interfaces[0].mac, app2_eni.mac_address);
    assert_eq!(a.remote_interfaces[0].private_ips, [primary_ip(&app2_eni)]);
    assert_eq!(a.remote_interfaces[0].vtep_address, ip("10.77.0.12"));
    // Bob's VPC on the same host: his own interface, his own remote.
    assert_eq!(b.interfaces.len(), 1);
    assert_eq!(b.interfaces[0].mac, bob1_eni.mac_address);
    assert_eq!(b.remote_interfaces.len(), 1);
    assert_eq!(b.remote_interfaces[0].mac, bob2_eni.mac_address);

    // Groups: web (local) and app (named by web's rule), with every member's addresses.
    let mut group_ids = vec![web.clone(), app.clone()];
    group_ids.sort();
    assert_eq!(
        a.security_groups
            .iter()
            .map(|g| g.group_id.clone())
            .collect::<Vec<_>>(),
        group_ids
    );
    let web_spec = a
        .security_groups
        .iter()
        .find(|g| g.group_id == web)
        .unwrap();
    let app_spec = a
        .security_groups
        .iter()
        .find(|g| g.group_id == app)
        .unwrap();
    let mut app_members = vec![primary_ip(&app2_eni), primary_ip(&app3_eni)];
    app_members.sort();
    assert_eq!(app_spec.member_ips, app_members);
    let mut web_members = primary.private_ips.clone();
    web_members.extend(secondary.private_ips.iter().copied());
    web_members.sort();
    assert_eq!(web_spec.member_ips, web_members);
    let tcp80 = Planned {
        protocol: RuleProtocol::Tcp,
        from_port: Some(80),
        to_port: Some(80),
        cidrs: vec!["198.51.100.0/24".into()],
        groups: vec![app.clone()],
    };
    let all = |cidr: &str| Planned {
        protocol: RuleProtocol::All,
        from_port: None,
        to_port: None,
        cidrs: vec![cidr.into()],
        groups: vec![],
    };
    // Ordered by what they match: protocol, ports, peers.
    assert_eq!(
        web_spec.ingress,
        [
            Planned {
                protocol: RuleProtocol::Number(50),
                from_port: None,
                to_port: None,
                cidrs: vec!["0.0.0.0/0".into()],
                groups: vec![],
            },
            Planned {
                protocol: RuleProtocol::Icmp,
                from_port: None,
                to_port: None,
                cidrs: vec!["10.0.0.0/16".into()],
                groups: vec![],
            },
            Planned {
                protocol: RuleProtocol::Icmp,
                from_port: Some(8),
                to_port: Some(0),
                cidrs: vec!["10.0.0.0/16".into()],
                groups: vec![],
            },
            Planned {
                protocol: RuleProtocol::Tcp,
                from_port: Some(22),
                to_port: Some(22),
                cidrs: vec!["192.0.2.0/24".into()],
                groups: vec![],
            },
            tcp80,
        ]
    );
    // AWS's default egress rule.
    assert_eq!(web_spec.egress, [all("0.0.0.0/0")]);
    // Bob's default group: its self-referencing ingress rule, and only his address.
    assert_eq!(b.security_groups.len(), 1);
    let bob_default = &b.security_groups[0];
    assert_eq!(bob_default.ingress.len(), 1);
    assert_eq!(
        bob_default.ingress[0].groups,
        vec![bob_default.group_id.clone()]
    );
    let mut bob_members = vec![primary_ip(&bob1_eni), primary_ip(&bob2_eni)];
    bob_members.sort();
    assert_eq!(bob_default.member_ips, bob_members);

    // Host 3 has no tunnel endpoint itself, but is told where the others are.
    let h3_specs = host_plans::for_host(&network, &h3).await.unwrap();
    assert_eq!(h3_specs.len(), 1);
    let on_h3 = &h3_specs[0];
    assert_eq!(on_h3.router_netns, router_netns(&h3, &vpc_a));
    let mut macs: Vec<_> = on_h3
        .remote_interfaces
        .iter()
        .map(|r| r.mac.clone())
        .collect();
    macs.sort();
    let mut expected = vec![
        web1_eni.mac_address.clone(),
        extra.mac_address.clone(),
        app2_eni.mac_address.clone(),
    ];
    expected.sort();
    assert_eq!(macs, expected);
    // A host without instances has nothing to build.
    assert!(host_plans::for_host(&network, &idle)
        .await
        .unwrap()
        .is_empty());

    // The main table gains a default route to the gateway: the private subnet reaches it.
    let main = main_table(&pool, &vpc_a).await;
    route_tables::create_route(
        &network,
        &alice,
        &main,
        "0.0.0.0/0",
        &RouteTarget::Gateway(igw),
    )
    .await
    .unwrap();
    let a = find(&host_plans::for_host(&network, &h1).await.unwrap(), &vpc_a).clone();
    assert!(a.subnets.iter().all(|s| s.internet_gateway));
    route_tables::delete_route(&network, &alice, &main, "0.0.0.0/0")
        .await
        .unwrap();
    let a = find(&host_plans::for_host(&network, &h1).await.unwrap(), &vpc_a).clone();
    assert!(
        !a.subnets
            .iter()
            .find(|s| s.subnet_id == private)
            .unwrap()
            .internet_gateway
    );

    // DNS support off: no resolver address.
    vpcs::modify_attribute(
        &network,
        &alice,
        &vpc_a,
        VpcAttribute::EnableDnsSupport,
        false,
    )
    .await
    .unwrap();
    let a = find(&host_plans::for_host(&network, &h1).await.unwrap(), &vpc_a).clone();
    assert_eq!(a.dns_address, None);

    // app2 stops: host 1 no longer tunnels to it, and host 2 has nothing of Alice's left.
    sqlx::query("UPDATE compute.instances SET desired_state = 'stopped', state = 'stopped' WHERE instance_id = $1")
        .bind(&app2)
        .execute(&pool)
        .await
        .unwrap();
    let a = find(&host_plans::for_host(&network, &h1).await.unwrap(), &vpc_a).clone();
    assert!(a.remote_interfaces.is_empty());
    let h2_specs = host_plans::for_host(&network, &h2).await.unwrap();
    assert_eq!(
        h2_specs
            .iter()
            .map(|s| s.vpc_id.clone())
            .collect::<Vec<_>>(),
        vec![vpc_b.clone()]
    );

    // A launch-time public address is a mapping like an elastic IP.
    let (_, launched) = instance_with(
        &network,
        &alice,
        &h2,
        LaunchRequest {
            subnet_id: Some(public.clone()),
            associate_public_ip: Some(true),
            ..Default::default()
        },
    )
    .await;
    let on_h2 = host_plans::for_host(&network, &h2).await.unwrap();
    let launched_spec = find(&on_h2, &vpc_a)
        .interfaces
        .iter()
        .find(|i| i.network_interface_id == launched.network_interface_id)
        .unwrap();
    assert_eq!(launched_spec.public_ips.len(), 1);
    assert_eq!(
        launched_spec.public_ips[0].private_ip,
        primary_ip(&launched)
    );
    assert!(launched_spec.public_ips[0].public_ip != ip(&eip.public_ip));
    assert!(launched_spec.public_ips[0].public_ip.octets()[..3] == [203, 0, 113]);

    // Outside us-east-1 the DNS domain is the region's.
    let elsewhere = Network::new(
        pool.clone(),
        NetworkConfig {
            region: "eu-west-1".into(),
            zones: vec!["eu-west-1a".into()],
        },
    );
    let b = find(
        &host_plans::for_host(&elsewhere, &h1).await.unwrap(),
        &vpc_b,
    )
    .clone();
    assert_eq!(b.dns_domain, "eu-west-1.compute.internal");
    assert_eq!(b.dns_address, Some(ip("10.0.0.2")));
}
