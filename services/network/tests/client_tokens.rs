#![allow(clippy::unwrap_used)]
//! ClientToken idempotency of CreateRouteTable and CreateNetworkInterface against a real
//! catalog: a retry answers the first resource, other parameters are
//! IdempotentParameterMismatch, tokens are per account and bounded, and concurrent twins
//! make one resource.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::ids::SubnetId;
use kumo_network::network_interfaces::{self as enis, CreateNetworkInterface};
use kumo_network::tags::Tags;
use kumo_network::{route_tables, subnets, vpcs, Network, NetworkError};

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
        NetworkError::Invalid(c, _) | NetworkError::NotFound(c, _) => c,
        other => panic!("unexpected error {other:?}"),
    }
}

/// A fresh VPC 10.0.0.0/16 with subnet 10.0.1.0/24: (vpc, subnet).
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

fn named(name: &str) -> Tags {
    [("Name".to_string(), name.to_string())]
        .into_iter()
        .collect()
}

async fn table_count(network: &Network, caller: &Principal) -> usize {
    route_tables::list(&network.pool, caller, &[])
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn create_route_table_client_token() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("111111111111");
    let bob = principal("222222222222");
    let (vpc, _) = vpc_with_subnet(&network, &alice).await;
    let (bob_vpc, _) = vpc_with_subnet(&network, &bob).await;
    let (vpc2, _) = vpc_with_subnet(&network, &alice).await;
    let tags = named("web");

    let first = route_tables::create_idempotent(&network, &alice, &vpc, &tags, Some("tok-1"))
        .await
        .unwrap();
    let before = table_count(&network, &alice).await;
    let again = route_tables::create_idempotent(&network, &alice, &vpc, &tags, Some("tok-1"))
        .await
        .unwrap();
    assert_eq!(again.route_table_id, first.route_table_id);
    assert_eq!(table_count(&network, &alice).await, before);

    // Other parameters with the same token.
    let db = named("db");
    let other_tags = route_tables::create_idempotent(&network, &alice, &vpc, &db, Some("tok-1"));
    assert_eq!(
        code(other_tags.await.unwrap_err()),
        "IdempotentParameterMismatch"
    );
    let other_vpc = route_tables::create_idempotent(&network, &alice, &vpc2, &tags, Some("tok-1"));
    assert_eq!(
        code(other_vpc.await.unwrap_err()),
        "IdempotentParameterMismatch"
    );
    assert_eq!(table_count(&network, &alice).await, before);

    // A new token makes a new table; no token, every call a new one.
    let second = route_tables::create_idempotent(&network, &alice, &vpc, &tags, Some("tok-2"))
        .await
        .unwrap();
    assert_ne!(second.route_table_id, first.route_table_id);
    route_tables::create_idempotent(&network, &alice, &vpc, &tags, None)
        .await
        .unwrap();
    route_tables::create_idempotent(&network, &alice, &vpc, &tags, None)
        .await
        .unwrap();
    assert_eq!(table_count(&network, &alice).await, before + 3);

    // Tokens are per account: bob's tok-1 is his own.
    let bobs = route_tables::create_idempotent(&network, &bob, &bob_vpc, &tags, Some("tok-1"))
        .await
        .unwrap();
    assert_ne!(bobs.route_table_id, first.route_table_id);
    assert_eq!(bobs.vpc_id, bob_vpc);

    // Bounds: 1 to 64 printable ASCII characters.
    for bad in ["", "é", "a\tb"] {
        let refused = route_tables::create_idempotent(&network, &alice, &vpc, &tags, Some(bad));
        assert_eq!(
            code(refused.await.unwrap_err()),
            "InvalidParameterValue",
            "{bad:?}"
        );
    }
    let long = "t".repeat(65);
    let refused = route_tables::create_idempotent(&network, &alice, &vpc, &tags, Some(&long));
    assert_eq!(code(refused.await.unwrap_err()), "InvalidParameterValue");
    let max = "t".repeat(64);
    route_tables::create_idempotent(&network, &alice, &vpc, &tags, Some(&max))
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_twins_make_one_route_table() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("333333333333");
    let (vpc, _) = vpc_with_subnet(&network, &alice).await;
    let before = table_count(&network, &alice).await;
    let twins: Vec<_> = (0..4)
        .map(|_| {
            let (network, alice, vpc) = (network.clone(), alice.clone(), vpc.clone());
            tokio::spawn(async move {
                route_tables::create_idempotent(&network, &alice, &vpc, &Tags::new(), Some("twin"))
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for twin in twins {
        ids.push(twin.await.unwrap().unwrap().route_table_id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(table_count(&network, &alice).await, before + 1);
}

fn create_in(subnet: &str) -> CreateNetworkInterface {
    CreateNetworkInterface {
        subnet_id: SubnetId::parse(subnet).unwrap(),
        description: Some("eni".into()),
        private_ip_address: None,
        groups: Vec::new(),
        secondary_private_ip_address_count: None,
        tags: named("eni"),
    }
}

async fn interface_count(network: &Network, caller: &Principal) -> usize {
    enis::describe(network, caller, &Default::default())
        .await
        .unwrap()
        .0
        .len()
}

#[tokio::test]
async fn create_network_interface_client_token() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let network = Network::new(pool, Default::default());
    let alice = principal("444444444444");
    let bob = principal("555555555555");
    let (_, subnet) = vpc_with_subnet(&network, &alice).await;
    let (_, bob_subnet) = vpc_with_subnet(&network, &bob).await;
    let input = create_in(&subnet);
    let secondaries = vec!["10.0.1.20".to_string()];

    let first = enis::create_idempotent(&network, &alice, &input, &secondaries, Some("eni-tok"))
        .await
        .unwrap();
    assert_eq!(first.private_ip_addresses.len(), 2);
    let again = enis::create_idempotent(&network, &alice, &input, &secondaries, Some("eni-tok"))
        .await
        .unwrap();
    assert_eq!(again.network_interface_id, first.network_interface_id);
    assert_eq!(again.private_ip_addresses.len(), 2);
    assert_eq!(interface_count(&network, &alice).await, 1);

    // Other parameters with the same token: description, secondaries, subnet.
    let mut described = create_in(&subnet);
    described.description = Some("other".into());
    let refused =
        enis::create_idempotent(&network, &alice, &described, &secondaries, Some("eni-tok"));
    assert_eq!(
        code(refused.await.unwrap_err()),
        "IdempotentParameterMismatch"
    );
    let refused = enis::create_idempotent(&network, &alice, &input, &[], Some("eni-tok"));
    assert_eq!(
        code(refused.await.unwrap_err()),
        "IdempotentParameterMismatch"
    );
    assert_eq!(interface_count(&network, &alice).await, 1);

    // Per account.
    let bobs = enis::create_idempotent(
        &network,
        &bob,
        &create_in(&bob_subnet),
        &[],
        Some("eni-tok"),
    )
    .await
    .unwrap();
    assert_ne!(bobs.network_interface_id, first.network_interface_id);

    // A request that fails (its secondary is taken) keeps no interface and frees its token.
    let taken = vec!["10.0.1.20".to_string()];
    let failed = enis::create_idempotent(&network, &alice, &input, &taken, Some("eni-tok-2"));
    assert!(failed.await.is_err());
    assert_eq!(interface_count(&network, &alice).await, 1);
    let free = vec!["10.0.1.21".to_string()];
    let retried = enis::create_idempotent(&network, &alice, &input, &free, Some("eni-tok-2"))
        .await
        .unwrap();
    assert_ne!(retried.network_interface_id, first.network_interface_id);

    let long = "t".repeat(65);
    let refused = enis::create_idempotent(&network, &alice, &input, &[], Some(&long));
    assert_eq!(code(refused.await.unwrap_err()), "InvalidParameterValue");
}
