//! Bearer tokens for the native API: HS256 JWTs whose header names the signing key (`kid`),
//! so keys can be rotated: new tokens use the new key while old ones stay verifiable until
//! their key is retired.

use chrono::{DateTime, Utc};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};

use crate::{AuthError, AuthMethod, JwtKey, Principal, Role};

/// Tolerance for clocks that disagree a little between the issuer and the verifier.
pub const LEEWAY_SECS: i64 = 30;

/// What a token says about its holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// User id.
    pub sub: String,
    /// Account id.
    pub account: String,
    /// User name.
    pub name: String,
    pub role: Role,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expires at, seconds since the epoch.
    pub exp: i64,
    /// The token's own id, by which logout revokes it.
    pub jti: String,
    /// The user's token generation when the token was issued; the token is honoured only
    /// while the user is still at it.
    #[serde(rename = "gen")]
    pub generation: i64,
}

impl Claims {
    /// The caller these claims describe.
    pub fn principal(&self) -> Principal {
        Principal {
            account_id: self.account.clone(),
            user_id: self.sub.clone(),
            user_name: self.name.clone(),
            role: self.role,
            method: AuthMethod::Bearer,
        }
    }
}

/// Sign `claims` with `key`, naming the key in the header.
pub fn issue(key: &JwtKey, claims: &Claims) -> Result<String, AuthError> {
    if key.secret.is_empty() {
        return Err(AuthError::InvalidToken("the signing key is empty".into()));
    }
    let header = Header {
        kid: Some(key.kid.clone()),
        ..Header::new(Algorithm::HS256)
    };
    encode(&header, claims, &EncodingKey::from_secret(&key.secret))
        .map_err(|e| AuthError::InvalidToken(format!("could not sign token: {e}")))
}

/// The `kid` a token claims to be signed with (not yet verified): which key to fetch.
pub fn token_kid(token: &str) -> Result<String, AuthError> {
    let header = decode_header(token)
        .map_err(|_| AuthError::InvalidToken("the bearer token is not a well-formed JWT".into()))?;
    header
        .kid
        .filter(|k| !k.is_empty())
        .ok_or_else(|| AuthError::InvalidToken("the bearer token names no signing key".into()))
}

/// Verify `token` against `key` at the current time.
pub fn verify(key: &JwtKey, token: &str) -> Result<Claims, AuthError> {
    verify_at(key, token, Utc::now())
}

/// Verify `token` against `key` at `now` (injectable so tests and the layer share a clock).
pub fn verify_at(key: &JwtKey, token: &str, now: DateTime<Utc>) -> Result<Claims, AuthError> {
    if key.secret.is_empty() {
        return Err(AuthError::InvalidToken(
            "the verification key is empty".into(),
        ));
    }
    if token_kid(token)? != key.kid {
        return Err(AuthError::InvalidToken(
            "the bearer token was not signed with this key".into(),
        ));
    }
    // Expiry is checked below against `now`, not the library's own clock.
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data = decode::<Claims>(token, &DecodingKey::from_secret(&key.secret), &validation)
        .map_err(|e| AuthError::InvalidToken(format!("the bearer token is invalid: {e}")))?;
    if now.timestamp() > data.claims.exp.saturating_add(LEEWAY_SECS) {
        return Err(AuthError::ExpiredToken);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use base64::Engine;

    fn key(kid: &str, secret: &[u8]) -> JwtKey {
        JwtKey {
            kid: kid.into(),
            secret: secret.to_vec(),
        }
    }

    fn claims(exp_in: i64) -> Claims {
        let now = Utc::now().timestamp();
        Claims {
            sub: "AIDAEXAMPLE".into(),
            account: "123456789012".into(),
            name: "alice".into(),
            role: Role::Admin,
            iat: now,
            exp: now + exp_in,
            jti: "token-1".into(),
            generation: 0,
        }
    }

    #[test]
    fn round_trip() {
        let k = key("k1", b"0123456789abcdef0123456789abcdef");
        let c = claims(3600);
        let token = issue(&k, &c).unwrap();
        assert_eq!(token_kid(&token).unwrap(), "k1");
        let back = verify(&k, &token).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.principal().method, AuthMethod::Bearer);
        assert_eq!(back.principal().account_id, "123456789012");
    }

    #[test]
    fn wrong_key_is_invalid() {
        let token = issue(&key("k1", b"secret-one-secret-one"), &claims(3600)).unwrap();
        let e = verify(&key("k1", b"secret-two-secret-two"), &token).unwrap_err();
        assert!(matches!(e, AuthError::InvalidToken(_)));
        let e = verify(&key("k2", b"secret-one-secret-one"), &token).unwrap_err();
        assert!(matches!(e, AuthError::InvalidToken(_)));
    }

    #[test]
    fn expired() {
        let k = key("k1", b"secret-secret-secret");
        let token = issue(&k, &claims(-31 - 5)).unwrap();
        assert!(matches!(verify(&k, &token), Err(AuthError::ExpiredToken)));
        // Within the leeway it still passes.
        let token = issue(&k, &claims(-10)).unwrap();
        assert!(verify(&k, &token).is_ok());
        // And the clock is injectable.
        let c = claims(60);
        let token = issue(&k, &c).unwrap();
        let later = DateTime::from_timestamp(c.exp + LEEWAY_SECS + 1, 0).unwrap();
        assert!(matches!(
            verify_at(&k, &token, later),
            Err(AuthError::ExpiredToken)
        ));
    }

    #[test]
    fn tampered() {
        let k = key("k1", b"secret-secret-secret");
        let token = issue(&k, &claims(3600)).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut payload: serde_json::Value =
            serde_json::from_slice(&b64.decode(parts[1]).unwrap()).unwrap();
        payload["role"] = "operator".into();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(serde_json::to_vec(&payload).unwrap()),
            parts[2]
        );
        assert!(matches!(
            verify(&k, &forged),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            verify(&k, "not.a.jwt"),
            Err(AuthError::InvalidToken(_))
        ));
        assert!(matches!(
            token_kid("garbage"),
            Err(AuthError::InvalidToken(_))
        ));
        // A token without a kid.
        let no_kid = encode(
            &Header::new(Algorithm::HS256),
            &claims(3600),
            &EncodingKey::from_secret(&k.secret),
        )
        .unwrap();
        assert!(matches!(
            token_kid(&no_kid),
            Err(AuthError::InvalidToken(_))
        ));
    }
}
