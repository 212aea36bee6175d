//! S3 integrity checks: `Content-MD5`, the flexible `x-amz-checksum-*` checksums and ETags.
//!
//! An upload is checked in three steps:
//!
//! 1. [`IntegrityExpectation::from_headers`] reads what the client promised (a `Content-MD5`,
//!    at most one `x-amz-checksum-<algorithm>` value, the algorithm it asked for with
//!    `x-amz-sdk-checksum-algorithm` / `x-amz-checksum-algorithm`, and an `x-amz-trailer`
//!    announcing a checksum that will arrive after an aws-chunked body). Malformed or
//!    contradictory headers are rejected before any byte is stored.
//! 2. The body is streamed through an [`ObjectHasher`] built with
//!    [`IntegrityExpectation::algorithm`]; it always computes the MD5 (the ETag) and the one
//!    checksum the request needs, in memory proportional to nothing.
//! 3. [`IntegrityExpectation::verify`] compares the [`Digests`] with the promises, including the
//!    trailing checksum value the aws-chunked decoder handed over.
//!
//! Error codes and messages are the ones Amazon S3 answers with (see [`ChecksumError`]).
//! Checksums are carried as S3 shows them: base64 of the digest bytes, CRCs big-endian.

mod algorithm;
mod combine;
mod error;
mod expectation;
mod hasher;

pub use algorithm::{ChecksumAlgorithm, ChecksumType};
pub use combine::{composite_checksum, full_object_crc, multipart_etag};
pub use error::ChecksumError;
pub use expectation::{
    IntegrityExpectation, CHECKSUM_ALGORITHM, CONTENT_MD5, SDK_CHECKSUM_ALGORITHM, TRAILER,
};
pub use hasher::{ChecksumHasher, Digests, ObjectHasher};

#[cfg(test)]
mod tests;
