//! Password hashing with argon2id (PHC string format, per-password salt).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

use crate::error::{IdentityError, Result};

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 256;

/// Passwords may hold any character but NUL and the other controls (TAB excepted):
/// nothing a keyboard types is refused, nothing that breaks storage or logs is accepted.
pub fn validate_chars(password: &str) -> Result<()> {
    if password.chars().any(|c| c != '\t' && c.is_control())
        || kumo_common::text::check(password).is_err()
    {
        return Err(IdentityError::InvalidInput(
            "password must not contain NUL or other control characters".into(),
        ));
    }
    Ok(())
}

/// 8 to 256 characters (at most 256 bytes), no control characters.
pub fn validate(password: &str) -> Result<()> {
    if password.chars().count() < MIN_PASSWORD_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(IdentityError::InvalidInput(format!(
            "password must be {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters"
        )));
    }
    validate_chars(password)
}

pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| IdentityError::Crypto(e.to_string()))
}

pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Validate and hash on a blocking thread: argon2 is deliberately slow and must not stall
/// the async workers.
pub async fn validate_and_hash(password: &str) -> Result<String> {
    validate(password)?;
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| IdentityError::Crypto(e.to_string()))?
}

/// [`verify`] on a blocking thread, for the same reason.
pub async fn verify_off_thread(password: &str, phc: String) -> Result<bool> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || verify(&password, &phc))
        .await
        .map_err(|e| IdentityError::Crypto(e.to_string()))
}

/// A hash of a random password, verified against when the user does not exist so that a
/// failed login takes the same time either way.
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not-a-real-password-0123456789").unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(validate("short").is_err());
    }
}
