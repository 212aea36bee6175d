//! Access keys (`AKIA…` id + 40-character secret) for SigV4. The secret is shown once, at
//! creation; the catalog keeps it sealed under the master key because checking a SigV4
//! signature needs the plaintext.

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use serde::Serialize;
use sqlx::PgPool;

use crate::crypto::MasterKey;
use crate::error::{IdentityError, Result};
use crate::users::{self, UserRow};

/// IAM allows two access keys per user.
pub const MAX_KEYS_PER_USER: i64 = 2;

/// The `status` column (a CHECKed TEXT), spelled as IAM spells it. An inactive key is
/// refused at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "text")]
pub enum AccessKeyStatus {
    Active,
    Inactive,
}

impl AccessKeyStatus {
    /// `Active` or `Inactive`, as IAM spells them.
    pub fn parse(status: &str) -> Result<Self> {
        match status {
            "Active" => Ok(Self::Active),
            "Inactive" => Ok(Self::Inactive),
            _ => Err(IdentityError::InvalidInput(format!(
                "invalid access key status {:?}: expected Active or Inactive",
                status.chars().take(32).collect::<String>()
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Inactive => "Inactive",
        }
    }
}

impl std::fmt::Display for AccessKeyStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AccessKey {
    pub access_key_id: String,
    pub account_id: String,
    pub user_name: String,
    /// `Active` or `Inactive`.
    #[schema(value_type = String)]
    pub status: AccessKeyStatus,
    pub created_at: DateTime<Utc>,
}

/// A newly created key: the only time the secret is returned.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewAccessKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
    pub user_name: String,
    #[schema(value_type = String)]
    pub status: AccessKeyStatus,
    pub created_at: DateTime<Utc>,
}

pub fn validate_access_key_id(id: &str) -> Result<()> {
    let ok = id.len() == 20
        && id.starts_with("AKIA")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput(format!(
            "invalid access key id {id:?}: expected AKIA followed by 16 characters"
        )))
    }
}

/// Users manage their own keys (readers only look); admins and operators manage anyone's
/// in their reach. Returns the target user.
async fn authorize(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
    write: bool,
) -> Result<UserRow> {
    users::validate_user_name(user_name)?;
    crate::accounts::get(pool, caller, account_id).await?;
    let is_self = caller.account_id == account_id && caller.user_name == user_name;
    let allowed =
        caller.role.can_administer_account() || (is_self && (!write || caller.role.can_write()));
    if !allowed {
        return Err(IdentityError::Forbidden(format!(
            "role {} cannot manage the access keys of user {user_name:?}",
            caller.role
        )));
    }
    users::fetch_row(pool, account_id, user_name)
        .await?
        .ok_or_else(|| users::not_found(account_id, user_name))
}

/// Create a key for a user, without authorization checks (bootstrap and the checked path).
pub async fn insert(pool: &PgPool, master_key: &MasterKey, user: &UserRow) -> Result<NewAccessKey> {
    let access_key_id = kumo_common::ids::upper_base32_id("AKIA", 16);
    let secret_access_key = kumo_common::ids::secret_string(40);
    let sealed = master_key.seal(secret_access_key.as_bytes())?;
    let mut tx = pool.begin().await?;
    // Serialise key creation per user so the two-key limit holds under concurrency.
    sqlx::query("SELECT 1 FROM identity.users WHERE user_id = $1 FOR UPDATE")
        .bind(&user.user_id)
        .execute(&mut *tx)
        .await?;
    // The console's own keys do not count.
    let count: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM identity.access_keys WHERE user_id = $1 AND purpose = 'user'",
    )
    .bind(&user.user_id)
    .fetch_one(&mut *tx)
    .await?;
    if count >= MAX_KEYS_PER_USER {
        return Err(IdentityError::LimitExceeded(format!(
            "Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS_PER_USER}"
        )));
    }
    let created_at: DateTime<Utc> = sqlx::query_scalar(
        "INSERT INTO identity.access_keys (access_key_id, user_id, account_id, secret_ciphertext, secret_nonce)
         VALUES ($1, $2, $3, $4, $5) RETURNING created_at",
    )
    .bind(&access_key_id)
    .bind(&user.user_id)
    .bind(&user.account_id)
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::store::changed();
    tracing::info!(%access_key_id, account_id = %user.account_id, user_name = %user.user_name, "access key created");
    Ok(NewAccessKey {
        access_key_id,
        secret_access_key,
        account_id: user.account_id.clone(),
        user_name: user.user_name.clone(),
        status: AccessKeyStatus::Active,
        created_at,
    })
}

pub async fn create(
    pool: &PgPool,
    master_key: &MasterKey,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
) -> Result<NewAccessKey> {
    let user = authorize(pool, caller, account_id, user_name, true).await?;
    insert(pool, master_key, &user).await
}

pub async fn list(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
) -> Result<Vec<AccessKey>> {
    let user = authorize(pool, caller, account_id, user_name, false).await?;
    Ok(sqlx::query_as::<_, AccessKey>(
        "SELECT k.access_key_id, k.account_id, u.user_name, k.status, k.created_at
         FROM identity.access_keys k JOIN identity.users u USING (user_id)
         WHERE k.user_id = $1 AND k.purpose = 'user' ORDER BY k.created_at, k.access_key_id",
    )
    .bind(&user.user_id)
    .fetch_all(pool)
    .await?)
}

pub async fn delete(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
    access_key_id: &str,
) -> Result<()> {
    validate_access_key_id(access_key_id)?;
    let user = authorize(pool, caller, account_id, user_name, true).await?;
    let deleted =
        sqlx::query("DELETE FROM identity.access_keys WHERE access_key_id = $1 AND user_id = $2 AND purpose = 'user'")
            .bind(access_key_id)
            .bind(&user.user_id)
            .execute(pool)
            .await?;
    crate::store::changed();
    if deleted.rows_affected() == 0 {
        return Err(key_not_found(access_key_id));
    }
    tracing::info!(%access_key_id, %account_id, %user_name, "access key deleted");
    Ok(())
}

fn key_not_found(access_key_id: &str) -> IdentityError {
    IdentityError::NotFound(format!(
        "The Access Key with id {access_key_id} cannot be found."
    ))
}

/// Activate or deactivate a key (IAM's UpdateAccessKey). An inactive key is refused at once.
pub async fn set_status(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
    access_key_id: &str,
    status: AccessKeyStatus,
) -> Result<AccessKey> {
    validate_access_key_id(access_key_id)?;
    let user = authorize(pool, caller, account_id, user_name, true).await?;
    let key = sqlx::query_as::<_, AccessKey>(
        "UPDATE identity.access_keys k SET status = $3 FROM identity.users u
         WHERE k.access_key_id = $1 AND k.user_id = $2 AND u.user_id = k.user_id
           AND k.purpose = 'user'
         RETURNING k.access_key_id, k.account_id, u.user_name, k.status, k.created_at",
    )
    .bind(access_key_id)
    .bind(&user.user_id)
    .bind(status)
    .fetch_optional(pool)
    .await?;
    crate::store::changed();
    let key = key.ok_or_else(|| key_not_found(access_key_id))?;
    tracing::info!(%access_key_id, %account_id, %user_name, %status, "access key status changed");
    Ok(key)
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    access_key_id: String,
    secret_ciphertext: Vec<u8>,
    secret_nonce: Vec<u8>,
    account_id: String,
    user_id: String,
    status: AccessKeyStatus,
    expires_at: Option<DateTime<Utc>>,
}

/// An access key as the credential cache keeps it: secret unsealed, owner by id (the
/// owner's name, role and state are looked up, and cached, separately).
#[derive(Clone)]
pub struct KeyEntry {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
    pub user_id: String,
    pub active: bool,
    /// Console keys expire; users' own keys do not.
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for KeyEntry {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEntry")
            .field("access_key_id", &self.access_key_id)
            .field("user_id", &self.user_id)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// The key with this id (active or not), secret unsealed, for the credential store.
pub async fn fetch_entry(
    pool: &PgPool,
    master_key: &MasterKey,
    access_key_id: &str,
) -> Result<Option<KeyEntry>> {
    let row = sqlx::query_as::<_, KeyRow>(
        "SELECT access_key_id, secret_ciphertext, secret_nonce, account_id, user_id, status,
                expires_at
         FROM identity.access_keys WHERE access_key_id = $1",
    )
    .bind(access_key_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let secret = master_key.open(&row.secret_ciphertext, &row.secret_nonce)?;
    Ok(Some(KeyEntry {
        access_key_id: row.access_key_id,
        secret_access_key: String::from_utf8(secret)
            .map_err(|_| IdentityError::Crypto("access key secret is not UTF-8".into()))?,
        account_id: row.account_id,
        user_id: row.user_id,
        active: row.status == AccessKeyStatus::Active,
        expires_at: row.expires_at,
    }))
}
