//! Replica loss and rebuild under a running VM, for real: three `qemu-storage-daemon`
//! NBD+TLS-PSK exports on 127.0.0.1 stand for three storage nodes. A 1 GiB volume is
//! plugged over two of them; writes go through the VM's disk (HMP `qemu-io` on the
//! virtio-blk backend); one daemon is killed (host loss): the next write still succeeds,
//! the agent takes the failed replica out of the quorum and reports it `Failed`; a
//! replacement replica (the third daemon, `in_sync=false`) is rebuilt while writes
//! continue and joins (`InSync`); then the lost node returns (stale) and is rebuilt too.
//! All three qcow2 files are compared block by block (`qemu-img compare`). Prints the
//! rebuild time of the 1 GiB volume. Needs QEMU and the busybox VM image.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use kumo_compute_node::testing;
use kumo_compute_node::vm::{qmp, Accel, VmConfig, VmRuntime};
use kumo_compute_protocol::{
    InstanceSpec, ObservedVolume, ReplicaSyncState, VolumeAttachmentSpec, VolumeReplicaEndpoint,
};
use serde_json::json;

const GIB: u64 = 1 << 30;
const VOLUME: &str = "vol-0a1b2c3d4e5f60718";

fn image_dir() -> PathBuf {
    std::env::var_os("KUMO_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/kumo-images"))
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .unwrap();
    hex::encode(buf)
}

/// A storage node's replica: a qcow2 exported over NBD with TLS-PSK by its own daemon.
struct Node {
    image: PathBuf,
    tls: PathBuf,
    daemon: Option<Child>,
    endpoint: VolumeReplicaEndpoint,
}

impl Node {
    fn new(dir: &Path, n: usize, port: u16) -> Self {
        let image = dir.join(format!("replica{n}.qcow2"));
        let tls = dir.join(format!("tls{n}"));
        std::fs::create_dir_all(&tls).unwrap();
        let key = random_hex(32);
        std::fs::write(tls.join("keys.psk"), format!("{VOLUME}:{key}\n")).unwrap();
        let created = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&image)
            .arg(GIB.to_string())
            .status()
            .unwrap();
        assert!(created.success());
        let mut node = Node {
            image,
            tls,
            daemon: None,
            endpoint: VolumeReplicaEndpoint {
                host: "127.0.0.1".into(),
                nbd_port: port,
                psk_identity: VOLUME.into(),
                psk_key_hex: key,
                replica_id: format!("node-{n}"),
                in_sync: true,
            },
        };
        node.start();
        node
    }

    fn start(&mut self) {
        let port = self.endpoint.nbd_port;
        let daemon = Command::new("qemu-storage-daemon")
            .arg("--object")
            .arg(format!(
                "tls-creds-psk,id=tls0,endpoint=server,dir={}",
                self.tls.display()
            ))
            .arg("--nbd-server")
            .arg(format!(
                "addr.type=inet,addr.host=127.0.0.1,addr.port={port},tls-creds=tls0"
            ))
            .arg("--blockdev")
            .arg(format!(
                "driver=file,node-name=file0,filename={}",
                self.image.display()
            ))
            .arg("--blockdev")
            .arg("driver=qcow2,node-name=disk0,file=file0")
            .arg("--export")
            .arg(format!(
                "type=nbd,id=e0,node-name=disk0,name={VOLUME},writable=on"
            ))
            .spawn()
            .unwrap();
        self.daemon = Some(daemon);
        // Readiness, not speed: a loaded machine may take a while to start the daemon, but a
        // daemon that exited (say, its port was taken) fails at once with its status.
        let deadline = Instant::now() + Duration::from_secs(120);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = self.daemon.as_mut().unwrap().try_wait().unwrap() {
                panic!("the NBD server for port {port} exited: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "NBD server on {port} never listened"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Host loss: the daemon dies at once.
    fn kill(&mut self) {
        if let Some(mut daemon) = self.daemon.take() {
            let _ = daemon.kill();
            let _ = daemon.wait();
        }
    }

    fn replica(&self, in_sync: bool) -> VolumeReplicaEndpoint {
        VolumeReplicaEndpoint {
            in_sync,
            ..self.endpoint.clone()
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spec(id: &str, kernel: &Path, initramfs: &Path) -> InstanceSpec {
    testing::vm_spec(id, testing::vm_image(kernel, initramfs, None), 9)
}

/// A guest write through the VM's disk (the virtio-blk device's backend), as the guest's
/// own writes go; fails the test when QEMU reports an error.
async fn write(socket: &Path, pattern: u8, offset_mib: u64, len_mib: u64) {
    let line = format!(
        "qemu-io -d {VOLUME}/virtio-backend \"write -P {pattern} {offset_mib}M {len_mib}M\""
    );
    let out = qmp::execute_once(
        socket,
        "human-monitor-command",
        Some(json!({ "command-line": line })),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    // HMP's qemu-io prints its report on QEMU's stdout; only errors come back here. The
    // data is checked on the replicas at the end.
    let text = out.as_str().unwrap_or_default();
    assert!(!text.contains("rror"), "write failed: {text}");
}

/// The replica holds `pattern` over the range (read from its qcow2 while it is served).
fn holds(image: &Path, pattern: u8, offset_mib: u64, len_mib: u64) -> bool {
    let out = Command::new("qemu-io")
        .args(["-r", "-U", "-f", "qcow2", "-c"])
        .arg(format!("read -P {pattern} {offset_mib}M {len_mib}M"))
        .arg(image)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    out.status.success() && text.contains("read ") && !text.contains("verification failed")
}

fn states(observed: &[ObservedVolume]) -> Vec<(String, ReplicaSyncState)> {
    let mut states: Vec<_> = observed
        .iter()
        .flat_map(|v| v.replicas.iter())
        .map(|r| (r.replica_id.clone(), r.state))
        .collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    states
}

/// Converge until every replica of the spec is in sync; returns how long it took.
async fn converge_until_in_sync(
    rt: &VmRuntime,
    id: &str,
    volume: &VolumeAttachmentSpec,
) -> Duration {
    let started = Instant::now();
    let mut wanted: Vec<_> = volume
        .replicas
        .iter()
        .map(|r| (r.replica_id.clone(), ReplicaSyncState::InSync))
        .collect();
    wanted.sort_by(|a, b| a.0.cmp(&b.0));
    let plugged = [VOLUME.to_string()].into_iter().collect();
    let mut last_error = String::new();
    loop {
        if let Err(e) = rt.converge_volumes(id, std::slice::from_ref(volume)).await {
            if e.to_string() != last_error {
                last_error = e.to_string();
                eprintln!("converging: {last_error}");
            }
        }
        let observed = rt.observed_replicas(id, &plugged).await.unwrap();
        let mut now = states(&observed);
        now.retain(|(r, _)| wanted.iter().any(|(w, _)| w == r));
        if now == wanted {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "replicas never in sync: {observed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn compare(a: &Path, b: &Path) -> bool {
    let out = Command::new("qemu-img")
        .args(["compare", "-U", "-f", "qcow2", "-F", "qcow2"])
        .arg(a)
        .arg(b)
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    }
    out.status.success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_replica_is_taken_out_and_rebuilt_while_the_vm_writes() {
    let vm_dir = image_dir().join("vm");
    let (kernel, initramfs) = (vm_dir.join("vmlinuz"), vm_dir.join("initramfs.img"));
    assert!(
        kernel.is_file() && initramfs.is_file(),
        "VM image missing: run deploy/build-images.sh"
    );
    let dir = tempfile::tempdir().unwrap();
    let base = 20000 + (rand::random::<u16>() % 20000);
    let mut nodes: Vec<Node> = (0..3)
        .map(|n| Node::new(dir.path(), n, base + n as u16))
        .collect();

    let state = dir.path().join("vms");
    // QEMU daemonizes: a failed run must not leave the VM behind.
    let _cleanup = kumo_compute_node::testing::KillQemuOnDrop(state.clone());
    let mut config = VmConfig::new(&state);
    config.accel = Accel::Tcg;
    let rt = VmRuntime::new(config);
    let id = format!("i-{:017x}", rand::random::<u64>() >> 4);
    rt.start(&spec(&id, &kernel, &initramfs), None)
        .await
        .unwrap();
    let socket = rt.instance_dir(&id).join("qmp.sock");

    // Plugged over the two in-sync replicas; the third is not the volume's yet.
    let mut volume = VolumeAttachmentSpec {
        volume_id: VOLUME.into(),
        device: "/dev/sdf".into(),
        replicas: vec![nodes[0].replica(true), nodes[1].replica(true)],
        boot: false,
    };
    converge_until_in_sync(&rt, &id, &volume).await;
    for chunk in 0..4 {
        write(&socket, 0x10 + chunk as u8, chunk * 256, 256).await;
    }

    // Host loss: node 1 dies. The next write waits out the reconnect delay, then succeeds
    // on the other replica; the agent takes node 1 out and reports it failed.
    nodes[1].kill();
    let lost_at = Instant::now();
    write(&socket, 0x21, 1, 1).await;
    println!("write with one replica lost: {:?}", lost_at.elapsed());
    let plugged = [VOLUME.to_string()].into_iter().collect();
    let _ = rt
        .converge_volumes(&id, std::slice::from_ref(&volume))
        .await;
    let observed = rt.observed_replicas(&id, &plugged).await.unwrap();
    assert_eq!(
        states(&observed),
        vec![
            ("node-0".to_string(), ReplicaSyncState::InSync),
            ("node-1".to_string(), ReplicaSyncState::Failed),
        ]
    );
    write(&socket, 0x22, 2, 1).await;

    // A replacement (node 2, not in sync) is rebuilt while the guest writes, then joins.
    volume.replicas = vec![nodes[0].replica(true), nodes[2].replica(false)];
    let _ = rt
        .converge_volumes(&id, std::slice::from_ref(&volume))
        .await;
    write(&socket, 0x23, 3, 1).await;
    let took = converge_until_in_sync(&rt, &id, &volume).await;
    println!("rebuild of a 1 GiB volume (replacement replica): {took:?}");
    write(&socket, 0x24, 4, 1).await;

    // The lost node returns with its stale copy: rebuilt too (it is not trusted).
    nodes[1].start();
    volume.replicas = vec![
        nodes[0].replica(true),
        nodes[2].replica(true),
        nodes[1].replica(false),
    ];
    let took = converge_until_in_sync(&rt, &id, &volume).await;
    println!("rebuild of a 1 GiB volume (returned replica): {took:?}");
    write(&socket, 0x25, 5, 1).await;
    let observed = rt.observed_replicas(&id, &plugged).await.unwrap();
    assert_eq!(states(&observed).len(), 3, "{observed:?}");

    rt.stop(&id).await.unwrap();
    // Every acknowledged write reads back (the first MiB of each 256 MiB chunk but the
    // first, the small writes).
    for (pattern, offset, len) in [
        (0x10, 0, 1),
        (0x21, 1, 1),
        (0x22, 2, 1),
        (0x23, 3, 1),
        (0x24, 4, 1),
        (0x25, 5, 1),
        (0x10, 6, 250),
        (0x11, 256, 256),
        (0x12, 512, 256),
        (0x13, 768, 256),
    ] {
        assert!(
            holds(&nodes[0].image, pattern, offset, len),
            "{pattern:#x} at {offset} MiB lost"
        );
    }
    assert!(
        compare(&nodes[0].image, &nodes[2].image),
        "replacement differs"
    );
    assert!(
        compare(&nodes[0].image, &nodes[1].image),
        "returned replica differs"
    );
    rt.remove(&id).await.unwrap();
}
