//! Digests shared by every crate that stores or checks a secret's fingerprint.

use sha2::Digest;

/// Lowercase hex SHA-256: how join tokens, node tokens and signed payloads are fingerprinted.
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex::encode(sha2::Sha256::digest(data.as_ref()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn known_digest() {
        assert_eq!(
            super::sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
