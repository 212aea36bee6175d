//! JWT signing keys. The newest unretired key signs; rotation retires the others, which
//! keep verifying the tokens they signed until those expire, and are then deleted.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kumo_auth::{JwtKey, Principal};
use rand::RngCore;
use serde::Serialize;
use sqlx::PgPool;

use crate::crypto::MasterKey;
use crate::error::{IdentityError, Result};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SigningKeyInfo {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct SigningKeyRow {
    kid: String,
    secret_ciphertext: Vec<u8>,
    secret_nonce: Vec<u8>,
    created_at: DateTime<Utc>,
    retired_at: Option<DateTime<Utc>>,
}

impl SigningKeyRow {
    fn unseal(&self, master_key: &MasterKey) -> Result<JwtKey> {
        Ok(JwtKey {
            kid: self.kid.clone(),
            secret: master_key.open(&self.secret_ciphertext, &self.secret_nonce)?,
        })
    }
}

async fn insert(pool: &PgPool, master_key: &MasterKey) -> Result<JwtKey> {
    let mut secret = vec![0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    let kid = uuid::Uuid::new_v4().simple().to_string();
    let sealed = master_key.seal(&secret)?;
    sqlx::query("INSERT INTO identity.signing_keys (kid, secret_ciphertext, secret_nonce) VALUES ($1, $2, $3)")
        .bind(&kid)
        .bind(&sealed.ciphertext)
        .bind(&sealed.nonce)
        .execute(pool)
        .await?;
    Ok(JwtKey { kid, secret })
}

/// The key that signs new tokens, created on first use.
pub async fn active(pool: &PgPool, master_key: &MasterKey) -> Result<JwtKey> {
    let row = sqlx::query_as::<_, SigningKeyRow>(
        "SELECT kid, secret_ciphertext, secret_nonce, created_at, retired_at FROM identity.signing_keys
         WHERE retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    match row {
        Some(row) => row.unseal(master_key),
        None => insert(pool, master_key).await,
    }
}

/// A key that may verify a token: unretired, or retired less than one token lifetime ago.
pub async fn verification_key(
    pool: &PgPool,
    master_key: &MasterKey,
    kid: &str,
    token_ttl: Duration,
) -> Result<Option<JwtKey>> {
    let row = sqlx::query_as::<_, SigningKeyRow>(
        "SELECT kid, secret_ciphertext, secret_nonce, created_at, retired_at FROM identity.signing_keys
         WHERE kid = $1 AND (retired_at IS NULL OR retired_at > now() - make_interval(secs => $2))",
    )
    .bind(kid)
    .bind(token_ttl.as_secs_f64())
    .fetch_optional(pool)
    .await?;
    row.map(|r| r.unseal(master_key)).transpose()
}

/// Operators rotate: a new key signs from now on; old keys retire and are purged once no
/// token they signed can still be valid.
pub async fn rotate(
    pool: &PgPool,
    master_key: &MasterKey,
    caller: &Principal,
    token_ttl: Duration,
) -> Result<SigningKeyInfo> {
    if !caller.is_operator() {
        return Err(IdentityError::Forbidden(
            "only operators can rotate signing keys".into(),
        ));
    }
    let new_key = insert(pool, master_key).await?;
    sqlx::query("UPDATE identity.signing_keys SET retired_at = now() WHERE retired_at IS NULL AND kid <> $1")
        .bind(&new_key.kid)
        .execute(pool)
        .await?;
    sqlx::query(
        "DELETE FROM identity.signing_keys WHERE retired_at < now() - make_interval(secs => $1)",
    )
    .bind(token_ttl.as_secs_f64() + 60.0)
    .execute(pool)
    .await?;
    crate::store::changed();
    tracing::info!(kid = %new_key.kid, "JWT signing key rotated");
    let keys = list(pool, caller).await?;
    keys.into_iter()
        .find(|k| k.kid == new_key.kid)
        .ok_or_else(|| IdentityError::NotFound("new signing key vanished".into()))
}

pub async fn list(pool: &PgPool, caller: &Principal) -> Result<Vec<SigningKeyInfo>> {
    if !caller.is_operator() {
        return Err(IdentityError::Forbidden(
            "only operators can list signing keys".into(),
        ));
    }
    let rows = sqlx::query_as::<_, SigningKeyRow>(
        "SELECT kid, secret_ciphertext, secret_nonce, created_at, retired_at FROM identity.signing_keys
         ORDER BY created_at, kid",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| SigningKeyInfo {
            kid: r.kid,
            created_at: r.created_at,
            retired_at: r.retired_at,
        })
        .collect())
}
