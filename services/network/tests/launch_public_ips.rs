#![allow(clippy::unwrap_used)]
//! Launch-time public IPv4 addresses against a real catalog: the default subnet's
//! `mapPublicIpOnLaunch` and `AssociatePublicIpAddress` (both ways) give the primary
//! interface a pool address of its zone (not an elastic IP: owner `amazon`, no ids, not in
//! DescribeAddresses); none when the zone's pools are full or absent (the launch goes on);
//! released at stop (idempotent), a new one at start, set aside by an elastic IP and given
//! back when it leaves, gone when the instance ends; the public mappings view; a gateway
//! with mapped launch-time addresses stays attached; a pool with them is not deleted.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::ids::{AllocationId, InstanceId};
use kumo_network::addresses::pools::{self, CreateAddressPool};
use kumo_network::addresses::{self, launch, AddressRef, AssociateAddress, AssociationRef};
use kumo_network::network_interfaces::{self as enis, instances::LaunchRequest};
use kumo_network::{internet_gateways, subnets, vpcs, Network, NetworkConfig, NetworkError};

fn principal(account: &str, role: Role) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role,
        method: AuthMethod::Bearer,
    }
}

fn pool(name: &str, zone: &str, cidr: &str) -> CreateAddressPool {
    CreateAddressPool {
        name: name.into(),
        zone: zone.into(),
        cidr: cidr.into(),
    }
}

async fn network() -> Network {
    let catalog = kumo_catalog::testing::fresh_database().await.unwrap();
    Network::new(
        catalog,
        NetworkConfig {
            zones: vec!["us-east-1a".into(), "us-east-1b".into()],
            ..Default::default()
        },
    )
}

/// An instance's primary interface, launched in `zone` as `request` asks.
async fn launch(
    network: &Network,
    caller: &Principal,
    request: &LaunchRequest,
    zone: &str,
) -> (InstanceId, enis::NetworkInterface) {
    vpcs::ensure_default(network, &caller.account_id)
        .await
        .unwrap();
    let instance = InstanceId::generate();
    let mut tx = network.pool.begin().await.unwrap();
    let primary =
        enis::instances::launch_primary(network, &mut tx, caller, request, instance.as_str(), zone)
            .await
            .unwrap();
    tx.commit().await.unwrap();
    (instance, primary)
}

/// The public addresses on the interface, as (public, owner, allocation id).
async fn public_of(
    network: &Network,
    caller: &Principal,
    eni: &str,
) -> Vec<(String, String, Option<String>)> {
    enis::get(network, caller, eni)
        .await
        .unwrap()
        .associations
        .into_iter()
        .map(|a| (a.public_ip, a.ip_owner_id, a.allocation_id))
        .collect()
}

fn launched(ip: &str) -> Vec<(String, String, Option<String>)> {
    vec![(ip.to_string(), "amazon".to_string(), None)]
}

async fn set_running(network: &Network, instance: &InstanceId, running: bool) {
    let mut tx = network.pool.begin().await.unwrap();
    launch::set_instance_running(&mut tx, instance.as_str(), running)
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

/// The data plane's view: every public mapping of the interface, (kind, public, private).
async fn mappings(network: &Network, eni: &str) -> Vec<(String, String, String)> {
    sqlx::query_as(
        "SELECT kind, host(public_ip), host(private_ip) FROM network.public_mappings
         WHERE network_interface_id = $1 ORDER BY kind",
    )
    .bind(eni)
    .fetch_all(&network.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn launch_stop_start_and_end() {
    let network = network().await;
    let operator = principal("000000000000", Role::Operator);
    let alice = principal("111111111111", Role::Admin);
    let request = LaunchRequest::default();

    // No pool yet: the launch goes on without a public address.
    let (_, bare) = launch(&network, &alice, &request, "us-east-1a").await;
    assert!(bare.associations.is_empty());

    pools::create(
        &network,
        &operator,
        &pool("east-a", "us-east-1a", "203.0.113.0/29"),
    )
    .await
    .unwrap();
    pools::create(
        &network,
        &operator,
        &pool("east-b", "us-east-1b", "198.51.100.0/29"),
    )
    .await
    .unwrap();
    // The default subnet maps public addresses on launch: the lowest of its zone's pool.
    let (web, eni) = launch(&network, &alice, &request, "us-east-1a").await;
    assert_eq!(eni.associations.len(), 1, "{:?}", eni.associations);
    let first = &eni.associations[0];
    assert_eq!(
        (first.public_ip.as_str(), first.ip_owner_id.as_str()),
        ("203.0.113.1", "amazon")
    );
    assert_eq!(first.private_ip_address, eni.private_ip_address);
    assert!(first.allocation_id.is_none() && first.association_id.is_none());
    assert_eq!(
        first.public_dns_name("us-east-1"),
        "ec2-203-0-113-1.compute-1.amazonaws.com"
    );
    // Not an elastic IP.
    assert!(addresses::list(&network, &alice, &[], &[])
        .await
        .unwrap()
        .is_empty());
    let taken = pools::get(&network, &operator, "east-a").await.unwrap();
    assert_eq!(taken.allocated, 1);
    assert_eq!(
        mappings(&network, &eni.network_interface_id).await,
        vec![(
            "launch".to_string(),
            "203.0.113.1".to_string(),
            eni.private_ip_address.clone()
        )]
    );
    // Another zone takes its own pool's.
    let (_, in_b) = launch(&network, &alice, &request, "us-east-1b").await;
    assert_eq!(in_b.associations[0].public_ip, "198.51.100.1");

    // AssociatePublicIpAddress=false wins over the subnet; true wins over a subnet without.
    let off = LaunchRequest {
        associate_public_ip: Some(false),
        ..Default::default()
    };
    let (_, private_only) = launch(&network, &alice, &off, "us-east-1a").await;
    assert!(private_only.associations.is_empty());
    let vpc = vpcs::create(
        &network,
        &alice,
        &vpcs::CreateVpc {
            cidr_block: "10.9.0.0/16".into(),
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    let subnet = subnets::create(
        &network,
        &alice,
        &subnets::CreateSubnet {
            vpc_id: vpc.vpc_id.clone(),
            cidr_block: "10.9.1.0/24".into(),
            availability_zone: Some("us-east-1a".into()),
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    assert!(!subnet.map_public_ip_on_launch);
    let in_subnet = LaunchRequest {
        subnet_id: Some(subnet.subnet_id.clone()),
        ..Default::default()
    };
    let (_, unmapped) = launch(&network, &alice, &in_subnet, "us-east-1a").await;
    assert!(unmapped.associations.is_empty());
    let asked = LaunchRequest {
        associate_public_ip: Some(true),
        ..in_subnet.clone()
    };
    let (_, mapped) = launch(&network, &alice, &asked, "us-east-1a").await;
    assert_eq!(
        public_of(&network, &alice, &mapped.network_interface_id).await,
        launched("203.0.113.2")
    );

    // Stop: back to the pool (twice: idempotent); start: a new one (the lowest free).
    let web_eni = eni.network_interface_id.clone();
    set_running(&network, &web, false).await;
    set_running(&network, &web, false).await;
    assert!(public_of(&network, &alice, &web_eni).await.is_empty());
    assert!(mappings(&network, &web_eni).await.is_empty());
    let (_, meanwhile) = launch(&network, &alice, &request, "us-east-1a").await;
    assert_eq!(meanwhile.associations[0].public_ip, "203.0.113.1");
    set_running(&network, &web, true).await;
    set_running(&network, &web, true).await;
    assert_eq!(
        public_of(&network, &alice, &web_eni).await,
        launched("203.0.113.3")
    );
    // An instance launched without one gets none at start.
    let (quiet, quiet_eni) = launch(&network, &alice, &off, "us-east-1a").await;
    set_running(&network, &quiet, true).await;
    assert!(public_of(&network, &alice, &quiet_eni.network_interface_id)
        .await
        .is_empty());

    // The end: gone with the instance.
    let mut tx = network.pool.begin().await.unwrap();
    enis::instances::release_instance(&mut tx, web.as_str())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM network.launch_public_ips WHERE host(public_ip) = '203.0.113.3'",
    )
    .fetch_one(&network.pool)
    .await
    .unwrap();
    assert_eq!(count, 0);
}

#[tokio::test]
async fn elastic_ips_set_it_aside_and_give_it_back() {
    let network = network().await;
    let operator = principal("000000000000", Role::Operator);
    let alice = principal("111111111111", Role::Admin);
    pools::create(
        &network,
        &operator,
        &pool("east-a", "us-east-1a", "203.0.113.0/28"),
    )
    .await
    .unwrap();
    let (instance, eni) = launch(&network, &alice, &LaunchRequest::default(), "us-east-1a").await;
    let eni_id = eni.network_interface_id.clone();
    assert_eq!(
        public_of(&network, &alice, &eni_id).await,
        launched("203.0.113.1")
    );

    let eip = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap();
    assert_eq!(eip.public_ip, "203.0.113.2");
    let to_instance = AssociateAddress {
        instance_id: Some(instance.clone()),
        ..Default::default()
    };
    let allocation = AddressRef::Allocation(AllocationId::parse(&eip.allocation_id).unwrap());
    let association = addresses::associate(&network, &alice, &allocation, &to_instance)
        .await
        .unwrap();
    // The elastic IP replaces the launch-time address, which goes back to the pool.
    assert_eq!(
        public_of(&network, &alice, &eni_id).await,
        vec![(
            "203.0.113.2".to_string(),
            alice.account_id.clone(),
            Some(eip.allocation_id.clone())
        )]
    );
    assert_eq!(
        mappings(&network, &eni_id).await,
        vec![(
            "elastic".to_string(),
            "203.0.113.2".to_string(),
            eni.private_ip_address.clone()
        )]
    );
    // A stop and start keep the elastic IP and take no launch-time address.
    set_running(&network, &instance, false).await;
    set_running(&network, &instance, true).await;
    assert_eq!(public_of(&network, &alice, &eni_id).await.len(), 1);
    assert_eq!(
        public_of(&network, &alice, &eni_id).await[0].0,
        "203.0.113.2"
    );

    // Disassociated: a new launch-time address (the lowest free: the old one is back).
    let by_id =
        AssociationRef::Association(kumo_common::ids::AssociationId::parse(&association).unwrap());
    addresses::disassociate(&network, &alice, &by_id)
        .await
        .unwrap();
    assert_eq!(
        public_of(&network, &alice, &eni_id).await,
        launched("203.0.113.1")
    );

    // Moved to another instance (reassociation): the first gets a launch-time address back.
    let (other, other_eni) =
        launch(&network, &alice, &LaunchRequest::default(), "us-east-1a").await;
    addresses::associate(&network, &alice, &allocation, &to_instance)
        .await
        .unwrap();
    assert_eq!(
        public_of(&network, &alice, &eni_id).await[0].0,
        "203.0.113.2"
    );
    let moved = AssociateAddress {
        instance_id: Some(other.clone()),
        allow_reassociation: true,
        ..Default::default()
    };
    addresses::associate(&network, &alice, &allocation, &moved)
        .await
        .unwrap();
    assert_eq!(
        public_of(&network, &alice, &eni_id).await,
        launched("203.0.113.1")
    );
    assert_eq!(
        public_of(&network, &alice, &other_eni.network_interface_id).await[0].0,
        "203.0.113.2"
    );
    // A stopped instance's elastic IP leaving gives it nothing until it starts.
    set_running(&network, &other, false).await;
    addresses::disassociate(
        &network,
        &alice,
        &AssociationRef::PublicIp("203.0.113.2".parse().unwrap()),
    )
    .await
    .unwrap();
    assert!(public_of(&network, &alice, &other_eni.network_interface_id)
        .await
        .is_empty());
}

#[tokio::test]
async fn full_pools_gateways_and_pool_deletion() {
    let network = network().await;
    let operator = principal("000000000000", Role::Operator);
    let alice = principal("111111111111", Role::Admin);
    // A /32 pool: one address.
    pools::create(
        &network,
        &operator,
        &pool("one", "us-east-1a", "203.0.113.9/32"),
    )
    .await
    .unwrap();
    let (first, eni) = launch(&network, &alice, &LaunchRequest::default(), "us-east-1a").await;
    assert_eq!(eni.associations[0].public_ip, "203.0.113.9");
    // The pool is full: the next launch goes on without one; so does AllocateAddress fail.
    let (_, second) = launch(&network, &alice, &LaunchRequest::default(), "us-east-1a").await;
    assert!(second.associations.is_empty());
    let e = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap_err();
    assert!(matches!(
        e,
        NetworkError::Conflict("InsufficientAddressCapacity", _)
    ));

    // The default VPC's gateway stays while a launch-time address is mapped through it.
    let (vpc, gateway): (String, String) = sqlx::query_as(
        "SELECT v.vpc_id, g.internet_gateway_id FROM network.vpcs v
         JOIN network.internet_gateways g ON g.vpc_id = v.vpc_id
         WHERE v.account_id = $1 AND v.is_default",
    )
    .bind(&alice.account_id)
    .fetch_one(&network.pool)
    .await
    .unwrap();
    let e = internet_gateways::detach(&network, &alice, &gateway, &vpc)
        .await
        .unwrap_err();
    assert!(matches!(e, NetworkError::DependencyViolation(_)), "{e:?}");
    // Nor is the pool deleted while an address of it is mapped.
    let e = pools::delete(&network, &operator, "one").await.unwrap_err();
    assert!(matches!(e, NetworkError::DependencyViolation(_)), "{e:?}");

    set_running(&network, &first, false).await;
    internet_gateways::detach(&network, &alice, &gateway, &vpc)
        .await
        .unwrap();
    pools::delete(&network, &operator, "one").await.unwrap();
}
