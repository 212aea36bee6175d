//! Requests really signed by botocore (the AWS SDK for Python, under the AWS CLI) must verify:
//! published vectors pin the algorithm, this pins the details real clients produce
//! (header casing, which headers get signed, path and query escaping, presigned layout).
#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Body;
use axum::routing::any;
use axum::Router;
use chrono::{DateTime, Utc};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kumo_auth::sigv4::{self, CanonicalInput};
use kumo_auth::{
    AccessKeySecret, AuthConfig, AuthLayer, AuthMethod, CredentialStore, JwtKey, Principal, Role,
    SigV4Context, StoreError, UserStatus,
};
use tower::ServiceExt;

const AKID: &str = "AKIAKUMOBOTOCORE0001";
const SECRET: &str = "botocoreSecret/Key+0123456789abcdefghijkl";

const SCRIPT: &str = r#"
import json, sys, urllib.parse
try:
    from botocore.auth import SigV4Auth, S3SigV4Auth, S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
except ImportError as e:
    print("IMPORT-ERROR: %s" % e)
    sys.exit(3)

creds = Credentials(sys.argv[1], sys.argv[2])
out = []

def emit(req):
    p = req.prepare()
    body = p.body or b""
    if isinstance(body, str):
        body = body.encode()
    out.append({"method": p.method, "url": p.url,
                "headers": [[k, v] for k, v in p.headers.items()],
                "body": body.decode()})

# STS GetCallerIdentity, as `aws sts get-caller-identity` sends it.
r = AWSRequest(method="POST", url="https://sts.us-east-1.amazonaws.com/",
               data="Action=GetCallerIdentity&Version=2011-06-15",
               headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
SigV4Auth(creds, "sts", "us-east-1").add_auth(r)
emit(r)

# IAM with a query string that needs escaping.
r = AWSRequest(method="GET", url="https://iam.amazonaws.com/?Action=ListUsers&PathPrefix=" +
               urllib.parse.quote("/division a/ü", safe="") + "&Version=2010-05-08")
SigV4Auth(creds, "iam", "us-east-1").add_auth(r)
emit(r)

# A non-S3 path with escapes: signed double-encoded.
r = AWSRequest(method="GET", url="https://example.amazonaws.com/a%20b/./c//d", headers={"X-Custom": "  x   y "})
SigV4Auth(creds, "service", "us-east-1").add_auth(r)
emit(r)

# S3 GET with UNSIGNED-PAYLOAD and a key that needs escaping.
key = urllib.parse.quote("photos/2024 summer/ü+&=.jpg", safe="/~")
r = AWSRequest(method="GET", url="https://bucket.s3.us-east-1.amazonaws.com/" + key + "?versionId=a%2Fb",
               headers={"Range": "bytes=0-9"})
r.context["client_config"] = Config(s3={"payload_signing_enabled": False})
S3SigV4Auth(creds, "s3", "us-east-1").add_auth(r)
emit(r)

# S3 PUT with a signed payload hash.
r = AWSRequest(method="PUT", url="https://s3.us-east-1.amazonaws.com/bucket/k.txt", data=b"hello world",
               headers={"Content-Type": "text/plain"})
S3SigV4Auth(creds, "s3", "us-east-1").add_auth(r)
emit(r)

# S3 presigned GET.
r = AWSRequest(method="GET", url="https://bucket.s3.us-east-1.amazonaws.com/" + key + "?response-content-type=text%2Fplain")
S3SigV4QueryAuth(creds, "s3", "us-east-1", expires=900).add_auth(r)
emit(r)

print(json.dumps(out))
"#;

struct Signed {
    method: String,
    host: String,
    path_and_query: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn botocore_requests() -> Vec<Signed> {
    let output = Command::new("python3")
        .args(["-c", SCRIPT, AKID, SECRET])
        .output()
        .unwrap_or_else(|e| {
            panic!("could not run python3 ({e}); install Python 3 and `pip install botocore`")
        });
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "botocore is required for this test: `pip install botocore`\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let list: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let url = r["url"].as_str().unwrap();
            let rest = url.strip_prefix("https://").unwrap();
            let (host, path) = rest.split_at(rest.find('/').unwrap());
            Signed {
                method: r["method"].as_str().unwrap().to_string(),
                host: host.to_string(),
                path_and_query: path.to_string(),
                headers: r["headers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|h| {
                        (
                            h[0].as_str().unwrap().to_string(),
                            h[1].as_str().unwrap().to_string(),
                        )
                    })
                    .collect(),
                body: r["body"].as_str().unwrap().to_string(),
            }
        })
        .collect()
}

/// When botocore signed it: `X-Amz-Date` of the header or of the query.
fn signing_time(r: &Signed) -> DateTime<Utc> {
    let header = r
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-date"))
        .map(|(_, v)| v.clone());
    let query = r
        .path_and_query
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|p| p.strip_prefix("X-Amz-Date=")))
        .map(str::to_string);
    sigv4::parse_amz_date(&header.or(query).unwrap()).unwrap()
}

/// Verify with the pure functions, at the signing time.
fn verify_directly(r: &Signed) -> String {
    let (path, query) = r
        .path_and_query
        .split_once('?')
        .unwrap_or((&r.path_and_query, ""));
    let mut headers = vec![("host".to_string(), r.host.clone())];
    headers.extend(r.headers.iter().cloned());
    let authorization = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.clone());
    let parsed = match &authorization {
        Some(v) => sigv4::parse_authorization(v).unwrap(),
        None => sigv4::parse_presigned(query).unwrap().unwrap(),
    };
    let (time, amz_date) = sigv4::request_time(&parsed, &headers).unwrap();
    assert_eq!(time, signing_time(r));
    sigv4::check_freshness(&parsed, time, time, std::time::Duration::from_secs(900)).unwrap();
    let payload = if parsed.credential.service == "s3" {
        match &parsed.presigned {
            Some(_) => sigv4::UNSIGNED_PAYLOAD.to_string(),
            None => headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
                .unwrap()
                .1
                .clone(),
        }
    } else {
        sigv4::sha256_hex(r.body.as_bytes())
    };
    let input = CanonicalInput {
        method: &r.method,
        path,
        query,
        headers: &headers,
        payload_hash: &payload,
    };
    sigv4::verify(&parsed, &input, &amz_date, SECRET).unwrap_or_else(|e| {
        panic!(
            "botocore's {} {} did not verify: {e}",
            r.method, r.path_and_query
        )
    });
    assert!(sigv4::verify(&parsed, &input, &amz_date, "wrong").is_err());
    parsed.credential.service
}

struct Store;

#[async_trait]
impl CredentialStore for Store {
    async fn access_key(&self, id: &str) -> Result<Option<AccessKeySecret>, StoreError> {
        Ok((id == AKID).then(|| AccessKeySecret {
            access_key_id: AKID.into(),
            secret_access_key: SECRET.into(),
            account_id: "123456789012".into(),
            user_id: "AIDABOTO".into(),
            user_name: "boto".into(),
            role: Role::Member,
        }))
    }
    async fn jwt_key(&self, _kid: &str) -> Result<Option<JwtKey>, StoreError> {
        Ok(None)
    }
    async fn user(&self, _user_id: &str) -> Result<Option<UserStatus>, StoreError> {
        Ok(None)
    }
}

/// The layer's clock, set to each request's signing time (only this test uses it).
static NOW: AtomicI64 = AtomicI64::new(0);

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(NOW.load(Ordering::SeqCst), 0).unwrap()
}

async fn echo(req: Request<Body>) -> String {
    let principal = req.extensions().get::<Principal>().cloned();
    let context = req.extensions().get::<SigV4Context>().cloned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    match (principal, context) {
        (Some(p), Some(c)) => format!(
            "{}|{:?}|{}|{}",
            p.user_name,
            p.method,
            c.presigned,
            String::from_utf8_lossy(&body)
        ),
        _ => "anonymous".into(),
    }
}

#[tokio::test]
async fn botocore_signed_requests_verify() {
    let requests = botocore_requests();
    assert_eq!(requests.len(), 6);
    let app = Router::new()
        .route("/", any(echo))
        .route("/{*rest}", any(echo))
        .layer(AuthLayer::with_config(
            Arc::new(Store),
            AuthConfig {
                now,
                ..AuthConfig::default()
            },
        ));
    for r in &requests {
        let service = verify_directly(r);

        // And through the layer, as a server receives it.
        NOW.store(signing_time(r).timestamp(), Ordering::SeqCst);
        let mut builder = Request::builder()
            .method(r.method.as_str())
            .uri(&r.path_and_query)
            .header("host", &r.host);
        for (n, v) in &r.headers {
            builder = builder.header(n, v);
        }
        let req = builder.body(Body::from(r.body.clone())).unwrap();
        let resp = app.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let text = String::from_utf8_lossy(&resp.into_body().collect().await.unwrap().to_bytes())
            .into_owned();
        assert_eq!(
            status,
            StatusCode::OK,
            "{} {}: {text}",
            r.method,
            r.path_and_query
        );
        let method = AuthMethod::SigV4 {
            access_key_id: AKID.into(),
            service,
            region: "us-east-1".into(),
        };
        assert!(text.starts_with(&format!("boto|{method:?}|")), "{text}");
        assert!(text.ends_with(&format!("|{}", r.body)), "{text}");
    }
}
