//! Secrets at rest (access-key secrets, JWT signing keys) are sealed with AES-256-GCM under
//! the master key from configuration. The master key never enters the catalog.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use rand::RngCore;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{IdentityError, Result};

/// The 256-bit key that seals every secret in the catalog.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Sealed bytes: ciphertext (with tag) and the 96-bit nonce.
pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != 32 {
            return Err(IdentityError::InvalidInput(format!(
                "the master key must be 32 bytes (base64 of 32 random bytes), got {}",
                bytes.len()
            )));
        }
        let cipher =
            Aes256Gcm::new_from_slice(bytes).map_err(|e| IdentityError::Crypto(e.to_string()))?;
        Ok(Self { cipher })
    }

    /// Parse the base64 form used in `KUMO_MASTER_KEY` and in the key file.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| IdentityError::InvalidInput(format!("master key is not base64: {e}")))?;
        Self::from_bytes(&bytes)
    }

    /// A new random key (tests).
    pub fn random() -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        // 32 bytes is always a valid AES-256 key.
        Self {
            cipher: Aes256Gcm::new(&bytes.into()),
        }
    }

    /// `KUMO_MASTER_KEY` when set; otherwise the key file, created (mode 0600) on first use.
    pub fn load_or_create(env_value: Option<&str>, key_file: &Path) -> Result<Self> {
        if let Some(value) = env_value {
            return Self::from_base64(value);
        }
        match std::fs::read_to_string(key_file) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut bytes = [0u8; 32];
                rand::thread_rng().fill_bytes(&mut bytes);
                let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
                if let Some(parent) = key_file.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        IdentityError::Crypto(format!("create {}: {e}", parent.display()))
                    })?;
                }
                let mut file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(key_file)
                    .map_err(|e| {
                        IdentityError::Crypto(format!("create {}: {e}", key_file.display()))
                    })?;
                file.write_all(encoded.as_bytes())
                    .and_then(|_| file.sync_all())
                    .map_err(|e| {
                        IdentityError::Crypto(format!("write {}: {e}", key_file.display()))
                    })?;
                tracing::info!(file = %key_file.display(), "created a new master key");
                Self::from_bytes(&bytes)
            }
            Err(e) => Err(IdentityError::Crypto(format!(
                "read {}: {e}",
                key_file.display()
            ))),
        }
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Sealed> {
        let mut nonce = [0u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext)
            .map_err(|e| IdentityError::Crypto(e.to_string()))?;
        Ok(Sealed {
            ciphertext,
            nonce: nonce.to_vec(),
        })
    }

    pub fn open(&self, ciphertext: &[u8], nonce: &[u8]) -> Result<Vec<u8>> {
        if nonce.len() != 12 {
            return Err(IdentityError::Crypto("bad nonce length".into()));
        }
        self.cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| IdentityError::WrongMasterKey)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_open_round_trip_and_wrong_key() {
        let key = MasterKey::random();
        let sealed = key.seal(b"secret").unwrap();
        assert_ne!(sealed.ciphertext, b"secret");
        assert_eq!(
            key.open(&sealed.ciphertext, &sealed.nonce).unwrap(),
            b"secret"
        );
        let other = MasterKey::random();
        assert!(matches!(
            other.open(&sealed.ciphertext, &sealed.nonce),
            Err(IdentityError::WrongMasterKey)
        ));
    }

    #[test]
    fn key_file_is_created_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("master.key");
        let a = MasterKey::load_or_create(None, &path).unwrap();
        let b = MasterKey::load_or_create(None, &path).unwrap();
        let sealed = a.seal(b"x").unwrap();
        assert_eq!(b.open(&sealed.ciphertext, &sealed.nonce).unwrap(), b"x");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
