#![allow(clippy::unwrap_used)]
//! The private cluster starts, keeps data across restarts, and migrations are safe to
//! run from two processes at once.

use kumo_catalog::{connect_options, migrate, testing, Catalog};

#[tokio::test]
async fn concurrent_migrations_apply_once() {
    let options = testing::fresh_database_options().await.unwrap();
    // A fresh database already migrated from the template; reset the schema history to
    // make both runs race on every migration.
    let pool = connect_options(options.clone()).await.unwrap();
    let schemas: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace
         WHERE nspname NOT IN ('public', 'information_schema') AND nspname NOT LIKE 'pg\\_%'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for schema in schemas {
        sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
            .execute(&pool)
            .await
            .unwrap();
    }
    sqlx::query("DROP TABLE _sqlx_migrations")
        .execute(&pool)
        .await
        .unwrap();
    let a = connect_options(options.clone()).await.unwrap();
    let b = connect_options(options).await.unwrap();
    let (ra, rb) = tokio::join!(migrate(&a), migrate(&b));
    ra.unwrap();
    rb.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(applied as usize, kumo_catalog::MIGRATOR.iter().count());
}

#[tokio::test]
async fn private_cluster_keeps_data_across_restarts() {
    let state = tempfile::Builder::new()
        .prefix("kumo-cat-")
        .tempdir()
        .unwrap();
    let catalog = Catalog::open(None, state.path()).await.unwrap();
    assert!(catalog.is_private());
    sqlx::query("INSERT INTO identity.accounts (account_id, name) VALUES ('123456789012', 'kept')")
        .execute(&catalog.pool)
        .await
        .unwrap();
    catalog.shutdown().await;

    let catalog = Catalog::open(None, state.path()).await.unwrap();
    let name: String =
        sqlx::query_scalar("SELECT name FROM identity.accounts WHERE account_id = '123456789012'")
            .fetch_one(&catalog.pool)
            .await
            .unwrap();
    assert_eq!(name, "kept");
    catalog.shutdown().await;
}
