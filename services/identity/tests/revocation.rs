#![allow(clippy::unwrap_used)]
//! Tokens and access keys stop working the moment their user changes: demoted, disabled,
//! deleted, signed out, logged out; and a change made through one process reaches another
//! process's credential cache (real Postgres, real LISTEN/NOTIFY).

use axum::body::Body;
use axum::Router;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use kumo_auth::{AuthLayer, AuthMethod, Principal, Role};
use kumo_common::QueryRequest;
use kumo_identity::accounts::{self, CreateAccount};
use kumo_identity::users::{self, CreateUser, UpdateUser};
use kumo_identity::{access_keys, bootstrap, login, Identity, IdentityConfig, MasterKey};
use tower::ServiceExt;

const PASSWORD: &str = "a-good-password";

struct World {
    identity: Identity,
    app: Router,
    op: Principal,
    account_id: String,
}

fn principal(account_id: &str, user_name: &str, role: Role) -> Principal {
    Principal {
        account_id: account_id.into(),
        user_id: format!("AIDA{user_name}"),
        user_name: user_name.into(),
        role,
        method: AuthMethod::Bearer,
    }
}

fn app(identity: &Identity) -> Router {
    identity
        .router()
        .layer(AuthLayer::new(identity.credential_store()))
}

async fn world() -> World {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let identity = Identity::new(pool, MasterKey::random(), IdentityConfig::default());
    let creds = bootstrap::ensure_operator(&identity.pool, &identity.master_key)
        .await
        .unwrap();
    let op = principal(&creds.account_id, &creds.user_name, Role::Operator);
    let account = accounts::create(
        &identity.pool,
        &op,
        &CreateAccount {
            name: "acme".into(),
        },
    )
    .await
    .unwrap();
    World {
        app: app(&identity),
        identity,
        op,
        account_id: account.account_id,
    }
}

impl World {
    async fn user(&self, name: &str, role: Role) {
        users::create(
            &self.identity.pool,
            &self.op,
            &self.account_id,
            &CreateUser {
                user_name: name.into(),
                role,
                password: Some(PASSWORD.into()),
            },
        )
        .await
        .unwrap();
    }

    async fn token(&self, name: &str) -> String {
        login::login(
            &self.identity,
            &login::LoginRequest {
                account: "acme".into(),
                user_name: name.into(),
                password: PASSWORD.into(),
            },
        )
        .await
        .unwrap()
        .token
    }

    async fn key(&self, name: &str) -> (String, String) {
        let key = access_keys::create(
            &self.identity.pool,
            &self.identity.master_key,
            &self.op,
            &self.account_id,
            name,
        )
        .await
        .unwrap();
        (key.access_key_id, key.secret_access_key)
    }

    async fn update(&self, name: &str, update: UpdateUser) {
        users::update(
            &self.identity.pool,
            &self.op,
            &self.account_id,
            name,
            &update,
        )
        .await
        .unwrap();
    }

    /// `method path` with a bearer token and an optional JSON body: (status, JSON).
    async fn call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        let body = match body {
            Some(json) => {
                builder = builder.header("content-type", "application/json");
                Body::from(json.to_string())
            }
            None => Body::empty(),
        };
        send(&self.app, builder.body(body).unwrap()).await
    }

    async fn list_users(&self, token: &str) -> (StatusCode, serde_json::Value) {
        self.call(
            token,
            "GET",
            &format!("/v1/accounts/{}/users", self.account_id),
            None,
        )
        .await
    }
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, json)
}

/// `GET /v1/whoami` signed with SigV4 by this key.
async fn whoami_signed(app: &Router, key: &(String, String)) -> (StatusCode, serde_json::Value) {
    let headers = vec![("host".to_string(), "localhost".to_string())];
    let added = kumo_auth::sigv4::sign_request(
        "GET",
        "/v1/whoami",
        &headers,
        b"",
        &key.0,
        &key.1,
        "us-east-1",
        "sts",
        chrono::Utc::now(),
    );
    let mut builder = Request::get("/v1/whoami");
    for (n, v) in headers.iter().chain(added.iter()) {
        builder = builder.header(n, v);
    }
    send(app, builder.body(Body::empty()).unwrap()).await
}

fn assert_revoked(result: (StatusCode, serde_json::Value)) {
    assert_eq!(result.0, StatusCode::UNAUTHORIZED, "{}", result.1);
    assert_eq!(result.1["error"]["code"], "RevokedToken", "{}", result.1);
}

fn assert_key_refused(result: (StatusCode, serde_json::Value)) {
    assert_eq!(result.0, StatusCode::FORBIDDEN, "{}", result.1);
    let body = result.1.as_str().unwrap_or_default().to_string();
    assert!(body.contains("<Code>InvalidClientTokenId</Code>"), "{body}");
}

#[tokio::test]
async fn a_demoted_admin_loses_its_powers_at_once() {
    let w = world().await;
    w.user("boss", Role::Admin).await;
    let token = w.token("boss").await;
    let create =
        |name: &str| serde_json::json!({"user_name": name, "role": "member", "password": PASSWORD});
    let path = format!("/v1/accounts/{}/users", w.account_id);
    let (status, body) = w.call(&token, "POST", &path, Some(create("one"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    w.update(
        "boss",
        UpdateUser {
            role: Some(Role::Reader),
            ..Default::default()
        },
    )
    .await;
    // The old token is refused outright, for writes and reads alike.
    assert_revoked(w.call(&token, "POST", &path, Some(create("two"))).await);
    assert_revoked(w.list_users(&token).await);
    // A new login carries the new role: reading works, creating users does not.
    let token = w.token("boss").await;
    assert_eq!(w.list_users(&token).await.0, StatusCode::OK);
    let (status, body) = w.call(&token, "POST", &path, Some(create("three"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "Forbidden");
}

#[tokio::test]
async fn access_keys_carry_the_current_role() {
    let w = world().await;
    w.user("keyed", Role::Admin).await;
    let key = w.key("keyed").await;
    let (status, body) = whoami_signed(&w.app, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "admin");
    w.update(
        "keyed",
        UpdateUser {
            role: Some(Role::Member),
            ..Default::default()
        },
    )
    .await;
    let (status, body) = whoami_signed(&w.app, &key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "member");
}

#[tokio::test]
async fn a_deleted_user_has_no_token_and_no_key() {
    let w = world().await;
    w.user("leaver", Role::Admin).await;
    let token = w.token("leaver").await;
    let key = w.key("leaver").await;
    assert_eq!(w.list_users(&token).await.0, StatusCode::OK);
    assert_eq!(whoami_signed(&w.app, &key).await.0, StatusCode::OK);
    users::delete(&w.identity.pool, &w.op, &w.account_id, "leaver")
        .await
        .unwrap();
    assert_revoked(w.list_users(&token).await);
    assert_key_refused(whoami_signed(&w.app, &key).await);
    // A user re-created under the same name is someone else: the old token stays dead.
    w.user("leaver", Role::Admin).await;
    assert_revoked(w.list_users(&token).await);
}

#[tokio::test]
async fn disabling_a_user_stops_tokens_keys_and_login() {
    let w = world().await;
    w.user("paused", Role::Member).await;
    let token = w.token("paused").await;
    let key = w.key("paused").await;
    w.update(
        "paused",
        UpdateUser {
            enabled: Some(false),
            ..Default::default()
        },
    )
    .await;
    assert_revoked(w.list_users(&token).await);
    assert_key_refused(whoami_signed(&w.app, &key).await);
    let refused = login::login(
        &w.identity,
        &login::LoginRequest {
            account: "acme".into(),
            user_name: "paused".into(),
            password: PASSWORD.into(),
        },
    )
    .await;
    assert!(matches!(
        refused,
        Err(kumo_identity::IdentityError::BadLogin)
    ));
    // Enabled again: the key works again, the old token does not (it was signed out).
    w.update(
        "paused",
        UpdateUser {
            enabled: Some(true),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(whoami_signed(&w.app, &key).await.0, StatusCode::OK);
    assert_revoked(w.list_users(&token).await);
    assert_eq!(
        w.list_users(&w.token("paused").await).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_password_change_signs_out_everywhere() {
    let w = world().await;
    w.user("pw", Role::Member).await;
    let token = w.token("pw").await;
    let path = format!("/v1/accounts/{}/users/pw", w.account_id);
    let (status, body) = w
        .call(
            &token,
            "PATCH",
            &path,
            Some(serde_json::json!({"password": "another-password"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_revoked(w.list_users(&token).await);
}

#[tokio::test]
async fn logout_revokes_only_the_presented_token() {
    let w = world().await;
    w.user("alice", Role::Member).await;
    let first = w.token("alice").await;
    let second = w.token("alice").await;
    let (status, body) = w.call(&first, "POST", "/v1/logout", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_revoked(w.list_users(&first).await);
    assert_revoked(w.call(&first, "POST", "/v1/logout", None).await);
    assert_eq!(w.list_users(&second).await.0, StatusCode::OK);
    // Logout needs a bearer token: a signed request or none at all is refused.
    w.user("signer", Role::Member).await;
    let key = w.key("signer").await;
    let headers = vec![("host".to_string(), "localhost".to_string())];
    let added = kumo_auth::sigv4::sign_request(
        "POST",
        "/v1/logout",
        &headers,
        b"",
        &key.0,
        &key.1,
        "us-east-1",
        "sts",
        chrono::Utc::now(),
    );
    let mut builder = Request::post("/v1/logout");
    for (n, v) in headers.iter().chain(added.iter()) {
        builder = builder.header(n, v);
    }
    let (status, body) = send(&w.app, builder.body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = send(
        &w.app,
        Request::post("/v1/logout").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_out_everywhere_by_self_and_by_admin() {
    let w = world().await;
    w.user("bob", Role::Member).await;
    w.user("carol", Role::Member).await;
    w.user("root", Role::Admin).await;
    let bob1 = w.token("bob").await;
    let bob2 = w.token("bob").await;
    let carol = w.token("carol").await;
    let sign_out = |name: &str| format!("/v1/accounts/{}/users/{name}/sign-out", w.account_id);
    // A member cannot sign out someone else.
    let (status, body) = w.call(&carol, "POST", &sign_out("bob"), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Itself: every token of the user goes, including the one used.
    let (status, body) = w.call(&bob1, "POST", &sign_out("bob"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_revoked(w.list_users(&bob1).await);
    assert_revoked(w.list_users(&bob2).await);
    assert_eq!(w.list_users(&carol).await.0, StatusCode::OK);
    // A new login works.
    let bob3 = w.token("bob").await;
    assert_eq!(w.list_users(&bob3).await.0, StatusCode::OK);
    // An admin signs out another user.
    let root = w.token("root").await;
    let (status, body) = w.call(&root, "POST", &sign_out("carol"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_revoked(w.list_users(&carol).await);
    let (status, _) = w.call(&root, "POST", &sign_out("nobody"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn an_inactive_key_is_refused_at_once() {
    let w = world().await;
    w.user("k", Role::Admin).await;
    let key = w.key("k").await;
    let token = w.token("k").await;
    assert_eq!(whoami_signed(&w.app, &key).await.0, StatusCode::OK);
    let path = format!(
        "/v1/accounts/{}/users/k/access-keys/{}",
        w.account_id, key.0
    );
    let (status, body) = w
        .call(
            &token,
            "PATCH",
            &path,
            Some(serde_json::json!({"status": "Inactive"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "Inactive");
    assert_key_refused(whoami_signed(&w.app, &key).await);
    let (status, _) = w
        .call(
            &token,
            "PATCH",
            &path,
            Some(serde_json::json!({"status": "Sleeping"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // IAM's UpdateAccessKey turns it back on.
    let caller = principal(&w.account_id, "k", Role::Admin);
    let query = format!("Action=UpdateAccessKey&AccessKeyId={}&Status=Active", key.0);
    let request = QueryRequest::parse(Some(&query), b"").unwrap();
    let response = kumo_identity::aws::dispatch(&w.identity, "iam", Some(&caller), &request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(whoami_signed(&w.app, &key).await.0, StatusCode::OK);
    // Deleted: refused at once.
    access_keys::delete(&w.identity.pool, &w.op, &w.account_id, "k", &key.0)
        .await
        .unwrap();
    assert_key_refused(whoami_signed(&w.app, &key).await);
}

/// Two processes sharing a catalog: each has its own pool and cache. A change written
/// behind the back of the second one (plain SQL through the first pool, so no in-process
/// signal) reaches it through NOTIFY.
#[tokio::test]
async fn a_change_through_one_process_reaches_the_others_cache() {
    let w = world().await;
    w.user("shared", Role::Admin).await;
    let key = w.key("shared").await;
    let token = w.token("shared").await;

    let options = w.identity.pool.connect_options().as_ref().clone();
    let other_pool = kumo_catalog::connect_options(options).await.unwrap();
    let other = Identity::new(
        other_pool,
        w.identity.master_key.clone(),
        IdentityConfig::default(),
    );
    let other_app = app(&other);
    while !other.credentials.is_caching() {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    // Warm the other cache.
    assert_eq!(whoami_signed(&other_app, &key).await.0, StatusCode::OK);
    let (status, _) = send(
        &other_app,
        Request::get(format!("/v1/accounts/{}/users", w.account_id))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let store = other.credential_store();
    assert!(store.access_key(&key.0).await.unwrap().is_some());

    // Demote by hand, as another process (or an operator with psql) would.
    let before = other.credentials.notifications();
    sqlx::query(
        "UPDATE identity.users SET role = 'reader', token_generation = token_generation + 1
         WHERE user_name = 'shared'",
    )
    .execute(&w.identity.pool)
    .await
    .unwrap();
    while other.credentials.notifications() == before {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let found = store.access_key(&key.0).await.unwrap().unwrap();
    assert_eq!(found.role, Role::Reader);
    let (status, body) = send(
        &other_app,
        Request::get(format!("/v1/accounts/{}/users", w.account_id))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_revoked((status, body));

    // Deleting the key by hand: gone for the other process too.
    let before = other.credentials.notifications();
    sqlx::query("DELETE FROM identity.access_keys WHERE access_key_id = $1")
        .bind(&key.0)
        .execute(&w.identity.pool)
        .await
        .unwrap();
    while other.credentials.notifications() == before {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(store.access_key(&key.0).await.unwrap().is_none());
    assert_key_refused(whoami_signed(&other_app, &key).await);
}

#[tokio::test]
async fn malformed_identity_input_is_a_clear_400() {
    let w = world().await;
    let invalid = |r: Result<(), kumo_identity::IdentityError>| {
        assert!(
            matches!(r, Err(kumo_identity::IdentityError::InvalidInput(_))),
            "{r:?}"
        )
    };
    let request = |account: &str, user: &str, password: &str| login::LoginRequest {
        account: account.into(),
        user_name: user.into(),
        password: password.into(),
    };
    for bad in [
        request("a\u{0}", "admin", PASSWORD),
        request("", "admin", PASSWORD),
        request(&"a".repeat(65), "admin", PASSWORD),
        request("acme", "ad\u{0}min", PASSWORD),
        request("acme", "", PASSWORD),
        request("acme", &"u".repeat(65), PASSWORD),
        request("acme", "admin", "pass\u{0}word"),
        request("acme", "admin", "pass\u{1}word"),
        request("acme", "admin", &"p".repeat(257)),
    ] {
        invalid(login::login(&w.identity, &bad).await.map(|_| ()));
    }
    // Through the HTTP API the same is a 400 InvalidInput, never a 500.
    let (status, body) = send(
        &w.app,
        Request::post("/v1/login")
            .header("content-type", "application/json")
            .body(Body::from(
                r#"{"account":"acme","user_name":"a\u0001b","password":"whatever-it-is"}"#,
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["code"], "InvalidInput");

    // User names follow IAM's pattern, 1–64 characters.
    for name in [
        "",
        "has space",
        "slash/y",
        "tab\tname",
        "ünï",
        &"n".repeat(65),
    ] {
        invalid(
            users::create(
                &w.identity.pool,
                &w.op,
                &w.account_id,
                &CreateUser {
                    user_name: name.into(),
                    role: Role::Member,
                    password: None,
                },
            )
            .await
            .map(|_| ()),
        );
    }
    users::create(
        &w.identity.pool,
        &w.op,
        &w.account_id,
        &CreateUser {
            user_name: "Ok+=,.@_-9".into(),
            role: Role::Member,
            password: Some("pass with spaces and ü".into()),
        },
    )
    .await
    .unwrap();
    invalid(
        users::update(
            &w.identity.pool,
            &w.op,
            &w.account_id,
            "Ok+=,.@_-9",
            &UpdateUser {
                password: Some("new\u{0}password".into()),
                ..Default::default()
            },
        )
        .await
        .map(|_| ()),
    );
    // Long values are not echoed whole.
    let long = "x".repeat(10_000);
    let e = users::get(&w.identity.pool, &w.op, &w.account_id, &long)
        .await
        .unwrap_err();
    assert!(e.to_string().len() < 300, "{e}");

    // IAM Query actions: ValidationError (400) for a bad UserName, AccessKeyId or Status.
    let caller = principal(&w.account_id, "admin", Role::Admin);
    for query in [
        "Action=CreateAccessKey&UserName=bad%2Fname".to_string(),
        format!("Action=CreateAccessKey&UserName={}", "n".repeat(65)),
        "Action=GetUser&UserName=a%20b".to_string(),
        "Action=ListAccessKeys&UserName=".to_string(),
        "Action=DeleteAccessKey&AccessKeyId=nope".to_string(),
        "Action=UpdateAccessKey&AccessKeyId=AKIAAAAAAAAAAAAAAAAA&Status=Maybe".to_string(),
    ] {
        let request = QueryRequest::parse(Some(&query), b"").unwrap();
        let response =
            kumo_identity::aws::dispatch(&w.identity, "iam", Some(&caller), &request).await;
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
        assert!(
            body.contains("<Code>ValidationError</Code>"),
            "{query}: {body}"
        );
    }
}
