//! What the object-storage service (control plane) and a storage node say to each other.
//!
//! Control plane, served by the object-storage service (on the gateway):
//! - `POST /v1/storage-agent/enrol` — [`EnrolRequest`] → [`EnrolResponse`]; no auth header,
//!   the join token is the credential.
//! - `POST /v1/storage-agent/heartbeat` — [`HeartbeatRequest`] → [`HeartbeatResponse`];
//!   header [`NODE_TOKEN_HEADER`] carries `node_token`.
//!
//! Chunk API, served by each storage node at the `address` it reports. Every request carries
//! [`NODE_TOKEN_HEADER`] with the node's own token (the control plane knows it from
//! enrolment); anything else gets 401.
//! - `PUT /v1/chunks/{sha256}` — the body is the chunk. The node hashes while writing to a
//!   temporary file, refuses a body whose SHA-256 is not `{sha256}` (400, [`ChunkError`] code
//!   `ChecksumMismatch`), fsyncs file and directory, then renames into place: 201 once
//!   durable, 200 if it was already stored. Idempotent.
//! - `GET /v1/chunks/{sha256}` — the chunk bytes (200) or 404 `NoSuchChunk`. The node does
//!   not promise integrity: readers verify the SHA-256 and try another replica on mismatch.
//! - `DELETE /v1/chunks/{sha256}[?unmodified_since={unix seconds}]` — 204 (also when
//!   absent); with `unmodified_since`, 412 `ChunkModified` (and nothing deleted) when the
//!   chunk was written or re-put after that time.
//! - `GET /v1/chunks?after={sha256}&limit={n}` — [`ChunkList`] in hash order, for garbage
//!   collection.
//! - `GET /v1/status` — [`NodeStatus`].
//!
//! Chunk names are 64 lowercase hex digits; anything else is 400 `InvalidChunkName`.

use serde::{Deserialize, Serialize};

pub mod block;

/// Header carrying a storage node's token, both ways.
pub const NODE_TOKEN_HEADER: &str = "x-kumo-storage-token";

/// Largest chunk the object service writes (and a node accepts).
pub const MAX_CHUNK_BYTES: usize = 8 * 1024 * 1024;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    /// Issued by an operator (`POST /v1/storage/join-tokens`, or by `kumo up`).
    pub join_token: String,
    /// Unique, human-facing name (a node that enrols again under its name is re-keyed).
    pub name: String,
    pub zone: String,
    /// Base URL the chunk API is reachable at, e.g. `http://10.0.0.5:8790`.
    pub address: String,
    pub capacity_bytes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub node_id: String,
    /// `node_id:secret`; the node keeps it (mode 0600) and presents it both ways.
    pub node_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// The address may change across restarts (another port).
    pub address: String,
    pub capacity_bytes: u64,
    pub used_bytes: u64,
    pub chunks: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// Seconds between heartbeats the control plane wants.
    pub interval_seconds: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkInfo {
    pub sha256: String,
    pub size: u64,
    /// Last modification, seconds since the Unix epoch (GC spares young chunks: they may
    /// belong to an upload not yet committed).
    pub modified_unix: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkList {
    pub chunks: Vec<ChunkInfo>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node_id: String,
    pub capacity_bytes: u64,
    pub used_bytes: u64,
    pub chunks: u64,
}

/// Error body of the chunk API.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChunkError {
    pub code: String,
    pub message: String,
}

/// True for a well-formed chunk name (64 lowercase hex digits).
pub fn is_chunk_name(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}
