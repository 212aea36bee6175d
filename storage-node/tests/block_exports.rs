//! The block role against real `qemu-storage-daemon`s on 127.0.0.1: convergence driven
//! directly with hand-built `NodeVolumes`, `qemu-io`/`qemu-img` as NBD+TLS-PSK clients,
//! and the agent's loop against a stand-in control plane. Skipped (with a note) where
//! QEMU's tools are not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_storage_node::block::{BlockConfig, BlockExports};
use kumo_storage_node::{NodeConfig, StorageNode};
use kumo_storage_protocol::block::{
    ExportCredentials, NodeVolumes, ReplicaDesired, ReplicaSource, ReplicaState, VolumeReplicaSpec,
    VolumeReplicaState, VolumeReport,
};
use kumo_storage_protocol::NODE_TOKEN_HEADER;

const LOCALHOST: &str = "127.0.0.1";
const MIB: u64 = 1 << 20;

fn qemu_present() -> bool {
    let found = ["qemu-storage-daemon", "qemu-img", "qemu-io"]
        .iter()
        .all(|tool| Command::new(tool).arg("--version").output().is_ok());
    if !found {
        eprintln!("skipped: qemu-storage-daemon/qemu-img/qemu-io not installed");
    }
    found
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .unwrap();
    hex::encode(buf)
}

fn volume_id() -> String {
    format!("vol-{}", &random_hex(9)[..17])
}

fn replica(id: &str, size_bytes: u64, key: &str, desired: ReplicaDesired) -> VolumeReplicaSpec {
    VolumeReplicaSpec {
        volume_id: id.into(),
        size_bytes,
        desired,
        export: ExportCredentials {
            psk_identity: "host-a".into(),
            psk_key_hex: key.into(),
        },
        source: None,
    }
}

fn wanted(replicas: Vec<VolumeReplicaSpec>) -> NodeVolumes {
    NodeVolumes {
        volumes: replicas,
        snapshots: Vec::new(),
    }
}

/// A node's block directory with its own port range; kills its daemons when dropped (a
/// failed test must not leave exports running).
struct Node {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    ports: std::ops::RangeInclusive<u16>,
}

impl Node {
    fn new(first_port: u16) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("block");
        Self {
            _tmp: tmp,
            dir,
            ports: first_port..=first_port + 9,
        }
    }

    fn exports(&self) -> BlockExports {
        let mut config = BlockConfig::new(&self.dir, LOCALHOST.parse::<IpAddr>().unwrap());
        config.nbd_ports = self.ports.clone();
        BlockExports::new(config).unwrap()
    }

    fn pid(&self, id: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.dir.join(format!("{id}.d/qsd.pid"))).ok()?;
        let pid: u32 = text.trim().parse().ok()?;
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "));
        alive.then_some(pid)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(id) = name.strip_suffix(".d") {
                if let Some(pid) = self.pid(id) {
                    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                }
            }
        }
    }
}

fn ready(report: &VolumeReport, id: &str) -> VolumeReplicaState {
    let state = report
        .volumes
        .iter()
        .find(|v| v.volume_id == id)
        .unwrap()
        .clone();
    assert_eq!(state.state, ReplicaState::Ready, "{state:?}");
    state
}

/// A client's TLS-PSK key directory (`keys.psk` = `identity:key`).
fn client_keys(identity: &str, key: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keys.psk"), format!("{identity}:{key}\n")).unwrap();
    dir
}

/// `--object … --image-opts …` for an NBD client, with TLS when `keys` is given.
fn nbd_args(id: &str, port: u16, keys: Option<&Path>) -> Vec<String> {
    let mut args = Vec::new();
    let mut opts = format!("driver=nbd,host={LOCALHOST},port={port},export={id}");
    if let Some(dir) = keys {
        args.push("--object".into());
        args.push(format!(
            "tls-creds-psk,id=tls0,endpoint=client,username=host-a,dir={}",
            dir.display()
        ));
        opts.push_str(",tls-creds=tls0");
    }
    args.push("--image-opts".into());
    args.push(opts);
    args
}

/// Run `qemu-io` with commands; Ok(stdout) or Err(stderr+stdout).
fn qemu_io(id: &str, port: u16, keys: Option<&Path>, commands: &[&str]) -> Result<String, String> {
    let mut command = Command::new("timeout");
    command
        .args(["30", "qemu-io"])
        .args(nbd_args(id, port, keys));
    for c in commands {
        command.args(["-c", c]);
    }
    let out = command.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // qemu-io reports a failed `read -P` on stdout and may still exit 0.
    if out.status.success()
        && !text.contains("Pattern verification failed")
        && !text.contains("can't open")
    {
        Ok(text)
    } else {
        Err(text)
    }
}

fn remote_virtual_size(id: &str, port: u16, keys: &Path) -> u64 {
    let out = Command::new("qemu-img")
        .args(["info", "--output=json"])
        .args(nbd_args(id, port, Some(keys)))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    info["virtual-size"].as_u64().unwrap()
}

#[tokio::test]
async fn a_present_replica_is_served_only_to_its_key() {
    if !qemu_present() {
        return;
    }
    let node = Node::new(21000);
    let mut exports = node.exports();
    let (id, key) = (volume_id(), random_hex(32));
    let report = exports
        .converge(&wanted(vec![replica(
            &id,
            64 * MIB,
            &key,
            ReplicaDesired::Present,
        )]))
        .await;
    let state = ready(&report, &id);
    let port = state.nbd_port.unwrap();
    assert!(node.ports.contains(&port));
    assert_eq!(state.size_bytes, 64 * MIB);
    assert!(report.free_bytes > 0);
    assert!(node.dir.join(format!("{id}.qcow2")).is_file());
    let keys = node.dir.join(format!("{id}.d/tls/keys.psk"));
    assert_eq!(
        std::fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&node.dir).unwrap().permissions().mode() & 0o777,
        0o700
    );

    let right = client_keys("host-a", &key);
    qemu_io(&id, port, Some(right.path()), &["write -P 0x5a 1M 2M"]).unwrap();
    qemu_io(
        &id,
        port,
        Some(right.path()),
        &["read -P 0x5a 1M 2M", "read -P 0 0 1M"],
    )
    .unwrap();

    let no_tls = qemu_io(&id, port, None, &["read 0 4k"]).unwrap_err();
    assert!(no_tls.contains("TLS"), "{no_tls}");
    let wrong = client_keys("host-a", &random_hex(32));
    qemu_io(&id, port, Some(wrong.path()), &["read 0 4k"]).unwrap_err();
    let stranger = client_keys("host-b", &key);
    qemu_io(&id, port, Some(stranger.path()), &["read 0 4k"]).unwrap_err();

    // A new key (the volume attached elsewhere) applies to new connections.
    let new_key = random_hex(32);
    let report = exports
        .converge(&wanted(vec![replica(
            &id,
            64 * MIB,
            &new_key,
            ReplicaDesired::Present,
        )]))
        .await;
    assert_eq!(ready(&report, &id).nbd_port, Some(port));
    qemu_io(&id, port, Some(right.path()), &["read 0 4k"]).unwrap_err();
    let renewed = client_keys("host-a", &new_key);
    qemu_io(&id, port, Some(renewed.path()), &["read -P 0x5a 1M 2M"]).unwrap();
}

#[tokio::test]
async fn converging_again_changes_nothing_and_size_only_grows() {
    if !qemu_present() {
        return;
    }
    let node = Node::new(21010);
    let mut exports = node.exports();
    let (id, key) = (volume_id(), random_hex(32));
    let spec = |size| wanted(vec![replica(&id, size, &key, ReplicaDesired::Present)]);
    let first = ready(&exports.converge(&spec(32 * MIB)).await, &id);
    let pid = node.pid(&id).unwrap();
    let again = ready(&exports.converge(&spec(32 * MIB)).await, &id);
    assert_eq!(again, first);
    assert_eq!(node.pid(&id), Some(pid));

    let keys = client_keys("host-a", &key);
    let port = first.nbd_port.unwrap();
    qemu_io(&id, port, Some(keys.path()), &["write -P 0x11 0 1M"]).unwrap();
    let grown = ready(&exports.converge(&spec(96 * MIB)).await, &id);
    assert_eq!(grown.size_bytes, 96 * MIB);
    assert_eq!(grown.nbd_port, Some(port));
    assert_eq!(node.pid(&id), Some(pid), "grown in place, not restarted");
    assert_eq!(remote_virtual_size(&id, port, keys.path()), 96 * MIB);
    qemu_io(
        &id,
        port,
        Some(keys.path()),
        &["read -P 0x11 0 1M", "write -P 0x22 90M 1M"],
    )
    .unwrap();

    // Never shrunk: the report keeps the real size.
    let asked_smaller = ready(&exports.converge(&spec(16 * MIB)).await, &id);
    assert_eq!(asked_smaller.size_bytes, 96 * MIB);
    assert_eq!(remote_virtual_size(&id, port, keys.path()), 96 * MIB);
}

#[tokio::test]
async fn a_restarted_node_adopts_its_daemons_and_revives_dead_ones() {
    if !qemu_present() {
        return;
    }
    let node = Node::new(21020);
    let (id, key) = (volume_id(), random_hex(32));
    let spec = wanted(vec![replica(&id, 32 * MIB, &key, ReplicaDesired::Present)]);
    let first = ready(&node.exports().converge(&spec).await, &id);
    let pid = node.pid(&id).unwrap();
    let keys = client_keys("host-a", &key);
    let port = first.nbd_port.unwrap();
    qemu_io(&id, port, Some(keys.path()), &["write -P 0x33 4M 4M"]).unwrap();

    // A fresh converger (the agent restarted): same daemon, same port.
    let mut exports = node.exports();
    let adopted = ready(&exports.converge(&spec).await, &id);
    assert_eq!(adopted, first);
    assert_eq!(node.pid(&id), Some(pid));

    // Killed from outside: restarted on the same port, data intact.
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while node.pid(&id) == Some(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let revived = ready(&exports.converge(&spec).await, &id);
    assert_eq!(revived.nbd_port, Some(port));
    let new_pid = node.pid(&id).unwrap();
    assert_ne!(new_pid, pid);
    qemu_io(&id, port, Some(keys.path()), &["read -P 0x33 4M 4M"]).unwrap();
}

#[tokio::test]
async fn absent_removes_the_daemon_the_file_and_the_keys() {
    if !qemu_present() {
        return;
    }
    let node = Node::new(21030);
    let mut exports = node.exports();
    let (id, other, key) = (volume_id(), volume_id(), random_hex(32));
    let report = exports
        .converge(&wanted(vec![
            replica(&id, 16 * MIB, &key, ReplicaDesired::Present),
            replica(&other, 16 * MIB, &key, ReplicaDesired::Present),
        ]))
        .await;
    let port = ready(&report, &id).nbd_port.unwrap();
    assert_ne!(
        ready(&report, &other).nbd_port,
        Some(port),
        "one port per replica"
    );
    let pid = node.pid(&id).unwrap();

    let gone = wanted(vec![
        replica(&id, 16 * MIB, &key, ReplicaDesired::Absent),
        replica(&other, 16 * MIB, &key, ReplicaDesired::Present),
    ]);
    for _ in 0..2 {
        let report = exports.converge(&gone).await;
        let state = report.volumes.iter().find(|v| v.volume_id == id).unwrap();
        assert_eq!(state.state, ReplicaState::Absent, "{state:?}");
        ready(&report, &other);
    }
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || node.pid(&id).is_none());
    assert!(!node.dir.join(format!("{id}.qcow2")).exists());
    assert!(!node.dir.join(format!("{id}.d")).exists());
    let keys = client_keys("host-a", &key);
    qemu_io(&id, port, Some(keys.path()), &["read 0 4k"]).unwrap_err();

    // Never seen here: Absent at once.
    let never = volume_id();
    let report = exports
        .converge(&wanted(vec![replica(
            &never,
            16 * MIB,
            &key,
            ReplicaDesired::Absent,
        )]))
        .await;
    assert_eq!(report.volumes[0].state, ReplicaState::Absent);
}

#[tokio::test]
async fn malformed_specs_touch_nothing() {
    if !qemu_present() {
        return;
    }
    let node = Node::new(21040);
    let mut exports = node.exports();
    let (id, key) = (volume_id(), random_hex(32));
    let mut bad_identity = replica(&id, 16 * MIB, &key, ReplicaDesired::Present);
    bad_identity.export.psk_identity = "a,dir=/etc".into();
    let report = exports
        .converge(&wanted(vec![
            bad_identity,
            replica("../../etc", 16 * MIB, &key, ReplicaDesired::Present),
            replica(&volume_id(), 16 * MIB, "nothex", ReplicaDesired::Present),
            replica(&volume_id(), 1, &key, ReplicaDesired::Present),
        ]))
        .await;
    assert_eq!(report.volumes.len(), 3, "the bad id is skipped: {report:?}");
    for state in &report.volumes {
        assert_eq!(state.state, ReplicaState::Failed, "{state:?}");
        assert!(state.detail.is_some());
    }
    assert_eq!(std::fs::read_dir(&node.dir).unwrap().count(), 0);
}

/// A stand-in control plane: serves `NodeVolumes` (or 404 when `None`), records reports.
#[derive(Default)]
struct ControlPlane {
    volumes: Mutex<Option<NodeVolumes>>,
    reports: Mutex<Vec<VolumeReport>>,
}

const NODE_TOKEN: &str = "node-1:secret";

async fn volumes(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
) -> Result<Json<NodeVolumes>, StatusCode> {
    if headers.get(NODE_TOKEN_HEADER).and_then(|v| v.to_str().ok()) != Some(NODE_TOKEN) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    cp.volumes
        .lock()
        .unwrap()
        .clone()
        .map(Json)
        .ok_or(StatusCode::NOT_FOUND)
}

async fn report(
    State(cp): State<Arc<ControlPlane>>,
    headers: HeaderMap,
    Json(report): Json<VolumeReport>,
) -> StatusCode {
    if headers.get(NODE_TOKEN_HEADER).and_then(|v| v.to_str().ok()) != Some(NODE_TOKEN) {
        return StatusCode::UNAUTHORIZED;
    }
    cp.reports.lock().unwrap().push(report);
    StatusCode::NO_CONTENT
}

#[tokio::test]
async fn the_agent_polls_converges_and_reports() {
    if !qemu_present() {
        return;
    }
    let cp = Arc::new(ControlPlane::default());
    let app = Router::new()
        .route("/v1/storage-agent/volumes", get(volumes))
        .route("/v1/storage-agent/volumes/report", post(report))
        .with_state(cp.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let node = Node::new(21050);
    let data_dir = node.dir.parent().unwrap().to_path_buf();
    // Already enrolled: no enrol endpoint needed (heartbeats get 404s, logged).
    std::fs::write(
        data_dir.join("node.json"),
        serde_json::json!({"node_id": "node-1", "node_token": NODE_TOKEN}).to_string(),
    )
    .unwrap();
    let mut config = NodeConfig::new(&data_dir, &url);
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.nbd_ports = node.ports.clone();
    config.block_poll_interval = Duration::from_millis(100);
    let running = StorageNode::start(config).await.unwrap();

    // No block endpoints yet (404): nothing reported, the chunk API still answers.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(cp.reports.lock().unwrap().is_empty());
    let status = reqwest::Client::new()
        .get(format!("{}/v1/status", running.address()))
        .header(NODE_TOKEN_HEADER, NODE_TOKEN)
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");

    let (id, key) = (volume_id(), random_hex(32));
    *cp.volumes.lock().unwrap() = Some(wanted(vec![replica(
        &id,
        16 * MIB,
        &key,
        ReplicaDesired::Present,
    )]));
    let deadline = Instant::now() + Duration::from_secs(30);
    let port = loop {
        let last = cp.reports.lock().unwrap().last().cloned();
        if let Some(state) = last.and_then(|r| r.volumes.into_iter().find(|v| v.volume_id == id)) {
            if state.state == ReplicaState::Ready {
                break state.nbd_port.unwrap();
            }
        }
        assert!(Instant::now() < deadline, "no Ready report");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let keys = client_keys("host-a", &key);
    qemu_io(&id, port, Some(keys.path()), &["write -P 0x44 0 1M"]).unwrap();

    // The agent stops; the export stays served.
    running.shutdown().await;
    qemu_io(&id, port, Some(keys.path()), &["read -P 0x44 0 1M"]).unwrap();
}

/// `qemu-img bench` for one workload; MiB/s and IOPS from its "Run completed in" line.
fn bench(target: &[&str], write: bool, count: u64, size: u64, step: u64) -> (f64, f64) {
    let mut command = Command::new("qemu-img");
    command
        .arg("bench")
        .args(["-c", &count.to_string(), "-d", "16"]);
    command.args(["-s", &size.to_string(), "-S", &step.to_string()]);
    if write {
        command.arg("-w");
    }
    let out = command.args(target).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seconds: f64 = text
        .split("Run completed in ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let iops = count as f64 / seconds;
    (iops, iops * size as f64 / MIB as f64)
}

/// The benchmark, first half: 4 KiB scattered I/O and 1 MiB sequential I/O
/// through one NBD+TLS export, through the attach path a compute host builds (a quorum,
/// read-pattern fifo, over two replicas' NBD+TLS exports on two nodes: every write goes to
/// both), and on a local qcow2 file. Printed, not asserted. `qemu-img bench` takes no
/// `--object` (no TLS credentials), so the remote sides go through a client
/// `qemu-storage-daemon` that opens the exports with TLS-PSK and re-exports them on a
/// local Unix socket (one more, cheap, hop); and it has no random mode, so "random" 4 KiB
/// is a 1 MiB + 4 KiB stride across 1 GiB.
#[tokio::test]
async fn benchmark_nbd_tls_export_against_a_local_file() {
    if !qemu_present() {
        return;
    }
    let nodes = [Node::new(21060), Node::new(21080)];
    let (id, size) = (volume_id(), 1u64 << 30);
    let client = tempfile::tempdir().unwrap();
    // The single-export row uses a second volume on the first node (the quorum's
    // children are not exported on their own at the same time).
    let (single_id, single_key) = (volume_id(), random_hex(32));
    let mut blockdevs = Vec::new();
    let mut key_dirs = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let key = random_hex(32);
        let mut replicas = vec![replica(&id, size, &key, ReplicaDesired::Present)];
        if i == 0 {
            replicas.push(replica(
                &single_id,
                size,
                &single_key,
                ReplicaDesired::Present,
            ));
        }
        let report = node.exports().converge(&wanted(replicas)).await;
        let mut served = vec![(format!("r{i}"), id.clone(), key)];
        if i == 0 {
            served.push(("single".into(), single_id.clone(), single_key.clone()));
        }
        for (node_name, volume, key) in served {
            let port = ready(&report, &volume).nbd_port.unwrap();
            let keys = client_keys("host-a", &key);
            blockdevs.push(format!(
                "--object=tls-creds-psk,id=tls-{node_name},endpoint=client,username=host-a,dir={}",
                keys.path().display()
            ));
            blockdevs.push(format!(
                "--blockdev=driver=nbd,node-name={node_name},server.type=inet,server.host={LOCALHOST},server.port={port},export={volume},tls-creds=tls-{node_name}"
            ));
            key_dirs.push(keys);
        }
    }
    // The attach path: the quorum the compute agent puts over a volume's replicas.
    blockdevs.push(
        "--blockdev=driver=quorum,node-name=q,vote-threshold=1,read-pattern=fifo,children.0=r0,children.1=r1"
            .into(),
    );
    let socket = client.path().join("nbd.sock");
    let pidfile = client.path().join("client.pid");
    let started = Command::new("qemu-storage-daemon")
        .arg("--daemonize")
        .arg("--pidfile")
        .arg(&pidfile)
        .args(&blockdevs)
        .arg("--nbd-server")
        .arg(format!("addr.type=unix,addr.path={}", socket.display()))
        .args([
            "--export",
            "type=nbd,id=e0,node-name=single,name=single,writable=on",
        ])
        .args([
            "--export",
            "type=nbd,id=e1,node-name=q,name=quorum,writable=on",
        ])
        .status()
        .unwrap();
    assert!(started.success());
    let client_pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let single = format!("nbd+unix:///single?socket={}", socket.display());
    let quorum = format!("nbd+unix:///quorum?socket={}", socket.display());
    let local_file = client.path().join("local.qcow2");
    let created = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&local_file)
        .arg(size.to_string())
        .status()
        .unwrap();
    assert!(created.success());
    let local_path = local_file.to_string_lossy().into_owned();
    let targets: [(&str, Vec<&str>); 3] = [
        ("NBD+TLS export", vec!["-f", "raw", &single]),
        ("quorum 2xNBD+TLS", vec!["-f", "raw", &quorum]),
        (
            "local qcow2",
            vec!["-f", "qcow2", "-t", "none", "-n", &local_path],
        ),
    ];
    let scattered = MIB + 4096;
    let mut rows = Vec::new();
    for (name, target) in &targets {
        // Writes first: reads of never-written clusters would not touch the disk.
        let rand_w = bench(target, true, 10_000, 4096, scattered).0;
        let rand_r = bench(target, false, 10_000, 4096, scattered).0;
        let seq_w = bench(target, true, 512, MIB, MIB).1;
        let seq_r = bench(target, false, 512, MIB, MIB).1;
        rows.push((name, rand_r, rand_w, seq_r, seq_w));
    }
    unsafe { libc::kill(client_pid, libc::SIGTERM) };
    println!("block benchmark (qemu-img bench, depth 16, 1 GiB volume):");
    println!(
        "  {:<18} {:>12} {:>12} {:>14} {:>14}",
        "", "4K read IOPS", "4K write IOPS", "1M read MiB/s", "1M write MiB/s"
    );
    for (name, rr, rw, sr, sw) in &rows {
        println!("  {name:<18} {rr:>12.0} {rw:>12.0} {sr:>14.1} {sw:>14.1}");
    }
    let local = &rows[2];
    for remote in &rows[..2] {
        println!(
            "  ratio to local    {:>12.2} {:>12.2} {:>14.2} {:>14.2}   ({})",
            remote.1 / local.1,
            remote.2 / local.2,
            remote.3 / local.3,
            remote.4 / local.4,
            remote.0
        );
    }
}

/// An EBS root volume's replica: a full copy of an image's disk (here a qcow2 with a
/// pattern at 1 MiB), grown to the volume's size, zeros after the disk's end.
#[tokio::test]
async fn a_replica_from_an_image_disk_holds_the_disks_bytes() {
    if !qemu_present() {
        return;
    }
    let node = Node::new(21070);
    let images = tempfile::tempdir().unwrap();
    let disk = images.path().join("disk.qcow2");
    let made = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&disk)
        .arg("4M")
        .status()
        .unwrap();
    assert!(made.success());
    let written = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c", "write -P 0x5a 1M 1M"])
        .arg(&disk)
        .output()
        .unwrap();
    assert!(written.status.success());
    let id = volume_id();
    let key = random_hex(32);
    let mut spec = replica(&id, 8 * MIB, &key, ReplicaDesired::Present);
    spec.source = Some(ReplicaSource::Image { disk: disk.clone() });
    let mut exports = node.exports();
    let report = exports.converge(&wanted(vec![spec])).await;
    let port = ready(&report, &id).nbd_port.unwrap();
    let keys = client_keys("host-a", &key);
    qemu_io(
        &id,
        port,
        Some(keys.path()),
        &["read -P 0 0 1M", "read -P 0x5a 1M 1M", "read -P 0 2M 6M"],
    )
    .unwrap();
    assert_eq!(remote_virtual_size(&id, port, keys.path()), 8 * MIB);
    // A copy: the image's file can go, the replica stays whole.
    std::fs::remove_file(&disk).unwrap();
    qemu_io(&id, port, Some(keys.path()), &["read -P 0x5a 1M 1M"]).unwrap();
}

/// A replacement replica of a detached volume: the second node copies the first node's
/// replica over its NBD+TLS export (the peer's key), and exports the copy only once whole.
#[tokio::test]
async fn a_replica_copied_from_a_peers_export_holds_its_bytes() {
    if !qemu_present() {
        return;
    }
    let (first, second) = (Node::new(21120), Node::new(21130));
    let id = volume_id();
    let first_key = random_hex(32);
    let mut first_exports = first.exports();
    let spec = replica(&id, 8 * MIB, &first_key, ReplicaDesired::Present);
    let report = first_exports.converge(&wanted(vec![spec])).await;
    let first_port = ready(&report, &id).nbd_port.unwrap();
    let first_keys = client_keys("host-a", &first_key);
    qemu_io(
        &id,
        first_port,
        Some(first_keys.path()),
        &["write -P 0x3c 1M 2M", "write -P 0x71 7M 512k"],
    )
    .unwrap();

    // A wrong peer key: nothing is made, the replica is reported failed, no export.
    let second_key = random_hex(32);
    let mut copy = replica(&id, 8 * MIB, &second_key, ReplicaDesired::Present);
    let peer = |key: &str| ReplicaSource::Peer {
        host: LOCALHOST.into(),
        nbd_port: first_port,
        psk_identity: "host-a".into(),
        psk_key_hex: key.into(),
    };
    copy.source = Some(peer(&random_hex(32)));
    let mut second_exports = second.exports();
    let report = second_exports.converge(&wanted(vec![copy.clone()])).await;
    assert_eq!(report.volumes[0].state, ReplicaState::Failed, "{report:?}");
    assert!(!second.dir.join(format!("{id}.qcow2")).exists());
    assert!(!second.dir.join(format!("{id}.qcow2.tmp")).exists());

    copy.source = Some(peer(&first_key));
    let report = second_exports.converge(&wanted(vec![copy])).await;
    let second_port = ready(&report, &id).nbd_port.unwrap();
    assert_ne!(second_port, first_port);
    // The peer's key was only for the copy: it is not left on the node.
    assert!(!second.dir.join(format!("{id}.d/peer-tls")).exists());
    let second_keys = client_keys("host-a", &second_key);
    qemu_io(
        &id,
        second_port,
        Some(second_keys.path()),
        &[
            "read -P 0 0 1M",
            "read -P 0x3c 1M 2M",
            "read -P 0 3M 4M",
            "read -P 0x71 7M 512k",
            "read -P 0 7680k 512k",
        ],
    )
    .unwrap();
    // Its own export answers its own key only.
    assert!(qemu_io(&id, second_port, Some(first_keys.path()), &["read 0 4k"]).is_err());
    assert_eq!(
        remote_virtual_size(&id, second_port, second_keys.path()),
        8 * MIB
    );
}
