//! Operator-issued join tokens, shared by the services whose agents enrol (compute hosts,
//! storage nodes). Each service keeps its own table `(token_sha256, created_at,
//! expires_at)`; only the SHA-256 of a token is stored.

use chrono::{DateTime, Utc};
use kumo_common::digest::sha256_hex;
use kumo_common::JoinToken;
use sqlx::PgPool;

/// A new token `<prefix>-<40 random characters>`, valid for `ttl`, in `table` (a constant
/// such as `compute.join_tokens`, never caller input).
pub async fn create(
    pool: &PgPool,
    table: &'static str,
    prefix: &str,
    ttl: std::time::Duration,
) -> Result<JoinToken, sqlx::Error> {
    let token = format!("{prefix}-{}", kumo_common::ids::secret_string(40));
    let expires_at: DateTime<Utc> = sqlx::query_scalar(&format!(
        "INSERT INTO {table} (token_sha256, expires_at) VALUES ($1, now() + make_interval(secs => $2))
         RETURNING expires_at"
    ))
    .bind(sha256_hex(&token))
    .bind(ttl.as_secs_f64())
    .fetch_one(pool)
    .await?;
    Ok(JoinToken {
        join_token: token,
        expires_at,
    })
}

/// Whether `token` is in `table` and not expired.
pub async fn is_valid(
    pool: &PgPool,
    table: &'static str,
    token: &str,
) -> Result<bool, sqlx::Error> {
    let found: Option<i32> = sqlx::query_scalar(&format!(
        "SELECT 1 FROM {table} WHERE token_sha256 = $1 AND expires_at > now()"
    ))
    .bind(sha256_hex(token))
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}
