#![allow(clippy::unwrap_used)]
//! The composition root starts only the services a process mounts: each service brings its
//! own routes and loops, and `kumo-compute` runs no object-storage loop.

use axum::body::Body;
use http::{Request, StatusCode};
use kumo_gateway::{Mount, Services};
use kumo_identity::{Identity, IdentityConfig, MasterKey};
use tower::ServiceExt;

async fn services() -> Services {
    let pool = kumo_catalog::testing::fresh_database().await.unwrap();
    Services {
        identity: Identity::new(pool.clone(), MasterKey::random(), IdentityConfig::default()),
        compute: kumo_compute::Compute::new(pool.clone(), Default::default()),
        object_storage: kumo_object_storage::ObjectStorage::new(pool.clone(), Default::default()),
        network: kumo_network::Network::new(pool.clone(), Default::default()),
        block_storage: kumo_block_storage::BlockStorage::new(pool, Default::default()),
    }
}

async fn status(app: &axum::Router, path: &str) -> StatusCode {
    let request = Request::get(path).body(Body::empty()).unwrap();
    app.clone().oneshot(request).await.unwrap().status()
}

#[tokio::test]
async fn each_process_runs_only_the_loops_of_the_services_it_mounts() {
    let services = services().await;
    let cases: [(Mount, &[&str]); 4] = [
        (
            Mount::Gateway,
            &[
                "auth.credential-cache",
                "compute.housekeeping",
                "compute.data-plane",
                "object-storage.housekeeping",
                "block-storage.replicas",
            ],
        ),
        (Mount::IdentityOnly, &["auth.credential-cache"]),
        (
            Mount::ComputeOnly,
            &[
                "auth.credential-cache",
                "compute.housekeeping",
                "compute.data-plane",
            ],
        ),
        (
            Mount::ObjectStorageOnly,
            &["auth.credential-cache", "object-storage.housekeeping"],
        ),
    ];
    for (mount, expected) in cases {
        // A fresh identity per process: each has its own credential cache and listener.
        let services = Services {
            identity: Identity::new(
                services.identity.pool.clone(),
                services.identity.master_key.clone(),
                IdentityConfig::default(),
            ),
            ..services.clone()
        };
        let process = kumo_gateway::start(services, mount, Default::default());
        assert_eq!(process.task_names(), expected, "{mount:?}");
        assert!(process.tasks.iter().all(|task| !task.is_finished()));
        // Routes follow the mount too: a service that is not mounted answers nothing.
        let instances = status(&process.router, "/v1/instances").await;
        let buckets = status(&process.router, "/v1/buckets").await;
        assert_eq!(
            instances == StatusCode::UNAUTHORIZED,
            mount.serves_compute(),
            "{mount:?} /v1/instances: {instances}"
        );
        assert_eq!(
            buckets == StatusCode::UNAUTHORIZED,
            mount.serves_object_storage(),
            "{mount:?} /v1/buckets: {buckets}"
        );
        process.tasks.iter().for_each(|task| task.abort());
    }
}

#[tokio::test]
async fn compute_registers_the_default_images_once() {
    let services = services().await;
    let operator = kumo_identity::bootstrap::ensure_operator(
        &services.identity.pool,
        &services.identity.master_key,
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("vm")).unwrap();
    std::fs::create_dir_all(dir.path().join("container")).unwrap();
    for file in ["vm/vmlinuz", "vm/initramfs.img", "container/rootfs.tar"] {
        std::fs::write(dir.path().join(file), b"").unwrap();
    }
    let compute = &services.compute;
    let first = compute
        .register_default_images(&operator.account_id, dir.path())
        .await
        .unwrap();
    let names: Vec<_> = first.iter().map(|image| image.name).collect();
    assert_eq!(names, ["kumo-busybox-vm", "kumo-busybox-container"]);
    let again = compute
        .register_default_images(&operator.account_id, dir.path())
        .await
        .unwrap();
    let ids = |images: &[kumo_compute::default_images::DefaultImage]| {
        images
            .iter()
            .map(|i| i.image_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&first), ids(&again));
    // Nothing built: nothing registered.
    let empty = tempfile::tempdir().unwrap();
    assert!(compute
        .register_default_images(&operator.account_id, empty.path())
        .await
        .unwrap()
        .is_empty());
}
