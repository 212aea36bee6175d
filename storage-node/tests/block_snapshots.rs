//! Snapshots on the block role, against real `qemu-storage-daemon`s and a stand-in control
//! plane that keeps chunks in memory: a backup of a written export reproduces its bytes
//! (restored into a new replica, read back over NBD+TLS), zero chunks are not sent, equal
//! chunks are sent once, and a second snapshot after changing 1 MiB uploads one chunk.
//! Skipped (with a note) where QEMU's tools are not installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use kumo_storage_node::block::snapshot::{self, ControlPlane, Uploaded};
use kumo_storage_node::block::{BlockConfig, BlockExports};
use kumo_storage_protocol::block::{
    ChunkPage, ExportCredentials, MissingChunks, NodeVolumes, ReplicaDesired, ReplicaSource,
    ReplicaState, SnapshotChunkRef, SnapshotChunks, SnapshotProgress, SnapshotTask,
    SnapshotTaskState, VolumeReplicaSpec,
};
use sha2::Digest;

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

#[derive(Default)]
struct Chunks {
    store: HashMap<String, Vec<u8>>,
    snapshots: HashMap<String, BTreeMap<u64, String>>,
    progress: HashMap<String, SnapshotProgress>,
}

type Shared = Arc<Mutex<Chunks>>;

async fn post_chunks(
    State(state): State<Shared>,
    Path(snapshot_id): Path<String>,
    Json(page): Json<SnapshotChunks>,
) -> Json<MissingChunks> {
    let mut state = state.lock().unwrap();
    let mut missing = Vec::new();
    for chunk in page.chunks {
        if state.store.contains_key(&chunk.sha256) {
            let list = state.snapshots.entry(snapshot_id.clone()).or_default();
            list.insert(chunk.index, chunk.sha256);
        } else if !missing.contains(&chunk.sha256) {
            missing.push(chunk.sha256);
        }
    }
    Json(MissingChunks { missing })
}

async fn put_chunk(
    State(state): State<Shared>,
    Path((_, sha256)): Path<(String, String)>,
    data: Bytes,
) -> StatusCode {
    assert_eq!(hex::encode(sha2::Sha256::digest(&data)), sha256);
    state.lock().unwrap().store.insert(sha256, data.to_vec());
    StatusCode::NO_CONTENT
}

async fn post_progress(
    State(state): State<Shared>,
    Path(snapshot_id): Path<String>,
    Json(progress): Json<SnapshotProgress>,
) -> StatusCode {
    state.lock().unwrap().progress.insert(snapshot_id, progress);
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct After {
    after: Option<u64>,
}

async fn get_chunks(
    State(state): State<Shared>,
    Path(snapshot_id): Path<String>,
    Query(after): Query<After>,
) -> Json<ChunkPage> {
    let state = state.lock().unwrap();
    let chunks = state.snapshots[&snapshot_id]
        .iter()
        .filter(|(i, _)| after.after.is_none_or(|a| **i > a))
        .map(|(index, sha256)| SnapshotChunkRef {
            index: *index,
            sha256: sha256.clone(),
        })
        .collect();
    Json(ChunkPage {
        chunks,
        next_after: None,
    })
}

async fn get_chunk(
    State(state): State<Shared>,
    Path((_, sha256)): Path<(String, String)>,
) -> Vec<u8> {
    state.lock().unwrap().store[&sha256].clone()
}

async fn control_plane() -> (ControlPlane, Shared) {
    let state: Shared = Arc::default();
    let app = Router::new()
        .route(
            "/v1/storage-agent/snapshots/{snapshot_id}/chunks",
            post(post_chunks).get(get_chunks),
        )
        .route(
            "/v1/storage-agent/snapshots/{snapshot_id}/chunks/{sha256}",
            get(get_chunk).put(put_chunk),
        )
        .route(
            "/v1/storage-agent/snapshots/{snapshot_id}/progress",
            post(post_progress),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let control = ControlPlane {
        http: reqwest::Client::new(),
        base,
        node_token: "n1:secret".into(),
    };
    (control, state)
}

/// A block directory whose daemons are killed when it goes.
struct Node {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Drop for Node {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let pidfile = entry.path().join("qsd.pid");
            if let Ok(pid) = std::fs::read_to_string(pidfile) {
                if let Ok(pid) = pid.trim().parse::<i32>() {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

fn replica(id: &str, key: &str, source: Option<ReplicaSource>) -> VolumeReplicaSpec {
    VolumeReplicaSpec {
        volume_id: id.into(),
        size_bytes: 16 * MIB,
        desired: ReplicaDesired::Present,
        export: ExportCredentials {
            psk_identity: "host-a".into(),
            psk_key_hex: key.into(),
        },
        source,
    }
}

/// Run qemu-io commands against an export over NBD+TLS; panics when one fails.
fn qemu_io(id: &str, port: u16, key: &str, commands: &[&str]) {
    let keys = tempfile::tempdir().unwrap();
    std::fs::write(keys.path().join("keys.psk"), format!("host-a:{key}\n")).unwrap();
    let mut command = Command::new("timeout");
    command.args(["30", "qemu-io", "--object"]).arg(format!(
        "tls-creds-psk,id=tls0,endpoint=client,username=host-a,dir={}",
        keys.path().display()
    ));
    command.arg("--image-opts").arg(format!(
        "driver=nbd,host=127.0.0.1,port={port},export={id},tls-creds=tls0"
    ));
    for c in commands {
        command.args(["-c", c]);
    }
    let out = command.output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !text.contains("verification failed"),
        "{text}"
    );
}

async fn serve(exports: &mut BlockExports, spec: VolumeReplicaSpec) -> u16 {
    let report = exports
        .converge(&NodeVolumes {
            volumes: vec![spec],
            snapshots: Vec::new(),
        })
        .await;
    let state = &report.volumes[0];
    assert_eq!(state.state, ReplicaState::Ready, "{state:?}");
    state.nbd_port.unwrap()
}

#[tokio::test]
async fn a_snapshot_reproduces_the_export_and_the_next_uploads_only_changes() {
    if !qemu_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let node = Node {
        dir: tmp.path().join("block"),
        _tmp: tmp,
    };
    let mut config = BlockConfig::new(&node.dir, "127.0.0.1".parse::<IpAddr>().unwrap());
    config.nbd_ports = 21100..=21109;
    let mut exports = BlockExports::new(config.clone()).unwrap();
    let (control, chunks) = control_plane().await;
    exports.set_control_plane(control.clone());
    let (id, key) = (format!("vol-{}", &random_hex(9)[..17]), random_hex(32));
    let port = serve(&mut exports, replica(&id, &key, None)).await;
    // Two equal chunks (1–3 MiB), one other (8 MiB), a partial one (12 MiB + 4 KiB).
    qemu_io(
        &id,
        port,
        &key,
        &[
            "write -P 0x5a 1M 2M",
            "write -P 0x11 8M 1M",
            "write -P 0x33 12M 4k",
        ],
    );

    let first = SnapshotTask {
        snapshot_id: format!("snap-{}", &random_hex(9)[..17]),
        volume_id: id.clone(),
    };
    let started = std::time::Instant::now();
    let stats = snapshot::take(&control, &config, &first).await.unwrap();
    eprintln!("snapshot of a 16 MiB volume: {:?}", started.elapsed());
    assert_eq!(
        stats,
        Uploaded {
            chunks: 4,
            uploaded: 3
        }
    );
    {
        let state = chunks.lock().unwrap();
        assert_eq!(
            state.progress[&first.snapshot_id].state,
            SnapshotTaskState::Completed
        );
        let indexes: Vec<u64> = state.snapshots[&first.snapshot_id]
            .keys()
            .copied()
            .collect();
        assert_eq!(indexes, [1, 2, 8, 12]);
    }
    assert!(
        !node
            .dir
            .join(format!("{}.snapshot.raw", first.snapshot_id))
            .exists(),
        "the copy is removed"
    );

    // Change 1 MiB: the next snapshot uploads one chunk.
    qemu_io(&id, port, &key, &["write -P 0x77 8M 1M"]);
    let second = SnapshotTask {
        snapshot_id: format!("snap-{}", &random_hex(9)[..17]),
        volume_id: id.clone(),
    };
    let stats = snapshot::take(&control, &config, &second).await.unwrap();
    assert_eq!(
        stats,
        Uploaded {
            chunks: 4,
            uploaded: 1
        }
    );

    // The first snapshot restored into a new replica has its bytes (not the change).
    let restored = format!("vol-{}", &random_hex(9)[..17]);
    let source = ReplicaSource::Snapshot {
        snapshot_id: first.snapshot_id.clone(),
    };
    let port = serve(&mut exports, replica(&restored, &key, Some(source))).await;
    qemu_io(
        &restored,
        port,
        &key,
        &[
            "read -P 0 0 1M",
            "read -P 0x5a 1M 2M",
            "read -P 0 3M 5M",
            "read -P 0x11 8M 1M",
            "read -P 0x33 12M 4k",
            "read -P 0 12292k 4092k",
        ],
    );
}
