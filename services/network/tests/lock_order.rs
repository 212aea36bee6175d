#![allow(clippy::unwrap_used)]
//! Lock order: requests that lock two things of the same kind take them in id order, so
//! crossed requests wait for each other instead of deadlocking (Postgres' 40P01, a 500).

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::ids::{AllocationId, NetworkInterfaceId, SubnetId};
use kumo_network::addresses::pools::{self, CreateAddressPool};
use kumo_network::addresses::{self, AddressRef, AssociateAddress};
use kumo_network::network_interfaces::{self as enis, CreateNetworkInterface};
use kumo_network::{vpcs, Network};

fn principal(account: &str) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role: Role::Admin,
        method: AuthMethod::Bearer,
    }
}

fn to(eni: &str) -> AssociateAddress {
    AssociateAddress {
        network_interface_id: Some(NetworkInterfaceId::parse(eni).unwrap()),
        allow_reassociation: true,
        ..Default::default()
    }
}

/// Two crossed re-associations (A→X while B→Z, A being on Z and B on X), many times over:
/// each succeeds, none deadlocks, and the end state is the one both asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossed_reassociations_do_not_deadlock() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let operator = Principal {
        role: Role::Operator,
        ..principal("000000000000")
    };
    let alice = principal("777777777777");
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
    vpcs::ensure_default(&network, &alice.account_id)
        .await
        .unwrap();
    let subnet = kumo_network::subnets::list(&network.pool, &alice, &[])
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.availability_zone == "us-east-1a")
        .unwrap()
        .subnet_id;
    let mut interfaces = Vec::new();
    for _ in 0..2 {
        let eni = enis::create(
            &network,
            &alice,
            &CreateNetworkInterface {
                subnet_id: SubnetId::parse(&subnet).unwrap(),
                description: None,
                private_ip_address: None,
                groups: Vec::new(),
                secondary_private_ip_address_count: None,
                tags: Default::default(),
            },
        )
        .await
        .unwrap();
        interfaces.push(eni.network_interface_id);
    }
    let (x, z) = (interfaces[0].clone(), interfaces[1].clone());
    let mut eips = Vec::new();
    for _ in 0..2 {
        let eip = addresses::allocate(&network, &alice, &Default::default())
            .await
            .unwrap();
        eips.push(AddressRef::Allocation(
            AllocationId::parse(&eip.allocation_id).unwrap(),
        ));
    }
    let (a, b) = (eips[0].clone(), eips[1].clone());
    addresses::associate(&network, &alice, &a, &to(&z))
        .await
        .unwrap();
    addresses::associate(&network, &alice, &b, &to(&x))
        .await
        .unwrap();

    for round in 0..30 {
        // Even rounds: A (on Z) → X while B (on X) → Z; odd rounds the way back.
        let (a_to, b_to) = if round % 2 == 0 { (&x, &z) } else { (&z, &x) };
        let crossed: Vec<_> = [(a.clone(), a_to.clone()), (b.clone(), b_to.clone())]
            .into_iter()
            .map(|(address, eni)| {
                let (network, alice) = (network.clone(), alice.clone());
                tokio::spawn(async move {
                    addresses::associate(&network, &alice, &address, &to(&eni)).await
                })
            })
            .collect();
        for request in crossed {
            let answer = request.await.unwrap();
            assert!(answer.is_ok(), "round {round}: {answer:?}");
        }
        for (address, eni) in [(&a, a_to), (&b, b_to)] {
            let AddressRef::Allocation(id) = address else {
                unreachable!()
            };
            let now = addresses::get(&network, &alice, id.as_str()).await.unwrap();
            assert_eq!(now.network_interface_id.as_deref(), Some(eni.as_str()));
        }
    }
}

/// AssociateRouteTable and ReplaceRouteTableAssociation naming two VPCs, crossed (table of
/// V1 + subnet of V2 while table of V2 + subnet of V1), many times over: each is refused
/// with InvalidParameterValue before any lock, none deadlocks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossed_route_table_requests_across_vpcs_do_not_deadlock() {
    use kumo_network::route_tables;
    use kumo_network::subnets::{self, CreateSubnet};
    use kumo_network::vpcs::CreateVpc;
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("777777777777");
    let mut tables = Vec::new();
    let mut subnet_ids = Vec::new();
    let mut associations = Vec::new();
    for cidr in ["10.0.0.0/16", "10.1.0.0/16"] {
        let vpc = vpcs::create(
            &network,
            &alice,
            &CreateVpc {
                cidr_block: cidr.into(),
                tags: Default::default(),
            },
        )
        .await
        .unwrap();
        let subnet = subnets::create(
            &network,
            &alice,
            &CreateSubnet {
                vpc_id: vpc.vpc_id.clone(),
                cidr_block: cidr.replace(".0.0/16", ".1.0/24"),
                availability_zone: None,
                tags: Default::default(),
            },
        )
        .await
        .unwrap();
        let table = route_tables::create(&network, &alice, &vpc.vpc_id, &Default::default())
            .await
            .unwrap();
        associations.push(
            route_tables::associate(&network, &alice, &table.route_table_id, &subnet.subnet_id)
                .await
                .unwrap(),
        );
        tables.push(table.route_table_id);
        subnet_ids.push(subnet.subnet_id);
    }
    let code = |e: kumo_network::NetworkError| e.to_aws().code.to_string();
    for round in 0..30 {
        let (n1, n2, a1) = (network.clone(), network.clone(), alice.clone());
        let a2 = alice.clone();
        let (t0, t1) = (tables[0].clone(), tables[1].clone());
        let (s0, s1) = (subnet_ids[0].clone(), subnet_ids[1].clone());
        let first = tokio::spawn(async move { route_tables::associate(&n1, &a1, &t0, &s1).await });
        let second = tokio::spawn(async move { route_tables::associate(&n2, &a2, &t1, &s0).await });
        for result in [first.await.unwrap(), second.await.unwrap()] {
            assert_eq!(
                code(result.unwrap_err()),
                "InvalidParameterValue",
                "round {round}"
            );
        }
        let (n1, n2, a1) = (network.clone(), network.clone(), alice.clone());
        let a2 = alice.clone();
        let (t0, t1) = (tables[0].clone(), tables[1].clone());
        let (r0, r1) = (associations[0].clone(), associations[1].clone());
        let first =
            tokio::spawn(
                async move { route_tables::replace_association(&n1, &a1, &r0, &t1).await },
            );
        let second =
            tokio::spawn(
                async move { route_tables::replace_association(&n2, &a2, &r1, &t0).await },
            );
        for result in [first.await.unwrap(), second.await.unwrap()] {
            assert_eq!(
                code(result.unwrap_err()),
                "InvalidParameterValue",
                "round {round}"
            );
        }
    }
}
