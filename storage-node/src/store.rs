//! Content-addressed chunks on local disk.
//!
//! Layout under the data directory:
//! - `chunks/<first 2 hex>/<sha256>`: one file per chunk, named by the SHA-256 of its bytes.
//! - `tmp/<sha256>.<uuid>`: bodies being received. Emptied at open: whatever is there is a
//!   leftover of a crash and was never acknowledged.
//!
//! Durability of a `put`, in this order: the body is written to `tmp/` while being hashed,
//! the file is `fsync`ed, renamed to its final name, and the chunk's directory is `fsync`ed
//! (and `chunks/` too when the directory was just created). Only then does `put` return, so
//! an acknowledged chunk survives a power loss, and a crash at any step leaves either
//! nothing or the whole chunk under its name.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use kumo_storage_protocol::{is_chunk_name, ChunkInfo, ChunkList, MAX_CHUNK_BYTES};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::{Result, StorageNodeError};

/// Page size of [`ChunkStore::list`] when the caller gives none.
pub const DEFAULT_LIST_LIMIT: usize = 1000;
/// Largest page [`ChunkStore::list`] returns.
pub const MAX_LIST_LIMIT: usize = 10_000;
/// Read size when streaming a chunk out: bounds the memory of a GET.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// One lock per chunk directory (first byte of the hash).
const LOCK_STRIPES: usize = 256;

/// The chunks of one node. Cheap to share behind an `Arc`; every method takes `&self`.
pub struct ChunkStore {
    data_dir: PathBuf,
    chunks_dir: PathBuf,
    tmp_dir: PathBuf,
    used_bytes: AtomicU64,
    chunk_count: AtomicU64,
    /// Puts and deletes of the same chunk are serialized (by the stripe of the chunk's
    /// directory), so "already present?", the rename and the usage counters agree even
    /// when two writers store the same chunk at once. Bodies are received outside the
    /// lock: only the final check-and-rename holds it.
    stripes: Vec<tokio::sync::Mutex<()>>,
}

/// What the store holds, for heartbeats and `/v1/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreUsage {
    /// Sum of the chunks' sizes.
    pub used_bytes: u64,
    pub chunks: u64,
}

/// An open chunk, ready to be streamed out.
#[derive(Debug)]
pub struct ChunkReader {
    size: u64,
    file: tokio::fs::File,
}

impl ChunkReader {
    /// Size of the chunk file when it was opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The chunk's bytes in pieces of at most 64 KiB. Reads stop at the size seen at open,
    /// so the stream always matches the `Content-Length` sent with it.
    pub fn into_stream(self) -> impl Stream<Item = std::io::Result<Bytes>> + Send + 'static {
        let reader = self.file.take(self.size);
        futures::stream::try_unfold(reader, |mut reader| async move {
            let mut buffer = BytesMut::with_capacity(READ_BUFFER_BYTES);
            let read = reader.read_buf(&mut buffer).await?;
            if read == 0 {
                Ok(None)
            } else {
                Ok(Some((buffer.freeze(), reader)))
            }
        })
    }
}

/// A temporary file, removed when dropped unless kept: every error path and a cancelled
/// request (the client went away, dropping the handler's future) clean up after themselves.
struct TempPath {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempPath {
    fn drop(&mut self) {
        if !self.keep {
            // A single unlink: quick enough not to matter on an async thread.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn check_name(hash: &str) -> Result<()> {
    if is_chunk_name(hash) {
        Ok(())
    } else {
        Err(StorageNodeError::InvalidChunkName(hash.to_string()))
    }
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageNodeError::Internal(format!("blocking task failed: {e}")))?
}

async fn fsync_dir(dir: &Path) -> Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await?;
    Ok(())
}

fn modified_unix(metadata: &std::fs::Metadata) -> i64 {
    metadata
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// True when the file's bytes hash to `hash`; false also when it cannot be read.
fn file_matches(path: &Path, hash: &str) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let mut hasher = Sha256::new();
    if std::io::copy(&mut file, &mut hasher).is_err() {
        return false;
    }
    hex::encode(hasher.finalize()) == hash
}

impl ChunkStore {
    /// Open (creating if needed) the store under `data_dir`: remove the leftovers in
    /// `tmp/` and count the chunks.
    pub async fn open(data_dir: impl Into<PathBuf>) -> Result<Self> {
        let data_dir = data_dir.into();
        blocking(move || Self::open_blocking(data_dir)).await
    }

    fn open_blocking(data_dir: PathBuf) -> Result<Self> {
        let chunks_dir = data_dir.join("chunks");
        let tmp_dir = data_dir.join("tmp");
        std::fs::create_dir_all(&data_dir)?;
        let leftovers = match std::fs::read_dir(&tmp_dir) {
            Ok(entries) => entries.count(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(e.into()),
        };
        if leftovers > 0 {
            std::fs::remove_dir_all(&tmp_dir)?;
        }
        std::fs::create_dir_all(&tmp_dir)?;
        std::fs::create_dir_all(&chunks_dir)?;
        // Make `chunks/` and `tmp/` themselves durable before anything is renamed into them.
        std::fs::File::open(&data_dir)?.sync_all()?;

        let (mut used_bytes, mut chunk_count) = (0u64, 0u64);
        for prefix in std::fs::read_dir(&chunks_dir)? {
            let prefix = prefix?;
            if !prefix.file_type()?.is_dir() {
                continue;
            }
            for entry in std::fs::read_dir(prefix.path())? {
                let entry = entry?;
                if !entry.file_name().to_str().is_some_and(is_chunk_name) {
                    continue;
                }
                let metadata = entry.metadata()?;
                if metadata.is_file() {
                    used_bytes += metadata.len();
                    chunk_count += 1;
                }
            }
        }
        tracing::info!(
            data_dir = %data_dir.display(),
            chunks = chunk_count,
            used_bytes,
            removed_temporaries = leftovers,
            "chunk store opened"
        );
        Ok(Self {
            data_dir,
            chunks_dir,
            tmp_dir,
            used_bytes: AtomicU64::new(used_bytes),
            chunk_count: AtomicU64::new(chunk_count),
            stripes: (0..LOCK_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the chunk named `hash` lives (whether or not it exists).
    pub fn chunk_path(&self, hash: &str) -> PathBuf {
        let prefix = hash.get(..2).unwrap_or(hash);
        self.chunks_dir.join(prefix).join(hash)
    }

    pub fn usage(&self) -> StoreUsage {
        StoreUsage {
            used_bytes: self.used_bytes.load(Ordering::Relaxed),
            chunks: self.chunk_count.load(Ordering::Relaxed),
        }
    }

    fn stripe(&self, hash: &str) -> &tokio::sync::Mutex<()> {
        let index = hash
            .get(..2)
            .and_then(|p| usize::from_str_radix(p, 16).ok())
            .unwrap_or(0);
        &self.stripes[index % LOCK_STRIPES]
    }

    fn add_usage(&self, bytes: u64, chunks: u64) {
        self.used_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.chunk_count.fetch_add(chunks, Ordering::Relaxed);
    }

    fn sub_usage(&self, bytes: u64, chunks: u64) {
        // Saturating: a file changed behind our back (an operator, a test corrupting a
        // chunk) must not wrap the counters around.
        let _ = self
            .used_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(bytes))
            });
        let _ = self
            .chunk_count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                Some(v.saturating_sub(chunks))
            });
    }

    /// Store the chunk named `hash` from `body`, streaming (memory does not grow with the
    /// chunk). Refuses a body over [`MAX_CHUNK_BYTES`] and one whose SHA-256 is not `hash`;
    /// nothing is left behind then. Returns `true` when the chunk was newly stored, `false`
    /// when it was already there (it is not rewritten, but its mtime is refreshed so garbage
    /// collection sees it as young: a new upload may have just started referencing it).
    ///
    /// A stored copy whose bytes no longer match its name (disk corruption) is replaced by
    /// the new, verified body, which counts as newly stored: after a successful `put` the
    /// node holds the right bytes.
    pub async fn put<S, E>(&self, hash: &str, body: S) -> Result<bool>
    where
        S: Stream<Item = std::result::Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        check_name(hash)?;
        let mut body = std::pin::pin!(body);
        let mut temp = TempPath {
            path: self
                .tmp_dir
                .join(format!("{hash}.{}", uuid::Uuid::new_v4().simple())),
            keep: false,
        };
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp.path)
            .await?;
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        while let Some(frame) = body.next().await {
            let frame = frame.map_err(|e| StorageNodeError::Body(e.to_string()))?;
            size += frame.len() as u64;
            if size > MAX_CHUNK_BYTES as u64 {
                return Err(StorageNodeError::TooLarge);
            }
            hasher.update(&frame);
            file.write_all(&frame).await?;
        }
        let actual = hex::encode(hasher.finalize());
        if actual != hash {
            return Err(StorageNodeError::ChecksumMismatch {
                expected: hash.to_string(),
                actual,
            });
        }
        file.flush().await?;
        file.sync_all().await?;
        drop(file);

        let final_path = self.chunk_path(hash);
        let dir = final_path
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.chunks_dir.clone());
        let _guard = self.stripe(hash).lock().await;
        match tokio::fs::create_dir(&dir).await {
            // A new directory's entry in `chunks/` must be durable too.
            Ok(()) => fsync_dir(&self.chunks_dir).await?,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e.into()),
        }
        let replaced_size = match tokio::fs::metadata(&final_path).await {
            Ok(existing) => {
                let (path, name) = (final_path.clone(), hash.to_string());
                if blocking(move || Ok(file_matches(&path, &name))).await? {
                    let path = final_path.clone();
                    let touched = blocking(move || {
                        std::fs::File::open(&path)?.set_modified(SystemTime::now())?;
                        Ok(())
                    })
                    .await;
                    if let Err(e) = touched {
                        tracing::warn!(chunk = hash, error = %e, "could not refresh a chunk's mtime");
                    }
                    return Ok(false);
                }
                tracing::warn!(
                    chunk = hash,
                    "replacing a stored chunk whose bytes no longer match its name"
                );
                Some(existing.len())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(e.into()),
        };
        tokio::fs::rename(&temp.path, &final_path).await?;
        temp.keep = true;
        match replaced_size {
            Some(old) => {
                self.sub_usage(old, 0);
                self.add_usage(size, 0);
            }
            None => self.add_usage(size, 1),
        }
        fsync_dir(&dir).await?;
        tracing::debug!(chunk = hash, size, "chunk stored");
        Ok(true)
    }

    /// Open the chunk for streaming; [`StorageNodeError::NoSuchChunk`] when absent. The
    /// bytes are not verified here: readers check the SHA-256 themselves.
    pub async fn get(&self, hash: &str) -> Result<ChunkReader> {
        check_name(hash)?;
        let file = match tokio::fs::File::open(self.chunk_path(hash)).await {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StorageNodeError::NoSuchChunk(hash.to_string()))
            }
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata().await?.len();
        Ok(ChunkReader { size, file })
    }

    /// Remove the chunk. Idempotent: returns whether it was there.
    ///
    /// The directory is not fsynced: a deletion lost in a crash is redone by the next
    /// garbage-collection pass.
    pub async fn delete(&self, hash: &str) -> Result<bool> {
        self.delete_unless_modified_after(hash, None).await
    }

    /// Remove the chunk unless it was written (or re-put, which refreshes its mtime) after
    /// `unmodified_since` (Unix seconds): garbage collection's stray sweep must not delete
    /// a chunk an upload has just written again. Checked under the chunk's lock, so no put
    /// slips in between the check and the removal.
    pub async fn delete_unless_modified_after(
        &self,
        hash: &str,
        unmodified_since: Option<i64>,
    ) -> Result<bool> {
        check_name(hash)?;
        let path = self.chunk_path(hash);
        let _guard = self.stripe(hash).lock().await;
        let size = match tokio::fs::metadata(&path).await {
            Ok(metadata) => {
                if let Some(limit) = unmodified_since {
                    let modified = metadata
                        .modified()?
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0);
                    if modified > limit {
                        return Err(StorageNodeError::Modified(hash.to_string()));
                    }
                }
                metadata.len()
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        }
        self.sub_usage(size, 1);
        tracing::debug!(chunk = hash, size, "chunk deleted");
        Ok(true)
    }

    /// Up to `limit` chunks (clamped to 1..=[`MAX_LIST_LIMIT`]) whose names sort after
    /// `after`, in name order. `next_after` is set only when more chunks follow.
    pub async fn list(&self, after: Option<&str>, limit: usize) -> Result<ChunkList> {
        if let Some(after) = after {
            check_name(after)?;
        }
        let chunks_dir = self.chunks_dir.clone();
        let after = after.map(str::to_string);
        let limit = limit.clamp(1, MAX_LIST_LIMIT);
        blocking(move || list_blocking(&chunks_dir, after.as_deref(), limit)).await
    }
}

fn list_blocking(chunks_dir: &Path, after: Option<&str>, limit: usize) -> Result<ChunkList> {
    let is_prefix = |name: &str| {
        name.len() == 2 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let mut prefixes: Vec<String> = std::fs::read_dir(chunks_dir)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| is_prefix(name))
        .collect();
    prefixes.sort();
    let first_prefix = after.and_then(|a| a.get(..2));

    let mut chunks = Vec::new();
    for prefix in prefixes
        .iter()
        .filter(|p| first_prefix.is_none_or(|first| p.as_str() >= first))
    {
        let dir = chunks_dir.join(prefix);
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
                .filter(|name| is_chunk_name(name) && name.starts_with(prefix.as_str()))
                .filter(|name| after.is_none_or(|a| name.as_str() > a))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e.into()),
        };
        names.sort();
        for name in names {
            let metadata = match std::fs::metadata(dir.join(&name)) {
                Ok(metadata) if metadata.is_file() => metadata,
                Ok(_) => continue,
                // Deleted while we were listing.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            };
            if chunks.len() == limit {
                // One more exists beyond the page: the caller continues after the last.
                let next_after = chunks.last().map(|c: &ChunkInfo| c.sha256.clone());
                return Ok(ChunkList { chunks, next_after });
            }
            chunks.push(ChunkInfo {
                sha256: name,
                size: metadata.len(),
                modified_unix: modified_unix(&metadata),
            });
        }
    }
    Ok(ChunkList {
        chunks,
        next_after: None,
    })
}

#[cfg(test)]
mod tests;
