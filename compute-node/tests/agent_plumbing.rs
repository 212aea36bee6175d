//! The agent removes a subnet's host plumbing (bridge, metadata listener, isolation
//! table) when the last instance on it leaves, and sweeps what no instance uses at start
//! and stop, never what a running instance uses nor another agent's bridges. Real runc
//! containers, real bridges and nftables inside a throw-away network namespace playing
//! the host; the control plane is a small stand-in speaking the agent protocol. Needs
//! root, runc, iproute2, nftables and busybox-static.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::{post, put};
use axum::{Json, Router};
use kumo_compute_node::agent::{Agent, AgentConfig};
use kumo_compute_node::network::HostNetwork;
use kumo_compute_node::testing::busybox_rootfs_tarball;
use kumo_compute_protocol::{
    DesiredState, EnrolResponse, ImageSource, InstanceKind, InstanceMetadata, InstanceSpec,
    NetworkAttachment, ObservedState, SyncRequest, SyncResponse,
};

const HOST_ID: &str = "h-plumbing-test";

/// Deletes a named network namespace when dropped (also when a test panics).
struct NetnsGuard(String);

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn attachment(bridge: &str, subnet: u8, host: u8) -> NetworkAttachment {
    NetworkAttachment {
        network_interface_id: String::new(),
        vpc_id: String::new(),
        subnet_id: format!("subnet-{subnet}"),
        bridge: bridge.to_string(),
        ip: Ipv4Addr::new(10, subnet, 0, host),
        prefix_len: 24,
        gateway: Ipv4Addr::new(10, subnet, 0, 1),
        mac: format!("02:00:0a:{subnet:02x}:00:{host:02x}"),
        dns_server: None,
        dns_domain: String::new(),
    }
}

fn spec(id: &str, rootfs: &Path, att: NetworkAttachment) -> InstanceSpec {
    InstanceSpec {
        instance_id: id.to_string(),
        account_id: "123456789012".into(),
        kind: InstanceKind::Container,
        desired: DesiredState::Running,
        generation: 1,
        reboot_count: 0,
        vcpus: 1,
        memory_mib: 128,
        image: ImageSource {
            image_id: "ami-busybox".into(),
            kind: InstanceKind::Container,
            kernel: None,
            initramfs: None,
            disk: None,
            rootfs: Some(rootfs.to_path_buf()),
        },
        volumes: Vec::new(),
        metadata: InstanceMetadata {
            instance_id: id.to_string(),
            instance_type: "c.small".into(),
            ami_id: "ami-busybox".into(),
            reservation_id: "r-0000000000000001".into(),
            account_id: "123456789012".into(),
            availability_zone: "kumo-1a".into(),
            region: "kumo-1".into(),
            local_ipv4: att.ip,
            mac: att.mac.clone(),
            hostname: id.to_string(),
            public_keys: vec![],
            user_data: None,
        },
        network: att,
    }
}

/// The control plane as the agent sees it: specs to hand out, observations received.
#[derive(Clone, Default)]
struct Plane {
    specs: Arc<Mutex<Vec<InstanceSpec>>>,
    observed: Arc<Mutex<HashMap<String, ObservedState>>>,
}

impl Plane {
    async fn serve(&self) -> String {
        let enrol = post(|| async {
            Json(EnrolResponse {
                host_id: HOST_ID.into(),
                node_token: "node-token".into(),
            })
        });
        let plane = self.clone();
        let sync = post(move |Json(req): Json<SyncRequest>| {
            let plane = plane.clone();
            async move {
                let mut observed = plane.observed.lock().unwrap();
                for o in req.instances {
                    observed.insert(o.instance_id, o.state);
                }
                Json(SyncResponse {
                    instances: plane.specs.lock().unwrap().clone(),
                })
            }
        });
        let app = Router::new()
            .route("/v1/agent/enrol", enrol)
            .route("/v1/agent/sync", sync)
            .route("/v1/agent/console", put(|| async { "" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        url
    }

    fn set(&self, id: &str, change: impl FnOnce(&mut InstanceSpec)) {
        let mut specs = self.specs.lock().unwrap();
        let s = specs.iter_mut().find(|s| s.instance_id == id).unwrap();
        change(s);
        s.generation += 1;
        self.observed.lock().unwrap().remove(id);
    }

    fn forget(&self, id: &str) {
        self.specs.lock().unwrap().retain(|s| s.instance_id != id);
        self.observed.lock().unwrap().remove(id);
    }

    async fn wait_state(&self, id: &str, state: ObservedState) {
        wait(&format!("{id} {state:?}"), || {
            self.observed.lock().unwrap().get(id) == Some(&state)
        })
        .await;
    }
}

/// Poll `ok` until it holds (at most 60 s).
async fn wait(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn link_exists(host_ns: &str, name: &str) -> bool {
    Command::new("ip")
        .args(["-n", host_ns, "link", "show", "dev", name])
        .output()
        .unwrap()
        .status
        .success()
}

fn table_exists(host_ns: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", host_ns, "nft", "list", "table", "inet", "kumo",
        ])
        .output()
        .unwrap()
        .status
        .success()
}

/// An agent running until the returned sender fires (or is dropped).
fn spawn_agent(
    agent: Agent,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(agent.run_until(async move {
        let _ = stopped.await;
    }));
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridges_go_with_their_last_instance_and_sweeps_spare_running_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let tar = busybox_rootfs_tarball(tmp.path()).unwrap();
    let state_dir = tmp.path().join("state");
    let host = NetnsGuard(format!("kumo-t-{:08x}", rand::random::<u32>()));
    assert!(Command::new("ip")
        .args(["netns", "add", &host.0])
        .status()
        .unwrap()
        .success());
    let ids: Vec<String> = (0..3)
        .map(|_| format!("i-f{:016x}", rand::random::<u64>()))
        .collect();
    let _containers = kumo_compute_node::testing::RemoveContainersOnDrop {
        root: state_dir.join("containers/runc"),
        ids: ids.clone(),
    };
    let (a1, a2, b1) = (&ids[0], &ids[1], &ids[2]);
    let (br_a, br_b) = ("kb-plumb0a", "kb-plumb0b");

    // Left over from an earlier run of this agent, with no instance: swept at start.
    // Another agent's empty bridge on the same machine: never touched.
    let ours = HostNetwork::in_netns(&host.0).with_owner(HOST_ID);
    let other = HostNetwork::in_netns(&host.0).with_owner("h-someone-else");
    ours.ensure_bridge(&attachment("kb-stray01", 43, 2))
        .await
        .unwrap();
    other
        .ensure_bridge(&attachment("kb-foreign1", 44, 2))
        .await
        .unwrap();
    assert!(link_exists(&host.0, "kb-stray01") && table_exists(&host.0));

    let plane = Plane::default();
    let url = plane.serve().await;
    let mut config = AgentConfig::new(&url, &state_dir);
    config.join_token = Some("join".into());
    config.host_netns = Some(host.0.clone());
    config.sync_interval = Duration::from_millis(200);
    config.stop_grace = Duration::from_secs(2);

    let agent = Agent::start(config.clone()).await.unwrap();
    assert_eq!(agent.host_id(), HOST_ID);
    assert!(
        !link_exists(&host.0, "kb-stray01"),
        "the start swept an unused bridge"
    );
    assert!(
        link_exists(&host.0, "kb-foreign1"),
        "another agent's bridge stays"
    );

    *plane.specs.lock().unwrap() = vec![
        spec(a1, &tar, attachment(br_a, 41, 2)),
        spec(a2, &tar, attachment(br_a, 41, 3)),
        spec(b1, &tar, attachment(br_b, 42, 2)),
    ];
    let (stop, task) = spawn_agent(agent);
    for id in [a1, a2, b1] {
        plane.wait_state(id, ObservedState::Running).await;
    }
    assert!(link_exists(&host.0, br_a) && link_exists(&host.0, br_b));

    // The last instance on br_b leaves: its bridge goes, br_a stays.
    plane.set(b1, |s| s.desired = DesiredState::Terminated);
    plane.wait_state(b1, ObservedState::Absent).await;
    wait("br_b removed", || !link_exists(&host.0, br_b)).await;
    println!("bridge {br_b} removed with its last instance");
    assert!(link_exists(&host.0, br_a));
    let rules = Command::new("ip")
        .args([
            "netns",
            "exec",
            &host.0,
            "nft",
            "list",
            "set",
            "inet",
            "kumo",
            "same_bridge",
        ])
        .output()
        .unwrap();
    let rules = String::from_utf8_lossy(&rules.stdout);
    assert!(!rules.contains(br_b) && rules.contains(br_a), "{rules}");

    // One of two instances on br_a leaves: br_a stays for the other.
    plane.set(a1, |s| s.desired = DesiredState::Terminated);
    plane.wait_state(a1, ObservedState::Absent).await;
    plane.forget(a1);
    plane.forget(b1);
    assert!(link_exists(&host.0, br_a));

    // The agent stops with a2 running: a2 keeps its bridge and keeps running.
    stop.send(()).unwrap();
    task.await.unwrap();
    assert!(
        link_exists(&host.0, br_a),
        "a running instance's bridge stays"
    );
    assert!(table_exists(&host.0));

    // A new start sweeps another stray bridge, re-adopts a2 and leaves its bridge alone.
    ours.ensure_bridge(&attachment("kb-stray02", 45, 2))
        .await
        .unwrap();
    let agent = Agent::start(config.clone()).await.unwrap();
    assert!(!link_exists(&host.0, "kb-stray02"));
    assert!(link_exists(&host.0, br_a));
    plane.observed.lock().unwrap().clear();
    let (stop, task) = spawn_agent(agent);
    plane.wait_state(a2, ObservedState::Running).await;
    assert!(link_exists(&host.0, br_a));

    // The control plane forgets a2 (an orphan): it is removed, and with it br_a. Once the
    // other agent's bridge is gone too, no `kb-*` bridge is left and the table goes.
    Command::new("ip")
        .args(["-n", &host.0, "link", "del", "kb-foreign1"])
        .output()
        .unwrap();
    plane.forget(a2);
    wait("br_a removed", || !link_exists(&host.0, br_a)).await;
    wait("isolation table removed", || !table_exists(&host.0)).await;
    assert!(!HostNetwork::netns_path(a2).exists());
    stop.send(()).unwrap();
    task.await.unwrap();
    let left = Command::new("ip")
        .args(["-n", &host.0, "-o", "link", "show"])
        .output()
        .unwrap();
    let left = String::from_utf8_lossy(&left.stdout);
    assert!(!left.contains("kb-") && !left.contains("kv"), "{left}");
    println!("nothing of Kumo left in the host namespace:\n{left}");
}
