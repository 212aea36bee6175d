//! Snapshots of the replicas this node holds, and replicas restored from snapshots
//! (`kumo_storage_protocol::block::SnapshotTask`).
//!
//! Taking one: through the replica daemon's QMP, `blockdev-add` a raw file node and
//! `blockdev-backup sync=full` into it. The copy is the disk as it was when the job
//! started, even while a guest writes through the export (the job copies a block aside
//! before a write changes it). Then the copy is cut into 1 MiB chunks; chunks of zeros are
//! skipped, the others hashed (SHA-256) and posted to the control plane page by page: it
//! answers which it lacks, only those are uploaded. Progress is reported per page, then
//! `completed`, or `failed` with why.
//!
//! Restoring: a new replica whose source is a snapshot is written from the snapshot's
//! chunk list into a sparse raw file, converted to the replica's qcow2, and only then put
//! in place (so it is never exported half-filled).

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use kumo_agent_kit::error_chain;
use kumo_common::ids::SnapshotId;
use kumo_storage_protocol::block::{
    ChunkPage, MissingChunks, SnapshotChunkRef, SnapshotChunks, SnapshotProgress, SnapshotTask,
    SnapshotTaskState, SNAPSHOT_CHUNKS_PER_PAGE, SNAPSHOT_CHUNK_BYTES,
};
use kumo_storage_protocol::NODE_TOKEN_HEADER;
use serde_json::json;
use sha2::Digest;
use tokio::process::Command;

use super::daemon::DaemonPaths;
use super::image::{self, run};
use super::qmp::Qmp;
use super::spec::valid_volume_id;
use super::BlockConfig;

/// The replica's qcow2 node in its daemon (see `daemon.rs`).
const DISK_NODE: &str = "disk0";
const JOB_POLL: Duration = Duration::from_millis(50);
/// Chunk uploads at once (each is a round trip to the control plane and its replicas).
const UPLOADS_IN_FLIGHT: usize = 4;

/// The control plane's snapshot endpoints, with this node's token.
#[derive(Clone)]
pub struct ControlPlane {
    pub http: reqwest::Client,
    /// Base URL without a trailing slash.
    pub base: String,
    pub node_token: String,
}

async fn checked(response: reqwest::Response) -> Result<reqwest::Response, String> {
    let status = response.status();
    if status.is_success() {
        Ok(response)
    } else {
        let body = response.text().await.unwrap_or_default();
        Err(format!("control plane answered {status}: {body}"))
    }
}

impl ControlPlane {
    fn url(&self, snapshot_id: &str, rest: &str) -> String {
        format!(
            "{}/v1/storage-agent/snapshots/{snapshot_id}/{rest}",
            self.base
        )
    }

    async fn post_chunks(
        &self,
        snapshot_id: &str,
        page: &SnapshotChunks,
    ) -> Result<MissingChunks, String> {
        let response = self
            .http
            .post(self.url(snapshot_id, "chunks"))
            .header(NODE_TOKEN_HEADER, &self.node_token)
            .json(page)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        checked(response)
            .await?
            .json()
            .await
            .map_err(|e| error_chain(&e))
    }

    async fn put_chunk(
        &self,
        snapshot_id: &str,
        sha256: &str,
        data: Vec<u8>,
    ) -> Result<(), String> {
        let response = self
            .http
            .put(self.url(snapshot_id, &format!("chunks/{sha256}")))
            .header(NODE_TOKEN_HEADER, &self.node_token)
            .body(data)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        checked(response).await.map(drop)
    }

    async fn progress(&self, snapshot_id: &str, progress: &SnapshotProgress) -> Result<(), String> {
        let response = self
            .http
            .post(self.url(snapshot_id, "progress"))
            .header(NODE_TOKEN_HEADER, &self.node_token)
            .json(progress)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        checked(response).await.map(drop)
    }

    async fn chunk_page(&self, snapshot_id: &str, after: Option<u64>) -> Result<ChunkPage, String> {
        let mut request = self
            .http
            .get(self.url(snapshot_id, "chunks"))
            .header(NODE_TOKEN_HEADER, &self.node_token);
        if let Some(after) = after {
            request = request.query(&[("after", after)]);
        }
        let response = request.send().await.map_err(|e| error_chain(&e))?;
        checked(response)
            .await?
            .json()
            .await
            .map_err(|e| error_chain(&e))
    }

    async fn chunk(&self, snapshot_id: &str, sha256: &str) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(self.url(snapshot_id, &format!("chunks/{sha256}")))
            .header(NODE_TOKEN_HEADER, &self.node_token)
            .send()
            .await
            .map_err(|e| error_chain(&e))?;
        let bytes = checked(response)
            .await?
            .bytes()
            .await
            .map_err(|e| error_chain(&e))?;
        if hex::encode(sha2::Sha256::digest(&bytes)) != sha256 {
            return Err(format!("chunk {sha256} came back with other bytes"));
        }
        Ok(bytes.to_vec())
    }
}

/// Point-in-time copy of `volume_id`'s replica into a raw file at `target`, through its
/// daemon's QMP (`blockdev-backup sync=full`); returns once the copy is complete.
pub async fn backup(
    config: &BlockConfig,
    volume_id: &str,
    snapshot_id: &str,
    target: &Path,
) -> Result<(), String> {
    let paths = DaemonPaths::new(&config.dir, volume_id);
    let size = image::virtual_size(&config.qemu_img, &paths.image).await?;
    let _ = std::fs::remove_file(target);
    let file = std::fs::File::create(target).map_err(|e| format!("{}: {e}", target.display()))?;
    file.set_len(size)
        .map_err(|e| format!("{}: {e}", target.display()))?;
    drop(file);
    let node = format!("t-{snapshot_id}");
    let job = format!("b-{snapshot_id}");
    let mut qmp = Qmp::connect(&paths.qmp_socket).await?;
    let result = async {
        qmp.execute(
            "blockdev-add",
            json!({"driver": "raw", "node-name": node,
                   "file": {"driver": "file", "filename": target.to_string_lossy()}}),
        )
        .await?;
        qmp.execute(
            "blockdev-backup",
            json!({"job-id": job, "device": DISK_NODE, "target": node, "sync": "full",
                   "auto-dismiss": false}),
        )
        .await?;
        loop {
            let jobs = qmp.execute("query-jobs", json!({})).await?;
            let this = jobs
                .as_array()
                .and_then(|jobs| jobs.iter().find(|j| j["id"] == json!(job)))
                .cloned()
                .ok_or_else(|| format!("backup job {job} vanished"))?;
            if this["status"] == json!("concluded") {
                qmp.execute("job-dismiss", json!({"id": job})).await?;
                return match this.get("error").and_then(|e| e.as_str()) {
                    Some(error) => Err(format!("backup job failed: {error}")),
                    None => Ok(()),
                };
            }
            tokio::time::sleep(JOB_POLL).await;
        }
    }
    .await;
    if result.is_err() {
        let _ = qmp
            .execute("job-cancel", json!({"id": job, "force": true}))
            .await;
        let _ = qmp.execute("job-dismiss", json!({"id": job})).await;
    }
    let removed = qmp
        .execute("blockdev-del", json!({"node-name": node}))
        .await;
    result.and(removed.map(drop))
}

/// Chunks read, and uploaded (the others the control plane had already).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Uploaded {
    pub chunks: u64,
    pub uploaded: u64,
}

fn read_chunk(file: &std::fs::File, index: u64, size: u64) -> Result<Vec<u8>, String> {
    let offset = index * SNAPSHOT_CHUNK_BYTES;
    let len = SNAPSHOT_CHUNK_BYTES.min(size - offset) as usize;
    let mut data = vec![0u8; len];
    file.read_exact_at(&mut data, offset)
        .map_err(|e| format!("reading the copy at {offset}: {e}"))?;
    Ok(data)
}

/// Upload the raw copy at `path` as `snapshot_id`'s chunks: each page posted, its missing
/// chunks uploaded, the page posted again; progress reported per page.
pub async fn upload(
    control: &ControlPlane,
    snapshot_id: &str,
    path: &Path,
) -> Result<Uploaded, String> {
    let path = path.to_path_buf();
    let file = std::fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let size = file.metadata().map_err(|e| e.to_string())?.len();
    let count = size.div_ceil(SNAPSHOT_CHUNK_BYTES);
    let file = Arc::new(file);
    let mut stats = Uploaded::default();
    let mut index = 0;
    while index < count {
        // Hash up to a page of non-zero chunks (off the async threads).
        let (page, next) = {
            let file = file.clone();
            tokio::task::spawn_blocking(move || -> Result<_, String> {
                let mut page = Vec::new();
                let mut i = index;
                while i < count && page.len() < SNAPSHOT_CHUNKS_PER_PAGE {
                    let data = read_chunk(&file, i, size)?;
                    if data.iter().any(|b| *b != 0) {
                        page.push(SnapshotChunkRef {
                            index: i,
                            sha256: hex::encode(sha2::Sha256::digest(&data)),
                        });
                    }
                    i += 1;
                }
                Ok((page, i))
            })
            .await
            .map_err(|e| e.to_string())??
        };
        index = next;
        stats.chunks += page.len() as u64;
        let page = SnapshotChunks { chunks: page };
        let missing = control.post_chunks(snapshot_id, &page).await?.missing;
        if !missing.is_empty() {
            let first: HashMap<&str, u64> = page
                .chunks
                .iter()
                .rev()
                .map(|c| (c.sha256.as_str(), c.index))
                .collect();
            let mut uploads = Vec::with_capacity(missing.len());
            for sha256 in missing {
                let at = *first
                    .get(sha256.as_str())
                    .ok_or_else(|| format!("the control plane lacks {sha256}, not in the page"))?;
                let (file, control, snapshot_id) =
                    (file.clone(), control.clone(), snapshot_id.to_string());
                uploads.push(async move {
                    let data = read_chunk(&file, at, size)?;
                    control.put_chunk(&snapshot_id, &sha256, data).await
                });
            }
            let mut uploads = futures::stream::iter(uploads).buffer_unordered(UPLOADS_IN_FLIGHT);
            while let Some(done) = uploads.next().await {
                done?;
                stats.uploaded += 1;
            }
            let again = control.post_chunks(snapshot_id, &page).await?;
            if !again.missing.is_empty() {
                return Err(format!(
                    "{} chunks still missing after upload",
                    again.missing.len()
                ));
            }
        }
        let progress = SnapshotProgress {
            state: SnapshotTaskState::Pending,
            progress: u8::try_from(index * 99 / count.max(1)).unwrap_or(99).max(1),
            detail: None,
        };
        control.progress(snapshot_id, &progress).await?;
    }
    Ok(stats)
}

/// Take one snapshot: copy, upload, report; the copy is removed whatever happens.
pub async fn take(
    control: &ControlPlane,
    config: &BlockConfig,
    task: &SnapshotTask,
) -> Result<Uploaded, String> {
    let copy = config
        .dir
        .join(format!("{}.snapshot.raw", task.snapshot_id));
    let result = async {
        // Starting over: whatever an earlier attempt recorded is dropped.
        let start = SnapshotProgress {
            state: SnapshotTaskState::Pending,
            progress: 0,
            detail: None,
        };
        control.progress(&task.snapshot_id, &start).await?;
        backup(config, &task.volume_id, &task.snapshot_id, &copy).await?;
        upload(control, &task.snapshot_id, &copy).await
    }
    .await;
    let _ = std::fs::remove_file(&copy);
    let report = match &result {
        Ok(_) => SnapshotProgress {
            state: SnapshotTaskState::Completed,
            progress: 100,
            detail: None,
        },
        Err(why) => SnapshotProgress {
            state: SnapshotTaskState::Failed,
            progress: 0,
            detail: Some(why.clone()),
        },
    };
    control.progress(&task.snapshot_id, &report).await?;
    result
}

/// The snapshots being taken now, so a task listed again at the next poll is not started
/// twice.
#[derive(Clone, Default)]
pub struct SnapshotRunner {
    running: Arc<Mutex<HashSet<String>>>,
}

impl SnapshotRunner {
    /// Start every task not running yet whose replica this node holds.
    pub fn start(&self, control: &ControlPlane, config: &BlockConfig, tasks: &[SnapshotTask]) {
        for task in tasks {
            if SnapshotId::parse(&task.snapshot_id).is_err() || !valid_volume_id(&task.volume_id) {
                tracing::warn!(?task, "snapshot task refused: malformed ids");
                continue;
            }
            if !DaemonPaths::new(&config.dir, &task.volume_id)
                .qmp_socket
                .exists()
            {
                continue; // Not exported here (yet).
            }
            let Ok(mut running) = self.running.lock() else {
                return;
            };
            if !running.insert(task.snapshot_id.clone()) {
                continue;
            }
            drop(running);
            let (control, config, task, me) =
                (control.clone(), config.clone(), task.clone(), self.clone());
            tokio::spawn(async move {
                match take(&control, &config, &task).await {
                    Ok(stats) => {
                        tracing::info!(snapshot_id = %task.snapshot_id, volume_id = %task.volume_id, chunks = stats.chunks, uploaded = stats.uploaded, "snapshot taken")
                    }
                    Err(why) => {
                        tracing::warn!(snapshot_id = %task.snapshot_id, %why, "snapshot failed")
                    }
                }
                if let Ok(mut running) = me.running.lock() {
                    running.remove(&task.snapshot_id);
                }
            });
        }
    }
}

/// Write a new replica's qcow2 at `image_path` (`size_bytes`) from a snapshot's chunks:
/// a sparse raw file filled chunk by chunk, converted, then renamed into place.
pub async fn restore(
    control: &ControlPlane,
    qemu_img: &Path,
    snapshot_id: &str,
    image_path: &Path,
    size_bytes: u64,
) -> Result<u64, String> {
    let raw: PathBuf = image_path.with_extension("restore.raw");
    let tmp: PathBuf = image_path.with_extension("qcow2.tmp");
    let result = async {
        let file = std::fs::File::create(&raw).map_err(|e| format!("{}: {e}", raw.display()))?;
        file.set_len(size_bytes).map_err(|e| e.to_string())?;
        let mut after = None;
        let mut written = 0u64;
        loop {
            let page = control.chunk_page(snapshot_id, after).await?;
            for chunk in &page.chunks {
                let data = control.chunk(snapshot_id, &chunk.sha256).await?;
                let offset = chunk.index * SNAPSHOT_CHUNK_BYTES;
                if offset + data.len() as u64 > size_bytes {
                    return Err(format!("chunk {} lies past the volume's end", chunk.index));
                }
                file.write_all_at(&data, offset)
                    .map_err(|e| e.to_string())?;
                written += 1;
            }
            match page.next_after {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        file.sync_all().map_err(|e| e.to_string())?;
        let _ = std::fs::remove_file(&tmp);
        run(Command::new(qemu_img)
            .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
            .arg(&raw)
            .arg(&tmp))
        .await?;
        std::fs::rename(&tmp, image_path)
            .map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
        Ok(written)
    }
    .await;
    let _ = std::fs::remove_file(&raw);
    let _ = std::fs::remove_file(&tmp);
    result
}
