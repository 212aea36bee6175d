//! The block role of a storage node (EBS volumes): what the block-storage service wants a
//! node to hold and export, and what the node reports back.
//!
//! Control plane, served by the block-storage service (on the gateway), each request with
//! the node's own token in [`crate::NODE_TOKEN_HEADER`] (the one it got at enrolment):
//! - `GET /v1/storage-agent/volumes` — [`NodeVolumes`]: every volume replica assigned to
//!   the node, with what should become of it. The node polls it (about every second) and
//!   converges; applying the same answer twice changes nothing.
//! - `POST /v1/storage-agent/volumes/report` — [`VolumeReport`] → 204: what the node holds
//!   now. The control plane moves volumes `creating → available` and `deleting → deleted`
//!   from these reports.
//!
//! On the node, each present replica is a qcow2 file of `size_bytes` (grown, never shrunk,
//! when the size grows), exported over NBD by its own `qemu-storage-daemon` on its own TCP
//! port, with TLS-PSK: only a client that knows the export's key (the compute host the
//! volume is attached to, told by the control plane) can connect. Never an open export.

use serde::{Deserialize, Serialize};

/// `GET /v1/storage-agent/volumes` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeVolumes {
    pub volumes: Vec<VolumeReplicaSpec>,
    /// Snapshots this node is to take of replicas it holds (see [`SnapshotTask`]).
    #[serde(default)]
    pub snapshots: Vec<SnapshotTask>,
}

/// One replica of one volume on this node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeReplicaSpec {
    /// `vol-…` (the export's name too).
    pub volume_id: String,
    pub size_bytes: u64,
    pub desired: ReplicaDesired,
    /// How clients authenticate to the export.
    pub export: ExportCredentials,
    /// What a new replica starts from (empty when `None`). Used only when the node creates
    /// the replica; an existing one is never refilled.
    #[serde(default)]
    pub source: Option<ReplicaSource>,
}

/// The initial contents of a new replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReplicaSource {
    /// Copy-on-write from an image's disk on the shared image store (a qcow2 or raw file
    /// the node can read): an EBS root volume launched from an image.
    Image { disk: std::path::PathBuf },
    /// The bytes of a completed snapshot (`snap-…`), fetched as chunks from the control
    /// plane; the replica reports `ready` only once they are all written.
    Snapshot { snapshot_id: String },
    /// A full copy of another node's in-sync replica of the same volume, read over that
    /// node's NBD export with TLS-PSK (`host:nbd_port`, export named by the volume id): a
    /// replacement replica of a detached volume. The replica reports `ready` only once the
    /// copy is whole; the service hands these credentials out only while the copy is due.
    Peer {
        host: String,
        nbd_port: u16,
        psk_identity: String,
        psk_key_hex: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaDesired {
    /// Hold it (create it empty if missing) and export it.
    Present,
    /// Stop exporting it and delete its file.
    Absent,
}

/// TLS-PSK credentials of an export: QEMU's `tls-creds-psk` (`keys.psk` lines are
/// `identity:key`, the key in hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportCredentials {
    /// `[A-Za-z0-9-]`, ≤ 64 characters.
    pub psk_identity: String,
    /// 64 lowercase hex digits (32 random bytes).
    pub psk_key_hex: String,
}

/// `POST /v1/storage-agent/volumes/report` body: the node's replicas as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeReport {
    pub volumes: Vec<VolumeReplicaState>,
    /// Bytes the node can still give to new volumes (its block directory's free space).
    pub free_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeReplicaState {
    pub volume_id: String,
    pub state: ReplicaState,
    /// The NBD export's TCP port on the node's address, when `Ready`.
    pub nbd_port: Option<u16>,
    /// The file's virtual size.
    pub size_bytes: u64,
    /// Why, when `Failed`.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplicaState {
    /// Held and exported.
    Ready,
    /// Could not be created or exported (see `detail`); retried.
    Failed,
    /// Nothing of it is on the node.
    Absent,
}

/// Snapshots are cut into chunks of this many bytes (the last one of a volume may be
/// shorter); chunk `i` holds the bytes at `i × SNAPSHOT_CHUNK_BYTES`. A chunk of zeros is
/// never stored: an index a snapshot does not list reads as zeros.
pub const SNAPSHOT_CHUNK_BYTES: u64 = 1 << 20;

/// Chunk references per page (both ways).
pub const SNAPSHOT_CHUNKS_PER_PAGE: usize = 1024;

/// A point-in-time copy to take of a replica the node holds, then to upload as chunks:
/// - `POST /v1/storage-agent/snapshots/{snapshot_id}/chunks` [`SnapshotChunks`] →
///   [`MissingChunks`]: references the chunks the service has; the node uploads the
///   missing ones (`PUT /v1/storage-agent/snapshots/{snapshot_id}/chunks/{sha256}`, the
///   raw bytes) and posts the page again;
/// - `POST /v1/storage-agent/snapshots/{snapshot_id}/progress` [`SnapshotProgress`].
///
/// Restoring (a replica whose source is a snapshot) reads
/// `GET /v1/storage-agent/snapshots/{snapshot_id}/chunks?after=<index>` ([`ChunkPage`])
/// and `GET /v1/storage-agent/snapshots/{snapshot_id}/chunks/{sha256}` (the bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotTask {
    pub snapshot_id: String,
    pub volume_id: String,
}

/// One chunk of a snapshot: its index and its content's SHA-256 (lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotChunkRef {
    pub index: u64,
    pub sha256: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotChunks {
    pub chunks: Vec<SnapshotChunkRef>,
}

/// The hashes of a posted page the service does not hold (those entries were not
/// recorded: upload them, then post the page again).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingChunks {
    pub missing: Vec<String>,
}

/// A page of a snapshot's chunks in index order; `next_after` continues it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkPage {
    pub chunks: Vec<SnapshotChunkRef>,
    pub next_after: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotProgress {
    pub state: SnapshotTaskState,
    /// 0–100. `Pending` at 0 says the node starts (over) from a new copy: what was
    /// recorded for the snapshot before is dropped; later pages report at least 1.
    pub progress: u8,
    /// Why, when `Failed`.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotTaskState {
    Pending,
    Completed,
    Failed,
}
