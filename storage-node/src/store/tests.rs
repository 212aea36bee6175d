#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use super::*;

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn body(data: &[u8]) -> impl Stream<Item = std::io::Result<Bytes>> {
    // Several frames, as a network body would arrive.
    let frames: Vec<std::io::Result<Bytes>> = data
        .chunks(1000)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    futures::stream::iter(frames)
}

async fn read_all(store: &ChunkStore, hash: &str) -> Vec<u8> {
    let reader = store.get(hash).await.unwrap();
    let size = reader.size();
    let mut out = Vec::new();
    let mut stream = std::pin::pin!(reader.into_stream());
    while let Some(piece) = stream.next().await {
        out.extend_from_slice(&piece.unwrap());
    }
    assert_eq!(out.len() as u64, size);
    out
}

fn tmp_entries(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("tmp")).unwrap().count()
}

#[tokio::test]
async fn put_then_get_roundtrip() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let hash = sha256_hex(&data);
    assert!(store.put(&hash, body(&data)).await.unwrap());
    assert_eq!(read_all(&store, &hash).await, data);
    let path = store.chunk_path(&hash);
    assert_eq!(path, dir.path().join("chunks").join(&hash[..2]).join(&hash));
    assert!(path.is_file());
    assert_eq!(tmp_entries(dir.path()), 0);
}

#[tokio::test]
async fn empty_chunk_is_a_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let hash = sha256_hex(b"");
    assert!(store.put(&hash, body(b"")).await.unwrap());
    assert!(read_all(&store, &hash).await.is_empty());
    assert_eq!(store.usage().chunks, 1);
}

#[tokio::test]
async fn checksum_mismatch_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let hash = sha256_hex(b"the real bytes");
    let err = store.put(&hash, body(b"other bytes")).await.unwrap_err();
    assert!(
        matches!(err, StorageNodeError::ChecksumMismatch { .. }),
        "{err}"
    );
    assert!(!store.chunk_path(&hash).exists());
    assert!(matches!(
        store.get(&hash).await.unwrap_err(),
        StorageNodeError::NoSuchChunk(_)
    ));
    assert_eq!(tmp_entries(dir.path()), 0);
    assert_eq!(store.usage().chunks, 0);
}

#[tokio::test]
async fn re_put_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let hash = sha256_hex(b"same");
    assert!(store.put(&hash, body(b"same")).await.unwrap());
    let old = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
    std::fs::File::open(store.chunk_path(&hash))
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert!(!store.put(&hash, body(b"same")).await.unwrap());
    assert_eq!(
        store.usage(),
        StoreUsage {
            used_bytes: 4,
            chunks: 1
        }
    );
    // The re-put refreshed the mtime (garbage collection spares young chunks).
    let listed = store.list(None, 10).await.unwrap();
    assert!(listed.chunks[0].modified_unix > 1_000_000);
    assert_eq!(tmp_entries(dir.path()), 0);
}

#[tokio::test]
async fn re_put_repairs_a_corrupt_copy() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let data = b"precious data";
    let hash = sha256_hex(data);
    store.put(&hash, body(data)).await.unwrap();
    // Bit rot keeps the size (the counters only know what the store itself wrote).
    std::fs::write(store.chunk_path(&hash), b"rotten data!!").unwrap();
    assert!(store.put(&hash, body(data)).await.unwrap());
    assert_eq!(read_all(&store, &hash).await, data);
    assert_eq!(
        store.usage(),
        StoreUsage {
            used_bytes: data.len() as u64,
            chunks: 1
        }
    );
}

#[tokio::test]
async fn over_size_body_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let data = vec![7u8; MAX_CHUNK_BYTES + 1];
    let hash = sha256_hex(&data);
    let frames: Vec<std::io::Result<Bytes>> = data
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let err = store
        .put(&hash, futures::stream::iter(frames))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageNodeError::TooLarge), "{err}");
    assert!(!store.chunk_path(&hash).exists());
    assert_eq!(tmp_entries(dir.path()), 0);

    // Exactly the limit is fine.
    let data = vec![7u8; MAX_CHUNK_BYTES];
    let hash = sha256_hex(&data);
    assert!(store.put(&hash, body(&data)).await.unwrap());
}

#[tokio::test]
async fn broken_body_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let hash = sha256_hex(b"never finished");
    let frames: Vec<std::io::Result<Bytes>> = vec![
        Ok(Bytes::from_static(b"never ")),
        Err(std::io::Error::other("connection reset")),
    ];
    let err = store
        .put(&hash, futures::stream::iter(frames))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageNodeError::Body(_)), "{err}");
    assert_eq!(tmp_entries(dir.path()), 0);
}

#[tokio::test]
async fn invalid_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let upper = sha256_hex(b"x").to_uppercase();
    for name in ["", "abc", "../etc/passwd", upper.as_str()] {
        assert!(matches!(
            store.put(name, body(b"x")).await.unwrap_err(),
            StorageNodeError::InvalidChunkName(_)
        ));
        assert!(matches!(
            store.get(name).await.unwrap_err(),
            StorageNodeError::InvalidChunkName(_)
        ));
        assert!(matches!(
            store.delete(name).await.unwrap_err(),
            StorageNodeError::InvalidChunkName(_)
        ));
    }
    assert!(matches!(
        store.list(Some("zz"), 10).await.unwrap_err(),
        StorageNodeError::InvalidChunkName(_)
    ));
}

#[tokio::test]
async fn delete_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let hash = sha256_hex(b"doomed");
    store.put(&hash, body(b"doomed")).await.unwrap();
    assert!(store.delete(&hash).await.unwrap());
    assert!(!store.delete(&hash).await.unwrap());
    assert!(!store.chunk_path(&hash).exists());
    assert_eq!(
        store.usage(),
        StoreUsage {
            used_bytes: 0,
            chunks: 0
        }
    );
}

#[tokio::test]
async fn conditional_delete_spares_a_chunk_written_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let hash = sha256_hex(b"reused");
    store.put(&hash, body(b"reused")).await.unwrap();
    let an_hour_ago = (SystemTime::now() - std::time::Duration::from_secs(3600))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    // Just written: newer than an hour ago, so a sweep with that cutoff keeps it.
    assert!(matches!(
        store
            .delete_unless_modified_after(&hash, Some(an_hour_ago))
            .await
            .unwrap_err(),
        StorageNodeError::Modified(_)
    ));
    assert!(store.chunk_path(&hash).exists());
    let now = an_hour_ago + 7200;
    assert!(store
        .delete_unless_modified_after(&hash, Some(now))
        .await
        .unwrap());
    assert!(!store.chunk_path(&hash).exists());
}

#[tokio::test]
async fn list_pages_in_hash_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let mut hashes = Vec::new();
    for i in 0..25u32 {
        let data = format!("chunk number {i}");
        let hash = sha256_hex(data.as_bytes());
        store.put(&hash, body(data.as_bytes())).await.unwrap();
        hashes.push((hash, data.len() as u64));
    }
    hashes.sort();

    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    let mut pages = 0;
    loop {
        let page = store.list(after.as_deref(), 10).await.unwrap();
        pages += 1;
        assert!(page.chunks.len() <= 10);
        seen.extend(page.chunks.iter().map(|c| (c.sha256.clone(), c.size)));
        match page.next_after {
            Some(next) => {
                assert_eq!(Some(&next), page.chunks.last().map(|c| &c.sha256));
                after = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, hashes);

    // A page that ends exactly at the last chunk says so.
    let all = store.list(None, 25).await.unwrap();
    assert_eq!(all.chunks.len(), 25);
    assert!(all.next_after.is_none());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(all
        .chunks
        .iter()
        .all(|c| (now - c.modified_unix).abs() < 3600));
    // After the last name: nothing.
    let last = &hashes[24].0;
    let empty = store.list(Some(last), 10).await.unwrap();
    assert!(empty.chunks.is_empty() && empty.next_after.is_none());
}

#[tokio::test]
async fn usage_is_counted_at_open_and_kept_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    assert_eq!(
        store.usage(),
        StoreUsage {
            used_bytes: 0,
            chunks: 0
        }
    );
    let (a, b) = (vec![1u8; 3000], vec![2u8; 500]);
    store.put(&sha256_hex(&a), body(&a)).await.unwrap();
    store.put(&sha256_hex(&b), body(&b)).await.unwrap();
    assert_eq!(
        store.usage(),
        StoreUsage {
            used_bytes: 3500,
            chunks: 2
        }
    );
    drop(store);
    let store = ChunkStore::open(dir.path()).await.unwrap();
    assert_eq!(
        store.usage(),
        StoreUsage {
            used_bytes: 3500,
            chunks: 2
        }
    );
    store.delete(&sha256_hex(&a)).await.unwrap();
    assert_eq!(
        store.usage(),
        StoreUsage {
            used_bytes: 500,
            chunks: 1
        }
    );
}

#[tokio::test]
async fn crash_leftovers_in_tmp_are_removed_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    let kept = sha256_hex(b"kept");
    store.put(&kept, body(b"kept")).await.unwrap();
    drop(store);
    std::fs::write(dir.path().join("tmp").join("half-written.1234"), b"partial").unwrap();
    std::fs::create_dir(dir.path().join("tmp").join("odd-dir")).unwrap();
    let store = ChunkStore::open(dir.path()).await.unwrap();
    assert_eq!(tmp_entries(dir.path()), 0);
    assert_eq!(store.usage().chunks, 1);
    assert_eq!(read_all(&store, &kept).await, b"kept");
}

#[tokio::test]
async fn concurrent_puts_of_one_chunk_store_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(ChunkStore::open(dir.path()).await.unwrap());
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 7) as u8).collect();
    let hash = sha256_hex(&data);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, data, hash) = (store.clone(), data.clone(), hash.clone());
        tasks.push(tokio::spawn(
            async move { store.put(&hash, body(&data)).await },
        ));
    }
    let mut created = 0;
    for task in tasks {
        if task.await.unwrap().unwrap() {
            created += 1;
        }
    }
    assert_eq!(created, 1);
    assert_eq!(
        store.usage(),
        StoreUsage {
            used_bytes: data.len() as u64,
            chunks: 1
        }
    );
    assert_eq!(read_all(&store, &hash).await, data);
    assert_eq!(tmp_entries(dir.path()), 0);
}
