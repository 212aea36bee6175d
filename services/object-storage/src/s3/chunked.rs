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

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use http::StatusCode;
use kumo_auth::sigv4;
use kumo_auth::SigV4Context;
use sha2::{Digest, Sha256};

/// Longest chunk-header or trailer line accepted, CRLF included. A signed chunk header is
/// about 90 bytes, a checksum trailer about 70.
pub const MAX_LINE_LEN: usize = 4096;
/// Most trailing headers accepted (S3 clients send one checksum and its signature).
pub const MAX_TRAILERS: usize = 16;
/// The trailing header carrying the trailer signature.
pub const TRAILER_SIGNATURE: &str = "x-amz-trailer-signature";

/// An error of the underlying body stream.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

/// What is needed to check chunk signatures: the outcome of verifying the request's
/// Authorization header.
#[derive(Clone)]
pub struct ChunkSigning {
    pub signing_key: Vec<u8>,
    /// `yyyymmddThhmmssZ` the request was signed at.
    pub amz_date: String,
    /// `yyyymmdd/region/service/aws4_request`.
    pub scope: String,
    /// The request's (verified) signature, on which the first chunk signature chains.
    pub seed_signature: String,
}

impl ChunkSigning {
    pub fn from_context(context: &SigV4Context) -> Self {
        Self {
            signing_key: context.signing_key.clone(),
            amz_date: context.amz_date.clone(),
            scope: context.scope(),
            seed_signature: context.seed_signature.clone(),
        }
    }
}

impl From<&SigV4Context> for ChunkSigning {
    fn from(context: &SigV4Context) -> Self {
        Self::from_context(context)
    }
}

impl fmt::Debug for ChunkSigning {
    // The signing key is as good as the secret for a day: never print it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChunkSigning")
            .field("amz_date", &self.amz_date)
            .field("scope", &self.scope)
            .field("seed_signature", &self.seed_signature)
            .finish_non_exhaustive()
    }
}

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

// ---------------------------------------------------------------------------------------
// Results
// ---------------------------------------------------------------------------------------

/// The trailing headers of a body, names lowercased, without `x-amz-trailer-signature`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trailers {
    headers: Vec<(String, String)>,
}

impl Trailers {
    /// The value of a trailing header (name in any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub fn len(&self) -> usize {
        self.headers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.headers.is_empty()
    }
}

/// Where the trailers appear once the decoded stream has ended successfully.
#[derive(Debug, Clone, Default)]
pub struct TrailerHandle {
    trailers: Arc<Mutex<Option<Trailers>>>,
}

impl TrailerHandle {
    /// The trailers, `None` until the stream has ended without error.
    pub fn trailers(&self) -> Option<Trailers> {
        self.slot().clone()
    }

    /// One trailer's value, `None` if absent or the stream has not ended successfully.
    pub fn get(&self, name: &str) -> Option<String> {
        self.slot()
            .as_ref()
            .and_then(|trailers| trailers.get(name))
            .map(str::to_string)
    }

    fn set(&self, trailers: Trailers) {
        *self.slot() = Some(trailers);
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Trailers>> {
        // Nothing can panic while the lock is held; a poisoned lock still holds valid data.
        self.trailers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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

// ---------------------------------------------------------------------------------------
// The stream
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// The decoder proper: a push parser, fed whatever pieces the network delivers
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading `hex-size[;chunk-signature=…]`.
    ChunkHeader,
    /// Passing on the chunk's data.
    ChunkData { remaining: u64 },
    /// Reading the empty line after a chunk's data.
    ChunkEnd,
    /// Reading trailer lines up to the empty line.
    Trailer,
    /// The body is complete; only stray line breaks may follow.
    Done,
}

/// Checks the chain of chunk signatures.
struct ChunkVerifier {
    signing: ChunkSigning,
    /// The signature the next one chains on (the seed, then each chunk's).
    previous: String,
    /// sha256 of the current chunk's data so far.
    hasher: Sha256,
}

impl ChunkVerifier {
    fn new(signing: ChunkSigning) -> Self {
        Self {
            previous: signing.seed_signature.to_ascii_lowercase(),
            signing,
            hasher: Sha256::new(),
        }
    }

    /// Check the chunk just hashed against the signature its header claimed.
    fn verify_chunk(&mut self, claimed: &str) -> bool {
        let chunk_hash = hex::encode(self.hasher.finalize_reset());
        let expected = sigv4::chunk_signature_for_hash(
            &self.signing.signing_key,
            &self.signing.amz_date,
            &self.signing.scope,
            &self.previous,
            &chunk_hash,
        );
        let matches = sigv4::constant_time_eq(expected.as_bytes(), claimed.as_bytes());
        self.previous = expected;
        matches
    }

    /// Check the trailer signature; `canonical` is the `name:value\n` lines.
    fn verify_trailer(&self, canonical: &str, claimed: &str) -> bool {
        let expected = sigv4::trailer_signature(
            &self.signing.signing_key,
            &self.signing.amz_date,
            &self.signing.scope,
            &self.previous,
            canonical.as_bytes(),
        );
        sigv4::constant_time_eq(expected.as_bytes(), claimed.as_bytes())
    }
}

struct Decoder {
    state: State,
    /// The part of the current line received so far (bounded by [`MAX_LINE_LEN`]).
    line: Vec<u8>,
    /// `Some` for the signed modes.
    verifier: Option<ChunkVerifier>,
    /// Whether trailing headers may follow the final chunk.
    trailers_allowed: bool,
    /// The signature the current chunk's header claimed (signed modes).
    claimed_signature: String,
    decoded_length: Option<u64>,
    decoded_so_far: u64,
    /// 1-based number of the chunk being read, for error details.
    chunk_number: u64,
    trailers: Vec<(String, String)>,
    trailer_signature: Option<String>,
    /// An empty line came right after the final chunk, before any trailer.
    blank_line_before_trailers: bool,
}

impl Decoder {
    fn new(mode: ChunkedMode, decoded_length: Option<u64>) -> Self {
        let (verifier, trailers_allowed) = match mode {
            ChunkedMode::Signed(signing) => (Some(ChunkVerifier::new(signing)), false),
            ChunkedMode::SignedWithTrailer(signing) => (Some(ChunkVerifier::new(signing)), true),
            ChunkedMode::UnsignedWithTrailer => (None, true),
        };
        Self {
            state: State::ChunkHeader,
            line: Vec::with_capacity(128),
            verifier,
            trailers_allowed,
            claimed_signature: String::new(),
            decoded_length,
            decoded_so_far: 0,
            chunk_number: 1,
            trailers: Vec::new(),
            trailer_signature: None,
            blank_line_before_trailers: false,
        }
    }

    /// Decode from `input` (consuming it) until a piece of object data is ready (returned)
    /// or the input is used up (`None`: feed more).
    fn next_data(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, ChunkedError> {
        while !input.is_empty() {
            match self.state {
                State::ChunkData { remaining } => {
                    let available = u64::try_from(input.len()).unwrap_or(u64::MAX);
                    let take = remaining.min(available);
                    // `take` <= input.len(), so it fits in usize.
                    let data = input.split_to(usize::try_from(take).unwrap_or(input.len()));
                    let remaining = remaining - take;
                    self.decoded_so_far += take;
                    if let Some(verifier) = &mut self.verifier {
                        verifier.hasher.update(&data);
                    }
                    if remaining == 0 {
                        // The last piece of a chunk is only passed on once its signature holds.
                        self.end_of_chunk_data()?;
                        self.state = State::ChunkEnd;
                    } else {
                        self.state = State::ChunkData { remaining };
                    }
                    return Ok(Some(data));
                }
                State::Done => {
                    // Tolerate stray line breaks after the final empty line, nothing else.
                    if input.iter().any(|byte| !matches!(byte, b'\r' | b'\n')) {
                        return Err(malformed_trailer("data after the end of the body"));
                    }
                    input.clear();
                }
                State::ChunkHeader | State::ChunkEnd | State::Trailer => {
                    if let Some(line) = self.take_line(input)? {
                        self.on_line(&line)?;
                    }
                }
            }
        }
        Ok(None)
    }

    /// The body has ended: was it complete?
    fn finish(&mut self) -> Result<Trailers, ChunkedError> {
        match self.state {
            State::Trailer if self.line.is_empty() => {
                // Some clients end the body right after the trailers, without the empty line.
                self.end_of_trailers()?;
            }
            State::Done => {}
            State::Trailer => return Err(incomplete("body ended inside a trailer line")),
            State::ChunkHeader | State::ChunkEnd => {
                return Err(incomplete(format!(
                    "body ended before chunk {}",
                    self.chunk_number
                )))
            }
            State::ChunkData { remaining } => {
                return Err(incomplete(format!(
                    "body ended {remaining} bytes short of the end of chunk {}",
                    self.chunk_number
                )))
            }
        }
        Ok(Trailers {
            headers: std::mem::take(&mut self.trailers),
        })
    }

    /// Move bytes from `input` into the line buffer up to a line feed; the complete line
    /// (without CRLF / LF) once there is one.
    fn take_line(&mut self, input: &mut Bytes) -> Result<Option<Vec<u8>>, ChunkedError> {
        let newline = input.iter().position(|byte| *byte == b'\n');
        let taken = newline.unwrap_or(input.len());
        if self.line.len() + taken > MAX_LINE_LEN {
            return Err(if self.state == State::Trailer {
                malformed_trailer(format!("trailer line longer than {MAX_LINE_LEN} bytes"))
            } else {
                incomplete(format!(
                    "chunk {} header longer than {MAX_LINE_LEN} bytes",
                    self.chunk_number
                ))
            });
        }
        self.line.extend_from_slice(&input[..taken]);
        let Some(newline) = newline else {
            input.clear();
            return Ok(None);
        };
        let _ = input.split_to(newline + 1);
        let mut line = std::mem::replace(&mut self.line, Vec::with_capacity(128));
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Ok(Some(line))
    }

    fn on_line(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        match self.state {
            State::ChunkHeader => self.on_chunk_header(line),
            State::ChunkEnd => {
                if !line.is_empty() {
                    return Err(incomplete(format!(
                        "chunk {} is longer than its declared size",
                        self.chunk_number
                    )));
                }
                self.chunk_number += 1;
                self.state = State::ChunkHeader;
                Ok(())
            }
            State::Trailer => {
                if !line.is_empty() {
                    return self.on_trailer_line(line);
                }
                let no_trailer_yet = self.trailers.is_empty() && self.trailer_signature.is_none();
                if no_trailer_yet && !self.blank_line_before_trailers {
                    // Some encoders put a CRLF after the final chunk header and then the
                    // trailers; without trailers that line is the end, which `finish` and
                    // the next empty line both handle.
                    self.blank_line_before_trailers = true;
                    return Ok(());
                }
                self.end_of_trailers()
            }
            State::ChunkData { .. } | State::Done => Ok(()),
        }
    }

    fn on_chunk_header(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        let chunk_number = self.chunk_number;
        let (size, signature) = parse_chunk_header(line)
            .ok_or_else(|| incomplete(format!("chunk {chunk_number} has a malformed header")))?;
        if self.verifier.is_some() {
            let signature = signature.ok_or_else(|| {
                bad_signature(format!("chunk {chunk_number} has no chunk-signature"))
            })?;
            self.claimed_signature = signature.to_ascii_lowercase();
        }
        let decoded_after = self
            .decoded_so_far
            .checked_add(size)
            .ok_or_else(|| incomplete("chunk sizes overflow"))?;
        if let Some(expected) = self.decoded_length {
            if decoded_after > expected {
                return Err(incomplete(format!(
                    "chunk {chunk_number} goes past x-amz-decoded-content-length {expected}"
                )));
            }
        }
        if size > 0 {
            self.state = State::ChunkData { remaining: size };
            return Ok(());
        }
        // The final chunk: its (empty) data is complete already.
        self.end_of_chunk_data()?;
        if let Some(expected) = self.decoded_length {
            if self.decoded_so_far != expected {
                return Err(incomplete(format!(
                    "{} bytes decoded, x-amz-decoded-content-length is {expected}",
                    self.decoded_so_far
                )));
            }
        }
        self.state = State::Trailer;
        Ok(())
    }

    fn end_of_chunk_data(&mut self) -> Result<(), ChunkedError> {
        if let Some(verifier) = &mut self.verifier {
            if !verifier.verify_chunk(&self.claimed_signature) {
                return Err(bad_signature(format!(
                    "chunk {} signature does not match",
                    self.chunk_number
                )));
            }
        }
        Ok(())
    }

    fn on_trailer_line(&mut self, line: &[u8]) -> Result<(), ChunkedError> {
        let (name, value) =
            parse_trailer_line(line).ok_or_else(|| malformed_trailer("malformed trailer line"))?;
        if name == TRAILER_SIGNATURE {
            if self.trailer_signature.is_some() {
                return Err(malformed_trailer("repeated x-amz-trailer-signature"));
            }
            self.trailer_signature = Some(value.to_ascii_lowercase());
            return Ok(());
        }
        if self.trailers.iter().any(|(existing, _)| *existing == name) {
            return Err(malformed_trailer(format!("repeated trailer {name}")));
        }
        if self.trailers.len() >= MAX_TRAILERS {
            return Err(malformed_trailer(format!(
                "more than {MAX_TRAILERS} trailers"
            )));
        }
        self.trailers.push((name, value));
        Ok(())
    }

    fn end_of_trailers(&mut self) -> Result<(), ChunkedError> {
        let has_trailers = !self.trailers.is_empty() || self.trailer_signature.is_some();
        if has_trailers && !self.trailers_allowed {
            return Err(malformed_trailer(
                "trailers after a body whose x-amz-content-sha256 announces none",
            ));
        }
        if let (Some(verifier), true) = (&self.verifier, has_trailers) {
            let claimed = self
                .trailer_signature
                .as_deref()
                .ok_or_else(|| bad_signature("signed trailers without x-amz-trailer-signature"))?;
            // The signed form: `name:value\n` per trailer, sorted by name.
            let mut sorted: Vec<&(String, String)> = self.trailers.iter().collect();
            sorted.sort();
            let canonical: String = sorted
                .iter()
                .map(|(name, value)| format!("{name}:{value}\n"))
                .collect();
            if !verifier.verify_trailer(&canonical, claimed) {
                return Err(bad_signature("trailer signature does not match"));
            }
        }
        self.state = State::Done;
        Ok(())
    }
}

/// `hex-size[;name=value]*` → the size and the `chunk-signature` extension, if any.
fn parse_chunk_header(line: &[u8]) -> Option<(u64, Option<&str>)> {
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(';');
    let size = parts.next()?.trim();
    if size.is_empty() || size.len() > 16 || !size.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let size = u64::from_str_radix(size, 16).ok()?;
    let mut signature = None;
    for extension in parts {
        let (name, value) = extension.split_once('=')?;
        if name.trim() == "chunk-signature" {
            if signature.is_some() {
                return None;
            }
            signature = Some(value.trim());
        }
    }
    Some((size, signature))
}

/// `name:value` → (lowercased name, trimmed value). Names must be HTTP tokens.
fn parse_trailer_line(line: &[u8]) -> Option<(String, String)> {
    let line = std::str::from_utf8(line).ok()?;
    let (name, value) = line.split_once(':')?;
    let name = name.trim();
    let is_token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return None;
    }
    let value = value.trim();
    if value.bytes().any(|b| b.is_ascii_control()) {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use futures::executor::block_on;
    use std::convert::Infallible;

    // The example of the S3 API reference ("Signature Calculations for the Authorization
    // Header: Transferring Payload in Multiple Chunks"): 66560 bytes of 'a' in 64 KiB chunks.
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const AMZ_DATE: &str = "20130524T000000Z";
    const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
    const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    const SIG1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
    const SIG2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
    const SIG3: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

    fn signing() -> ChunkSigning {
        ChunkSigning {
            signing_key: sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3").to_vec(),
            amz_date: AMZ_DATE.into(),
            scope: SCOPE.into(),
            seed_signature: SEED.into(),
        }
    }

    fn aws_example_body() -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(format!("10000;chunk-signature={SIG1}\r\n").as_bytes());
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(format!("\r\n400;chunk-signature={SIG2}\r\n").as_bytes());
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(format!("\r\n0;chunk-signature={SIG3}\r\n\r\n").as_bytes());
        body
    }

    /// Build a signed (optionally trailered) body with the given chunk sizes.
    fn signed_body(data: &[u8], chunk_size: usize, trailers: &[(&str, &str)]) -> Vec<u8> {
        let signing = signing();
        let mut previous = SEED.to_string();
        let mut body = Vec::new();
        let pieces: Vec<&[u8]> = data.chunks(chunk_size).chain([&[][..]]).collect();
        for piece in pieces {
            let signature =
                sigv4::chunk_signature(&signing.signing_key, AMZ_DATE, SCOPE, &previous, piece);
            body.extend_from_slice(
                format!("{:x};chunk-signature={signature}\r\n", piece.len()).as_bytes(),
            );
            if !piece.is_empty() {
                body.extend_from_slice(piece);
                body.extend_from_slice(b"\r\n");
            }
            previous = signature;
        }
        if !trailers.is_empty() {
            let canonical: String = trailers
                .iter()
                .map(|(name, value)| format!("{name}:{value}\n"))
                .collect();
            let signature = sigv4::trailer_signature(
                &signing.signing_key,
                AMZ_DATE,
                SCOPE,
                &previous,
                canonical.as_bytes(),
            );
            for (name, value) in trailers {
                body.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
            }
            body.extend_from_slice(format!("{TRAILER_SIGNATURE}:{signature}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body
    }

    /// Feed `body` split into pieces of the given sizes (cycled); collect data and trailers.
    fn run_split(
        body: &[u8],
        piece_sizes: &[usize],
        mode: ChunkedMode,
        decoded_length: Option<u64>,
    ) -> Result<(Vec<u8>, Trailers), ChunkedError> {
        let mut pieces = Vec::new();
        let mut offset = 0;
        let mut sizes = piece_sizes.iter().cycle();
        while offset < body.len() {
            let size = (*sizes.next().unwrap()).max(1).min(body.len() - offset);
            pieces.push(Ok::<_, Infallible>(Bytes::copy_from_slice(
                &body[offset..offset + size],
            )));
            offset += size;
        }
        let (stream, handle) = decode(futures::stream::iter(pieces), mode, decoded_length);
        let items: Vec<Result<Bytes, ChunkedError>> = block_on(stream.collect());
        let mut data = Vec::new();
        for item in items {
            data.extend_from_slice(&item?);
        }
        let trailers = handle.trailers().expect("trailers after a successful end");
        Ok((data, trailers))
    }

    fn run(
        body: &[u8],
        mode: ChunkedMode,
        decoded_length: Option<u64>,
    ) -> Result<(Vec<u8>, Trailers), ChunkedError> {
        run_split(body, &[usize::MAX], mode, decoded_length)
    }

    /// A small, dependency-free pseudo-random sequence for split sizes.
    fn random_sizes(seed: u64, count: usize, max: u64) -> Vec<usize> {
        let mut state = seed;
        (0..count)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 33) % max + 1) as usize
            })
            .collect()
    }

    #[test]
    fn aws_documentation_example() {
        let body = aws_example_body();
        assert_eq!(body.len(), 66824, "the example's Content-Length");
        let (data, trailers) = run(&body, ChunkedMode::Signed(signing()), Some(66560)).unwrap();
        assert_eq!(data, vec![b'a'; 66560]);
        assert!(trailers.is_empty());
    }

    #[test]
    fn aws_example_split_everywhere() {
        let body = aws_example_body();
        let expected = vec![b'a'; 66560];
        for sizes in [
            vec![1],
            vec![2],
            vec![7],
            vec![64],
            vec![65537],
            vec![3, 1, 90, 17],
        ] {
            let (data, _) =
                run_split(&body, &sizes, ChunkedMode::Signed(signing()), Some(66560)).unwrap();
            assert_eq!(data, expected, "{sizes:?}");
        }
        for seed in 0..20 {
            let sizes = random_sizes(seed, 64, 300);
            let (data, _) =
                run_split(&body, &sizes, ChunkedMode::Signed(signing()), Some(66560)).unwrap();
            assert_eq!(data, expected, "seed {seed}");
        }
    }

    #[test]
    fn every_split_point_of_the_framing() {
        // Split a small multi-chunk body into two pieces at every possible offset.
        let data: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
        let body = signed_body(&data, 100, &[("x-amz-checksum-crc32", "AAAAAA==")]);
        for cut in 1..body.len() {
            let (decoded, trailers) = run_split(
                &body,
                &[cut, body.len()],
                ChunkedMode::SignedWithTrailer(signing()),
                Some(300),
            )
            .unwrap();
            assert_eq!(decoded, data, "cut at {cut}");
            assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("AAAAAA=="));
        }
    }

    #[test]
    fn tampered_data_detected() {
        let mut body = aws_example_body();
        let position = body.len() - 200; // inside the 1 KiB chunk
        body[position] = b'b';
        let err = run(&body, ChunkedMode::Signed(signing()), Some(66560)).unwrap_err();
        assert!(
            matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
            "{err}"
        );
        assert_eq!(err.code(), "SignatureDoesNotMatch");
        assert_eq!(err.status(), StatusCode::FORBIDDEN);
    }

    #[test]
    fn tampered_signature_detected() {
        let body = String::from_utf8(aws_example_body())
            .unwrap()
            .replace(SIG3, &"0".repeat(64));
        let err = run(body.as_bytes(), ChunkedMode::Signed(signing()), None).unwrap_err();
        assert!(
            matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
            "{err}"
        );
        // Chunks swapped: each signature is genuine, but chains from another position.
        let body = signed_body(b"AAAAAAAAAABBBBBBBBBB", 10, &[]);
        let block = "a;chunk-signature=".len() + 64 + 2 + 10 + 2;
        let mut swapped = body[block..2 * block].to_vec();
        swapped.extend_from_slice(&body[..block]);
        swapped.extend_from_slice(&body[2 * block..]);
        let err = run(&swapped, ChunkedMode::Signed(signing()), None).unwrap_err();
        assert!(
            matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
            "{err}"
        );
        // A wrong seed (another request's signature) breaks the first chunk.
        let err = run(
            &body,
            ChunkedMode::Signed(ChunkSigning {
                seed_signature: SIG1.into(),
                ..signing()
            }),
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
            "{err}"
        );
        // Unchanged, it decodes.
        let (data, _) = run(&body, ChunkedMode::Signed(signing()), Some(20)).unwrap();
        assert_eq!(data, b"AAAAAAAAAABBBBBBBBBB");
    }

    #[test]
    fn missing_chunk_signature_rejected() {
        let err = run(
            b"5\r\nhello\r\n0\r\n\r\n",
            ChunkedMode::Signed(signing()),
            None,
        )
        .unwrap_err();
        assert_eq!(err.code(), "SignatureDoesNotMatch");
    }

    #[test]
    fn forged_chunk_is_not_released_whole() {
        // The last piece of a chunk with a bad signature is never yielded.
        let mut body = aws_example_body();
        body[100] = b'b';
        let (stream, handle) = decode(
            futures::stream::iter([Ok::<_, Infallible>(Bytes::from(body))]),
            ChunkedMode::Signed(signing()),
            None,
        );
        let items: Vec<_> = block_on(stream.collect());
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
        assert!(handle.trailers().is_none());
    }

    #[test]
    fn signed_trailer() {
        let data = b"hello world, a little longer than one chunk".to_vec();
        let crc = "DUoRhQ=="; // not checked here: that is checksum.rs's job
        let body = signed_body(&data, 16, &[("x-amz-checksum-crc32", crc)]);
        let (decoded, trailers) = run(
            &body,
            ChunkedMode::SignedWithTrailer(signing()),
            Some(data.len() as u64),
        )
        .unwrap();
        assert_eq!(decoded, data);
        assert_eq!(trailers.get("X-Amz-Checksum-Crc32"), Some(crc));
        assert_eq!(trailers.len(), 1, "the trailer signature is not reported");

        // Trailer value altered after signing.
        let forged = String::from_utf8(body.clone())
            .unwrap()
            .replace(crc, "AAAAAA==");
        let err = run(
            forged.as_bytes(),
            ChunkedMode::SignedWithTrailer(signing()),
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
            "{err}"
        );

        // Trailer signature removed.
        let text = String::from_utf8(body).unwrap();
        let start = text.find(TRAILER_SIGNATURE).unwrap();
        let stripped = format!("{}\r\n", &text[..start]);
        let err = run(
            stripped.as_bytes(),
            ChunkedMode::SignedWithTrailer(signing()),
            None,
        )
        .unwrap_err();
        assert!(
            matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
            "{err}"
        );
    }

    #[test]
    fn aws_trailer_documentation_example() {
        // "Signature Calculations for the Authorization Header: Including Trailing Headers":
        // the same 66560 bytes with a trailing CRC32C; 66946 bytes on the wire.
        let seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
        let mut body = Vec::new();
        body.extend_from_slice(b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n");
        body.extend_from_slice(&[b'a'; 65536]);
        body.extend_from_slice(b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n");
        body.extend_from_slice(&[b'a'; 1024]);
        body.extend_from_slice(b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n");
        let trailer = b"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n";
        let mode = || {
            ChunkedMode::SignedWithTrailer(ChunkSigning {
                seed_signature: seed.into(),
                ..signing()
            })
        };
        let canonical = [&body[..], trailer, b"\r\n"].concat();
        assert_eq!(canonical.len(), 66946);
        // Also the layouts seen in the wild: a CRLF before the trailers, none after.
        let extra_crlf = [&body[..], b"\r\n", trailer, b"\r\n"].concat();
        let no_final_crlf = [&body[..], trailer].concat();
        for variant in [&canonical, &extra_crlf, &no_final_crlf] {
            for sizes in [vec![usize::MAX], vec![7], vec![4096, 1, 33]] {
                let (data, trailers) = run_split(variant, &sizes, mode(), Some(66560)).unwrap();
                assert_eq!(data, vec![b'a'; 66560]);
                assert_eq!(trailers.get("x-amz-checksum-crc32c"), Some("sOO8/Q=="));
                assert_eq!(
                    crate::checksum::ChecksumAlgorithm::Crc32c.checksum(&data),
                    "sOO8/Q=="
                );
            }
        }
        let forged = String::from_utf8(canonical)
            .unwrap()
            .replace("sOO8/Q==", "sOO8/Q=A");
        let err = run(forged.as_bytes(), mode(), None).unwrap_err();
        assert!(
            matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
            "{err}"
        );
    }

    #[test]
    fn signed_trailer_mode_without_trailers() {
        let body = signed_body(b"abc", 8192, &[]);
        let (decoded, trailers) =
            run(&body, ChunkedMode::SignedWithTrailer(signing()), Some(3)).unwrap();
        assert_eq!(decoded, b"abc");
        assert!(trailers.is_empty());
    }

    #[test]
    fn trailers_refused_in_plain_signed_mode() {
        let body = signed_body(b"abc", 8192, &[("x-amz-checksum-crc32", "AAAAAA==")]);
        let err = run(&body, ChunkedMode::Signed(signing()), None).unwrap_err();
        assert_eq!(err.code(), "MalformedTrailerError");
    }

    // The exact bytes botocore 1.44's `AwsChunkedWrapper` produces (what aws-cli/boto3 send
    // for PutObject with STREAMING-UNSIGNED-PAYLOAD-TRAILER):
    // AwsChunkedWrapper(io.BytesIO(b"hello world"), checksum_cls=Crc32Checksum,
    //                   checksum_name="x-amz-checksum-crc32", chunk_size=4).read()
    const BOTOCORE_UNSIGNED: &[u8] =
        b"4\r\nhell\r\n4\r\no wo\r\n3\r\nrld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    // The same for an empty body (default chunk size).
    const BOTOCORE_UNSIGNED_EMPTY: &[u8] = b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";

    #[test]
    fn botocore_unsigned_trailer() {
        for sizes in [vec![usize::MAX], vec![1], vec![2], vec![5, 3]] {
            let (data, trailers) = run_split(
                BOTOCORE_UNSIGNED,
                &sizes,
                ChunkedMode::UnsignedWithTrailer,
                Some(11),
            )
            .unwrap();
            assert_eq!(data, b"hello world");
            assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("DUoRhQ=="));
        }
        let (data, trailers) = run(
            BOTOCORE_UNSIGNED_EMPTY,
            ChunkedMode::UnsignedWithTrailer,
            Some(0),
        )
        .unwrap();
        assert!(data.is_empty());
        assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("AAAAAA=="));
    }

    #[test]
    fn unsigned_checks_with_checksum_module() {
        use crate::checksum::{IntegrityExpectation, ObjectHasher};
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-trailer", "x-amz-checksum-crc32".parse().unwrap());
        headers.insert("x-amz-sdk-checksum-algorithm", "CRC32".parse().unwrap());
        let expectation = IntegrityExpectation::from_headers(&headers).unwrap();
        let (data, trailers) = run(
            BOTOCORE_UNSIGNED,
            ChunkedMode::UnsignedWithTrailer,
            Some(11),
        )
        .unwrap();
        let mut hasher = ObjectHasher::new(expectation.algorithm());
        hasher.update(&data);
        let trailer_name = expectation.trailer_algorithm().unwrap().header_name();
        expectation
            .verify(&hasher.finish(), trailers.get(trailer_name))
            .unwrap();
    }

    #[test]
    fn lenient_line_endings_and_final_line() {
        // Bare LF line ends, chunk extensions ignored in unsigned mode.
        let (data, trailers) = run(
            b"5;ext=1\nhello\n0\nx-amz-checksum-crc32:AAAAAA==\n\n",
            ChunkedMode::UnsignedWithTrailer,
            Some(5),
        )
        .unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("AAAAAA=="));
        // Body ending right after the trailers, and stray CRLFs after the end.
        for body in [
            &b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n"[..],
            &b"5\r\nhello\r\n0\r\n\r\n\r\n"[..],
            &b"5\r\nhello\r\n0\r\n"[..],
        ] {
            let (data, _) = run(body, ChunkedMode::UnsignedWithTrailer, Some(5)).unwrap();
            assert_eq!(data, b"hello");
        }
    }

    #[test]
    fn malformed_framing() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "IncompleteBody"),
            (b"zz\r\nhello\r\n0\r\n\r\n", "IncompleteBody"),
            (b"\r\nhello\r\n0\r\n\r\n", "IncompleteBody"),
            (b"5\r\nhello world\r\n0\r\n\r\n", "IncompleteBody"),
            (b"5\r\nhel", "IncompleteBody"),
            (b"5\r\nhello", "IncompleteBody"),
            (b"5\r\nhello\r\n", "IncompleteBody"),
            (
                b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AA",
                "IncompleteBody",
            ),
            (b"11111111111111111\r\n", "IncompleteBody"),
            (
                b"5\r\nhello\r\n0\r\nnot a trailer\r\n\r\n",
                "MalformedTrailerError",
            ),
            (b"5\r\nhello\r\n0\r\n:x\r\n\r\n", "MalformedTrailerError"),
            (
                b"5\r\nhello\r\n0\r\na:1\r\na:2\r\n\r\n",
                "MalformedTrailerError",
            ),
            (b"5\r\nhello\r\n0\r\n\r\n\r\nmore", "MalformedTrailerError"),
            (b"5\r\nhello\r\n0\r\n\r\nmore", "IncompleteBody"),
        ];
        for (body, code) in cases {
            for sizes in [vec![usize::MAX], vec![1]] {
                let err =
                    run_split(body, &sizes, ChunkedMode::UnsignedWithTrailer, None).unwrap_err();
                assert_eq!(
                    err.code(),
                    *code,
                    "{:?}: {err}",
                    String::from_utf8_lossy(body)
                );
                assert_eq!(err.status(), StatusCode::BAD_REQUEST);
            }
        }
    }

    #[test]
    fn decoded_length_enforced() {
        for (declared, ok) in [(11, true), (10, false), (12, false), (0, false)] {
            let result = run(
                BOTOCORE_UNSIGNED,
                ChunkedMode::UnsignedWithTrailer,
                Some(declared),
            );
            assert_eq!(result.is_ok(), ok, "declared {declared}");
            if let Err(err) = result {
                assert_eq!(err.code(), "IncompleteBody");
            }
        }
        // A chunk announcing more than declared is refused before its data is passed on.
        let (stream, _) = decode(
            futures::stream::iter([Ok::<_, Infallible>(Bytes::from_static(b"ffffffff\r\nabc"))]),
            ChunkedMode::UnsignedWithTrailer,
            Some(3),
        );
        let items: Vec<_> = block_on(stream.collect());
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
    }

    #[test]
    fn line_length_bounded() {
        let mut body = b"5".to_vec();
        body.extend(std::iter::repeat_n(b' ', MAX_LINE_LEN + 10));
        body.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
        for sizes in [vec![usize::MAX], vec![1], vec![100]] {
            let err = run_split(&body, &sizes, ChunkedMode::UnsignedWithTrailer, None).unwrap_err();
            assert_eq!(err.code(), "IncompleteBody");
        }
        let mut trailer = b"0\r\nx-amz-checksum-crc32:".to_vec();
        trailer.extend(std::iter::repeat_n(b'A', MAX_LINE_LEN));
        trailer.extend_from_slice(b"\r\n\r\n");
        let err = run(&trailer, ChunkedMode::UnsignedWithTrailer, None).unwrap_err();
        assert_eq!(err.code(), "MalformedTrailerError");
        let mut many = b"0\r\n".to_vec();
        for i in 0..=MAX_TRAILERS {
            many.extend_from_slice(format!("x-t{i}:v\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        let err = run(&many, ChunkedMode::UnsignedWithTrailer, None).unwrap_err();
        assert_eq!(err.code(), "MalformedTrailerError");
    }

    #[test]
    fn large_chunk_streams_through() {
        // One 8 MiB chunk, fed in 64 KiB pieces: every piece but the last is yielded as it
        // arrives, i.e. nothing collects the chunk.
        let size = 8 << 20;
        let mut body = format!("{size:x}\r\n").into_bytes();
        body.extend(std::iter::repeat_n(b'z', size));
        body.extend_from_slice(b"\r\n0\r\n\r\n");
        let pieces: Vec<_> = body
            .chunks(65536)
            .map(|piece| Ok::<_, Infallible>(Bytes::copy_from_slice(piece)))
            .collect();
        let (stream, handle) = decode(
            futures::stream::iter(pieces),
            ChunkedMode::UnsignedWithTrailer,
            Some(size as u64),
        );
        let items: Vec<_> = block_on(stream.collect());
        assert!(items.len() > 100);
        let max_piece = items.iter().map(|item| item.as_ref().unwrap().len()).max();
        assert!(max_piece <= Some(65536));
        let total: usize = items.iter().map(|item| item.as_ref().unwrap().len()).sum();
        assert_eq!(total, size);
        assert!(handle.trailers().is_some());
    }

    #[test]
    fn body_error_passed_through() {
        #[derive(Debug)]
        struct Reset;
        impl fmt::Display for Reset {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("connection reset")
            }
        }
        impl std::error::Error for Reset {}
        let (stream, handle) = decode(
            futures::stream::iter([Ok(Bytes::from_static(b"5\r\nhel")), Err(Reset)]),
            ChunkedMode::UnsignedWithTrailer,
            None,
        );
        let items: Vec<_> = block_on(stream.collect());
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().as_ref(), b"hel");
        let err = items[1].as_ref().unwrap_err();
        assert!(matches!(err, ChunkedError::Body(_)));
        assert!(err.to_string().contains("connection reset"));
        assert!(handle.trailers().is_none());
    }

    #[test]
    fn modes_from_payload_hash() {
        assert!(matches!(
            ChunkedMode::from_payload_hash(sigv4::STREAMING_PAYLOAD, Some(signing())),
            Some(ChunkedMode::Signed(_))
        ));
        assert!(matches!(
            ChunkedMode::from_payload_hash(sigv4::STREAMING_PAYLOAD_TRAILER, Some(signing())),
            Some(ChunkedMode::SignedWithTrailer(_))
        ));
        assert!(matches!(
            ChunkedMode::from_payload_hash(sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER, None),
            Some(ChunkedMode::UnsignedWithTrailer)
        ));
        assert!(ChunkedMode::from_payload_hash(sigv4::STREAMING_PAYLOAD, None).is_none());
        assert!(ChunkedMode::from_payload_hash(sigv4::UNSIGNED_PAYLOAD, None).is_none());
        assert!(ChunkedMode::is_streaming_payload_hash(
            sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER
        ));
        assert!(!ChunkedMode::is_streaming_payload_hash(sigv4::EMPTY_SHA256));
        let debug = format!("{:?}", signing());
        assert!(!debug.contains("signing_key"));
    }
}
