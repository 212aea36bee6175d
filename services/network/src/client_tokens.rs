//! ClientToken idempotency for the create actions that take one (CreateRouteTable,
//! CreateNetworkInterface), as compute's RunInstances does it: the first request claims
//! `(account, action, token)` in its own transaction (a concurrent twin waits on the key),
//! a retry with the same parameters gets the resource the first one made, a retry with
//! other parameters `IdempotentParameterMismatch`. Tokens are per account.

use sqlx::{PgPool, Postgres, Transaction};

use crate::error::{NetworkError, Result};

/// AWS: up to 64 ASCII characters.
pub const MAX_CLIENT_TOKEN: usize = 64;

/// One request's token: the action, the token and a fingerprint of every other parameter.
#[derive(Debug, Clone)]
pub struct ClientToken<'a> {
    pub action: &'static str,
    pub token: &'a str,
    pub fingerprint: String,
}

impl<'a> ClientToken<'a> {
    /// Checks the token's bounds (1 to 64 printable ASCII characters).
    pub fn new(action: &'static str, token: &'a str, fingerprint: String) -> Result<Self> {
        if token.is_empty()
            || token.len() > MAX_CLIENT_TOKEN
            || !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
        {
            return Err(NetworkError::invalid(format!(
                "ClientToken must be 1 to {MAX_CLIENT_TOKEN} printable ASCII characters"
            )));
        }
        Ok(ClientToken {
            action,
            token,
            fingerprint,
        })
    }

    /// The resource an earlier request with this token made, if any (same parameters), or
    /// `IdempotentParameterMismatch`.
    pub(crate) async fn earlier(&self, pool: &PgPool, account_id: &str) -> Result<Option<String>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT fingerprint, resource_id FROM network.client_tokens
             WHERE account_id = $1 AND action = $2 AND client_token = $3",
        )
        .bind(account_id)
        .bind(self.action)
        .bind(self.token)
        .fetch_optional(pool)
        .await?;
        match row {
            Some((fingerprint, _)) if fingerprint != self.fingerprint => {
                Err(NetworkError::Invalid(
                    "IdempotentParameterMismatch",
                    format!(
                        "The client token '{}' was already used with different parameters.",
                        self.token
                    ),
                ))
            }
            Some((_, resource_id)) => Ok(Some(resource_id)),
            None => Ok(None),
        }
    }

    /// Claims the token for `resource_id` in the creating transaction. `Ok(None)`: claimed;
    /// `Ok(Some(id))`: a concurrent twin committed first (the caller rolls back and answers
    /// `id`); a twin with other parameters is `IdempotentParameterMismatch`.
    pub(crate) async fn claim(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        pool: &PgPool,
        account_id: &str,
        resource_id: &str,
    ) -> Result<Option<String>> {
        let inserted = sqlx::query(
            "INSERT INTO network.client_tokens (account_id, action, client_token, fingerprint, resource_id)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .bind(account_id)
        .bind(self.action)
        .bind(self.token)
        .bind(&self.fingerprint)
        .bind(resource_id)
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 1 {
            return Ok(None);
        }
        self.earlier(pool, account_id)
            .await?
            .map(Some)
            .ok_or_else(|| NetworkError::Internal("client token vanished".into()))
    }

    /// Frees the token (the request it was claimed for failed after committing).
    pub(crate) async fn release(&self, pool: &PgPool, account_id: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM network.client_tokens WHERE account_id = $1 AND action = $2 AND client_token = $3",
        )
        .bind(account_id)
        .bind(self.action)
        .bind(self.token)
        .execute(pool)
        .await?;
        Ok(())
    }
}
