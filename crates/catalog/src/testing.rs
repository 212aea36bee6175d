//! Test support: one private cluster per test process, a fresh database per test.
//!
//! The first call starts a throw-away cluster (or uses `KUMO_TEST_DATABASE_URL`), creates a
//! template database with every migration applied, and each test then gets its own
//! database cloned from that template — a copy is much faster than migrating anew.

use std::sync::OnceLock;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgPool};
use tokio::sync::OnceCell;

use crate::private_postgres::{PrivatePostgres, PrivatePostgresOptions};
use crate::{connect_options, migrate, CatalogError};

struct TestCluster {
    /// Where to connect to administer databases.
    admin: PgConnectOptions,
    template: String,
}

static CLUSTER: OnceCell<TestCluster> = OnceCell::const_new();
// Lives until the process exits; the supervisor then stops Postgres and deletes its files.
static SERVER: OnceLock<PrivatePostgres> = OnceLock::new();

async fn cluster() -> Result<&'static TestCluster, CatalogError> {
    CLUSTER
        .get_or_try_init(|| async {
            let admin = match std::env::var("KUMO_TEST_DATABASE_URL") {
                Ok(url) => url
                    .parse::<PgConnectOptions>()
                    .map_err(CatalogError::Connect)?,
                Err(_) => {
                    let dir = tempfile::Builder::new()
                        .prefix("kumo-test-pg-")
                        .tempdir()
                        .map_err(|e| CatalogError::PrivatePostgres(e.to_string()))?
                        .keep();
                    let server = PrivatePostgres::start(PrivatePostgresOptions {
                        dir,
                        ephemeral: true,
                        remove_on_stop: true,
                    })?;
                    server.wait_ready().await?;
                    let admin = server.connect_options("postgres");
                    let _ = SERVER.set(server);
                    admin
                }
            };
            // Unique per process so concurrent test processes on a shared server don't collide.
            let template = format!("kumo_template_{}", std::process::id());
            let mut conn = sqlx::PgConnection::connect_with(&admin)
                .await
                .map_err(CatalogError::Connect)?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {template}"))
                .execute(&mut conn)
                .await?;
            sqlx::query(&format!("CREATE DATABASE {template}"))
                .execute(&mut conn)
                .await?;
            let _ = conn.close().await;
            let pool = connect_options(admin.clone().database(&template)).await?;
            migrate(&pool).await?;
            pool.close().await;
            Ok(TestCluster { admin, template })
        })
        .await
}

/// A fresh, fully migrated database of its own for one test.
pub async fn fresh_database() -> Result<PgPool, CatalogError> {
    let options = fresh_database_options().await?;
    connect_options(options).await
}

/// Connect options for a fresh, fully migrated database (for tests that start processes).
pub async fn fresh_database_options() -> Result<PgConnectOptions, CatalogError> {
    let cluster = cluster().await?;
    let name = format!("kumo_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect_with(&cluster.admin)
        .await
        .map_err(CatalogError::Connect)?;
    sqlx::query(&format!(
        "CREATE DATABASE {name} TEMPLATE {}",
        cluster.template
    ))
    .execute(&mut conn)
    .await?;
    let _ = conn.close().await;
    Ok(cluster.admin.clone().database(&name))
}

/// A private cluster of its own in `dir`, for tests that restart or share it across processes.
pub fn private_cluster_in(dir: std::path::PathBuf) -> Result<PrivatePostgres, CatalogError> {
    PrivatePostgres::start(PrivatePostgresOptions {
        dir,
        ephemeral: true,
        remove_on_stop: false,
    })
}

/// A connection URL for `options` (socket path as the `host` parameter), for child processes.
pub fn url_for(options: &PgConnectOptions) -> String {
    let socket = options.get_socket().map(|p| p.display().to_string());
    let database = options.get_database().unwrap_or("postgres");
    match socket {
        Some(dir) => format!(
            "postgres://{}@localhost/{database}?host={dir}",
            options.get_username()
        ),
        None => format!(
            "postgres://{}@{}:{}/{database}",
            options.get_username(),
            options.get_host(),
            options.get_port()
        ),
    }
}
