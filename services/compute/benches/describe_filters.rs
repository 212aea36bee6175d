#![allow(clippy::unwrap_used)]
//! DescribeInstances' filter evaluation at the request limits: 50 filters of 200 values
//! (wildcards included), over an account's instances. Prints the latency:
//! `cargo bench -p kumo-compute --bench describe_filters`.

use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use kumo_compute::instances::{filter_matches, Instance, InstanceState, ShutdownBehavior};
use kumo_compute_protocol::InstanceKind;
use kumo_ec2_query::filters::{self, Filter, MAX_FILTERS, MAX_FILTER_VALUES};

fn instance(n: usize, tag_len: usize) -> Instance {
    let mut tags = std::collections::BTreeMap::new();
    for t in 0..10 {
        tags.insert(format!("key{t}"), "v".repeat(tag_len));
    }
    tags.insert("Name".into(), format!("web-{n}"));
    Instance {
        instance_id: format!("i-{n:017x}"),
        account_id: "111111111111".into(),
        reservation_id: format!("r-{n:017x}"),
        image_id: "ami-0123456789abcdef0".into(),
        instance_type: "t3.micro".into(),
        kind: InstanceKind::Container,
        state: InstanceState::Running,
        state_code: 16,
        state_reason: None,
        host_id: Some("host-1".into()),
        availability_zone: "us-east-1a".into(),
        subnet_id: "subnet-0123456789abcdef0".into(),
        private_ip: Some("172.31.0.9".into()),
        mac: "02:00:00:00:00:01".into(),
        key_name: None,
        launch_index: 0,
        launch_time: Utc::now(),
        disable_api_termination: false,
        shutdown_behavior: ShutdownBehavior::Stop,
        client_token: None,
        tags,
        network_interfaces: Vec::new(),
        block_devices: Vec::new(),
        root_device_name: None,
    }
}

/// 50 filters × 200 values; in each, 199 values that never match (the costliest kind: a
/// leading `*` keeps every NFA alive to the end of the text) and a last one that does, so
/// every filter is evaluated in full for every instance.
fn worst_filters(pattern_len: usize, name: &str, last: &str) -> Vec<Filter> {
    let failing = format!("*{}", "x?".repeat((pattern_len - 1) / 2));
    (0..MAX_FILTERS)
        .map(|_| {
            let mut values = vec![failing.clone(); MAX_FILTER_VALUES - 1];
            values.push(last.to_string());
            Filter {
                name: name.into(),
                values,
            }
        })
        .collect()
}

async fn time(label: &str, instances: usize, tag_len: usize, filters: &[Filter]) {
    let items: Vec<Instance> = (0..instances).map(|n| instance(n, tag_len)).collect();
    let started = Instant::now();
    let compiled = Arc::new(filters::compile(filters).unwrap());
    let kept = filters::select("bench", items, compiled, |instance, filters| {
        filters.iter().all(|f| filter_matches(f, instance))
    })
    .await
    .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(kept.len(), instances);
    println!(
        "{label}: {instances} instances, {} filters x {} values: {:.1} ms ({:.3} ms per instance)",
        filters.len(),
        filters[0].values.len(),
        elapsed.as_secs_f64() * 1000.0,
        elapsed.as_secs_f64() * 1000.0 / instances as f64
    );
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
        .block_on(describe_filters_at_the_limits());
}

async fn describe_filters_at_the_limits() {
    // Exact values only: hash lookups.
    let exact: Vec<Filter> = (0..MAX_FILTERS)
        .map(|_| Filter {
            name: "instance-state-name".into(),
            values: (0..MAX_FILTER_VALUES - 1)
                .map(|v| format!("state-{v}"))
                .chain(std::iter::once("running".to_string()))
                .collect(),
        })
        .collect();
    time("exact values", 1000, 16, &exact).await;
    // Wildcards on instance ids (19 characters).
    time(
        "wildcards on instance-id",
        100,
        16,
        &worst_filters(255, "instance-id", "i-*"),
    )
    .await;
    // Wildcards on tag values of 256 characters (tag-value: any of 11 tags).
    time(
        "wildcards on tag-value (256-char values)",
        100,
        256,
        &worst_filters(255, "tag-value", "v*"),
    )
    .await;
    time(
        "typical wildcards (tag:Name=web-*)",
        1000,
        16,
        &[Filter {
            name: "tag:Name".into(),
            values: vec!["web-*".into(), "db-?".into()],
        }],
    )
    .await;
}
