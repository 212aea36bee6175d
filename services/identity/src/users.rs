//! Users within an account, with one role each and an optional password (argon2).

use chrono::{DateTime, Utc};
use kumo_auth::{Principal, Role, UserStatus};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::accounts;
use crate::error::{IdentityError, Result};
use crate::passwords;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct User {
    /// Stable id (`AIDA…`), as IAM's UserId.
    pub user_id: String,
    pub account_id: String,
    pub user_name: String,
    pub role: Role,
    /// IAM-style ARN, `arn:aws:iam::<account>:user/<name>`.
    pub arn: String,
    /// A disabled user can neither log in nor use its tokens or access keys.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
/// A user row as stored (with the password hash); not for API output.
pub struct UserRow {
    pub user_id: String,
    pub account_id: String,
    pub user_name: String,
    pub role: Role,
    pub password_hash: Option<String>,
    pub enabled: bool,
    /// Tokens issued under another generation are refused.
    pub token_generation: i64,
    pub created_at: DateTime<Utc>,
}

impl UserRow {
    pub fn into_user(self) -> User {
        User {
            arn: format!("arn:aws:iam::{}:user/{}", self.account_id, self.user_name),
            user_id: self.user_id,
            account_id: self.account_id,
            user_name: self.user_name,
            role: self.role,
            enabled: self.enabled,
            created_at: self.created_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// 1–64 characters of letters, digits and `+=,.@_-`; unique within the account.
    pub user_name: String,
    pub role: Role,
    /// Optional; 8–256 characters. Without one the user signs in only with access keys.
    #[serde(default)]
    pub password: Option<String>,
}

/// A change to a user. Changing the role or the password, or disabling the user, signs the
/// user out everywhere: every login token issued before is refused from then on (the
/// caller's own included when it changes its own password).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub password: Option<String>,
    /// `false` disables the user at once (tokens and access keys refused); admins only.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// IAM's user-name rule, `[\w+=,.@-]+`, 1 to 64 characters (ASCII letters and digits).
pub fn validate_user_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+=,.@_-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput(format!(
            "invalid user name {}: use 1 to 64 letters, digits or +=,.@_-",
            crate::error::shown(name)
        )))
    }
}

const USER_COLUMNS: &str =
    "user_id, account_id, user_name, role, password_hash, enabled, token_generation, created_at";

/// May `caller` manage the users and keys of `account_id`?
fn require_admin_of(caller: &Principal, account_id: &str) -> Result<()> {
    if !caller.may_access_account(account_id) {
        return Err(accounts::not_found(account_id));
    }
    if !caller.role.can_administer_account() {
        return Err(IdentityError::Forbidden(format!(
            "role {} cannot manage users; an admin of the account or an operator can",
            caller.role
        )));
    }
    Ok(())
}

async fn require_account(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
) -> Result<accounts::Account> {
    accounts::get(pool, caller, account_id).await
}

/// Insert a user (no authorization check).
pub async fn insert(
    pool: &PgPool,
    account_id: &str,
    user_name: &str,
    role: Role,
    password: Option<&str>,
) -> Result<User> {
    validate_user_name(user_name)?;
    let password_hash = match password {
        Some(p) => Some(passwords::validate_and_hash(p).await?),
        None => None,
    };
    let user_id = kumo_common::ids::upper_base32_id("AIDA", 17);
    let row = sqlx::query_as::<_, UserRow>(&format!(
        "INSERT INTO identity.users (user_id, account_id, user_name, role, password_hash)
         VALUES ($1, $2, $3, $4, $5) RETURNING {USER_COLUMNS}"
    ))
    .bind(&user_id)
    .bind(account_id)
    .bind(user_name)
    .bind(role)
    .bind(password_hash)
    .fetch_one(pool)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => IdentityError::AlreadyExists(
            format!("a user named {user_name:?} already exists in account {account_id}"),
        ),
        other => other.into(),
    })?;
    crate::store::changed();
    Ok(row.into_user())
}

pub async fn create(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    input: &CreateUser,
) -> Result<User> {
    require_admin_of(caller, account_id)?;
    let account = require_account(pool, caller, account_id).await?;
    if input.role == Role::Operator && !(caller.is_operator() && account.is_operator) {
        return Err(IdentityError::Forbidden(
            "only operators can create operator users, and only in the operator account".into(),
        ));
    }
    insert(
        pool,
        account_id,
        &input.user_name,
        input.role,
        input.password.as_deref(),
    )
    .await
}

pub async fn list(pool: &PgPool, caller: &Principal, account_id: &str) -> Result<Vec<User>> {
    require_account(pool, caller, account_id).await?;
    let rows = sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {USER_COLUMNS} FROM identity.users WHERE account_id = $1 ORDER BY user_name"
    ))
    .bind(account_id)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(UserRow::into_user).collect())
}

pub async fn fetch_row(
    pool: &PgPool,
    account_id: &str,
    user_name: &str,
) -> Result<Option<UserRow>> {
    Ok(sqlx::query_as::<_, UserRow>(&format!(
        "SELECT {USER_COLUMNS} FROM identity.users WHERE account_id = $1 AND user_name = $2"
    ))
    .bind(account_id)
    .bind(user_name)
    .fetch_optional(pool)
    .await?)
}

pub fn not_found(account_id: &str, user_name: &str) -> IdentityError {
    IdentityError::NotFound(format!(
        "user {user_name:?} not found in account {account_id}"
    ))
}

pub async fn get(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
) -> Result<User> {
    validate_user_name(user_name)?;
    require_account(pool, caller, account_id).await?;
    fetch_row(pool, account_id, user_name)
        .await?
        .ok_or_else(|| not_found(account_id, user_name))
        .map(UserRow::into_user)
}

pub async fn update(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
    input: &UpdateUser,
) -> Result<User> {
    validate_user_name(user_name)?;
    let account = require_account(pool, caller, account_id).await?;
    let is_self = caller.account_id == account_id && caller.user_name == user_name;
    // Anyone may change their own password; roles and enabling are for admins only.
    if input.role.is_some() || input.enabled.is_some() || !is_self {
        require_admin_of(caller, account_id)?;
    }
    if is_self && input.enabled == Some(false) {
        return Err(IdentityError::InvalidInput(
            "you cannot disable yourself; ask another admin".into(),
        ));
    }
    if input.role == Some(Role::Operator) && !(caller.is_operator() && account.is_operator) {
        return Err(IdentityError::Forbidden(
            "only operators can grant the operator role, and only in the operator account".into(),
        ));
    }
    let existing = fetch_row(pool, account_id, user_name)
        .await?
        .ok_or_else(|| not_found(account_id, user_name))?;
    // Admins do not manage operators (only operators do).
    if existing.role == Role::Operator && !caller.is_operator() {
        return Err(IdentityError::Forbidden(
            "only operators can change operator users".into(),
        ));
    }
    let new_hash = match &input.password {
        Some(p) => Some(passwords::validate_and_hash(p).await?),
        None => None,
    };
    let role_changed = input.role.is_some_and(|r| r != existing.role);
    let disabling = input.enabled == Some(false) && existing.enabled;
    // A role or password change or disabling signs the user out everywhere.
    let revoke = role_changed || new_hash.is_some() || disabling;
    let row = sqlx::query_as::<_, UserRow>(&format!(
        "UPDATE identity.users SET role = COALESCE($3, role),
             password_hash = COALESCE($4, password_hash),
             enabled = COALESCE($5, enabled),
             token_generation = token_generation + CASE WHEN $6 THEN 1 ELSE 0 END
         WHERE account_id = $1 AND user_name = $2 RETURNING {USER_COLUMNS}"
    ))
    .bind(account_id)
    .bind(user_name)
    .bind(input.role)
    .bind(new_hash)
    .bind(input.enabled)
    .bind(revoke)
    .fetch_optional(pool)
    .await?;
    crate::store::changed();
    let row = row.ok_or_else(|| not_found(account_id, user_name))?;
    if revoke {
        crate::presign::forget_console_keys(pool, account_id, user_name).await?;
        tracing::info!(%account_id, %user_name, role_changed, password_changed = input.password.is_some(), disabling, "user changed; its tokens are revoked");
    }
    Ok(row.into_user())
}

pub async fn delete(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
) -> Result<()> {
    validate_user_name(user_name)?;
    require_admin_of(caller, account_id)?;
    require_account(pool, caller, account_id).await?;
    if caller.account_id == account_id && caller.user_name == user_name {
        return Err(IdentityError::InvalidInput(
            "you cannot delete yourself; ask another admin".into(),
        ));
    }
    if let Some(existing) = fetch_row(pool, account_id, user_name).await? {
        if existing.role == Role::Operator && !caller.is_operator() {
            return Err(IdentityError::Forbidden(
                "only operators can delete operator users".into(),
            ));
        }
    }
    let deleted =
        sqlx::query("DELETE FROM identity.users WHERE account_id = $1 AND user_name = $2")
            .bind(account_id)
            .bind(user_name)
            .execute(pool)
            .await?;
    crate::store::changed();
    if deleted.rows_affected() == 0 {
        return Err(not_found(account_id, user_name));
    }
    tracing::info!(%account_id, %user_name, "user deleted; its tokens and access keys are refused");
    Ok(())
}

/// Sign a user out everywhere: every login token issued to it so far is refused from now
/// on. Admins of the account (and operators) may do it to anyone in reach; every user may
/// do it to itself. Its own access keys are not affected (delete or deactivate them); the
/// console keys behind its sessions' presigned URLs are deleted.
pub async fn sign_out_everywhere(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    user_name: &str,
) -> Result<()> {
    validate_user_name(user_name)?;
    require_account(pool, caller, account_id).await?;
    let is_self = caller.account_id == account_id && caller.user_name == user_name;
    if !is_self {
        require_admin_of(caller, account_id)?;
    }
    let bumped = sqlx::query(
        "UPDATE identity.users SET token_generation = token_generation + 1
         WHERE account_id = $1 AND user_name = $2",
    )
    .bind(account_id)
    .bind(user_name)
    .execute(pool)
    .await?;
    crate::store::changed();
    if bumped.rows_affected() == 0 {
        return Err(not_found(account_id, user_name));
    }
    crate::presign::forget_console_keys(pool, account_id, user_name).await?;
    tracing::info!(%account_id, %user_name, by = %caller.user_name, "signed out everywhere");
    Ok(())
}

/// Revoke one token (logout) until it would have expired anyway.
pub async fn revoke_token(
    pool: &PgPool,
    user_id: &str,
    jti: &str,
    expires_at: DateTime<Utc>,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    // Rows of tokens that have expired anyway are useless.
    sqlx::query(
        "DELETE FROM identity.revoked_tokens WHERE expires_at < now() - interval '5 minutes'",
    )
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO identity.revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(user_id)
    .bind(expires_at)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    crate::store::changed();
    Ok(())
}

/// The user with this id as the auth layer needs it: role, state (disabled when its account
/// is), token generation and the ids of its revoked tokens that have not expired yet.
pub async fn status(pool: &PgPool, user_id: &str) -> Result<Option<UserStatus>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        user_id: String,
        account_id: String,
        user_name: String,
        role: Role,
        enabled: bool,
        token_generation: i64,
        revoked: Vec<String>,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT u.user_id, u.account_id, u.user_name, u.role, u.enabled AND a.enabled AS enabled,
                u.token_generation,
                ARRAY(SELECT r.jti FROM identity.revoked_tokens r
                      WHERE r.user_id = u.user_id AND r.expires_at > now() - interval '5 minutes') AS revoked
         FROM identity.users u JOIN identity.accounts a USING (account_id) WHERE u.user_id = $1",
    )
    .bind(user_id)
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(UserStatus {
        user_id: row.user_id,
        account_id: row.account_id,
        user_name: row.user_name,
        role: row.role,
        enabled: row.enabled,
        token_generation: row.token_generation,
        revoked_tokens: row.revoked,
    }))
}
