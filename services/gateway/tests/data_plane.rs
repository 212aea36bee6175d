#![allow(clippy::unwrap_used)]
//! The agents' network long poll end to end, over HTTP against the gateway with its loops
//! (the `kumo_data_plane` listener): enrolment and sync record the host's underlay, the
//! operator overrides it, instances get their VPC's bridge, and a security-group change
//! committed through the network service wakes a waiting poll — with the latency from the
//! change's answer to the poll's, over 50 changes.

mod common;

use std::time::{Duration, Instant};

use common::TestCloud;
use kumo_auth::{AuthMethod, Principal, Role};
use kumo_compute_protocol::network::{RuleProtocol, VpcLinkNames};
use kumo_compute_protocol::{
    EnrolRequest, EnrolResponse, HostCapacity, HostNetworkReport, HostNetworkSpec, InstanceKind,
    SyncRequest, SyncResponse, NODE_TOKEN_HEADER,
};
use kumo_network::network_interfaces::instances::LaunchRequest;
use kumo_network::security_group_rules::{self, RuleSpec};
use kumo_network::security_groups::{self, CreateSecurityGroup};
use kumo_network::{vpcs, Network};

fn tenant() -> Principal {
    Principal {
        account_id: "111111111111".into(),
        user_id: "AIDA111111111111".into(),
        user_name: "admin".into(),
        role: Role::Admin,
        method: AuthMethod::Bearer,
    }
}

fn capacity() -> HostCapacity {
    HostCapacity {
        vcpus: 4,
        memory_mib: 4096,
        disk_gib: 10,
        kinds: vec![InstanceKind::Container],
    }
}

fn report(vtep: &str, uplink: &str) -> HostNetworkReport {
    HostNetworkReport {
        vtep_address: Some(vtep.parse().unwrap()),
        uplink: Some(uplink.into()),
    }
}

struct Agent<'a> {
    cloud: &'a TestCloud,
    host_id: String,
    token: String,
}

impl Agent<'_> {
    async fn poll(&self, after: Option<i64>) -> HostNetworkSpec {
        poll(&self.cloud.http, &self.cloud.endpoint, &self.token, after).await
    }

    async fn sync(&self, network: HostNetworkReport) -> SyncResponse {
        let response = self
            .cloud
            .http
            .post(self.cloud.url("/v1/agent/sync"))
            .header(NODE_TOKEN_HEADER, &self.token)
            .json(&SyncRequest {
                capacity: capacity(),
                instances: Vec::new(),
                network,
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        response.json().await.unwrap()
    }
}

async fn poll(
    http: &reqwest::Client,
    endpoint: &str,
    token: &str,
    after: Option<i64>,
) -> HostNetworkSpec {
    let url = match after {
        Some(after) => format!("{endpoint}/v1/agent/network?after={after}"),
        None => format!("{endpoint}/v1/agent/network"),
    };
    let response = http
        .get(url)
        .header(NODE_TOKEN_HEADER, token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    response.json().await.unwrap()
}

async fn enrol<'a>(cloud: &'a TestCloud, name: &str, network: HostNetworkReport) -> Agent<'a> {
    let join =
        kumo_compute::hosts::create_join_token(&cloud.identity.pool, Duration::from_secs(60))
            .await
            .unwrap();
    let response = cloud
        .http
        .post(cloud.url("/v1/agent/enrol"))
        .json(&EnrolRequest {
            join_token: join.join_token,
            name: name.into(),
            zone: "us-east-1a".into(),
            address: "127.0.0.1:0".into(),
            capacity: capacity(),
            network,
        })
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let enrolled: EnrolResponse = response.json().await.unwrap();
    Agent {
        cloud,
        host_id: enrolled.host_id,
        token: enrolled.node_token,
    }
}

/// A running container instance of the tenant on `host_id`, in `group` of its default VPC.
async fn instance(network: &Network, host_id: &str, group: &str) -> String {
    let caller = tenant();
    let instance_id = kumo_common::ids::InstanceId::generate().into_string();
    sqlx::query(
        "INSERT INTO compute.images (image_id, account_id, name, kind, rootfs)
         VALUES ('ami-0123456789abcdef0', $1, 'busybox', 'container', '/nonexistent')
         ON CONFLICT DO NOTHING",
    )
    .bind(&caller.account_id)
    .execute(&network.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO compute.instances (instance_id, account_id, reservation_id, image_id,
             instance_type, kind, vcpus, memory_mib, host_id, zone, state, desired_state,
             subnet_id, mac)
         VALUES ($1, $2, 'r-1', 'ami-0123456789abcdef0', 't3.micro', 'container', 2, 1024, $3,
             'us-east-1a', 'running', 'running', 'subnet-0', '02:00:00:00:00:00')",
    )
    .bind(&instance_id)
    .bind(&caller.account_id)
    .bind(host_id)
    .execute(&network.pool)
    .await
    .unwrap();
    let mut tx = network.pool.begin().await.unwrap();
    kumo_network::network_interfaces::instances::launch_primary(
        network,
        &mut tx,
        &caller,
        &LaunchRequest {
            group_ids: vec![group.into()],
            ..Default::default()
        },
        &instance_id,
        "us-east-1a",
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    instance_id
}

fn ssh() -> RuleSpec {
    RuleSpec {
        protocol: "tcp".into(),
        from_port: Some(22),
        to_port: Some(22),
        cidr: Some("10.99.0.0/16".into()),
        referenced_group_id: None,
        description: None,
    }
}

fn allows_ssh(spec: &HostNetworkSpec, group: &str) -> bool {
    spec.vpcs
        .iter()
        .flat_map(|v| &v.security_groups)
        .filter(|g| g.group_id == group)
        .flat_map(|g| &g.ingress)
        .any(|r| r.protocol == RuleProtocol::Tcp && r.from_port == Some(22))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

#[tokio::test]
async fn a_change_wakes_the_waiting_network_poll() {
    let cloud = TestCloud::start_with_loops().await;
    let network = Network::new(cloud.identity.pool.clone(), Default::default());
    let caller = tenant();
    vpcs::ensure_default(&network, &caller.account_id)
        .await
        .unwrap();
    let web = security_groups::create(
        &network,
        &caller,
        &CreateSecurityGroup {
            group_name: "web".into(),
            description: "web".into(),
            vpc_id: None,
            tags: Default::default(),
        },
    )
    .await
    .unwrap()
    .group_id;

    // Enrolment records the underlay the agent reports; the poll answers at once without
    // `after`, and an unknown token gets nothing.
    let agent = enrol(&cloud, "node-1", report("10.77.0.11", "up0")).await;
    let instance_id = instance(&network, &agent.host_id, &web).await;
    let spec = agent.poll(None).await;
    assert_eq!(spec.host.vtep_address, Some("10.77.0.11".parse().unwrap()));
    assert_eq!(spec.host.uplink.as_deref(), Some("up0"));
    assert_eq!(spec.vpcs.len(), 1);
    let vpc = &spec.vpcs[0];
    assert_eq!(vpc.interfaces.len(), 1);
    assert_eq!(vpc.interfaces[0].instance_id, instance_id);
    let denied = cloud
        .http
        .get(cloud.url("/v1/agent/network"))
        .header(NODE_TOKEN_HEADER, format!("{}:wrong", agent.host_id))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 401);
    let bad_query = cloud
        .http
        .get(cloud.url("/v1/agent/network?after=soon"))
        .header(NODE_TOKEN_HEADER, &agent.token)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_query.status(), 400);

    // The instance is plugged into its VPC's bridge, with its interface and VPC named.
    let synced = agent.sync(report("10.77.0.11", "up0")).await;
    let attachment = &synced.instances[0].network;
    assert_eq!(attachment.vpc_id, vpc.vpc_id);
    assert_eq!(attachment.bridge, VpcLinkNames::for_vpc(&vpc.vpc_id).bridge);
    assert_eq!(attachment.bridge, vpc.bridge);
    assert_eq!(
        attachment.network_interface_id,
        vpc.interfaces[0].network_interface_id
    );

    // Wait until the listener listens: a notification moves the generation.
    let started = Instant::now();
    let before = agent.poll(None).await.generation;
    let mut generation = before;
    while generation == before {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "listener never started"
        );
        sqlx::query("SELECT pg_notify('kumo_data_plane', '')")
            .execute(&network.pool)
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        generation = agent.poll(None).await.generation;
    }
    // Let a burst of the notifications above settle.
    tokio::time::sleep(Duration::from_millis(100)).await;
    generation = agent.poll(None).await.generation;

    // A sync reporting the same underlay changes nothing; a new one moves the generation.
    agent.sync(report("10.77.0.11", "up0")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(agent.poll(None).await.generation, generation);
    agent.sync(report("10.77.0.12", "up0")).await;
    let moved = agent.poll(Some(generation)).await;
    assert_ne!(moved.generation, generation);
    assert_eq!(moved.host.vtep_address, Some("10.77.0.12".parse().unwrap()));
    generation = moved.generation;

    // Authorize, then revoke, SSH 50 times; each time a poll already waiting answers with
    // the new rules. Latency: from the network service's answer to the poll's.
    let mut after_answer = Vec::new();
    let mut after_call = Vec::new();
    for round in 0..50 {
        let waiting = tokio::spawn({
            let (http, endpoint, token) = (
                cloud.http.clone(),
                cloud.endpoint.clone(),
                agent.token.clone(),
            );
            async move {
                let spec = poll(&http, &endpoint, &token, Some(generation)).await;
                (spec, Instant::now())
            }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let called = Instant::now();
        let authorize = round % 2 == 0;
        if authorize {
            security_group_rules::authorize(
                &network,
                &caller,
                &web,
                false,
                &[ssh()],
                &Default::default(),
            )
            .await
            .unwrap();
        } else {
            security_group_rules::revoke(&network, &caller, &web, false, &[ssh()], &[])
                .await
                .unwrap();
        }
        let answered = Instant::now();
        let (spec, polled) = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("the poll was not woken")
            .unwrap();
        assert_ne!(spec.generation, generation);
        assert_eq!(allows_ssh(&spec, &web), authorize, "round {round}");
        generation = spec.generation;
        after_answer.push(polled.saturating_duration_since(answered));
        after_call.push(polled.saturating_duration_since(called));
    }
    after_answer.sort();
    after_call.sort();
    println!(
        "network poll woken by a security-group change, 50 changes: from the API answer p50 {:?} p99 {:?}; from the API call p50 {:?} p99 {:?}",
        percentile(&after_answer, 0.5),
        percentile(&after_answer, 0.99),
        percentile(&after_call, 0.5),
        percentile(&after_call, 0.99),
    );
    assert!(percentile(&after_call, 0.99) < Duration::from_secs(1));

    cloud.tasks.iter().for_each(|task| task.abort());
}

#[tokio::test]
async fn operators_set_a_hosts_underlay() {
    let cloud = TestCloud::start().await;
    let operator = cloud.operator_token().await;
    let agent = enrol(&cloud, "node-1", report("10.77.0.11", "up0")).await;
    let url = cloud.url(&format!("/v1/hosts/{}/network", agent.host_id));
    let put = |token: String, body: serde_json::Value| {
        let request = cloud.http.put(url.clone()).bearer_auth(token).json(&body);
        async move { request.send().await.unwrap() }
    };

    let set = put(
        operator.clone(),
        serde_json::json!({"vtep_address": "192.168.50.11", "uplink": "eth1"}),
    )
    .await;
    assert_eq!(set.status(), 200);
    let host: serde_json::Value = set.json().await.unwrap();
    assert_eq!(host["vtep_address"], "192.168.50.11");
    assert_eq!(host["uplink"], "eth1");
    assert_eq!(host["reported_vtep_address"], "10.77.0.11");
    assert_eq!(host["reported_uplink"], "up0");
    // The agent is told the operator's values, whatever it reports.
    agent.sync(report("10.77.0.13", "up1")).await;
    let spec = agent.poll(None).await;
    assert_eq!(
        spec.host.vtep_address,
        Some("192.168.50.11".parse().unwrap())
    );
    assert_eq!(spec.host.uplink.as_deref(), Some("eth1"));
    assert!(spec.vpcs.is_empty());
    let listed: serde_json::Value = cloud
        .http
        .get(cloud.url("/v1/hosts"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["vtep_address"], "192.168.50.11");
    assert_eq!(listed[0]["reported_vtep_address"], "10.77.0.13");

    // Cleared: the agent's report again.
    let cleared = put(operator.clone(), serde_json::json!({})).await;
    assert_eq!(cleared.status(), 200);
    let host: serde_json::Value = cleared.json().await.unwrap();
    assert_eq!(host["vtep_address"], "10.77.0.13");
    assert_eq!(host["uplink"], "up1");

    for bad in [
        serde_json::json!({"vtep_address": "10.77.0.300"}),
        serde_json::json!({"vtep_address": "fd00::1"}),
        serde_json::json!({"vtep_address": "224.0.0.5"}),
        serde_json::json!({"uplink": "an-interface-name"}),
        serde_json::json!({"uplink": "eth0;reboot"}),
        serde_json::json!({"uplink": ""}),
        serde_json::json!({"mtu": 9000}),
    ] {
        let refused = put(operator.clone(), bad.clone()).await;
        assert_eq!(refused.status(), 400, "{bad}");
    }
    let missing = cloud
        .http
        .put(cloud.url("/v1/hosts/host-missing/network"))
        .bearer_auth(&operator)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // Tenants cannot; an agent reporting a bad uplink is refused.
    let account = cloud
        .http
        .post(cloud.url("/v1/accounts"))
        .bearer_auth(&operator)
        .json(&serde_json::json!({"name": "tenant"}))
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), 201);
    let account: serde_json::Value = account.json().await.unwrap();
    let user = cloud
        .http
        .post(cloud.url(&format!(
            "/v1/accounts/{}/users",
            account["account_id"].as_str().unwrap()
        )))
        .bearer_auth(&operator)
        .json(&serde_json::json!({"user_name": "admin", "role": "admin", "password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(user.status(), 201);
    let tenant_token = cloud.login("tenant", "admin", "correct-horse").await;
    assert_eq!(put(tenant_token, serde_json::json!({})).await.status(), 403);
    let refused = cloud
        .http
        .post(cloud.url("/v1/agent/sync"))
        .header(NODE_TOKEN_HEADER, &agent.token)
        .json(&serde_json::json!({
            "capacity": {"vcpus": 1, "memory_mib": 1, "disk_gib": 1, "kinds": ["container"]},
            "instances": [],
            "network": {"vtep_address": null, "uplink": "eth0 up"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
}

#[tokio::test]
async fn instances_are_told_their_vpcs_resolver() {
    let cloud = TestCloud::start().await;
    let network = Network::new(cloud.identity.pool.clone(), Default::default());
    let caller = tenant();
    vpcs::ensure_default(&network, &caller.account_id)
        .await
        .unwrap();
    let agent = enrol(&cloud, "node-1", report("10.77.0.11", "up0")).await;
    let vpc_id = vpcs::list(&network.pool, &caller, &[]).await.unwrap()[0]
        .vpc_id
        .clone();
    let group = security_groups::id_by_name(&network.pool, &caller, "default")
        .await
        .unwrap();
    instance(&network, &agent.host_id, &group).await;

    // The default VPC (172.31.0.0/16) resolves at 172.31.0.2, the address its hosts serve.
    let synced = agent.sync(report("10.77.0.11", "up0")).await;
    let attachment = &synced.instances[0].network;
    assert_eq!(attachment.dns_server, Some("172.31.0.2".parse().unwrap()));
    assert_eq!(attachment.dns_domain, "ec2.internal");
    let vpc = &agent.poll(None).await.vpcs[0];
    assert_eq!(vpc.dns_address, attachment.dns_server);
    assert_eq!(vpc.dns_domain, attachment.dns_domain);

    // DNS support off: the next sync (and so the next start) names no resolver.
    for (attribute, value) in [
        (vpcs::VpcAttribute::EnableDnsHostnames, false),
        (vpcs::VpcAttribute::EnableDnsSupport, false),
    ] {
        vpcs::modify_attribute(&network, &caller, &vpc_id, attribute, value)
            .await
            .unwrap();
    }
    let synced = agent.sync(report("10.77.0.11", "up0")).await;
    assert_eq!(synced.instances[0].network.dns_server, None);
    assert_eq!(agent.poll(None).await.vpcs[0].dns_address, None);
}
