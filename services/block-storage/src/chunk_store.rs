//! Where snapshot chunks live: a [`ChunkStore`] keeps one chunk's bytes under a handle (its
//! `location`). The gateway implements it over object storage (replicated on the storage
//! nodes, `services/gateway/src/compose/chunks.rs`); [`MemoryChunkStore`] keeps them in
//! memory for tests. Which chunk is where, and who references it, is this service's
//! catalog (`block_storage.chunks`, `snapshot_chunks`).

use std::collections::HashMap;
use std::sync::Mutex;

use axum::body::Bytes;
use sha2::Digest;

use crate::error::{BlockStorageError, Result};

/// A store of content-addressed chunks.
#[async_trait::async_trait]
pub trait ChunkStore: Send + Sync {
    /// Store `data` (whose SHA-256 is `sha256`, checked by the caller) durably; the handle
    /// to read or delete it with.
    async fn put(&self, sha256: &str, data: Bytes) -> Result<String>;
    /// The bytes stored under `location`.
    async fn get(&self, location: &str) -> Result<Bytes>;
    /// Forget `location` (its bytes go once nothing else holds them).
    async fn delete(&self, location: &str) -> Result<()>;
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha2::Sha256::digest(data))
}

/// Is `text` a lowercase hex SHA-256?
pub fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Chunks in memory (tests, and a gateway without object storage).
#[derive(Default)]
pub struct MemoryChunkStore {
    chunks: Mutex<HashMap<String, Bytes>>,
}

impl MemoryChunkStore {
    /// How many chunks it holds.
    pub fn len(&self) -> usize {
        self.chunks.lock().map(|c| c.len()).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn poisoned<T>(_: T) -> BlockStorageError {
    BlockStorageError::Internal("chunk store lock poisoned".into())
}

#[async_trait::async_trait]
impl ChunkStore for MemoryChunkStore {
    async fn put(&self, sha256: &str, data: Bytes) -> Result<String> {
        let location = format!("memory:{sha256}");
        self.chunks
            .lock()
            .map_err(poisoned)?
            .insert(location.clone(), data);
        Ok(location)
    }

    async fn get(&self, location: &str) -> Result<Bytes> {
        self.chunks
            .lock()
            .map_err(poisoned)?
            .get(location)
            .cloned()
            .ok_or_else(|| BlockStorageError::Internal(format!("chunk {location} is missing")))
    }

    async fn delete(&self, location: &str) -> Result<()> {
        self.chunks.lock().map_err(poisoned)?.remove(location);
        Ok(())
    }
}
