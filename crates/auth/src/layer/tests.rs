//! Tests of [`super`].
#![allow(clippy::unwrap_used)]

use super::*;
use crate::jwt::Claims;
use crate::{AccessKeySecret, JwtKey, Role, StoreError};
use async_trait::async_trait;
use axum::routing::any;
use axum::Router;
use chrono::TimeZone;
use http::StatusCode;
use tower::ServiceExt;

const AKID: &str = "AKIAKUMOTEST0000001";
const SECRET: &str = "kumoSecretKey/For+Tests0123456789abcdefg";
const HOST: &str = "kumo.example.com";

fn fixed_now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 1, 12, 0, 0).unwrap()
}

struct MemoryStore {
    fail: bool,
}

#[async_trait]
impl CredentialStore for MemoryStore {
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeySecret>, StoreError> {
        if self.fail {
            return Err(StoreError("down".into()));
        }
        Ok((id == AKID).then(|| AccessKeySecret {
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            account_id: "123456789012".into(),
            user_id: "AIDAUSER".into(),
            user_name: "alice".into(),
            role: Role::Member,
        }))
    }
    async fn jwt_key(&self, kid: &str) -> Result<Option<JwtKey>, StoreError> {
        Ok((kid == "kid1").then(jwt_key))
    }
    async fn user(&self, user_id: &str) -> Result<Option<crate::UserStatus>, StoreError> {
        Ok((user_id == "AIDAUSER").then(alice))
    }
}

fn alice() -> crate::UserStatus {
    crate::UserStatus {
        user_id: "AIDAUSER".into(),
        account_id: "123456789012".into(),
        user_name: "alice".into(),
        role: Role::Admin,
        enabled: true,
        token_generation: 3,
        revoked_tokens: vec!["logged-out".into()],
    }
}

fn jwt_key() -> JwtKey {
    JwtKey {
        kid: "kid1".into(),
        secret: b"jwt-secret-jwt-secret-jwt-secret".to_vec(),
    }
}

/// Echoes who called and the body it received.
async fn echo(req: Request<Body>) -> String {
    let who = match req.extensions().get::<Principal>() {
        Some(p) => format!("{}:{}:{:?}", p.account_id, p.user_name, p.method),
        None => "anonymous".to_string(),
    };
    let ctx = req
        .extensions()
        .get::<SigV4Context>()
        .map(|c| c.payload_hash.clone())
        .unwrap_or_default();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    format!("{who}|{ctx}|{}", String::from_utf8_lossy(&body))
}

fn app_with(config: AuthConfig, fail: bool) -> Router {
    Router::new()
        .route("/", any(echo))
        .route("/{*rest}", any(echo))
        .layer(AuthLayer::with_config(
            Arc::new(MemoryStore { fail }),
            config,
        ))
}

fn app() -> Router {
    app_with(
        AuthConfig {
            now: fixed_now,
            ..AuthConfig::default()
        },
        false,
    )
}

async fn send(app: Router, req: Request<Body>) -> (StatusCode, String) {
    let resp = app.oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// A request signed with `secret` at `time` for `service`.
#[allow(clippy::too_many_arguments)]
fn signed(
    method: &str,
    uri: &str,
    body: &'static str,
    secret: &str,
    akid: &str,
    service: &str,
    time: DateTime<Utc>,
    extra: &[(&str, &str)],
) -> Request<Body> {
    let mut headers = vec![("host".to_string(), HOST.to_string())];
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let added = sigv4::sign_request(
        method,
        uri,
        &headers,
        body.as_bytes(),
        akid,
        secret,
        "us-east-1",
        service,
        time,
    );
    let mut builder = Request::builder().method(method).uri(uri);
    for (n, v) in headers.iter().chain(added.iter()) {
        builder = builder.header(n, v);
    }
    builder.body(Body::from(body)).unwrap()
}

const FORM: &str = "Action=GetCallerIdentity&Version=2011-06-15";

#[tokio::test]
async fn good_header_signature() {
    let req = signed(
        "POST",
        "/",
        FORM,
        SECRET,
        AKID,
        "sts",
        fixed_now(),
        &[(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )],
    );
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("123456789012:alice:SigV4"), "{body}");
    assert!(body.contains("service: \"sts\""), "{body}");
    // The handler still gets the body the signature covered.
    assert!(
        body.ends_with(&format!("|{}|{FORM}", sigv4::sha256_hex(FORM.as_bytes()))),
        "{body}"
    );
}

#[tokio::test]
async fn good_s3_header_signature_does_not_buffer() {
    let req = signed(
        "PUT",
        "/bucket/some%20key.txt",
        "streamed body",
        SECRET,
        AKID,
        "s3",
        fixed_now(),
        &[("x-amz-content-sha256", sigv4::UNSIGNED_PAYLOAD)],
    );
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.ends_with("|UNSIGNED-PAYLOAD|streamed body"), "{body}");
}

#[tokio::test]
async fn s3_without_payload_header_is_malformed() {
    let mut req = signed("GET", "/bucket/k", "", SECRET, AKID, "s3", fixed_now(), &[]);
    req.headers_mut().remove("x-amz-content-sha256");
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<Code>AuthorizationHeaderMalformed</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn good_presigned_url() {
    let path = sigv4::presign_url(
        "GET",
        "/bucket/photo.jpg?versionId=3",
        HOST,
        AKID,
        SECRET,
        "us-east-1",
        "s3",
        fixed_now() - chrono::Duration::minutes(30),
        3600,
    );
    let req = Request::get(path)
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("123456789012:alice:SigV4"), "{body}");
    assert!(body.contains("|UNSIGNED-PAYLOAD|"), "{body}");
}

#[tokio::test]
async fn expired_presigned_url() {
    let path = sigv4::presign_url(
        "GET",
        "/bucket/photo.jpg",
        HOST,
        AKID,
        SECRET,
        "us-east-1",
        "s3",
        fixed_now() - chrono::Duration::hours(2),
        3600,
    );
    let req = Request::get(path)
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("<Code>AccessDenied</Code><Message>Request has expired</Message>"),
        "{body}"
    );
}

#[tokio::test]
async fn presigned_url_over_a_week_is_refused() {
    let path = sigv4::presign_url(
        "GET",
        "/bucket/k",
        HOST,
        AKID,
        SECRET,
        "us-east-1",
        "s3",
        fixed_now(),
        604_801,
    );
    let req = Request::get(path)
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(), req).await;
    // What S3 answers: 400 AuthorizationQueryParametersError.
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<Code>AuthorizationQueryParametersError</Code><Message>X-Amz-Expires must be less than a week"),
        "{body}"
    );
}

#[tokio::test]
async fn tampered_presigned_url() {
    let path = sigv4::presign_url(
        "GET",
        "/bucket/photo.jpg",
        HOST,
        AKID,
        SECRET,
        "us-east-1",
        "s3",
        fixed_now(),
        3600,
    )
    .replace("photo.jpg", "other.jpg");
    let req = Request::get(path)
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("<Error><Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_secret() {
    let req = signed(
        "POST",
        "/",
        FORM,
        "wrong-secret",
        AKID,
        "sts",
        fixed_now(),
        &[],
    );
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"),
        "{body}"
    );
    assert!(
        body.contains("<Code>SignatureDoesNotMatch</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn modified_body_fails() {
    let mut req = signed("POST", "/", FORM, SECRET, AKID, "iam", fixed_now(), &[]);
    *req.body_mut() = Body::from("Action=CreateUser&UserName=mallory");
    req.headers_mut().remove(header::CONTENT_LENGTH);
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body.contains("https://iam.amazonaws.com/doc/2010-05-08/"),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_key() {
    let req = signed(
        "POST",
        "/",
        FORM,
        SECRET,
        "AKIAUNKNOWN",
        "sts",
        fixed_now(),
        &[],
    );
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("<Code>InvalidClientTokenId</Code>"), "{body}");
    // EC2 says it its own way.
    let req = signed(
        "POST",
        "/",
        "Action=DescribeVpcs",
        SECRET,
        "AKIAUNKNOWN",
        "ec2",
        fixed_now(),
        &[],
    );
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body.contains("<Response><Errors><Error><Code>AuthFailure</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn clock_skew() {
    for minutes in [16, -16] {
        let t = fixed_now() + chrono::Duration::minutes(minutes);
        let req = signed("POST", "/", FORM, SECRET, AKID, "sts", t, &[]);
        let (status, body) = send(app(), req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("<Code>RequestExpired</Code>"), "{body}");
    }
    let t = fixed_now() - chrono::Duration::minutes(16);
    let req = signed("GET", "/b/k", "", SECRET, AKID, "s3", t, &[]);
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("<Code>RequestTimeTooSkewed</Code>"), "{body}");
    let t = fixed_now() - chrono::Duration::minutes(14);
    let req = signed("POST", "/", FORM, SECRET, AKID, "sts", t, &[]);
    assert_eq!(send(app(), req).await.0, StatusCode::OK);
}

#[tokio::test]
async fn oversized_body() {
    let config = AuthConfig {
        now: fixed_now,
        max_signed_body_bytes: 16,
        ..AuthConfig::default()
    };
    let req = signed("POST", "/", FORM, SECRET, AKID, "sts", fixed_now(), &[]);
    let (status, body) = send(app_with(config.clone(), false), req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        body.contains("<Code>RequestEntityTooLarge</Code>"),
        "{body}"
    );
    // Without a Content-Length the limit is enforced while reading.
    let mut req = signed("POST", "/", FORM, SECRET, AKID, "sts", fixed_now(), &[]);
    req.headers_mut().remove(header::CONTENT_LENGTH);
    let (status, _) = send(app_with(config, false), req).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn store_failure_is_503_service_unavailable() {
    let config = AuthConfig {
        now: fixed_now,
        ..AuthConfig::default()
    };
    let req = signed("POST", "/", FORM, SECRET, AKID, "sts", fixed_now(), &[]);
    let (status, body) = send(app_with(config, true), req).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(body.contains("<Code>ServiceUnavailable</Code>"), "{body}");
}

#[tokio::test]
async fn malformed_header_is_incomplete_signature() {
    let req = Request::post("/")
        .header("host", HOST)
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIA/20250301/us-east-1/sts/aws4_request",
        )
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("<Code>IncompleteSignature</Code>"), "{body}");
    let req = Request::get("/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20250301%2Fus-east-1%2Fs3%2Faws4_request")
        .header("host", HOST)
        .body(Body::empty())
        .unwrap();
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<Code>AuthorizationQueryParametersError</Code>"),
        "{body}"
    );
}

#[tokio::test]
async fn http2_uses_the_authority() {
    let mut req = signed("POST", "/", FORM, SECRET, AKID, "sts", fixed_now(), &[]);
    req.headers_mut().remove(header::HOST);
    *req.uri_mut() = format!("https://{HOST}/").parse().unwrap();
    *req.version_mut() = Version::HTTP_2;
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

fn bearer_request(token: &str) -> Request<Body> {
    Request::get("/")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

fn claims(exp_offset_secs: i64) -> Claims {
    let now = fixed_now().timestamp();
    Claims {
        sub: "AIDAUSER".into(),
        account: "123456789012".into(),
        name: "alice".into(),
        role: Role::Admin,
        iat: now,
        exp: now + exp_offset_secs,
        jti: "token-1".into(),
        generation: 3,
    }
}

#[tokio::test]
async fn bearer_good() {
    let token = jwt::issue(&jwt_key(), &claims(3600)).unwrap();
    let (status, body) = send(app(), bearer_request(&token)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.starts_with("123456789012:alice:Bearer|"), "{body}");
}

#[tokio::test]
async fn bearer_expired() {
    let token = jwt::issue(&jwt_key(), &claims(-3600)).unwrap();
    let (status, body) = send(app(), bearer_request(&token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"]["code"], "ExpiredToken");
}

#[tokio::test]
async fn bearer_bad() {
    for token in [
        "garbage".to_string(),
        jwt::issue(
            &JwtKey {
                kid: "kid1".into(),
                secret: b"another-secret-another-secret".to_vec(),
            },
            &claims(3600),
        )
        .unwrap(),
        jwt::issue(
            &JwtKey {
                kid: "retired".into(),
                secret: jwt_key().secret,
            },
            &claims(3600),
        )
        .unwrap(),
    ] {
        let (status, body) = send(app(), bearer_request(&token)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(json["error"]["code"], "InvalidToken");
    }
    let req = Request::get("/")
        .header("authorization", "Basic dXNlcjpwYXNz")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(app(), req).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn no_credentials_pass_through() {
    let req = Request::post("/anything")
        .body(Body::from("hello"))
        .unwrap();
    let (status, body) = send(app(), req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "anonymous||hello");
}

/// A SigV2 presigned GET of `/bucket/k` expiring at `expires`.
fn presigned_v2(expires: i64) -> Request<Body> {
    let sts = sigv2::string_to_sign(
        "GET",
        "",
        "",
        expires,
        &[],
        &sigv2::canonical_resource("/bucket/k", ""),
    );
    let signature = sigv2::signature(SECRET, &sts);
    let encoded: String = form_urlencoded::byte_serialize(signature.as_bytes()).collect();
    Request::get(format!(
        "/bucket/k?AWSAccessKeyId={AKID}&Expires={expires}&Signature={encoded}"
    ))
    .header("host", HOST)
    .body(Body::empty())
    .unwrap()
}

#[tokio::test]
async fn presigned_v2_lifetime() {
    let now = fixed_now().timestamp();
    let (status, body) = send(app(), presigned_v2(now + 3600)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.starts_with("123456789012:alice:PresignedV2"), "{body}");
    // Seven days is the most, as for SigV4.
    let (status, _) = send(app(), presigned_v2(now + 604_800)).await;
    assert_eq!(status, StatusCode::OK);
    for expires in [now + 604_800 + 3600, now + 10 * 365 * 86_400, i64::MAX] {
        let (status, body) = send(app(), presigned_v2(expires)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert!(
            body.contains(
                "<Code>AccessDenied</Code><Message>Expires must be at most 604800 seconds"
            ),
            "{body}"
        );
    }
    // Expired: 403 AccessDenied "Request has expired", as S3 answers.
    let (status, body) = send(app(), presigned_v2(now - 1)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains("<Code>AccessDenied</Code><Message>Request has expired</Message>"),
        "{body}"
    );
}

#[tokio::test]
async fn credential_scope_region_is_checked() {
    let presigned = |region: &str| {
        let path = sigv4::presign_url(
            "GET",
            "/bucket/k",
            HOST,
            AKID,
            SECRET,
            region,
            "s3",
            fixed_now(),
            3600,
        );
        Request::get(path)
            .header("host", HOST)
            .body(Body::empty())
            .unwrap()
    };
    let (status, body) = send(app(), presigned("eu-west-1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<Code>AuthorizationQueryParametersError</Code><Message>Error parsing the X-Amz-Credential parameter; the region &apos;eu-west-1&apos; is wrong; expecting &apos;us-east-1&apos;")
            || body.contains("the region 'eu-west-1' is wrong; expecting 'us-east-1'"),
        "{body}"
    );
    assert_eq!(send(app(), presigned("us-east-1")).await.0, StatusCode::OK);

    let header_signed = |service: &str, region: &str| {
        let headers = vec![
            ("host".to_string(), HOST.to_string()),
            (
                "x-amz-content-sha256".to_string(),
                sigv4::UNSIGNED_PAYLOAD.to_string(),
            ),
        ];
        let added = sigv4::sign_request(
            "POST",
            "/",
            &headers,
            FORM.as_bytes(),
            AKID,
            SECRET,
            region,
            service,
            fixed_now(),
        );
        let mut builder = Request::post("/");
        for (n, v) in headers.iter().chain(added.iter()) {
            builder = builder.header(n, v);
        }
        builder.body(Body::from(FORM)).unwrap()
    };
    let (status, body) = send(app(), header_signed("s3", "ap-south-1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.contains("<Code>AuthorizationHeaderMalformed</Code>"),
        "{body}"
    );
    assert!(body.contains("ap-south-1"), "{body}");
    let (status, body) = send(app(), header_signed("sts", "ap-south-1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("<Code>SignatureDoesNotMatch</Code><Message>Credential should be scoped to a valid region, not"), "{body}");
    let (status, body) = send(app(), header_signed("ec2", "ap-south-1")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("<Code>AuthFailure</Code>"), "{body}");
    assert_eq!(
        send(app(), header_signed("sts", "us-east-1")).await.0,
        StatusCode::OK
    );
    // Another configured region is accepted.
    let config = AuthConfig {
        now: fixed_now,
        regions: vec!["us-east-1".into(), "ap-south-1".into()],
        ..AuthConfig::default()
    };
    let (status, body) = send(app_with(config, false), header_signed("sts", "ap-south-1")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn bearer_token_follows_its_user() {
    let key = jwt_key();
    let json_code = |body: &str| {
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        json["error"]["code"].as_str().unwrap().to_string()
    };
    // Another generation: signed out everywhere, or role/password changed.
    let mut c = claims(3600);
    c.generation = 2;
    let (status, body) = send(app(), bearer_request(&jwt::issue(&key, &c).unwrap())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_code(&body), "RevokedToken");
    // Logged out.
    let mut c = claims(3600);
    c.jti = "logged-out".into();
    let (status, body) = send(app(), bearer_request(&jwt::issue(&key, &c).unwrap())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json_code(&body), "RevokedToken");
    // A user that no longer exists, or a token naming another account.
    for (sub, account) in [("AIDAGONE", "123456789012"), ("AIDAUSER", "210987654321")] {
        let mut c = claims(3600);
        c.sub = sub.into();
        c.account = account.into();
        let (status, body) = send(app(), bearer_request(&jwt::issue(&key, &c).unwrap())).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(json_code(&body), "RevokedToken");
    }
    // A token claiming more than the user now holds.
    let mut c = claims(3600);
    c.role = Role::Operator;
    let (status, _) = send(app(), bearer_request(&jwt::issue(&key, &c).unwrap())).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn current_principal_takes_the_lesser_role_and_current_name() {
    let mut user = alice();
    let mut c = claims(3600);
    c.role = Role::Member;
    c.name = "old-name".into();
    let p = current_principal(&c, Some(&user)).unwrap();
    assert_eq!((p.role, p.user_name.as_str()), (Role::Member, "alice"));
    user.enabled = false;
    assert!(matches!(
        current_principal(&c, Some(&user)),
        Err(AuthError::RevokedToken(_))
    ));
    assert!(matches!(
        current_principal(&c, None),
        Err(AuthError::RevokedToken(_))
    ));
}

mod console;
