//! The additional checksum algorithms S3 knows, their names and value encoding.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;

use super::{ChecksumError, ChecksumHasher};

/// The additional checksum algorithms S3 computes and stores next to the MD5 (the
/// `checksum_algorithm` columns, CHECKed TEXT, hold [`as_str`](Self::as_str)'s names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, sqlx::Type)]
#[serde(rename_all = "UPPERCASE")]
#[sqlx(type_name = "text", rename_all = "UPPERCASE")]
pub enum ChecksumAlgorithm {
    Crc32,
    Crc32c,
    Crc64Nvme,
    Sha1,
    Sha256,
}

impl ChecksumAlgorithm {
    pub const ALL: [ChecksumAlgorithm; 5] = [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
        ChecksumAlgorithm::Sha1,
        ChecksumAlgorithm::Sha256,
    ];

    /// Parse an `x-amz-checksum-algorithm` / `x-amz-sdk-checksum-algorithm` value
    /// (`CRC32`, `crc32c`, …: S3 ignores case).
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.as_str().eq_ignore_ascii_case(value))
    }

    /// The algorithm whose value header is `name` (`x-amz-checksum-crc32`, any case).
    pub fn from_header_name(name: &str) -> Option<Self> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|algorithm| algorithm.header_name().eq_ignore_ascii_case(name))
    }

    /// The name as S3 spells it in requests, responses and error messages: `CRC32`, ….
    pub const fn as_str(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "CRC32",
            ChecksumAlgorithm::Crc32c => "CRC32C",
            ChecksumAlgorithm::Crc64Nvme => "CRC64NVME",
            ChecksumAlgorithm::Sha1 => "SHA1",
            ChecksumAlgorithm::Sha256 => "SHA256",
        }
    }

    /// The header carrying this checksum's value: `x-amz-checksum-crc32`, ….
    pub const fn header_name(self) -> &'static str {
        match self {
            ChecksumAlgorithm::Crc32 => "x-amz-checksum-crc32",
            ChecksumAlgorithm::Crc32c => "x-amz-checksum-crc32c",
            ChecksumAlgorithm::Crc64Nvme => "x-amz-checksum-crc64nvme",
            ChecksumAlgorithm::Sha1 => "x-amz-checksum-sha1",
            ChecksumAlgorithm::Sha256 => "x-amz-checksum-sha256",
        }
    }

    /// Length of the raw digest in bytes.
    pub const fn digest_len(self) -> usize {
        match self {
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c => 4,
            ChecksumAlgorithm::Crc64Nvme => 8,
            ChecksumAlgorithm::Sha1 => 20,
            ChecksumAlgorithm::Sha256 => 32,
        }
    }

    /// Is this a CRC (whose part checksums can be combined into a full-object checksum)?
    pub const fn is_crc(self) -> bool {
        matches!(
            self,
            ChecksumAlgorithm::Crc32 | ChecksumAlgorithm::Crc32c | ChecksumAlgorithm::Crc64Nvme
        )
    }

    /// Decode a base64 checksum value, `None` unless it is canonical base64 of exactly
    /// [`digest_len`](Self::digest_len) bytes.
    pub fn decode_value(self, value: &str) -> Option<Vec<u8>> {
        BASE64
            .decode(value.trim())
            .ok()
            .filter(|raw| raw.len() == self.digest_len())
    }

    /// The base64 checksum of `data`, in one go.
    pub fn checksum(self, data: &[u8]) -> String {
        let mut hasher = ChecksumHasher::new(self);
        hasher.update(data);
        hasher.finish()
    }
}

impl fmt::Display for ChecksumAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ChecksumAlgorithm {
    type Err = ChecksumError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value).ok_or(ChecksumError::UnsupportedAlgorithm)
    }
}

/// How a multipart object's checksum is made (`x-amz-checksum-type`; the
/// `multipart_uploads.checksum_type` column, a CHECKed TEXT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, sqlx::Type)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChecksumType {
    /// The checksum of the parts' checksums, `-<parts>`.
    Composite,
    /// The CRC of all the object's bytes, combined from the parts' CRCs.
    FullObject,
}

impl ChecksumType {
    pub const ALL: [ChecksumType; 2] = [ChecksumType::Composite, ChecksumType::FullObject];

    /// Parse an `x-amz-checksum-type` value (S3 ignores case).
    pub fn parse(value: &str) -> Option<Self> {
        let value = value.trim();
        Self::ALL
            .into_iter()
            .find(|checksum_type| checksum_type.as_str().eq_ignore_ascii_case(value))
    }

    /// A stored checksum's type: a checksum of checksums ends in `-<parts>`.
    pub fn of_value(value: &str) -> Self {
        if value.contains('-') {
            Self::Composite
        } else {
            Self::FullObject
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ChecksumType::Composite => "COMPOSITE",
            ChecksumType::FullObject => "FULL_OBJECT",
        }
    }
}

impl fmt::Display for ChecksumType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
