//! Chunk signatures: each chains on the previous one, the first on the request's seed
//! signature; the trailer signature chains on the final (empty) chunk's.

use std::fmt;

use kumo_auth::sigv4;
use kumo_auth::SigV4Context;
use sha2::{Digest, Sha256};

/// What is needed to check chunk signatures: the outcome of verifying the request's
/// Authorization header.
#[derive(Clone)]
pub struct ChunkSigning {
    pub signing_key: Vec<u8>,
    /// `yyyymmddThhmmssZ` the request was signed at.
    pub amz_date: String,
    /// `yyyymmdd/region/service/aws4_request`.
    pub scope: String,
    /// The request's (verified) signature, on which the first chunk signature chains.
    pub seed_signature: String,
}

impl ChunkSigning {
    pub fn from_context(context: &SigV4Context) -> Self {
        Self {
            signing_key: context.signing_key.clone(),
            amz_date: context.amz_date.clone(),
            scope: context.scope(),
            seed_signature: context.seed_signature.clone(),
        }
    }
}

impl From<&SigV4Context> for ChunkSigning {
    fn from(context: &SigV4Context) -> Self {
        Self::from_context(context)
    }
}

impl fmt::Debug for ChunkSigning {
    // The signing key is as good as the secret for a day: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("seed_signature", &self.seed_signature)
            .finish_non_exhaustive()
    }
}

/// Checks the chain of chunk signatures.
pub(super) struct ChunkVerifier {
    signing: ChunkSigning,
    /// The signature the next one chains on (the seed, then each chunk's).
    previous: String,
    /// sha256 of the current chunk's data so far.
    hasher: Sha256,
}

impl ChunkVerifier {
    pub(super) fn new(signing: ChunkSigning) -> Self {
        Self {
            previous: signing.seed_signature.to_ascii_lowercase(),
            signing,
            hasher: Sha256::new(),
        }
    }

    /// Feed the current chunk's data.
    pub(super) fn hash(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    /// Check the chunk just hashed against the signature its header claimed.
    pub(super) fn verify_chunk(&mut self, claimed: &str) -> bool {
        let chunk_hash = hex::encode(self.hasher.finalize_reset());
        let expected = sigv4::chunk_signature_for_hash(
            &self.signing.signing_key,
            &self.signing.amz_date,
            &self.signing.scope,
            &self.previous,
            &chunk_hash,
        );
        let matches = sigv4::constant_time_eq(expected.as_bytes(), claimed.as_bytes());
        self.previous = expected;
        matches
    }

    /// Check the trailer signature of `trailers` (names lowercased).
    pub(super) fn verify_trailers(&self, trailers: &[(String, String)], claimed: &str) -> bool {
        // The signed form: `name:value\n` per trailer, sorted by name.
        let mut sorted: Vec<&(String, String)> = trailers.iter().collect();
        sorted.sort();
        let canonical: String = sorted
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect();
        let expected = sigv4::trailer_signature(
            &self.signing.signing_key,
            &self.signing.amz_date,
            &self.signing.scope,
            &self.previous,
            canonical.as_bytes(),
        );
        sigv4::constant_time_eq(expected.as_bytes(), claimed.as_bytes())
    }
}
