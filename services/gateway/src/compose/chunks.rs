//! Snapshot chunks live in Kumo's own object storage: each chunk is written as a blob
//! (replicated on the storage nodes like any object's bytes, through object storage's own
//! write path, not HTTP to ourselves) and referenced by its blob id, so object storage's
//! garbage collection keeps it until block storage releases it.

use bytes::Bytes;
use kumo_block_storage::chunk_store::ChunkStore;
use kumo_block_storage::BlockStorageError;
use kumo_object_storage::checksum::ObjectHasher;
use kumo_object_storage::{blobs, write, ObjectStorage, StorageError};
use uuid::Uuid;

/// Object storage as block storage's chunk store.
pub(crate) struct ObjectChunks(pub ObjectStorage);

fn storage_error(e: StorageError) -> BlockStorageError {
    BlockStorageError::Internal(format!("snapshot chunk store: {e}"))
}

fn blob_id(location: &str) -> Result<Uuid, BlockStorageError> {
    Uuid::parse_str(location)
        .map_err(|_| BlockStorageError::Internal(format!("bad chunk location {location}")))
}

#[async_trait::async_trait]
impl ChunkStore for ObjectChunks {
    async fn put(&self, sha256: &str, data: Bytes) -> Result<String, BlockStorageError> {
        let body = futures::stream::iter([Ok::<_, StorageError>(data)]);
        let written = write::write_object(&self.0, body, ObjectHasher::new(None))
            .await
            .map_err(storage_error)?;
        // Object storage addresses its own chunks by SHA-256 too: one chunk, same hash.
        if written
            .blob
            .chunks
            .iter()
            .map(|c| c.sha256.as_str())
            .ne([sha256])
        {
            return Err(BlockStorageError::Internal(format!(
                "chunk {sha256} was stored under other hashes"
            )));
        }
        let mut tx = self.0.pool.begin().await?;
        let blob_id = blobs::commit_blob(&mut tx, &written.blob)
            .await
            .map_err(storage_error)?;
        tx.commit().await?;
        Ok(blob_id.to_string())
    }

    async fn get(&self, location: &str) -> Result<Bytes, BlockStorageError> {
        let stream = blobs::read_range(&self.0, Some(blob_id(location)?), 0, u64::MAX)
            .await
            .map_err(storage_error)?;
        let parts: Vec<Bytes> = futures::TryStreamExt::try_collect(stream)
            .await
            .map_err(storage_error)?;
        Ok(parts.concat().into())
    }

    async fn delete(&self, location: &str) -> Result<(), BlockStorageError> {
        let mut tx = self.0.pool.begin().await?;
        blobs::release_blob(&mut tx, Some(blob_id(location)?))
            .await
            .map_err(storage_error)?;
        tx.commit().await?;
        Ok(())
    }
}
