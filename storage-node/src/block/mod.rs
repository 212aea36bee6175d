//! The block role: the node holds volume replicas as qcow2 files and exports each over NBD
//! with TLS-PSK through its own `qemu-storage-daemon` (see
//! `kumo_storage_protocol::block`). [`BlockExports::converge`] makes the node match a
//! [`NodeVolumes`] and says what it holds; [`poll`] runs it against the control plane.
//!
//! On disk, under `<data-dir>/block/`:
//! - `<volume id>.qcow2`: the replica;
//! - `<volume id>.d/`: its daemon's `qsd.pid`, `qmp.sock`, the NBD `port` it keeps across
//!   restarts, and `tls/keys.psk` (`identity:hexkey`, mode 0600).

pub mod poll;
pub mod snapshot;
pub mod spec;

mod daemon;
mod image;
mod qmp;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::ops::RangeInclusive;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use kumo_agent_kit::process::{is_alive, PinnedProcess};
use kumo_common::fs::write_private;
use kumo_storage_protocol::block::{
    NodeVolumes, ReplicaDesired, ReplicaSource, ReplicaState, VolumeReplicaState, VolumeReport,
};

use crate::error::{Result, StorageNodeError};
use daemon::DaemonPaths;
use spec::{validate, ValidSpec};

/// Default NBD port range (`--nbd-ports`).
pub const DEFAULT_NBD_PORTS: RangeInclusive<u16> = 10809..=10999;

#[derive(Debug, Clone)]
pub struct BlockConfig {
    /// `<data-dir>/block`.
    pub dir: PathBuf,
    /// Where the NBD servers listen: the node's own address.
    pub nbd_host: IpAddr,
    pub nbd_ports: RangeInclusive<u16>,
    /// `qemu-storage-daemon` and `qemu-img` (found on PATH by default).
    pub storage_daemon: PathBuf,
    pub qemu_img: PathBuf,
}

impl BlockConfig {
    pub fn new(dir: impl Into<PathBuf>, nbd_host: IpAddr) -> Self {
        Self {
            dir: dir.into(),
            nbd_host,
            nbd_ports: DEFAULT_NBD_PORTS,
            storage_daemon: PathBuf::from(daemon::PROGRAM),
            qemu_img: PathBuf::from("qemu-img"),
        }
    }
}

/// Parse `--nbd-ports`: `FIRST-LAST` (or one port).
pub fn parse_port_range(text: &str) -> std::result::Result<RangeInclusive<u16>, String> {
    let (first, last) = text.split_once('-').unwrap_or((text, text));
    let port = |p: &str| {
        p.trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| format!("{text:?} is not a port range like 10809-10999"))
    };
    let (first, last) = (port(first)?, port(last)?);
    if first > last {
        return Err(format!("{text:?}: the first port is above the last"));
    }
    Ok(first..=last)
}

/// What the node knows of one replica between two converges.
#[derive(Debug, Clone, Copy)]
struct Served {
    process: PinnedProcess,
    port: u16,
    size_bytes: u64,
}

/// The node's block exports. One per node; not shared between tasks.
pub struct BlockExports {
    config: BlockConfig,
    served: HashMap<String, Served>,
    /// Where replicas restored from snapshots read their chunks (set by the poll loop).
    control: Option<snapshot::ControlPlane>,
}

impl BlockExports {
    /// Create the block directory (mode 0700). Paths with a comma are refused: QEMU's
    /// option syntax would split them.
    pub fn new(config: BlockConfig) -> Result<Self> {
        if config.dir.to_string_lossy().contains(',') {
            return Err(StorageNodeError::Config(format!(
                "the block directory {} contains a comma",
                config.dir.display()
            )));
        }
        private_dir(&config.dir)?;
        Ok(Self {
            config,
            served: HashMap::new(),
            control: None,
        })
    }

    /// Read snapshots' chunks from `control` (replicas whose source is a snapshot).
    pub fn set_control_plane(&mut self, control: snapshot::ControlPlane) {
        self.control = Some(control);
    }

    pub fn config(&self) -> &BlockConfig {
        &self.config
    }

    /// Make the node hold what `wanted` says, and report what it holds. Applying the
    /// same `wanted` again changes nothing (same daemons, same ports). Replicas it does
    /// not name are left alone. A spec with a malformed volume id is skipped (logged).
    pub async fn converge(&mut self, wanted: &NodeVolumes) -> VolumeReport {
        let mut volumes = Vec::new();
        for replica in &wanted.volumes {
            let spec = match validate(replica) {
                Ok(spec) => spec,
                Err(why) if spec::valid_volume_id(&replica.volume_id) => {
                    volumes.push(failed(&replica.volume_id, 0, why));
                    continue;
                }
                Err(why) => {
                    tracing::warn!(%why, "volume replica refused");
                    continue;
                }
            };
            let state = match spec.desired {
                ReplicaDesired::Present => self.present(&spec).await,
                ReplicaDesired::Absent => self.absent(&spec.volume_id).await,
            };
            volumes.push(state);
        }
        let free_bytes = filesystem_free(&self.config.dir).unwrap_or(0);
        VolumeReport {
            volumes,
            free_bytes,
        }
    }

    async fn present(&mut self, spec: &ValidSpec) -> VolumeReplicaState {
        match self.ensure_present(spec).await {
            Ok(served) => VolumeReplicaState {
                volume_id: spec.volume_id.clone(),
                state: ReplicaState::Ready,
                nbd_port: Some(served.port),
                size_bytes: served.size_bytes,
                detail: None,
            },
            Err(why) => {
                tracing::warn!(volume_id = %spec.volume_id, %why, "volume replica failed");
                let paths = DaemonPaths::new(&self.config.dir, &spec.volume_id);
                let size = image::virtual_size(&self.config.qemu_img, &paths.image)
                    .await
                    .unwrap_or(0);
                failed(&spec.volume_id, size, why)
            }
        }
    }

    async fn ensure_present(&mut self, spec: &ValidSpec) -> std::result::Result<Served, String> {
        let id = &spec.volume_id;
        let paths = DaemonPaths::new(&self.config.dir, id);
        let io = |what: &str, e: std::io::Error| format!("{what}: {e}");
        private_dir(&paths.run_dir).map_err(|e| io("run directory", e))?;
        private_dir(&paths.tls_dir).map_err(|e| io("key directory", e))?;
        // gnutls reads keys.psk at each handshake: a new key applies to new connections.
        let keys = format!("{}:{}\n", spec.psk_identity, spec.psk_key_hex);
        if std::fs::read(paths.tls_dir.join("keys.psk"))
            .ok()
            .as_deref()
            != Some(keys.as_bytes())
        {
            write_private(&paths.tls_dir.join("keys.psk"), keys.as_bytes())
                .map_err(|e| io("keys.psk", e))?;
        }
        if !paths.image.exists() {
            match (&spec.source, &self.control) {
                (Some(ReplicaSource::Snapshot { snapshot_id }), Some(control)) => {
                    let chunks = snapshot::restore(
                        control,
                        &self.config.qemu_img,
                        snapshot_id,
                        &paths.image,
                        spec.size_bytes,
                    )
                    .await?;
                    tracing::info!(volume_id = %id, %snapshot_id, chunks, "volume replica restored from a snapshot");
                }
                (Some(ReplicaSource::Snapshot { .. }), None) => {
                    return Err("no control plane to restore the snapshot from".into())
                }
                (
                    Some(ReplicaSource::Peer {
                        host,
                        nbd_port,
                        psk_identity,
                        psk_key_hex,
                    }),
                    _,
                ) => {
                    // The peer's key lives only for the copy, beside (not in) our own.
                    let key_dir = paths.run_dir.join("peer-tls");
                    private_dir(&key_dir).map_err(|e| io("peer key directory", e))?;
                    write_private(
                        &key_dir.join("keys.psk"),
                        format!("{psk_identity}:{psk_key_hex}\n").as_bytes(),
                    )
                    .map_err(|e| io("peer keys.psk", e))?;
                    let peer = image::PeerExport {
                        host,
                        nbd_port: *nbd_port,
                        volume_id: id,
                        key_dir: &key_dir,
                        psk_identity,
                    };
                    let copied = image::copy_from_peer(
                        &self.config.qemu_img,
                        &peer,
                        &paths.image,
                        spec.size_bytes,
                    )
                    .await;
                    let _ = std::fs::remove_dir_all(&key_dir);
                    copied?;
                    tracing::info!(volume_id = %id, %host, nbd_port, "volume replica copied from a peer's export");
                }
                (Some(ReplicaSource::Image { disk }), _) => {
                    let qemu_img = &self.config.qemu_img;
                    image::create_from(qemu_img, disk, &paths.image, spec.size_bytes).await?;
                    tracing::info!(volume_id = %id, disk = %disk.display(), size_bytes = spec.size_bytes, "volume replica created from an image disk");
                }
                _ => {
                    image::create(&self.config.qemu_img, &paths.image, spec.size_bytes).await?;
                    tracing::info!(volume_id = %id, size_bytes = spec.size_bytes, "volume replica created");
                }
            }
        }

        // Known and alive, or left running by a previous run of the agent (adopted).
        let recorded_port = read_port(&paths.port_file);
        let running = match self.served.remove(id) {
            Some(served) if is_alive(served.process) => Some(served),
            Some(served) => {
                tracing::warn!(volume_id = %id, pid = served.process.pid, "storage daemon died; restarting it");
                None
            }
            None => match (daemon::find(&paths), recorded_port) {
                (Some(process), Some(port)) => {
                    let size_bytes =
                        image::virtual_size(&self.config.qemu_img, &paths.image).await?;
                    tracing::info!(volume_id = %id, pid = process.pid, port, "storage daemon adopted");
                    Some(Served {
                        process,
                        port,
                        size_bytes,
                    })
                }
                // Running without a port record: it cannot be reported; start afresh.
                (Some(stray), None) => {
                    daemon::stop(stray).await?;
                    None
                }
                (None, _) => None,
            },
        };
        if let Some(mut served) = running {
            if spec.size_bytes > served.size_bytes {
                // Grown in place (the attached host's connection survives); a daemon
                // that cannot is restarted on the same port below.
                match daemon::grow_live(&paths, id, spec.size_bytes).await {
                    Ok(()) => {
                        served.size_bytes = spec.size_bytes;
                        tracing::info!(volume_id = %id, size_bytes = spec.size_bytes, "volume replica grown in place");
                    }
                    Err(e) => {
                        tracing::warn!(volume_id = %id, error = %e, "growing in place failed; restarting the daemon");
                        daemon::stop(served.process).await?;
                    }
                }
            }
            if spec.size_bytes <= served.size_bytes {
                self.served.insert(id.clone(), served);
                return Ok(served);
            }
        }
        let mut size = image::virtual_size(&self.config.qemu_img, &paths.image).await?;
        if spec.size_bytes > size {
            image::grow(&self.config.qemu_img, &paths.image, spec.size_bytes).await?;
            size = image::virtual_size(&self.config.qemu_img, &paths.image).await?;
            tracing::info!(volume_id = %id, size_bytes = size, "volume replica grown");
        }
        let port = match recorded_port {
            Some(port) if self.port_free(port) => port,
            _ => {
                let port = self.choose_port(id)?;
                write_private(&paths.port_file, port.to_string().as_bytes())
                    .map_err(|e| io("port record", e))?;
                port
            }
        };
        let process = daemon::start(
            &self.config.storage_daemon,
            &paths,
            id,
            self.config.nbd_host,
            port,
        )
        .await?;
        tracing::info!(volume_id = %id, pid = process.pid, port, "volume exported over NBD");
        let served = Served {
            process,
            port,
            size_bytes: size,
        };
        self.served.insert(id.clone(), served);
        Ok(served)
    }

    async fn absent(&mut self, volume_id: &str) -> VolumeReplicaState {
        let paths = DaemonPaths::new(&self.config.dir, volume_id);
        let removed = async {
            let known = self.served.remove(volume_id).map(|s| s.process);
            for process in known.into_iter().chain(daemon::find(&paths)) {
                daemon::stop(process).await?;
            }
            let existed = paths.image.exists() || paths.run_dir.exists();
            remove_if_present(&paths.image).map_err(|e| format!("removing the image: {e}"))?;
            match std::fs::remove_dir_all(&paths.run_dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("removing {}: {e}", paths.run_dir.display()))
                }
                _ => {}
            }
            if existed {
                tracing::info!(volume_id, "volume replica removed");
            }
            Ok::<_, String>(())
        }
        .await;
        match removed {
            Ok(()) => VolumeReplicaState {
                volume_id: volume_id.to_string(),
                state: ReplicaState::Absent,
                nbd_port: None,
                size_bytes: 0,
                detail: None,
            },
            Err(why) => failed(volume_id, 0, why),
        }
    }

    /// Nobody (us included) listens on `port` at the NBD address.
    fn port_free(&self, port: u16) -> bool {
        TcpListener::bind(SocketAddr::new(self.config.nbd_host, port)).is_ok()
    }

    /// A port of the range no other replica has recorded and nothing listens on. The
    /// search starts at a random place: nodes sharing a machine and its range (several
    /// in one `kumo up`, tests side by side) would otherwise all try the lowest free port
    /// at once, and all but one daemon would fail to bind it.
    fn choose_port(&self, volume_id: &str) -> std::result::Result<u16, String> {
        let taken = self.recorded_ports(volume_id);
        let ports: Vec<u16> = self.config.nbd_ports.clone().collect();
        let start = usize::from(rand::random::<u16>()) % ports.len().max(1);
        ports[start..]
            .iter()
            .chain(&ports[..start])
            .copied()
            .find(|port| !taken.contains(port) && self.port_free(*port))
            .ok_or_else(|| {
                format!(
                    "no free NBD port in {}-{}",
                    self.config.nbd_ports.start(),
                    self.config.nbd_ports.end()
                )
            })
    }

    /// Ports recorded by the other replicas in the block directory.
    fn recorded_ports(&self, except: &str) -> BTreeSet<u16> {
        let Ok(entries) = std::fs::read_dir(&self.config.dir) else {
            return BTreeSet::new();
        };
        entries
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                let id = name.strip_suffix(".d")?;
                (id != except)
                    .then(|| read_port(&DaemonPaths::new(&self.config.dir, id).port_file))?
            })
            .collect()
    }
}

fn failed(volume_id: &str, size_bytes: u64, detail: String) -> VolumeReplicaState {
    VolumeReplicaState {
        volume_id: volume_id.to_string(),
        state: ReplicaState::Failed,
        nbd_port: None,
        size_bytes,
        detail: Some(detail),
    }
}

fn read_port(path: &Path) -> Option<u16> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn remove_if_present(path: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Create `dir` (and parents) owner-only; an existing one is left as it is.
fn private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Bytes free for an unprivileged writer on the filesystem holding `path`.
pub fn filesystem_free(path: &Path) -> Result<u64> {
    let stat = crate::agent::statvfs(path)?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}
