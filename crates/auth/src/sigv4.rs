//! AWS Signature Version 4, written from AWS's specification.
//!
//! Everything here is a pure function of its inputs (no clock, no I/O) so that it can be
//! checked against AWS's published test vectors and against real SDK output. The tower
//! layer in [`crate::layer`] supplies the request, the time and the secret.
//!
//! A signature covers a *canonical request*:
//!
//! ```text
//! METHOD \n CANONICAL-URI \n CANONICAL-QUERY \n CANONICAL-HEADERS \n SIGNED-HEADERS \n PAYLOAD-HASH
//! ```
//!
//! which is hashed into a *string to sign* together with the time and the credential scope,
//! and signed with a key derived from the secret by a chain of HMACs over the scope.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

use crate::AuthError;

/// The only algorithm Kumo accepts (SigV4a's ECDSA variant is not supported).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of every credential scope.
pub const TERMINATOR: &str = "aws4_request";
/// `sha256("")`, the payload hash of every bodiless request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// S3 payload hash meaning "the body is not signed".
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// S3 aws-chunked upload where every chunk carries its own signature.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// As [`STREAMING_PAYLOAD`], followed by signed trailing headers (checksums).
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// aws-chunked upload without chunk signatures, followed by unsigned trailers.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// The longest a presigned URL may stay valid: seven days.
pub const MAX_PRESIGNED_EXPIRES: u64 = 604_800;

const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Characters percent-encoded in a query key/value or path segment: all but `A-Za-z0-9-_.~`.
const ENCODE_ALL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// As [`ENCODE_ALL`], keeping the `/` between path segments.
const ENCODE_PATH: &AsciiSet = &ENCODE_ALL.remove(b'/');

fn incomplete(message: impl Into<String>) -> AuthError {
    AuthError::IncompleteSignature(message.into())
}

mod canonical;
mod chunked;
mod client;
mod parse;
mod signing;
mod time;

pub use canonical::*;
pub use chunked::*;
pub use client::*;
pub use parse::*;
pub use signing::*;
pub use time::*;

#[cfg(test)]
mod tests;
