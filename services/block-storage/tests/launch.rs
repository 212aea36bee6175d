#![allow(clippy::unwrap_used)]
//! Volumes made by RunInstances, against a real catalog: a root volume copy-on-write from
//! an image disk and an extra empty one, created attached (`creating` → `in-use` on the
//! nodes' reports), the nodes told the root's source, the host told nothing until the
//! volume is ready and then the root with `boot`, DetachVolume refusing the root,
//! DeleteOnTermination both ways (ModifyInstanceAttribute's setter), tenant isolation.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_block_storage::launch::{self, LaunchVolume};
use kumo_block_storage::{agent, attachments, volumes, BlockStorage, BlockStorageError};
use kumo_storage_protocol::block::{
    ReplicaDesired, ReplicaSource, ReplicaState, VolumeReplicaState, VolumeReport,
};

const A: &str = "111111111111";
const B: &str = "222222222222";
const VM: &str = "i-0aaaaaaaaaaaaaaa1";
const DISK: &str = "/srv/images/ami-0123/disk.qcow2";

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

async fn setup() -> BlockStorage {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let storage = BlockStorage::new(pool, Default::default());
    for node in ["n1", "n2"] {
        sqlx::query(
            "INSERT INTO object_storage.nodes (node_id, name, zone, address, node_token, capacity_bytes, last_heartbeat_at)
             VALUES ($1, $1, 'us-east-1a', 'http://10.0.0.' || right($1, 1) || ':9100', $1 || ':secret', 100 << 30, now())",
        )
        .bind(node)
        .execute(&storage.pool)
        .await
        .unwrap();
    }
    storage
}

fn root(size: i64) -> LaunchVolume {
    LaunchVolume {
        device: "/dev/xvda".into(),
        size_gib: Some(size),
        delete_on_termination: true,
        source_disk: Some(DISK.into()),
        boot: true,
        ..Default::default()
    }
}

fn extra(device: &str, size: i64) -> LaunchVolume {
    LaunchVolume {
        device: device.into(),
        size_gib: Some(size),
        volume_type: Some("gp2".into()),
        delete_on_termination: false,
        ..Default::default()
    }
}

async fn launch(storage: &BlockStorage, caller: &Principal, list: &[LaunchVolume]) -> Vec<String> {
    let mut tx = storage.pool.begin().await.unwrap();
    let ids = launch::create_attached(storage, &mut tx, caller, VM, "us-east-1a", list)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ids
}

async fn ready(storage: &BlockStorage, ids: &[String]) {
    for node in ["n1", "n2"] {
        let report = VolumeReport {
            volumes: ids
                .iter()
                .map(|id| VolumeReplicaState {
                    volume_id: id.clone(),
                    state: ReplicaState::Ready,
                    nbd_port: Some(10809),
                    size_bytes: 8 << 30,
                    detail: None,
                })
                .collect(),
            free_bytes: 50 << 30,
        };
        agent::apply_report(&storage.pool, node, &report)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn root_and_extra_volumes_are_created_attached() {
    let storage = setup().await;
    let a = principal(A);
    let ids = launch(&storage, &a, &[root(2), extra("/dev/sdf", 1)]).await;
    let [root_id, extra_id] = [ids[0].clone(), ids[1].clone()];

    let root = volumes::get(&storage.pool, &a, &root_id).await.unwrap();
    assert_eq!(root.state, "creating");
    assert_eq!(root.size_gib, 2);
    assert_eq!(root.volume_type, "gp3");
    assert_eq!(root.iops, Some(3000));
    let attached = root.attachment.unwrap();
    assert_eq!(
        (attached.instance_id.as_str(), attached.device.as_str()),
        (VM, "/dev/xvda")
    );
    assert!(attached.delete_on_termination);
    let extra = volumes::get(&storage.pool, &a, &extra_id).await.unwrap();
    assert_eq!((extra.volume_type.as_str(), extra.size_gib), ("gp2", 1));
    assert!(!extra.attachment.unwrap().delete_on_termination);

    // Each node holds both, the root starting from the image's disk.
    let held = agent::assigned(&storage.pool, "n1").await.unwrap();
    let spec = |id: &str| held.volumes.iter().find(|v| v.volume_id == id).unwrap();
    assert_eq!(spec(&root_id).desired, ReplicaDesired::Present);
    assert_eq!(
        spec(&root_id).source,
        Some(ReplicaSource::Image { disk: DISK.into() })
    );
    assert_eq!(spec(&extra_id).source, None);

    // Until the replicas are ready the host gets no endpoint (the instance waits).
    let plugs = attachments::to_plug(&storage.pool, &[VM.to_string()])
        .await
        .unwrap();
    let boot = plugs[VM].iter().find(|p| p.boot).unwrap();
    assert_eq!(boot.attachment.volume_id, root_id);
    assert!(boot.replicas.is_empty());

    ready(&storage, &ids).await;
    for id in [&root_id, &extra_id] {
        let volume = volumes::get(&storage.pool, &a, id).await.unwrap();
        assert_eq!(volume.state, "in-use", "{id}");
    }
    let plugs = attachments::to_plug(&storage.pool, &[VM.to_string()])
        .await
        .unwrap();
    let boot = plugs[VM].iter().find(|p| p.boot).unwrap();
    assert_eq!(boot.replicas.len(), 2);
    assert!(plugs[VM].iter().any(|p| !p.boot && p.replicas.len() == 2));

    // The root stays while the instance has it.
    let err = attachments::detach(&storage, &a, &root_id, None, None, false)
        .await
        .unwrap_err();
    assert_eq!(code(err), "OperationNotPermitted");
    let err = attachments::detach(&storage, &a, &root_id, None, None, true)
        .await
        .unwrap_err();
    assert_eq!(code(err), "OperationNotPermitted");
}

#[tokio::test]
async fn delete_on_termination_both_ways() {
    let storage = setup().await;
    let a = principal(A);
    let ids = launch(&storage, &a, &[root(1), extra("/dev/sdf", 1)]).await;
    ready(&storage, &ids).await;
    // Keep the root, delete the extra one instead.
    launch::set_delete_on_termination(&storage.pool, A, VM, "/dev/xvda", false)
        .await
        .unwrap();
    launch::set_delete_on_termination(&storage.pool, A, VM, "/dev/sdf", true)
        .await
        .unwrap();
    let err = launch::set_delete_on_termination(&storage.pool, A, VM, "/dev/sdz", true)
        .await
        .unwrap_err();
    assert_eq!(code(err), "InvalidInstanceAttributeValue");
    // Another account cannot touch them.
    let err = launch::set_delete_on_termination(&storage.pool, B, VM, "/dev/xvda", true)
        .await
        .unwrap_err();
    assert_eq!(code(err), "InvalidInstanceAttributeValue");
    let err = volumes::get(&storage.pool, &principal(B), &ids[0])
        .await
        .unwrap_err();
    assert_eq!(code(err), "InvalidVolume.NotFound");

    let mut tx = storage.pool.begin().await.unwrap();
    attachments::release(&mut tx, VM).await.unwrap();
    tx.commit().await.unwrap();
    let kept = volumes::get(&storage.pool, &a, &ids[0]).await.unwrap();
    assert_eq!(kept.state, "available");
    assert!(kept.attachment.is_none());
    let gone = volumes::get(&storage.pool, &a, &ids[1]).await.unwrap();
    assert_eq!(gone.state, "deleting");
    let held = agent::assigned(&storage.pool, "n1").await.unwrap();
    let desired = |id: &str| {
        held.volumes
            .iter()
            .find(|v| v.volume_id == id)
            .unwrap()
            .desired
    };
    assert_eq!(desired(&ids[0]), ReplicaDesired::Present);
    assert_eq!(desired(&ids[1]), ReplicaDesired::Absent);
}

#[tokio::test]
async fn bad_mappings_are_refused_and_nothing_is_kept() {
    let storage = setup().await;
    let a = principal(A);
    let cases = [
        (
            vec![root(1), extra("/dev/sdf", 1), extra("/dev/sdf", 1)],
            "InvalidParameterValue",
        ),
        (vec![extra("/dev/xvda", 1)], "InvalidParameterValue"),
        (vec![extra("/dev/sdg", 0)], "InvalidParameterValue"),
        (
            vec![LaunchVolume {
                volume_type: Some("io9".into()),
                ..extra("/dev/sdg", 1)
            }],
            "InvalidParameterValue",
        ),
        (
            vec![LaunchVolume {
                snapshot_id: Some("snap-0123456789abcdef0".into()),
                ..extra("/dev/sdg", 1)
            }],
            "InvalidSnapshot.NotFound",
        ),
    ];
    for (list, expected) in cases {
        let mut tx = storage.pool.begin().await.unwrap();
        let err = launch::create_attached(&storage, &mut tx, &a, VM, "us-east-1a", &list)
            .await
            .unwrap_err();
        assert_eq!(code(err), expected, "{list:?}");
        tx.rollback().await.unwrap();
    }
    assert!(volumes::list(&storage.pool, &a, &[])
        .await
        .unwrap()
        .is_empty());
}
