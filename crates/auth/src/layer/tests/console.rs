//! The web console's ways in: the session cookie (with its CSRF check) and the presigned
//! S3 URLs it has the server make.

use super::*;
use crate::session;

fn cookie_request(method: &str, path: &str, token: &str, csrf: Option<&str>) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
        .header(
            "cookie",
            format!("theme=dark; {}={token}", session::SESSION_COOKIE),
        );
    if let Some(csrf) = csrf {
        builder = builder.header(session::CSRF_HEADER, csrf);
    }
    builder.body(Body::empty()).unwrap()
}

fn error_code(body: &str) -> String {
    let json: serde_json::Value = serde_json::from_str(body).unwrap();
    json["error"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn session_cookie_authenticates_reads_under_v1() {
    let token = jwt::issue(&jwt_key(), &claims(3600)).unwrap();
    let (status, body) = send(app(), cookie_request("GET", "/v1/whoami", &token, None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("123456789012:alice:Session|"), "{body}");
}

#[tokio::test]
async fn session_writes_need_the_csrf_token() {
    let token = jwt::issue(&jwt_key(), &claims(3600)).unwrap();
    let good = session::csrf_token("token-1");
    for csrf in [
        None,
        Some("0".repeat(64)),
        Some(session::csrf_token("token-2")),
    ] {
        let req = cookie_request("POST", "/v1/things", &token, csrf.as_deref());
        let (status, body) = send(app(), req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{csrf:?}: {body}");
        assert_eq!(error_code(&body), "InvalidCsrfToken");
        assert!(body.contains("X-CSRF-Token"), "{body}");
    }
    let req = cookie_request("DELETE", "/v1/things/1", &token, Some(&good));
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("123456789012:alice:Session|"), "{body}");
}

#[tokio::test]
async fn bad_session_cookies_are_refused_like_bearer_tokens() {
    let expired = jwt::issue(&jwt_key(), &claims(-3600)).unwrap();
    let (status, body) = send(app(), cookie_request("GET", "/v1/whoami", &expired, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "ExpiredToken");
    let logged_out = jwt::issue(
        &jwt_key(),
        &Claims {
            jti: "logged-out".into(),
            ..claims(3600)
        },
    )
    .unwrap();
    let (status, body) = send(
        app(),
        cookie_request("GET", "/v1/whoami", &logged_out, None),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "RevokedToken");
    let (status, body) = send(app(), cookie_request("GET", "/v1/whoami", "garbage", None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&body), "InvalidToken");
}

#[tokio::test]
async fn session_cookie_is_ignored_outside_v1_and_when_signing_in() {
    let expired = jwt::issue(&jwt_key(), &claims(-3600)).unwrap();
    for (method, path) in [
        ("GET", "/bucket/key"),
        ("PUT", "/bucket/key"),
        ("GET", "/console/"),
        ("POST", "/v1/session"),
        ("POST", "/v1/login"),
    ] {
        let (status, body) = send(app(), cookie_request(method, path, &expired, None)).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
        assert!(body.starts_with("anonymous|"), "{method} {path}: {body}");
    }
}

#[tokio::test]
async fn bearer_header_wins_over_the_cookie() {
    let token = jwt::issue(&jwt_key(), &claims(3600)).unwrap();
    let mut req = cookie_request("POST", "/v1/things", "garbage", None);
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("123456789012:alice:Bearer|"), "{body}");
}

/// What the console presigns (a multipart upload's three calls, a download) the verifier
/// accepts, with the body unsigned; a different method or key does not pass.
#[tokio::test]
async fn console_presigned_urls_verify() {
    let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let cases = [
        ("POST", q(&[("uploads", "")])),
        ("PUT", q(&[("partNumber", "3"), ("uploadId", "a+b/c=")])),
        ("POST", q(&[("uploadId", "a+b/c=")])),
        ("GET", q(&[])),
        ("GET", q(&[("versions", ""), ("prefix", "dir one/")])),
    ];
    for (method, query) in cases {
        let path = sigv4::presign_s3(
            method,
            "bucket",
            "dir one/photo ü+1.jpg",
            &query,
            HOST,
            AKID,
            SECRET,
            "us-east-1",
            fixed_now() - chrono::Duration::minutes(5),
            900,
        );
        let req = Request::builder()
            .method(method)
            .uri(&path)
            .header("host", HOST)
            .body(Body::from("any body"))
            .unwrap();
        let (status, body) = send(app(), req).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
        assert!(body.starts_with("123456789012:alice:SigV4"), "{body}");
        assert!(body.contains("|UNSIGNED-PAYLOAD|any body"), "{body}");

        let other = if method == "GET" { "DELETE" } else { "GET" };
        let req = Request::builder()
            .method(other)
            .uri(&path)
            .header("host", HOST)
            .body(Body::empty())
            .unwrap();
        let (status, body) = send(app(), req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{other} {path}: {body}");
    }
}

/// Every method but GET/HEAD/OPTIONS needs the CSRF header, odd ones too.
#[tokio::test]
async fn every_unsafe_method_needs_the_csrf_token() {
    let token = jwt::issue(&jwt_key(), &claims(3600)).unwrap();
    for method in [
        "PUT", "PATCH", "DELETE", "POST", "PROPFIND", "FROB", "TRACE",
    ] {
        let req = cookie_request(method, "/v1/things/1", &token, None);
        let (status, body) = send(app(), req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}: {body}");
        assert_eq!(error_code(&body), "InvalidCsrfToken", "{method}");
    }
    for method in ["GET", "HEAD", "OPTIONS"] {
        let req = cookie_request(method, "/v1/things/1", &token, None);
        let (status, _) = send(app(), req).await;
        assert_eq!(status, StatusCode::OK, "{method}");
    }
}

/// A cross-site form posted to the AWS Query endpoint (`/`) with the session cookie is
/// anonymous there: the cookie never stands for an AWS caller.
#[tokio::test]
async fn the_query_endpoint_ignores_the_session_cookie() {
    let token = jwt::issue(&jwt_key(), &claims(3600)).unwrap();
    for (method, path) in [("POST", "/"), ("GET", "/?Action=CreateUser&UserName=x")] {
        let (status, body) = send(app(), cookie_request(method, path, &token, None)).await;
        assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
        assert!(body.starts_with("anonymous|"), "{method} {path}: {body}");
    }
}

/// A second, different `kumo_session` (planted by another page on the host for a narrower
/// path) makes the request ambiguous: neither session is used, whichever comes first.
#[tokio::test]
async fn a_planted_second_session_cookie_is_refused() {
    let mine = jwt::issue(&jwt_key(), &claims(3600)).unwrap();
    let theirs = jwt::issue(
        &jwt_key(),
        &Claims {
            jti: "token-2".into(),
            ..claims(3600)
        },
    )
    .unwrap();
    for (first, second) in [(&theirs, &mine), (&mine, &theirs)] {
        let csrf = session::csrf_token("token-1");
        let req = Request::builder()
            .method("POST")
            .uri("/v1/things")
            .header("host", HOST)
            .header(
                "cookie",
                format!("kumo_session={first}; kumo_session={second}"),
            )
            .header(session::CSRF_HEADER, &csrf)
            .body(Body::empty())
            .unwrap();
        let (status, body) = send(app(), req).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(error_code(&body), "InvalidToken");
        assert!(body.contains("several different kumo_session"), "{body}");
    }
    // The same cookie sent twice is fine.
    let req = Request::builder()
        .method("GET")
        .uri("/v1/whoami")
        .header("host", HOST)
        .header("cookie", format!("kumo_session={mine}"))
        .header("cookie", format!("kumo_session={mine}"))
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
