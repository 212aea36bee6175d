#![allow(clippy::unwrap_used)]
//! Each service runs alone as its own binary: `kumo-identity` on a shared catalog serves
//! identity's native API and STS/IAM, and leaves other AWS services out.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use kumo_identity::{bootstrap, MasterKey};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn kumo_identity_runs_alone_on_a_shared_catalog() {
    let options = kumo_catalog::testing::fresh_database_options()
        .await
        .unwrap();
    let url = kumo_catalog::testing::url_for(&options);
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kumo-identity"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", &url)
        .env("KUMO_STATE_DIR", state.path())
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("kumo-identity exited: {status}");
        }
        if let Ok(resp) = http.get(format!("{endpoint}/readyz")).send().await {
            if resp.status().is_success() {
                ready = true;
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "kumo-identity never became ready");

    // The binary bootstrapped the operator in the shared catalog; read its key back.
    let pool = kumo_catalog::connect_options(options).await.unwrap();
    let master_key = MasterKey::load_or_create(None, &state.path().join("master.key")).unwrap();
    let op = bootstrap::ensure_operator(&pool, &master_key)
        .await
        .unwrap();

    let out = common::run_aws(
        &endpoint,
        &op.access_key_id,
        &op.secret_access_key,
        &["sts", "get-caller-identity"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = common::run_aws(
        &endpoint,
        &op.access_key_id,
        &op.secret_access_key,
        &["iam", "list-access-keys"],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // EC2 is not this binary's business.
    let out = common::run_aws(
        &endpoint,
        &op.access_key_id,
        &op.secret_access_key,
        &["ec2", "describe-regions"],
    )
    .await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("InvalidAction"));

    child.kill().unwrap();
    child.wait().unwrap();
}
