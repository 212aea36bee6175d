#![allow(clippy::unwrap_used)]
//! The identity domain functions against a real Postgres (a fresh database per test).

use kumo_auth::jwt;
use kumo_auth::{AuthMethod, CredentialStore, Principal, Role};
use kumo_identity::accounts::{self, CreateAccount};
use kumo_identity::users::{self, CreateUser, UpdateUser};
use kumo_identity::{
    access_keys, bootstrap, login, signing_keys, Identity, IdentityConfig, IdentityError, MasterKey,
};

async fn identity() -> Identity {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    Identity::new(pool, MasterKey::random(), IdentityConfig::default())
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

async fn operator(identity: &Identity) -> Principal {
    let creds = bootstrap::ensure_operator(&identity.pool, &identity.master_key)
        .await
        .unwrap();
    principal(&creds.account_id, &creds.user_name, Role::Operator)
}

/// An account with an admin user; returns (account id, admin principal).
async fn tenant(identity: &Identity, op: &Principal, name: &str) -> (String, Principal) {
    let account = accounts::create(&identity.pool, op, &CreateAccount { name: name.into() })
        .await
        .unwrap();
    let admin = users::create(
        &identity.pool,
        op,
        &account.account_id,
        &CreateUser {
            user_name: "admin".into(),
            role: Role::Admin,
            password: Some("admin-password".into()),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        admin.arn,
        format!("arn:aws:iam::{}:user/admin", account.account_id)
    );
    let p = principal(&account.account_id, "admin", Role::Admin);
    (account.account_id, p)
}

#[tokio::test]
async fn bootstrap_is_idempotent_and_keeps_the_key() {
    let identity = identity().await;
    let first = bootstrap::ensure_operator(&identity.pool, &identity.master_key)
        .await
        .unwrap();
    assert!(first.new_password.is_some());
    assert!(first.access_key_id.starts_with("AKIA"));
    assert_eq!(first.secret_access_key.len(), 40);
    let second = bootstrap::ensure_operator(&identity.pool, &identity.master_key)
        .await
        .unwrap();
    assert_eq!(first.account_id, second.account_id);
    assert_eq!(first.access_key_id, second.access_key_id);
    assert_eq!(first.secret_access_key, second.secret_access_key);
    assert!(second.new_password.is_none());
}

#[tokio::test]
async fn a_different_master_key_is_refused() {
    let identity = identity().await;
    bootstrap::ensure_operator(&identity.pool, &identity.master_key)
        .await
        .unwrap();
    let other = MasterKey::random();
    let err = bootstrap::ensure_operator(&identity.pool, &other)
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::WrongMasterKey), "{err:?}");
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest() {
    let identity = identity().await;
    let creds = bootstrap::ensure_operator(&identity.pool, &identity.master_key)
        .await
        .unwrap();
    let stored: Vec<u8> = sqlx::query_scalar(
        "SELECT secret_ciphertext FROM identity.access_keys WHERE access_key_id = $1",
    )
    .bind(&creds.access_key_id)
    .fetch_one(&identity.pool)
    .await
    .unwrap();
    let needle = creds.secret_access_key.as_bytes();
    assert!(!stored.windows(needle.len()).any(|w| w == needle));
    let found = identity
        .credential_store()
        .access_key(&creds.access_key_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.secret_access_key, creds.secret_access_key);
    assert_eq!(found.role, Role::Operator);
}

#[tokio::test]
async fn operator_creates_account_and_admin_who_creates_keys() {
    let identity = identity().await;
    let op = operator(&identity).await;
    let (account_id, admin) = tenant(&identity, &op, "acme").await;
    let key = access_keys::create(
        &identity.pool,
        &identity.master_key,
        &admin,
        &account_id,
        "admin",
    )
    .await
    .unwrap();
    assert!(key.access_key_id.starts_with("AKIA") && key.access_key_id.len() == 20);
    let listed = access_keys::list(&identity.pool, &admin, &account_id, "admin")
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].access_key_id, key.access_key_id);
    // IAM's limit: two keys per user.
    access_keys::create(
        &identity.pool,
        &identity.master_key,
        &admin,
        &account_id,
        "admin",
    )
    .await
    .unwrap();
    let third = access_keys::create(
        &identity.pool,
        &identity.master_key,
        &admin,
        &account_id,
        "admin",
    )
    .await;
    assert!(matches!(third, Err(IdentityError::LimitExceeded(_))));
    access_keys::delete(
        &identity.pool,
        &admin,
        &account_id,
        "admin",
        &key.access_key_id,
    )
    .await
    .unwrap();
    assert!(identity
        .credential_store()
        .access_key(&key.access_key_id)
        .await
        .unwrap()
        .is_none());
    // Account names are unique.
    let dup = accounts::create(
        &identity.pool,
        &op,
        &CreateAccount {
            name: "acme".into(),
        },
    )
    .await;
    assert!(matches!(dup, Err(IdentityError::AlreadyExists(_))));
}

#[tokio::test]
async fn account_b_cannot_see_or_touch_account_a() {
    let identity = identity().await;
    let op = operator(&identity).await;
    let (a, admin_a) = tenant(&identity, &op, "tenant-a").await;
    let (b, admin_b) = tenant(&identity, &op, "tenant-b").await;
    let key_a = access_keys::create(&identity.pool, &identity.master_key, &admin_a, &a, "admin")
        .await
        .unwrap();
    let pool = &identity.pool;
    let not_found = |r: Result<(), IdentityError>| {
        assert!(matches!(r, Err(IdentityError::NotFound(_))), "{r:?}")
    };

    not_found(accounts::get(pool, &admin_b, &a).await.map(|_| ()));
    not_found(users::list(pool, &admin_b, &a).await.map(|_| ()));
    not_found(users::get(pool, &admin_b, &a, "admin").await.map(|_| ()));
    not_found(
        users::create(
            pool,
            &admin_b,
            &a,
            &CreateUser {
                user_name: "intruder".into(),
                role: Role::Admin,
                password: None,
            },
        )
        .await
        .map(|_| ()),
    );
    not_found(
        users::update(
            pool,
            &admin_b,
            &a,
            "admin",
            &UpdateUser {
                role: Some(Role::Reader),
                password: None,
                enabled: None,
            },
        )
        .await
        .map(|_| ()),
    );
    not_found(users::delete(pool, &admin_b, &a, "admin").await);
    not_found(
        access_keys::list(pool, &admin_b, &a, "admin")
            .await
            .map(|_| ()),
    );
    not_found(
        access_keys::create(pool, &identity.master_key, &admin_b, &a, "admin")
            .await
            .map(|_| ()),
    );
    not_found(access_keys::delete(pool, &admin_b, &a, "admin", &key_a.access_key_id).await);
    // B's own key id cannot reach A's key either.
    not_found(access_keys::delete(pool, &admin_b, &b, "admin", &key_a.access_key_id).await);
    let visible = accounts::list(pool, &admin_b).await.unwrap();
    assert_eq!(visible.len(), 1);
    assert_eq!(visible[0].account_id, b);
    // A's key still works.
    assert!(identity
        .credential_store()
        .access_key(&key_a.access_key_id)
        .await
        .unwrap()
        .is_some());
    // The operator sees both.
    assert!(accounts::list(pool, &op).await.unwrap().len() >= 3);
}

#[tokio::test]
async fn roles_limit_what_users_can_do() {
    let identity = identity().await;
    let op = operator(&identity).await;
    let (a, admin) = tenant(&identity, &op, "roles").await;
    let pool = &identity.pool;
    for (name, role) in [("mem", Role::Member), ("read", Role::Reader)] {
        users::create(
            pool,
            &admin,
            &a,
            &CreateUser {
                user_name: name.into(),
                role,
                password: None,
            },
        )
        .await
        .unwrap();
    }
    let member = principal(&a, "mem", Role::Member);
    let reader = principal(&a, "read", Role::Reader);
    let forbidden = |r: Result<(), IdentityError>| {
        assert!(matches!(r, Err(IdentityError::Forbidden(_))), "{r:?}")
    };

    // Only operators create accounts.
    forbidden(
        accounts::create(pool, &admin, &CreateAccount { name: "x".into() })
            .await
            .map(|_| ()),
    );
    // Admins cannot mint operators.
    forbidden(
        users::create(
            pool,
            &admin,
            &a,
            &CreateUser {
                user_name: "op2".into(),
                role: Role::Operator,
                password: None,
            },
        )
        .await
        .map(|_| ()),
    );
    // Members and readers cannot manage users.
    forbidden(
        users::create(
            pool,
            &member,
            &a,
            &CreateUser {
                user_name: "x".into(),
                role: Role::Member,
                password: None,
            },
        )
        .await
        .map(|_| ()),
    );
    forbidden(users::delete(pool, &reader, &a, "mem").await);
    // A member manages its own keys, not others'.
    access_keys::create(pool, &identity.master_key, &member, &a, "mem")
        .await
        .unwrap();
    forbidden(
        access_keys::create(pool, &identity.master_key, &member, &a, "read")
            .await
            .map(|_| ()),
    );
    // A reader lists its own keys but creates none.
    access_keys::list(pool, &reader, &a, "read").await.unwrap();
    forbidden(
        access_keys::create(pool, &identity.master_key, &reader, &a, "read")
            .await
            .map(|_| ()),
    );
    // Everyone in the account may read the user list.
    assert_eq!(users::list(pool, &reader, &a).await.unwrap().len(), 3);
    // Self-service password change, but not self-promotion.
    users::update(
        pool,
        &member,
        &a,
        "mem",
        &UpdateUser {
            role: None,
            password: Some("new-password-1".into()),
            enabled: None,
        },
    )
    .await
    .unwrap();
    forbidden(
        users::update(
            pool,
            &member,
            &a,
            "mem",
            &UpdateUser {
                role: Some(Role::Admin),
                password: None,
                enabled: None,
            },
        )
        .await
        .map(|_| ()),
    );
    // Admins cannot delete themselves.
    assert!(matches!(
        users::delete(pool, &admin, &a, "admin").await,
        Err(IdentityError::InvalidInput(_))
    ));
}

#[tokio::test]
async fn bad_names_and_ids_are_invalid_input() {
    let identity = identity().await;
    let op = operator(&identity).await;
    let pool = &identity.pool;
    let invalid = |r: Result<(), IdentityError>| {
        assert!(matches!(r, Err(IdentityError::InvalidInput(_))), "{r:?}")
    };
    invalid(
        accounts::create(pool, &op, &CreateAccount { name: "".into() })
            .await
            .map(|_| ()),
    );
    invalid(
        accounts::create(
            pool,
            &op,
            &CreateAccount {
                name: "has space".into(),
            },
        )
        .await
        .map(|_| ()),
    );
    invalid(
        accounts::create(
            pool,
            &op,
            &CreateAccount {
                name: "x".repeat(65),
            },
        )
        .await
        .map(|_| ()),
    );
    invalid(accounts::get(pool, &op, "12345").await.map(|_| ()));
    invalid(accounts::get(pool, &op, "abcdefghijkl").await.map(|_| ()));
    let (a, admin) = tenant(&identity, &op, "valid").await;
    invalid(
        users::create(
            pool,
            &admin,
            &a,
            &CreateUser {
                user_name: "bad/name".into(),
                role: Role::Member,
                password: None,
            },
        )
        .await
        .map(|_| ()),
    );
    invalid(
        users::create(
            pool,
            &admin,
            &a,
            &CreateUser {
                user_name: "short-pw".into(),
                role: Role::Member,
                password: Some("123".into()),
            },
        )
        .await
        .map(|_| ()),
    );
    invalid(access_keys::delete(pool, &admin, &a, "admin", "not-a-key").await);
}

#[tokio::test]
async fn login_issues_a_token_and_rotation_keeps_old_tokens_valid() {
    let identity = identity().await;
    let op = operator(&identity).await;
    let (a, _admin) = tenant(&identity, &op, "login").await;
    let request = login::LoginRequest {
        account: "login".into(),
        user_name: "admin".into(),
        password: "admin-password".into(),
    };
    let token = login::login(&identity, &request).await.unwrap();
    let store = identity.credential_store();
    let kid = jwt::token_kid(&token.token).unwrap();
    let key = store.jwt_key(&kid).await.unwrap().unwrap();
    let claims = jwt::verify(&key, &token.token).unwrap();
    assert_eq!(claims.account, a);
    assert_eq!(claims.name, "admin");
    assert_eq!(claims.role, Role::Admin);

    // By account id too; a wrong password or unknown user is the same error.
    let by_id = login::LoginRequest {
        account: a.clone(),
        ..request.clone()
    };
    login::login(&identity, &by_id).await.unwrap();
    for bad in [
        login::LoginRequest {
            password: "wrong-password".into(),
            ..request.clone()
        },
        login::LoginRequest {
            user_name: "nobody".into(),
            ..request.clone()
        },
        login::LoginRequest {
            account: "999999999999".into(),
            ..request.clone()
        },
    ] {
        assert!(matches!(
            login::login(&identity, &bad).await,
            Err(IdentityError::BadLogin)
        ));
    }

    // Rotate: new tokens use the new key; the old token still verifies.
    let rotated = signing_keys::rotate(
        &identity.pool,
        &identity.master_key,
        &op,
        identity.config.token_ttl,
    )
    .await
    .unwrap();
    assert_ne!(rotated.kid, kid);
    let token2 = login::login(&identity, &request).await.unwrap();
    assert_eq!(jwt::token_kid(&token2.token).unwrap(), rotated.kid);
    assert!(store.jwt_key(&kid).await.unwrap().is_some());
    // With a zero lifetime the retired key no longer verifies anything.
    let strict = kumo_identity::store::CatalogCredentials::new(
        identity.pool.clone(),
        identity.master_key.clone(),
        std::time::Duration::ZERO,
    );
    assert!(strict.jwt_key(&kid).await.unwrap().is_none());
    // Only operators rotate.
    let admin = principal(&a, "admin", Role::Admin);
    assert!(matches!(
        signing_keys::rotate(
            &identity.pool,
            &identity.master_key,
            &admin,
            identity.config.token_ttl
        )
        .await,
        Err(IdentityError::Forbidden(_))
    ));
}
