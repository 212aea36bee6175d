//! Integrity failures, answered with Amazon S3's codes, statuses and messages.

use http::StatusCode;

use super::ChecksumAlgorithm;

/// An integrity failure, with the S3 error code, status and message it is answered with.
///
/// Sources: the S3 error-code table in the API reference and botocore's service model
/// (`InvalidDigest`, `BadDigest` for Content-MD5), and the responses of Amazon S3 itself as
/// recorded by S3-compatible servers that test against it (the checksum messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChecksumError {
    /// `Content-MD5` is not base64 of 16 bytes.
    #[error("malformed Content-MD5")]
    InvalidDigest,
    #[error("Content-MD5 does not match the body")]
    ContentMd5Mismatch,
    #[error("{0} checksum does not match the body")]
    ChecksumMismatch(ChecksumAlgorithm),
    /// More than one `x-amz-checksum-*` value (or repeated, or also a trailer).
    #[error("more than one checksum header")]
    MultipleChecksums,
    /// Both an `x-amz-checksum-*` value header and an `x-amz-trailer`.
    #[error("checksum header and checksum trailer both given")]
    ChecksumAndTrailer,
    /// `x-amz-checksum-<something S3 does not know>`.
    #[error("unknown x-amz-checksum- header")]
    UnknownChecksumHeader,
    /// A checksum header value that is not base64 of the algorithm's digest length.
    #[error("malformed {} value", .0.header_name())]
    InvalidChecksumValue(ChecksumAlgorithm),
    /// A trailing checksum value that is not base64 of the algorithm's digest length.
    #[error("malformed {} trailer value", .0.header_name())]
    InvalidTrailerValue(ChecksumAlgorithm),
    /// `x-amz-sdk-checksum-algorithm` / `x-amz-checksum-algorithm` names no known algorithm.
    #[error("unsupported checksum algorithm")]
    UnsupportedAlgorithm,
    /// The algorithm header names another algorithm than the checksum sent.
    #[error("checksum algorithm header disagrees with the checksum sent")]
    AlgorithmMismatch,
    /// `x-amz-trailer` names something other than a checksum header.
    #[error("unsupported x-amz-trailer")]
    UnsupportedTrailer,
    /// `x-amz-trailer` announced a checksum the body's trailer did not carry.
    #[error("announced {} trailer missing", .0.header_name())]
    MissingTrailer(ChecksumAlgorithm),
    /// The caller hashed the body without the algorithm [`IntegrityExpectation::algorithm`]
    /// asked for: a bug on our side.
    #[error("{0} checksum was not computed")]
    NotComputed(ChecksumAlgorithm),
}

impl ChecksumError {
    pub fn code(&self) -> &'static str {
        match self {
            ChecksumError::InvalidDigest => "InvalidDigest",
            ChecksumError::ContentMd5Mismatch | ChecksumError::ChecksumMismatch(_) => "BadDigest",
            ChecksumError::MissingTrailer(_) => "MalformedTrailerError",
            ChecksumError::NotComputed(_) => "InternalError",
            ChecksumError::MultipleChecksums
            | ChecksumError::ChecksumAndTrailer
            | ChecksumError::UnknownChecksumHeader
            | ChecksumError::InvalidChecksumValue(_)
            | ChecksumError::InvalidTrailerValue(_)
            | ChecksumError::UnsupportedAlgorithm
            | ChecksumError::AlgorithmMismatch
            | ChecksumError::UnsupportedTrailer => "InvalidRequest",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ChecksumError::NotComputed(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `<Message>` of the S3 error response.
    pub fn message(&self) -> String {
        match self {
            ChecksumError::InvalidDigest => "The Content-MD5 you specified is not valid.".into(),
            ChecksumError::ContentMd5Mismatch => {
                "The Content-MD5 you specified did not match what we received.".into()
            }
            ChecksumError::ChecksumMismatch(algorithm) => {
                format!("The {algorithm} you specified did not match the calculated checksum.")
            }
            ChecksumError::MultipleChecksums => {
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
                    .into()
            }
            ChecksumError::ChecksumAndTrailer => "Expecting a single x-amz-checksum- header".into(),
            ChecksumError::UnknownChecksumHeader => {
                "The algorithm type you specified in x-amz-checksum- header is invalid.".into()
            }
            ChecksumError::InvalidChecksumValue(algorithm) => {
                format!("Value for {} header is invalid.", algorithm.header_name())
            }
            ChecksumError::InvalidTrailerValue(algorithm) => {
                format!("Value for {} trailing header is invalid.", algorithm.header_name())
            }
            ChecksumError::UnsupportedAlgorithm => {
                "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
                    .into()
            }
            ChecksumError::AlgorithmMismatch => {
                "Value for x-amz-sdk-checksum-algorithm header is invalid.".into()
            }
            ChecksumError::UnsupportedTrailer => {
                "The value specified in the x-amz-trailer header is not supported".into()
            }
            ChecksumError::MissingTrailer(_) => {
                "The request contained trailing data that was not well-formed or did not conform to our published schema."
                    .into()
            }
            ChecksumError::NotComputed(_) => {
                "We encountered an internal error. Please try again.".into()
            }
        }
    }
}
