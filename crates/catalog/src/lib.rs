//! The catalog: one Postgres database shared by every service, a schema per service.
//!
//! [`Catalog::open`] connects to `DATABASE_URL` when one is given and otherwise starts a
//! private Postgres cluster ([`PrivatePostgres`]) in the state directory. Migrations from
//! `migrations/` are embedded and applied at start-up; sqlx takes a Postgres advisory lock
//! around them, so two processes starting at once apply each migration exactly once.
//!
//! Losing Postgres is survivable: the pool hands out connections for at most
//! [`ACQUIRE_TIMEOUT`], errors that mean "unreachable" ([`is_unavailable`]) answer 503,
//! a probe ([`CatalogHealth`]) logs the loss and the recovery once each, the private
//! cluster's supervisor restarts a dead postmaster, and the pool reconnects by itself.

pub mod health;
pub mod join_tokens;
pub mod private_postgres;
pub mod testing;

use std::path::Path;
use std::time::Duration;

pub use health::{is_unavailable, ping_within, CatalogHealth};
pub use private_postgres::{PrivatePostgres, PrivatePostgresOptions};
pub use sqlx;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
pub use sqlx::PgPool;

/// Every migration in the repository's `migrations/` folder, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("could not start the private Postgres: {0}")]
    PrivatePostgres(String),
    #[error("could not connect to the catalog: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("could not apply catalog migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("catalog error: {0}")]
    Database(#[from] sqlx::Error),
}

/// How long a request waits for a pooled connection before failing (with 503): short, so
/// that losing Postgres answers quickly instead of stalling every request.
pub const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// How long [`Catalog::shutdown`] waits for connections still in use to come back.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// The open catalog: a connection pool, and the private cluster when we started one.
pub struct Catalog {
    pub pool: PgPool,
    private: Option<PrivatePostgres>,
    health: CatalogHealth,
    probe: tokio::task::JoinHandle<()>,
}

impl Catalog {
    /// Connect to `database_url`, or start (or reuse) the private cluster under
    /// `state_dir/postgres`; then apply migrations.
    pub async fn open(database_url: Option<&str>, state_dir: &Path) -> Result<Self, CatalogError> {
        let (pool, private) = match database_url {
            Some(url) => (connect_url(url).await?, None),
            None => {
                let server = PrivatePostgres::start(PrivatePostgresOptions::durable(
                    state_dir.join("postgres"),
                ))?;
                server.wait_ready().await?;
                server.ensure_database("kumo").await?;
                let pool = connect_options(server.connect_options("kumo")).await?;
                (pool, Some(server))
            }
        };
        migrate(&pool).await?;
        let (health, probe) = CatalogHealth::spawn(pool.clone());
        Ok(Self {
            pool,
            private,
            health,
            probe,
        })
    }

    /// The background probe's view of the catalog (see [`health`]).
    pub fn health(&self) -> CatalogHealth {
        self.health.clone()
    }

    /// The private cluster, when we started one.
    pub fn private_postgres(&self) -> Option<&PrivatePostgres> {
        self.private.as_ref()
    }

    /// Is the catalog running on a private cluster we started?
    pub fn is_private(&self) -> bool {
        self.private.is_some()
    }

    /// Close the pool, then stop the private cluster (if any) cleanly. Each step is
    /// bounded: connections still in use after [`CLOSE_TIMEOUT`] are abandoned (Postgres
    /// ends their sessions when it stops), and [`PrivatePostgres::stop`] escalates to an
    /// immediate shutdown when a fast one takes too long.
    pub async fn shutdown(self) {
        self.probe.abort();
        if tokio::time::timeout(CLOSE_TIMEOUT, self.pool.close())
            .await
            .is_err()
        {
            tracing::warn!("catalog connections still busy at shutdown; not waiting for them");
        }
        if let Some(server) = self.private {
            // stop() waits for the server's processes: off the async workers.
            let _ = tokio::task::spawn_blocking(move || server.stop()).await;
        }
    }
}

/// A pool on a `postgres://` URL.
pub async fn connect_url(url: &str) -> Result<PgPool, CatalogError> {
    let options: PgConnectOptions = url.parse().map_err(CatalogError::Connect)?;
    connect_options(options).await
}

/// A pool on explicit connect options.
pub async fn connect_options(options: PgConnectOptions) -> Result<PgPool, CatalogError> {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(CatalogError::Connect)
}

/// Apply every pending migration (safe to call from several processes at once).
pub async fn migrate(pool: &PgPool) -> Result<(), CatalogError> {
    MIGRATOR.run(pool).await?;
    Ok(())
}

/// One round trip to the catalog (readiness checks).
pub async fn ping(pool: &PgPool) -> Result<(), CatalogError> {
    let _: i32 = sqlx::query_scalar("SELECT 1").fetch_one(pool).await?;
    Ok(())
}
