//! Keys and signatures: the HMAC chain, the signature, and checking one.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::{
    canonical_request, string_to_sign, CanonicalInput, ParsedSignature, STREAMING_PAYLOAD,
    STREAMING_PAYLOAD_TRAILER, STREAMING_UNSIGNED_PAYLOAD_TRAILER, TERMINATOR, UNSIGNED_PAYLOAD,
};
use crate::AuthError;

type HmacSha256 = Hmac<Sha256>;

pub use kumo_common::digest::sha256_hex;

/// HMAC-SHA256. The key is brought to the block size as HMAC itself specifies (hashed if
/// longer, zero-padded), which lets the fixed-size constructor be used: no fallible path.
pub(super) fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <HmacSha256 as KeyInit>::new(&block.into());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key: `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

/// Hex `HMAC(signing_key, string_to_sign)`.
pub fn signature(signing_key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// Equality whose running time does not depend on where the inputs differ, so a forger
/// cannot find a valid signature byte by byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Check a parsed signature against the request. On success returns the signing key, which
/// S3 needs to check the signatures of the chunks that follow.
pub fn verify(
    parsed: &ParsedSignature,
    input: &CanonicalInput<'_>,
    amz_date: &str,
    secret: &str,
) -> Result<[u8; 32], AuthError> {
    let credential = &parsed.credential;
    let creq = canonical_request(
        input,
        &parsed.signed_headers,
        &credential.service,
        parsed.presigned.is_some(),
    )?;
    let sts = string_to_sign(amz_date, &credential.scope(), &creq);
    let key = signing_key(
        secret,
        &credential.date,
        &credential.region,
        &credential.service,
    );
    let expected = signature(&key, &sts);
    if constant_time_eq(expected.as_bytes(), parsed.signature.as_bytes()) {
        Ok(key)
    } else {
        Err(AuthError::SignatureDoesNotMatch)
    }
}

/// Is this a payload hash S3 accepts in `x-amz-content-sha256`?
pub fn is_valid_s3_payload_hash(value: &str) -> bool {
    matches!(
        value,
        UNSIGNED_PAYLOAD
            | STREAMING_PAYLOAD
            | STREAMING_PAYLOAD_TRAILER
            | STREAMING_UNSIGNED_PAYLOAD_TRAILER
    ) || (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}
