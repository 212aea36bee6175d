//! First start: the master-key check, the operator account, its first operator user and
//! that user's access key. Idempotent: later starts find them and change nothing.

use kumo_auth::Role;
use sqlx::PgPool;

use crate::crypto::MasterKey;
use crate::error::{IdentityError, Result};
use crate::{access_keys, accounts, users};

pub const OPERATOR_ACCOUNT_NAME: &str = "operator";
pub const OPERATOR_USER_NAME: &str = "operator";
const CHECK_PLAINTEXT: &[u8] = b"kumo master key check";

/// The operator's credentials, for the AWS CLI profile `kumo up` writes.
#[derive(Clone)]
pub struct OperatorCredentials {
    pub account_id: String,
    pub user_name: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Set only when this start created the user (the password is not recoverable later).
    pub new_password: Option<String>,
}

impl std::fmt::Debug for OperatorCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperatorCredentials")
            .field("account_id", &self.account_id)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// Fail early, and clearly, when the configured master key is not the one the catalog's
/// secrets were sealed with.
pub async fn check_master_key(pool: &PgPool, master_key: &MasterKey) -> Result<()> {
    let sealed = master_key.seal(CHECK_PLAINTEXT)?;
    sqlx::query(
        "INSERT INTO identity.master_key_check (ciphertext, nonce) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(&sealed.ciphertext)
    .bind(&sealed.nonce)
    .execute(pool)
    .await?;
    let (ciphertext, nonce): (Vec<u8>, Vec<u8>) =
        sqlx::query_as("SELECT ciphertext, nonce FROM identity.master_key_check")
            .fetch_one(pool)
            .await?;
    match master_key.open(&ciphertext, &nonce) {
        Ok(plain) if plain == CHECK_PLAINTEXT => Ok(()),
        _ => Err(IdentityError::WrongMasterKey),
    }
}

async fn operator_account(pool: &PgPool) -> Result<Option<accounts::Account>> {
    Ok(sqlx::query_as::<_, accounts::Account>(
        "SELECT account_id, name, is_operator, enabled, created_at FROM identity.accounts WHERE is_operator",
    )
    .fetch_optional(pool)
    .await?)
}

/// Make sure the operator account, user and an access key exist; return the credentials.
pub async fn ensure_operator(pool: &PgPool, master_key: &MasterKey) -> Result<OperatorCredentials> {
    check_master_key(pool, master_key).await?;
    let account = match operator_account(pool).await? {
        Some(a) => a,
        None => match accounts::insert(pool, OPERATOR_ACCOUNT_NAME, true).await {
            Ok(a) => {
                tracing::info!(account_id = %a.account_id, "created the operator account");
                a
            }
            // Another process bootstrapped concurrently.
            Err(IdentityError::AlreadyExists(_)) | Err(IdentityError::Database(_)) => {
                operator_account(pool).await?.ok_or_else(|| {
                    IdentityError::AlreadyExists(format!(
                        "an account named {OPERATOR_ACCOUNT_NAME:?} exists but is not the operator account"
                    ))
                })?
            }
            Err(e) => return Err(e),
        },
    };
    let mut new_password = None;
    let user = match users::fetch_row(pool, &account.account_id, OPERATOR_USER_NAME).await? {
        Some(u) => u,
        None => {
            let password = kumo_common::ids::secret_string(20);
            match users::insert(
                pool,
                &account.account_id,
                OPERATOR_USER_NAME,
                Role::Operator,
                Some(&password),
            )
            .await
            {
                Ok(_) => new_password = Some(password),
                Err(IdentityError::AlreadyExists(_)) => {}
                Err(e) => return Err(e),
            }
            users::fetch_row(pool, &account.account_id, OPERATOR_USER_NAME)
                .await?
                .ok_or_else(|| users::not_found(&account.account_id, OPERATOR_USER_NAME))?
        }
    };
    // The oldest active key of the operator user, or a new one.
    let existing: Option<String> = sqlx::query_scalar(
        "SELECT access_key_id FROM identity.access_keys WHERE user_id = $1 AND status = 'Active'
           AND purpose = 'user' ORDER BY created_at, access_key_id LIMIT 1",
    )
    .bind(&user.user_id)
    .fetch_optional(pool)
    .await?;
    let (access_key_id, secret_access_key) = match existing {
        Some(id) => {
            let secret = access_keys::fetch_entry(pool, master_key, &id)
                .await?
                .ok_or_else(|| IdentityError::NotFound(format!("access key {id} vanished")))?;
            (id, secret.secret_access_key)
        }
        None => {
            let key = access_keys::insert(pool, master_key, &user).await?;
            (key.access_key_id, key.secret_access_key)
        }
    };
    Ok(OperatorCredentials {
        account_id: account.account_id,
        user_name: user.user_name,
        access_key_id,
        secret_access_key,
        new_password,
    })
}
