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

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::{HeaderMap, StatusCode};
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

/// `Content-MD5`: base64 of the 16-byte MD5 of the body.
pub const CONTENT_MD5: &str = "content-md5";
/// The algorithm the SDK used for the checksum it sends (PutObject, UploadPart, …).
pub const SDK_CHECKSUM_ALGORITHM: &str = "x-amz-sdk-checksum-algorithm";
/// The algorithm requested for an object (CreateMultipartUpload, CopyObject, …).
pub const CHECKSUM_ALGORITHM: &str = "x-amz-checksum-algorithm";
/// Names the checksum header that follows an aws-chunked body as a trailer.
pub const TRAILER: &str = "x-amz-trailer";

/// Headers that start with `x-amz-checksum-` without carrying a checksum value.
const NON_VALUE_CHECKSUM_HEADERS: [&str; 3] = [
    CHECKSUM_ALGORITHM,
    "x-amz-checksum-type",
    "x-amz-checksum-mode",
];
const CHECKSUM_HEADER_PREFIX: &str = "x-amz-checksum-";

// ---------------------------------------------------------------------------------------
// Algorithms
// ---------------------------------------------------------------------------------------

/// The additional checksum algorithms S3 computes and stores next to the MD5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

// ---------------------------------------------------------------------------------------
// Incremental hashing
// ---------------------------------------------------------------------------------------

/// One checksum algorithm, computed incrementally.
#[derive(Clone)]
pub struct ChecksumHasher {
    state: HasherState,
}

#[derive(Clone)]
enum HasherState {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl ChecksumHasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => HasherState::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => HasherState::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => HasherState::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => HasherState::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => HasherState::Sha256(Sha256::new()),
        };
        Self { state }
    }

    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.state {
            HasherState::Crc32(_) => ChecksumAlgorithm::Crc32,
            HasherState::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            HasherState::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            HasherState::Sha1(_) => ChecksumAlgorithm::Sha1,
            HasherState::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HasherState::Crc32(hasher) => hasher.update(data),
            HasherState::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            HasherState::Crc64Nvme(digest) => digest.write(data),
            HasherState::Sha1(hasher) => hasher.update(data),
            HasherState::Sha256(hasher) => hasher.update(data),
        }
    }

    /// The raw digest; CRCs big-endian, as S3 encodes them.
    pub fn finish_raw(self) -> Vec<u8> {
        match self.state {
            HasherState::Crc32(hasher) => hasher.finalize().to_be_bytes().to_vec(),
            HasherState::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            HasherState::Crc64Nvme(digest) => digest.sum64().to_be_bytes().to_vec(),
            HasherState::Sha1(hasher) => hasher.finalize().to_vec(),
            HasherState::Sha256(hasher) => hasher.finalize().to_vec(),
        }
    }

    /// The digest in base64, as S3 returns it (`x-amz-checksum-*`, `<ChecksumCRC32>`, …).
    pub fn finish(self) -> String {
        BASE64.encode(self.finish_raw())
    }
}

impl fmt::Debug for ChecksumHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChecksumHasher")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// What an upload is hashed with: always MD5 (the ETag, and `Content-MD5`), plus the one
/// additional checksum the request asked for, if any.
#[derive(Clone)]
pub struct ObjectHasher {
    md5: Md5,
    checksum: Option<ChecksumHasher>,
}

impl ObjectHasher {
    pub fn new(algorithm: Option<ChecksumAlgorithm>) -> Self {
        Self {
            md5: Md5::new(),
            checksum: algorithm.map(ChecksumHasher::new),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(checksum) = &mut self.checksum {
            checksum.update(data);
        }
    }

    pub fn finish(self) -> Digests {
        Digests {
            md5: self.md5.finalize().into(),
            checksum: self
                .checksum
                .map(|hasher| (hasher.algorithm(), hasher.finish())),
        }
    }
}

impl fmt::Debug for ObjectHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectHasher")
            .field("checksum", &self.checksum)
            .finish_non_exhaustive()
    }
}

/// The digests of a whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub md5: [u8; 16],
    /// The additional checksum, base64 as S3 returns it.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

impl Digests {
    /// Lowercase hex MD5: the ETag of a single-part object, without its quotes.
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }
}

// ---------------------------------------------------------------------------------------
// What the request promised
// ---------------------------------------------------------------------------------------

/// The integrity promises of an upload request (PutObject, UploadPart, …).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrityExpectation {
    content_md5: Option<[u8; 16]>,
    /// A checksum value sent as a header, with its decoded bytes.
    checksum: Option<(ChecksumAlgorithm, String, Vec<u8>)>,
    /// A checksum announced by `x-amz-trailer`, to arrive after the aws-chunked body.
    trailer: Option<ChecksumAlgorithm>,
    /// What the SDK said it used, when it sent no value at all.
    requested: Option<ChecksumAlgorithm>,
}

impl IntegrityExpectation {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ChecksumError> {
        let content_md5 = content_md5(headers)?;
        let checksum = checksum_value_header(headers)?;
        let trailer = announced_trailer(headers)?;
        if checksum.is_some() && trailer.is_some() {
            return Err(ChecksumError::ChecksumAndTrailer);
        }
        let requested = requested_algorithm(headers)?;
        let sent = checksum
            .as_ref()
            .map(|(algorithm, _, _)| *algorithm)
            .or(trailer);
        // S3 rejects an SDK algorithm that names another checksum than the one sent.
        if let (Some(requested), Some(sent)) = (requested, sent) {
            if requested != sent {
                return Err(ChecksumError::AlgorithmMismatch);
            }
        }
        Ok(Self {
            content_md5,
            checksum,
            trailer,
            requested,
        })
    }

    /// The checksum algorithm to compute while receiving the body (feed it to
    /// [`ObjectHasher::new`]): the one whose value was sent or announced, else the one the
    /// SDK asked for (the result is then stored but there is nothing to compare it with).
    pub fn algorithm(&self) -> Option<ChecksumAlgorithm> {
        self.checksum
            .as_ref()
            .map(|(algorithm, _, _)| *algorithm)
            .or(self.trailer)
            .or(self.requested)
    }

    /// The decoded `Content-MD5`, if one was sent.
    pub fn content_md5(&self) -> Option<[u8; 16]> {
        self.content_md5
    }

    /// The checksum value sent as a request header (base64), if any.
    pub fn header_checksum(&self) -> Option<(ChecksumAlgorithm, &str)> {
        self.checksum
            .as_ref()
            .map(|(algorithm, value, _)| (*algorithm, value.as_str()))
    }

    /// The checksum announced by `x-amz-trailer`: the caller must take the value of
    /// `algorithm.header_name()` from the aws-chunked trailer and pass it to [`Self::verify`].
    pub fn trailer_algorithm(&self) -> Option<ChecksumAlgorithm> {
        self.trailer
    }

    /// Compare the digests of the received body with the promises. `trailer_value` is the
    /// value of the trailing header named by `x-amz-trailer` (ignored when none was
    /// announced).
    pub fn verify(
        &self,
        digests: &Digests,
        trailer_value: Option<&str>,
    ) -> Result<(), ChecksumError> {
        if let Some(expected) = self.content_md5 {
            if expected != digests.md5 {
                return Err(ChecksumError::ContentMd5Mismatch);
            }
        }
        if let Some((algorithm, _, expected)) = &self.checksum {
            compare_checksum(*algorithm, expected, digests)?;
        }
        if let Some(algorithm) = self.trailer {
            let value = trailer_value.ok_or(ChecksumError::MissingTrailer(algorithm))?;
            let expected = algorithm
                .decode_value(value)
                .ok_or(ChecksumError::InvalidTrailerValue(algorithm))?;
            compare_checksum(algorithm, &expected, digests)?;
        }
        Ok(())
    }
}

fn compare_checksum(
    algorithm: ChecksumAlgorithm,
    expected: &[u8],
    digests: &Digests,
) -> Result<(), ChecksumError> {
    let computed = match &digests.checksum {
        Some((computed_algorithm, value)) if *computed_algorithm == algorithm => {
            algorithm.decode_value(value)
        }
        _ => None,
    };
    match computed {
        Some(computed) if computed == expected => Ok(()),
        Some(_) => Err(ChecksumError::ChecksumMismatch(algorithm)),
        // The caller hashed with another algorithm than `algorithm()` told it to.
        None => Err(ChecksumError::NotComputed(algorithm)),
    }
}

/// The single value of a header, `Ok(None)` if absent, `Err(())` if repeated or not text.
fn single_header<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, ()> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(());
    }
    first
        .to_str()
        .map(|value| Some(value.trim()))
        .map_err(|_| ())
}

fn content_md5(headers: &HeaderMap) -> Result<Option<[u8; 16]>, ChecksumError> {
    let Some(value) =
        single_header(headers, CONTENT_MD5).map_err(|()| ChecksumError::InvalidDigest)?
    else {
        return Ok(None);
    };
    let raw = BASE64
        .decode(value)
        .map_err(|_| ChecksumError::InvalidDigest)?;
    <[u8; 16]>::try_from(raw.as_slice())
        .map(Some)
        .map_err(|_| ChecksumError::InvalidDigest)
}

fn checksum_value_header(
    headers: &HeaderMap,
) -> Result<Option<(ChecksumAlgorithm, String, Vec<u8>)>, ChecksumError> {
    let mut found = None;
    let mut count = 0;
    for name in headers.keys() {
        let name = name.as_str();
        if !name.starts_with(CHECKSUM_HEADER_PREFIX) || NON_VALUE_CHECKSUM_HEADERS.contains(&name) {
            continue;
        }
        let algorithm = ChecksumAlgorithm::from_header_name(name)
            .ok_or(ChecksumError::UnknownChecksumHeader)?;
        // S3 counts headers, not distinct algorithms, and does so before looking at values.
        count += headers.get_all(name).iter().count();
        found = Some(algorithm);
    }
    let Some(algorithm) = found else {
        return Ok(None);
    };
    if count > 1 {
        return Err(ChecksumError::MultipleChecksums);
    }
    let value = single_header(headers, algorithm.header_name())
        .ok()
        .flatten()
        .ok_or(ChecksumError::InvalidChecksumValue(algorithm))?;
    let raw = algorithm
        .decode_value(value)
        .ok_or(ChecksumError::InvalidChecksumValue(algorithm))?;
    Ok(Some((algorithm, value.to_string(), raw)))
}

fn announced_trailer(headers: &HeaderMap) -> Result<Option<ChecksumAlgorithm>, ChecksumError> {
    let mut found = None;
    for value in headers.get_all(TRAILER) {
        let value = value
            .to_str()
            .map_err(|_| ChecksumError::UnsupportedTrailer)?;
        // A trailer list is comma-separated; S3 only knows checksum trailers, one at most.
        for name in value
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty())
        {
            let algorithm = ChecksumAlgorithm::from_header_name(name)
                .ok_or(ChecksumError::UnsupportedTrailer)?;
            if found.is_some() {
                return Err(ChecksumError::MultipleChecksums);
            }
            found = Some(algorithm);
        }
    }
    Ok(found)
}

fn requested_algorithm(headers: &HeaderMap) -> Result<Option<ChecksumAlgorithm>, ChecksumError> {
    let mut requested = None;
    for name in [SDK_CHECKSUM_ALGORITHM, CHECKSUM_ALGORITHM] {
        let Some(value) =
            single_header(headers, name).map_err(|()| ChecksumError::UnsupportedAlgorithm)?
        else {
            continue;
        };
        let algorithm =
            ChecksumAlgorithm::parse(value).ok_or(ChecksumError::UnsupportedAlgorithm)?;
        if requested.is_some_and(|previous| previous != algorithm) {
            return Err(ChecksumError::AlgorithmMismatch);
        }
        requested = Some(algorithm);
    }
    Ok(requested)
}

// ---------------------------------------------------------------------------------------
// Multipart uploads
// ---------------------------------------------------------------------------------------

/// The ETag of a completed multipart upload (without quotes): hex MD5 of the concatenated
/// binary part MD5s, a dash and the number of parts.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut md5 = Md5::new();
    for part in part_md5s {
        md5.update(part);
    }
    format!("{}-{}", hex::encode(md5.finalize()), part_md5s.len())
}

/// The `COMPOSITE` checksum of a multipart upload: the checksum of the concatenated raw part
/// checksums, base64, a dash and the number of parts. `None` if a part checksum is not a
/// valid value of `algorithm`. (S3 only offers `FULL_OBJECT` for CRC64NVME.)
pub fn composite_checksum(algorithm: ChecksumAlgorithm, part_checksums: &[&str]) -> Option<String> {
    let mut hasher = ChecksumHasher::new(algorithm);
    for part in part_checksums {
        hasher.update(&algorithm.decode_value(part)?);
    }
    Some(format!("{}-{}", hasher.finish(), part_checksums.len()))
}

/// The `FULL_OBJECT` checksum of a multipart upload with a CRC algorithm: the CRC of the
/// whole object, combined from each part's CRC (base64) and length without reading the data
/// again. `None` for SHA algorithms or if a part checksum is not valid.
pub fn full_object_crc(algorithm: ChecksumAlgorithm, parts: &[(&str, u64)]) -> Option<String> {
    let (polynomial, width) = match algorithm {
        ChecksumAlgorithm::Crc32 => (CRC32_REFLECTED, 32),
        ChecksumAlgorithm::Crc32c => (CRC32C_REFLECTED, 32),
        ChecksumAlgorithm::Crc64Nvme => (CRC64NVME_REFLECTED, 64),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return None,
    };
    let crc_field = GaloisField { polynomial, width };
    // The CRC of no data: every one of these CRCs has init = xorout = all ones, so it is 0.
    let mut combined = 0u64;
    for (value, length) in parts {
        let raw = algorithm.decode_value(value)?;
        let part_crc = raw
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        combined = crc_field.combine(combined, part_crc, *length);
    }
    let bytes = combined.to_be_bytes();
    Some(BASE64.encode(&bytes[bytes.len() - algorithm.digest_len()..]))
}

/// Reflected generator polynomials (bit 0 of the value is the x^(width-1) coefficient).
const CRC32_REFLECTED: u64 = 0xEDB8_8320;
const CRC32C_REFLECTED: u64 = 0x82F6_3B78;
const CRC64NVME_REFLECTED: u64 = 0x9A6C_9329_AC4B_C9B5;

/// Arithmetic modulo a reflected CRC polynomial, for combining CRCs (zlib's
/// `crc32_combine`, generalised to any width up to 64).
struct GaloisField {
    polynomial: u64,
    width: u32,
}

impl GaloisField {
    /// `x^0` in the reflected representation: the top bit.
    fn one(&self) -> u64 {
        1 << (self.width - 1)
    }

    /// `a * b mod polynomial`.
    fn multiply(&self, a: u64, mut b: u64) -> u64 {
        let mut mask = self.one();
        let mut product = 0;
        while mask != 0 {
            if a & mask != 0 {
                product ^= b;
            }
            mask >>= 1;
            b = if b & 1 != 0 {
                (b >> 1) ^ self.polynomial
            } else {
                b >> 1
            };
        }
        product
    }

    /// `x^(8 * bytes) mod polynomial`, by squaring.
    fn shift_for_bytes(&self, bytes: u64) -> u64 {
        let mut result = self.one();
        // x^8: one byte of zeros.
        let mut power = self.one() >> 8;
        let mut remaining = bytes;
        while remaining != 0 {
            if remaining & 1 != 0 {
                result = self.multiply(power, result);
            }
            power = self.multiply(power, power);
            remaining >>= 1;
        }
        result
    }

    /// CRC(A ‖ B) from CRC(A), CRC(B) and the length of B.
    fn combine(&self, crc_a: u64, crc_b: u64, length_b: u64) -> u64 {
        self.multiply(self.shift_for_bytes(length_b), crc_a) ^ crc_b
    }
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    fn digests_of(algorithm: Option<ChecksumAlgorithm>, data: &[u8]) -> Digests {
        let mut hasher = ObjectHasher::new(algorithm);
        hasher.update(data);
        hasher.finish()
    }

    #[test]
    fn known_vectors() {
        // Values botocore 1.44 computes for b"hello world" (Crc32Checksum, Sha1Checksum,
        // Sha256Checksum), and the catalogued CRC check values of b"123456789".
        use ChecksumAlgorithm::*;
        assert_eq!(Crc32.checksum(b"hello world"), "DUoRhQ==");
        assert_eq!(
            Sha1.checksum(b"hello world"),
            "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
        );
        assert_eq!(
            Sha256.checksum(b"hello world"),
            "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
        );
        assert_eq!(Crc32.checksum(b""), "AAAAAA==");
        assert_eq!(Sha1.checksum(b""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
        assert_eq!(
            Sha256.checksum(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        let check = |algorithm: ChecksumAlgorithm, value: u64| {
            let raw = algorithm
                .decode_value(&algorithm.checksum(b"123456789"))
                .unwrap();
            let got = raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            assert_eq!(got, value, "{algorithm}");
        };
        check(Crc32, 0xCBF4_3926);
        check(Crc32c, 0xE306_9283);
        check(Crc64Nvme, 0xAE8B_1486_0A79_9888);
    }

    #[test]
    fn incremental_equals_one_shot() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
        for algorithm in ChecksumAlgorithm::ALL {
            let mut hasher = ObjectHasher::new(Some(algorithm));
            for piece in data.chunks(777) {
                hasher.update(piece);
            }
            let digests = hasher.finish();
            assert_eq!(
                digests.checksum,
                Some((algorithm, algorithm.checksum(&data)))
            );
            assert_eq!(digests.md5, <[u8; 16]>::from(Md5::digest(&data)));
        }
    }

    #[test]
    fn md5_and_etag() {
        let digests = digests_of(None, b"hello world");
        assert_eq!(digests.md5_hex(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
        assert_eq!(digests.checksum, None);
    }

    #[test]
    fn parses_names_case_insensitively() {
        assert_eq!(
            ChecksumAlgorithm::parse("crc32c"),
            Some(ChecksumAlgorithm::Crc32c)
        );
        assert_eq!(
            ChecksumAlgorithm::parse(" SHA256 "),
            Some(ChecksumAlgorithm::Sha256)
        );
        assert_eq!(
            ChecksumAlgorithm::parse("Crc64Nvme"),
            Some(ChecksumAlgorithm::Crc64Nvme)
        );
        assert_eq!(ChecksumAlgorithm::parse("MD5"), None);
        assert_eq!(
            ChecksumAlgorithm::from_header_name("X-Amz-Checksum-Sha1"),
            Some(ChecksumAlgorithm::Sha1)
        );
        assert_eq!(
            ChecksumAlgorithm::from_header_name("x-amz-checksum-type"),
            None
        );
        for algorithm in ChecksumAlgorithm::ALL {
            assert_eq!(
                algorithm.as_str().parse::<ChecksumAlgorithm>(),
                Ok(algorithm)
            );
            assert_eq!(
                ChecksumAlgorithm::from_header_name(algorithm.header_name()),
                Some(algorithm)
            );
        }
    }

    #[test]
    fn plain_request_expects_nothing() {
        let expectation =
            IntegrityExpectation::from_headers(&headers(&[("x-amz-checksum-mode", "ENABLED")]))
                .unwrap();
        assert_eq!(expectation.algorithm(), None);
        expectation
            .verify(&digests_of(None, b"anything"), None)
            .unwrap();
    }

    #[test]
    fn content_md5_checked() {
        let good = headers(&[("content-md5", "XrY7u+Ae7tCTyyK7j1rNww==")]);
        let expectation = IntegrityExpectation::from_headers(&good).unwrap();
        expectation
            .verify(&digests_of(None, b"hello world"), None)
            .unwrap();
        let err = expectation
            .verify(&digests_of(None, b"hello world!"), None)
            .unwrap_err();
        assert_eq!(err, ChecksumError::ContentMd5Mismatch);
        assert_eq!(err.code(), "BadDigest");
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);

        for bad in ["not base64!", "AAAA", ""] {
            let err =
                IntegrityExpectation::from_headers(&headers(&[("content-md5", bad)])).unwrap_err();
            assert_eq!(err.code(), "InvalidDigest", "{bad:?}");
            assert_eq!(err.message(), "The Content-MD5 you specified is not valid.");
        }
    }

    #[test]
    fn checksum_header_checked() {
        // What boto3 sends for PutObject(Body=b"hello world") without aws-chunked.
        let expectation = IntegrityExpectation::from_headers(&headers(&[
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-checksum-crc32", "DUoRhQ=="),
        ]))
        .unwrap();
        assert_eq!(expectation.algorithm(), Some(ChecksumAlgorithm::Crc32));
        assert_eq!(
            expectation.header_checksum(),
            Some((ChecksumAlgorithm::Crc32, "DUoRhQ=="))
        );
        let algorithm = expectation.algorithm();
        expectation
            .verify(&digests_of(algorithm, b"hello world"), None)
            .unwrap();
        let err = expectation
            .verify(&digests_of(algorithm, b"hello"), None)
            .unwrap_err();
        assert_eq!(err.code(), "BadDigest");
        assert_eq!(
            err.message(),
            "The CRC32 you specified did not match the calculated checksum."
        );
        // Hashed without the checksum: our bug, not the client's.
        let err = expectation
            .verify(&digests_of(None, b"hello world"), None)
            .unwrap_err();
        assert_eq!(err.code(), "InternalError");
        assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn malformed_checksum_values_rejected() {
        for (name, value) in [
            ("x-amz-checksum-crc32", "DUoRhQ"),
            ("x-amz-checksum-crc32", "AAAAAAAAAAA="),
            ("x-amz-checksum-sha256", "DUoRhQ=="),
            ("x-amz-checksum-crc64nvme", ""),
        ] {
            let err = IntegrityExpectation::from_headers(&headers(&[(name, value)])).unwrap_err();
            assert_eq!(err.code(), "InvalidRequest");
            assert_eq!(
                err.message(),
                format!("Value for {name} header is invalid.")
            );
        }
        let err = IntegrityExpectation::from_headers(&headers(&[("x-amz-checksum-md4", "AA==")]))
            .unwrap_err();
        assert_eq!(err, ChecksumError::UnknownChecksumHeader);
    }

    #[test]
    fn more_than_one_checksum_rejected() {
        let err = IntegrityExpectation::from_headers(&headers(&[
            ("x-amz-checksum-crc32", "DUoRhQ=="),
            ("x-amz-checksum-sha1", "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
        ]))
        .unwrap_err();
        assert_eq!(err.code(), "InvalidRequest");
        assert_eq!(
            err.message(),
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        );
        let err = IntegrityExpectation::from_headers(&headers(&[
            ("x-amz-checksum-crc32", "DUoRhQ=="),
            ("x-amz-checksum-crc32", "DUoRhQ=="),
        ]))
        .unwrap_err();
        assert_eq!(err, ChecksumError::MultipleChecksums);
        // Even empty values count: S3 checks the number of headers first.
        let err = IntegrityExpectation::from_headers(&headers(&[
            ("x-amz-checksum-sha1", ""),
            ("x-amz-checksum-crc32", ""),
        ]))
        .unwrap_err();
        assert_eq!(err, ChecksumError::MultipleChecksums);
        let err = IntegrityExpectation::from_headers(&headers(&[
            ("x-amz-checksum-crc32", "DUoRhQ=="),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
        ]))
        .unwrap_err();
        assert_eq!(err, ChecksumError::ChecksumAndTrailer);
        assert_eq!(err.code(), "InvalidRequest");
    }

    #[test]
    fn algorithm_headers() {
        let err = IntegrityExpectation::from_headers(&headers(&[
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-checksum-crc32c", "yZRlqg=="),
        ]))
        .unwrap_err();
        assert_eq!(err.code(), "InvalidRequest");
        assert_eq!(
            err.message(),
            "Value for x-amz-sdk-checksum-algorithm header is invalid."
        );
        let err = IntegrityExpectation::from_headers(&headers(&[(
            "x-amz-sdk-checksum-algorithm",
            "MD5",
        )]))
        .unwrap_err();
        assert_eq!(err, ChecksumError::UnsupportedAlgorithm);
        assert_eq!(err.code(), "InvalidRequest");
        // An algorithm without a value: computed (and stored) but nothing to compare.
        let expectation =
            IntegrityExpectation::from_headers(&headers(&[("x-amz-checksum-algorithm", "sha256")]))
                .unwrap();
        assert_eq!(expectation.algorithm(), Some(ChecksumAlgorithm::Sha256));
        expectation
            .verify(&digests_of(expectation.algorithm(), b"x"), None)
            .unwrap();
    }

    #[test]
    fn trailer_checked() {
        // The headers botocore sends with an aws-chunked PutObject.
        let expectation = IntegrityExpectation::from_headers(&headers(&[
            ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ("x-amz-trailer", "x-amz-checksum-crc32"),
            ("content-encoding", "aws-chunked"),
        ]))
        .unwrap();
        assert_eq!(expectation.algorithm(), Some(ChecksumAlgorithm::Crc32));
        assert_eq!(
            expectation.trailer_algorithm(),
            Some(ChecksumAlgorithm::Crc32)
        );
        let digests = digests_of(expectation.algorithm(), b"hello world");
        expectation.verify(&digests, Some("DUoRhQ==")).unwrap();

        let err = expectation.verify(&digests, Some("AAAAAA==")).unwrap_err();
        assert_eq!(
            err,
            ChecksumError::ChecksumMismatch(ChecksumAlgorithm::Crc32)
        );
        let err = expectation.verify(&digests, None).unwrap_err();
        assert_eq!(err.code(), "MalformedTrailerError");
        let err = expectation.verify(&digests, Some("nope")).unwrap_err();
        assert_eq!(err.code(), "InvalidRequest");
        assert_eq!(
            err.message(),
            "Value for x-amz-checksum-crc32 trailing header is invalid."
        );

        let err =
            IntegrityExpectation::from_headers(&headers(&[("x-amz-trailer", "x-amz-meta-foo")]))
                .unwrap_err();
        assert_eq!(err, ChecksumError::UnsupportedTrailer);
        let err = IntegrityExpectation::from_headers(&headers(&[(
            "x-amz-trailer",
            "x-amz-checksum-crc32, x-amz-checksum-sha1",
        )]))
        .unwrap_err();
        assert_eq!(err, ChecksumError::MultipleChecksums);
    }

    #[test]
    fn multipart_etag_matches_s3() {
        // Two parts: the ETag S3 gives, computed the way every S3 client checks it.
        let part1 = <[u8; 16]>::from(Md5::digest(b"part one"));
        let part2 = <[u8; 16]>::from(Md5::digest(b"part two"));
        let mut concat = Vec::new();
        concat.extend_from_slice(&part1);
        concat.extend_from_slice(&part2);
        assert_eq!(
            multipart_etag(&[part1, part2]),
            format!("{}-2", hex::encode(Md5::digest(&concat)))
        );
        assert_eq!(
            multipart_etag(&[<[u8; 16]>::from(Md5::digest(b""))]),
            "59adb24ef3cdbe0297f05b395827453f-1"
        );
    }

    #[test]
    fn composite_checksum_is_checksum_of_checksums() {
        let parts = [
            ChecksumAlgorithm::Sha256.checksum(b"part one"),
            ChecksumAlgorithm::Sha256.checksum(b"part two"),
        ];
        let part_refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let mut concat = Vec::new();
        concat.extend(Sha256::digest(b"part one"));
        concat.extend(Sha256::digest(b"part two"));
        assert_eq!(
            composite_checksum(ChecksumAlgorithm::Sha256, &part_refs),
            Some(format!("{}-2", ChecksumAlgorithm::Sha256.checksum(&concat)))
        );
        assert_eq!(
            composite_checksum(ChecksumAlgorithm::Crc32, &part_refs),
            None
        );
    }

    #[test]
    fn full_object_crc_combines_parts() {
        let data: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let splits = [0usize, 1, 4096, 65_536, 100_001, 199_999, 200_000];
        for algorithm in [
            ChecksumAlgorithm::Crc32,
            ChecksumAlgorithm::Crc32c,
            ChecksumAlgorithm::Crc64Nvme,
        ] {
            let parts: Vec<(String, u64)> = splits
                .windows(2)
                .map(|w| (algorithm.checksum(&data[w[0]..w[1]]), (w[1] - w[0]) as u64))
                .collect();
            let part_refs: Vec<(&str, u64)> = parts.iter().map(|(c, l)| (c.as_str(), *l)).collect();
            assert_eq!(
                full_object_crc(algorithm, &part_refs),
                Some(algorithm.checksum(&data)),
                "{algorithm}"
            );
            assert_eq!(
                full_object_crc(algorithm, &[]),
                Some(algorithm.checksum(b""))
            );
        }
        assert_eq!(full_object_crc(ChecksumAlgorithm::Sha1, &[]), None);
    }
}
