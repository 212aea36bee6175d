//! The one streaming object write, shared by S3 PutObject, UploadPart, UploadPartCopy and
//! the native API's upload: body stream → 4 MiB chunks (each hashed and written to its
//! replica nodes, a few in flight) → the body's checks → what the catalog row needs.
//!
//! What differs between callers is what the body is checked against (S3's `Content-MD5`,
//! `x-amz-checksum-*` headers or trailers, signed payload hash and declared length; or
//! nothing but the MD5 for the native API and for part copies of our own verified chunks):
//! the caller hands in a [`BodyCheck`], with any `aws-chunked` decoding already applied to
//! the stream.
//!
//! No half-written object can become visible: [`write_object`] returns a [`WrittenObject`]
//! only once every byte is durable on its replicas *and* the check accepted the whole body;
//! until a caller commits it in one catalog transaction (`objects::commit_written`,
//! `multipart::save_part`) its chunks are unreferenced, and garbage collection removes
//! them if the commit never comes (a refused, failed or interrupted upload).

use bytes::{Bytes, BytesMut};
use futures::stream::{FuturesOrdered, Stream, StreamExt};

use crate::blobs::{self, WrittenBlob};
use crate::checksum::{Digests, ObjectHasher};
use crate::error::{Result, StorageError};
use crate::nodes;
use crate::objects::NewVersion;
use crate::ObjectStorage;

/// Chunks being written at once per upload (pipelining vs. memory).
pub const WRITES_IN_FLIGHT: usize = 3;

/// Checks an upload body as it passes, and judges it once its last byte is in.
pub trait BodyCheck: Send {
    /// Sees every byte of the body, in order.
    fn update(&mut self, data: &[u8]);
    /// The body's digests (MD5, and the checksum asked for), or why the body is refused.
    fn finish(self) -> Result<Digests>;
}

/// Nothing to compare with: the MD5 (the ETag) and, if given, one checksum are computed.
impl BodyCheck for ObjectHasher {
    fn update(&mut self, data: &[u8]) {
        ObjectHasher::update(self, data);
    }

    fn finish(self) -> Result<Digests> {
        Ok(ObjectHasher::finish(self))
    }
}

/// A body durable on its replicas and accepted by its [`BodyCheck`], not yet visible.
#[derive(Debug, Clone)]
pub struct WrittenObject {
    /// The chunks, for the committing transaction.
    pub blob: WrittenBlob,
    pub digests: Digests,
}

impl WrittenObject {
    pub fn size(&self) -> u64 {
        self.blob.size
    }

    /// Lowercase hex MD5 of the body (a part's ETag without quotes).
    pub fn md5_hex(&self) -> String {
        self.digests.md5_hex()
    }

    /// The ETag of an object written in one piece: the quoted hex MD5.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.md5_hex())
    }

    /// The additional checksum's base64 value, if one was computed.
    pub fn checksum_value(&self) -> Option<&str> {
        self.digests
            .checksum
            .as_ref()
            .map(|(_, value)| value.as_str())
    }

    /// The new version's row: `template` (content type, headers, metadata, tags) with this
    /// body's size, ETag and checksum.
    pub fn new_version(&self, template: NewVersion) -> NewVersion {
        NewVersion {
            size: self.size(),
            etag: self.etag(),
            checksum_algorithm: self
                .digests
                .checksum
                .as_ref()
                .map(|(algorithm, _)| *algorithm),
            checksum_value: self.checksum_value().map(str::to_string),
            ..template
        }
    }
}

/// Read `body` to its end, writing it as chunks to their replicas while `check` sees every
/// byte; then let `check` judge the whole body. Nothing is visible until the caller commits
/// the result; on any error (the body, a node, the check) nothing is returned to commit.
pub async fn write_object<S, C>(
    storage: &ObjectStorage,
    mut body: S,
    mut check: C,
) -> Result<WrittenObject>
where
    S: Stream<Item = Result<Bytes>> + Send + Unpin,
    C: BodyCheck,
{
    let chunk_size = storage.config.chunk_size.max(1);
    let nodes = std::sync::Arc::new(nodes::endpoints(storage).await?);
    // Writes run as tasks so they progress while the body is still being read.
    let spawn_write = |data: Bytes| {
        let storage = storage.clone();
        let nodes = nodes.clone();
        let task = tokio::spawn(async move { blobs::write_chunk(&storage, &nodes, data).await });
        async move {
            task.await
                .map_err(|e| StorageError::Internal(format!("chunk write task: {e}")))?
        }
    };
    let mut in_flight = FuturesOrdered::new();
    let mut chunks = Vec::new();
    let mut size = 0u64;
    let mut buffer = BytesMut::with_capacity(chunk_size);
    while let Some(piece) = body.next().await {
        let mut piece = piece?;
        check.update(&piece);
        size += piece.len() as u64;
        while !piece.is_empty() {
            let take = (chunk_size - buffer.len()).min(piece.len());
            buffer.extend_from_slice(&piece.split_to(take));
            if buffer.len() == chunk_size {
                let full = std::mem::replace(&mut buffer, BytesMut::with_capacity(chunk_size));
                in_flight.push_back(spawn_write(full.freeze()));
                while in_flight.len() >= WRITES_IN_FLIGHT {
                    if let Some(done) = in_flight.next().await {
                        chunks.push(done?);
                    }
                }
            }
        }
    }
    // The last partial chunk (an empty object has no chunks at all).
    if !buffer.is_empty() {
        in_flight.push_back(spawn_write(buffer.freeze()));
    }
    while let Some(done) = in_flight.next().await {
        chunks.push(done?);
    }
    let digests = check.finish()?;
    Ok(WrittenObject {
        blob: WrittenBlob { chunks, size },
        digests,
    })
}
