#![allow(clippy::unwrap_used)]
//! Elastic IPs against a real catalog: operator pools (operators only, no overlap, not
//! deleted while used), allocation (lowest free address, the per-account limit, no or
//! exhausted pool), association with an instance's primary interface or an interface's
//! address, reassociation, release while in use, the interfaces' view, disassociation when
//! an interface is deleted or its instance ends, filters, and tenant isolation.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::ids::{AllocationId, AssociationId, InstanceId, NetworkInterfaceId, SubnetId};
use kumo_network::addresses::pools::{self, CreateAddressPool};
use kumo_network::addresses::{self, AddressRef, AssociateAddress, AssociationRef};
use kumo_network::network_interfaces::{self as enis, instances::LaunchRequest};
use kumo_network::{internet_gateways, subnets, vpcs, Network, NetworkError};

fn principal(account: &str, role: Role) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role,
        method: AuthMethod::Bearer,
    }
}

fn code(e: NetworkError) -> &'static str {
    match e {
        NetworkError::Invalid(c, _)
        | NetworkError::NotFound(c, _)
        | NetworkError::Conflict(c, _)
        | NetworkError::LimitExceeded(c, _) => c,
        NetworkError::Missing(_) => "MissingParameter",
        NetworkError::Forbidden(_) => "Forbidden",
        NetworkError::DependencyViolation(_) => "DependencyViolation",
        other => panic!("unexpected error {other:?}"),
    }
}

fn pool(name: &str, cidr: &str) -> CreateAddressPool {
    CreateAddressPool {
        name: name.into(),
        zone: "us-east-1a".into(),
        cidr: cidr.into(),
    }
}

fn allocation(id: &str) -> AddressRef {
    AddressRef::Allocation(AllocationId::parse(id).unwrap())
}

fn association(id: &str) -> AssociationRef {
    AssociationRef::Association(AssociationId::parse(id).unwrap())
}

fn to_interface(eni: &str, private_ip: Option<&str>) -> AssociateAddress {
    AssociateAddress {
        network_interface_id: Some(NetworkInterfaceId::parse(eni).unwrap()),
        private_ip_address: private_ip.map(str::to_string),
        ..Default::default()
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

#[tokio::test]
async fn pools_are_the_operators() {
    let catalog = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(catalog, Default::default());
    let operator = principal("000000000000", Role::Operator);
    let tenant = principal("111111111111", Role::Admin);

    let e = pools::create(&network, &tenant, &pool("public", "203.0.113.0/28"))
        .await
        .unwrap_err();
    assert_eq!(code(e), "Forbidden");
    assert_eq!(
        code(pools::list(&network, &tenant).await.unwrap_err()),
        "Forbidden"
    );
    let e = addresses::allocate(&network, &tenant, &Default::default())
        .await
        .unwrap_err();
    assert_eq!(code(e), "InsufficientAddressCapacity");

    let made = pools::create(&network, &operator, &pool("public", "203.0.113.0/29"))
        .await
        .unwrap();
    assert_eq!((made.size, made.allocated), (6, 0));
    for (bad, wanted) in [
        (
            pool("public", "198.51.100.0/29"),
            "InvalidAddressPool.Conflict",
        ),
        (
            pool("other", "203.0.113.0/24"),
            "InvalidAddressPool.Conflict",
        ),
        (pool("other", "203.0.113.1/29"), "InvalidParameterValue"),
        (pool("other", "10.0.0.0/8"), "InvalidParameterValue"),
        (pool("Bad_Name", "198.51.100.0/29"), "InvalidParameterValue"),
        (
            CreateAddressPool {
                zone: "mars-1a".into(),
                ..pool("other", "198.51.100.0/29")
            },
            "InvalidParameterValue",
        ),
    ] {
        let e = pools::create(&network, &operator, &bad).await.unwrap_err();
        assert_eq!(code(e), wanted, "{bad:?}");
    }

    // The pool's first and last addresses are kept out; the lowest free one comes first.
    let first = addresses::allocate(&network, &tenant, &Default::default())
        .await
        .unwrap();
    assert_eq!(first.public_ip, "203.0.113.1");
    assert_eq!(first.domain, "vpc");
    assert!(first.allocation_id.starts_with("eipalloc-"));
    let e = pools::delete(&network, &operator, "public")
        .await
        .unwrap_err();
    assert_eq!(code(e), "DependencyViolation");
    addresses::release(&network, &tenant, &allocation(&first.allocation_id))
        .await
        .unwrap();
    pools::delete(&network, &operator, "public").await.unwrap();
    let e = pools::delete(&network, &operator, "public")
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAddressPool.NotFound");

    // A /32 pool hands out its one address, then is exhausted.
    pools::create(&network, &operator, &pool("single", "198.51.100.7/32"))
        .await
        .unwrap();
    let only = addresses::allocate(&network, &tenant, &Default::default())
        .await
        .unwrap();
    assert_eq!(only.public_ip, "198.51.100.7");
    let e = addresses::allocate(&network, &tenant, &Default::default())
        .await
        .unwrap_err();
    assert_eq!(code(e), "InsufficientAddressCapacity");
}

#[tokio::test]
async fn allocate_associate_release_and_isolation() {
    let catalog = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(catalog, Default::default());
    let operator = principal("000000000000", Role::Operator);
    let alice = principal("222222222222", Role::Admin);
    let bob = principal("333333333333", Role::Admin);
    pools::create(&network, &operator, &pool("public", "203.0.113.0/24"))
        .await
        .unwrap();

    // Five per account, tags with them.
    let tags = [("Name".to_string(), "web".to_string())].into();
    let eip = addresses::allocate(&network, &alice, &tags).await.unwrap();
    assert_eq!(eip.tags, tags);
    for _ in 1..addresses::MAX_ADDRESSES_PER_ACCOUNT {
        addresses::allocate(&network, &alice, &Default::default())
            .await
            .unwrap();
    }
    let e = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap_err();
    assert_eq!(code(e), "AddressLimitExceeded");
    let bobs = addresses::allocate(&network, &bob, &Default::default())
        .await
        .unwrap();

    // Associate with an instance: its primary interface's primary address.
    let (instance, primary) = launch(&network, &alice).await;
    let by_instance = AssociateAddress {
        instance_id: Some(instance.clone()),
        ..Default::default()
    };
    let first = addresses::associate(
        &network,
        &alice,
        &allocation(&eip.allocation_id),
        &by_instance,
    )
    .await
    .unwrap();
    assert!(first.starts_with("eipassoc-"));
    let shown = addresses::get(&network, &alice, &eip.allocation_id)
        .await
        .unwrap();
    assert_eq!(shown.association_id.as_deref(), Some(first.as_str()));
    assert_eq!(shown.instance_id.as_deref(), Some(instance.as_str()));
    assert_eq!(
        shown.network_interface_id.as_deref(),
        Some(primary.network_interface_id.as_str())
    );
    assert_eq!(
        shown.private_ip_address.as_deref(),
        Some(primary.private_ip_address.as_str())
    );
    let eni = enis::get(&network, &alice, &primary.network_interface_id)
        .await
        .unwrap();
    let seen = eni.association().unwrap();
    assert_eq!(seen.public_ip, eip.public_ip);
    assert_eq!(seen.ip_owner_id, alice.account_id);
    assert!(seen
        .public_dns_name("us-east-1")
        .ends_with(".compute-1.amazonaws.com"));

    // Already associated: only with AllowReassociation (a new association id).
    let e = addresses::associate(
        &network,
        &alice,
        &allocation(&eip.allocation_id),
        &by_instance,
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), "Resource.AlreadyAssociated");
    let again = AssociateAddress {
        allow_reassociation: true,
        ..by_instance.clone()
    };
    let second = addresses::associate(&network, &alice, &allocation(&eip.allocation_id), &again)
        .await
        .unwrap();
    assert_ne!(first, second);
    let e = addresses::disassociate(&network, &alice, &association(&first))
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAssociationID.NotFound");
    let e = addresses::release(&network, &alice, &allocation(&eip.allocation_id))
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidIPAddress.InUse");

    // Bob sees none of it and cannot use it; nor can he point his address at Alice's.
    let e = addresses::get(&network, &bob, &eip.allocation_id)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAllocationID.NotFound");
    let listed = addresses::list(&network, &bob, &[], &[]).await.unwrap();
    assert_eq!(listed.len(), 1);
    let e = addresses::list(&network, &bob, &[], std::slice::from_ref(&eip.public_ip))
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAddress.NotFound");
    let (_, bobs_primary) = launch(&network, &bob).await;
    let to_bob = to_interface(&bobs_primary.network_interface_id, None);
    let e = addresses::associate(&network, &bob, &allocation(&eip.allocation_id), &to_bob)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAllocationID.NotFound");
    let e = addresses::associate(
        &network,
        &bob,
        &allocation(&bobs.allocation_id),
        &by_instance,
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), "InvalidInstanceID.NotFound");
    let to_alice = to_interface(&primary.network_interface_id, None);
    let e = addresses::associate(&network, &bob, &allocation(&bobs.allocation_id), &to_alice)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidNetworkInterfaceID.NotFound");
    let e = addresses::disassociate(&network, &bob, &association(&second))
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAssociationID.NotFound");
    let e = addresses::release(&network, &bob, &allocation(&eip.allocation_id))
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAllocationID.NotFound");

    // Disassociate, release; the address is free again.
    addresses::disassociate(&network, &alice, &association(&second))
        .await
        .unwrap();
    let shown = addresses::get(&network, &alice, &eip.allocation_id)
        .await
        .unwrap();
    assert!(shown.association_id.is_none() && shown.instance_id.is_none());
    addresses::release(&network, &alice, &allocation(&eip.allocation_id))
        .await
        .unwrap();
    let e = addresses::get(&network, &alice, &eip.allocation_id)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidAllocationID.NotFound");
    let reused = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap();
    assert_eq!(reused.public_ip, eip.public_ip);

    // The instance ends: its primary interface goes, and its address is let go.
    addresses::associate(
        &network,
        &alice,
        &allocation(&reused.allocation_id),
        &by_instance,
    )
    .await
    .unwrap();
    let mut tx = network.pool.begin().await.unwrap();
    enis::instances::release_instance(&mut tx, instance.as_str())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let shown = addresses::get(&network, &alice, &reused.allocation_id)
        .await
        .unwrap();
    assert!(shown.association_id.is_none());
}

#[tokio::test]
async fn interfaces_secondary_addresses_and_gateways() {
    let catalog = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(catalog, Default::default());
    let operator = principal("000000000000", Role::Operator);
    let alice = principal("444444444444", Role::Admin);
    pools::create(&network, &operator, &pool("public", "203.0.113.0/24"))
        .await
        .unwrap();
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
    let eni = enis::create(
        &network,
        &alice,
        &enis::CreateNetworkInterface {
            subnet_id: SubnetId::parse(&subnet.subnet_id).unwrap(),
            description: None,
            private_ip_address: None,
            groups: Vec::new(),
            secondary_private_ip_address_count: Some(1),
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    let secondary = eni.private_ip_addresses[1].private_ip_address.clone();
    let one = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap();
    let two = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap();

    // No internet gateway on the VPC: no public address.
    let e = addresses::associate(
        &network,
        &alice,
        &allocation(&one.allocation_id),
        &to_interface(&eni.network_interface_id, None),
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), "Gateway.NotAttached");
    let gateway = internet_gateways::create(&network, &alice, &Default::default())
        .await
        .unwrap();
    internet_gateways::attach(&network, &alice, &gateway.internet_gateway_id, &vpc.vpc_id)
        .await
        .unwrap();

    // One address per private address; a private address not on the interface is refused.
    addresses::associate(
        &network,
        &alice,
        &allocation(&one.allocation_id),
        &to_interface(&eni.network_interface_id, None),
    )
    .await
    .unwrap();
    addresses::associate(
        &network,
        &alice,
        &allocation(&two.allocation_id),
        &to_interface(&eni.network_interface_id, Some(&secondary)),
    )
    .await
    .unwrap();
    let e = addresses::associate(
        &network,
        &alice,
        &allocation(&two.allocation_id),
        &AssociateAddress {
            allow_reassociation: true,
            ..to_interface(&eni.network_interface_id, Some("10.0.1.200"))
        },
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), "InvalidParameterValue");
    let seen = enis::get(&network, &alice, &eni.network_interface_id)
        .await
        .unwrap();
    assert_eq!(seen.associations.len(), 2);
    assert_eq!(seen.association().unwrap().public_ip, one.public_ip);
    // The gateway stays while public addresses are mapped in its VPC (as in AWS).
    let e = internet_gateways::detach(&network, &alice, &gateway.internet_gateway_id, &vpc.vpc_id)
        .await
        .unwrap_err();
    assert_eq!(code(e), "DependencyViolation");
    assert_eq!(
        seen.association().unwrap().public_dns_name("us-east-1"),
        "",
        "a VPC without DNS hostnames gives no public DNS name"
    );

    // Associating another address with a private address that has one moves it over.
    let three = addresses::allocate(&network, &alice, &Default::default())
        .await
        .unwrap();
    addresses::associate(
        &network,
        &alice,
        &allocation(&three.allocation_id),
        &to_interface(&eni.network_interface_id, None),
    )
    .await
    .unwrap();
    let one_now = addresses::get(&network, &alice, &one.allocation_id)
        .await
        .unwrap();
    assert!(one_now.association_id.is_none());

    // Unassigning the secondary address lets go of its elastic IP; deleting the interface
    // of the other.
    let id = NetworkInterfaceId::parse(&eni.network_interface_id).unwrap();
    enis::unassign_private_ips(&network, &alice, &id, std::slice::from_ref(&secondary))
        .await
        .unwrap();
    let two_now = addresses::get(&network, &alice, &two.allocation_id)
        .await
        .unwrap();
    assert!(two_now.association_id.is_none());
    enis::delete(&network, &alice, &id).await.unwrap();
    let three_now = addresses::get(&network, &alice, &three.allocation_id)
        .await
        .unwrap();
    assert!(three_now.association_id.is_none() && three_now.network_interface_id.is_none());
}
