#![allow(clippy::unwrap_used)]
//! Killing the control plane in the middle of RunInstances leaves no instance half-created:
//! `kumo up` (control plane only) runs as a process on this test's catalog database, a real
//! agent runs in its own network namespace, RunInstances calls are in flight when `kumo up`
//! is SIGKILLed. After a restart every reservation is whole or absent, capacity and
//! addresses add up, retries with the same ClientToken complete the rest exactly once, and
//! every instance converges to running on the host.

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::Host;

fn start_up(url: &str, state: &std::path::Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_kumo"))
        .args([
            "up",
            "--no-agent",
            "--listen",
            &format!("0.0.0.0:{port}"),
            "--state-dir",
        ])
        .arg(state)
        .arg("--image-dir")
        .arg(support::image_dir().canonicalize().unwrap())
        .env("DATABASE_URL", url)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}

async fn wait_ready(endpoint: &str) {
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(r) = http.get(format!("{endpoint}/readyz")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("kumo up never became ready");
}

fn credentials(state: &std::path::Path) -> (String, String) {
    let text = std::fs::read_to_string(state.join("aws/credentials")).unwrap();
    let value = |key: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(key)
                    .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
            })
            .unwrap()
    };
    (value("aws_access_key_id"), value("aws_secret_access_key"))
}

/// One signed EC2 RunInstances (2 instances, all or nothing) with a ClientToken.
async fn run_instances(
    endpoint: &str,
    key: &(String, String),
    image: &str,
    token: &str,
) -> Result<String, String> {
    let host = endpoint.trim_start_matches("http://").to_string();
    let body = format!(
        "Action=RunInstances&Version=2016-11-15&ImageId={image}&InstanceType=t3.nano&MinCount=2&MaxCount=2&ClientToken={token}"
    );
    let headers = vec![
        ("host".to_string(), host),
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        ),
    ];
    let signed = kumo_auth::sigv4::sign_request(
        "POST",
        "/",
        &headers,
        body.as_bytes(),
        &key.0,
        &key.1,
        "us-east-1",
        "ec2",
        chrono::Utc::now(),
    );
    let mut request = reqwest::Client::new()
        .post(format!("{endpoint}/"))
        .body(body);
    for (name, value) in headers.iter().skip(1).chain(signed.iter()) {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        let start =
            text.find("<reservationId>").ok_or("no reservation id")? + "<reservationId>".len();
        let end = text[start..].find('<').ok_or("bad xml")? + start;
        Ok(text[start..end].to_string())
    } else {
        Err(format!("{status}: {text}"))
    }
}

async fn check_invariants(pool: &sqlx::PgPool) {
    // Every reservation is whole: MinCount = MaxCount = 2.
    let partial: Vec<(String, i64)> = sqlx::query_as(
        "SELECT reservation_id, count(*) FROM compute.instances GROUP BY reservation_id HAVING count(*) <> 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert!(partial.is_empty(), "half-created reservations: {partial:?}");
    // Every live instance has a host and an address, and the books balance.
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM compute.instances i WHERE i.state <> 'terminated'
           AND (i.host_id IS NULL OR i.private_ip IS NULL
                OR NOT EXISTS (SELECT 1 FROM compute.ip_allocations a WHERE a.instance_id = i.instance_id))",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM compute.ip_allocations a
         WHERE NOT EXISTS (SELECT 1 FROM compute.instances i WHERE i.instance_id = a.instance_id AND i.state <> 'terminated')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(leaked, 0, "leaked IP addresses");
    let unbalanced: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM compute.hosts h WHERE (h.vcpus_used, h.memory_mib_used) <>
           (SELECT COALESCE(sum(vcpus), 0)::int, COALESCE(sum(memory_mib), 0)::int FROM compute.instances i
            WHERE i.host_id = h.host_id AND i.state <> 'terminated')",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    assert_eq!(unbalanced, 0, "host capacity does not match its instances");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_control_plane_mid_run_instances_leaves_nothing_half_created() {
    let options = kumo_catalog::testing::fresh_database_options()
        .await
        .unwrap();
    let url = kumo_catalog::testing::url_for(&options);
    let pool = kumo_catalog::connect_options(options).await.unwrap();
    let state = tempfile::Builder::new()
        .prefix("kumo-crash-")
        .tempdir_in("/tmp")
        .unwrap();
    let port = std::net::TcpListener::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");

    let mut up = start_up(&url, state.path(), port);
    wait_ready(&endpoint).await;
    let token = kumo_compute::hosts::create_join_token(&pool, Duration::from_secs(600))
        .await
        .unwrap();
    let host = Host::start_at(port, &token.join_token, "crash-host", 64, 16384);
    host.wait_enrolled_in(&pool).await;
    let key = credentials(state.path());
    let image: String = sqlx::query_scalar(
        "SELECT image_id FROM compute.images WHERE name = 'kumo-busybox-container'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();

    // Eight launches in flight; the control plane dies under them.
    let tokens: Vec<String> = (0..8).map(|i| format!("crash-test-{i}")).collect();
    let mut calls = Vec::new();
    for t in &tokens {
        let (endpoint, key, image, t) = (endpoint.clone(), key.clone(), image.clone(), t.clone());
        calls.push(tokio::spawn(async move {
            run_instances(&endpoint, &key, &image, &t).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(60)).await;
    up.kill().unwrap();
    up.wait().unwrap();
    let mut answered = std::collections::BTreeMap::new();
    for (t, call) in tokens.iter().zip(calls) {
        if let Ok(reservation) = call.await.unwrap() {
            answered.insert(t.clone(), reservation);
        }
    }
    eprintln!(
        "{} of 8 RunInstances answered before the kill",
        answered.len()
    );
    check_invariants(&pool).await;

    // Restart; retry every call with its token: each reservation exists exactly once.
    let mut up = start_up(&url, state.path(), port);
    wait_ready(&endpoint).await;
    for t in &tokens {
        let reservation = run_instances(&endpoint, &key, &image, t).await.unwrap();
        if let Some(first) = answered.get(t) {
            assert_eq!(
                first, &reservation,
                "a retried ClientToken made a second reservation"
            );
        }
    }
    let reservations: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT reservation_id) FROM compute.instances")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reservations, 8);
    check_invariants(&pool).await;

    // Everything converges on the host.
    for _ in 0..480 {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM compute.instances WHERE state <> 'running'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let running: i64 =
        sqlx::query_scalar("SELECT count(*) FROM compute.instances WHERE state = 'running'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(running, 16);
    assert_eq!(host.containers().known_instances().unwrap().len(), 16);

    // Clean up through the API's domain: terminate all and let the agent remove them.
    sqlx::query("UPDATE compute.instances SET state = 'shutting-down', desired_state = 'terminated', generation = generation + 1")
        .execute(&pool)
        .await
        .unwrap();
    for _ in 0..480 {
        let left: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM compute.instances WHERE state <> 'terminated'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    check_invariants(&pool).await;
    let _ = up.kill();
    let _ = up.wait();
}
