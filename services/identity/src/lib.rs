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
pub mod signing_keys;
pub mod store;
pub mod users;

use std::sync::Arc;
use std::time::Duration;

pub use crypto::MasterKey;
pub use error::IdentityError;
use kumo_auth::CredentialStore;
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

/// The identity service's state: the catalog pool and the master key.
#[derive(Clone)]
pub struct Identity {
    pub pool: PgPool,
    pub master_key: MasterKey,
    pub config: Arc<IdentityConfig>,
}

impl Identity {
    pub fn new(pool: PgPool, master_key: MasterKey, config: IdentityConfig) -> Self {
        Self {
            pool,
            master_key,
            config: Arc::new(config),
        }
    }

    /// The credential store the auth layer uses.
    pub fn credential_store(&self) -> Arc<dyn CredentialStore> {
        Arc::new(store::CatalogCredentials {
            pool: self.pool.clone(),
            master_key: self.master_key.clone(),
            token_ttl: self.config.token_ttl,
        })
    }

    /// The native API routes.
    pub fn router(&self) -> axum::Router {
        api::router(self.clone())
    }
}
