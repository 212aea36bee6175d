#![allow(clippy::unwrap_used)]
//! The web console's sessions over HTTP: the cookies' flags, the CSRF check, where the
//! cookie counts, expiry and revocation, the password change, and disabled accounts.

mod common;

use common::{call, tenant, TestCloud};
use reqwest::Method;
use serde_json::{json, Value};

/// A signed-in browser: its two cookies.
struct Browser {
    session: String,
    csrf: String,
}

impl Browser {
    fn cookie_header(&self) -> String {
        format!("kumo_session={}; kumo_csrf={}", self.session, self.csrf)
    }
}

/// `Set-Cookie` values of a response, by cookie name.
fn set_cookies(resp: &reqwest::Response) -> Vec<(String, String)> {
    resp.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| {
            let v = v.to_str().unwrap().to_string();
            (v.split('=').next().unwrap().to_string(), v)
        })
        .collect()
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_string()
}

async fn sign_in(cloud: &TestCloud, account: &str, user: &str, password: &str) -> (Browser, Value) {
    let resp = cloud
        .http
        .post(cloud.url("/v1/session"))
        .json(&json!({"account": account, "user_name": user, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    browser_from(resp).await
}

async fn browser_from(resp: reqwest::Response) -> (Browser, Value) {
    let cookies = set_cookies(&resp);
    let session = &cookies.iter().find(|(n, _)| n == "kumo_session").unwrap().1;
    let csrf = &cookies.iter().find(|(n, _)| n == "kumo_csrf").unwrap().1;
    let browser = Browser {
        session: cookie_value(session),
        csrf: cookie_value(csrf),
    };
    let body: Value = resp.json().await.unwrap();
    (browser, body)
}

/// A request as the console sends it: cookies, and the CSRF header when `with_csrf`.
async fn send(
    cloud: &TestCloud,
    browser: &Browser,
    method: Method,
    path: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = cloud
        .http
        .request(method, cloud.url(path))
        .header("cookie", browser.cookie_header());
    if let Some(csrf) = csrf {
        req = req.header("x-csrf-token", csrf);
    }
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

#[tokio::test]
async fn session_cookies_csrf_and_sign_out() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    let (account_id, _) = tenant(&cloud, &op, "alpha").await;

    // Signing in sets the two cookies with their flags and answers no JWT.
    let resp = cloud
        .http
        .post(cloud.url("/v1/session"))
        .json(&json!({"account": "alpha", "user_name": "admin", "password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let cookies = set_cookies(&resp);
    let session_cookie = &cookies.iter().find(|(n, _)| n == "kumo_session").unwrap().1;
    let csrf_cookie = &cookies.iter().find(|(n, _)| n == "kumo_csrf").unwrap().1;
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/v1/"] {
        assert!(session_cookie.contains(flag), "{session_cookie}");
    }
    // It lives as long as the token (15 minutes by default).
    let max_age: i64 = session_cookie
        .split("Max-Age=")
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!((890..=900).contains(&max_age), "{session_cookie}");
    assert!(
        csrf_cookie.contains("SameSite=Strict; Path=/;"),
        "{csrf_cookie}"
    );
    assert!(!csrf_cookie.contains("HttpOnly"), "{csrf_cookie}");
    let (browser, session) = browser_from(resp).await;
    assert_eq!(session["account_id"], account_id.as_str());
    assert_eq!(session["account_name"], "alpha");
    assert_eq!(session["user_name"], "admin");
    assert_eq!(session["role"], "admin");
    assert_eq!(session["csrf_token"], browser.csrf.as_str());
    assert!(session["expires_at"].is_string());
    assert!(session.get("token").is_none(), "{session}");
    assert!(!session.to_string().contains(&browser.session));

    // Reads need only the cookie.
    let (status, me) = send(&cloud, &browser, Method::GET, "/v1/whoami", None, None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["auth_method"], "session");
    let (status, again) = send(&cloud, &browser, Method::GET, "/v1/session", None, None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["csrf_token"], browser.csrf.as_str());

    // Writes need the CSRF header too: refused without it or with a wrong one.
    let create =
        |name: &str| json!({"user_name": name, "role": "reader", "password": "reader-pass-1"});
    let users = format!("/v1/accounts/{account_id}/users");
    for csrf in [None, Some("0".repeat(64)), Some(browser.session.clone())] {
        let (status, body) = send(
            &cloud,
            &browser,
            Method::POST,
            &users,
            csrf.as_deref(),
            Some(create("forged")),
        )
        .await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "InvalidCsrfToken");
    }
    let (status, body) = send(
        &cloud,
        &browser,
        Method::GET,
        &format!("{users}/forged"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "nothing was created: {body}");
    let (status, body) = send(
        &cloud,
        &browser,
        Method::POST,
        &users,
        Some(&browser.csrf),
        Some(create("carol")),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // The cookie counts only under /v1/: an S3 path sees an anonymous caller.
    let resp = cloud
        .http
        .get(cloud.url("/some-bucket/key"))
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<Code>AccessDenied</Code>"));

    // Nor on a bucket's virtual host, even for a `/v1/…` key.
    let resp = cloud
        .http
        .get(cloud.url("/v1/whoami"))
        .header("host", "some-bucket.s3.localhost")
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(resp
        .text()
        .await
        .unwrap()
        .contains("<Code>AccessDenied</Code>"));

    // A cross-site form posted to the AWS Query endpoint acts with no session.
    let resp = cloud
        .http
        .post(cloud.url("/"))
        .header("cookie", browser.cookie_header())
        .form(&[
            ("Action", "CreateUser"),
            ("Version", "2010-05-08"),
            ("UserName", "forged"),
        ])
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert!(status == 400 || status == 403, "{status} {text}");
    let (status, body) = send(
        &cloud,
        &browser,
        Method::GET,
        &format!("{users}/forged"),
        None,
        None,
    )
    .await;
    assert_eq!(status, 404, "nothing was created: {body}");

    // A stale cookie does not stop a fresh sign-in.
    let stale = Browser {
        session: "not.a.jwt".into(),
        csrf: "x".into(),
    };
    let resp = cloud
        .http
        .post(cloud.url("/v1/session"))
        .header("cookie", stale.cookie_header())
        .json(&json!({"account": account_id, "user_name": "carol", "password": "reader-pass-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (carol, carol_session) = browser_from(resp).await;
    assert_eq!(carol_session["role"], "reader");
    // A reader signed in is still refused writes (with a clear 403, CSRF or not).
    let (status, body) = send(
        &cloud,
        &carol,
        Method::POST,
        &users,
        Some(&carol.csrf),
        Some(create("dave")),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "Forbidden");

    // Signing out: without the CSRF header refused; with it the cookies are cleared and
    // the token is revoked.
    let (status, _) = send(&cloud, &browser, Method::DELETE, "/v1/session", None, None).await;
    assert_eq!(status, 403);
    let resp = cloud
        .http
        .delete(cloud.url("/v1/session"))
        .header("cookie", browser.cookie_header())
        .header("x-csrf-token", &browser.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    let cleared = set_cookies(&resp);
    assert_eq!(cleared.len(), 2);
    assert!(
        cleared.iter().all(|(_, v)| v.contains("Max-Age=0")),
        "{cleared:?}"
    );
    let (status, body) = send(&cloud, &browser, Method::GET, "/v1/session", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], "RevokedToken");
}

#[tokio::test]
async fn expired_session_cookie_is_refused() {
    let cloud = TestCloud::start().await;
    let key = kumo_identity::signing_keys::active(&cloud.identity.pool, &cloud.identity.master_key)
        .await
        .unwrap();
    let now = chrono::Utc::now().timestamp();
    let claims = kumo_auth::jwt::Claims {
        sub: "AIDANOBODY".into(),
        account: cloud.operator.account_id.clone(),
        name: "nobody".into(),
        role: kumo_auth::Role::Admin,
        iat: now - 3600,
        exp: now - 1800,
        jti: "old".into(),
        generation: 0,
    };
    let token = kumo_auth::jwt::issue(&key, &claims).unwrap();
    let browser = Browser {
        session: token,
        csrf: kumo_auth::session::csrf_token("old"),
    };
    let (status, body) = send(&cloud, &browser, Method::GET, "/v1/session", None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "ExpiredToken");
    let (status, _) = send(&cloud, &browser, Method::GET, "/v1/session", None, None).await;
    assert_eq!(status, 401);
    // Without any cookie: 401 too (the console's boot).
    let resp = cloud
        .http
        .get(cloud.url("/v1/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn password_change_renews_the_session() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    tenant(&cloud, &op, "alpha").await;
    let (browser, _) = sign_in(&cloud, "alpha", "admin", "correct-horse").await;
    let path = "/v1/session/password";

    let (status, body) = send(
        &cloud,
        &browser,
        Method::POST,
        path,
        Some(&browser.csrf),
        Some(json!({"current_password": "wrong-horse", "new_password": "battery-staple"})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = send(
        &cloud,
        &browser,
        Method::POST,
        path,
        Some(&browser.csrf),
        Some(json!({"current_password": "correct-horse", "new_password": "short"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    let resp = cloud
        .http
        .post(cloud.url(path))
        .header("cookie", browser.cookie_header())
        .header("x-csrf-token", &browser.csrf)
        .json(&json!({"current_password": "correct-horse", "new_password": "battery-staple"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (renewed, session) = browser_from(resp).await;
    assert_eq!(session["user_name"], "admin");
    assert_ne!(renewed.session, browser.session);
    // The old cookie is revoked, the new one works, and so does the new password.
    let (status, body) = send(&cloud, &browser, Method::GET, "/v1/session", None, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "RevokedToken");
    let (status, _) = send(&cloud, &renewed, Method::GET, "/v1/session", None, None).await;
    assert_eq!(status, 200);
    sign_in(&cloud, "alpha", "admin", "battery-staple").await;
    let resp = cloud
        .http
        .post(cloud.url("/v1/session"))
        .json(&json!({"account": "alpha", "user_name": "admin", "password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

#[tokio::test]
async fn disabled_account_is_refused_everywhere() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    let (account_id, admin) = tenant(&cloud, &op, "alpha").await;
    let (status, key) = call(
        &cloud,
        Method::POST,
        &format!("/v1/accounts/{account_id}/users/admin/access-keys"),
        &admin,
        None,
    )
    .await;
    assert_eq!(status, 201, "{key}");
    let (key_id, secret) = (
        key["access_key_id"].as_str().unwrap().to_string(),
        key["secret_access_key"].as_str().unwrap().to_string(),
    );
    assert_eq!(sts(&cloud, &key_id, &secret).await, 200);
    let (status, account) = call(
        &cloud,
        Method::GET,
        &format!("/v1/accounts/{account_id}"),
        &op,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(account["enabled"], true);

    // Only operators disable, never the operator account.
    let disable = format!("/v1/accounts/{account_id}/disable");
    let (status, _) = call(&cloud, Method::POST, &disable, &admin, None).await;
    assert_eq!(status, 403);
    let own = format!("/v1/accounts/{}/disable", cloud.operator.account_id);
    let (status, body) = call(&cloud, Method::POST, &own, &op, None).await;
    assert_eq!(status, 400, "{body}");

    let (status, account) = call(&cloud, Method::POST, &disable, &op, None).await;
    assert_eq!(status, 200, "{account}");
    assert_eq!(account["enabled"], false);
    // Its token, its access key and its password are all refused at once.
    let (status, body) = call(&cloud, Method::GET, "/v1/whoami", &admin, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(sts(&cloud, &key_id, &secret).await, 403);
    let resp = cloud
        .http
        .post(cloud.url("/v1/session"))
        .json(&json!({"account": "alpha", "user_name": "admin", "password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (status, list) = call(&cloud, Method::GET, "/v1/accounts", &op, None).await;
    assert_eq!(status, 200);
    let alpha = list
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "alpha")
        .unwrap();
    assert_eq!(alpha["enabled"], false);

    // Enabled again: the key works again and the admin signs in.
    let enable = format!("/v1/accounts/{account_id}/enable");
    let (status, account) = call(&cloud, Method::POST, &enable, &op, None).await;
    assert_eq!(status, 200);
    assert_eq!(account["enabled"], true);
    assert_eq!(sts(&cloud, &key_id, &secret).await, 200);
    sign_in(&cloud, "alpha", "admin", "correct-horse").await;
}

async fn sts(cloud: &TestCloud, key_id: &str, secret: &str) -> u16 {
    cloud
        .signed_query(
            "sts",
            "Action=GetCallerIdentity&Version=2011-06-15",
            key_id,
            secret,
            chrono::Utc::now(),
        )
        .await
        .status()
        .as_u16()
}
