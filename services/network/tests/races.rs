#![allow(clippy::unwrap_used)]
//! Concurrency between instances ending and the changes that name them: each case holds
//! one transaction open at the point that matters and runs the other request against it.

use std::time::Duration;

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::ids::{AllocationId, InstanceId, NetworkInterfaceId, SubnetId};
use kumo_network::addresses::pools::{self, CreateAddressPool};
use kumo_network::addresses::{self, AddressRef, AssociateAddress};
use kumo_network::network_interfaces::{self as enis, instances::LaunchRequest};
use kumo_network::{security_groups, subnets, vpcs, Network, NetworkError};

fn principal(account: &str) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role: Role::Admin,
        method: AuthMethod::Bearer,
    }
}

/// An instance in the caller's default VPC (its primary interface).
async fn launch(network: &Network, caller: &Principal) -> (InstanceId, enis::NetworkInterface) {
    vpcs::ensure_default(network, &caller.account_id)
        .await
        .unwrap();
    let instance = InstanceId::generate();
    let mut tx = network.pool.begin().await.unwrap();
    let primary = enis::instances::launch_primary(
        network,
        &mut tx,
        caller,
        &LaunchRequest::default(),
        instance.as_str(),
        "us-east-1a",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    (instance, primary)
}

/// An attach racing the instance's end must not leave the interface attached to an
/// instance that is gone: it waits for the end, then finds no instance.
#[tokio::test]
async fn attach_racing_termination_finds_no_instance() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("555555555555");
    let (instance, primary) = launch(&network, &alice).await;
    let extra = enis::create(
        &network,
        &alice,
        &enis::CreateNetworkInterface {
            subnet_id: SubnetId::parse(&primary.subnet_id).unwrap(),
            description: None,
            private_ip_address: None,
            groups: Vec::new(),
            secondary_private_ip_address_count: None,
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    let extra_id = NetworkInterfaceId::parse(&extra.network_interface_id).unwrap();

    // The termination has released the instance's interfaces but not committed yet.
    let mut ending = network.pool.begin().await.unwrap();
    enis::instances::release_instance(&mut ending, instance.as_str())
        .await
        .unwrap();
    let attaching = {
        let network = network.clone();
        let alice = alice.clone();
        let instance = instance.clone();
        tokio::spawn(async move { enis::attach(&network, &alice, &extra_id, &instance, 1).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    ending.commit().await.unwrap();
    let attached = attaching.await.unwrap();
    match attached {
        Err(NetworkError::NotFound(code, _)) => assert_eq!(code, "InvalidInstanceID.NotFound"),
        other => panic!("attach to an ended instance: {other:?}"),
    }
    let kept = enis::get(&network, &alice, &extra.network_interface_id)
        .await
        .unwrap();
    assert_eq!(kept.attachment, None);
}

/// Reassociating an elastic IP with an interface while the interface goes (its instance
/// ending) must not deadlock: the interface is locked before the address, in the order
/// the interface's end takes them.
#[tokio::test]
async fn reassociation_racing_the_interfaces_end_does_not_deadlock() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let operator = Principal {
        role: Role::Operator,
        ..principal("000000000000")
    };
    let alice = principal("666666666666");
    pools::create(
        &network,
        &operator,
        &CreateAddressPool {
            name: "public".into(),
            zone: "us-east-1a".into(),
            cidr: "203.0.113.0/28".into(),
        },
    )
    .await
    .unwrap();
    let (instance, primary) = launch(&network, &alice).await;
    let eip = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap();
    let address = AddressRef::Allocation(AllocationId::parse(&eip.allocation_id).unwrap());
    let to_primary = AssociateAddress {
        network_interface_id: Some(
            NetworkInterfaceId::parse(&primary.network_interface_id).unwrap(),
        ),
        allow_reassociation: true,
        ..Default::default()
    };
    addresses::associate(&network, &alice, &address, &to_primary)
        .await
        .unwrap();

    // The instance's end has locked its interface; the reassociation starts; then the end
    // lets go of the interface's elastic IP.
    let mut ending = network.pool.begin().await.unwrap();
    sqlx::query(
        "SELECT 1 FROM network.network_interfaces WHERE network_interface_id = $1 FOR NO KEY UPDATE",
    )
    .bind(&primary.network_interface_id)
    .execute(&mut *ending)
    .await
    .unwrap();
    let associating = {
        let (network, alice, address, to_primary) = (
            network.clone(),
            alice.clone(),
            address.clone(),
            to_primary.clone(),
        );
        tokio::spawn(
            async move { addresses::associate(&network, &alice, &address, &to_primary).await },
        )
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    enis::instances::release_instance(&mut ending, instance.as_str())
        .await
        .unwrap();
    ending.commit().await.unwrap();
    match associating.await.unwrap() {
        Err(NetworkError::NotFound(code, _)) => {
            assert_eq!(code, "InvalidNetworkInterfaceID.NotFound")
        }
        other => panic!("association with a deleted interface: {other:?}"),
    }
    let released = addresses::get(&network, &alice, &eip.allocation_id)
        .await
        .unwrap();
    assert_eq!(released.association_id, None);
}

/// DeleteSubnet racing a launch into the subnet: the launch's interface makes the subnet
/// in use (`DependencyViolation`), never a foreign-key failure.
#[tokio::test]
async fn delete_subnet_racing_a_launch_is_a_dependency_violation() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("777777777777");
    let vpc = vpcs::create(
        &network,
        &alice,
        &vpcs::CreateVpc {
            cidr_block: "10.0.0.0/16".into(),
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
            cidr_block: "10.0.1.0/24".into(),
            availability_zone: Some("us-east-1a".into()),
            tags: Default::default(),
        },
    )
    .await
    .unwrap();

    // A launch has made its interface in the subnet, not committed yet.
    let mut launching = network.pool.begin().await.unwrap();
    let request = LaunchRequest {
        subnet_id: Some(subnet.subnet_id.clone()),
        ..Default::default()
    };
    enis::instances::launch_primary(
        &network,
        &mut launching,
        &alice,
        &request,
        InstanceId::generate().as_str(),
        "us-east-1a",
    )
    .await
    .unwrap();
    let deleting = {
        let (network, alice, id) = (network.clone(), alice.clone(), subnet.subnet_id.clone());
        tokio::spawn(async move { subnets::delete(&network, &alice, &id).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    launching.commit().await.unwrap();
    match deleting.await.unwrap() {
        Err(NetworkError::DependencyViolation(_)) => {}
        other => panic!("delete of a subnet in use: {other:?}"),
    }
}

/// A fresh group in the caller's default VPC.
async fn group(network: &Network, caller: &Principal, name: &str) -> String {
    security_groups::create(
        network,
        caller,
        &security_groups::CreateSecurityGroup {
            group_name: name.into(),
            description: name.into(),
            vpc_id: None,
            tags: Default::default(),
        },
    )
    .await
    .unwrap()
    .group_id
}

fn launch_with(group_id: &str) -> LaunchRequest {
    LaunchRequest {
        group_ids: vec![group_id.to_string()],
        ..Default::default()
    }
}

/// DeleteSecurityGroup racing a launch with the group: whichever commits first wins, and
/// the other answers as AWS does (`DependencyViolation`, `InvalidGroup.NotFound`), never a
/// foreign-key failure.
#[tokio::test]
async fn delete_group_racing_a_launch() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("888888888888");
    vpcs::ensure_default(&network, &alice.account_id)
        .await
        .unwrap();

    // The launch first: the group is in use.
    let web = group(&network, &alice, "web").await;
    let mut launching = network.pool.begin().await.unwrap();
    enis::instances::launch_primary(
        &network,
        &mut launching,
        &alice,
        &launch_with(&web),
        InstanceId::generate().as_str(),
        "us-east-1a",
    )
    .await
    .unwrap();
    let deleting = {
        let (network, alice, id) = (network.clone(), alice.clone(), web.clone());
        tokio::spawn(async move { security_groups::delete(&network, &alice, &id).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    launching.commit().await.unwrap();
    match deleting.await.unwrap() {
        Err(NetworkError::DependencyViolation(_)) => {}
        other => panic!("delete of a group in use: {other:?}"),
    }

    // The deletion first (as security_groups::delete does it): the launch finds no group.
    let db = group(&network, &alice, "db").await;
    let mut deleting = network.pool.begin().await.unwrap();
    for table in ["security_group_rules", "security_groups"] {
        sqlx::query(&format!("DELETE FROM network.{table} WHERE group_id = $1"))
            .bind(&db)
            .execute(&mut *deleting)
            .await
            .unwrap();
    }
    let launched = {
        let (network, alice, db) = (network.clone(), alice.clone(), db.clone());
        tokio::spawn(async move {
            let mut tx = network.pool.begin().await.unwrap();
            let launched = enis::instances::launch_primary(
                &network,
                &mut tx,
                &alice,
                &launch_with(&db),
                InstanceId::generate().as_str(),
                "us-east-1a",
            )
            .await;
            tx.commit().await.unwrap();
            launched
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    deleting.commit().await.unwrap();
    match launched.await.unwrap() {
        Err(NetworkError::NotFound(code, _)) => assert_eq!(code, "InvalidGroup.NotFound"),
        other => panic!("launch with a deleted group: {other:?}"),
    }
}
