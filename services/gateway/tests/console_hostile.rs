#![allow(clippy::unwrap_used)]
//! The console's new routes under hostile input: NUL and control characters, invalid UTF-8,
//! megabyte values and 10,000-item lists in `/v1/session`, `/v1/session/password` and
//! `/v1/presign` each get a 4xx with an error body (never a 5xx), and the service still
//! answers afterwards.

mod common;

use common::{call, tenant, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

/// A raw body to a route (as a Bearer caller when `token`); the status and the body.
async fn raw(cloud: &TestCloud, path: &str, token: Option<&str>, body: Vec<u8>) -> (u16, String) {
    let mut req = cloud
        .http
        .post(cloud.url(path))
        .header("content-type", "application/json")
        .body(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    (resp.status().as_u16(), resp.text().await.unwrap())
}

fn assert_refused(what: &str, status: u16, body: &str) {
    assert!(
        (400..500).contains(&status),
        "{what}: expected a 4xx, got {status}: {}",
        &body[..body.len().min(300)]
    );
}

#[tokio::test]
async fn hostile_sign_in_password_and_presign_input_is_refused_with_4xx() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    let (_, admin) = tenant(&cloud, &op, "hostile-console").await;
    let megabyte = "a".repeat(1024 * 1024);

    // Sign-in: NUL, controls, megabyte fields, invalid UTF-8, a non-object body.
    for (what, body) in [
        (
            "NUL in the account",
            json!({"account": "hostile\u{0}console", "user_name": "admin", "password": "x"}),
        ),
        (
            "a control character in the user name",
            json!({"account": "hostile-console", "user_name": "ad\u{1b}min", "password": "x"}),
        ),
        (
            "a megabyte password",
            json!({"account": "hostile-console", "user_name": "admin", "password": megabyte}),
        ),
        (
            "a megabyte account",
            json!({"account": megabyte, "user_name": "admin", "password": "x"}),
        ),
        ("a list instead of an object", json!(vec![1; 10_000])),
    ] {
        let (status, body) = raw(&cloud, "/v1/session", None, body.to_string().into_bytes()).await;
        assert_refused(what, status, &body);
    }
    let mut invalid_utf8 = br#"{"account":"hostile-console","user_name":"ad"#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe]);
    invalid_utf8.extend_from_slice(br#"min","password":"x"}"#);
    let (status, body) = raw(&cloud, "/v1/session", None, invalid_utf8.clone()).await;
    assert_refused("invalid UTF-8 at sign-in", status, &body);

    // Password change (as a Bearer caller, which the route also serves).
    for (what, body) in [
        (
            "NUL in the new password",
            json!({"current_password": "correct-horse", "new_password": "new\u{0}password"}),
        ),
        (
            "a megabyte new password",
            json!({"current_password": "correct-horse", "new_password": megabyte}),
        ),
        (
            "a control character in the current password",
            json!({"current_password": "correct\u{7}horse", "new_password": "new-password-1"}),
        ),
    ] {
        let (status, body) = raw(
            &cloud,
            "/v1/session/password",
            Some(&admin),
            body.to_string().into_bytes(),
        )
        .await;
        assert_refused(what, status, &body);
    }

    // Presign: every field hostile in turn.
    let pairs: Vec<[&str; 2]> = vec![["partNumber", "1"]; 10_000];
    for (what, body) in [
        (
            "NUL in the key",
            json!({"method": "GET", "bucket": "b1", "key": "a\u{0}b"}),
        ),
        (
            "a control character in the bucket",
            json!({"method": "GET", "bucket": "b\u{1}1", "key": "k"}),
        ),
        (
            "a megabyte key",
            json!({"method": "GET", "bucket": "b1", "key": megabyte}),
        ),
        (
            "10,000 query parameters",
            json!({"method": "GET", "bucket": "b1", "key": "k", "query": pairs}),
        ),
        (
            "a megabyte query value",
            json!({"method": "GET", "bucket": "b1", "key": "k", "query": [["uploadId", megabyte]]}),
        ),
        (
            "a query pair of three",
            json!({"method": "GET", "bucket": "b1", "key": "k", "query": [["a", "b", "c"]]}),
        ),
        (
            "an unknown method",
            json!({"method": "TRACE", "bucket": "b1", "key": "k"}),
        ),
        (
            "expiry beyond an hour",
            json!({"method": "GET", "bucket": "b1", "key": "k", "expires_in_secs": 1_000_000}),
        ),
    ] {
        let (status, body) = raw(
            &cloud,
            "/v1/presign",
            Some(&admin),
            body.to_string().into_bytes(),
        )
        .await;
        assert_refused(what, status, &body);
    }
    let (status, body) = raw(&cloud, "/v1/presign", Some(&admin), invalid_utf8).await;
    assert_refused("invalid UTF-8 in a presign request", status, &body);

    // Still serving, and a sane request still works.
    let (status, answer): (u16, Value) = call(
        &cloud,
        Method::POST,
        "/v1/presign",
        &admin,
        Some(json!({"method": "GET", "bucket": "b1", "key": "k"})),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["url"].as_str().unwrap().starts_with("/b1/k?"));
}
