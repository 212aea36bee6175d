#![allow(clippy::unwrap_used)]
//! Concurrency between instances ending and the changes that name them: each case holds
//! one transaction open at the point that matters and runs the other request against it.

use std::time::Duration;

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::ids::{InstanceId, NetworkInterfaceId, SubnetId};
use kumo_network::network_interfaces::{self as enis, instances::LaunchRequest};
use kumo_network::{vpcs, Network, NetworkError};

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
