#![allow(clippy::unwrap_used)]
//! The network topology through boto3 against one real `kumo up` (private Postgres, no
//! compute agent): `tests/network/topology.py` checks the default VPC's shape, VPCs,
//! subnets, internet gateways, route tables and network ACLs as Terraform and aws-cli read
//! them, filters, pages, tags, every error code, DependencyViolation ordering, the native
//! routes and tenant isolation. `KUMO_TOPOLOGY_CHECKS="prefix …"` runs only the checks
//! whose names start so.

mod kumo_up;

use std::path::Path;
use std::process::Command;

use kumo_up::{python, KumoUp};

#[test]
fn network_topology_through_boto3() {
    let state = tempfile::Builder::new()
        .prefix("kumo-topology-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start(state.path(), "warn");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/network/topology.py");
    let mut cmd = Command::new(python());
    cmd.arg(&script)
        .arg(&up.endpoint)
        .arg(state.path())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY");
    if let Ok(only) = std::env::var("KUMO_TOPOLOGY_CHECKS") {
        cmd.args(only.split_whitespace());
    }
    let out = cmd
        .output()
        .expect("python with boto3: run deploy/install-deps.sh --test, or set KUMO_PYTHON");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        println!("stderr of the script:\n{stderr}");
    }
    if !out.status.success() {
        println!("kumo up's log tail:\n{}", up.log_tail());
    }
    assert!(out.status.success(), "topology checks failed (see FAIL lines above)");
    up.signal(libc::SIGTERM);
    assert!(up.child.wait().unwrap().success());
}
