#![allow(clippy::unwrap_used)]
//! EBS volumes in running containers end to end with boto3 against a real `kumo up` with
//! its compute agent and two storage nodes: `tests/block/containers.py` attaches a
//! 2-replica volume to a running busybox container (the agent's local
//! qemu-storage-daemon over both NBD replicas, FUSE export, loop, `/dev/sdf` in the
//! container), whose user data writes a 64 MiB pattern with dd and prints its checksum;
//! detaches it (the node goes, the container keeps running); attaches it to a second
//! container at `/dev/xvdg`, which reads the same checksum back. Force detach and tenant
//! isolation too. Prints AttachVolume → block device visible in the container. The same
//! across two compute hosts (`kumo up --no-agent --storage-nodes 3` and two `kumo agent`
//! children on a `Topology`): the writer on one host, the reader on the other.

mod kumo_up;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kumo_compute_node::container::{ContainerConfig, ContainerRuntime};
use kumo_compute_node::network::HostNetwork;
use kumo_compute_node::testing::Topology;
use kumo_up::KumoUp;
use serde_json::{json, Value};

#[test]
fn volumes_attach_to_running_containers() {
    let state = tempfile::Builder::new()
        .prefix("kumo-ctvol-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_compute_node=info,kumo_block_storage=info",
        &["--storage-nodes", "2"],
    );
    up.run_checks(
        state.path(),
        "block/containers.py",
        &[],
        None,
        "containers.py failed (see above)",
    );
}

/// One `kumo agent` child on a topology host; killed and its containers (with their
/// volumes) and namespaces removed when dropped.
struct HostAgent {
    dir: PathBuf,
    child: Child,
}

impl HostAgent {
    fn start(
        up: &KumoUp,
        state: &Path,
        topology: &Topology,
        join_token: &str,
        name: &str,
        n: u8,
    ) -> Self {
        let dir = state.join(format!("agent-h{n}"));
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .arg("agent")
            .args([
                "--control-plane",
                &up.endpoint,
                "--join-token",
                join_token,
                "--name",
                name,
            ])
            .arg("--state-dir")
            .arg(&dir)
            .args(["--vcpus", "8", "--memory-mib", "8192"])
            .args(topology.agent_args(n))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        HostAgent { dir, child }
    }

    fn host_id(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("node.json")).ok()?;
        let node: Value = serde_json::from_str(&text).ok()?;
        node["host_id"].as_str().map(str::to_owned)
    }
}

impl Drop for HostAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let containers = ContainerRuntime::new(ContainerConfig::new(self.dir.join("containers")));
        let ids = containers.known_instances().unwrap_or_default();
        let _ = std::thread::scope(|s| {
            s.spawn(|| {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    for id in &ids {
                        let _ = containers.remove(id).await;
                        let _ = Command::new("ip")
                            .args(["netns", "del", &HostNetwork::netns_name(id)])
                            .output();
                    }
                });
                Some(())
            })
            .join()
        });
    }
}

/// The operator's token (native login with the password kumo up wrote).
fn operator_token(endpoint: &str, state: &Path) -> String {
    let password = std::fs::read_to_string(state.join("operator-password")).unwrap();
    let body = json!({"account": "operator", "user_name": "operator", "password": password.trim()});
    let out = Command::new("curl")
        .args([
            "-s",
            "--fail-with-body",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
        ])
        .args(["-d", &body.to_string()])
        .arg(format!("{endpoint}/v1/login"))
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    answer["token"].as_str().unwrap().to_string()
}

#[test]
fn a_volume_moves_between_containers_on_two_hosts() {
    let prefix = format!("kv{:04x}", std::process::id() & 0xffff);
    let topology = Topology::create(&prefix, 2).unwrap();
    let state = tempfile::Builder::new()
        .prefix("kumo-ctvol2-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_and(
        state.path(),
        "warn,kumo_block_storage=info",
        &["--storage-nodes", "3"],
    );
    let operator = operator_token(&up.endpoint, state.path());
    let out = Command::new("curl")
        .args(["-s", "--fail-with-body", "-X", "POST"])
        .args(["-H", &format!("authorization: Bearer {operator}")])
        .arg(format!("{}/v1/join-tokens", up.endpoint))
        .output()
        .unwrap();
    let join: Value = serde_json::from_slice(&out.stdout).unwrap();
    let join_token = join["join_token"].as_str().unwrap();
    let names: Vec<String> = (1..=2).map(|n| format!("{prefix}-h{n}")).collect();
    let agents: Vec<HostAgent> = (1..=2u8)
        .map(|n| {
            HostAgent::start(
                &up,
                state.path(),
                &topology,
                join_token,
                &names[n as usize - 1],
                n,
            )
        })
        .collect();
    for agent in &agents {
        let deadline = Instant::now() + Duration::from_secs(60);
        let host_id = loop {
            if let Some(id) = agent.host_id() {
                break id;
            }
            assert!(Instant::now() < deadline, "an agent never enrolled");
            std::thread::sleep(Duration::from_millis(200));
        };
        topology.adopt_owner(&host_id);
    }
    let pids: Vec<String> = agents.iter().map(|a| a.child.id().to_string()).collect();
    let args: Vec<&OsStr> = names.iter().chain(&pids).map(OsStr::new).collect();
    up.run_checks(
        state.path(),
        "block/containers.py",
        &args,
        None,
        "containers.py across two hosts failed (see above)",
    );
    drop(agents);
}
