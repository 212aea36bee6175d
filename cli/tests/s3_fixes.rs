#![allow(clippy::unwrap_used)]
//! S3 behaviours Kumo once got wrong (issue 12's list, as ceph's s3-tests and AWS answer
//! them), checked through boto3 (`s3_fixes.py`) against the gateway with real storage
//! nodes: listing versions past a vanished marker, DeleteObjects keeping whitespace in keys,
//! DeleteBucket with an upload in progress, a repeated CompleteMultipartUpload, presigned
//! URLs with X-Amz-Expires=0, GetObjectAttributes' parts, raw `\n` prefixes in listings
//! and an empty continuation token.

mod support;

use std::path::Path;

use support::Cloud;

/// The Python with boto3: `$KUMO_PYTHON`, else the workspace's `.venv`, else `python3`.
fn python() -> String {
    if let Ok(python) = std::env::var("KUMO_PYTHON") {
        return python;
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_behaves_as_aws_where_kumo_once_did_not() {
    let cloud = Cloud::start_storage(3).await;
    let (_, key, secret) = cloud.tenant("alice").await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3_fixes.py");
    let out = tokio::process::Command::new(python())
        .arg(&script)
        .args([&cloud.endpoint, &key, &secret])
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .await
        .expect("python with boto3: run deploy/install-deps.sh --test, or set KUMO_PYTHON");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from the script\nstdout: {stdout}\nstderr: {stderr}"));
    let failed = report["failed"].as_object().unwrap();
    assert!(
        failed.is_empty() && out.status.success(),
        "sections failed: {failed:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(report["passed"].as_array().unwrap().len(), 8, "{report}");
}
