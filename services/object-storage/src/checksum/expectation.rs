//! What an upload request promised about its body (`Content-MD5`, one `x-amz-checksum-*`
//! value or an announced trailer, the algorithm asked for), read from its headers, and the
//! comparison of the received body's digests with those promises.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use http::HeaderMap;

use super::{ChecksumAlgorithm, ChecksumError, Digests};

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
