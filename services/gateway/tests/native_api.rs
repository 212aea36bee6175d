#![allow(clippy::unwrap_used)]
//! The native JSON API over HTTP: the operator → account → admin → key flow, tenant
//! isolation, and bad input answered with clear 4xx errors.

mod common;

use common::{call, tenant, TestCloud};
use serde_json::{json, Value};

#[tokio::test]
async fn operator_account_admin_key_flow_and_isolation() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    let (a, token_a) = tenant(&cloud, &op, "alpha").await;
    let (b, token_b) = tenant(&cloud, &op, "beta").await;

    let (status, me) = call(&cloud, reqwest::Method::GET, "/v1/whoami", &token_a, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["account_id"], a.as_str());
    assert_eq!(me["role"], "admin");
    assert_eq!(me["auth_method"], "bearer");

    // The admin of A creates an access key; it works for SigV4.
    let (status, key) = call(
        &cloud,
        reqwest::Method::POST,
        &format!("/v1/accounts/{a}/users/admin/access-keys"),
        &token_a,
        None,
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let key_id = key["access_key_id"].as_str().unwrap();
    let secret = key["secret_access_key"].as_str().unwrap();
    let resp = cloud
        .signed_query(
            "sts",
            "Action=GetCallerIdentity&Version=2011-06-15",
            key_id,
            secret,
            chrono::Utc::now(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains(&format!("<Account>{a}</Account>")));

    // B sees none of it and changes none of it.
    for (method, path, body) in [
        (reqwest::Method::GET, format!("/v1/accounts/{a}"), None),
        (
            reqwest::Method::GET,
            format!("/v1/accounts/{a}/users"),
            None,
        ),
        (
            reqwest::Method::GET,
            format!("/v1/accounts/{a}/users/admin"),
            None,
        ),
        (
            reqwest::Method::PATCH,
            format!("/v1/accounts/{a}/users/admin"),
            Some(json!({"role": "reader"})),
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/accounts/{a}/users/admin"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/accounts/{a}/users"),
            Some(json!({"user_name": "mole", "role": "admin"})),
        ),
        (
            reqwest::Method::GET,
            format!("/v1/accounts/{a}/users/admin/access-keys"),
            None,
        ),
        (
            reqwest::Method::POST,
            format!("/v1/accounts/{a}/users/admin/access-keys"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/accounts/{a}/users/admin/access-keys/{key_id}"),
            None,
        ),
        (
            reqwest::Method::DELETE,
            format!("/v1/accounts/{b}/users/admin/access-keys/{key_id}"),
            None,
        ),
    ] {
        let (status, body) = call(&cloud, method.clone(), &path, &token_b, body).await;
        assert_eq!(status, 404, "{method} {path} as B: {body}");
        assert_eq!(body["error"]["code"], "NotFound");
    }
    let (_, accounts) = call(&cloud, reqwest::Method::GET, "/v1/accounts", &token_b, None).await;
    assert_eq!(accounts.as_array().unwrap().len(), 1);
    assert_eq!(accounts[0]["account_id"], b.as_str());
    // B's tenant admin cannot create accounts or rotate keys.
    let (status, _) = call(
        &cloud,
        reqwest::Method::POST,
        "/v1/accounts",
        &token_b,
        Some(json!({"name": "gamma"})),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _) = call(
        &cloud,
        reqwest::Method::POST,
        "/v1/signing-keys/rotate",
        &token_b,
        None,
    )
    .await;
    assert_eq!(status, 403);
    // A's key still works after all of B's attempts.
    let (_, keys) = call(
        &cloud,
        reqwest::Method::GET,
        &format!("/v1/accounts/{a}/users/admin/access-keys"),
        &token_a,
        None,
    )
    .await;
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert!(
        keys[0].get("secret_access_key").is_none(),
        "secrets are shown only at creation"
    );
}

#[tokio::test]
async fn bad_input_gets_clear_4xx_errors() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    let post_raw = |path: &str, content_type: &str, body: Vec<u8>| {
        cloud
            .http
            .post(cloud.url(path))
            .bearer_auth(&op)
            .header("content-type", content_type.to_string())
            .body(body)
    };
    let check = |resp: reqwest::Response, status: u16, code: &'static str| async move {
        let url = resp.url().to_string();
        assert_eq!(resp.status().as_u16(), status, "{url}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(!body["request_id"].as_str().unwrap().is_empty());
    };
    check(
        post_raw("/v1/accounts", "application/json", b"{not json".to_vec())
            .send()
            .await
            .unwrap(),
        400,
        "InvalidInput",
    )
    .await;
    check(
        post_raw(
            "/v1/accounts",
            "application/json",
            br#"{"name":"x","admin":true}"#.to_vec(),
        )
        .send()
        .await
        .unwrap(),
        400,
        "InvalidInput",
    )
    .await;
    check(
        post_raw(
            "/v1/accounts",
            "application/json",
            br#"{"name":42}"#.to_vec(),
        )
        .send()
        .await
        .unwrap(),
        400,
        "InvalidInput",
    )
    .await;
    check(
        post_raw("/v1/accounts", "text/plain", br#"{"name":"x"}"#.to_vec())
            .send()
            .await
            .unwrap(),
        415,
        "UnsupportedMediaType",
    )
    .await;
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(2 * 1024 * 1024));
    check(
        post_raw("/v1/accounts", "application/json", huge.into_bytes())
            .send()
            .await
            .unwrap(),
        413,
        "PayloadTooLarge",
    )
    .await;
    check(
        post_raw(
            "/v1/accounts",
            "application/json",
            br#"{"name":"bad name!"}"#.to_vec(),
        )
        .send()
        .await
        .unwrap(),
        400,
        "InvalidInput",
    )
    .await;

    let get = |path: &str| cloud.http.get(cloud.url(path)).bearer_auth(&op).send();
    check(
        get("/v1/accounts/not-an-id").await.unwrap(),
        400,
        "InvalidInput",
    )
    .await;
    check(
        get("/v1/accounts/0000000000000").await.unwrap(),
        400,
        "InvalidInput",
    )
    .await;
    check(
        get("/v1/accounts/999999999999").await.unwrap(),
        404,
        "NotFound",
    )
    .await;
    check(
        get("/v1/accounts/999999999999/users/bad%2Fname")
            .await
            .unwrap(),
        400,
        "InvalidInput",
    )
    .await;
    check(get("/v1/no-such-route").await.unwrap(), 404, "NotFound").await;
    let op_account = &cloud.operator.account_id;
    let (status, body) = call(
        &cloud,
        reqwest::Method::POST,
        &format!("/v1/accounts/{op_account}/users"),
        &op,
        Some(json!({"user_name": "x", "role": "superuser"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // Authentication problems are 401 with JSON bodies.
    let resp = cloud
        .http
        .get(cloud.url("/v1/accounts"))
        .send()
        .await
        .unwrap();
    check(resp, 401, "Unauthorized").await;
    let resp = cloud
        .http
        .get(cloud.url("/v1/accounts"))
        .bearer_auth("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let resp = cloud
        .http
        .post(cloud.url("/v1/login"))
        .json(
            &json!({"account": "operator", "user_name": "operator", "password": "wrong-password"}),
        )
        .send()
        .await
        .unwrap();
    check(resp, 401, "Unauthorized").await;
}

#[tokio::test]
async fn aws_query_errors_have_the_aws_shapes() {
    let cloud = TestCloud::start().await;
    let op = &cloud.operator;
    let now = chrono::Utc::now();
    let (id, secret) = (op.access_key_id.as_str(), op.secret_access_key.as_str());

    // STS: unknown action, missing action — <ErrorResponse> with the header's request id.
    let resp = cloud
        .signed_query(
            "sts",
            "Action=AssumeRoleWithMagic&Version=2011-06-15",
            id,
            secret,
            now,
        )
        .await;
    assert_eq!(resp.status(), 400);
    let request_id = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{text}"
    );
    assert!(text.contains("<Code>InvalidAction</Code>"), "{text}");
    assert!(
        text.contains(&format!("<RequestId>{request_id}</RequestId>")),
        "{text}"
    );
    let resp = cloud
        .signed_query("sts", "Version=2011-06-15", id, secret, now)
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<Code>MissingAction</Code>"));

    // EC2 errors use EC2's <Response><Errors> shape.
    let resp = cloud
        .signed_query(
            "ec2",
            "Action=DescribeUnicorns&Version=2016-11-15",
            id,
            secret,
            now,
        )
        .await;
    assert_eq!(resp.status(), 400);
    let request_id = resp.headers()["x-amzn-requestid"]
        .to_str()
        .unwrap()
        .to_string();
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("<Response><Errors><Error><Code>InvalidAction</Code>"),
        "{text}"
    );
    assert!(
        text.contains(&format!("<RequestID>{request_id}</RequestID>")),
        "{text}"
    );

    // Clock skew over 15 minutes.
    let old = now - chrono::Duration::minutes(16);
    let resp = cloud
        .signed_query(
            "sts",
            "Action=GetCallerIdentity&Version=2011-06-15",
            id,
            secret,
            old,
        )
        .await;
    assert_eq!(resp.status(), 400);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<Code>RequestExpired</Code>"));

    // Unsigned Query request.
    let resp = cloud
        .http
        .post(cloud.url("/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("Action=GetCallerIdentity&Version=2011-06-15")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<Code>MissingAuthenticationToken</Code>"));

    // IAM validation errors.
    let resp = cloud
        .signed_query(
            "iam",
            "Action=DeleteAccessKey&Version=2010-05-08&AccessKeyId=bogus",
            id,
            secret,
            now,
        )
        .await;
    assert_eq!(resp.status(), 400);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\">"),
        "{text}"
    );
    assert!(text.contains("<Code>ValidationError</Code>"), "{text}");
    let resp = cloud
        .signed_query(
            "iam",
            "Action=DeleteAccessKey&Version=2010-05-08",
            id,
            secret,
            now,
        )
        .await;
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<Code>MissingParameter</Code>"));
}
