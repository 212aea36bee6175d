#![allow(clippy::unwrap_used)]
//! Network interfaces and instances through boto3 against one real `kumo up` with its own
//! compute agent (container instances): `tests/network/network_interfaces.py` launches into
//! a chosen subnet and group, checks the instance's primary interface and attachment,
//! Terraform's aws_instance and aws_network_interface sequences, a second interface
//! attached and detached, secondary addresses, attributes, filters and pages, that
//! terminating frees the addresses, the native routes and tenant isolation.
//! `KUMO_ENI_CHECKS="prefix …"` runs only the checks whose names start so.

mod kumo_up;

use std::path::Path;
use std::process::Command;

use kumo_up::{python, KumoUp};

#[test]
fn network_interfaces_and_instances_through_boto3() {
    let state = tempfile::Builder::new()
        .prefix("kumo-eni-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start_with_agent(state.path(), "warn");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/network/network_interfaces.py");
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
    if let Ok(only) = std::env::var("KUMO_ENI_CHECKS") {
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
    assert!(
        out.status.success(),
        "network interface checks failed (see FAIL lines above)"
    );
    up.signal(libc::SIGTERM);
    assert!(up.child.wait().unwrap().success());
}
