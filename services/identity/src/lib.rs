//! Identity service: accounts (tenants), users with roles, access keys, password login
//! issuing short-lived JWTs, and rotatable JWT signing keys. Native JSON API under `/v1/`
//! ([`api`]); STS and IAM in AWS Query form ([`aws`]). Domain logic lives in plain
//! functions per resource that tests call directly.

pub mod access_keys;
pub mod accounts;
pub mod api;
pub mod aws;
pub mod bootstrap;
pub mod crypto;
pub mod error;
pub mod login;
pub mod passwords;
pub mod presign;
pub mod sessions;
pub mod signing_keys;
pub mod store;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

pub use crypto::MasterKey;
pub use error::IdentityError;
use kumo_auth::CredentialStore;
use kumo_common::service::Started;
use sqlx::PgPool;

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    /// Lifetime of a login token.
    pub token_ttl: Duration,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            token_ttl: Duration::from_secs(15 * 60),
        }
    }
}

/// The identity service's state: the catalog pool, the master key and the credential
/// cache the auth layer reads through.
#[derive(Clone)]
pub struct Identity {
    pub pool: PgPool,
    pub master_key: MasterKey,
    pub config: Arc<IdentityConfig>,
    pub credentials: store::CatalogCredentials,
}

impl Identity {
    /// Inside a Tokio runtime this also starts the credential cache's listener.
    pub fn new(pool: PgPool, master_key: MasterKey, config: IdentityConfig) -> Self {
        let credentials =
            store::CatalogCredentials::new(pool.clone(), master_key.clone(), config.token_ttl);
        Self {
            pool,
            master_key,
            config: Arc::new(config),
            credentials,
        }
    }

    /// The credential store the auth layer uses (every call shares one cache).
    pub fn credential_store(&self) -> Arc<dyn CredentialStore> {
        Arc::new(self.credentials.clone())
    }

    /// The native API routes.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }

    /// Start this service: its routes. It has no loop of its own: the credential cache's
    /// listener belongs to the auth layer of every process (see
    /// [`store::CatalogCredentials::take_listener`]).
    pub fn start(&self) -> Started {
        Started::routes(self.router())
    }
}
