//! Accounts: the tenants of the cloud, each with a 12-digit AWS-style id.

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::error::{IdentityError, Result};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Account {
    /// 12-digit account id.
    pub account_id: String,
    pub name: String,
    /// The account that holds the cloud's operators.
    pub is_operator: bool,
    /// A disabled account's users cannot log in, and their tokens and access keys are refused.
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccount {
    /// 1–64 characters of letters, digits, `-`, `_` and `.`; unique in the cloud.
    pub name: String,
}

pub fn validate_account_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput(format!(
            "invalid account name {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

pub fn validate_account_id(account_id: &str) -> Result<()> {
    if kumo_common::ids::is_account_id(account_id) {
        Ok(())
    } else {
        Err(IdentityError::InvalidInput(format!(
            "invalid account id {account_id:?}: an account id is 12 digits"
        )))
    }
}

/// Insert an account (no authorization check: callers check first).
pub async fn insert(pool: &PgPool, name: &str, is_operator: bool) -> Result<Account> {
    validate_account_name(name)?;
    // A fresh random id; retry on the (vanishingly rare) collision.
    for _ in 0..5 {
        let account_id = kumo_common::ids::account_id();
        let inserted = sqlx::query_as::<_, Account>(
            "INSERT INTO identity.accounts (account_id, name, is_operator) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO NOTHING
             RETURNING account_id, name, is_operator, enabled, created_at",
        )
        .bind(&account_id)
        .bind(name)
        .bind(is_operator)
        .fetch_optional(pool)
        .await;
        match inserted {
            Ok(Some(account)) => return Ok(account),
            Ok(None) => continue,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(IdentityError::AlreadyExists(format!(
                    "an account named {name:?} already exists"
                )))
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(IdentityError::Crypto(
        "could not allocate an account id".into(),
    ))
}

/// Operators create accounts.
pub async fn create(pool: &PgPool, caller: &Principal, input: &CreateAccount) -> Result<Account> {
    if !caller.is_operator() {
        return Err(IdentityError::Forbidden(
            "only operators can create accounts".into(),
        ));
    }
    insert(pool, &input.name, false).await
}

/// Operators see every account; everyone else sees only their own.
pub async fn list(pool: &PgPool, caller: &Principal) -> Result<Vec<Account>> {
    let accounts = sqlx::query_as::<_, Account>(
        "SELECT account_id, name, is_operator, enabled, created_at FROM identity.accounts
         WHERE $1 OR account_id = $2 ORDER BY created_at, account_id",
    )
    .bind(caller.is_operator())
    .bind(&caller.account_id)
    .fetch_all(pool)
    .await?;
    Ok(accounts)
}

/// An account the caller may see; another tenant's account is simply "not found".
pub async fn get(pool: &PgPool, caller: &Principal, account_id: &str) -> Result<Account> {
    validate_account_id(account_id)?;
    if !caller.may_access_account(account_id) {
        return Err(not_found(account_id));
    }
    fetch(pool, account_id)
        .await?
        .ok_or_else(|| not_found(account_id))
}

pub async fn fetch(pool: &PgPool, account_id: &str) -> Result<Option<Account>> {
    Ok(sqlx::query_as::<_, Account>(
        "SELECT account_id, name, is_operator, enabled, created_at FROM identity.accounts WHERE account_id = $1",
    )
    .bind(account_id)
    .fetch_optional(pool)
    .await?)
}

/// Find an account by id or by name (used by login, where people type names).
pub async fn find_by_id_or_name(pool: &PgPool, account: &str) -> Result<Option<Account>> {
    Ok(sqlx::query_as::<_, Account>(
        "SELECT account_id, name, is_operator, enabled, created_at FROM identity.accounts
         WHERE account_id = $1 OR name = $1 LIMIT 1",
    )
    .bind(account)
    .fetch_optional(pool)
    .await?)
}

pub fn not_found(account_id: &str) -> IdentityError {
    IdentityError::NotFound(format!("account {account_id} not found"))
}

/// Disable or enable an account (operators only; never the operator account). Disabling
/// takes effect at once: its users' tokens and access keys are refused and they cannot log
/// in; enabling lets them back in (tokens issued before still count if unexpired).
pub async fn set_enabled(
    pool: &PgPool,
    caller: &Principal,
    account_id: &str,
    enabled: bool,
) -> Result<Account> {
    validate_account_id(account_id)?;
    if !caller.is_operator() {
        return Err(IdentityError::Forbidden(
            "only operators can disable or enable accounts".into(),
        ));
    }
    let account = fetch(pool, account_id)
        .await?
        .ok_or_else(|| not_found(account_id))?;
    if account.is_operator || account.account_id == caller.account_id {
        return Err(IdentityError::InvalidInput(
            "the operator account cannot be disabled".into(),
        ));
    }
    let account = sqlx::query_as::<_, Account>(
        "UPDATE identity.accounts SET enabled = $2 WHERE account_id = $1
         RETURNING account_id, name, is_operator, enabled, created_at",
    )
    .bind(account_id)
    .bind(enabled)
    .fetch_optional(pool)
    .await?;
    crate::store::changed();
    let account = account.ok_or_else(|| not_found(account_id))?;
    tracing::info!(%account_id, enabled, by = %caller.user_name, "account enabled state changed");
    Ok(account)
}
