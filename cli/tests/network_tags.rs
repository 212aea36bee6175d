#![allow(clippy::unwrap_used)]
//! EC2 tags across services with boto3 against a real `kumo up` (no compute agent):
//! `tests/network/tags.py` tags compute's and the network service's resources in one
//! CreateTags call, lists them with DescribeTags (resource types, filters, pages), checks
//! the tag rules, AWS's codes for unknown ids and tenant isolation.

mod kumo_up;

use std::path::Path;
use std::process::Command;

use kumo_up::{image_dir, python, KumoUp};

#[test]
fn tags_across_compute_and_network() {
    let state = tempfile::Builder::new()
        .prefix("kumo-tags-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start(state.path(), "warn");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/network/tags.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(&up.endpoint)
        .arg(state.path())
        .env("KUMO_IMAGE_DIR", image_dir())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect("python with boto3: run deploy/install-deps.sh --test, or set KUMO_PYTHON");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        println!("stderr of the script:\n{stderr}");
    }
    if !out.status.success() {
        println!("kumo up log tail:\n{}", up.log_tail());
    }
    assert!(out.status.success(), "tags.py failed (see above)");
    up.signal(libc::SIGTERM);
    assert!(up.child.wait().unwrap().success());
}
