#![allow(clippy::unwrap_used)]
//! Network interfaces against a real catalog: the IPAM (lowest free address, reserved
//! addresses, in use), groups of the same VPC, attach/detach rules, secondary addresses,
//! instances' primary interfaces and their release, filters, and tenant isolation.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::ids::{
    InstanceId, NetworkInterfaceAttachmentId, NetworkInterfaceId, SecurityGroupId, SubnetId,
};
use kumo_ec2_query::Filter;
use kumo_network::network_interfaces::{
    self as enis, instances::LaunchRequest, CreateNetworkInterface, DescribeQuery, InterfaceChange,
    InterfaceStatus,
};
use kumo_network::{subnets, vpcs, Network, NetworkError};

fn principal(account: &str) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role: Role::Admin,
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
        other => panic!("unexpected error {other:?}"),
    }
}

fn create_in(subnet: &str) -> CreateNetworkInterface {
    CreateNetworkInterface {
        subnet_id: SubnetId::parse(subnet).unwrap(),
        description: None,
        private_ip_address: None,
        groups: Vec::new(),
        secondary_private_ip_address_count: None,
        tags: Default::default(),
    }
}

/// A fresh VPC 10.0.0.0/16 with subnet 10.0.1.0/24 in the first zone: (vpc, subnet).
async fn vpc_with_subnet(network: &Network, caller: &Principal) -> (String, String) {
    let vpc = vpcs::create(
        network,
        caller,
        &vpcs::CreateVpc {
            cidr_block: "10.0.0.0/16".into(),
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    let subnet = subnets::create(
        network,
        caller,
        &subnets::CreateSubnet {
            vpc_id: vpc.vpc_id.clone(),
            cidr_block: "10.0.1.0/24".into(),
            availability_zone: Some("us-east-1a".into()),
            tags: Default::default(),
        },
    )
    .await
    .unwrap();
    (vpc.vpc_id, subnet.subnet_id)
}

fn ips(eni: &enis::NetworkInterface) -> Vec<String> {
    eni.private_ip_addresses
        .iter()
        .map(|a| a.private_ip_address.clone())
        .collect()
}

#[tokio::test]
async fn addresses_groups_and_isolation() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("111111111111");
    let bob = principal("222222222222");
    let (vpc, subnet) = vpc_with_subnet(&network, &alice).await;

    // The lowest free address after the four reserved ones; the VPC's default group.
    let first = enis::create(&network, &alice, &create_in(&subnet))
        .await
        .unwrap();
    assert_eq!(first.private_ip_address, "10.0.1.4");
    assert_eq!(first.status, InterfaceStatus::Available);
    assert_eq!(first.vpc_id, vpc);
    assert_eq!(first.groups.len(), 1);
    assert_eq!(first.groups[0].group_name, "default");
    assert!(first.attachment.is_none());

    let mut asked = create_in(&subnet);
    asked.private_ip_address = Some("10.0.1.4".into());
    let e = enis::create(&network, &alice, &asked).await.unwrap_err();
    assert_eq!(code(e), "InvalidIPAddress.InUse");
    for bad in ["10.0.2.9", "10.0.1.255", "10.0.1.2", "not-an-ip"] {
        asked.private_ip_address = Some(bad.into());
        let e = enis::create(&network, &alice, &asked).await.unwrap_err();
        assert_eq!(code(e), "InvalidParameterValue", "{bad}");
    }
    asked.private_ip_address = Some("10.0.1.10".into());
    asked.secondary_private_ip_address_count = Some(2);
    asked.description = Some("second".into());
    asked.tags = [("Name".to_string(), "two".to_string())].into();
    let second = enis::create(&network, &alice, &asked).await.unwrap();
    assert_eq!(ips(&second), ["10.0.1.10", "10.0.1.5", "10.0.1.6"]);
    assert_eq!(second.tags.get("Name").map(String::as_str), Some("two"));

    // Assign and unassign secondary addresses; the primary stays.
    let id = NetworkInterfaceId::parse(&second.network_interface_id).unwrap();
    let assigned = enis::assign_private_ips(&network, &alice, &id, &[], Some(1))
        .await
        .unwrap();
    assert_eq!(assigned[0].to_string(), "10.0.1.7");
    let e = enis::assign_private_ips(&network, &alice, &id, &["10.0.1.4".into()], None)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidIPAddress.InUse");
    let e = enis::unassign_private_ips(&network, &alice, &id, &["10.0.1.10".into()])
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidParameterValue");
    enis::unassign_private_ips(
        &network,
        &alice,
        &id,
        &["10.0.1.5".into(), "10.0.1.7".into()],
    )
    .await
    .unwrap();
    let got = enis::get(&network, &alice, id.as_str()).await.unwrap();
    assert_eq!(ips(&got), ["10.0.1.10", "10.0.1.6"]);

    // Groups: of the same VPC only, the caller's only.
    vpcs::ensure_default(&network, &alice.account_id)
        .await
        .unwrap();
    let default_vpc_group: String = sqlx::query_scalar(
        "SELECT g.group_id FROM network.security_groups g JOIN network.vpcs v USING (vpc_id)
         WHERE v.account_id = $1 AND v.is_default AND g.is_default",
    )
    .bind(&alice.account_id)
    .fetch_one(&network.pool)
    .await
    .unwrap();
    let mut grouped = create_in(&subnet);
    grouped.groups = vec![SecurityGroupId::parse(&default_vpc_group).unwrap()];
    let e = enis::create(&network, &alice, &grouped).await.unwrap_err();
    assert_eq!(code(e), "InvalidParameter");
    let e = enis::modify(
        &network,
        &alice,
        &id,
        &InterfaceChange::Groups(vec![SecurityGroupId::parse("sg-0123456789abcdef0").unwrap()]),
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), "InvalidGroup.NotFound");
    enis::modify(
        &network,
        &alice,
        &id,
        &InterfaceChange::SourceDestCheck(false),
    )
    .await
    .unwrap();
    enis::modify(
        &network,
        &alice,
        &id,
        &InterfaceChange::Description("renamed".into()),
    )
    .await
    .unwrap();
    let got = enis::get(&network, &alice, id.as_str()).await.unwrap();
    assert!(!got.source_dest_check);
    assert_eq!(got.description, "renamed");

    // Bob sees none of it and cannot use Alice's subnet or groups.
    let e = enis::get(&network, &bob, id.as_str()).await.unwrap_err();
    assert_eq!(code(e), "InvalidNetworkInterfaceID.NotFound");
    let e = enis::create(&network, &bob, &create_in(&subnet))
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidSubnetID.NotFound");
    let e = enis::delete(&network, &bob, &id).await.unwrap_err();
    assert_eq!(code(e), "InvalidNetworkInterfaceID.NotFound");
    let (listed, _) = enis::describe(&network, &bob, &DescribeQuery::default())
        .await
        .unwrap();
    assert!(listed.is_empty());
    let e = enis::describe(
        &network,
        &bob,
        &DescribeQuery {
            ids: vec![id.clone()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), "InvalidNetworkInterfaceID.NotFound");

    // Filters and pages.
    let filter = |name: &str, value: &str| Filter {
        name: name.into(),
        values: vec![value.into()],
    };
    let (found, _) = enis::describe(
        &network,
        &alice,
        &DescribeQuery {
            filters: vec![filter("addresses.private-ip-address", "10.0.1.6")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].network_interface_id, id.as_str());
    let (found, _) = enis::describe(
        &network,
        &alice,
        &DescribeQuery {
            filters: vec![filter("tag:Name", "two"), filter("status", "available")],
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    let e = enis::describe(
        &network,
        &alice,
        &DescribeQuery {
            filters: vec![filter("no-such-filter", "x")],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), "InvalidParameterValue");

    // Deleting frees the addresses.
    enis::delete(&network, &alice, &id).await.unwrap();
    let again = enis::create(&network, &alice, &create_in(&subnet))
        .await
        .unwrap();
    assert_eq!(again.private_ip_address, "10.0.1.5");
}

#[tokio::test]
async fn instances_primary_interfaces_attach_detach_release() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("333333333333");
    let bob = principal("444444444444");
    let (_, other_subnet) = vpc_with_subnet(&network, &alice).await;
    vpcs::ensure_default(&network, &alice.account_id)
        .await
        .unwrap();

    // A launch into the default VPC: the plan fixes no zone; the primary interface goes
    // into the zone's default subnet.
    let request = LaunchRequest::default();
    let mut tx = network.pool.begin().await.unwrap();
    let zone = enis::instances::plan_launch(&mut tx, &alice, &request, None, 1)
        .await
        .unwrap();
    assert_eq!(zone, None);
    let instance = InstanceId::generate();
    let primary = enis::instances::launch_primary(
        &network,
        &mut tx,
        &alice,
        &request,
        instance.as_str(),
        "us-east-1a",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(primary.private_ip_address, "172.31.0.4");
    assert_eq!(primary.status, InterfaceStatus::InUse);
    let attachment = primary.attachment.clone().unwrap();
    assert_eq!(attachment.device_index, 0);
    assert!(attachment.delete_on_termination);
    assert!(attachment.attachment_id.starts_with("eni-attach-"));
    assert_eq!(primary.groups[0].group_name, "default");

    // Bob cannot launch into Alice's subnet or with her group.
    let mut tx = network.pool.begin().await.unwrap();
    vpcs::ensure_default(&network, &bob.account_id)
        .await
        .unwrap();
    let stolen = LaunchRequest {
        subnet_id: Some(primary.subnet_id.clone()),
        ..Default::default()
    };
    let e = enis::instances::plan_launch(&mut tx, &bob, &stolen, None, 1)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidSubnetID.NotFound");
    let stolen = LaunchRequest {
        group_ids: vec![primary.groups[0].group_id.clone()],
        ..Default::default()
    };
    let e = enis::instances::plan_launch(&mut tx, &bob, &stolen, None, 1)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidGroup.NotFound");
    let by_name = LaunchRequest {
        group_names: vec!["nope".into()],
        ..Default::default()
    };
    let e = enis::instances::plan_launch(&mut tx, &bob, &by_name, None, 1)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidGroup.NotFound");
    tx.rollback().await.unwrap();

    // A second interface in the same subnet attaches at device 1; one of another VPC does not.
    let extra = enis::create(&network, &alice, &create_in(&primary.subnet_id))
        .await
        .unwrap();
    let extra_id = NetworkInterfaceId::parse(&extra.network_interface_id).unwrap();
    let e = enis::attach(&network, &alice, &extra_id, &instance, 0)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidParameterValue");
    let e = enis::attach(&network, &bob, &extra_id, &instance, 1)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidNetworkInterfaceID.NotFound");
    let e = enis::attach(&network, &alice, &extra_id, &InstanceId::generate(), 1)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidInstanceID.NotFound");
    let attachment_id = enis::attach(&network, &alice, &extra_id, &instance, 1)
        .await
        .unwrap();
    let e = enis::delete(&network, &alice, &extra_id).await.unwrap_err();
    assert_eq!(code(e), "InvalidNetworkInterface.InUse");
    let elsewhere = enis::create(&network, &alice, &create_in(&other_subnet))
        .await
        .unwrap();
    let elsewhere_id = NetworkInterfaceId::parse(&elsewhere.network_interface_id).unwrap();
    let e = enis::attach(&network, &alice, &elsewhere_id, &instance, 2)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidParameterCombination");
    let another = enis::create(&network, &alice, &create_in(&primary.subnet_id))
        .await
        .unwrap();
    let another_id = NetworkInterfaceId::parse(&another.network_interface_id).unwrap();
    let e = enis::attach(&network, &alice, &another_id, &instance, 1)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidParameterValue");

    let listed =
        enis::instances::of_instances(&network, &alice.account_id, &[instance.to_string()])
            .await
            .unwrap();
    let devices: Vec<i32> = listed[instance.as_str()]
        .iter()
        .map(|e| e.attachment.as_ref().unwrap().device_index)
        .collect();
    assert_eq!(devices, [0, 1]);

    // The primary cannot be detached; the extra one can, and attaches again.
    let primary_attachment =
        NetworkInterfaceAttachmentId::parse(&attachment.attachment_id).unwrap();
    let e = enis::detach(&network, &alice, &primary_attachment)
        .await
        .unwrap_err();
    assert_eq!(code(e), "OperationNotPermitted");
    let e = enis::detach(
        &network,
        &bob,
        &NetworkInterfaceAttachmentId::parse(&attachment_id).unwrap(),
    )
    .await
    .unwrap_err();
    assert_eq!(code(e), "InvalidAttachmentID.NotFound");
    enis::detach(
        &network,
        &alice,
        &NetworkInterfaceAttachmentId::parse(&attachment_id).unwrap(),
    )
    .await
    .unwrap();
    let detached = enis::get(&network, &alice, extra_id.as_str())
        .await
        .unwrap();
    assert_eq!(detached.status, InterfaceStatus::Available);
    enis::attach(&network, &alice, &extra_id, &instance, 1)
        .await
        .unwrap();

    // The instance ends: the primary interface goes with its address (twice is harmless);
    // the extra one stays, detached.
    for _ in 0..2 {
        let mut tx = network.pool.begin().await.unwrap();
        enis::instances::release_instance(&mut tx, instance.as_str())
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let e = enis::get(&network, &alice, &primary.network_interface_id)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidNetworkInterfaceID.NotFound");
    let kept = enis::get(&network, &alice, extra_id.as_str())
        .await
        .unwrap();
    assert_eq!(kept.status, InterfaceStatus::Available);
    let reused = enis::create(&network, &alice, &create_in(&primary.subnet_id))
        .await
        .unwrap();
    assert_eq!(reused.private_ip_address, "172.31.0.4");

    // A fixed address and a subnet of another zone's request.
    let fixed = LaunchRequest {
        subnet_id: Some(other_subnet.clone()),
        private_ip: Some("10.0.1.200".into()),
        ..Default::default()
    };
    let mut tx = network.pool.begin().await.unwrap();
    let e = enis::instances::plan_launch(&mut tx, &alice, &fixed, None, 2)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidParameterCombination");
    let zone = enis::instances::plan_launch(&mut tx, &alice, &fixed, None, 1)
        .await
        .unwrap();
    assert_eq!(zone.as_deref(), Some("us-east-1a"));
    let e = enis::instances::plan_launch(&mut tx, &alice, &fixed, Some("us-east-1b"), 1)
        .await
        .unwrap_err();
    assert_eq!(code(e), "InvalidParameterCombination");
    tx.rollback().await.unwrap();
}

/// A host in a zone the default VPC has no subnet for (it joined after the VPC was made):
/// the launch gets a default subnet there, the next free /20, made once.
#[tokio::test]
async fn launches_in_a_new_zone_get_a_default_subnet() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("555555555555");
    vpcs::ensure_default(&network, &alice.account_id)
        .await
        .unwrap();
    let request = LaunchRequest::default();
    let mut addresses = Vec::new();
    for _ in 0..2 {
        let mut tx = network.pool.begin().await.unwrap();
        let primary = enis::instances::launch_primary(
            &network,
            &mut tx,
            &alice,
            &request,
            InstanceId::generate().as_str(),
            "us-east-1c",
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        addresses.push(primary.private_ip_address);
    }
    assert_eq!(addresses, ["172.31.16.4", "172.31.16.5"]);
    let zone_subnets: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM network.subnets WHERE account_id = $1 AND zone = 'us-east-1c' AND default_for_az",
    )
    .bind(&alice.account_id)
    .fetch_one(&network.pool)
    .await
    .unwrap();
    assert_eq!(zone_subnets, 1);
}
