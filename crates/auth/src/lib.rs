//! Authentication for every Kumo endpoint.
//!
//! One tower layer ([`layer::AuthLayer`]) accepts either a Bearer JWT (native API) or an
//! AWS Signature Version 4 signature (Authorization header or presigned query string,
//! including the payload-hash variants S3 uses) and inserts a [`Principal`] into the
//! request's extensions. Requests without credentials pass through without a Principal;
//! handlers decide whether anonymous access is allowed. Bad credentials are answered by
//! the layer itself, in the error shape the client speaks (JSON or AWS XML).

pub mod error;
pub mod extract;
pub mod jwt;
pub mod layer;
pub mod principal;
pub mod session;
pub mod sigv2;
pub mod sigv4;

pub use error::AuthError;
pub use extract::Caller;
pub use layer::{AuthConfig, AuthLayer, SigV4Context, DEFAULT_REGION};
pub use principal::{AuthMethod, Principal, Role};

use async_trait::async_trait;

/// What the layer needs to know about an access key: its secret (decrypted) and who owns it.
#[derive(Clone)]
pub struct AccessKeySecret {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub account_id: String,
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
}

impl std::fmt::Debug for AccessKeySecret {
    // Never print the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKeySecret")
            .field("access_key_id", &self.access_key_id)
            .field("account_id", &self.account_id)
            .field("user_name", &self.user_name)
            .finish_non_exhaustive()
    }
}

/// A user as it is now, for checking a bearer token against it: tokens are honoured only
/// while their user exists, is enabled, is still at the token's generation and the token
/// itself has not been revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserStatus {
    pub user_id: String,
    pub account_id: String,
    pub user_name: String,
    /// The user's current role; a token never grants more than this.
    pub role: Role,
    pub enabled: bool,
    /// Every token carries the generation it was issued under; bumping the user's
    /// generation (sign out everywhere, a role or password change, disabling) revokes them.
    pub token_generation: i64,
    /// Ids (`jti`) of this user's tokens revoked one at a time (logout), until they expire.
    pub revoked_tokens: Vec<String>,
}

/// A JWT signing/verification key (HMAC-SHA256), named by its `kid`.
#[derive(Clone)]
pub struct JwtKey {
    pub kid: String,
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A failure of the credential store itself (e.g. the catalog is down): a 503 (retry), not a 403.
#[derive(Debug, thiserror::Error)]
#[error("credential store unavailable: {0}")]
pub struct StoreError(pub String);

/// Where the layer looks up credentials. The identity service implements it on the catalog;
/// tests implement it in memory.
#[async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// The active access key with this id and its owner's current role, or `None` when the
    /// key is unknown or inactive, or its user is gone or disabled.
    async fn access_key(&self, access_key_id: &str) -> Result<Option<AccessKeySecret>, StoreError>;
    /// The user with this id as it is now, or `None` when it no longer exists.
    async fn user(&self, user_id: &str) -> Result<Option<UserStatus>, StoreError>;
    /// The JWT verification key with this `kid`, or `None` when unknown or retired.
    async fn jwt_key(&self, kid: &str) -> Result<Option<JwtKey>, StoreError>;
}
