#![allow(clippy::unwrap_used)]
//! Snapshots against a real catalog: CreateSnapshot hands a task to the node of a ready
//! replica, the node's chunk pages and uploads (only missing chunks), progress to
//! `completed`; a second snapshot stores only the changed chunk; CopySnapshot shares
//! chunks; DeleteSnapshot drops references and deletes unreferenced chunks from the store;
//! CreateVolume from a snapshot (sizes, states, the replica's source, who may read the
//! chunks); tenant isolation.

use std::sync::Arc;

use axum::body::Bytes;
use kumo_auth::{AuthMethod, Principal, Role};
use kumo_block_storage::chunk_store::{sha256_hex, MemoryChunkStore};
use kumo_block_storage::snapshots::{self, agent as snap_agent};
use kumo_block_storage::volumes::{self, CreateVolume};
use kumo_block_storage::{agent, BlockStorage, BlockStorageError};
use kumo_storage_protocol::block::{
    ReplicaSource, ReplicaState, SnapshotChunkRef, SnapshotChunks, SnapshotProgress,
    SnapshotTaskState, VolumeReplicaState, VolumeReport,
};
use sqlx::PgPool;

fn principal(account: &str) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role: Role::Admin,
        method: AuthMethod::Bearer,
    }
}

fn code(e: BlockStorageError) -> &'static str {
    match e {
        BlockStorageError::Invalid(c, _)
        | BlockStorageError::NotFound(c, _)
        | BlockStorageError::Conflict(c, _) => c,
        other => panic!("unexpected error {other:?}"),
    }
}

async fn node(pool: &PgPool, id: &str) {
    sqlx::query(
        "INSERT INTO object_storage.nodes (node_id, name, zone, address, node_token, capacity_bytes, last_heartbeat_at)
         VALUES ($1, $1, 'us-east-1a', '127.0.0.1:1', $1 || ':secret', 100 << 30, now())",
    )
    .bind(id)
    .execute(pool)
    .await
    .unwrap();
}

async fn ready(pool: &PgPool, node_id: &str, volume_ids: &[&str], size_gib: u64) {
    let report = VolumeReport {
        volumes: volume_ids
            .iter()
            .map(|id| VolumeReplicaState {
                volume_id: id.to_string(),
                state: ReplicaState::Ready,
                nbd_port: Some(10809),
                size_bytes: size_gib << 30,
                detail: None,
            })
            .collect(),
        free_bytes: 50 << 30,
    };
    agent::apply_report(pool, node_id, &report).await.unwrap();
}

fn chunk(byte: u8) -> Bytes {
    Bytes::from(vec![byte; 1 << 20])
}

fn page(entries: &[(u64, &Bytes)]) -> SnapshotChunks {
    SnapshotChunks {
        chunks: entries
            .iter()
            .map(|(index, data)| SnapshotChunkRef {
                index: *index,
                sha256: sha256_hex(data),
            })
            .collect(),
    }
}

/// What a node does for one snapshot: post the page, upload what is missing, post again,
/// report completed. The chunks it uploaded.
async fn take(
    storage: &BlockStorage,
    node_id: &str,
    snapshot_id: &str,
    data: &[(u64, &Bytes)],
) -> usize {
    let chunks = page(data);
    let missing = snap_agent::record_chunks(&storage.pool, node_id, snapshot_id, &chunks)
        .await
        .unwrap()
        .missing;
    for sha in &missing {
        let bytes = data.iter().find(|(_, d)| sha256_hex(d) == *sha).unwrap().1;
        snap_agent::store_chunk(storage, node_id, snapshot_id, sha, bytes.clone())
            .await
            .unwrap();
    }
    let again = snap_agent::record_chunks(&storage.pool, node_id, snapshot_id, &chunks)
        .await
        .unwrap();
    assert!(again.missing.is_empty());
    let done = SnapshotProgress {
        state: SnapshotTaskState::Completed,
        progress: 100,
        detail: None,
    };
    snap_agent::record_progress(storage, node_id, snapshot_id, &done)
        .await
        .unwrap();
    missing.len()
}

#[tokio::test]
async fn snapshots_store_changed_chunks_once_and_restore() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let store = Arc::new(MemoryChunkStore::default());
    let storage =
        BlockStorage::new(pool.clone(), Default::default()).with_chunk_store(store.clone());
    let a = principal("111111111111");
    let b = principal("222222222222");
    node(&pool, "n1").await;
    let volume = volumes::create(
        &storage,
        &a,
        &CreateVolume {
            zone: "us-east-1a".into(),
            size_gib: Some(2),
            ..CreateVolume::default()
        },
    )
    .await
    .unwrap();
    let vol = volume.volume_id.as_str();
    // A creating volume cannot be snapshotted.
    let refused = snapshots::create(&storage, &a, vol, "", &Default::default()).await;
    assert_eq!(code(refused.unwrap_err()), "IncorrectState");
    ready(&pool, "n1", &[vol], 2).await;

    // First snapshot: the node gets the task, uploads both chunks.
    let first = snapshots::create(&storage, &a, vol, "first", &Default::default())
        .await
        .unwrap();
    assert_eq!((first.state.as_str(), first.progress), ("pending", 0));
    assert_eq!(first.volume_size_gib, 2);
    let tasks = agent::assigned(&pool, "n1").await.unwrap().snapshots;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0].snapshot_id, first.snapshot_id);
    assert_eq!(tasks[0].volume_id, vol);
    // A volume from a pending snapshot is refused.
    let early = CreateVolume {
        zone: "us-east-1a".into(),
        snapshot_id: Some(first.snapshot_id.clone()),
        ..CreateVolume::default()
    };
    assert_eq!(
        code(volumes::create(&storage, &a, &early).await.unwrap_err()),
        "IncorrectState"
    );
    let (zeros, ones, twos) = (chunk(0xa0), chunk(0x01), chunk(0x02));
    // Another node cannot upload for it; a chunk must hash to its name.
    node(&pool, "n2").await;
    let sha = sha256_hex(&zeros);
    let wrong_node =
        snap_agent::store_chunk(&storage, "n2", &first.snapshot_id, &sha, zeros.clone()).await;
    assert_eq!(code(wrong_node.unwrap_err()), "InvalidSnapshot.NotFound");
    let wrong_bytes =
        snap_agent::store_chunk(&storage, "n1", &first.snapshot_id, &sha, ones.clone()).await;
    assert_eq!(code(wrong_bytes.unwrap_err()), "InvalidParameterValue");
    // Index 2048 is past a 2 GiB volume's last chunk.
    let past =
        snap_agent::record_chunks(&pool, "n1", &first.snapshot_id, &page(&[(2048, &zeros)])).await;
    assert_eq!(code(past.unwrap_err()), "InvalidParameterValue");

    assert_eq!(
        take(
            &storage,
            "n1",
            &first.snapshot_id,
            &[(0, &zeros), (7, &ones)]
        )
        .await,
        2
    );
    let first = snapshots::get(&pool, &a, &first.snapshot_id).await.unwrap();
    assert_eq!((first.state.as_str(), first.progress), ("completed", 100));
    assert_eq!(first.stored_bytes, 2 << 20);
    assert!(agent::assigned(&pool, "n1")
        .await
        .unwrap()
        .snapshots
        .is_empty());
    // A finished snapshot takes no more uploads.
    let late =
        snap_agent::record_chunks(&pool, "n1", &first.snapshot_id, &page(&[(1, &twos)])).await;
    assert_eq!(code(late.unwrap_err()), "InvalidSnapshot.NotFound");

    // Second snapshot, one chunk changed: one upload.
    let second = snapshots::create(&storage, &a, vol, "second", &Default::default())
        .await
        .unwrap();
    assert_eq!(
        take(
            &storage,
            "n1",
            &second.snapshot_id,
            &[(0, &zeros), (7, &twos)]
        )
        .await,
        1
    );
    assert_eq!(store.len(), 3);
    assert_eq!(snapshots::stored_chunks(&pool).await.unwrap(), (3, 3 << 20));

    // A copy shares the chunks and is completed at once.
    let copy = snapshots::copy(
        &storage,
        &a,
        &second.snapshot_id,
        "copy",
        &Default::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (copy.state.as_str(), copy.volume_size_gib),
        ("completed", 2)
    );
    assert_eq!(copy.volume_id, snapshots::COPIED_VOLUME_ID);
    assert_eq!(copy.stored_bytes, 2 << 20);
    assert_eq!(store.len(), 3);

    // Tenant isolation: B sees none of it, cannot copy, delete, snapshot or restore.
    assert!(snapshots::list(&pool, &b, &[]).await.unwrap().is_empty());
    let id = first.snapshot_id.clone();
    assert_eq!(
        code(snapshots::get(&pool, &b, &id).await.unwrap_err()),
        "InvalidSnapshot.NotFound"
    );
    assert_eq!(
        code(
            snapshots::copy(&storage, &b, &id, "", &Default::default())
                .await
                .unwrap_err()
        ),
        "InvalidSnapshot.NotFound"
    );
    assert_eq!(
        code(snapshots::delete(&storage, &b, &id).await.unwrap_err()),
        "InvalidSnapshot.NotFound"
    );
    assert_eq!(
        code(
            snapshots::create(&storage, &b, vol, "", &Default::default())
                .await
                .unwrap_err()
        ),
        "InvalidVolume.NotFound"
    );
    let theirs = CreateVolume {
        zone: "us-east-1a".into(),
        snapshot_id: Some(id.clone()),
        ..CreateVolume::default()
    };
    assert_eq!(
        code(volumes::create(&storage, &b, &theirs).await.unwrap_err()),
        "InvalidSnapshot.NotFound"
    );

    // Restore: the size defaults to the snapshot's and may not be smaller.
    let small = CreateVolume {
        size_gib: Some(1),
        ..theirs.clone()
    };
    assert_eq!(
        code(volumes::create(&storage, &a, &small).await.unwrap_err()),
        "InvalidParameterValue"
    );
    // Before the restored volume exists, no node may read the snapshot.
    let denied = snap_agent::chunk_page(&pool, "n1", &id, None).await;
    assert_eq!(code(denied.unwrap_err()), "InvalidSnapshot.NotFound");
    let restored = volumes::create(&storage, &a, &theirs).await.unwrap();
    assert_eq!(restored.size_gib, 2);
    assert_eq!(restored.snapshot_id.as_deref(), Some(id.as_str()));
    let held = agent::assigned(&pool, "n1").await.unwrap();
    let spec = held
        .volumes
        .iter()
        .find(|v| v.volume_id == restored.volume_id)
        .unwrap();
    assert_eq!(
        spec.source,
        Some(ReplicaSource::Snapshot {
            snapshot_id: id.clone()
        })
    );
    let listed = snap_agent::chunk_page(&pool, "n1", &id, None)
        .await
        .unwrap();
    let indexes: Vec<u64> = listed.chunks.iter().map(|c| c.index).collect();
    assert_eq!(indexes, [0, 7]);
    assert_eq!(listed.next_after, None);
    let bytes = snap_agent::chunk_bytes(&storage, "n1", &id, &listed.chunks[1].sha256)
        .await
        .unwrap();
    assert_eq!(bytes, ones);
    // A node holding no replica of it may not read it.
    node(&pool, "n3").await;
    let other = snap_agent::chunk_page(&pool, "n3", &id, None).await;
    assert_eq!(code(other.unwrap_err()), "InvalidSnapshot.NotFound");

    // Deleting drops references; the last one gone, the chunk goes from the store.
    snapshots::delete(&storage, &a, &first.snapshot_id)
        .await
        .unwrap();
    assert_eq!(store.len(), 2, "the first snapshot's own chunk (ones) went");
    assert_eq!(
        code(
            snapshots::delete(&storage, &a, &first.snapshot_id)
                .await
                .unwrap_err()
        ),
        "InvalidSnapshot.NotFound"
    );
    snapshots::delete(&storage, &a, &second.snapshot_id)
        .await
        .unwrap();
    assert_eq!(store.len(), 2, "the copy still holds them");
    snapshots::delete(&storage, &a, &copy.snapshot_id)
        .await
        .unwrap();
    assert!(store.is_empty());
    assert_eq!(snapshots::stored_chunks(&pool).await.unwrap(), (0, 0));
}

#[tokio::test]
async fn a_failed_snapshot_is_error_and_a_pending_one_can_be_deleted() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let store = Arc::new(MemoryChunkStore::default());
    let storage =
        BlockStorage::new(pool.clone(), Default::default()).with_chunk_store(store.clone());
    let a = principal("111111111111");
    node(&pool, "n1").await;
    let volume = volumes::create(
        &storage,
        &a,
        &CreateVolume {
            zone: "us-east-1a".into(),
            size_gib: Some(1),
            ..CreateVolume::default()
        },
    )
    .await
    .unwrap();
    ready(&pool, "n1", &[&volume.volume_id], 1).await;
    let failing = snapshots::create(&storage, &a, &volume.volume_id, "", &Default::default())
        .await
        .unwrap();
    let failed = SnapshotProgress {
        state: SnapshotTaskState::Failed,
        progress: 40,
        detail: Some("backup job failed\u{7}".into()),
    };
    snap_agent::record_progress(&storage, "n1", &failing.snapshot_id, &failed)
        .await
        .unwrap();
    let failing = snapshots::get(&pool, &a, &failing.snapshot_id)
        .await
        .unwrap();
    assert_eq!(failing.state, "error");
    assert_eq!(failing.status_message.as_deref(), Some("backup job failed"));
    // A pending snapshot deleted mid-upload: its node's next request is refused.
    let pending = snapshots::create(&storage, &a, &volume.volume_id, "", &Default::default())
        .await
        .unwrap();
    let data = chunk(9);
    let sha = sha256_hex(&data);
    snap_agent::store_chunk(&storage, "n1", &pending.snapshot_id, &sha, data.clone())
        .await
        .unwrap();
    snap_agent::record_chunks(&pool, "n1", &pending.snapshot_id, &page(&[(0, &data)]))
        .await
        .unwrap();
    snapshots::delete(&storage, &a, &pending.snapshot_id)
        .await
        .unwrap();
    assert!(store.is_empty());
    let refused =
        snap_agent::record_chunks(&pool, "n1", &pending.snapshot_id, &page(&[(0, &data)])).await;
    assert_eq!(code(refused.unwrap_err()), "InvalidSnapshot.NotFound");
    assert!(agent::assigned(&pool, "n1")
        .await
        .unwrap()
        .snapshots
        .is_empty());
}

#[tokio::test]
async fn a_restarted_copy_drops_what_was_recorded_and_a_dead_nodes_task_moves() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let store = Arc::new(MemoryChunkStore::default());
    let storage =
        BlockStorage::new(pool.clone(), Default::default()).with_chunk_store(store.clone());
    let a = principal("111111111111");
    node(&pool, "n1").await;
    node(&pool, "n2").await;
    let volume = volumes::create(
        &storage,
        &a,
        &CreateVolume {
            zone: "us-east-1a".into(),
            size_gib: Some(1),
            ..CreateVolume::default()
        },
    )
    .await
    .unwrap();
    let vol = volume.volume_id.as_str();
    ready(&pool, "n1", &[vol], 1).await;
    ready(&pool, "n2", &[vol], 1).await;
    let snap = snapshots::create(&storage, &a, vol, "", &Default::default())
        .await
        .unwrap();
    let taker = if agent::assigned(&pool, "n1")
        .await
        .unwrap()
        .snapshots
        .is_empty()
    {
        "n2"
    } else {
        "n1"
    };
    let other = if taker == "n1" { "n2" } else { "n1" };
    assert!(agent::assigned(&pool, other)
        .await
        .unwrap()
        .snapshots
        .is_empty());
    // A first attempt records a chunk, then the node starts over: the chunk is dropped.
    let data = chunk(5);
    let sha = sha256_hex(&data);
    snap_agent::store_chunk(&storage, taker, &snap.snapshot_id, &sha, data.clone())
        .await
        .unwrap();
    snap_agent::record_chunks(&pool, taker, &snap.snapshot_id, &page(&[(3, &data)]))
        .await
        .unwrap();
    assert_eq!(snapshots::stored_chunks(&pool).await.unwrap(), (1, 1 << 20));
    let restart = SnapshotProgress {
        state: SnapshotTaskState::Pending,
        progress: 0,
        detail: None,
    };
    snap_agent::record_progress(&storage, taker, &snap.snapshot_id, &restart)
        .await
        .unwrap();
    assert_eq!(snapshots::stored_chunks(&pool).await.unwrap(), (0, 0));
    assert!(store.is_empty());
    // The taking node goes silent: the other replica's node gets the task, the silent
    // one's requests are refused.
    sqlx::query("UPDATE object_storage.nodes SET last_heartbeat_at = NULL WHERE node_id = $1")
        .bind(taker)
        .execute(&pool)
        .await
        .unwrap();
    // Not to a stale replica (it may lack acknowledged writes).
    let stale = |in_sync: bool| {
        sqlx::query("UPDATE block_storage.volume_replicas SET in_sync = $2 WHERE node_id = $1")
            .bind(other)
            .bind(in_sync)
            .execute(&pool)
    };
    stale(false).await.unwrap();
    assert!(agent::assigned(&pool, other)
        .await
        .unwrap()
        .snapshots
        .is_empty());
    stale(true).await.unwrap();
    let moved = agent::assigned(&pool, other).await.unwrap().snapshots;
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0].snapshot_id, snap.snapshot_id);
    let refused =
        snap_agent::record_chunks(&pool, taker, &snap.snapshot_id, &page(&[(3, &data)])).await;
    assert_eq!(code(refused.unwrap_err()), "InvalidSnapshot.NotFound");
    assert_eq!(
        take(&storage, other, &snap.snapshot_id, &[(3, &data)]).await,
        1
    );
    let done = snapshots::get(&pool, &a, &snap.snapshot_id).await.unwrap();
    assert_eq!(
        (done.state.as_str(), done.stored_bytes),
        ("completed", 1 << 20)
    );
}

/// A snapshot a registered image maps (compute's `compute.snapshots_in_use` view) is
/// `InvalidSnapshot.InUse` until the image is deregistered; another account still gets
/// NotFound; `states` reports it for the image's refresh.
#[tokio::test]
async fn a_snapshot_an_image_uses_is_kept_until_the_image_is_deregistered() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let storage = BlockStorage::new(pool.clone(), Default::default())
        .with_chunk_store(Arc::new(MemoryChunkStore::default()));
    let (a, b) = (principal("111111111111"), principal("222222222222"));
    node(&pool, "n1").await;
    let volume = volumes::create(
        &storage,
        &a,
        &CreateVolume {
            zone: "us-east-1a".into(),
            size_gib: Some(1),
            ..CreateVolume::default()
        },
    )
    .await
    .unwrap();
    ready(&pool, "n1", &[&volume.volume_id], 1).await;
    let snapshot = snapshots::create(&storage, &a, &volume.volume_id, "", &Default::default())
        .await
        .unwrap();
    let id = snapshot.snapshot_id;
    for sql in [
        "INSERT INTO compute.images (image_id, account_id, name, kind, state)
         VALUES ('ami-0123456789abcdef0', '111111111111', 'from-snap', 'vm', 'pending')",
        "INSERT INTO compute.image_block_devices
             (image_id, device_name, snapshot_id, volume_size_gib, volume_type, delete_on_termination)
         VALUES ('ami-0123456789abcdef0', '/dev/xvda', $1, 1, 'gp3', true)",
    ] {
        sqlx::query(sql).bind(&id).execute(&pool).await.unwrap();
    }
    let states = snapshots::states(&pool, std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(states, [(id.clone(), "pending".to_string())]);
    let in_use = snapshots::delete(&storage, &a, &id).await.unwrap_err();
    assert!(
        in_use.to_string().contains(&format!(
            "The snapshot {id} is currently in use by ami-0123456789abcdef0"
        )),
        "{in_use}"
    );
    assert_eq!(code(in_use), "InvalidSnapshot.InUse");
    assert_eq!(
        code(snapshots::delete(&storage, &b, &id).await.unwrap_err()),
        "InvalidSnapshot.NotFound"
    );
    assert_eq!(
        snapshots::get(&pool, &a, &id).await.unwrap().state,
        "pending"
    );
    sqlx::query("UPDATE compute.images SET state = 'deregistered'")
        .execute(&pool)
        .await
        .unwrap();
    snapshots::delete(&storage, &a, &id).await.unwrap();
    assert!(snapshots::states(&pool, &[id]).await.unwrap().is_empty());
}
