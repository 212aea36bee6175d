#![allow(clippy::unwrap_used)]
//! The web console's S3 path end to end: a browser session asks `/v1/presign` for URLs and
//! uses them against the gateway's real S3 (one in-process storage node): PUT and GET an object, a multipart upload exactly as the console does it (POST ?uploads,
//! PUT ?partNumber&uploadId with the ETags, POST ?uploadId with the XML), a bucket listing,
//! versioning on and the versions listed.
//! Readers presign reads only; console keys are not listed; access-key callers cannot
//! presign; another account's URLs are refused; signing out everywhere ends the URLs; a
//! disabled account's URLs are refused; objects are served sandboxed.

mod support;

use reqwest::Method;
use serde_json::{json, Value};
use support::{storage_test_config, Cloud};

/// A signed-in browser: its cookies and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in(
    http: &reqwest::Client,
    endpoint: &str,
    account: &str,
    user: &str,
    password: &str,
) -> Browser {
    let resp = http
        .post(format!("{endpoint}/v1/session"))
        .json(&json!({"account": account, "user_name": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookie = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let session: Value = resp.json().await.unwrap();
    Browser {
        cookie,
        csrf: session["csrf_token"].as_str().unwrap().to_string(),
    }
}

async fn native(
    http: &reqwest::Client,
    endpoint: &str,
    browser: &Browser,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = http
        .request(method, format!("{endpoint}{path}"))
        .header("cookie", &browser.cookie)
        .header("x-csrf-token", &browser.csrf);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Presign and return the full URL (asserting 200).
async fn presign(
    http: &reqwest::Client,
    endpoint: &str,
    browser: &Browser,
    method: &str,
    bucket: &str,
    key: &str,
    query: Value,
) -> String {
    let (status, body) = native(
        http,
        endpoint,
        browser,
        Method::POST,
        "/v1/presign",
        Some(json!({"method": method, "bucket": bucket, "key": key, "query": query})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("/{bucket}")), "{url}");
    assert!(body["expires_at"].is_string());
    format!("{endpoint}{url}")
}

fn xml_value(xml: &str, tag: &str) -> String {
    let start = xml.find(&format!("<{tag}>")).unwrap() + tag.len() + 2;
    let end = xml[start..].find(&format!("</{tag}>")).unwrap() + start;
    xml[start..end].to_string()
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn presigned_urls_drive_s3_like_the_console() {
    let cloud = Cloud::start_storage_with(1, storage_test_config(1)).await;
    let endpoint = cloud.endpoint.clone();
    let http = reqwest::Client::new();
    let op_password = cloud.operator.new_password.clone().unwrap();
    let op = sign_in(
        &http,
        &endpoint,
        &cloud.operator.account_id,
        &cloud.operator.user_name,
        &op_password,
    )
    .await;
    let (status, account) = native(
        &http,
        &endpoint,
        &op,
        Method::POST,
        "/v1/accounts",
        Some(json!({"name": "alpha"})),
    )
    .await;
    assert_eq!(status, 201, "{account}");
    let account_id = account["account_id"].as_str().unwrap().to_string();
    for (user, role) in [("admin", "admin"), ("viewer", "reader")] {
        let (status, body) = native(
            &http,
            &endpoint,
            &op,
            Method::POST,
            &format!("/v1/accounts/{account_id}/users"),
            Some(json!({"user_name": user, "role": role, "password": "correct-horse"})),
        )
        .await;
        assert_eq!(status, 201, "{body}");
    }
    let admin = sign_in(&http, &endpoint, "alpha", "admin", "correct-horse").await;
    let reader = sign_in(&http, &endpoint, "alpha", "viewer", "correct-horse").await;

    // Create the bucket (the native API), then a one-request upload and its download.
    let (status, body) = native(
        &http,
        &endpoint,
        &admin,
        Method::POST,
        "/v1/buckets",
        Some(json!({"name": "photos"})),
    )
    .await;
    assert!(status == 200 || status == 201, "{body}");
    let small = pattern(100_000, 7);
    let key = "holiday 2026/beach ü+1.bin";
    let url = presign(&http, &endpoint, &admin, "PUT", "photos", key, json!([])).await;
    let resp = http.put(&url).body(small.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let url = presign(&http, &endpoint, &admin, "GET", "photos", key, json!([])).await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.bytes().await.unwrap().to_vec(), small);

    // Multipart, as the console does it for big files.
    let big_key = "big/file.bin";
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "POST",
        "photos",
        big_key,
        json!([["uploads", ""]]),
    )
    .await;
    let resp = http.post(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let upload_id = xml_value(&resp.text().await.unwrap(), "UploadId");
    let parts = [pattern(5 * 1024 * 1024, 1), pattern(1_000_000, 2)];
    let mut etags = Vec::new();
    for (index, part) in parts.iter().enumerate() {
        let number = (index + 1).to_string();
        let url = presign(
            &http,
            &endpoint,
            &admin,
            "PUT",
            "photos",
            big_key,
            json!([["partNumber", number], ["uploadId", upload_id]]),
        )
        .await;
        let resp = http.put(&url).body(part.clone()).send().await.unwrap();
        assert_eq!(resp.status(), 200);
        etags.push(resp.headers()["etag"].to_str().unwrap().to_string());
    }
    let complete: String = etags
        .iter()
        .enumerate()
        .map(|(i, etag)| {
            format!(
                "<Part><PartNumber>{}</PartNumber><ETag>{etag}</ETag></Part>",
                i + 1
            )
        })
        .collect();
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "POST",
        "photos",
        big_key,
        json!([["uploadId", upload_id]]),
    )
    .await;
    let resp = http
        .post(&url)
        .header("content-type", "application/xml")
        .body(format!(
            "<CompleteMultipartUpload>{complete}</CompleteMultipartUpload>"
        ))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("CompleteMultipartUploadResult"), "{text}");
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "GET",
        "photos",
        big_key,
        json!([]),
    )
    .await;
    let body = http.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len(), parts[0].len() + parts[1].len());
    assert_eq!(&body[..parts[0].len()], &parts[0][..]);
    assert_eq!(&body[parts[0].len()..], &parts[1][..]);

    // A bucket listing (a bucket-level GET with parameters).
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "GET",
        "photos",
        "",
        json!([["list-type", "2"], ["prefix", "big/"]]),
    )
    .await;
    let listing = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(listing.contains("<Key>big/file.bin</Key>"), "{listing}");
    assert!(!listing.contains("holiday"), "{listing}");

    // Versioning on, and the versions listed (the console's versions page).
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "PUT",
        "photos",
        "",
        json!([["versioning", ""]]),
    )
    .await;
    let resp = http
        .put(&url)
        .body(r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap());
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "GET",
        "photos",
        "",
        json!([["versioning", ""]]),
    )
    .await;
    let text = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("<Status>Enabled</Status>"), "{text}");
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "GET",
        "photos",
        "",
        json!([["versions", ""], ["prefix", "big/"]]),
    )
    .await;
    let text = http.get(&url).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("<Key>big/file.bin</Key>"), "{text}");

    // A reader presigns reads only, and its reads work.
    let (status, body) = native(
        &http,
        &endpoint,
        &reader,
        Method::POST,
        "/v1/presign",
        Some(json!({"method": "PUT", "bucket": "photos", "key": "x"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let url = presign(&http, &endpoint, &reader, "GET", "photos", key, json!([])).await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    // A URL cannot be bent to another method or key.
    let resp = http.delete(&url).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    // Presigning is a write: without the CSRF header it is refused.
    let resp = http
        .post(format!("{endpoint}/v1/presign"))
        .header("cookie", &admin.cookie)
        .json(&json!({"method": "GET", "bucket": "photos", "key": key}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    // Bad input is a clear 400.
    for bad in [
        json!({"method": "GET", "bucket": "Bad_Bucket", "key": "k"}),
        json!({"method": "GET", "bucket": "photos", "key": "k", "expires_in_secs": 7200}),
        json!({"method": "GET", "bucket": "photos", "key": "k", "query": [["X-Amz-Expires", "9"]]}),
        json!({"method": "PATCH", "bucket": "photos", "key": "k"}),
    ] {
        let (status, body) = native(
            &http,
            &endpoint,
            &admin,
            Method::POST,
            "/v1/presign",
            Some(bad.clone()),
        )
        .await;
        assert!(status == 400 || status == 422, "{bad}: {status} {body}");
    }

    // The console key is nobody's business: not listed, not counted against the two keys.
    let keys_path = format!("/v1/accounts/{account_id}/users/admin/access-keys");
    let (status, keys) = native(&http, &endpoint, &admin, Method::GET, &keys_path, None).await;
    assert_eq!(status, 200);
    assert_eq!(keys, json!([]));
    let mut key_pair = None;
    for _ in 0..2 {
        let (status, body) = native(&http, &endpoint, &admin, Method::POST, &keys_path, None).await;
        assert_eq!(status, 201, "{body}");
        key_pair = Some(body);
    }
    let key_pair = key_pair.unwrap();
    let console_keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identity.access_keys WHERE account_id = $1 AND purpose = 'console'",
    )
    .bind(&account_id)
    .fetch_one(&cloud.identity.pool)
    .await
    .unwrap();
    assert_eq!(console_keys, 2, "one per user (admin, viewer), reused");

    // An expired console key is refused, and the next presign makes a fresh one.
    let old_url = presign(&http, &endpoint, &admin, "GET", "photos", key, json!([])).await;
    sqlx::query(
        "UPDATE identity.access_keys SET expires_at = now() - interval '1 second'
         WHERE account_id = $1 AND purpose = 'console'",
    )
    .bind(&account_id)
    .execute(&cloud.identity.pool)
    .await
    .unwrap();
    let resp = http.get(&old_url).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let url = presign(&http, &endpoint, &admin, "GET", "photos", key, json!([])).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let console_keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identity.access_keys WHERE account_id = $1 AND purpose = 'console'",
    )
    .bind(&account_id)
    .fetch_one(&cloud.identity.pool)
    .await
    .unwrap();
    assert_eq!(
        console_keys, 2,
        "the admin's expired key was pruned, the viewer's not yet"
    );

    // An access-key caller presigns for itself.
    let headers = kumo_auth::sigv4::sign_request(
        "POST",
        "/v1/presign",
        &[
            (
                "host".to_string(),
                endpoint.trim_start_matches("http://").to_string(),
            ),
            ("content-type".to_string(), "application/json".to_string()),
        ],
        br#"{"method":"GET","bucket":"photos","key":"k"}"#,
        key_pair["access_key_id"].as_str().unwrap(),
        key_pair["secret_access_key"].as_str().unwrap(),
        "us-east-1",
        "kumo",
        chrono::Utc::now(),
    );
    let mut req = http
        .post(format!("{endpoint}/v1/presign"))
        .header("content-type", "application/json")
        .body(r#"{"method":"GET","bucket":"photos","key":"k"}"#);
    for (name, value) in headers {
        req = req.header(name, value);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 403, "{text}");

    // Another account presigns for this one's bucket: signing works (S3 authorizes at
    // use), the URLs do not.
    let (status, beta) = native(
        &http,
        &endpoint,
        &op,
        Method::POST,
        "/v1/accounts",
        Some(json!({"name": "beta"})),
    )
    .await;
    assert_eq!(status, 201, "{beta}");
    let beta_id = beta["account_id"].as_str().unwrap();
    let (status, body) = native(
        &http,
        &endpoint,
        &op,
        Method::POST,
        &format!("/v1/accounts/{beta_id}/users"),
        Some(json!({"user_name": "admin", "role": "admin", "password": "correct-horse"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let intruder = sign_in(&http, &endpoint, "beta", "admin", "correct-horse").await;
    // Hour-long URLs (the longest) share one console key: no pile of keys on demand.
    for _ in 0..3 {
        let (status, body) = native(
            &http,
            &endpoint,
            &intruder,
            Method::POST,
            "/v1/presign",
            Some(json!({"method": "GET", "bucket": "photos", "key": "k", "expires_in_secs": 3600})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let beta_keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identity.access_keys WHERE account_id = $1 AND purpose = 'console'",
    )
    .bind(beta_id)
    .fetch_one(&cloud.identity.pool)
    .await
    .unwrap();
    assert_eq!(beta_keys, 1);
    let url = presign(&http, &endpoint, &intruder, "GET", "photos", key, json!([])).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403);
    let url = presign(
        &http,
        &endpoint,
        &intruder,
        "PUT",
        "photos",
        "planted",
        json!([]),
    )
    .await;
    let resp = http.put(&url).body("x").send().await.unwrap();
    assert_eq!(resp.status(), 403);
    let url = presign(
        &http,
        &endpoint,
        &intruder,
        "DELETE",
        "photos",
        key,
        json!([]),
    )
    .await;
    assert_eq!(http.delete(&url).send().await.unwrap().status(), 403);
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "GET",
        "photos",
        "planted",
        json!([]),
    )
    .await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 404);

    // An object is never a page of the console's origin: a tenant's HTML (or any object
    // with response-content-type=text/html, which every presigned URL may ask for) is
    // served sandboxed, so its scripts cannot read the CSRF cookie or use a session.
    let page = "<script>fetch('/v1/accounts',{method:'POST'})</script>";
    let url = presign(
        &http,
        &endpoint,
        &admin,
        "PUT",
        "photos",
        "page.html",
        json!([]),
    )
    .await;
    let resp = http
        .put(&url)
        .header("content-type", "text/html")
        .body(page)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for query in [json!([]), json!([["response-content-type", "text/html"]])] {
        for object in ["page.html", key] {
            let url = presign(
                &http,
                &endpoint,
                &admin,
                "GET",
                "photos",
                object,
                query.clone(),
            )
            .await;
            let resp = http.get(&url).send().await.unwrap();
            assert_eq!(resp.status(), 200);
            let policy = resp.headers()["content-security-policy"].to_str().unwrap();
            assert!(policy.starts_with("sandbox;"), "{policy}");
            assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        }
    }

    // Signing a user out everywhere also ends the URLs presigned for its sessions (a
    // thief's among them): its console keys are deleted.
    let url = presign(&http, &endpoint, &reader, "GET", "photos", key, json!([])).await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);
    let (status, body) = native(
        &http,
        &endpoint,
        &op,
        Method::POST,
        &format!("/v1/accounts/{account_id}/users/viewer/sign-out"),
        None,
    )
    .await;
    assert!(status == 200 || status == 204, "{status} {body}");
    assert_eq!(http.get(&url).send().await.unwrap().status(), 403);
    let viewer_keys: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identity.access_keys k JOIN identity.users u USING (user_id)
         WHERE u.account_id = $1 AND u.user_name = 'viewer' AND k.purpose = 'console'",
    )
    .bind(&account_id)
    .fetch_one(&cloud.identity.pool)
    .await
    .unwrap();
    assert_eq!(viewer_keys, 0);

    // A disabled account's URLs stop working at once.
    let url = presign(&http, &endpoint, &admin, "GET", "photos", key, json!([])).await;
    let (status, _) = native(
        &http,
        &endpoint,
        &op,
        Method::POST,
        &format!("/v1/accounts/{account_id}/disable"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 403);
}
