//! The aws-chunked framing: a push parser, fed whatever pieces the network delivers.

use bytes::Bytes;

use super::signing::ChunkVerifier;
use super::trailers::{parse_trailer_line, Trailers};
use super::{
    bad_signature, incomplete, malformed_trailer, ChunkedError, ChunkedMode, MAX_LINE_LEN,
    MAX_TRAILERS, TRAILER_SIGNATURE,
};

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

pub(super) struct Decoder {
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
    pub(super) fn new(mode: ChunkedMode, decoded_length: Option<u64>) -> Self {
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
    pub(super) fn next_data(&mut self, input: &mut Bytes) -> Result<Option<Bytes>, ChunkedError> {
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
                        verifier.hash(&data);
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
    pub(super) fn finish(&mut self) -> Result<Trailers, ChunkedError> {
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
            if !verifier.verify_trailers(&self.trailers, claimed) {
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
