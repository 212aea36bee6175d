#![allow(clippy::unwrap_used)]
//! The tag store against a real catalog: tenant isolation, the 50-tag limit across calls,
//! deletes, and the migration that moved compute's and network's tags into it.

use std::borrow::Cow;

use kumo_catalog::testing::{fresh_database, fresh_database_options};
use kumo_tags::{store, TagError, MAX_TAGS};
use sqlx::Connection;

const ALICE: &str = "111111111111";
const BOB: &str = "222222222222";

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn tags_are_scoped_by_account_and_limited() {
    let pool = fresh_database().await.unwrap();
    let vpc = "vpc-0123456789abcdef0".to_string();
    store::put(&pool, ALICE, &vpc, &tags(&[("Name", "a"), ("team", "")]))
        .await
        .unwrap();
    // A key given twice keeps its last value; an existing key is overwritten.
    store::put(&pool, ALICE, &vpc, &tags(&[("Name", "b"), ("Name", "c")]))
        .await
        .unwrap();
    let listed = store::describe(&pool, ALICE, &[], &[]).await.unwrap();
    let pairs: Vec<(&str, &str)> = listed
        .iter()
        .map(|t| (t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(pairs, [("Name", "c"), ("team", "")]);
    assert!(store::describe(&pool, BOB, &[], &[])
        .await
        .unwrap()
        .is_empty());
    assert!(store::for_resources(&pool, BOB, std::slice::from_ref(&vpc))
        .await
        .unwrap()
        .is_empty());
    // Bob's delete of Alice's resource id touches nothing of Alice's.
    store::delete_all(&pool, BOB, std::slice::from_ref(&vpc))
        .await
        .unwrap();
    store::delete(&pool, BOB, &vpc, &[]).await.unwrap();
    assert_eq!(
        store::describe(&pool, ALICE, &[], &[]).await.unwrap().len(),
        2
    );

    // 50 tags in all: 48 more fit, then one more key does not (the resource is unchanged).
    let more: Vec<(String, String)> = (0..MAX_TAGS - 2)
        .map(|n| (format!("k{n}"), String::new()))
        .collect();
    store::put(&pool, ALICE, &vpc, &more).await.unwrap();
    let error = store::put(&pool, ALICE, &vpc, &tags(&[("one-more", "x")]))
        .await
        .unwrap_err();
    assert!(
        matches!(error, TagError::Invalid("TagLimitExceeded", _)),
        "{error:?}"
    );
    // Overwriting an existing key is not one more.
    store::put(&pool, ALICE, &vpc, &tags(&[("Name", "d")]))
        .await
        .unwrap();
    let by_resource = store::for_resources(&pool, ALICE, std::slice::from_ref(&vpc))
        .await
        .unwrap();
    assert_eq!(by_resource[&vpc].len(), MAX_TAGS);
    assert_eq!(by_resource[&vpc]["Name"], "d");

    // Delete by key, by key and value (a different value deletes nothing), everything.
    store::delete(&pool, ALICE, &vpc, &[("k0".into(), None)])
        .await
        .unwrap();
    store::delete(&pool, ALICE, &vpc, &[("Name".into(), Some("other".into()))])
        .await
        .unwrap();
    store::delete(&pool, ALICE, &vpc, &[("k1".into(), Some(String::new()))])
        .await
        .unwrap();
    let left = store::describe(
        &pool,
        ALICE,
        std::slice::from_ref(&vpc),
        &["Name".into(), "k0".into()],
    )
    .await
    .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(
        store::describe(&pool, ALICE, &[], &[]).await.unwrap().len(),
        MAX_TAGS - 2
    );
    store::delete(&pool, ALICE, &vpc, &[]).await.unwrap();
    assert!(store::describe(&pool, ALICE, &[], &[])
        .await
        .unwrap()
        .is_empty());

    // A purge forgets any account's tags of the resources it removed.
    let instance = "i-0123456789abcdef0".to_string();
    store::put(&pool, BOB, &instance, &tags(&[("x", "y")]))
        .await
        .unwrap();
    store::forget(&pool, std::slice::from_ref(&instance))
        .await
        .unwrap();
    assert!(store::describe(&pool, BOB, &[], &[])
        .await
        .unwrap()
        .is_empty());

    // Invalid tags never reach the table.
    let error = store::put(&pool, ALICE, &vpc, &tags(&[("aws:x", "")]))
        .await
        .unwrap_err();
    assert!(matches!(
        error,
        TagError::Invalid("InvalidParameterValue", _)
    ));
}

/// A catalog with compute's and network's own tag tables (every migration before the tag
/// store's) keeps its tags after the tag store's migration, and the old tables are gone.
#[tokio::test]
async fn migration_moves_compute_and_network_tags() {
    let options = fresh_database_options().await.unwrap();
    let name = format!("kumo_tags_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect_with(&options).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    let pool = kumo_catalog::connect_options(options.clone().database(&name))
        .await
        .unwrap();
    let full = &kumo_catalog::MIGRATOR;
    let store_version = full
        .iter()
        .find(|m| m.description.contains("tags"))
        .unwrap()
        .version;
    let before = sqlx::migrate::Migrator {
        migrations: Cow::Owned(
            full.iter()
                .filter(|m| m.version < store_version)
                .cloned()
                .collect(),
        ),
        ..sqlx::migrate::Migrator::DEFAULT
    };
    before.run(&pool).await.unwrap();
    sqlx::query(
        "INSERT INTO compute.tags (resource_id, account_id, key, value)
         VALUES ('i-0123456789abcdef0', $1, 'Name', 'web'), ('key-0123456789abcdef0', $1, 'team', '')",
    )
    .bind(ALICE)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO network.tags (resource_id, account_id, key, value)
         VALUES ('vpc-0123456789abcdef0', $1, 'Name', 'main')",
    )
    .bind(BOB)
    .execute(&pool)
    .await
    .unwrap();
    full.run(&pool).await.unwrap();

    let alice = store::describe(&pool, ALICE, &[], &[]).await.unwrap();
    let moved: Vec<(&str, &str, &str)> = alice
        .iter()
        .map(|t| (t.resource_id.as_str(), t.key.as_str(), t.value.as_str()))
        .collect();
    assert_eq!(
        moved,
        [
            ("i-0123456789abcdef0", "Name", "web"),
            ("key-0123456789abcdef0", "team", "")
        ]
    );
    let bob = store::describe(&pool, BOB, &[], &[]).await.unwrap();
    assert_eq!(bob.len(), 1);
    assert_eq!(bob[0].resource_id, "vpc-0123456789abcdef0");
    let old_tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables
         WHERE table_name = 'tags' AND table_schema IN ('compute', 'network')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(old_tables, 0);
    pool.close().await;
    sqlx::query(&format!("DROP DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
}
