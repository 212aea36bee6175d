//! `POST /v1/presign`: presigned S3 URLs for the web console, so that a browser uploads and
//! downloads straight to and from S3 (with progress, multipart for big files) without ever
//! holding a secret.
//!
//! The URLs are signed with a **console key**: an access key of the caller's own user that
//! identity keeps for this purpose. It lives 75 minutes, is reused while it has enough life
//! left, is never listed (native API, IAM ListAccessKeys), does not count against the
//! two-key limit, and is refused by the credential store once expired. S3 authorizes the
//! request when the URL is used, as for any other signed request of that user.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use kumo_auth::{sigv4, AuthMethod, Caller, Principal, DEFAULT_REGION};
use kumo_common::{ApiErrorBody, ValidJson};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::crypto::MasterKey;
use crate::error::{IdentityError, Result};
use crate::users::{self, UserRow};
use crate::Identity;

/// How long a new console key lives: longer than the longest URL plus the reuse margin, so
/// that a fresh key serves every request for a while (at an hour, each hour-long URL would
/// make a new key, and a client could pile up rows at will).
pub const CONSOLE_KEY_LIFETIME: Duration = Duration::minutes(75);
/// A console key is reused while it has at least this much life left (and at least as much
/// as the URL asked for).
pub const CONSOLE_KEY_MIN_LEFT: Duration = Duration::minutes(10);
/// The longest a console URL may stay valid, and the default.
pub const MAX_EXPIRES_SECS: u64 = 3600;
pub const DEFAULT_EXPIRES_SECS: u64 = 900;

/// The HTTP methods the console presigns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum PresignMethod {
    Get,
    Put,
    Post,
    Delete,
    Head,
}

impl PresignMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Put => "PUT",
            Self::Post => "POST",
            Self::Delete => "DELETE",
            Self::Head => "HEAD",
        }
    }

    fn writes(self) -> bool {
        !matches!(self, Self::Get | Self::Head)
    }
}

/// What to presign: one S3 request, path style.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresignRequest {
    pub method: PresignMethod,
    pub bucket: String,
    /// The object key, unencoded; empty for a bucket-level request (`?versions`, …).
    #[serde(default)]
    pub key: String,
    /// The S3 subresource and parameters, unencoded, as `[name, value]` pairs: e.g.
    /// `[["uploads", ""]]`, `[["partNumber", "3"], ["uploadId", "…"]]`.
    #[serde(default)]
    #[schema(value_type = Vec<Vec<String>>)]
    pub query: Vec<(String, String)>,
    /// 1 to 3600; default 900.
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PresignedUrl {
    /// Path and query on this endpoint: `/<bucket>/<key>?…&X-Amz-Signature=…`.
    pub url: String,
    pub expires_at: DateTime<Utc>,
}

fn invalid(message: impl Into<String>) -> IdentityError {
    IdentityError::InvalidInput(message.into())
}

fn validate(request: &PresignRequest) -> Result<u64> {
    let bucket = &request.bucket;
    if bucket.is_empty()
        || bucket.len() > 63
        || !bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return Err(invalid(format!(
            "invalid bucket name {}: 1 to 63 lowercase letters, digits, '-' or '.'",
            crate::error::shown(bucket)
        )));
    }
    if request.key.len() > 1024 || request.key.contains('\0') {
        return Err(invalid(
            "the object key must be at most 1024 bytes, without NUL",
        ));
    }
    if request.query.len() > 16 {
        return Err(invalid("at most 16 query parameters"));
    }
    for (name, value) in &request.query {
        if name.is_empty() || name.len() > 64 || value.len() > 1024 {
            return Err(invalid(
                "query parameter names are 1 to 64 bytes, values at most 1024",
            ));
        }
        if name.to_ascii_lowercase().starts_with("x-amz-") {
            return Err(invalid(format!(
                "the query parameter {} is set by the signer",
                crate::error::shown(name)
            )));
        }
    }
    let expires = request.expires_in_secs.unwrap_or(DEFAULT_EXPIRES_SECS);
    if !(1..=MAX_EXPIRES_SECS).contains(&expires) {
        return Err(invalid(format!(
            "expires_in_secs must be 1 to {MAX_EXPIRES_SECS}"
        )));
    }
    Ok(expires)
}

/// Sign `request` for `caller` with its console key; `host` is the Host the browser sends.
pub async fn presign(
    identity: &Identity,
    caller: &Principal,
    host: &str,
    request: &PresignRequest,
) -> Result<PresignedUrl> {
    if !matches!(caller.method, AuthMethod::Bearer | AuthMethod::Session) {
        return Err(IdentityError::Forbidden(
            "presigned URLs are for signed-in users (a session or bearer token); with an access key, presign locally".into(),
        ));
    }
    let expires = validate(request)?;
    if request.method.writes() && !caller.role.can_write() {
        return Err(IdentityError::Forbidden(format!(
            "role {} may only read: it cannot presign {}",
            caller.role,
            request.method.as_str()
        )));
    }
    if host.is_empty() {
        return Err(invalid("the request has no Host header to sign for"));
    }
    let user = users::fetch_row(&identity.pool, &caller.account_id, &caller.user_name)
        .await?
        .filter(|u| u.user_id == caller.user_id)
        .ok_or_else(|| users::not_found(&caller.account_id, &caller.user_name))?;
    // `expires` is at most an hour, so it fits.
    let wanted = Duration::seconds(expires as i64);
    let key = console_key(&identity.pool, &identity.master_key, &user, wanted).await?;
    let now = Utc::now();
    let url = sigv4::presign_s3(
        request.method.as_str(),
        &request.bucket,
        &request.key,
        &request.query,
        host,
        &key.access_key_id,
        &key.secret_access_key,
        DEFAULT_REGION,
        now,
        expires,
    );
    Ok(PresignedUrl {
        url,
        expires_at: now + wanted,
    })
}

/// A console key of `user` good for at least `wanted` more (and [`CONSOLE_KEY_MIN_LEFT`]):
/// the newest one if it is, else a new one; expired ones are deleted on the way.
pub async fn console_key(
    pool: &PgPool,
    master_key: &MasterKey,
    user: &UserRow,
    wanted: Duration,
) -> Result<ConsoleKey> {
    let needed = wanted.max(CONSOLE_KEY_MIN_LEFT) + Duration::seconds(30);
    let mut tx = pool.begin().await?;
    // One caller at a time per user, so concurrent uploads share one new key.
    sqlx::query("SELECT 1 FROM identity.users WHERE user_id = $1 FOR UPDATE")
        .bind(&user.user_id)
        .execute(&mut *tx)
        .await?;
    let pruned = sqlx::query(
        "DELETE FROM identity.access_keys
         WHERE user_id = $1 AND purpose = 'console' AND expires_at < now()",
    )
    .bind(&user.user_id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let reusable: Option<(String, Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT access_key_id, secret_ciphertext, secret_nonce FROM identity.access_keys
         WHERE user_id = $1 AND purpose = 'console' AND status = 'Active'
           AND expires_at > now() + $2
         ORDER BY expires_at DESC LIMIT 1",
    )
    .bind(&user.user_id)
    .bind(needed)
    .fetch_optional(&mut *tx)
    .await?;
    let key = match reusable {
        Some((access_key_id, ciphertext, nonce)) => {
            let secret = master_key.open(&ciphertext, &nonce)?;
            ConsoleKey {
                access_key_id,
                secret_access_key: String::from_utf8(secret)
                    .map_err(|_| IdentityError::Crypto("access key secret is not UTF-8".into()))?,
            }
        }
        None => {
            let access_key_id = kumo_common::ids::upper_base32_id("AKIA", 16);
            let secret_access_key = kumo_common::ids::secret_string(40);
            let sealed = master_key.seal(secret_access_key.as_bytes())?;
            sqlx::query(
                "INSERT INTO identity.access_keys
                     (access_key_id, user_id, account_id, secret_ciphertext, secret_nonce,
                      purpose, expires_at)
                 VALUES ($1, $2, $3, $4, $5, 'console', now() + $6)",
            )
            .bind(&access_key_id)
            .bind(&user.user_id)
            .bind(&user.account_id)
            .bind(&sealed.ciphertext)
            .bind(&sealed.nonce)
            .bind(CONSOLE_KEY_LIFETIME)
            .execute(&mut *tx)
            .await?;
            tracing::info!(%access_key_id, account_id = %user.account_id, user_name = %user.user_name, "console key created");
            ConsoleKey {
                access_key_id,
                secret_access_key,
            }
        }
    };
    tx.commit().await?;
    if pruned > 0 {
        crate::store::changed();
    }
    Ok(key)
}

/// Delete the console keys of a user whose tokens were all just revoked (signed out
/// everywhere; password or role changed; disabled): the URLs presigned for its sessions,
/// which may have been a thief's, stop working with them. The next presign makes a new key.
pub async fn forget_console_keys(pool: &PgPool, account_id: &str, user_name: &str) -> Result<()> {
    let deleted = sqlx::query(
        "DELETE FROM identity.access_keys k USING identity.users u
         WHERE k.user_id = u.user_id AND k.purpose = 'console'
           AND u.account_id = $1 AND u.user_name = $2",
    )
    .bind(account_id)
    .bind(user_name)
    .execute(pool)
    .await?
    .rows_affected();
    if deleted > 0 {
        crate::store::changed();
        tracing::info!(%account_id, %user_name, deleted, "console keys deleted with the user's tokens");
    }
    Ok(())
}

/// A console key's id and secret.
pub struct ConsoleKey {
    pub access_key_id: String,
    pub secret_access_key: String,
}

#[utoipa::path(post, path = "/v1/presign", tag = "identity", request_body = PresignRequest,
    responses((status = 200, body = PresignedUrl,
               description = "a path-style SigV4 presigned S3 URL on this endpoint (UNSIGNED-PAYLOAD)"),
              (status = 400, body = ApiErrorBody), (status = 401, body = ApiErrorBody),
              (status = 403, body = ApiErrorBody)))]
pub(crate) async fn presign_handler(
    State(identity): State<Identity>,
    Caller(caller): Caller,
    headers: HeaderMap,
    ValidJson(request): ValidJson<PresignRequest>,
) -> Result<Json<PresignedUrl>> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    Ok(Json(presign(&identity, &caller, host, &request).await?))
}
