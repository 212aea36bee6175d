#![allow(clippy::unwrap_used)]
//! Re-replication against real storage nodes: when a node dies or is disabled (drained),
//! its chunks get new replicas on the other healthy nodes, copied from verified replicas;
//! a drained node can then be removed.

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use kumo_auth::{AuthMethod, Principal, Role};
use kumo_object_storage::checksum::ObjectHasher;
use kumo_object_storage::objects::{self, NewVersion, WriteCondition};
use kumo_object_storage::{
    blobs, buckets, nodes, nodes::NodeState, repair, write, ObjectStorage, ObjectStorageConfig,
};
use kumo_storage_node::agent::{NodeConfig, RunningNode, StorageNode};

fn owner() -> Principal {
    Principal {
        account_id: "111111111111".into(),
        user_id: "AIDAOWNER".into(),
        user_name: "admin".into(),
        role: Role::Admin,
        method: AuthMethod::Bearer,
    }
}

/// The storage service's native API (enrolment, heartbeats) on a loopback port.
async fn serve(storage: &ObjectStorage) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = storage.router();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

async fn node(control_plane: &str, token: &str, dir: &std::path::Path, name: &str) -> RunningNode {
    let mut config = NodeConfig::new(dir.join(name), control_plane);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.join_token = Some(token.to_string());
    config.name = name.to_string();
    config.capacity_bytes = Some(1 << 30);
    config.heartbeat_interval = Duration::from_millis(200);
    StorageNode::start(config).await.unwrap()
}

async fn replicas_on_healthy_nodes(storage: &ObjectStorage) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FILTER (WHERE n.last_heartbeat_at > now() - interval '1 second')
         FROM object_storage.chunks c
         JOIN object_storage.chunk_replicas r ON r.sha256 = c.sha256
         JOIN object_storage.nodes n ON n.node_id = r.node_id
         GROUP BY c.sha256",
    )
    .fetch_all(&storage.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_and_disabled_nodes_chunks_are_copied_to_the_others() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let storage = ObjectStorage::new(
        pool,
        ObjectStorageConfig {
            replication: 3,
            chunk_size: 64 * 1024,
            heartbeat_timeout: Duration::from_secs(1),
            heartbeat_interval: Duration::from_millis(200),
            ..ObjectStorageConfig::default()
        },
    );
    let url = serve(&storage).await;
    let token = nodes::create_join_token(&storage.pool, Duration::from_secs(60))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut running = Vec::new();
    for name in ["n1", "n2", "n3"] {
        running.push(node(&url, &token.join_token, dir.path(), name).await);
    }

    let caller = owner();
    let bucket = buckets::create(&storage, &caller, "repair-test", None)
        .await
        .unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let body = futures::stream::iter(
        data.chunks(10_000)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect::<Vec<_>>(),
    );
    let written = write::write_object(&storage, Box::pin(body), ObjectHasher::new(None))
        .await
        .unwrap();
    assert_eq!(written.blob.chunks.len(), 5);
    let condition = WriteCondition::Always;
    objects::commit_written(
        &storage,
        &bucket,
        "k",
        &written,
        NewVersion::default(),
        &condition,
    )
    .await
    .unwrap();
    assert_eq!(replicas_on_healthy_nodes(&storage).await, vec![3; 5]);

    // One node dies; a fourth joins. Once the dead one is unhealthy, repair copies its
    // chunks to the newcomer.
    let dead = running.remove(0);
    dead.shutdown().await;
    running.push(node(&url, &token.join_token, dir.path(), "n4").await);
    let mut report = repair::RepairReport::default();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        report = repair::rereplicate(&storage, 100).await.unwrap();
        if report.replicas_added > 0 {
            break;
        }
    }
    assert_eq!(report.under_replicated, 5, "{report:?}");
    assert_eq!(report.replicas_added, 5, "{report:?}");
    assert_eq!(report.failed, 0, "{report:?}");
    assert_eq!(replicas_on_healthy_nodes(&storage).await, vec![3; 5]);
    let again = repair::rereplicate(&storage, 100).await.unwrap();
    assert_eq!(again.under_replicated, 0);

    // Draining: with a fifth node joined, a disabled node cannot be removed while its chunks
    // lack three copies elsewhere; re-replication copies them to the fifth node, then
    // removal succeeds and the object still reads back.
    let operator = Principal {
        account_id: "000000000000".into(),
        role: Role::Operator,
        ..owner()
    };
    running.push(node(&url, &token.join_token, dir.path(), "n5").await);
    let drained = running[0].node_id().to_string();
    let refused = nodes::remove(&storage, &operator, &drained)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "NodeNotDisabled");
    nodes::set_state(&storage, &operator, &drained, NodeState::Disabled)
        .await
        .unwrap();
    let refused = nodes::remove(&storage, &operator, &drained)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "NodeStillHoldsData");
    let mut copied = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        copied += repair::rereplicate(&storage, 100)
            .await
            .unwrap()
            .replicas_added;
        if copied >= 5 {
            break;
        }
    }
    assert_eq!(copied, 5);
    nodes::remove(&storage, &operator, &drained).await.unwrap();
    let left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM object_storage.chunk_replicas WHERE node_id = $1")
            .bind(&drained)
            .fetch_one(&storage.pool)
            .await
            .unwrap();
    assert_eq!(left, 0);

    // The object reads back whole from the surviving and the new replicas.
    let row = objects::get(&storage, &bucket, "k", None).await.unwrap();
    let mut read = Vec::new();
    let mut stream = Box::pin(
        blobs::read_range(&storage, row.blob_id, 0, row.size as u64)
            .await
            .unwrap(),
    );
    while let Some(piece) = stream.next().await {
        read.extend_from_slice(&piece.unwrap());
    }
    assert_eq!(read, data);
    for n in running {
        n.shutdown().await;
    }
}
