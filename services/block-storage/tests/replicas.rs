#![allow(clippy::unwrap_used)]
//! Replica sync state against a real catalog: the attached host's reports mark replicas
//! stale and in sync (never the last in-sync one; only the writing host's reports count),
//! snapshots' in-sync replicas, and the replacement of a lost node's replica (placed on a
//! spare healthy node of the zone, stale, the lost one absent; never the last in-sync
//! copy; nothing without a spare).

use std::sync::Arc;
use std::time::Duration;

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_block_storage::attachments::{self, InstanceDirectory, InstanceFacts};
use kumo_block_storage::replicas::{self, ReplicaObservation};
use kumo_block_storage::volumes::{self, CreateVolume};
use kumo_block_storage::{agent, BlockStorage, Result};
use kumo_storage_protocol::block::{ReplicaState, VolumeReplicaState, VolumeReport};

const A: &str = "111111111111";
const VM: &str = "i-0aaaaaaaaaaaaaaa1";
const OTHER_VM: &str = "i-0aaaaaaaaaaaaaaa2";

fn principal(account: &str) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role: Role::Admin,
        method: AuthMethod::Bearer,
    }
}

struct Running;

#[async_trait::async_trait]
impl InstanceDirectory for Running {
    async fn instance(&self, _account: &str, _id: &str) -> Result<Option<InstanceFacts>> {
        Ok(Some(InstanceFacts {
            zone: "us-east-1a".into(),
            state: "running".into(),
            kind: "vm".into(),
        }))
    }
}

async fn add_node(storage: &BlockStorage, node: &str) {
    sqlx::query(
        "INSERT INTO object_storage.nodes (node_id, name, zone, address, node_token, capacity_bytes, last_heartbeat_at)
         VALUES ($1, $1, 'us-east-1a', 'http://10.0.0.' || right($1, 1) || ':9100', $1 || ':secret', 100 << 30, now())",
    )
    .bind(node)
    .execute(&storage.pool)
    .await
    .unwrap();
}

async fn report_ready(storage: &BlockStorage, node: &str, volume_id: &str) {
    let report = VolumeReport {
        volumes: vec![VolumeReplicaState {
            volume_id: volume_id.into(),
            state: ReplicaState::Ready,
            nbd_port: Some(10809),
            size_bytes: 1 << 30,
            detail: None,
        }],
        free_bytes: 50 << 30,
    };
    agent::apply_report(&storage.pool, node, &report)
        .await
        .unwrap();
}

/// A 2-replica volume on n1 and n2, ready, attached to VM.
async fn setup() -> (BlockStorage, String) {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let storage = BlockStorage::new(pool, Default::default()).with_instances(Arc::new(Running));
    for node in ["n1", "n2"] {
        add_node(&storage, node).await;
    }
    let volume = volumes::create(
        &storage,
        &principal(A),
        &CreateVolume {
            zone: "us-east-1a".into(),
            size_gib: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for node in ["n1", "n2"] {
        report_ready(&storage, node, &volume.volume_id).await;
    }
    attachments::attach(&storage, &principal(A), &volume.volume_id, VM, "/dev/sdf")
        .await
        .unwrap();
    (storage, volume.volume_id)
}

fn seen(volume_id: &str, node: &str, in_sync: bool) -> ReplicaObservation {
    ReplicaObservation {
        volume_id: volume_id.into(),
        replica_id: node.into(),
        in_sync,
    }
}

async fn states(storage: &BlockStorage, volume_id: &str) -> Vec<(String, String, bool)> {
    sqlx::query_as(
        "SELECT node_id, desired, in_sync FROM block_storage.volume_replicas
         WHERE volume_id = $1 ORDER BY node_id",
    )
    .bind(volume_id)
    .fetch_all(&storage.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn the_writing_hosts_reports_drive_the_sync_state() {
    let (storage, vol) = setup().await;
    let ids = vec![vol.clone()];
    let sync = replicas::sync_states(&storage.pool, &ids).await.unwrap();
    assert!(sync.values().all(|s| *s), "new replicas are in sync");
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1", "n2"]
    );

    // Another instance's report counts for nothing.
    replicas::observed(&storage.pool, OTHER_VM, &[seen(&vol, "n2", false)])
        .await
        .unwrap();
    assert!(states(&storage, &vol).await.iter().all(|r| r.2));

    // n2 failed a write: stale, and snapshots no longer read it.
    replicas::observed(
        &storage.pool,
        VM,
        &[seen(&vol, "n1", true), seen(&vol, "n2", false)],
    )
    .await
    .unwrap();
    let sync = replicas::sync_states(&storage.pool, &ids).await.unwrap();
    assert!(!sync[&(vol.clone(), "n2".to_string())]);
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1"]
    );

    // The last in-sync replica is never marked stale.
    replicas::observed(&storage.pool, VM, &[seen(&vol, "n1", false)])
        .await
        .unwrap();
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1"]
    );

    // Rebuilt: in sync again.
    replicas::observed(&storage.pool, VM, &[seen(&vol, "n2", true)])
        .await
        .unwrap();
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1", "n2"]
    );
}

#[tokio::test]
async fn a_lost_nodes_replica_is_replaced_on_a_spare_node() {
    let (storage, vol) = setup().await;
    let grace = Duration::from_secs(60);
    // Nothing lost yet.
    assert_eq!(
        replicas::replace_lost(&storage.pool, grace).await.unwrap(),
        0
    );

    // n2 has been silent for two minutes; no spare node: nothing to do.
    sqlx::query(
        "UPDATE block_storage.volume_replicas SET reported_at = now() - interval '2 minutes'
         WHERE node_id = 'n2'",
    )
    .execute(&storage.pool)
    .await
    .unwrap();
    assert_eq!(
        replicas::replace_lost(&storage.pool, grace).await.unwrap(),
        0
    );

    // A spare node joins: the replica moves there, stale; the lost one is absent.
    add_node(&storage, "n3").await;
    assert_eq!(
        replicas::replace_lost(&storage.pool, grace).await.unwrap(),
        1
    );
    assert_eq!(
        states(&storage, &vol).await,
        vec![
            ("n1".to_string(), "present".to_string(), true),
            ("n2".to_string(), "absent".to_string(), false),
            ("n3".to_string(), "present".to_string(), false),
        ]
    );
    assert_eq!(
        replicas::replace_lost(&storage.pool, grace).await.unwrap(),
        0
    );

    // The replacement reports ready: the host is told it, not in sync.
    report_ready(&storage, "n3", &vol).await;
    let sync = replicas::sync_states(&storage.pool, std::slice::from_ref(&vol))
        .await
        .unwrap();
    assert_eq!(sync.get(&(vol.clone(), "n3".to_string())), Some(&false));
    assert_eq!(sync.get(&(vol.clone(), "n2".to_string())), None);

    // n1, the only in-sync copy, goes silent too: it is kept.
    add_node(&storage, "n4").await;
    sqlx::query(
        "UPDATE block_storage.volume_replicas SET reported_at = now() - interval '2 minutes'
         WHERE node_id = 'n1'",
    )
    .execute(&storage.pool)
    .await
    .unwrap();
    assert_eq!(
        replicas::replace_lost(&storage.pool, grace).await.unwrap(),
        0
    );
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1"]
    );
}

/// The replicas a node is handed, with their sources.
async fn handed(
    storage: &BlockStorage,
    node: &str,
) -> Vec<kumo_storage_protocol::block::VolumeReplicaSpec> {
    agent::assigned(&storage.pool, node).await.unwrap().volumes
}

#[tokio::test]
async fn a_detached_volumes_replacement_is_copied_from_an_in_sync_peer() {
    use kumo_storage_protocol::block::ReplicaSource;
    let (storage, vol) = setup().await;
    attachments::detach(&storage, &principal(A), &vol, None, None, true)
        .await
        .unwrap();
    assert!(sqlx::query_scalar::<_, bool>(
        "SELECT NOT EXISTS (SELECT 1 FROM block_storage.attachments)"
    )
    .fetch_one(&storage.pool)
    .await
    .unwrap());
    add_node(&storage, "n3").await;
    sqlx::query(
        "UPDATE block_storage.volume_replicas SET reported_at = now() - interval '2 minutes'
         WHERE node_id = 'n2'",
    )
    .execute(&storage.pool)
    .await
    .unwrap();
    assert_eq!(
        replicas::replace_lost(&storage.pool, Duration::from_secs(60))
            .await
            .unwrap(),
        1
    );

    // n3 is told to copy n1's replica, with n1's export key (and only n3 is).
    let n1_key: String = sqlx::query_scalar(
        "SELECT psk_key_hex FROM block_storage.volume_replicas WHERE node_id = 'n1'",
    )
    .fetch_one(&storage.pool)
    .await
    .unwrap();
    let specs = handed(&storage, "n3").await;
    assert_eq!(specs.len(), 1);
    assert_eq!(
        specs[0].source,
        Some(ReplicaSource::Peer {
            host: "10.0.0.1".into(),
            nbd_port: 10809,
            psk_identity: vol.clone(),
            psk_key_hex: n1_key,
        })
    );
    assert!(handed(&storage, "n1")
        .await
        .iter()
        .all(|s| s.source.is_none()));

    // Copied and ready, the volume still detached: in sync; no more credentials.
    report_ready(&storage, "n3", &vol).await;
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1", "n3"]
    );
    assert_eq!(handed(&storage, "n3").await[0].source, None);
}

#[tokio::test]
async fn attaching_during_a_copy_spoils_it_and_no_peer_means_wait() {
    use kumo_storage_protocol::block::ReplicaSource;
    let (storage, vol) = setup().await;
    attachments::detach(&storage, &principal(A), &vol, None, None, true)
        .await
        .unwrap();
    add_node(&storage, "n3").await;
    sqlx::query(
        "UPDATE block_storage.volume_replicas SET reported_at = now() - interval '2 minutes'
         WHERE node_id = 'n2'",
    )
    .execute(&storage.pool)
    .await
    .unwrap();
    replicas::replace_lost(&storage.pool, Duration::from_secs(60))
        .await
        .unwrap();

    // The only in-sync peer is not ready: the replacement waits (not handed, never empty).
    sqlx::query(
        "UPDATE block_storage.volume_replicas SET reported = 'failed' WHERE node_id = 'n1'",
    )
    .execute(&storage.pool)
    .await
    .unwrap();
    assert!(handed(&storage, "n3").await.is_empty());
    report_ready(&storage, "n1", &vol).await;
    let specs = handed(&storage, "n3").await;
    assert!(matches!(specs[0].source, Some(ReplicaSource::Peer { .. })));

    // Attached while the copy runs: its end does not make it in sync.
    attachments::attach(&storage, &principal(A), &vol, VM, "/dev/sdf")
        .await
        .unwrap();
    assert_eq!(handed(&storage, "n3").await[0].source, None);
    report_ready(&storage, "n3", &vol).await;
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1"]
    );
    // Detached again: still stale (a ready report does not make it whole) ...
    attachments::detach(&storage, &principal(A), &vol, None, None, true)
        .await
        .unwrap();
    report_ready(&storage, "n3", &vol).await;
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1"]
    );
    // ... until it is reset: n3 deletes it, then copies it again from n1.
    use kumo_block_storage::peer_copy;
    assert_eq!(peer_copy::reset_stale(&storage.pool).await.unwrap(), 1);
    assert_eq!(peer_copy::reset_stale(&storage.pool).await.unwrap(), 0);
    let specs = handed(&storage, "n3").await;
    assert_eq!(
        specs[0].desired,
        kumo_storage_protocol::block::ReplicaDesired::Absent
    );
    // Still held (an older converge): nothing changes.
    report_ready(&storage, "n3", &vol).await;
    assert_eq!(
        handed(&storage, "n3").await[0].desired,
        kumo_storage_protocol::block::ReplicaDesired::Absent
    );
    let gone = VolumeReport {
        volumes: vec![VolumeReplicaState {
            volume_id: vol.clone(),
            state: ReplicaState::Absent,
            nbd_port: None,
            size_bytes: 0,
            detail: None,
        }],
        free_bytes: 50 << 30,
    };
    agent::apply_report(&storage.pool, "n3", &gone)
        .await
        .unwrap();
    let specs = handed(&storage, "n3").await;
    assert_eq!(
        specs[0].desired,
        kumo_storage_protocol::block::ReplicaDesired::Present
    );
    assert!(matches!(specs[0].source, Some(ReplicaSource::Peer { .. })));
    report_ready(&storage, "n3", &vol).await;
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1", "n3"]
    );
    assert_eq!(peer_copy::reset_stale(&storage.pool).await.unwrap(), 0);
}

#[tokio::test]
async fn a_returned_nodes_stale_replica_of_a_detached_volume_is_recopied() {
    let (storage, vol) = setup().await;
    // The host took n2 out (a failed write), then the volume was detached.
    replicas::observed(&storage.pool, VM, &[seen(&vol, "n2", false)])
        .await
        .unwrap();
    // Attached: the host's job, nothing reset.
    assert_eq!(
        kumo_block_storage::peer_copy::reset_stale(&storage.pool)
            .await
            .unwrap(),
        0
    );
    attachments::detach(&storage, &principal(A), &vol, None, None, true)
        .await
        .unwrap();
    // The only in-sync copy's node is down: nothing to copy from, nothing reset.
    sqlx::query("UPDATE object_storage.nodes SET last_heartbeat_at = now() - interval '1 hour' WHERE node_id = 'n1'")
        .execute(&storage.pool)
        .await
        .unwrap();
    assert_eq!(
        kumo_block_storage::peer_copy::reset_stale(&storage.pool)
            .await
            .unwrap(),
        0
    );
    sqlx::query("UPDATE object_storage.nodes SET last_heartbeat_at = now() WHERE node_id = 'n1'")
        .execute(&storage.pool)
        .await
        .unwrap();
    assert_eq!(
        kumo_block_storage::peer_copy::reset_stale(&storage.pool)
            .await
            .unwrap(),
        1
    );
    // The stale replica never counts meanwhile.
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1"]
    );
    // Deleted meanwhile: once n2 reports it gone it is not wanted again.
    volumes::delete(&storage, &principal(A), &vol)
        .await
        .unwrap();
    let gone = VolumeReport {
        volumes: vec![],
        free_bytes: 50 << 30,
    };
    agent::apply_report(&storage.pool, "n2", &gone)
        .await
        .unwrap();
    assert_eq!(
        states(&storage, &vol).await,
        vec![("n1".to_string(), "absent".to_string(), true)]
    );
}

fn operator() -> Principal {
    let mut p = principal("000000000000");
    p.role = Role::Operator;
    p
}

#[tokio::test]
async fn draining_a_node_moves_its_replicas_and_keeps_an_in_sync_copy() {
    use kumo_block_storage::{drain, nodes};
    let (storage, vol) = setup().await;
    attachments::detach(&storage, &principal(A), &vol, None, None, true)
        .await
        .unwrap();
    // Tenants may not drain; unknown nodes are NotFound.
    assert!(
        drain::set_draining(&storage.pool, &principal(A), "n2", true)
            .await
            .is_err()
    );
    assert!(drain::set_draining(&storage.pool, &operator(), "n9", true)
        .await
        .is_err());
    let node = drain::set_draining(&storage.pool, &operator(), "n2", true)
        .await
        .unwrap();
    assert!(node.draining);
    // No spare node yet: nothing moves, nothing is removed.
    assert_eq!(drain::move_drained(&storage.pool).await.unwrap(), 0);

    add_node(&storage, "n3").await;
    assert_eq!(drain::move_drained(&storage.pool).await.unwrap(), 1);
    assert_eq!(
        states(&storage, &vol).await,
        vec![
            ("n1".to_string(), "present".to_string(), true),
            ("n2".to_string(), "present".to_string(), true),
            ("n3".to_string(), "present".to_string(), false),
        ]
    );
    // The replacement is being copied (from an in-sync peer): the drained one stays.
    assert!(matches!(
        agent::assigned(&storage.pool, "n3").await.unwrap().volumes[0].source,
        Some(kumo_storage_protocol::block::ReplicaSource::Peer { .. })
    ));
    assert_eq!(drain::move_drained(&storage.pool).await.unwrap(), 0);
    assert_eq!(states(&storage, &vol).await[1].1, "present");

    // Copied: in sync, then the drained replica goes.
    report_ready(&storage, "n3", &vol).await;
    assert_eq!(drain::move_drained(&storage.pool).await.unwrap(), 1);
    assert_eq!(
        states(&storage, &vol).await,
        vec![
            ("n1".to_string(), "present".to_string(), true),
            ("n2".to_string(), "absent".to_string(), false),
            ("n3".to_string(), "present".to_string(), true),
        ]
    );
    assert_eq!(drain::move_drained(&storage.pool).await.unwrap(), 0);
    let listed = nodes::list(&storage.pool, &operator()).await.unwrap();
    let n2 = listed.iter().find(|n| n.node_id == "n2").unwrap();
    assert!(n2.draining);
    assert_eq!(n2.replicas, 0);

    // New volumes skip a draining node.
    add_node(&storage, "n4").await;
    let other = volumes::create(
        &storage,
        &principal(A),
        &CreateVolume {
            zone: "us-east-1a".into(),
            size_gib: Some(1),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let placed: Vec<String> = sqlx::query_scalar(
        "SELECT node_id FROM block_storage.volume_replicas WHERE volume_id = $1",
    )
    .bind(&other.volume_id)
    .fetch_all(&storage.pool)
    .await
    .unwrap();
    assert_eq!(placed.len(), 2);
    assert!(!placed.contains(&"n2".to_string()), "{placed:?}");
    let node = drain::set_draining(&storage.pool, &operator(), "n2", false)
        .await
        .unwrap();
    assert!(!node.draining);
}

#[tokio::test]
async fn draining_every_holder_never_drops_the_last_in_sync_copy() {
    use kumo_block_storage::drain;
    let (storage, vol) = setup().await;
    // An attached volume, both holders draining, one spare: one replacement at a time
    // per drained replica; neither drained copy goes before its replacement is in sync.
    add_node(&storage, "n3").await;
    for node in ["n1", "n2"] {
        drain::set_draining(&storage.pool, &operator(), node, true)
            .await
            .unwrap();
    }
    assert_eq!(drain::move_drained(&storage.pool).await.unwrap(), 1);
    report_ready(&storage, "n3", &vol).await;
    // Attached: the copy is the host's job; not in sync until it says so.
    assert_eq!(drain::move_drained(&storage.pool).await.unwrap(), 0);
    assert_eq!(
        replicas::in_sync_replicas(&storage.pool, &vol)
            .await
            .unwrap(),
        ["n1", "n2"]
    );
    replicas::observed(&storage.pool, VM, &[seen(&vol, "n3", true)])
        .await
        .unwrap();
    assert_eq!(drain::move_drained(&storage.pool).await.unwrap(), 1);
    let left: Vec<(String, String, bool)> = states(&storage, &vol).await;
    assert_eq!(
        left.iter().filter(|r| r.1 == "present" && r.2).count(),
        2,
        "{left:?}"
    );
}
