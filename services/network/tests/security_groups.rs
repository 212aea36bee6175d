#![allow(clippy::unwrap_used)]
//! Security groups' domain functions against a real catalog: the default group and its
//! rules, names, duplicates, rule identity and normalization, limits, revoke by
//! definition and by id, modify, DependencyViolation, describe filters and pages, and
//! tenant isolation.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_ec2_query::{Filter, Page};
use kumo_network::security_group_rules::{self, DescribeRules, RuleSpec, MAX_RULES_PER_DIRECTION};
use kumo_network::security_groups::{self, CreateSecurityGroup, DescribeGroups};
use kumo_network::tags::Tags;
use kumo_network::vpcs::{self, CreateVpc};
use kumo_network::{Network, NetworkConfig, NetworkError};

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
    Network::new(pool, NetworkConfig::default())
}

fn code(error: NetworkError) -> String {
    error.to_aws().code.to_string()
}

async fn vpc(network: &Network, caller: &Principal, cidr: &str) -> String {
    let input = CreateVpc {
        cidr_block: cidr.into(),
        tags: Tags::new(),
    };
    vpcs::create(network, caller, &input).await.unwrap().vpc_id
}

fn group_input(name: &str, vpc_id: &str) -> CreateSecurityGroup {
    CreateSecurityGroup {
        group_name: name.into(),
        description: format!("{name} servers"),
        vpc_id: Some(vpc_id.into()),
        tags: Tags::new(),
    }
}

fn tcp(port: i32, cidr: &str) -> RuleSpec {
    RuleSpec {
        protocol: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        cidr: Some(cidr.into()),
        ..RuleSpec::default()
    }
}

fn from_group(protocol: &str, group_id: &str) -> RuleSpec {
    RuleSpec {
        protocol: protocol.into(),
        referenced_group_id: Some(group_id.into()),
        ..RuleSpec::default()
    }
}

fn filter(name: &str, value: &str) -> Filter {
    Filter {
        name: name.into(),
        values: vec![value.into()],
    }
}

async fn describe(
    network: &Network,
    caller: &Principal,
    filters: Vec<Filter>,
) -> Vec<security_groups::SecurityGroup> {
    let query = DescribeGroups {
        group_ids: Vec::new(),
        group_names: Vec::new(),
        filters,
        page: Page::all(),
    };
    security_groups::describe(&network.pool, caller, query)
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn a_vpc_has_a_default_group_with_aws_default_rules() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let vpc_id = vpc(&network, &alice, "10.0.0.0/16").await;
    let groups = describe(&network, &alice, vec![filter("vpc-id", &vpc_id)]).await;
    assert_eq!(groups.len(), 1);
    let default = &groups[0];
    assert_eq!(default.group_name, "default");
    assert_eq!(default.description, "default VPC security group");
    assert!(default.is_default);
    assert_eq!(default.egress.len(), 1);
    assert_eq!(default.egress[0].protocol, "-1");
    assert_eq!(default.egress[0].cidr.as_deref(), Some("0.0.0.0/0"));
    assert_eq!(default.ingress.len(), 1);
    assert_eq!(
        default.ingress[0].referenced_group_id.as_deref(),
        Some(default.group_id.as_str())
    );
    // The default group cannot be deleted, and its name is reserved.
    let refused = security_groups::delete(&network, &alice, &default.group_id).await;
    assert_eq!(code(refused.unwrap_err()), "CannotDelete");
    let reserved =
        security_groups::create(&network, &alice, &group_input("default", &vpc_id)).await;
    assert_eq!(code(reserved.unwrap_err()), "InvalidGroup.Reserved");
}

#[tokio::test]
async fn names_are_unique_per_vpc_and_checked() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let (one, two) = (
        vpc(&network, &alice, "10.0.0.0/16").await,
        vpc(&network, &alice, "10.1.0.0/16").await,
    );
    let web = security_groups::create(&network, &alice, &group_input("web", &one))
        .await
        .unwrap();
    assert!(web.group_id.starts_with("sg-"));
    assert_eq!(web.egress.len(), 1, "every new group allows all egress");
    assert!(web.ingress.is_empty());
    let again = security_groups::create(&network, &alice, &group_input("WEB", &one)).await;
    assert_eq!(code(again.unwrap_err()), "InvalidGroup.Duplicate");
    security_groups::create(&network, &alice, &group_input("web", &two))
        .await
        .unwrap();
    for bad in ["sg-web", "", "naïve", "tab\there"] {
        let error = security_groups::create(&network, &alice, &group_input(bad, &one)).await;
        assert_eq!(code(error.unwrap_err()), "InvalidParameterValue", "{bad:?}");
    }
    let mut long = group_input("long", &one);
    long.description = "d".repeat(256);
    let error = security_groups::create(&network, &alice, &long).await;
    assert_eq!(code(error.unwrap_err()), "InvalidParameterValue");
    let missing_vpc =
        security_groups::create(&network, &alice, &group_input("x", "vpc-0123456789abcdef0")).await;
    assert_eq!(code(missing_vpc.unwrap_err()), "InvalidVpcID.NotFound");
    let reader = principal("111111111111", Role::Reader);
    let error = security_groups::create(&network, &reader, &group_input("r", &one)).await;
    assert_eq!(code(error.unwrap_err()), "UnauthorizedOperation");
}

#[tokio::test]
async fn rules_are_authorized_deduplicated_revoked_and_modified() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let vpc_id = vpc(&network, &alice, "10.0.0.0/16").await;
    let web = security_groups::create(&network, &alice, &group_input("web", &vpc_id))
        .await
        .unwrap();
    let db = security_groups::create(&network, &alice, &group_input("db", &vpc_id))
        .await
        .unwrap();
    let tags: Tags = [("Name".to_string(), "ssh".to_string())].into();
    let added = security_group_rules::authorize(
        &network,
        &alice,
        &db.group_id,
        false,
        &[
            tcp(22, "10.0.0.0/8"),
            RuleSpec {
                from_port: Some(5432),
                to_port: Some(5432),
                ..from_group("6", &web.group_id)
            },
        ],
        &tags,
    )
    .await
    .unwrap();
    assert_eq!(added.len(), 2);
    assert!(added.iter().all(|r| r.rule_id.starts_with("sgr-")));
    assert!(added.iter().all(|r| r.tags == tags));
    // Protocol numbers take their names.
    assert_eq!(added[1].protocol, "tcp");
    let with_ports = RuleSpec {
        from_port: Some(5432),
        to_port: Some(5432),
        ..from_group("tcp", &web.group_id)
    };
    let error = security_group_rules::authorize(
        &network,
        &alice,
        &db.group_id,
        false,
        &[with_ports.clone(), tcp(22, "10.0.0.0/8")],
        &Tags::new(),
    )
    .await;
    assert_eq!(code(error.unwrap_err()), "InvalidPermission.Duplicate");
    let same_twice = security_group_rules::authorize(
        &network,
        &alice,
        &db.group_id,
        false,
        &[tcp(80, "0.0.0.0/0"), tcp(80, "0.0.0.0/0")],
        &Tags::new(),
    )
    .await;
    assert_eq!(code(same_twice.unwrap_err()), "InvalidPermission.Duplicate");
    // Nothing of a refused request was kept.
    let db_now = security_groups::get(&network.pool, &alice, &db.group_id)
        .await
        .unwrap();
    assert_eq!(db_now.ingress.len(), 2);

    // Revoke by definition (the description does not matter) and by id.
    let mut described = tcp(22, "10.0.0.0/8");
    described.description = Some("other words".into());
    let revoked =
        security_group_rules::revoke(&network, &alice, &db.group_id, false, &[described], &[])
            .await
            .unwrap();
    assert_eq!(revoked[0].rule_id, added[0].rule_id);
    let again = security_group_rules::revoke(
        &network,
        &alice,
        &db.group_id,
        false,
        &[tcp(22, "10.0.0.0/8")],
        &[],
    )
    .await;
    assert_eq!(code(again.unwrap_err()), "InvalidPermission.NotFound");
    let wrong_direction = security_group_rules::revoke(
        &network,
        &alice,
        &db.group_id,
        true,
        &[],
        &[added[1].rule_id.clone()],
    )
    .await;
    assert_eq!(
        code(wrong_direction.unwrap_err()),
        "InvalidSecurityGroupRuleId.NotFound"
    );

    // Modify replaces the definition in place.
    security_group_rules::modify(
        &network,
        &alice,
        &db.group_id,
        &[(
            added[1].rule_id.clone(),
            RuleSpec {
                from_port: Some(6432),
                to_port: Some(6432),
                ..with_ports
            },
        )],
    )
    .await
    .unwrap();
    let query = DescribeRules {
        rule_ids: vec![added[1].rule_id.clone()],
        filters: Vec::new(),
        page: Page::all(),
    };
    let (rules, _) = security_group_rules::describe(&network.pool, &alice, query)
        .await
        .unwrap();
    assert_eq!(
        (rules[0].from_port, rules[0].to_port),
        (Some(6432), Some(6432))
    );
    security_group_rules::update_descriptions(
        &network,
        &alice,
        &db.group_id,
        false,
        &[],
        &[(added[1].rule_id.clone(), "postgres from web".into())],
    )
    .await
    .unwrap();
    let db_now = security_groups::get(&network.pool, &alice, &db.group_id)
        .await
        .unwrap();
    assert_eq!(db_now.ingress[0].description, "postgres from web");

    // Terraform's revoke of the default egress rule sends ports 0/0 with protocol -1.
    let all_out = RuleSpec {
        protocol: "-1".into(),
        from_port: Some(0),
        to_port: Some(0),
        cidr: Some("0.0.0.0/0".into()),
        ..RuleSpec::default()
    };
    security_group_rules::revoke(&network, &alice, &web.group_id, true, &[all_out], &[])
        .await
        .unwrap();
}

#[tokio::test]
async fn a_referenced_group_cannot_be_deleted() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let vpc_id = vpc(&network, &alice, "10.0.0.0/16").await;
    let web = security_groups::create(&network, &alice, &group_input("web", &vpc_id))
        .await
        .unwrap();
    let db = security_groups::create(&network, &alice, &group_input("db", &vpc_id))
        .await
        .unwrap();
    // A self-reference does not hold a group.
    security_group_rules::authorize(
        &network,
        &alice,
        &web.group_id,
        false,
        &[from_group("-1", &web.group_id)],
        &Tags::new(),
    )
    .await
    .unwrap();
    let rules = security_group_rules::authorize(
        &network,
        &alice,
        &db.group_id,
        false,
        &[from_group("-1", &web.group_id)],
        &Tags::new(),
    )
    .await
    .unwrap();
    let held = security_groups::delete(&network, &alice, &web.group_id).await;
    assert_eq!(code(held.unwrap_err()), "DependencyViolation");
    let in_rule = describe(
        &network,
        &alice,
        vec![filter("ip-permission.group-name", "web")],
    )
    .await;
    assert_eq!(in_rule.len(), 2);
    security_group_rules::revoke(
        &network,
        &alice,
        &db.group_id,
        false,
        &[],
        &[rules[0].rule_id.clone()],
    )
    .await
    .unwrap();
    security_groups::delete(&network, &alice, &web.group_id)
        .await
        .unwrap();
    let gone = security_groups::get(&network.pool, &alice, &web.group_id).await;
    assert_eq!(code(gone.unwrap_err()), "InvalidGroup.NotFound");
}

#[tokio::test]
async fn rules_per_direction_are_limited() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let vpc_id = vpc(&network, &alice, "10.0.0.0/16").await;
    let web = security_groups::create(&network, &alice, &group_input("web", &vpc_id))
        .await
        .unwrap();
    let rules: Vec<RuleSpec> = (0..MAX_RULES_PER_DIRECTION as i32)
        .map(|n| tcp(1000 + n, "10.0.0.0/8"))
        .collect();
    security_group_rules::authorize(&network, &alice, &web.group_id, false, &rules, &Tags::new())
        .await
        .unwrap();
    let one_more = security_group_rules::authorize(
        &network,
        &alice,
        &web.group_id,
        false,
        &[tcp(22, "10.0.0.0/8")],
        &Tags::new(),
    )
    .await;
    assert_eq!(
        code(one_more.unwrap_err()),
        "RulesPerSecurityGroupLimitExceeded"
    );
    // Outbound counts separately (the allow-all rule is one of its 60).
    security_group_rules::authorize(
        &network,
        &alice,
        &web.group_id,
        true,
        &[tcp(443, "0.0.0.0/0")],
        &Tags::new(),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn describe_filters_and_pages() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let vpc_id = vpc(&network, &alice, "10.0.0.0/16").await;
    let mut ids = Vec::new();
    for name in ["a", "b", "c", "d", "e", "f"] {
        let mut input = group_input(name, &vpc_id);
        input.tags = [("team".to_string(), format!("team-{name}"))].into();
        ids.push(
            security_groups::create(&network, &alice, &input)
                .await
                .unwrap()
                .group_id,
        );
    }
    security_group_rules::authorize(
        &network,
        &alice,
        &ids[0],
        false,
        &[tcp(22, "192.168.0.0/24")],
        &Tags::new(),
    )
    .await
    .unwrap();
    let by_port = describe(
        &network,
        &alice,
        vec![filter("ip-permission.from-port", "22")],
    )
    .await;
    assert_eq!(by_port.len(), 1);
    let by_cidr = describe(
        &network,
        &alice,
        vec![filter("ip-permission.cidr", "192.168.*")],
    )
    .await;
    assert_eq!(by_cidr[0].group_id, ids[0]);
    let by_tag = describe(&network, &alice, vec![filter("tag:team", "team-b")]).await;
    assert_eq!(by_tag[0].group_id, ids[1]);
    let egress_all = describe(
        &network,
        &alice,
        vec![filter("egress.ip-permission.protocol", "-1")],
    )
    .await;
    assert_eq!(egress_all.len(), 7, "six groups and the VPC's default");
    let bogus = security_groups::describe(
        &network.pool,
        &alice,
        DescribeGroups {
            group_ids: Vec::new(),
            group_names: Vec::new(),
            filters: vec![filter("bogus", "x")],
            page: Page::all(),
        },
    )
    .await;
    assert_eq!(code(bogus.unwrap_err()), "InvalidParameterValue");

    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let query = DescribeGroups {
            group_ids: Vec::new(),
            group_names: Vec::new(),
            filters: vec![filter("vpc-id", &vpc_id)],
            page: Page::parse(Some(5), token.as_deref(), (5, 1000)).unwrap(),
        };
        let (page, next) = security_groups::describe(&network.pool, &alice, query)
            .await
            .unwrap();
        assert!(page.len() <= 5);
        seen.extend(page.into_iter().map(|g| g.group_id));
        match next {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let missing = security_groups::describe(
        &network.pool,
        &alice,
        DescribeGroups {
            group_ids: vec![ids[0].clone(), "sg-0123456789abcdef0".into()],
            group_names: Vec::new(),
            filters: Vec::new(),
            page: Page::all(),
        },
    )
    .await;
    assert_eq!(code(missing.unwrap_err()), "InvalidGroup.NotFound");
}

#[tokio::test]
async fn another_account_sees_and_references_nothing() {
    let network = network().await;
    let alice = principal("111111111111", Role::Admin);
    let bob = principal("222222222222", Role::Admin);
    let alice_vpc = vpc(&network, &alice, "10.0.0.0/16").await;
    let bob_vpc = vpc(&network, &bob, "10.0.0.0/16").await;
    let web = security_groups::create(&network, &alice, &group_input("web", &alice_vpc))
        .await
        .unwrap();
    let bobs = security_groups::create(&network, &bob, &group_input("web", &bob_vpc))
        .await
        .unwrap();
    let get = security_groups::get(&network.pool, &bob, &web.group_id).await;
    assert_eq!(code(get.unwrap_err()), "InvalidGroup.NotFound");
    let delete = security_groups::delete(&network, &bob, &web.group_id).await;
    assert_eq!(code(delete.unwrap_err()), "InvalidGroup.NotFound");
    let authorize = security_group_rules::authorize(
        &network,
        &bob,
        &web.group_id,
        false,
        &[tcp(22, "0.0.0.0/0")],
        &Tags::new(),
    )
    .await;
    assert_eq!(code(authorize.unwrap_err()), "InvalidGroup.NotFound");
    let reference = security_group_rules::authorize(
        &network,
        &bob,
        &bobs.group_id,
        false,
        &[from_group("-1", &web.group_id)],
        &Tags::new(),
    )
    .await;
    assert_eq!(code(reference.unwrap_err()), "InvalidGroup.NotFound");
    let in_vpc = security_groups::create(&network, &bob, &group_input("x", &alice_vpc)).await;
    assert_eq!(code(in_vpc.unwrap_err()), "InvalidVpcID.NotFound");
    let bob_sees = describe(&network, &bob, Vec::new()).await;
    assert!(bob_sees.iter().all(|g| g.owner_id == bob.account_id));
    let rules = DescribeRules {
        rule_ids: vec![web.egress[0].rule_id.clone()],
        filters: Vec::new(),
        page: Page::all(),
    };
    let rule = security_group_rules::describe(&network.pool, &bob, rules).await;
    assert_eq!(
        code(rule.unwrap_err()),
        "InvalidSecurityGroupRuleId.NotFound"
    );
    // A group of another VPC of the same account is another network.
    let alice_other = vpc(&network, &alice, "10.9.0.0/16").await;
    let other = security_groups::create(&network, &alice, &group_input("o", &alice_other))
        .await
        .unwrap();
    let across = security_group_rules::authorize(
        &network,
        &alice,
        &web.group_id,
        false,
        &[from_group("-1", &other.group_id)],
        &Tags::new(),
    )
    .await;
    assert_eq!(code(across.unwrap_err()), "InvalidGroup.NotFound");
}
