//! Password login → a short-lived JWT.

use chrono::{DateTime, Utc};
use kumo_auth::jwt::{self, Claims};
use serde::{Deserialize, Serialize};

use crate::error::{IdentityError, Result};
use crate::{accounts, passwords, signing_keys, users, Identity};

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The account's 12-digit id or its name.
    pub account: String,
    pub user_name: String,
    pub password: String,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("account", &self.account)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// Send as `Authorization: Bearer <token>`.
    pub token: String,
    pub token_type: String,
    pub expires_at: DateTime<Utc>,
    pub account_id: String,
    pub user_name: String,
}

/// Refuse malformed login input with a 400 before touching the catalog: an account id or
/// name, a user name and a password that could exist. (A well-formed but wrong combination
/// is a 401, the same whichever part is wrong.)
pub fn validate(request: &LoginRequest) -> Result<()> {
    if !kumo_common::ids::is_account_id(&request.account) {
        accounts::validate_account_name(&request.account).map_err(|_| {
            IdentityError::InvalidInput(format!(
                "invalid account {}: give the 12-digit account id or the account name (1 to 64 letters, digits, '-', '_' or '.')",
                crate::error::shown(&request.account)
            ))
        })?;
    }
    users::validate_user_name(&request.user_name)?;
    passwords::validate_chars(&request.password)?;
    if request.password.len() > passwords::MAX_PASSWORD_LEN {
        return Err(IdentityError::InvalidInput(format!(
            "password must be at most {} characters",
            passwords::MAX_PASSWORD_LEN
        )));
    }
    Ok(())
}

pub async fn login(identity: &Identity, request: &LoginRequest) -> Result<LoginResponse> {
    Ok(issue(identity, request).await?.0)
}

/// Check the password and issue a token: the answer to a login, and the token's claims
/// (the console's session cookies need its id and expiry).
pub async fn issue(identity: &Identity, request: &LoginRequest) -> Result<(LoginResponse, Claims)> {
    validate(request)?;
    let account = accounts::find_by_id_or_name(&identity.pool, &request.account).await?;
    // A disabled account's users cannot sign in (answered as any failed login).
    let row = match account.as_ref().filter(|a| a.enabled) {
        Some(a) => users::fetch_row(&identity.pool, &a.account_id, &request.user_name).await?,
        None => None,
    };
    let hash = row
        .as_ref()
        .and_then(|r| r.password_hash.clone())
        .unwrap_or_else(|| passwords::dummy_hash().to_string());
    let verified = passwords::verify_off_thread(&request.password, hash).await?;
    let row = match row {
        Some(row) if verified && row.password_hash.is_some() && row.enabled => row,
        _ => {
            tracing::info!(account = %request.account, user_name = %request.user_name, "failed login");
            return Err(IdentityError::BadLogin);
        }
    };
    let key = signing_keys::active(&identity.pool, &identity.master_key).await?;
    let now = Utc::now();
    let expires_at = now
        + chrono::Duration::from_std(identity.config.token_ttl)
            .map_err(|e| IdentityError::Crypto(e.to_string()))?;
    let claims = Claims {
        sub: row.user_id.clone(),
        account: row.account_id.clone(),
        name: row.user_name.clone(),
        role: row.role,
        iat: now.timestamp(),
        exp: expires_at.timestamp(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        generation: row.token_generation,
    };
    let token = jwt::issue(&key, &claims).map_err(|e| IdentityError::Crypto(e.to_string()))?;
    tracing::info!(account_id = %row.account_id, user_name = %row.user_name, "login");
    Ok((
        LoginResponse {
            token,
            token_type: "Bearer".into(),
            expires_at,
            account_id: row.account_id,
            user_name: row.user_name,
        },
        claims,
    ))
}

/// Revoke the token of this request (`POST /v1/logout`): it is refused from now on, by every
/// process sharing the catalog. The user's other tokens stay valid.
pub async fn logout(identity: &Identity, claims: &Claims) -> Result<()> {
    let expires_at = DateTime::from_timestamp(claims.exp.saturating_add(jwt::LEEWAY_SECS), 0)
        .unwrap_or_else(Utc::now);
    users::revoke_token(&identity.pool, &claims.sub, &claims.jti, expires_at).await?;
    tracing::info!(account_id = %claims.account, user_name = %claims.name, "logout");
    Ok(())
}
