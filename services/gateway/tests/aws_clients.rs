#![allow(clippy::unwrap_used)]
//! The real AWS clients against the gateway: aws-cli and boto3/botocore.

mod common;

use common::{python, python_script, run_aws, TestCloud};

#[tokio::test]
async fn aws_cli_get_caller_identity_with_the_kumo_profile() {
    let cloud = TestCloud::start().await;
    let op = &cloud.operator;
    let out = run_aws(
        &cloud.endpoint,
        &op.access_key_id,
        &op.secret_access_key,
        &["sts", "get-caller-identity"],
    )
    .await;
    assert!(
        out.status.success(),
        "aws-cli failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(body["Account"], op.account_id.as_str());
    assert_eq!(
        body["Arn"],
        format!("arn:aws:iam::{}:user/operator", op.account_id)
    );
    assert!(body["UserId"].as_str().unwrap().starts_with("AIDA"));
}

#[tokio::test]
async fn aws_cli_wrong_secret_is_signature_does_not_match() {
    let cloud = TestCloud::start().await;
    let op = &cloud.operator;
    // Change the last character (to one it is not: a secret ending in `x` made this flaky).
    let last = if op.secret_access_key.ends_with('x') {
        'y'
    } else {
        'x'
    };
    let wrong = format!("{}{last}", &op.secret_access_key[..39]);
    let out = run_aws(
        &cloud.endpoint,
        &op.access_key_id,
        &wrong,
        &["sts", "get-caller-identity"],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(SignatureDoesNotMatch)"), "{stderr}");
}

#[tokio::test]
async fn aws_cli_unknown_key_is_invalid_client_token_id() {
    let cloud = TestCloud::start().await;
    let out = run_aws(
        &cloud.endpoint,
        "AKIAZZZZZZZZZZZZZZZZ",
        "0123456789012345678901234567890123456789",
        &["sts", "get-caller-identity"],
    )
    .await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("(InvalidClientTokenId)"), "{stderr}");
}

#[tokio::test]
async fn aws_cli_iam_access_key_lifecycle() {
    let cloud = TestCloud::start().await;
    let op = &cloud.operator;
    let (id, secret) = (&op.access_key_id, &op.secret_access_key);
    let out = run_aws(&cloud.endpoint, id, secret, &["iam", "create-access-key"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let new_id = created["AccessKey"]["AccessKeyId"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run_aws(&cloud.endpoint, id, secret, &["iam", "list-access-keys"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = listed["AccessKeyMetadata"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["AccessKeyId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&new_id.as_str()) && ids.contains(&id.as_str()));
    // UpdateAccessKey, parsed by aws-cli against IAM's model; the listing shows the status.
    let out = run_aws(
        &cloud.endpoint,
        id,
        secret,
        &[
            "iam",
            "update-access-key",
            "--access-key-id",
            &new_id,
            "--status",
            "Inactive",
        ],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_aws(&cloud.endpoint, id, secret, &["iam", "list-access-keys"]).await;
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let status = listed["AccessKeyMetadata"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["AccessKeyId"] == new_id.as_str())
        .map(|m| m["Status"].clone());
    assert_eq!(status, Some(serde_json::json!("Inactive")));
    let out = run_aws(
        &cloud.endpoint,
        id,
        secret,
        &["iam", "delete-access-key", "--access-key-id", &new_id],
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_aws(
        &cloud.endpoint,
        id,
        secret,
        &["iam", "get-user", "--user-name", "nobody"],
    )
    .await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("(NoSuchEntity)"));
}

#[tokio::test]
async fn boto3_sts_and_iam_conformance() {
    let cloud = TestCloud::start().await;
    let op = &cloud.operator;
    let out = tokio::process::Command::new(python())
        .arg(python_script("aws_identity.py"))
        .args([&cloud.endpoint, &op.access_key_id, &op.secret_access_key])
        .output()
        .await
        .expect("python with boto3: run deploy/install-deps.sh --test");
    assert!(
        out.status.success(),
        "boto3 script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["identity"]["Account"], op.account_id.as_str());
    assert_eq!(r["identity_request_id"], r["identity_header_request_id"]);
    assert_eq!(r["user"]["UserName"], "operator");
    assert_eq!(r["user"]["Path"], "/");
    assert_eq!(r["user"]["Arn"], r["identity"]["Arn"]);
    assert_eq!(r["user"]["UserId"], r["identity"]["UserId"]);
    assert_eq!(r["created"]["Status"], "Active");
    assert_eq!(r["created"]["SecretLength"], 40);
    assert_eq!(r["listed"].as_array().unwrap().len(), 2);
    assert_eq!(r["listed_truncated"], false);
    assert_eq!(r["new_key_identity"], r["identity"]["Arn"]);
    assert_eq!(r["after_delete"], serde_json::json!([op.access_key_id]));
    assert_eq!(r["no_such_user"]["code"], "NoSuchEntity");
    assert_eq!(r["no_such_user"]["status"], 404);
    assert_eq!(r["delete_missing_key"]["code"], "NoSuchEntity");
    assert_eq!(r["deleted_key_rejected"]["code"], "InvalidClientTokenId");
    assert_eq!(r["deleted_key_rejected"]["status"], 403);
}
