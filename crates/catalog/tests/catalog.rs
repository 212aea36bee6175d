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

/// Errors about the request or the data are not "unavailable" (they stay 4xx/500).
#[tokio::test]
async fn data_errors_are_not_unavailable() {
    let pool = testing::fresh_database().await.unwrap();
    let bad_cast = sqlx::query_scalar::<_, i32>("SELECT 'x'::int")
        .fetch_one(&pool)
        .await
        .unwrap_err();
    assert!(!kumo_catalog::is_unavailable(&bad_cast), "{bad_cast:?}");
    let nul = sqlx::query_scalar::<_, String>("SELECT $1")
        .bind("a\0b")
        .fetch_one(&pool)
        .await
        .unwrap_err();
    assert!(!kumo_catalog::is_unavailable(&nul), "{nul:?}");
    kumo_catalog::ping_within(&pool, std::time::Duration::from_secs(5))
        .await
        .unwrap();
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

/// kill -9 of the private postmaster: queries fail as "unavailable" (503 material), the
/// supervisor restarts Postgres (over the stale `postmaster.pid`), and the same pool
/// answers again without being reopened; nothing committed is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_postmaster_is_restarted_and_the_pool_recovers() {
    let state = tempfile::Builder::new()
        .prefix("kumo-cat-")
        .tempdir()
        .unwrap();
    let catalog = Catalog::open(None, state.path()).await.unwrap();
    let server = catalog.private_postgres().unwrap();
    sqlx::query("INSERT INTO identity.accounts (account_id, name) VALUES ('123456789012', 'kept')")
        .execute(&catalog.pool)
        .await
        .unwrap();
    let first_pid = server.postmaster_pid().unwrap();
    let started = std::time::Instant::now();
    let query = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT name FROM identity.accounts WHERE account_id = '123456789012'",
        )
        .fetch_one(&catalog.pool)
        .await
    };

    // Kill the postmaster (and any successor the supervisor starts meanwhile) until a
    // query has failed; every failure must be classified as "unavailable".
    let mut killed = Vec::new();
    let mut failures = Vec::new();
    for _ in 0..600 {
        if let Some(pid) = server.postmaster_pid() {
            if !killed.contains(&pid) {
                // SAFETY: kill(2) has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                killed.push(pid);
            }
        }
        if let Err(e) = query().await {
            failures.push(e);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        !failures.is_empty(),
        "no query failed after killing Postgres"
    );
    let failed_after = started.elapsed();

    // Now leave it alone: the supervisor brings it back and the pool reconnects.
    let mut recovered = None;
    for _ in 0..1200 {
        match query().await {
            Ok(name) => {
                recovered = Some(name);
                break;
            }
            Err(e) => failures.push(e),
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        recovered.as_deref(),
        Some("kept"),
        "the catalog never came back"
    );
    eprintln!(
        "killed {} postmaster(s); first failed query after {:.2} s, answers again after {:.2} s",
        killed.len(),
        failed_after.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    for e in &failures {
        assert!(
            kumo_catalog::is_unavailable(e),
            "a failure not classified as unavailable: {e:?}"
        );
    }
    // The supervisor reported the death (with its signal) and the restart.
    for _ in 0..600 {
        if server.starts() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        server.starts() >= 2,
        "the supervisor did not report a restart"
    );
    assert!(
        server
            .last_exit()
            .is_some_and(|reason| reason.contains("SIGKILL")),
        "{:?}",
        server.last_exit()
    );
    let new_pid = server.postmaster_pid().unwrap();
    assert_ne!(new_pid, first_pid);
    assert!(!killed.contains(&new_pid));
    // The probe sees it back too (it runs every second).
    let health = catalog.health();
    for _ in 0..600 {
        if health.is_up() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(health.is_up());

    // A clean stop still works after a restart, and leaves no server behind.
    catalog.shutdown().await;
    let pid_file = state.path().join("postgres/data/postmaster.pid");
    assert!(!pid_file.exists(), "Postgres still running after shutdown");
}
