#![allow(clippy::unwrap_used)]
//! The network topology's domain functions against a real catalog: VPCs with what they are
//! created with, subnets' ranges and conflicts, internet gateways, route tables, the
//! default VPC, DependencyViolation ordering, and tenant isolation.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_network::network_interfaces::{self, CreateNetworkInterface};
use kumo_network::route_tables::RouteTarget;
use kumo_network::subnets::CreateSubnet;
use kumo_network::tags::Tags;
use kumo_network::vpcs::{CreateVpc, VpcAttribute};
use kumo_network::{
    internet_gateways, network_acls, route_tables, subnets, vpcs, Network, NetworkConfig,
    NetworkError,
};

fn principal(account: &str, role: Role) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role,
        method: AuthMethod::Bearer,
    }
}

async fn network() -> Network {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    Network::new(
        pool,
        NetworkConfig {
            region: "us-east-1".into(),
            zones: vec![
                "us-east-1a".into(),
                "us-east-1b".into(),
                "us-east-1c".into(),
            ],
        },
    )
}

fn code(error: NetworkError) -> String {
    error.to_aws().code.to_string()
}

fn vpc_input(cidr: &str) -> CreateVpc {
    CreateVpc {
        cidr_block: cidr.into(),
        tags: Tags::from([("Name".to_string(), "net".to_string())]),
    }
}

fn subnet_input(vpc_id: &str, cidr: &str) -> CreateSubnet {
    CreateSubnet {
        vpc_id: vpc_id.into(),
        cidr_block: cidr.into(),
        availability_zone: None,
        tags: Tags::new(),
    }
}

#[tokio::test]
async fn vpcs_subnets_and_their_rules() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);

    for bad in ["10.0.0.0/15", "10.0.0.0/29"] {
        let error = vpcs::create(&network, &alice, &vpc_input(bad))
            .await
            .unwrap_err();
        assert_eq!(code(error), "InvalidVpc.Range", "{bad}");
    }
    let error = vpcs::create(&network, &alice, &vpc_input("10.0.0.1/16"))
        .await
        .unwrap_err();
    assert_eq!(code(error), "InvalidParameterValue");

    let vpc = vpcs::create(&network, &alice, &vpc_input("10.0.0.0/16"))
        .await
        .unwrap();
    assert_eq!(vpc.state, "available");
    assert!(vpc.enable_dns_support && !vpc.enable_dns_hostnames && !vpc.is_default);
    assert_eq!(vpc.tags["Name"], "net");

    // Created with it: the main route table with its local route, the default ACL and SG.
    let tables = route_tables::list(&network.pool, &alice, &[])
        .await
        .unwrap();
    let main = tables.iter().find(|t| t.vpc_id == vpc.vpc_id).unwrap();
    assert!(main.is_main && main.associations.len() == 1 && main.associations[0].main);
    assert_eq!(main.routes.len(), 1);
    assert_eq!(main.routes[0].destination_cidr_block, "10.0.0.0/16");
    assert_eq!(main.routes[0].gateway_id.as_deref(), Some("local"));
    let acls = network_acls::list(&network.pool, &alice, &[])
        .await
        .unwrap();
    assert!(acls.iter().any(|a| a.vpc_id == vpc.vpc_id && a.is_default));
    let groups: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM network.security_groups WHERE vpc_id = $1 AND is_default",
    )
    .bind(&vpc.vpc_id)
    .fetch_one(&network.pool)
    .await
    .unwrap();
    assert_eq!(groups, 1);

    let updated = vpcs::modify_attribute(
        &network,
        &alice,
        &vpc.vpc_id,
        VpcAttribute::EnableDnsHostnames,
        true,
    )
    .await
    .unwrap();
    assert!(updated.enable_dns_hostnames);

    // Subnets: inside the VPC, no overlap, the first zone by default, size - 5 addresses.
    let subnet = subnets::create(&network, &alice, &subnet_input(&vpc.vpc_id, "10.0.1.0/24"))
        .await
        .unwrap();
    assert_eq!(subnet.availability_zone, "us-east-1a");
    assert_eq!(subnet.available_ip_address_count, 251);
    for (cidr, expected) in [
        ("10.1.0.0/24", "InvalidSubnet.Range"),
        ("10.0.0.0/29", "InvalidSubnet.Range"),
        ("10.0.1.128/25", "InvalidSubnet.Conflict"),
        ("10.0.0.0/16", "InvalidSubnet.Conflict"),
    ] {
        let error = subnets::create(&network, &alice, &subnet_input(&vpc.vpc_id, cidr))
            .await
            .unwrap_err();
        assert_eq!(code(error), expected, "{cidr}");
    }
    let mut in_b = subnet_input(&vpc.vpc_id, "10.0.2.0/28");
    in_b.availability_zone = Some("us-east-1b".into());
    let small = subnets::create(&network, &alice, &in_b).await.unwrap();
    assert_eq!(small.available_ip_address_count, 11);
    in_b.availability_zone = Some("eu-west-1a".into());
    in_b.cidr_block = "10.0.3.0/24".into();
    assert_eq!(
        code(subnets::create(&network, &alice, &in_b).await.unwrap_err()),
        "InvalidParameterValue"
    );
    let public = subnets::set_map_public_ip_on_launch(&network, &alice, &small.subnet_id, true)
        .await
        .unwrap();
    assert!(public.map_public_ip_on_launch);

    // A VPC with a subnet is in use.
    assert_eq!(
        code(
            vpcs::delete(&network, &alice, &vpc.vpc_id)
                .await
                .unwrap_err()
        ),
        "DependencyViolation"
    );
    // A subnet with a network interface is in use, and the interface's address is taken.
    let interface = network_interfaces::create(
        &network,
        &alice,
        &CreateNetworkInterface {
            subnet_id: kumo_common::ids::SubnetId::parse(&subnet.subnet_id).unwrap(),
            description: None,
            private_ip_address: None,
            groups: Vec::new(),
            secondary_private_ip_address_count: None,
            tags: Tags::new(),
        },
    )
    .await
    .unwrap();
    let used = subnets::get(&network.pool, &alice, &subnet.subnet_id)
        .await
        .unwrap();
    assert_eq!(used.available_ip_address_count, 250);
    assert_eq!(
        code(
            subnets::delete(&network, &alice, &subnet.subnet_id)
                .await
                .unwrap_err()
        ),
        "DependencyViolation"
    );
    let interface_id =
        kumo_common::ids::NetworkInterfaceId::parse(&interface.network_interface_id).unwrap();
    network_interfaces::delete(&network, &alice, &interface_id)
        .await
        .unwrap();
    subnets::delete(&network, &alice, &subnet.subnet_id)
        .await
        .unwrap();
    subnets::delete(&network, &alice, &small.subnet_id)
        .await
        .unwrap();
    assert_eq!(
        code(
            subnets::delete(&network, &alice, &small.subnet_id)
                .await
                .unwrap_err()
        ),
        "InvalidSubnetID.NotFound"
    );
    vpcs::delete(&network, &alice, &vpc.vpc_id).await.unwrap();
    assert_eq!(
        code(
            vpcs::get(&network.pool, &alice, &vpc.vpc_id)
                .await
                .unwrap_err()
        ),
        "InvalidVpcID.NotFound"
    );
    // Its main table, ACL and default group went with it.
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM network.route_tables WHERE vpc_id = $1)
              + (SELECT count(*) FROM network.network_acls WHERE vpc_id = $1)
              + (SELECT count(*) FROM network.security_groups WHERE vpc_id = $1)",
    )
    .bind(&vpc.vpc_id)
    .fetch_one(&network.pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn gateways_routes_and_associations() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let vpc = vpcs::create(&network, &alice, &vpc_input("10.0.0.0/16"))
        .await
        .unwrap();
    let other = vpcs::create(&network, &alice, &vpc_input("10.1.0.0/16"))
        .await
        .unwrap();
    let subnet = subnets::create(&network, &alice, &subnet_input(&vpc.vpc_id, "10.0.1.0/24"))
        .await
        .unwrap();
    let gateway = internet_gateways::create(&network, &alice, &Tags::new())
        .await
        .unwrap();
    let igw = gateway.internet_gateway_id.clone();
    let table = route_tables::create(&network, &alice, &vpc.vpc_id, &Tags::new())
        .await
        .unwrap();
    let rtb = table.route_table_id.clone();
    let to_igw = RouteTarget::Gateway(igw.clone());

    // A route to a detached gateway is refused; attach it, then route.
    assert_eq!(
        code(
            route_tables::create_route(&network, &alice, &rtb, "0.0.0.0/0", &to_igw)
                .await
                .unwrap_err()
        ),
        "InvalidParameterValue"
    );
    internet_gateways::attach(&network, &alice, &igw, &vpc.vpc_id)
        .await
        .unwrap();
    assert_eq!(
        code(
            internet_gateways::attach(&network, &alice, &igw, &other.vpc_id)
                .await
                .unwrap_err()
        ),
        "Resource.AlreadyAssociated"
    );
    let second = internet_gateways::create(&network, &alice, &Tags::new())
        .await
        .unwrap();
    assert_eq!(
        code(
            internet_gateways::attach(&network, &alice, &second.internet_gateway_id, &vpc.vpc_id)
                .await
                .unwrap_err()
        ),
        "Resource.AlreadyAssociated"
    );
    route_tables::create_route(&network, &alice, &rtb, "0.0.0.0/0", &to_igw)
        .await
        .unwrap();
    assert_eq!(
        code(
            route_tables::create_route(&network, &alice, &rtb, "0.0.0.0/0", &to_igw)
                .await
                .unwrap_err()
        ),
        "RouteAlreadyExists"
    );
    assert_eq!(
        code(
            route_tables::delete_route(&network, &alice, &rtb, "10.0.0.0/16")
                .await
                .unwrap_err()
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(
            route_tables::replace_route(&network, &alice, &rtb, "1.0.0.0/8", &to_igw)
                .await
                .unwrap_err()
        ),
        "InvalidRoute.NotFound"
    );
    route_tables::replace_route(&network, &alice, &rtb, "0.0.0.0/0", &to_igw)
        .await
        .unwrap();

    // Associations: one per subnet, same VPC only; a table in use cannot go.
    let association = route_tables::associate(&network, &alice, &rtb, &subnet.subnet_id)
        .await
        .unwrap();
    assert!(association.starts_with("rtbassoc-"));
    assert_eq!(
        code(
            route_tables::associate(&network, &alice, &rtb, &subnet.subnet_id)
                .await
                .unwrap_err()
        ),
        "Resource.AlreadyAssociated"
    );
    let foreign = route_tables::create(&network, &alice, &other.vpc_id, &Tags::new())
        .await
        .unwrap();
    assert_eq!(
        code(
            route_tables::associate(&network, &alice, &foreign.route_table_id, &subnet.subnet_id)
                .await
                .unwrap_err()
        ),
        "InvalidParameterValue"
    );
    assert_eq!(
        code(
            route_tables::delete(&network, &alice, &rtb)
                .await
                .unwrap_err()
        ),
        "DependencyViolation"
    );
    let listed = route_tables::get(&network.pool, &alice, &rtb)
        .await
        .unwrap();
    assert_eq!(listed.routes.len(), 2);
    assert_eq!(listed.routes[1].state, "active");
    assert_eq!(
        listed.associations[0].subnet_id.as_deref(),
        Some(subnet.subnet_id.as_str())
    );

    // Routes to a network interface of the same VPC.
    let interface = network_interfaces::create(
        &network,
        &alice,
        &CreateNetworkInterface {
            subnet_id: kumo_common::ids::SubnetId::parse(&subnet.subnet_id).unwrap(),
            description: None,
            private_ip_address: None,
            groups: Vec::new(),
            secondary_private_ip_address_count: None,
            tags: Tags::new(),
        },
    )
    .await
    .unwrap();
    let to_eni = RouteTarget::NetworkInterface(interface.network_interface_id.clone());
    route_tables::create_route(&network, &alice, &rtb, "192.168.0.0/16", &to_eni)
        .await
        .unwrap();
    let missing = RouteTarget::NetworkInterface("eni-0123456789abcdef0".into());
    assert_eq!(
        code(
            route_tables::create_route(&network, &alice, &rtb, "172.16.0.0/12", &missing)
                .await
                .unwrap_err()
        ),
        "InvalidNetworkInterfaceID.NotFound"
    );
    assert_eq!(
        code(
            route_tables::create_route(
                &network,
                &alice,
                &foreign.route_table_id,
                "172.16.0.0/12",
                &to_eni
            )
            .await
            .unwrap_err()
        ),
        "InvalidParameterValue"
    );
    let routed = route_tables::get(&network.pool, &alice, &rtb)
        .await
        .unwrap();
    let eni_route = routed
        .routes
        .iter()
        .find(|r| r.destination_cidr_block == "192.168.0.0/16")
        .unwrap();
    assert_eq!(
        (
            eni_route.network_interface_id.as_deref(),
            eni_route.state.as_str()
        ),
        (Some(interface.network_interface_id.as_str()), "active")
    );
    let interface_id =
        kumo_common::ids::NetworkInterfaceId::parse(&interface.network_interface_id).unwrap();
    network_interfaces::delete(&network, &alice, &interface_id)
        .await
        .unwrap();
    let routed = route_tables::get(&network.pool, &alice, &rtb)
        .await
        .unwrap();
    assert!(routed
        .routes
        .iter()
        .any(|r| r.destination_cidr_block == "192.168.0.0/16" && r.state == "blackhole"));
    route_tables::delete_route(&network, &alice, &rtb, "192.168.0.0/16")
        .await
        .unwrap();

    // The main table cannot be deleted or disassociated; it can be replaced.
    let main = route_tables::list(&network.pool, &alice, &[])
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.vpc_id == vpc.vpc_id && t.is_main)
        .unwrap();
    assert_eq!(
        code(
            route_tables::delete(&network, &alice, &main.route_table_id)
                .await
                .unwrap_err()
        ),
        "DependencyViolation"
    );
    let main_association = main.associations[0].association_id.clone();
    assert_eq!(
        code(
            route_tables::disassociate(&network, &alice, &main_association)
                .await
                .unwrap_err()
        ),
        "InvalidParameterValue"
    );

    // Ordering: the VPC is in use while its gateway is attached and its table exists.
    subnets::delete(&network, &alice, &subnet.subnet_id)
        .await
        .unwrap();
    assert_eq!(
        code(
            vpcs::delete(&network, &alice, &vpc.vpc_id)
                .await
                .unwrap_err()
        ),
        "DependencyViolation"
    );
    assert_eq!(
        code(
            internet_gateways::delete(&network, &alice, &igw)
                .await
                .unwrap_err()
        ),
        "DependencyViolation"
    );
    assert_eq!(
        code(
            internet_gateways::detach(&network, &alice, &igw, &other.vpc_id)
                .await
                .unwrap_err()
        ),
        "Gateway.NotAttached"
    );
    internet_gateways::detach(&network, &alice, &igw, &vpc.vpc_id)
        .await
        .unwrap();
    let blackholed = route_tables::get(&network.pool, &alice, &rtb)
        .await
        .unwrap();
    assert_eq!(blackholed.routes[1].state, "blackhole");
    internet_gateways::delete(&network, &alice, &igw)
        .await
        .unwrap();
    assert_eq!(
        code(
            vpcs::delete(&network, &alice, &vpc.vpc_id)
                .await
                .unwrap_err()
        ),
        "DependencyViolation"
    );
    route_tables::delete_route(&network, &alice, &rtb, "0.0.0.0/0")
        .await
        .unwrap();
    route_tables::delete(&network, &alice, &rtb).await.unwrap();
    vpcs::delete(&network, &alice, &vpc.vpc_id).await.unwrap();
}

#[tokio::test]
async fn the_default_vpc_is_made_once_like_aws() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    // Concurrent first uses make one default VPC.
    let (a, b, c) = tokio::join!(
        vpcs::ensure_default(&network, &alice.account_id),
        vpcs::ensure_default(&network, &alice.account_id),
        vpcs::ensure_default(&network, &alice.account_id),
    );
    a.unwrap();
    b.unwrap();
    c.unwrap();
    let found = vpcs::list(&network.pool, &alice, &[]).await.unwrap();
    assert_eq!(found.len(), 1);
    let vpc = &found[0];
    assert!(vpc.is_default && vpc.enable_dns_hostnames);
    assert_eq!(vpc.cidr_block, "172.31.0.0/16");

    let subnets = subnets::list(&network.pool, &alice, &[]).await.unwrap();
    let shape: Vec<(&str, &str, bool, bool)> = subnets
        .iter()
        .map(|s| {
            (
                s.cidr_block.as_str(),
                s.availability_zone.as_str(),
                s.default_for_az,
                s.map_public_ip_on_launch,
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("172.31.0.0/20", "us-east-1a", true, true),
            ("172.31.16.0/20", "us-east-1b", true, true),
            ("172.31.32.0/20", "us-east-1c", true, true),
        ]
    );
    let gateways = internet_gateways::list(&network.pool, &alice, &[])
        .await
        .unwrap();
    assert_eq!(gateways.len(), 1);
    assert_eq!(gateways[0].vpc_id.as_deref(), Some(vpc.vpc_id.as_str()));
    let main = route_tables::list(&network.pool, &alice, &[])
        .await
        .unwrap();
    assert_eq!(main.len(), 1);
    let routes: Vec<(&str, Option<&str>)> = main[0]
        .routes
        .iter()
        .map(|r| (r.destination_cidr_block.as_str(), r.gateway_id.as_deref()))
        .collect();
    assert_eq!(
        routes,
        [
            ("172.31.0.0/16", Some("local")),
            ("0.0.0.0/0", Some(gateways[0].internet_gateway_id.as_str()))
        ]
    );

    // The first default subnet can take a given id (compute's per-account subnet's).
    let carol = principal("333333333333", Role::Admin);
    let carols = kumo_common::ids::SubnetId::generate();
    vpcs::ensure_default_with_subnet(&network, &carol.account_id, Some(carols.as_str()))
        .await
        .unwrap();
    let theirs = subnets::get(&network.pool, &carol, carols.as_str())
        .await
        .unwrap();
    assert_eq!(theirs.cidr_block, "172.31.0.0/20");

    // Deleted, it is not made again behind the tenant's back; CreateDefaultVpc makes one.
    assert_eq!(
        code(vpcs::create_default(&network, &alice).await.unwrap_err()),
        "DefaultVpcAlreadyExists"
    );
    for subnet in &subnets {
        subnets::delete(&network, &alice, &subnet.subnet_id)
            .await
            .unwrap();
    }
    internet_gateways::detach(
        &network,
        &alice,
        &gateways[0].internet_gateway_id,
        &vpc.vpc_id,
    )
    .await
    .unwrap();
    internet_gateways::delete(&network, &alice, &gateways[0].internet_gateway_id)
        .await
        .unwrap();
    vpcs::delete(&network, &alice, &vpc.vpc_id).await.unwrap();
    vpcs::ensure_default(&network, &alice.account_id)
        .await
        .unwrap();
    assert!(vpcs::list(&network.pool, &alice, &[])
        .await
        .unwrap()
        .is_empty());
    let again = vpcs::create_default(&network, &alice).await.unwrap();
    assert!(again.is_default);
}

#[tokio::test]
async fn tenants_see_only_their_own_topology() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let bob = principal("222222222222", Role::Admin);
    let reader = principal("111111111111", Role::Reader);
    let vpc = vpcs::create(&network, &alice, &vpc_input("10.0.0.0/16"))
        .await
        .unwrap();
    let subnet = subnets::create(&network, &alice, &subnet_input(&vpc.vpc_id, "10.0.1.0/24"))
        .await
        .unwrap();
    let igw = internet_gateways::create(&network, &alice, &Tags::new())
        .await
        .unwrap();
    let rtb = route_tables::create(&network, &alice, &vpc.vpc_id, &Tags::new())
        .await
        .unwrap();
    let bobs = vpcs::create(&network, &bob, &vpc_input("10.0.0.0/16"))
        .await
        .unwrap();
    let bobs_subnet = subnets::create(&network, &bob, &subnet_input(&bobs.vpc_id, "10.0.1.0/24"))
        .await
        .unwrap();

    assert_eq!(
        code(
            vpcs::get(&network.pool, &bob, &vpc.vpc_id)
                .await
                .unwrap_err()
        ),
        "InvalidVpcID.NotFound"
    );
    assert_eq!(
        code(
            subnets::get(&network.pool, &bob, &subnet.subnet_id)
                .await
                .unwrap_err()
        ),
        "InvalidSubnetID.NotFound"
    );
    assert_eq!(
        code(
            internet_gateways::get(&network.pool, &bob, &igw.internet_gateway_id)
                .await
                .unwrap_err()
        ),
        "InvalidInternetGatewayID.NotFound"
    );
    assert_eq!(
        code(
            route_tables::get(&network.pool, &bob, &rtb.route_table_id)
                .await
                .unwrap_err()
        ),
        "InvalidRouteTableID.NotFound"
    );
    assert_eq!(
        code(
            subnets::create(&network, &bob, &subnet_input(&vpc.vpc_id, "10.0.9.0/24"))
                .await
                .unwrap_err()
        ),
        "InvalidVpcID.NotFound"
    );
    assert_eq!(
        code(
            internet_gateways::attach(&network, &bob, &igw.internet_gateway_id, &bobs.vpc_id)
                .await
                .unwrap_err()
        ),
        "InvalidInternetGatewayID.NotFound"
    );
    assert_eq!(
        code(
            route_tables::associate(&network, &bob, &rtb.route_table_id, &bobs_subnet.subnet_id)
                .await
                .unwrap_err()
        ),
        "InvalidRouteTableID.NotFound"
    );
    assert_eq!(
        code(vpcs::delete(&network, &bob, &vpc.vpc_id).await.unwrap_err()),
        "InvalidVpcID.NotFound"
    );
    assert_eq!(
        code(
            subnets::delete(&network, &bob, &subnet.subnet_id)
                .await
                .unwrap_err()
        ),
        "InvalidSubnetID.NotFound"
    );
    assert_eq!(vpcs::list(&network.pool, &bob, &[]).await.unwrap().len(), 1);
    // A read-only user of the owning account may read, not write.
    assert_eq!(
        vpcs::list(&network.pool, &reader, &[]).await.unwrap().len(),
        1
    );
    assert_eq!(
        code(
            vpcs::create(&network, &reader, &vpc_input("10.2.0.0/16"))
                .await
                .unwrap_err()
        ),
        "UnauthorizedOperation"
    );
}
