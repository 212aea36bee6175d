//! S3 aws-chunked uploads: the signatures of each chunk and of the trailer.

use super::{sha256_hex, signature, EMPTY_SHA256};

/// The string to sign for one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` upload. Each
/// chunk's signature chains on the previous one (the first on the seed signature of the
/// Authorization header).
pub fn chunk_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    chunk_sha256_hex: &str,
) -> String {
    format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous_signature}\n{EMPTY_SHA256}\n{chunk_sha256_hex}"
    )
}

/// The signature of one chunk, given its bytes.
pub fn chunk_signature(
    signing_key: &[u8],
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    chunk: &[u8],
) -> String {
    chunk_signature_for_hash(
        signing_key,
        amz_date,
        scope,
        previous_signature,
        &sha256_hex(chunk),
    )
}

/// The signature of one chunk, given its hex sha256 (for callers that hash while streaming).
pub fn chunk_signature_for_hash(
    signing_key: &[u8],
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    chunk_sha256_hex: &str,
) -> String {
    signature(
        signing_key,
        &chunk_string_to_sign(amz_date, scope, previous_signature, chunk_sha256_hex),
    )
}

/// The signature of the trailing headers of a `…-PAYLOAD-TRAILER` upload; `trailer` is the
/// trailer block as signed (`name:value\n` lines).
pub fn trailer_signature(
    signing_key: &[u8],
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    trailer: &[u8],
) -> String {
    signature(
        signing_key,
        &format!(
            "AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous_signature}\n{}",
            sha256_hex(trailer)
        ),
    )
}
