//! `kumo bench security-groups`: DescribeSecurityGroups latency through the EC2 facade
//! (parameters, the catalog's queries, filters and the XML; no HTTP, no signing) on a
//! private catalog, with 1,000 rules in play:
//! - within AWS's default quota (60 rules per direction per group): 1,000 inbound rules
//!   across 17 groups of one VPC, described in one call;
//! - one group with 1,000 inbound rules, as with a raised quota (the API refuses more than
//!   60, so the rows are written straight into the catalog), described by its id;
//! - RunInstances into that group and the host's data-plane spec (`bench_launch_rules`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kumo_auth::{AuthMethod, Principal, Role};
use kumo_common::QueryRequest;
use kumo_network::security_group_rules::{self, RuleSpec, MAX_RULES_PER_DIRECTION};
use kumo_network::security_groups::{self, CreateSecurityGroup};
use kumo_network::vpcs::{self, CreateVpc};
use kumo_network::{Network, NetworkConfig};

use crate::bench::percentile;

const RULES: usize = 1000;

fn rule(n: usize) -> RuleSpec {
    let port = 1024 + n as i32;
    RuleSpec {
        protocol: "tcp".into(),
        from_port: Some(port),
        to_port: Some(port),
        cidr: Some(format!("10.{}.{}.0/24", n / 256, n % 256)),
        description: Some(format!("rule {n}")),
        ..RuleSpec::default()
    }
}

async fn describe_latency(
    network: &Network,
    caller: &Principal,
    params: &[(&str, &str)],
    runs: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let request = QueryRequest {
        action: "DescribeSecurityGroups".into(),
        version: Some("2016-11-15".into()),
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    };
    let mut latencies = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let response = kumo_network::ec2::dispatch(network, Some(caller), &request).await;
        // The XML is written before the response exists: the time covers it.
        latencies.push(started.elapsed());
        let status = response.status();
        if !status.is_success() {
            bail!("DescribeSecurityGroups answered {status}");
        }
    }
    latencies.sort();
    Ok((percentile(&latencies, 0.5), percentile(&latencies, 0.99)))
}

pub async fn security_groups(runs: usize) -> anyhow::Result<()> {
    let dir = tempfile::Builder::new()
        .prefix("kumo-bench-sg-")
        .tempdir_in("/tmp")?;
    let catalog = kumo_catalog::Catalog::open(None, dir.path()).await?;
    let network = Network::new(catalog.pool.clone(), NetworkConfig::default());
    let caller = Principal {
        account_id: "123456789012".into(),
        user_id: "AIDABENCH".into(),
        user_name: "bench".into(),
        role: Role::Admin,
        method: AuthMethod::Bearer,
    };
    let vpc = CreateVpc {
        cidr_block: "10.0.0.0/16".into(),
        tags: Default::default(),
    };
    let vpc_id = vpcs::create(&network, &caller, &vpc).await?.vpc_id;
    let group = |name: String| CreateSecurityGroup {
        group_name: name,
        description: "bench".into(),
        vpc_id: Some(vpc_id.clone()),
        tags: Default::default(),
    };

    // Within the quota: 60 rules per group until 1,000.
    let specs: Vec<RuleSpec> = (0..RULES).map(rule).collect();
    for (n, chunk) in specs.chunks(MAX_RULES_PER_DIRECTION).enumerate() {
        let created =
            security_groups::create(&network, &caller, &group(format!("spread-{n}"))).await?;
        security_group_rules::authorize(
            &network,
            &caller,
            &created.group_id,
            false,
            chunk,
            &Default::default(),
        )
        .await?;
    }
    let groups = RULES.div_ceil(MAX_RULES_PER_DIRECTION);
    let vpc_filter = [
        ("Filter.1.Name", "vpc-id"),
        ("Filter.1.Value.1", vpc_id.as_str()),
    ];
    let (p50, p99) = describe_latency(&network, &caller, &vpc_filter, runs).await?;
    println!(
        "DescribeSecurityGroups, {RULES} inbound rules across {groups} groups (+ the VPC's default group), one call: p50 {:.2} ms, p99 {:.2} ms ({runs} runs)",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );

    // A raised quota: one group with 1,000 inbound rules.
    let big = security_groups::create(&network, &caller, &group("one-big-group".into())).await?;
    sqlx::query(
        "INSERT INTO network.security_group_rules \
             (rule_id, account_id, group_id, is_egress, protocol, from_port, to_port, cidr, description) \
         SELECT 'sgr-' || lpad(to_hex(i), 17, '0'), $1, $2, false, 'tcp', 1024 + i, 1024 + i, \
                format('10.%s.%s.0/24', i / 256, i % 256)::cidr, 'rule ' || i \
         FROM generate_series(0, $3 - 1) AS i",
    )
    .bind(&caller.account_id)
    .bind(&big.group_id)
    .bind(RULES as i32)
    .execute(&network.pool)
    .await
    .context("writing 1,000 rules")?;
    let by_id = [("GroupId.1", big.group_id.as_str())];
    let (p50, p99) = describe_latency(&network, &caller, &by_id, runs).await?;
    println!(
        "DescribeSecurityGroups, one group with {RULES} inbound rules (raised quota), by id: p50 {:.2} ms, p99 {:.2} ms ({runs} runs)",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );

    // Launching into the 1,000-rule group, against the VPC's default group.
    let launches = crate::bench_launch_rules::LaunchBench::new(&network, &caller, &vpc_id).await?;
    let launch_runs = runs.min(100);
    let (p50, p99) = launches.launch_latency(None, launch_runs).await?;
    println!(
        "RunInstances (EC2 facade, simulated host), the VPC's default group: p50 {:.2} ms, p99 {:.2} ms ({launch_runs} runs)",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
    let (p50, p99) = launches
        .launch_latency(Some(&big.group_id), launch_runs)
        .await?;
    println!(
        "RunInstances (EC2 facade, simulated host), a group with {RULES} inbound rules: p50 {:.2} ms, p99 {:.2} ms ({launch_runs} runs)",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
    let (p50, p99, rules) = launches
        .host_spec_latency(&big.group_id, 20, launch_runs)
        .await?;
    println!(
        "a host's data-plane spec (20 instances in that group, {rules} rules after folding): p50 {:.2} ms, p99 {:.2} ms ({launch_runs} runs)",
        p50.as_secs_f64() * 1000.0,
        p99.as_secs_f64() * 1000.0
    );
    Ok(())
}
