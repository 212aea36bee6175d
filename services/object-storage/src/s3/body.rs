//! Upload bodies: the raw stream (or the decoded `aws-chunked` stream), and the checks made
//! once its last byte arrived — the signed payload hash, `Content-MD5`, the
//! `x-amz-checksum-*` value (header or trailer), and the declared length.

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt};
use http::{HeaderMap, StatusCode};
use kumo_auth::SigV4Context;
use sha2::Digest;

use super::chunked::{self, ChunkSigning, ChunkedMode, TrailerHandle};
use crate::checksum::{
    ChecksumAlgorithm, ChecksumError, Digests, IntegrityExpectation, ObjectHasher,
};
use crate::error::{Result, StorageError};
use crate::write::BodyCheck;

impl From<chunked::ChunkedError> for StorageError {
    fn from(e: chunked::ChunkedError) -> Self {
        tracing::debug!(error = %e, "aws-chunked body refused");
        StorageError::S3(e.status(), e.code(), e.message().to_string())
    }
}

impl From<ChecksumError> for StorageError {
    fn from(e: ChecksumError) -> Self {
        StorageError::S3(e.status(), e.code(), e.message())
    }
}

/// Hashes an S3 upload as it passes and judges it at the end (the [`BodyCheck`] of
/// PutObject and UploadPart).
pub struct Verifier {
    hasher: ObjectHasher,
    expectation: IntegrityExpectation,
    /// The signed `x-amz-content-sha256` of a plain body, with the running hash.
    payload_sha256: Option<(String, sha2::Sha256)>,
    trailers: Option<TrailerHandle>,
    declared_length: Option<u64>,
    received: u64,
}

impl BodyCheck for Verifier {
    fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
        if let Some((_, hash)) = &mut self.payload_sha256 {
            hash.update(data);
        }
        self.received += data.len() as u64;
    }

    /// The declared length, the signed payload hash, then `Content-MD5` and the checksum
    /// (header or trailer).
    fn finish(self) -> Result<Digests> {
        if let Some(declared) = self.declared_length {
            if declared != self.received {
                return Err(StorageError::S3(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    "You did not provide the number of bytes specified by the Content-Length HTTP header".into(),
                ));
            }
        }
        if let Some((expected, hash)) = self.payload_sha256 {
            if hex::encode(hash.finalize()) != expected {
                return Err(StorageError::S3(
                    StatusCode::BAD_REQUEST,
                    "XAmzContentSHA256Mismatch",
                    "The provided 'x-amz-content-sha256' header does not match what was computed."
                        .into(),
                ));
            }
        }
        let digests = self.hasher.finish();
        let trailer_value = match (self.expectation.trailer_algorithm(), &self.trailers) {
            (Some(algorithm), Some(trailers)) => trailers.get(algorithm.header_name()),
            _ => None,
        };
        self.expectation
            .verify(&digests, trailer_value.as_deref())?;
        Ok(digests)
    }
}

/// An upload body ready to be written.
pub struct Incoming {
    pub stream: BoxStream<'static, Result<Bytes>>,
    pub verifier: Verifier,
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Open an upload body: decode `aws-chunked` when the payload hash says so, refuse bodies
/// over `max_bytes` up front when their length is declared.
///
/// `default_algorithm` is computed when the request names no checksum (an upload part of a
/// multipart upload created with a checksum algorithm). `body` is taken only once the
/// headers passed: a refused request leaves its body to the caller (to drain).
pub fn incoming(
    headers: &HeaderMap,
    context: Option<&SigV4Context>,
    body: impl FnOnce() -> axum::body::Body,
    max_bytes: u64,
    default_algorithm: Option<ChecksumAlgorithm>,
) -> Result<Incoming> {
    let expectation = IntegrityExpectation::from_headers(headers)?;
    let algorithm = expectation.algorithm().or(default_algorithm);
    let payload_hash = header(headers, "x-amz-content-sha256")
        .map(str::to_string)
        .or_else(|| context.map(|c| c.payload_hash.clone()))
        .unwrap_or_else(|| "UNSIGNED-PAYLOAD".into());
    let content_length = header(headers, "content-length").and_then(|v| v.parse::<u64>().ok());
    let plain = |raw_body: axum::body::BodyDataStream| {
        raw_body.map(|r| {
            r.map_err(|e| {
                StorageError::S3(
                    StatusCode::BAD_REQUEST,
                    "IncompleteBody",
                    format!("the request body could not be read: {e}"),
                )
            })
        })
    };
    let too_large = || {
        StorageError::S3(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed object size.".into(),
        )
    };
    let signing = context.map(|c| ChunkSigning {
        signing_key: c.signing_key.clone(),
        amz_date: c.amz_date.clone(),
        scope: c.scope(),
        seed_signature: c.seed_signature.clone(),
    });
    let chunked_encoding = header(headers, "content-encoding")
        .map(|v| {
            v.split(',')
                .any(|p| p.trim().eq_ignore_ascii_case("aws-chunked"))
        })
        .unwrap_or(false);
    if let Some(mode) = ChunkedMode::from_payload_hash(&payload_hash, signing) {
        let decoded_length = header(headers, "x-amz-decoded-content-length")
            .map(|v| {
                v.parse::<u64>().map_err(|_| {
                    StorageError::invalid_argument("x-amz-decoded-content-length must be a number")
                })
            })
            .transpose()?;
        let Some(decoded_length) = decoded_length else {
            return Err(StorageError::S3(
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header (x-amz-decoded-content-length for aws-chunked uploads).".into(),
            ));
        };
        if decoded_length > max_bytes {
            return Err(too_large());
        }
        let (stream, trailers) =
            chunked::decode(body().into_data_stream(), mode, Some(decoded_length));
        let stream = stream.map(|r| r.map_err(StorageError::from)).boxed();
        return Ok(Incoming {
            stream,
            verifier: Verifier {
                hasher: ObjectHasher::new(algorithm),
                expectation,
                payload_sha256: None,
                trailers: Some(trailers),
                declared_length: Some(decoded_length),
                received: 0,
            },
        });
    }
    if chunked_encoding && payload_hash.starts_with("STREAMING-") {
        return Err(StorageError::not_implemented(&format!(
            "x-amz-content-sha256: {payload_hash}"
        )));
    }
    match content_length {
        Some(length) if length > max_bytes => return Err(too_large()),
        Some(_) => {}
        None if header(headers, "transfer-encoding").is_some() => {}
        None => {
            return Err(StorageError::S3(
                StatusCode::LENGTH_REQUIRED,
                "MissingContentLength",
                "You must provide the Content-Length HTTP header.".into(),
            ))
        }
    }
    let payload_sha256 = (payload_hash.len() == 64
        && payload_hash.bytes().all(|b| b.is_ascii_hexdigit()))
    .then(|| (payload_hash.to_ascii_lowercase(), sha2::Sha256::new()));
    Ok(Incoming {
        stream: plain(body().into_data_stream()).boxed(),
        verifier: Verifier {
            hasher: ObjectHasher::new(algorithm),
            expectation,
            payload_sha256,
            trailers: None,
            declared_length: content_length,
            received: 0,
        },
    })
}
