#![allow(clippy::unwrap_used)]
//! Compute domain functions against a real catalog: tenant isolation of key pairs, images
//! and tags, and the state transitions agents' observations cause.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_compute::hosts::transition;
use kumo_compute::image_import::{BoxFuture, ObjectReader, ObjectStream, ReadError};
use kumo_compute::instances::{InstanceRow, InstanceState, ShutdownBehavior};
use kumo_compute::{images, key_pairs, tags, Compute, ComputeConfig, ComputeError};
use kumo_compute_protocol::{DesiredState, InstanceKind, ObservedState};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn principal(account: &str, role: Role) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role,
        method: AuthMethod::Bearer,
    }
}

/// Buckets as directories, each with an owning account: a stand-in for object storage that
/// applies its rule (only the owner's account reads a bucket).
struct DirObjects {
    root: PathBuf,
}

impl DirObjects {
    fn new(root: PathBuf) -> Self {
        std::fs::create_dir_all(&root).unwrap();
        Self { root }
    }

    fn put(&self, bucket: &str, owner: &str, key: &str, data: &[u8]) {
        let dir = self.root.join(bucket);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".owner"), owner).unwrap();
        std::fs::write(dir.join(key), data).unwrap();
    }
}

impl ObjectReader for DirObjects {
    fn open<'a>(
        &'a self,
        caller: &'a Principal,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(u64, ObjectStream), ReadError>> {
        Box::pin(async move {
            let dir = self.root.join(bucket);
            let owner =
                std::fs::read_to_string(dir.join(".owner")).map_err(|_| ReadError::NotFound)?;
            if owner != caller.account_id {
                return Err(ReadError::AccessDenied);
            }
            let data = std::fs::read(dir.join(key)).map_err(|_| ReadError::NotFound)?;
            let size = data.len() as u64;
            let stream: ObjectStream = Box::pin(futures::stream::iter(
                data.chunks(1000)
                    .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>(),
            ));
            Ok((size, stream))
        })
    }
}

/// A small real tar archive (made by `tar`).
fn tarball(scratch: &Path) -> Vec<u8> {
    let src = scratch.join("rootfs-src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/hostname"), "kumo\n").unwrap();
    let out = scratch.join("made.tar");
    let status = std::process::Command::new("tar")
        .arg("-cf")
        .arg(&out)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(out).unwrap()
}

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl test@kumo";

#[tokio::test]
async fn key_pairs_images_and_tags_are_per_account() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let alice = principal("111111111111", Role::Admin);
    let bob = principal("222222222222", Role::Admin);

    key_pairs::import(
        &pool,
        &alice,
        &key_pairs::ImportKeyPair {
            key_name: "k".into(),
            public_key: KEY.into(),
        },
    )
    .await
    .unwrap();
    assert!(key_pairs::list(&pool, &bob, &[], &[])
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        key_pairs::list(&pool, &bob, &["k".into()], &[]).await,
        Err(ComputeError::NotFound(..))
    ));
    // Bob may import the same name in his account; deleting his does not touch Alice's.
    key_pairs::import(
        &pool,
        &bob,
        &key_pairs::ImportKeyPair {
            key_name: "k".into(),
            public_key: KEY.into(),
        },
    )
    .await
    .unwrap();
    key_pairs::delete(&pool, &bob, Some("k"), None)
        .await
        .unwrap();
    assert_eq!(
        key_pairs::list(&pool, &alice, &[], &[])
            .await
            .unwrap()
            .len(),
        1
    );
    let dup = key_pairs::import(
        &pool,
        &alice,
        &key_pairs::ImportKeyPair {
            key_name: "k".into(),
            public_key: KEY.into(),
        },
    )
    .await;
    assert!(matches!(
        dup,
        Err(ComputeError::Conflict("InvalidKeyPair.Duplicate", _))
    ));
    let bad = key_pairs::import(
        &pool,
        &alice,
        &key_pairs::ImportKeyPair {
            key_name: "x".into(),
            public_key: "ssh-rsa notbase64!".into(),
        },
    )
    .await;
    assert!(matches!(
        bad,
        Err(ComputeError::Invalid("InvalidKeyPair.Format", _))
    ));

    // Images come from buckets the caller can read (here: a directory per bucket, with an
    // owner), imported into Kumo's image store; host paths are for operators.
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let objects = DirObjects::new(dir.path().join("buckets"));
    objects.put(
        "alice-bucket",
        &alice.account_id,
        "root.tar",
        &tarball(dir.path()),
    );
    objects.put(
        "alice-bucket",
        &alice.account_id,
        "junk.tar",
        b"not really a tar",
    );
    objects.put(
        "bob-bucket",
        &bob.account_id,
        "root.tar",
        &tarball(dir.path()),
    );
    let compute = Compute::new(
        pool.clone(),
        ComputeConfig {
            image_store: Some(store.clone()),
            ..ComputeConfig::default()
        },
    )
    .with_object_reader(Arc::new(objects));
    let register = |caller: Principal, name: &str, location: String, public: bool| {
        let compute = compute.clone();
        let name = name.to_string();
        async move {
            images::register(
                &compute,
                &caller,
                &images::RegisterImage {
                    name,
                    description: String::new(),
                    location,
                    public,
                },
            )
            .await
        }
    };
    let private = register(alice.clone(), "mine", "alice-bucket/root.tar".into(), false)
        .await
        .unwrap();
    assert_eq!(private.kind, InstanceKind::Container);
    // Kumo chose the path, in its store; the API never shows it.
    let stored = images::by_id(&pool, &private.image_id).await.unwrap();
    let rootfs = PathBuf::from(stored.rootfs.clone().unwrap());
    assert!(rootfs.starts_with(&store) && rootfs.is_file());
    let json = serde_json::to_string(&stored).unwrap();
    assert!(
        !json.contains(&store.to_string_lossy().into_owned()),
        "{json}"
    );
    assert!(!json.contains("rootfs"), "{json}");
    // Bob cannot import from Alice's bucket, nor register her file (or any host file) by path.
    for location in [
        "alice-bucket/root.tar".to_string(),
        "s3://alice-bucket/root.tar".to_string(),
        rootfs.to_string_lossy().into_owned(),
        "/etc/passwd".to_string(),
    ] {
        let r = register(bob.clone(), "stolen", location.clone(), false).await;
        assert!(
            matches!(r, Err(ComputeError::Invalid("InvalidParameterValue", _))),
            "{location}: {r:?}"
        );
    }
    // Bob's own bucket works.
    let bobs = register(bob.clone(), "bobs", "bob-bucket/root.tar".into(), false)
        .await
        .unwrap();
    assert_eq!(bobs.account_id, bob.account_id);
    // Not a tar archive, a missing object, an unknown format: clear errors, nothing kept.
    for location in [
        "alice-bucket/junk.tar",
        "alice-bucket/missing.tar",
        "alice-bucket/root.img",
        "alice-bucket",
    ] {
        let r = register(alice.clone(), "bad", location.into(), false).await;
        assert!(
            matches!(r, Err(ComputeError::Invalid("InvalidParameterValue", _))),
            "{location}: {r:?}"
        );
    }
    assert_eq!(
        std::fs::read_dir(&store).unwrap().count(),
        2,
        "failed imports leave nothing"
    );
    // Without object storage attached, bucket/key registration says so.
    let standalone = Compute::new(pool.clone(), ComputeConfig::default());
    let r = images::register(
        &standalone,
        &alice,
        &images::RegisterImage {
            name: "nowhere".into(),
            description: String::new(),
            location: "alice-bucket/root.tar".into(),
            public: false,
        },
    )
    .await;
    match r {
        Err(ComputeError::Invalid(_, message)) => {
            assert!(message.contains("not available"), "{message}")
        }
        other => panic!("{other:?}"),
    }

    assert!(matches!(
        images::list(
            &pool,
            &bob,
            std::slice::from_ref(&private.image_id),
            &[],
            &[]
        )
        .await,
        Err(ComputeError::NotFound(..))
    ));
    assert!(matches!(
        images::get_launchable(&pool, &bob, &private.image_id).await,
        Err(ComputeError::NotFound(..))
    ));
    assert!(matches!(
        images::deregister(&pool, &bob, &private.image_id).await,
        Err(ComputeError::NotFound(..))
    ));
    let host_rootfs = dir.path().join("host-rootfs.tar");
    std::fs::write(&host_rootfs, tarball(dir.path())).unwrap();
    let public = register(
        alice.clone(),
        "shared",
        "alice-bucket/root.tar".into(),
        true,
    )
    .await;
    assert!(
        matches!(public, Err(ComputeError::Forbidden(_))),
        "only operators publish images"
    );
    let op = principal("333333333333", Role::Operator);
    let public = register(
        op.clone(),
        "shared",
        host_rootfs.to_string_lossy().into(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(
        images::list(
            &pool,
            &bob,
            std::slice::from_ref(&public.image_id),
            &[],
            &[]
        )
        .await
        .unwrap()
        .len(),
        1
    );
    // Owners: self, account ids, EC2's aliases; anything else is malformed.
    assert_eq!(
        images::list(&pool, &bob, &[], &["self".into()], &[])
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(images::list(&pool, &bob, &[], &["amazon".into()], &[])
        .await
        .unwrap()
        .is_empty());
    assert!(matches!(
        images::list(&pool, &bob, &[], &["a\0".into()], &[]).await,
        Err(ComputeError::Invalid("InvalidParameterValue", _))
    ));
    for owner in ["me", "12345678901"] {
        assert!(matches!(
            images::list(&pool, &bob, &[], &[owner.into()], &[]).await,
            Err(ComputeError::Invalid("InvalidUserID.Malformed", _))
        ));
    }
    // Bad host locations are clear errors, for operators too.
    for location in ["relative/path.tar", "/nonexistent/x.tar", "/etc/passwd"] {
        let r = register(op.clone(), "bad", location.into(), false).await;
        assert!(
            matches!(r, Err(ComputeError::Invalid(..))),
            "{location}: {r:?}"
        );
    }

    // Tags: Bob's view never includes Alice's.
    tags::put(
        &pool,
        &alice.account_id,
        &private.image_id,
        &[("team".into(), "a".into())],
    )
    .await
    .unwrap();
    assert!(tags::describe(&pool, &bob.account_id, &[], &[])
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        tags::describe(&pool, &alice.account_id, &[], &[])
            .await
            .unwrap()
            .len(),
        1
    );
}

fn row(state: InstanceState, desired: DesiredState, generation: i64) -> InstanceRow {
    InstanceRow {
        instance_id: "i-0123456789abcdef0".into(),
        account_id: "111111111111".into(),
        reservation_id: "r-0".into(),
        image_id: "ami-0".into(),
        instance_type: "t3.nano".into(),
        kind: InstanceKind::Container,
        vcpus: 2,
        memory_mib: 512,
        host_id: Some("host-0".into()),
        zone: "us-east-1a".into(),
        state,
        desired_state: desired,
        state_reason: None,
        generation,
        reboot_count: 0,
        subnet_id: "subnet-0".into(),
        private_ip: Some("172.31.0.4".into()),
        mac: "02:00:00:00:00:01".into(),
        key_name: None,
        user_data: None,
        client_token: None,
        launch_index: 0,
        disable_api_termination: false,
        shutdown_behavior: ShutdownBehavior::Stop,
        launch_time: chrono::Utc::now(),
        root_device_name: None,
    }
}

#[test]
fn observations_move_the_state_machine() {
    // Booted.
    let t = transition(
        &row(InstanceState::Pending, DesiredState::Running, 3),
        ObservedState::Running,
        3,
        None,
    )
    .unwrap();
    assert_eq!(
        (t.state, t.desired),
        (InstanceState::Running, DesiredState::Running)
    );
    // Stopped on request.
    let t = transition(
        &row(InstanceState::Stopping, DesiredState::Stopped, 4),
        ObservedState::Stopped,
        4,
        None,
    )
    .unwrap();
    assert_eq!(t.state, InstanceState::Stopped);
    // Died on its own, at the generation the agent acted on.
    let t = transition(
        &row(InstanceState::Running, DesiredState::Running, 5),
        ObservedState::Stopped,
        5,
        None,
    )
    .unwrap();
    assert_eq!(t.state, InstanceState::Stopped);
    assert!(t
        .reason
        .unwrap()
        .starts_with("Client.InstanceInitiatedShutdown"));
    // Could not start: the host's words become the reason.
    let t = transition(
        &row(InstanceState::Pending, DesiredState::Running, 5),
        ObservedState::Stopped,
        5,
        Some("runc failed"),
    )
    .unwrap();
    assert_eq!(
        t.reason.as_deref(),
        Some("Server.InternalError: runc failed")
    );
    // A stale report (older generation) cannot undo a newer start request.
    assert!(transition(
        &row(InstanceState::Pending, DesiredState::Running, 6),
        ObservedState::Stopped,
        5,
        None
    )
    .is_none());
    // Shutdown behaviour `terminate`.
    let mut r = row(InstanceState::Running, DesiredState::Running, 7);
    r.shutdown_behavior = ShutdownBehavior::Terminate;
    assert_eq!(
        transition(&r, ObservedState::Stopped, 7, None)
            .unwrap()
            .state,
        InstanceState::ShuttingDown
    );
    // Nothing to do.
    assert!(transition(
        &row(InstanceState::Running, DesiredState::Running, 1),
        ObservedState::Running,
        1,
        None
    )
    .is_none());
    assert!(transition(
        &row(InstanceState::Pending, DesiredState::Running, 1),
        ObservedState::Starting,
        1,
        None
    )
    .is_none());
}

#[test]
fn launch_plans_root_and_extra_volumes() {
    use kumo_compute::volumes::{plan_launch, BlockDeviceMapping, EbsMapping};
    let ebs = |size: Option<i64>| EbsMapping {
        volume_size: size,
        ..Default::default()
    };
    let mapping = |device: &str, ebs: Option<EbsMapping>| BlockDeviceMapping {
        device_name: device.into(),
        ebs,
        ..Default::default()
    };
    let disk = Some(("/images/disk.qcow2", (2u64 << 30) + 1));
    // The image's root: its disk's size rounded up to GiB, gp3 by default, deleted with it.
    let plan = plan_launch(disk, &[]).unwrap();
    assert_eq!(plan.root_device_name.as_deref(), Some("/dev/xvda"));
    let root = &plan.volumes[0];
    assert!(root.boot && root.delete_on_termination);
    assert_eq!(root.size_gib, Some(3));
    assert_eq!(root.source_disk.as_deref(), Some("/images/disk.qcow2"));
    // The root's mapping resizes it; others add volumes; ephemeral and NoDevice are ignored.
    let plan = plan_launch(
        disk,
        &[
            mapping("/dev/xvda", Some(ebs(Some(8)))),
            mapping(
                "/dev/sdf",
                Some(EbsMapping {
                    delete_on_termination: Some(false),
                    ..ebs(Some(1))
                }),
            ),
            BlockDeviceMapping {
                virtual_name: Some("ephemeral0".into()),
                ..mapping("/dev/sdb", None)
            },
            BlockDeviceMapping {
                no_device: true,
                ..mapping("/dev/sdc", Some(ebs(Some(1))))
            },
        ],
    )
    .unwrap();
    assert_eq!(plan.volumes.len(), 2);
    assert_eq!(plan.volumes[0].size_gib, Some(8));
    assert_eq!(plan.volumes[1].device, "/dev/sdf");
    assert!(!plan.volumes[1].boot && !plan.volumes[1].delete_on_termination);
    // Too small a root, or the same device twice, is InvalidBlockDeviceMapping.
    for mappings in [
        vec![mapping("/dev/xvda", Some(ebs(Some(2))))],
        vec![
            mapping("/dev/sdf", Some(ebs(Some(1)))),
            mapping("/dev/sdf", None),
        ],
    ] {
        let err = plan_launch(disk, &mappings).unwrap_err();
        assert_eq!(
            err.to_aws().code,
            "InvalidBlockDeviceMapping",
            "{mappings:?}"
        );
    }
    // No disk: instance store, only the extra volumes (a root mapping changes nothing).
    let plan = plan_launch(
        None,
        &[
            mapping("/dev/xvda", Some(ebs(Some(10)))),
            mapping("/dev/sdf", Some(ebs(Some(1)))),
        ],
    )
    .unwrap();
    assert_eq!(plan.root_device_name, None);
    assert_eq!(plan.volumes.len(), 1);
}
