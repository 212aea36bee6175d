//! Decoding of `Content-Encoding: aws-chunked` request bodies (S3 streaming uploads).
//!
//! The payload hash of the request (`x-amz-content-sha256`) selects the format:
//!
//! | payload hash                                 | framing                                                        |
//! |----------------------------------------------|----------------------------------------------------------------|
//! | `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`         | `hex-size;chunk-signature=<sig>\r\n<data>\r\n` … `0;chunk-signature=<sig>\r\n\r\n` |
//! | `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER` | the same, then `name:value\r\n` trailers, `x-amz-trailer-signature:<sig>\r\n`, `\r\n` |
//! | `STREAMING-UNSIGNED-PAYLOAD-TRAILER`         | `hex-size\r\n<data>\r\n` … `0\r\n`, then `name:value\r\n` trailers and `\r\n` |
//!
//! Each chunk signature chains on the previous one, the first on the seed signature of the
//! request (see [`kumo_auth::sigv4::chunk_signature_for_hash`]); the trailer signature chains
//! on the signature of the final, empty chunk.
//!
//! # API
//!
//! ```text
//! let signing = sigv4_context.map(ChunkSigning::from_context);
//! let Some(mode) = ChunkedMode::from_payload_hash(&payload_hash, signing) else { … };
//! let (data, trailers) = chunked::decode(body.into_data_stream(), mode, decoded_length);
//! // consume `data` to the end; only if every item was Ok:
//! let crc = trailers.get("x-amz-checksum-crc32");
//! ```
//!
//! [`decode`] returns the object data as a stream and a [`TrailerHandle`] that holds the
//! trailing headers once the stream has ended without error.
//!
//! Data is passed on as it arrives, without collecting the body: memory use is bounded by
//! [`MAX_LINE_LEN`] and [`MAX_TRAILERS`] whatever the body size. A chunk's signature can only
//! be checked once all its bytes have been seen, so bytes of a forged chunk may already have
//! been yielded when the stream reports [`ChunkedError::SignatureDoesNotMatch`] (the last
//! piece of a chunk is held back until its signature checked out): callers must commit
//! nothing unless the stream ends without error. Input may be split anywhere (inside chunk
//! headers, between CR and LF, …). Lines may end in CRLF or a bare LF.
//!
//! Chunks smaller than the 8 KiB AWS requires for all but the last are accepted (botocore
//! itself warns its chunk sizes are not deterministic).

mod decoder;
mod signing;
mod trailers;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::StatusCode;
use kumo_auth::sigv4;

use decoder::Decoder;
pub use signing::ChunkSigning;
pub use trailers::{TrailerHandle, Trailers};

/// Longest chunk-header or trailer line accepted, CRLF included. A signed chunk header is
/// about 90 bytes, a checksum trailer about 70.
pub const MAX_LINE_LEN: usize = 4096;
/// Most trailing headers accepted (S3 clients send one checksum and its signature).
pub const MAX_TRAILERS: usize = 16;
/// The trailing header carrying the trailer signature.
pub const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// An error of the underlying body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The aws-chunked variant of a request.
#[derive(Debug, Clone)]
pub enum ChunkedMode {
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`: signed chunks, no trailers.
    Signed(ChunkSigning),
    /// `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`: signed chunks and signed trailers.
    SignedWithTrailer(ChunkSigning),
    /// `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: plain chunks and unsigned trailers.
    UnsignedWithTrailer,
}

impl ChunkedMode {
    /// The mode for an `x-amz-content-sha256` value. `None` if it is not one of the three
    /// streaming values, or is a signed one and `signing` is `None` (anonymous request).
    pub fn from_payload_hash(payload_hash: &str, signing: Option<ChunkSigning>) -> Option<Self> {
        match payload_hash {
            sigv4::STREAMING_PAYLOAD => signing.map(ChunkedMode::Signed),
            sigv4::STREAMING_PAYLOAD_TRAILER => signing.map(ChunkedMode::SignedWithTrailer),
            sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER => Some(ChunkedMode::UnsignedWithTrailer),
            _ => None,
        }
    }

    /// Is `payload_hash` one of the aws-chunked values this module decodes?
    pub fn is_streaming_payload_hash(payload_hash: &str) -> bool {
        matches!(
            payload_hash,
            sigv4::STREAMING_PAYLOAD
                | sigv4::STREAMING_PAYLOAD_TRAILER
                | sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER
        )
    }
}

/// Why an aws-chunked body was refused; each maps to the S3 error AWS answers with.
///
/// The `String`s describe the defect for logs; the client gets [`ChunkedError::message`].
#[derive(Debug, thiserror::Error)]
pub enum ChunkedError {
    /// A chunk or trailer signature is wrong or missing: `SignatureDoesNotMatch`, 403.
    #[error("aws-chunked signature mismatch: {0}")]
    SignatureDoesNotMatch(String),
    /// Broken chunk framing, a truncated body, or a decoded length other than
    /// `x-amz-decoded-content-length`: `IncompleteBody`, 400.
    #[error("malformed aws-chunked body: {0}")]
    IncompleteBody(String),
    /// Malformed trailing headers, or data after the body's end: `MalformedTrailerError`, 400.
    #[error("malformed aws-chunked trailer: {0}")]
    MalformedTrailer(String),
    /// Reading the request body failed (connection reset, size limit, …). Answered as
    /// `IncompleteBody`; callers may look at the source first.
    #[error("reading the request body failed: {0}")]
    Body(#[source] BoxError),
}

impl ChunkedError {
    pub fn code(&self) -> &'static str {
        match self {
            ChunkedError::SignatureDoesNotMatch(_) => "SignatureDoesNotMatch",
            ChunkedError::IncompleteBody(_) | ChunkedError::Body(_) => "IncompleteBody",
            ChunkedError::MalformedTrailer(_) => "MalformedTrailerError",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ChunkedError::SignatureDoesNotMatch(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    /// The `<Message>` of the S3 error response (AWS's wording).
    pub fn message(&self) -> &'static str {
        match self {
            ChunkedError::SignatureDoesNotMatch(_) => {
                "The request signature we calculated does not match the signature you provided. Check your key and signing method."
            }
            ChunkedError::IncompleteBody(_) | ChunkedError::Body(_) => {
                "You did not provide the number of bytes specified by the Content-Length HTTP header"
            }
            ChunkedError::MalformedTrailer(_) => {
                "The request contained trailing data that was not well-formed or did not conform to our published schema."
            }
        }
    }
}

fn incomplete(detail: impl Into<String>) -> ChunkedError {
    ChunkedError::IncompleteBody(detail.into())
}

fn malformed_trailer(detail: impl Into<String>) -> ChunkedError {
    ChunkedError::MalformedTrailer(detail.into())
}

fn bad_signature(detail: impl Into<String>) -> ChunkedError {
    ChunkedError::SignatureDoesNotMatch(detail.into())
}

/// Decode an aws-chunked body into the object's bytes. `decoded_length` is the value of
/// `x-amz-decoded-content-length`, checked when given. See the module documentation.
pub fn decode<S, E>(
    body: S,
    mode: ChunkedMode,
    decoded_length: Option<u64>,
) -> (
    impl Stream<Item = Result<Bytes, ChunkedError>> + Send,
    TrailerHandle,
)
where
    S: Stream<Item = Result<Bytes, E>> + Send,
    E: Into<BoxError>,
{
    let handle = TrailerHandle::default();
    let state = DecodeStream {
        // Boxed so that any stream can be polled, pinned or not.
        body: Box::pin(body),
        decoder: Decoder::new(mode, decoded_length),
        pending: Bytes::new(),
        finished: false,
        handle: handle.clone(),
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        if state.finished {
            return None;
        }
        let item = state.next_item().await;
        if !matches!(item, Some(Ok(_))) {
            state.finished = true;
        }
        item.map(|item| (item, state))
    });
    (stream, handle)
}

struct DecodeStream<S> {
    body: std::pin::Pin<Box<S>>,
    decoder: Decoder,
    /// Received bytes not yet decoded.
    pending: Bytes,
    finished: bool,
    handle: TrailerHandle,
}

impl<S, E> DecodeStream<S>
where
    S: Stream<Item = Result<Bytes, E>>,
    E: Into<BoxError>,
{
    /// The next piece of data, an error, or `None` at the (successful) end.
    async fn next_item(&mut self) -> Option<Result<Bytes, ChunkedError>> {
        loop {
            match self.decoder.next_data(&mut self.pending) {
                Ok(Some(data)) => return Some(Ok(data)),
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
            match self.body.next().await {
                Some(Ok(bytes)) => self.pending = bytes,
                Some(Err(error)) => return Some(Err(ChunkedError::Body(error.into()))),
                None => {
                    return match self.decoder.finish() {
                        Ok(trailers) => {
                            self.handle.set(trailers);
                            None
                        }
                        Err(error) => Some(Err(error)),
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
