#![allow(clippy::unwrap_used)]
//! Attachments against a real catalog: AttachVolume's checks (instance, zone, state,
//! device, containers), the agent's observations driving `attaching → attached` and
//! `detaching → gone`, what the compute host is told (ready replicas with credentials, only
//! while attached), DetachVolume's checks and Force, termination, tenant isolation.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_block_storage::attachments::{self, InstanceDirectory, InstanceFacts};
use kumo_block_storage::volumes::{self, CreateVolume};
use kumo_block_storage::{agent, BlockStorage, BlockStorageError, Result};
use kumo_storage_protocol::block::{ReplicaState, VolumeReplicaState, VolumeReport};

const A: &str = "111111111111";
const B: &str = "222222222222";

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

/// Instances by (account, id).
#[derive(Default)]
struct Instances(Mutex<BTreeMap<(String, String), InstanceFacts>>);

#[async_trait::async_trait]
impl InstanceDirectory for Instances {
    async fn instance(&self, account_id: &str, instance_id: &str) -> Result<Option<InstanceFacts>> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .get(&(account_id.to_string(), instance_id.to_string()))
            .cloned())
    }
}

impl Instances {
    fn put(&self, account: &str, id: &str, zone: &str, state: &str, kind: &str) {
        self.0.lock().unwrap().insert(
            (account.into(), id.into()),
            InstanceFacts {
                zone: zone.into(),
                state: state.into(),
                kind: kind.into(),
            },
        );
    }
}

const VM: &str = "i-0aaaaaaaaaaaaaaa1";
const VM2: &str = "i-0aaaaaaaaaaaaaaa2";
const CT: &str = "i-0aaaaaaaaaaaaaaa3";
const FAR: &str = "i-0aaaaaaaaaaaaaaa4";
const PENDING: &str = "i-0aaaaaaaaaaaaaaa5";
const B_VM: &str = "i-0bbbbbbbbbbbbbbb1";

async fn setup() -> (BlockStorage, String) {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let instances = Arc::new(Instances::default());
    instances.put(A, VM, "us-east-1a", "running", "vm");
    instances.put(A, VM2, "us-east-1a", "stopped", "vm");
    instances.put(A, CT, "us-east-1a", "running", "container");
    instances.put(A, FAR, "us-east-1b", "running", "vm");
    instances.put(A, PENDING, "us-east-1a", "pending", "vm");
    instances.put(B, B_VM, "us-east-1a", "running", "vm");
    let storage = BlockStorage::new(pool, Default::default()).with_instances(instances);
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
        let report = VolumeReport {
            volumes: vec![VolumeReplicaState {
                volume_id: volume.volume_id.clone(),
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
    (storage, volume.volume_id)
}

async fn volume_state(storage: &BlockStorage, id: &str) -> (String, Option<String>) {
    let v = volumes::get(&storage.pool, &principal(A), id)
        .await
        .unwrap();
    (v.state, v.attachment.map(|a| a.state))
}

#[tokio::test]
async fn attach_observe_detach() {
    let (storage, vol) = setup().await;
    let a = principal(A);
    let attach = |instance: &'static str, device: &'static str| {
        let storage = storage.clone();
        let a = a.clone();
        let vol = vol.clone();
        async move { attachments::attach(&storage, &a, &vol, instance, device).await }
    };
    // Refusals: nothing changes.
    assert_eq!(
        code(attach(FAR, "/dev/sdf").await.unwrap_err()),
        "InvalidVolume.ZoneMismatch"
    );
    assert_eq!(
        code(attach(PENDING, "/dev/sdf").await.unwrap_err()),
        "IncorrectInstanceState"
    );
    assert_eq!(
        code(attach(B_VM, "/dev/sdf").await.unwrap_err()),
        "InvalidInstanceID.NotFound"
    );
    assert_eq!(
        code(attach("i-0ccccccccccccccc1", "/dev/sdf").await.unwrap_err()),
        "InvalidInstanceID.NotFound"
    );
    for bad in [
        "/dev/sda",
        "/dev/xvda",
        "sdf",
        "/dev/sdF",
        "/dev/sdfff",
        "/dev/hdf",
    ] {
        assert_eq!(
            code(attach(VM, bad).await.unwrap_err()),
            "InvalidParameterValue",
            "{bad}"
        );
    }
    // Account B cannot attach A's volume, even to its own instance.
    let b = principal(B);
    assert_eq!(
        code(
            attachments::attach(&storage, &b, &vol, B_VM, "/dev/sdf")
                .await
                .unwrap_err()
        ),
        "InvalidVolume.NotFound"
    );
    assert_eq!(
        volume_state(&storage, &vol).await,
        ("available".into(), None)
    );
    // The host is told nothing while the volume is not attached.
    assert!(attachments::to_plug(&storage.pool, &[VM.into()])
        .await
        .unwrap()
        .is_empty());

    let attached = attach(VM, "/dev/sdf").await.unwrap();
    assert_eq!(
        (attached.state.as_str(), attached.device.as_str()),
        ("attaching", "/dev/sdf")
    );
    assert_eq!(
        volume_state(&storage, &vol).await,
        ("in-use".into(), Some("attaching".into()))
    );
    assert_eq!(
        code(attach(VM, "/dev/sdg").await.unwrap_err()),
        "VolumeInUse"
    );
    assert_eq!(
        code(volumes::delete(&storage, &a, &vol).await.unwrap_err()),
        "VolumeInUse"
    );
    // The host gets both ready replicas with their keys.
    let plug = attachments::to_plug(&storage.pool, &[VM.into()])
        .await
        .unwrap();
    let replicas = &plug[VM][0].replicas;
    assert_eq!(replicas.len(), 2);
    assert_eq!(replicas[0].address, "http://10.0.0.1:9100");
    assert_eq!(replicas[0].nbd_port, 10809);
    assert_eq!(replicas[0].psk_key_hex.len(), 64);
    // Not plugged yet: still attaching; plugged: attached.
    attachments::observed(&storage.pool, VM, true, &[])
        .await
        .unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await.1.as_deref(),
        Some("attaching")
    );
    attachments::observed(&storage.pool, VM, true, std::slice::from_ref(&vol))
        .await
        .unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await,
        ("in-use".into(), Some("attached".into()))
    );
    let devices = attachments::of_instances(&storage.pool, A, &[VM.into()])
        .await
        .unwrap();
    assert_eq!(devices[VM][0].device, "/dev/sdf");
    assert!(attachments::of_instances(&storage.pool, B, &[VM.into()])
        .await
        .unwrap()
        .is_empty());

    // DetachVolume: B cannot; the wrong instance or device is InvalidAttachment.NotFound.
    assert_eq!(
        code(
            attachments::detach(&storage, &b, &vol, None, None, false)
                .await
                .unwrap_err()
        ),
        "InvalidVolume.NotFound"
    );
    assert_eq!(
        code(
            attachments::detach(&storage, &a, &vol, Some(VM2), None, false)
                .await
                .unwrap_err()
        ),
        "InvalidAttachment.NotFound"
    );
    assert_eq!(
        code(
            attachments::detach(&storage, &a, &vol, None, Some("/dev/sdg"), false)
                .await
                .unwrap_err()
        ),
        "InvalidAttachment.NotFound"
    );
    let detaching = attachments::detach(&storage, &a, &vol, Some(VM), Some("/dev/sdf"), false)
        .await
        .unwrap();
    assert_eq!(detaching.state, "detaching");
    // The host is no longer told to plug it; still plugged: detaching; unplugged: gone.
    assert!(attachments::to_plug(&storage.pool, &[VM.into()])
        .await
        .unwrap()
        .is_empty());
    attachments::observed(&storage.pool, VM, true, std::slice::from_ref(&vol))
        .await
        .unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await.1.as_deref(),
        Some("detaching")
    );
    attachments::observed(&storage.pool, VM, true, &[])
        .await
        .unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await,
        ("available".into(), None)
    );
    assert_eq!(
        code(
            attachments::detach(&storage, &a, &vol, None, None, false)
                .await
                .unwrap_err()
        ),
        "IncorrectState"
    );

    // A stopped instance: attached at once when its host reports it stopped.
    attach(VM2, "/dev/xvdf").await.unwrap();
    attachments::observed(&storage.pool, VM2, false, &[])
        .await
        .unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await.1.as_deref(),
        Some("attached")
    );
    // Force: over at once.
    attachments::detach(&storage, &a, &vol, None, None, true)
        .await
        .unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await,
        ("available".into(), None)
    );

    // Termination ends the attachment (not delete-on-termination: available).
    attach(VM, "/dev/sdh").await.unwrap();
    let mut tx = storage.pool.begin().await.unwrap();
    attachments::release(&mut tx, VM).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await,
        ("available".into(), None)
    );
}

#[tokio::test]
async fn a_container_gets_volumes_as_a_vm_does() {
    let (storage, vol) = setup().await;
    let a = principal(A);
    let attached = attachments::attach(&storage, &a, &vol, CT, "/dev/sdf")
        .await
        .unwrap();
    assert_eq!(attached.state, "attaching");
    // Its host is told the ready replicas with their keys.
    let plug = attachments::to_plug(&storage.pool, &[CT.into()])
        .await
        .unwrap();
    assert_eq!(plug[CT][0].attachment.device, "/dev/sdf");
    assert_eq!(plug[CT][0].replicas.len(), 2);
    // The agent reports the device in place: attached; then detached: gone.
    attachments::observed(&storage.pool, CT, true, std::slice::from_ref(&vol))
        .await
        .unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await,
        ("in-use".into(), Some("attached".into()))
    );
    attachments::detach(&storage, &a, &vol, Some(CT), None, false)
        .await
        .unwrap();
    attachments::observed(&storage.pool, CT, true, &[])
        .await
        .unwrap();
    assert_eq!(
        volume_state(&storage, &vol).await,
        ("available".into(), None)
    );
}
