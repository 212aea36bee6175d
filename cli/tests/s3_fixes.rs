#![allow(clippy::unwrap_used)]
//! S3 behaviours Kumo once got wrong (issue 12's list, as ceph's s3-tests and AWS answer
//! them), checked through boto3 (`s3_fixes.py`) against the gateway with real storage
//! nodes: listing versions past a vanished marker, DeleteObjects keeping whitespace in keys,
//! DeleteBucket with an upload in progress, a repeated CompleteMultipartUpload, presigned
//! URLs with X-Amz-Expires=0, GetObjectAttributes' parts, raw `\n` prefixes in listings
//! and an empty continuation token.

mod support;

use support::{run_boto3_report, Cloud};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_behaves_as_aws_where_kumo_once_did_not() {
    let cloud = Cloud::start_storage(3).await;
    let (_, key, secret) = cloud.tenant("alice").await;
    let args = [cloud.endpoint.clone(), key, secret];
    let (report, out, stdout, stderr) = run_boto3_report("s3_fixes.py", &args).await;
    let failed = report["failed"].as_object().unwrap();
    assert!(
        failed.is_empty() && out.status.success(),
        "sections failed: {failed:?}\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert_eq!(report["passed"].as_array().unwrap().len(), 8, "{report}");
}
