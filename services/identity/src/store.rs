//! The auth layer's credential store, backed by the catalog.

use std::time::Duration;

use async_trait::async_trait;
use kumo_auth::{AccessKeySecret, CredentialStore, JwtKey, StoreError};
use sqlx::PgPool;

use crate::crypto::MasterKey;
use crate::{access_keys, signing_keys};

#[derive(Clone)]
pub struct CatalogCredentials {
    pub pool: PgPool,
    pub master_key: MasterKey,
    pub token_ttl: Duration,
}

#[async_trait]
impl CredentialStore for CatalogCredentials {
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeySecret>, StoreError> {
        access_keys::lookup_secret(&self.pool, &self.master_key, access_key_id)
            .await
            .map_err(|e| StoreError(e.to_string()))
    }

    async fn jwt_key(&self, kid: &str) -> Result<Option<JwtKey>, StoreError> {
        signing_keys::verification_key(&self.pool, &self.master_key, kid, self.token_ttl)
            .await
            .map_err(|e| StoreError(e.to_string()))
    }
}
