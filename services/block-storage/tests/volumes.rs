#![allow(clippy::unwrap_used)]
//! Volumes against a real catalog: placement on the zone's healthy storage nodes (0, 1 and
//! 3 nodes), the nodes' reports driving `creating → available` and `deleting → deleted`,
//! failed replicas, ModifyVolume's states, the agent's view of its replicas, client tokens
//! and tenant isolation.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_block_storage::volume_types::Requested;
use kumo_block_storage::volumes::{self, CreateVolume};
use kumo_block_storage::{agent, modifications, nodes, BlockStorage, BlockStorageError};
use kumo_storage_protocol::block::{
    ReplicaDesired, ReplicaState, VolumeReplicaState, VolumeReport,
};
use sqlx::PgPool;

fn principal(account: &str, role: Role) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role,
        method: AuthMethod::Bearer,
    }
}

fn code(e: BlockStorageError) -> &'static str {
    match e {
        BlockStorageError::Invalid(c, _)
        | BlockStorageError::NotFound(c, _)
        | BlockStorageError::Conflict(c, _) => c,
        BlockStorageError::Missing(_) => "MissingParameter",
        BlockStorageError::InsufficientCapacity(_) => "InsufficientVolumeCapacity",
        BlockStorageError::Forbidden(_) => "Forbidden",
        other => panic!("unexpected error {other:?}"),
    }
}

async fn storage() -> BlockStorage {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    BlockStorage::new(pool, Default::default())
}

/// A storage node as object storage enrols it; `healthy` sets a fresh heartbeat.
async fn node(pool: &PgPool, id: &str, zone: &str, free_gib: i64, healthy: bool) {
    sqlx::query(
        "INSERT INTO object_storage.nodes (node_id, name, zone, address, node_token, capacity_bytes, last_heartbeat_at)
         VALUES ($1, $1, $2, '127.0.0.1:1', $1 || ':secret', $3, CASE WHEN $4 THEN now() END)",
    )
    .bind(id)
    .bind(zone)
    .bind(free_gib << 30)
    .bind(healthy)
    .execute(pool)
    .await
    .unwrap();
}

fn request(size: i64) -> CreateVolume {
    CreateVolume {
        zone: "us-east-1a".into(),
        size_gib: Some(size),
        ..CreateVolume::default()
    }
}

async fn replicas(pool: &PgPool, volume_id: &str) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT node_id FROM block_storage.volume_replicas WHERE volume_id = $1 ORDER BY node_id",
    )
    .bind(volume_id)
    .fetch_all(pool)
    .await
    .unwrap()
}

fn state(volume_id: &str, state: ReplicaState, size_gib: u64) -> VolumeReplicaState {
    VolumeReplicaState {
        volume_id: volume_id.into(),
        state,
        nbd_port: (state == ReplicaState::Ready).then_some(10809),
        size_bytes: size_gib << 30,
        detail: (state == ReplicaState::Failed).then(|| "disk full".into()),
    }
}

async fn report(pool: &PgPool, node_id: &str, volumes: Vec<VolumeReplicaState>) {
    let report = VolumeReport {
        volumes,
        free_bytes: 50 << 30,
    };
    agent::apply_report(pool, node_id, &report).await.unwrap();
}

#[tokio::test]
async fn placement_follows_the_zones_healthy_nodes() {
    let storage = storage().await;
    let a = principal("111111111111", Role::Admin);
    // No node: no capacity, and nothing is stored.
    let refused = volumes::create(&storage, &a, &request(10))
        .await
        .unwrap_err();
    assert_eq!(code(refused), "InsufficientVolumeCapacity");
    assert!(volumes::list(&storage.pool, &a, &[])
        .await
        .unwrap()
        .is_empty());
    // Nodes of another zone, or unhealthy ones, do not count.
    node(&storage.pool, "other-zone", "us-east-1b", 100, true).await;
    node(&storage.pool, "silent", "us-east-1a", 100, false).await;
    let refused = volumes::create(&storage, &a, &request(10))
        .await
        .unwrap_err();
    assert_eq!(code(refused), "InsufficientVolumeCapacity");
    // One node: one replica.
    node(&storage.pool, "n1", "us-east-1a", 10, true).await;
    let one = volumes::create(&storage, &a, &request(10)).await.unwrap();
    assert_eq!(one.state, "creating");
    assert_eq!(
        (one.volume_type.as_str(), one.iops, one.throughput),
        ("gp2", Some(100), None)
    );
    assert_eq!(replicas(&storage.pool, &one.volume_id).await, ["n1"]);
    // Three nodes: two replicas (the default), on the nodes with the most room.
    node(&storage.pool, "n2", "us-east-1a", 100, true).await;
    node(&storage.pool, "n3", "us-east-1a", 50, true).await;
    let two = volumes::create(&storage, &a, &request(10)).await.unwrap();
    assert_eq!(replicas(&storage.pool, &two.volume_id).await, ["n2", "n3"]);
    // Each replica has its own 32-byte export key.
    let keys: Vec<String> = sqlx::query_scalar(
        "SELECT psk_key_hex FROM block_storage.volume_replicas WHERE volume_id = $1",
    )
    .bind(&two.volume_id)
    .fetch_all(&storage.pool)
    .await
    .unwrap();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    assert!(keys.iter().all(|k| k.len() == 64));
    // The operator's view counts them.
    let operator = principal("000000000000", Role::Operator);
    let pools = nodes::list(&storage.pool, &operator).await.unwrap();
    let n2 = pools.iter().find(|n| n.node_id == "n2").unwrap();
    assert_eq!(
        (n2.replicas, n2.allocated_bytes, n2.healthy),
        (1, 10 << 30, true)
    );
    assert_eq!(
        code(nodes::list(&storage.pool, &a).await.unwrap_err()),
        "Forbidden"
    );
}

#[tokio::test]
async fn reports_drive_creating_available_deleting_deleted() {
    let storage = storage().await;
    let a = principal("111111111111", Role::Admin);
    node(&storage.pool, "n1", "us-east-1a", 100, true).await;
    node(&storage.pool, "n2", "us-east-1a", 100, true).await;
    let volume = volumes::create(&storage, &a, &request(4)).await.unwrap();
    let id = volume.volume_id.clone();
    // The node is told to hold it, at its size, with its credentials.
    let assigned = agent::assigned(&storage.pool, "n1").await.unwrap();
    assert_eq!(assigned.volumes.len(), 1);
    assert_eq!(assigned.volumes[0].size_bytes, 4 << 30);
    assert_eq!(assigned.volumes[0].desired, ReplicaDesired::Present);
    assert_eq!(assigned.volumes[0].export.psk_identity, id);
    // One replica ready is not enough.
    report(
        &storage.pool,
        "n1",
        vec![state(&id, ReplicaState::Ready, 4)],
    )
    .await;
    let creating = volumes::get(&storage.pool, &a, &id).await.unwrap();
    assert_eq!(creating.state, "creating");
    // GET counts the replicas it should have and the ready, in-sync ones.
    assert_eq!(
        (creating.replicas, creating.replicas_in_sync),
        (Some(2), Some(1))
    );
    report(
        &storage.pool,
        "n2",
        vec![state(&id, ReplicaState::Ready, 4)],
    )
    .await;
    let available = volumes::get(&storage.pool, &a, &id).await.unwrap();
    assert_eq!(available.state, "available");
    assert_eq!(
        (available.replicas, available.replicas_in_sync),
        (Some(2), Some(2))
    );
    // The node's free space is what it reported.
    let free: i64 = sqlx::query_scalar(
        "SELECT free_bytes FROM object_storage.node_inventory WHERE node_id = 'n1'",
    )
    .fetch_one(&storage.pool)
    .await
    .unwrap();
    assert_eq!(free, 50 << 30);

    // ModifyVolume: grows; the nodes' reports at the new size complete it.
    let grow = Requested {
        size_gib: Some(8),
        ..Requested::default()
    };
    let m = modifications::modify(&storage, &a, &id, &grow)
        .await
        .unwrap();
    assert_eq!(
        (m.state.as_str(), m.original_size_gib, m.target_size_gib),
        ("modifying", 4, 8)
    );
    let again = modifications::modify(&storage, &a, &id, &grow)
        .await
        .unwrap_err();
    assert_eq!(code(again), "IncorrectModificationState");
    assert_eq!(
        agent::assigned(&storage.pool, "n1").await.unwrap().volumes[0].size_bytes,
        8 << 30
    );
    for _ in 0..2 {
        report(
            &storage.pool,
            "n1",
            vec![state(&id, ReplicaState::Ready, 8)],
        )
        .await;
        report(
            &storage.pool,
            "n2",
            vec![state(&id, ReplicaState::Ready, 8)],
        )
        .await;
    }
    let done = modifications::list(&storage.pool, &a, std::slice::from_ref(&id))
        .await
        .unwrap();
    assert_eq!(
        (done[0].state.as_str(), done[0].progress),
        ("completed", 100)
    );
    let shrink = Requested {
        size_gib: Some(2),
        ..Requested::default()
    };
    let refused = modifications::modify(&storage, &a, &id, &shrink)
        .await
        .unwrap_err();
    assert_eq!(code(refused), "InvalidParameterValue");

    // Delete: deleting until both nodes no longer hold it, then gone.
    volumes::delete(&storage, &a, &id).await.unwrap();
    assert_eq!(
        volumes::get(&storage.pool, &a, &id).await.unwrap().state,
        "deleting"
    );
    let twice = volumes::delete(&storage, &a, &id).await.unwrap_err();
    assert_eq!(code(twice), "IncorrectState");
    let assigned = agent::assigned(&storage.pool, "n1").await.unwrap();
    assert_eq!(assigned.volumes[0].desired, ReplicaDesired::Absent);
    report(&storage.pool, "n1", vec![]).await;
    assert_eq!(
        volumes::get(&storage.pool, &a, &id).await.unwrap().state,
        "deleting"
    );
    report(
        &storage.pool,
        "n2",
        vec![state(&id, ReplicaState::Absent, 0)],
    )
    .await;
    let gone = volumes::get(&storage.pool, &a, &id).await.unwrap_err();
    assert_eq!(code(gone), "InvalidVolume.NotFound");
    assert!(agent::assigned(&storage.pool, "n1")
        .await
        .unwrap()
        .volumes
        .is_empty());
}

#[tokio::test]
async fn a_replica_that_keeps_failing_makes_the_volume_error() {
    let storage = storage().await;
    let a = principal("111111111111", Role::Admin);
    node(&storage.pool, "n1", "us-east-1a", 100, true).await;
    let id = volumes::create(&storage, &a, &request(1))
        .await
        .unwrap()
        .volume_id;
    report(
        &storage.pool,
        "n1",
        vec![state(&id, ReplicaState::Failed, 0)],
    )
    .await;
    assert_eq!(
        volumes::get(&storage.pool, &a, &id).await.unwrap().state,
        "creating"
    );
    sqlx::query(
        "UPDATE block_storage.volume_replicas SET failed_since = now() - interval '2 minutes'",
    )
    .execute(&storage.pool)
    .await
    .unwrap();
    report(
        &storage.pool,
        "n1",
        vec![state(&id, ReplicaState::Failed, 0)],
    )
    .await;
    assert_eq!(
        volumes::get(&storage.pool, &a, &id).await.unwrap().state,
        "error"
    );
    // An errored volume can be deleted.
    volumes::delete(&storage, &a, &id).await.unwrap();
}

#[tokio::test]
async fn node_tokens_authenticate_the_agent() {
    let storage = storage().await;
    node(&storage.pool, "n1", "us-east-1a", 100, true).await;
    assert_eq!(
        agent::authenticate(&storage.pool, "n1:secret")
            .await
            .unwrap(),
        "n1"
    );
    assert!(agent::authenticate(&storage.pool, "n1:wrong")
        .await
        .is_err());
    assert!(agent::authenticate(&storage.pool, "nobody:secret")
        .await
        .is_err());
    assert!(agent::authenticate(&storage.pool, "no-colon")
        .await
        .is_err());
}

#[tokio::test]
async fn requests_are_checked_and_tokens_are_idempotent() {
    let storage = storage().await;
    let a = principal("111111111111", Role::Admin);
    node(&storage.pool, "n1", "us-east-1a", 100, true).await;
    let cases = [
        (
            CreateVolume {
                size_gib: Some(0),
                ..request(0)
            },
            "InvalidParameterValue",
        ),
        (
            CreateVolume {
                zone: "us-east-1z".into(),
                ..request(1)
            },
            "InvalidZone.NotFound",
        ),
        (
            CreateVolume {
                volume_type: Some("io1".into()),
                ..request(10)
            },
            "MissingParameter",
        ),
        (
            CreateVolume {
                volume_type: Some("st1".into()),
                ..request(10)
            },
            "InvalidParameterValue",
        ),
        (
            CreateVolume {
                encrypted: true,
                ..request(1)
            },
            "InvalidParameterValue",
        ),
        (
            CreateVolume {
                snapshot_id: Some("snap-0123456789abcdef0".into()),
                ..request(1)
            },
            "InvalidSnapshot.NotFound",
        ),
        (
            CreateVolume {
                snapshot_id: Some("nope".into()),
                ..request(1)
            },
            "InvalidSnapshotID.Malformed",
        ),
        (
            CreateVolume {
                size_gib: None,
                ..request(1)
            },
            "MissingParameter",
        ),
    ];
    for (input, expected) in cases {
        let e = volumes::create(&storage, &a, &input).await.unwrap_err();
        assert_eq!(code(e), expected, "{input:?}");
    }
    let reader = principal("111111111111", Role::Reader);
    assert_eq!(
        code(
            volumes::create(&storage, &reader, &request(1))
                .await
                .unwrap_err()
        ),
        "Forbidden"
    );

    let tokened = CreateVolume {
        client_token: Some("token-1".into()),
        volume_type: Some("gp3".into()),
        ..request(5)
    };
    let first = volumes::create(&storage, &a, &tokened).await.unwrap();
    assert_eq!((first.iops, first.throughput), (Some(3000), Some(125)));
    let again = volumes::create(&storage, &a, &tokened).await.unwrap();
    assert_eq!(first.volume_id, again.volume_id);
    let other = CreateVolume {
        size_gib: Some(6),
        ..tokened.clone()
    };
    assert_eq!(
        code(volumes::create(&storage, &a, &other).await.unwrap_err()),
        "IdempotentParameterMismatch"
    );
    // Tokens are per account.
    let b = principal("222222222222", Role::Admin);
    let theirs = volumes::create(&storage, &b, &tokened).await.unwrap();
    assert_ne!(theirs.volume_id, first.volume_id);
}

#[tokio::test]
async fn another_account_sees_none_of_them() {
    let storage = storage().await;
    let a = principal("111111111111", Role::Admin);
    let b = principal("222222222222", Role::Admin);
    node(&storage.pool, "n1", "us-east-1a", 100, true).await;
    let id = volumes::create(&storage, &a, &request(1))
        .await
        .unwrap()
        .volume_id;
    assert!(volumes::list(&storage.pool, &b, &[])
        .await
        .unwrap()
        .is_empty());
    let ids = [id.clone()];
    assert_eq!(
        code(volumes::list(&storage.pool, &b, &ids).await.unwrap_err()),
        "InvalidVolume.NotFound"
    );
    assert_eq!(
        code(volumes::delete(&storage, &b, &id).await.unwrap_err()),
        "InvalidVolume.NotFound"
    );
    let grow = Requested {
        size_gib: Some(2),
        ..Requested::default()
    };
    assert_eq!(
        code(
            modifications::modify(&storage, &b, &id, &grow)
                .await
                .unwrap_err()
        ),
        "InvalidVolume.NotFound"
    );
    assert_eq!(
        code(
            modifications::list(&storage.pool, &b, &ids)
                .await
                .unwrap_err()
        ),
        "InvalidVolume.NotFound"
    );
    assert_eq!(
        code(volumes::get(&storage.pool, &a, "vol-x").await.unwrap_err()),
        "InvalidVolumeID.Malformed"
    );
    // A's volume is still there, untouched.
    assert_eq!(
        volumes::get(&storage.pool, &a, &id).await.unwrap().state,
        "creating"
    );
}
