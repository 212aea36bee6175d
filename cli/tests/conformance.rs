#![allow(clippy::unwrap_used)]
//! Differential AWS conformance: `tests/conformance/run.py` runs one boto3 scenario (every
//! EC2, STS, IAM and S3 action Kumo implements, and NotFound errors) against moto in
//! server mode and against a real `kumo up` (with its own compute agent: the instances are
//! real runc containers), and compares the shape of every raw response
//! (element paths and leaf types, not values); it also checks every Kumo body against
//! botocore's service model. Differences moto shows and Kumo lacks fail unless
//! `tests/conformance/allow-list.toml` lists them with a reason. See docs/conformance.md.

mod kumo_up;

use std::path::Path;
use std::process::Command;

use kumo_up::{python, repo_root, KumoUp};

#[test]
fn kumo_answers_have_the_shape_of_moto_and_of_botocores_model() {
    let state = tempfile::Builder::new()
        .prefix("kumo-conformance-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent(state.path(), "warn");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/run.py");
    let out = Command::new(python())
        .arg(&script)
        .arg(&up.endpoint)
        .arg(state.path())
        .arg(repo_root())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .expect(
            "python with boto3 and moto: run deploy/install-deps.sh --test, or set KUMO_PYTHON",
        );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    if !stderr.trim().is_empty() {
        println!(
            "stderr of the harness:\n{stderr}\nkumo up log tail:\n{}",
            up.log_tail()
        );
    }
    assert!(
        out.status.success(),
        "conformance differences (see FAIL lines above)"
    );
}
