//! The storage node: the per-host agent that keeps content-addressed chunks for the
//! object-storage service.
//!
//! - [`store`]: chunks on local disk, named by their SHA-256, written durably (temp file,
//!   fsync, rename, fsync directory) and streamed in and out.
//! - [`server`]: the chunk API (`/v1/chunks`, `/v1/status`), guarded by the node token.
//! - [`agent`]: start-up, enrolment with the control plane, heartbeats, shutdown.
//! - [`block`]: the block role: volume replicas as qcow2 files exported over NBD with
//!   TLS-PSK, each by its own supervised `qemu-storage-daemon`.
//! - [`args`]: command-line arguments for the binary and the `kumo` CLI.
//!
//! The wire contract is `kumo_storage_protocol`; `docs/storage-node.md` describes the
//! node for operators.

pub mod agent;
pub mod args;
pub mod block;
pub mod error;
pub mod server;
pub mod store;

pub use agent::{run, NodeConfig, RunningNode, StorageNode};
pub use args::{run_args, NodeArgs};
pub use error::{Result, StorageNodeError};
pub use store::{ChunkStore, StoreUsage};
