#![allow(clippy::unwrap_used)]
//! EBS-backed instances through the composed gateway (compute + block storage over one
//! catalog), over HTTP: a launch from a VM image with a disk makes a root volume (from the
//! image's disk, sized by the mapping) and an extra one, both attached; the host is not told
//! of the instance until the root's replicas are ready, then it gets the root with `boot`;
//! the instance reports `root_device_name` and its block devices; a stopped instance
//! starts on another host when its own is disabled, and draining a host moves it; at
//! termination the root (DeleteOnTermination true) goes and the extra volume stays.

mod common;

use std::time::Duration;

use common::{call, tenant, TestCloud};
use kumo_compute_protocol::{
    EnrolRequest, EnrolResponse, HostCapacity, HostNetworkReport, InstanceKind, InstanceSpec,
    ObservedInstance, ObservedState, SyncRequest, SyncResponse, NODE_TOKEN_HEADER,
};
use kumo_storage_protocol::block::{ReplicaState, VolumeReplicaState, VolumeReport};
use serde_json::{json, Value};

struct Host<'a> {
    cloud: &'a TestCloud,
    host_id: String,
    token: String,
}

fn capacity() -> HostCapacity {
    HostCapacity {
        vcpus: 4,
        memory_mib: 4096,
        disk_gib: 10,
        kinds: vec![InstanceKind::Vm],
    }
}

impl Host<'_> {
    async fn enrol<'a>(cloud: &'a TestCloud, name: &str) -> Host<'a> {
        let join =
            kumo_compute::hosts::create_join_token(&cloud.identity.pool, Duration::from_secs(60))
                .await
                .unwrap();
        let response = cloud
            .http
            .post(cloud.url("/v1/agent/enrol"))
            .json(&EnrolRequest {
                join_token: join.join_token,
                name: name.into(),
                zone: "us-east-1a".into(),
                address: "127.0.0.1:0".into(),
                capacity: capacity(),
                network: HostNetworkReport::default(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let enrolled: EnrolResponse = response.json().await.unwrap();
        let host = Host {
            cloud,
            host_id: enrolled.host_id,
            token: enrolled.node_token,
        };
        host.sync(Vec::new()).await;
        host
    }

    async fn sync(&self, instances: Vec<ObservedInstance>) -> Vec<InstanceSpec> {
        let response = self
            .cloud
            .http
            .post(self.cloud.url("/v1/agent/sync"))
            .header(NODE_TOKEN_HEADER, &self.token)
            .json(&SyncRequest {
                capacity: capacity(),
                instances,
                network: HostNetworkReport::default(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
        let synced: SyncResponse = response.json().await.unwrap();
        synced.instances
    }

    /// The host reports the instance `state` (with its plugged volumes when running).
    async fn observe(&self, spec: &InstanceSpec, state: ObservedState) -> Vec<InstanceSpec> {
        let plugged = spec.volumes.iter().map(|v| v.volume_id.clone()).collect();
        self.sync(vec![ObservedInstance {
            instance_id: spec.instance_id.clone(),
            state,
            generation: spec.generation,
            reboot_count: spec.reboot_count,
            detail: None,
            volumes: (state == ObservedState::Running).then_some(plugged),
            volume_replicas: None,
        }])
        .await
    }
}

async fn storage_nodes(cloud: &TestCloud) {
    for node in ["n1", "n2"] {
        sqlx::query(
            "INSERT INTO object_storage.nodes (node_id, name, zone, address, node_token, capacity_bytes, last_heartbeat_at)
             VALUES ($1, $1, 'us-east-1a', 'http://10.0.0.' || right($1, 1) || ':9100', $1 || ':secret', 100 << 30, now())",
        )
        .bind(node)
        .execute(&cloud.identity.pool)
        .await
        .unwrap();
    }
}

/// Both nodes hold every replica of `volume_ids`, ready.
async fn replicas_ready(cloud: &TestCloud, volume_ids: &[String]) {
    for node in ["n1", "n2"] {
        let report = VolumeReport {
            volumes: volume_ids
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
        kumo_block_storage::agent::apply_report(&cloud.identity.pool, node, &report)
            .await
            .unwrap();
    }
}

/// A public VM image (kernel, initramfs and a qcow2 disk of 2.5 GiB virtual).
async fn image(cloud: &TestCloud, dir: &std::path::Path) -> String {
    std::fs::write(dir.join("vmlinuz"), b"kernel").unwrap();
    std::fs::write(dir.join("initramfs.img"), b"initramfs").unwrap();
    let mut header = vec![0u8; 104];
    header[0..4].copy_from_slice(b"QFI\xfb");
    header[4..8].copy_from_slice(&3u32.to_be_bytes());
    header[24..32].copy_from_slice(&(5u64 << 29).to_be_bytes());
    std::fs::write(dir.join("disk.qcow2"), header).unwrap();
    let image_id = "ami-0ebeb0000000000a1";
    sqlx::query(
        "INSERT INTO compute.images (image_id, account_id, name, kind, kernel, initramfs, disk, is_public)
         VALUES ($1, $2, 'ebs-vm', 'vm', $3, $4, $5, true)",
    )
    .bind(image_id)
    .bind(&cloud.operator.account_id)
    .bind(dir.join("vmlinuz").to_string_lossy().as_ref())
    .bind(dir.join("initramfs.img").to_string_lossy().as_ref())
    .bind(dir.join("disk.qcow2").to_string_lossy().as_ref())
    .execute(&cloud.identity.pool)
    .await
    .unwrap();
    image_id.into()
}

async fn instance(cloud: &TestCloud, token: &str, id: &str) -> Value {
    let (status, body) = call(
        cloud,
        reqwest::Method::GET,
        &format!("/v1/instances/{id}"),
        token,
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn volume(cloud: &TestCloud, token: &str, id: &str) -> (u16, Value) {
    call(
        cloud,
        reqwest::Method::GET,
        &format!("/v1/volumes/{id}"),
        token,
        None,
    )
    .await
}

async fn post(cloud: &TestCloud, token: &str, path: &str) {
    let (status, body) = call(cloud, reqwest::Method::POST, path, token, None).await;
    assert!(status < 300, "{path}: {status} {body}");
}

fn spec_of<'s>(specs: &'s [InstanceSpec], id: &str) -> Option<&'s InstanceSpec> {
    specs.iter().find(|s| s.instance_id == id)
}

#[tokio::test]
async fn ebs_backed_launch_stop_move_and_terminate() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    let (_, token) = tenant(&cloud, &op, "ebs-tenant").await;
    storage_nodes(&cloud).await;
    let first = Host::enrol(&cloud, "host-1").await;
    let second = Host::enrol(&cloud, "host-2").await;
    let dir = tempfile::tempdir().unwrap();
    let image_id = image(&cloud, dir.path()).await;

    // Smaller than the image's disk (3 GiB rounded up): refused, nothing made.
    let (status, body) = call(
        &cloud,
        reqwest::Method::POST,
        "/v1/instances",
        &token,
        Some(json!({"image_id": image_id, "block_device_mappings": [
            {"device_name": "/dev/xvda", "ebs": {"volume_size": 2}}]})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.to_string().contains("smaller than the image"),
        "{body}"
    );

    let (status, reservation) = call(
        &cloud,
        reqwest::Method::POST,
        "/v1/instances",
        &token,
        Some(json!({"image_id": image_id, "block_device_mappings": [
            {"device_name": "/dev/xvda", "ebs": {"volume_size": 4, "volume_type": "gp2"}},
            {"device_name": "/dev/sdf", "ebs": {"volume_size": 1, "delete_on_termination": false}},
            {"device_name": "/dev/sdb", "virtual_name": "ephemeral0"}]})),
    )
    .await;
    assert_eq!(status, 201, "{reservation}");
    let launched = &reservation["instances"][0];
    let id = launched["instance_id"].as_str().unwrap().to_string();
    assert_eq!(launched["root_device_name"], "/dev/xvda");
    let devices = launched["block_devices"].as_array().unwrap();
    assert_eq!(devices.len(), 2, "{launched}");
    let root_id = devices[1]["volume_id"].as_str().unwrap().to_string();
    let extra_id = devices[0]["volume_id"].as_str().unwrap().to_string();
    assert_eq!(devices[1]["device_name"], "/dev/xvda");
    assert_eq!(devices[1]["delete_on_termination"], true);
    assert_eq!(devices[0]["device_name"], "/dev/sdf");
    assert_eq!(devices[0]["delete_on_termination"], false);
    let (_, root) = volume(&cloud, &token, &root_id).await;
    assert_eq!(
        (&root["size_gib"], &root["volume_type"], &root["state"]),
        (&json!(4), &json!("gp2"), &json!("creating"))
    );
    let host_of = |v: &Value| v["host_id"].as_str().unwrap().to_string();
    let on = if host_of(launched) == first.host_id {
        &first
    } else {
        &second
    };
    let other = if on.host_id == first.host_id {
        &second
    } else {
        &first
    };

    // Not on the host until the root's replicas are ready; then with the root as boot.
    assert!(spec_of(&on.sync(Vec::new()).await, &id).is_none());
    replicas_ready(&cloud, &[root_id.clone(), extra_id.clone()]).await;
    let specs = on.sync(Vec::new()).await;
    let spec = spec_of(&specs, &id).unwrap().clone();
    let boot: Vec<_> = spec.volumes.iter().filter(|v| v.boot).collect();
    assert_eq!(boot.len(), 1);
    assert_eq!(boot[0].volume_id, root_id);
    assert_eq!(boot[0].replicas.len(), 2);
    let (_, root) = volume(&cloud, &token, &root_id).await;
    assert_eq!(root["state"], "in-use");

    on.observe(&spec, ObservedState::Running).await;
    let running = instance(&cloud, &token, &id).await;
    assert_eq!(running["state"], "running");
    assert!(
        running["block_devices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["status"] == "attached"),
        "{running}"
    );

    // Stop; the host goes disabled; the start places it on the other host.
    post(&cloud, &token, &format!("/v1/instances/{id}/stop")).await;
    let spec = spec_of(&on.sync(Vec::new()).await, &id).unwrap().clone();
    on.observe(&spec, ObservedState::Stopped).await;
    assert_eq!(instance(&cloud, &token, &id).await["state"], "stopped");
    post(&cloud, &op, &format!("/v1/hosts/{}/disable", on.host_id)).await;
    post(&cloud, &token, &format!("/v1/instances/{id}/start")).await;
    let moved = instance(&cloud, &token, &id).await;
    assert_eq!(host_of(&moved), other.host_id);
    assert_eq!(moved["state"], "pending");
    assert!(spec_of(&on.sync(Vec::new()).await, &id).is_none());
    let spec = spec_of(&other.sync(Vec::new()).await, &id).unwrap().clone();
    assert!(spec
        .volumes
        .iter()
        .any(|v| v.boot && v.volume_id == root_id));
    other.observe(&spec, ObservedState::Running).await;
    assert_eq!(instance(&cloud, &token, &id).await["state"], "running");

    // Stopped again; draining its host moves it back at once.
    post(&cloud, &op, &format!("/v1/hosts/{}/enable", on.host_id)).await;
    post(&cloud, &token, &format!("/v1/instances/{id}/stop")).await;
    let spec = spec_of(&other.sync(Vec::new()).await, &id).unwrap().clone();
    other.observe(&spec, ObservedState::Stopped).await;
    post(&cloud, &op, &format!("/v1/hosts/{}/drain", other.host_id)).await;
    let drained = instance(&cloud, &token, &id).await;
    assert_eq!(host_of(&drained), on.host_id);
    assert_eq!(drained["state"], "stopped");

    // Terminate: the root goes with it, the extra volume stays, available.
    let (status, body) = call(
        &cloud,
        reqwest::Method::DELETE,
        &format!("/v1/instances/{id}"),
        &token,
        None,
    )
    .await;
    assert!(status < 300, "{body}");
    if let Some(spec) = spec_of(&on.sync(Vec::new()).await, &id).cloned() {
        on.observe(&spec, ObservedState::Absent).await;
    }
    assert_eq!(instance(&cloud, &token, &id).await["state"], "terminated");
    let (_, root) = volume(&cloud, &token, &root_id).await;
    assert_eq!(root["state"], "deleting", "{root}");
    let (_, extra) = volume(&cloud, &token, &extra_id).await;
    assert_eq!(extra["state"], "available", "{extra}");
    assert_eq!(extra["attachment"], Value::Null);
}

/// No storage node in the zone: an image's root falls back to the host's copy of the image
/// (instance store, as before EBS roots); a mapped root cannot, and the launch is refused.
#[tokio::test]
async fn without_storage_nodes_the_image_root_stays_on_the_host() {
    let cloud = TestCloud::start().await;
    let op = cloud.operator_token().await;
    let (_, token) = tenant(&cloud, &op, "no-ebs-tenant").await;
    let host = Host::enrol(&cloud, "host-1").await;
    let dir = tempfile::tempdir().unwrap();
    let image_id = image(&cloud, dir.path()).await;

    let (status, reservation) = call(
        &cloud,
        reqwest::Method::POST,
        "/v1/instances",
        &token,
        Some(json!({"image_id": image_id})),
    )
    .await;
    assert_eq!(status, 201, "{reservation}");
    let launched = &reservation["instances"][0];
    assert_eq!(launched["root_device_name"], Value::Null);
    assert_eq!(launched["block_devices"], json!([]));
    let id = launched["instance_id"].as_str().unwrap();
    let spec = spec_of(&host.sync(Vec::new()).await, id).unwrap().clone();
    assert!(spec.volumes.is_empty());

    let (status, body) = call(
        &cloud,
        reqwest::Method::POST,
        "/v1/instances",
        &token,
        Some(json!({"image_id": image_id, "block_device_mappings": [
            {"device_name": "/dev/xvda", "ebs": {"volume_size": 8}}]})),
    )
    .await;
    assert!(status >= 500, "{status} {body}");
    assert!(body.to_string().contains("capacity"), "{body}");
}
