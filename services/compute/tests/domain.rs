#![allow(clippy::unwrap_used)]
//! Compute domain functions against a real catalog: tenant isolation of key pairs, images
//! and tags, and the state transitions agents' observations cause.

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_compute::hosts::transition;
use kumo_compute::instances::{InstanceRow, InstanceState};
use kumo_compute::{images, key_pairs, tags, ComputeError};
use kumo_compute_protocol::ObservedState;

fn principal(account: &str, role: Role) -> Principal {
    Principal {
        account_id: account.into(),
        user_id: format!("AIDA{account}"),
        user_name: "admin".into(),
        role,
        method: AuthMethod::Bearer,
    }
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

    // A private image of Alice's is invisible to Bob; a public one is visible to all.
    let dir = tempfile::tempdir().unwrap();
    let rootfs = dir.path().join("rootfs.tar");
    std::fs::write(&rootfs, b"not really a tar").unwrap();
    let private = images::register(
        &pool,
        &alice,
        &images::RegisterImage {
            name: "mine".into(),
            description: String::new(),
            location: rootfs.to_string_lossy().into(),
            public: false,
        },
    )
    .await
    .unwrap();
    assert_eq!(private.kind, "container");
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
    let public = images::register(
        &pool,
        &alice,
        &images::RegisterImage {
            name: "shared".into(),
            description: String::new(),
            location: rootfs.to_string_lossy().into(),
            public: true,
        },
    )
    .await;
    assert!(
        matches!(public, Err(ComputeError::Forbidden(_))),
        "only operators publish images"
    );
    let op = principal("333333333333", Role::Operator);
    let public = images::register(
        &pool,
        &op,
        &images::RegisterImage {
            name: "shared".into(),
            description: String::new(),
            location: rootfs.to_string_lossy().into(),
            public: true,
        },
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
    // Bad locations are clear errors.
    for location in ["relative/path.tar", "/nonexistent/x.tar", "/etc/passwd"] {
        let r = images::register(
            &pool,
            &alice,
            &images::RegisterImage {
                name: "bad".into(),
                description: String::new(),
                location: location.into(),
                public: false,
            },
        )
        .await;
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

fn row(state: &str, desired: &str, generation: i64) -> InstanceRow {
    InstanceRow {
        instance_id: "i-0123456789abcdef0".into(),
        account_id: "111111111111".into(),
        reservation_id: "r-0".into(),
        image_id: "ami-0".into(),
        instance_type: "t3.nano".into(),
        kind: "container".into(),
        vcpus: 2,
        memory_mib: 512,
        host_id: Some("host-0".into()),
        zone: "us-east-1a".into(),
        state: state.into(),
        desired_state: desired.into(),
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
        shutdown_behavior: "stop".into(),
        launch_time: chrono::Utc::now(),
    }
}

#[test]
fn observations_move_the_state_machine() {
    // Booted.
    let t = transition(
        &row("pending", "running", 3),
        ObservedState::Running,
        3,
        None,
    )
    .unwrap();
    assert_eq!((t.0, t.1), (InstanceState::Running, "running"));
    // Stopped on request.
    let t = transition(
        &row("stopping", "stopped", 4),
        ObservedState::Stopped,
        4,
        None,
    )
    .unwrap();
    assert_eq!(t.0, InstanceState::Stopped);
    // Died on its own, at the generation the agent acted on.
    let t = transition(
        &row("running", "running", 5),
        ObservedState::Stopped,
        5,
        None,
    )
    .unwrap();
    assert_eq!(t.0, InstanceState::Stopped);
    assert!(t.2.unwrap().starts_with("Client.InstanceInitiatedShutdown"));
    // Could not start: the host's words become the reason.
    let t = transition(
        &row("pending", "running", 5),
        ObservedState::Stopped,
        5,
        Some("runc failed"),
    )
    .unwrap();
    assert_eq!(t.2.as_deref(), Some("Server.InternalError: runc failed"));
    // A stale report (older generation) cannot undo a newer start request.
    assert!(transition(
        &row("pending", "running", 6),
        ObservedState::Stopped,
        5,
        None
    )
    .is_none());
    // Shutdown behaviour `terminate`.
    let mut r = row("running", "running", 7);
    r.shutdown_behavior = "terminate".into();
    assert_eq!(
        transition(&r, ObservedState::Stopped, 7, None).unwrap().0,
        InstanceState::ShuttingDown
    );
    // Nothing to do.
    assert!(transition(
        &row("running", "running", 1),
        ObservedState::Running,
        1,
        None
    )
    .is_none());
    assert!(transition(
        &row("pending", "running", 1),
        ObservedState::Starting,
        1,
        None
    )
    .is_none());
}
