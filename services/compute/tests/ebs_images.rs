#![allow(clippy::unwrap_used)]
//! EBS images against a real catalog, with block storage's snapshots stood in for: a
//! `pending` image becomes `available` once every snapshot is completed and `failed` when
//! one errors or is gone; DescribeImages' listing shows both states (not deregistered ones)
//! to the owner only; only available ones launch; RegisterImage with a snapshot that is not
//! the caller's completed one is refused and records nothing.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_compute::ebs_images::{self, ImageSnapshots, RegisterEbsImage, VolumeSnapshot};
use kumo_compute::volumes::{BlockDeviceMapping, EbsMapping};
use kumo_compute::{images, Compute, ComputeConfig, ComputeError};
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

/// Snapshots by id: their owner and state.
#[derive(Default)]
struct Snapshots(Mutex<BTreeMap<String, (String, String)>>);

impl Snapshots {
    fn set(&self, id: &str, owner: &str, state: &str) {
        self.0
            .lock()
            .unwrap()
            .insert(id.into(), (owner.into(), state.into()));
    }
}

#[async_trait::async_trait]
impl ImageSnapshots for Snapshots {
    async fn snapshot_volume(
        &self,
        _caller: &Principal,
        _volume_id: &str,
        _description: &str,
        _tags: &[(String, String)],
    ) -> Result<VolumeSnapshot, ComputeError> {
        Err(ComputeError::Internal("not in this test".into()))
    }

    async fn completed_snapshot(
        &self,
        caller: &Principal,
        snapshot_id: &str,
    ) -> Result<i64, ComputeError> {
        match self.0.lock().unwrap().get(snapshot_id) {
            Some((owner, state)) if *owner == caller.account_id && state == "completed" => Ok(1),
            Some((owner, _)) if *owner == caller.account_id => Err(ComputeError::Conflict(
                "IncorrectState",
                "Snapshot is in invalid state".into(),
            )),
            _ => Err(ComputeError::NotFound(
                "InvalidSnapshot.NotFound",
                format!("The snapshot '{snapshot_id}' does not exist."),
            )),
        }
    }

    async fn snapshot_states(
        &self,
        snapshot_ids: &[String],
    ) -> Result<BTreeMap<String, String>, ComputeError> {
        let all = self.0.lock().unwrap();
        Ok(snapshot_ids
            .iter()
            .filter_map(|id| all.get(id).map(|(_, state)| (id.clone(), state.clone())))
            .collect())
    }
}

async fn pending_image(pool: &PgPool, image_id: &str, account: &str, snapshots: &[&str]) {
    sqlx::query(
        "INSERT INTO compute.images (image_id, account_id, name, kind, kernel, initramfs, state)
         VALUES ($1, $2, $1, 'vm', '/k', '/i', 'pending')",
    )
    .bind(image_id)
    .bind(account)
    .execute(pool)
    .await
    .unwrap();
    for (n, snapshot) in snapshots.iter().enumerate() {
        sqlx::query(
            "INSERT INTO compute.image_block_devices
                 (image_id, device_name, snapshot_id, volume_size_gib, volume_type, delete_on_termination)
             VALUES ($1, $2, $3, 1, 'gp3', true)",
        )
        .bind(image_id)
        .bind(if n == 0 { "/dev/xvda".to_string() } else { format!("/dev/sd{}", (b'e' + n as u8) as char) })
        .bind(snapshot)
        .execute(pool)
        .await
        .unwrap();
    }
}

async fn state_of(pool: &PgPool, caller: &Principal, image_id: &str) -> String {
    images::list(pool, caller, &[image_id.to_string()], &[], &[])
        .await
        .unwrap()[0]
        .state
        .as_str()
        .to_string()
}

fn root(snapshot: &str) -> Vec<BlockDeviceMapping> {
    vec![BlockDeviceMapping {
        device_name: "/dev/xvda".into(),
        ebs: Some(EbsMapping {
            snapshot_id: Some(snapshot.into()),
            ..Default::default()
        }),
        ..Default::default()
    }]
}

#[tokio::test]
async fn pending_images_follow_their_snapshots() {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    let snapshots = Arc::new(Snapshots::default());
    let compute = Compute::new(pool.clone(), ComputeConfig::default())
        .with_image_snapshots(snapshots.clone());
    let (a, b) = (principal("111111111111"), principal("222222222222"));
    let (good, bad) = ("ami-0000000000000000a", "ami-0000000000000000b");
    snapshots.set("snap-00000000000000001", &a.account_id, "pending");
    snapshots.set("snap-00000000000000002", &a.account_id, "pending");
    snapshots.set("snap-00000000000000003", &a.account_id, "pending");
    pending_image(
        &pool,
        good,
        &a.account_id,
        &["snap-00000000000000001", "snap-00000000000000002"],
    )
    .await;
    pending_image(&pool, bad, &a.account_id, &["snap-00000000000000003"]).await;

    ebs_images::refresh_pending(&compute, &a.account_id)
        .await
        .unwrap();
    assert_eq!(state_of(&pool, &a, good).await, "pending");
    let listed = images::list(&pool, &a, &[good.into()], &[], &[])
        .await
        .unwrap();
    assert_eq!(listed[0].block_devices.list().len(), 2);
    assert!(listed[0].is_ebs_backed());
    assert!(
        images::get_launchable(&pool, &a, good).await.is_err(),
        "a pending image launches"
    );

    snapshots.set("snap-00000000000000001", &a.account_id, "completed");
    ebs_images::refresh_pending(&compute, &a.account_id)
        .await
        .unwrap();
    assert_eq!(
        state_of(&pool, &a, good).await,
        "pending",
        "one snapshot left"
    );
    snapshots.set("snap-00000000000000002", &a.account_id, "completed");
    snapshots.set("snap-00000000000000003", &a.account_id, "error");
    // Another account's refresh moves nothing of A's.
    ebs_images::refresh_pending(&compute, &b.account_id)
        .await
        .unwrap();
    assert_eq!(state_of(&pool, &a, good).await, "pending");
    ebs_images::refresh_pending(&compute, &a.account_id)
        .await
        .unwrap();
    assert_eq!(state_of(&pool, &a, good).await, "available");
    assert_eq!(state_of(&pool, &a, bad).await, "failed");
    assert!(images::get_launchable(&pool, &a, good).await.is_ok());
    assert!(images::get_launchable(&pool, &a, bad).await.is_err());
    assert!(images::get_launchable(&pool, &b, good).await.is_err());
    assert!(images::list(&pool, &b, &[good.into()], &[], &[])
        .await
        .is_err());

    // RegisterImage: the caller's completed snapshot only; KernelId must be launchable.
    let register = |name: &str, snapshot: &str| RegisterEbsImage {
        name: name.into(),
        root_device_name: "/dev/xvda".into(),
        mappings: root(snapshot),
        kernel_image_id: Some(good.into()),
        ..Default::default()
    };
    snapshots.set("snap-00000000000000004", &a.account_id, "pending");
    let refused = |e: ComputeError| match e {
        ComputeError::NotFound(code, _)
        | ComputeError::Conflict(code, _)
        | ComputeError::Invalid(code, _) => code,
        other => panic!("{other:?}"),
    };
    let b_try = ebs_images::register(
        &compute,
        &b,
        &register("b-steals", "snap-00000000000000001"),
    )
    .await;
    assert_eq!(
        refused(b_try.unwrap_err()),
        "InvalidAMIID.NotFound",
        "B cannot use A's image's kernel"
    );
    let b_try = ebs_images::register(
        &compute,
        &b,
        &RegisterEbsImage {
            kernel_image_id: None,
            ..register("b-steals", "snap-00000000000000001")
        },
    )
    .await;
    // No default kernel image is registered in this catalog.
    assert_eq!(refused(b_try.unwrap_err()), "InvalidParameterValue");
    let pending = ebs_images::register(
        &compute,
        &a,
        &register("a-pending", "snap-00000000000000004"),
    )
    .await;
    assert_eq!(refused(pending.unwrap_err()), "IncorrectState");
    let other =
        ebs_images::register(&compute, &a, &register("a-other", "snap-00000000000000009")).await;
    assert_eq!(refused(other.unwrap_err()), "InvalidSnapshot.NotFound");
    let id = ebs_images::register(&compute, &a, &register("a-good", "snap-00000000000000001"))
        .await
        .unwrap();
    assert_eq!(state_of(&pool, &a, &id).await, "available");
    let names: Vec<String> = images::list(&pool, &a, &[], &[], &[])
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}
