//! Start-up and life of a storage node: open the store, bind, enrol once with the control
//! plane, then serve the chunk API and heartbeat until stopped.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use kumo_agent_kit::{error_chain, EnrolFailure};
use kumo_common::fs::write_private;
pub use kumo_common::host::hostname;
use kumo_storage_protocol::{
    EnrolRequest, EnrolResponse, HeartbeatRequest, HeartbeatResponse, NODE_TOKEN_HEADER,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::block::poll::{block_loop, BlockPoll};
use crate::block::{BlockConfig, BlockExports, DEFAULT_NBD_PORTS};
use crate::error::{Result, StorageNodeError};
use crate::server::{router, ChunkApi};
use crate::store::ChunkStore;

/// How long `shutdown` lets in-flight requests finish before abandoning them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
const ENROL_BACKOFF_START: Duration = Duration::from_millis(200);
const ENROL_BACKOFF_MAX: Duration = Duration::from_secs(10);
const CONTROL_PLANE_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Chunks, temporaries and the node credential live here.
    pub data_dir: PathBuf,
    /// Where the chunk API listens; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Base URL reported to the control plane; default `http://<listen ip>:<bound port>`.
    pub advertise: Option<String>,
    /// The control plane's base URL, e.g. `http://127.0.0.1:8780`.
    pub control_plane: String,
    /// Needed only for the first start (enrolment).
    pub join_token: Option<String>,
    pub name: String,
    pub zone: String,
    /// Capacity to report; default: the size of the filesystem holding `data_dir`.
    pub capacity_bytes: Option<u64>,
    /// Until the control plane asks for another interval.
    pub heartbeat_interval: Duration,
    /// TCP ports the block role's NBD exports may use (one per volume replica).
    pub nbd_ports: RangeInclusive<u16>,
    /// How often the block role fetches its volume replicas and converges.
    pub block_poll_interval: Duration,
}

impl NodeConfig {
    /// Defaults: listen on 127.0.0.1:8790, this machine's hostname, zone `us-east-1a`,
    /// heartbeat every 5 s.
    pub fn new(data_dir: impl Into<PathBuf>, control_plane: impl Into<String>) -> Self {
        Self {
            data_dir: data_dir.into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8790)),
            advertise: None,
            control_plane: control_plane.into(),
            join_token: None,
            name: hostname(),
            zone: "us-east-1a".into(),
            capacity_bytes: None,
            heartbeat_interval: Duration::from_secs(5),
            nbd_ports: DEFAULT_NBD_PORTS,
            block_poll_interval: Duration::from_secs(1),
        }
    }
}

/// `statvfs(2)` of the filesystem holding `path`.
pub(crate) fn statvfs(path: &Path) -> Result<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| StorageNodeError::Config(format!("{} contains a NUL", path.display())))?;
    // SAFETY: statvfs is plain old data, valid when zeroed; it is only read after the
    // call succeeded, and `c_path` outlives the call.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(stat)
}

/// Total size of the filesystem holding `path` (what the node offers by default).
pub fn filesystem_size(path: &Path) -> Result<u64> {
    let stat = statvfs(path)?;
    #[allow(clippy::unnecessary_cast)] // the field types differ between targets
    Ok(stat.f_blocks as u64 * stat.f_frsize as u64)
}

/// The IP the NBD exports listen on: the host of the advertised address when it is an IP,
/// else the listen address's.
fn nbd_host(address: &str, listen: SocketAddr) -> IpAddr {
    let authority = kumo_common::host::url_authority(address);
    authority
        .parse::<SocketAddr>()
        .map(|a| a.ip())
        .or_else(|_| authority.trim_matches(['[', ']']).parse::<IpAddr>())
        .unwrap_or(listen.ip())
}

/// The node credential, kept in `<data_dir>/node.json` (mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeCredential {
    node_id: String,
    node_token: String,
}

const CREDENTIAL_FILE: &str = "node.json";
const LOCK_FILE: &str = "node.lock";

fn load_credential(data_dir: &Path) -> Result<Option<NodeCredential>> {
    let path = data_dir.join(CREDENTIAL_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    // A damaged credential is not silently replaced: enrolling again would give the
    // control plane a second node for the same chunks.
    serde_json::from_str(&text).map(Some).map_err(|e| {
        StorageNodeError::Config(format!(
            "{} is unreadable ({e}); remove it to enrol again",
            path.display()
        ))
    })
}

/// Write `contents` to `path` atomically (temp file, fsync, rename, fsync dir), mode 0600.
/// One node per data directory: a second one would wipe the first's temporaries and
/// disagree with it about usage. The lock (flock) goes with the returned file.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File> {
    use std::os::unix::io::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(data_dir.join(LOCK_FILE))?;
    // SAFETY: flock on a descriptor we own and keep open.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        let error = std::io::Error::last_os_error();
        if error.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Err(StorageNodeError::Config(format!(
                "{} is in use by another storage node",
                data_dir.display()
            )));
        }
        return Err(error.into());
    }
    Ok(file)
}

/// An error with its causes ("error sending request: … : Connection refused").
fn trim_url(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

/// Entry point: `StorageNode::start(config)`.
pub struct StorageNode;

impl StorageNode {
    /// Open the store, bind the listener, enrol if `<data_dir>/node.json` is absent
    /// (retrying while the control plane is unreachable; a 4xx refusal is an error), then
    /// serve the chunk API and heartbeat in the background.
    pub async fn start(config: NodeConfig) -> Result<RunningNode> {
        std::fs::create_dir_all(&config.data_dir)?;
        let lock = lock_data_dir(&config.data_dir)?;
        let store = Arc::new(ChunkStore::open(&config.data_dir).await?);
        let capacity_bytes = match config.capacity_bytes {
            Some(bytes) => bytes,
            None => filesystem_size(&config.data_dir)?,
        };

        // Bind first: the address we report must be the one we serve (port 0 included).
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let address = match &config.advertise {
            Some(url) => trim_url(url),
            None => {
                if local_addr.ip().is_unspecified() {
                    tracing::warn!(
                        %local_addr,
                        "listening on an unspecified address: other hosts cannot use it; set --advertise"
                    );
                }
                format!("http://{local_addr}")
            }
        };

        let http = reqwest::Client::builder()
            .timeout(CONTROL_PLANE_TIMEOUT)
            .build()
            .map_err(|e| StorageNodeError::Internal(format!("HTTP client: {e}")))?;
        let control_plane = trim_url(&config.control_plane);
        let credential = match load_credential(&config.data_dir)? {
            Some(credential) => credential,
            None => enrol(&http, &control_plane, &config, &address, capacity_bytes).await?,
        };

        let mut block_config = BlockConfig::new(
            config.data_dir.join("block"),
            nbd_host(&address, local_addr),
        );
        block_config.nbd_ports = config.nbd_ports.clone();
        let block_exports = BlockExports::new(block_config)?;

        let (stop_tx, stop_rx) = watch::channel(false);
        let app = router(ChunkApi {
            store: store.clone(),
            node_id: credential.node_id.clone(),
            node_token: credential.node_token.clone(),
            capacity_bytes,
        });
        let mut server_stop = stop_rx.clone();
        let server = tokio::spawn(async move {
            let stopped = async move {
                // Also stops when the RunningNode is dropped (the sender goes away).
                let _ = server_stop.wait_for(|stop| *stop).await;
            };
            use axum::serve::ListenerExt;
            // Small chunk reads must not wait for the reader's delayed ACK.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stopped)
                .await
            {
                tracing::error!(error = %e, "chunk API server failed");
            }
        });
        let block = tokio::spawn(block_loop(BlockPoll {
            http: http.clone(),
            control_plane: control_plane.clone(),
            node_token: credential.node_token.clone(),
            interval: config.block_poll_interval,
            exports: block_exports,
            stop: stop_rx.clone(),
        }));
        let heartbeats = tokio::spawn(heartbeat_loop(Heartbeat {
            http,
            url: format!("{control_plane}/v1/storage-agent/heartbeat"),
            node_token: credential.node_token.clone(),
            address: address.clone(),
            capacity_bytes,
            interval: config.heartbeat_interval,
            store: store.clone(),
            stop: stop_rx,
        }));
        let usage = store.usage();
        tracing::info!(
            node_id = %credential.node_id,
            name = %config.name,
            %address,
            %local_addr,
            capacity_bytes,
            chunks = usage.chunks,
            used_bytes = usage.used_bytes,
            "storage node serving"
        );
        Ok(RunningNode {
            node_id: credential.node_id,
            node_token: credential.node_token,
            address,
            local_addr,
            store,
            stop: stop_tx,
            server,
            heartbeats,
            block,
            _lock: lock,
        })
    }
}

async fn enrol(
    http: &reqwest::Client,
    control_plane: &str,
    config: &NodeConfig,
    address: &str,
    capacity_bytes: u64,
) -> Result<NodeCredential> {
    let join_token = config
        .join_token
        .clone()
        .ok_or_else(|| StorageNodeError::Config(kumo_agent_kit::missing_join_token("node")))?;
    let request = EnrolRequest {
        join_token,
        name: config.name.clone(),
        zone: config.zone.clone(),
        address: address.to_string(),
        capacity_bytes,
    };
    let url = format!("{control_plane}/v1/storage-agent/enrol");
    let mut backoff = ENROL_BACKOFF_START;
    let mut attempt: u32 = 0;
    let enrolled: EnrolResponse = loop {
        attempt += 1;
        let failure = match kumo_agent_kit::enrol(http, &url, &request).await {
            Ok(enrolled) => break enrolled,
            // Refused (bad join token, …) or unreadable: retrying will not help.
            Err(e @ (EnrolFailure::Refused { .. } | EnrolFailure::Unreadable(_))) => {
                return Err(StorageNodeError::ControlPlane(e.to_string()));
            }
            Err(EnrolFailure::Unavailable(why)) => why,
        };
        tracing::warn!(
            control_plane,
            attempt,
            error = %failure,
            retry_in_ms = backoff.as_millis() as u64,
            "cannot enrol yet; retrying"
        );
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(ENROL_BACKOFF_MAX);
    };
    let credential = NodeCredential {
        node_id: enrolled.node_id,
        node_token: enrolled.node_token,
    };
    let text = serde_json::to_vec_pretty(&credential)
        .map_err(|e| StorageNodeError::Internal(e.to_string()))?;
    write_private(&config.data_dir.join(CREDENTIAL_FILE), &text)?;
    tracing::info!(node_id = %credential.node_id, name = %config.name, "enrolled with the control plane");
    Ok(credential)
}

struct Heartbeat {
    http: reqwest::Client,
    url: String,
    node_token: String,
    address: String,
    capacity_bytes: u64,
    interval: Duration,
    store: Arc<ChunkStore>,
    stop: watch::Receiver<bool>,
}

impl Heartbeat {
    async fn send(&self) -> Result<HeartbeatResponse> {
        let usage = self.store.usage();
        let request = HeartbeatRequest {
            address: self.address.clone(),
            capacity_bytes: self.capacity_bytes,
            used_bytes: usage.used_bytes,
            chunks: usage.chunks,
        };
        let response = self
            .http
            .post(&self.url)
            .header(NODE_TOKEN_HEADER, &self.node_token)
            .json(&request)
            .send()
            .await
            .map_err(|e| StorageNodeError::ControlPlane(error_chain(&e)))?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            return Err(StorageNodeError::ControlPlane(format!(
                "heartbeat answered {status}: {body}"
            )));
        }
        // An empty or unexpected body is not worth failing over: keep the interval.
        let text = response
            .text()
            .await
            .map_err(|e| StorageNodeError::ControlPlane(e.to_string()))?;
        Ok(serde_json::from_str(&text).unwrap_or_default())
    }
}

/// Heartbeat at once (the address may have changed since the last run), then every
/// interval, until told to stop. Failures are logged and retried at the next tick.
async fn heartbeat_loop(heartbeat: Heartbeat) {
    let mut interval = heartbeat.interval;
    let mut failing = false;
    loop {
        let stop = heartbeat.stop.clone();
        let sent = tokio::select! {
            sent = heartbeat.send() => sent,
            _ = stopped(stop) => return,
        };
        match sent {
            Ok(answer) => {
                if failing {
                    tracing::info!("heartbeats reach the control plane again");
                    failing = false;
                }
                if answer.interval_seconds > 0 {
                    let wanted = Duration::from_secs(answer.interval_seconds);
                    if wanted != interval {
                        tracing::info!(
                            seconds = answer.interval_seconds,
                            "heartbeat interval set by the control plane"
                        );
                        interval = wanted;
                    }
                }
            }
            Err(e) => {
                // Log the first failure loudly, then quietly until it recovers.
                if failing {
                    tracing::debug!(error = %e, "heartbeat failed; retrying");
                } else {
                    tracing::warn!(error = %e, "heartbeat failed; retrying");
                }
                failing = true;
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = stopped(heartbeat.stop.clone()) => return,
        }
    }
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    // A dropped sender (the RunningNode is gone) counts as stop.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// A started node. Dropping it also stops the server and the heartbeats (without waiting);
/// [`RunningNode::shutdown`] stops them and waits.
pub struct RunningNode {
    node_id: String,
    node_token: String,
    address: String,
    local_addr: SocketAddr,
    store: Arc<ChunkStore>,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    heartbeats: JoinHandle<()>,
    /// The block role's loop (its storage daemons outlive it).
    block: JoinHandle<()>,
    /// Held (flock) for as long as the node runs.
    _lock: std::fs::File,
}

impl RunningNode {
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The token the chunk API requires (header `x-kumo-storage-token`).
    pub fn node_token(&self) -> &str {
        &self.node_token
    }

    /// The chunk API's base URL, as reported to the control plane.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The socket address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the chunk named `hash` is kept on disk.
    pub fn chunk_path(&self, hash: &str) -> PathBuf {
        self.store.chunk_path(hash)
    }

    pub fn store(&self) -> &Arc<ChunkStore> {
        &self.store
    }

    /// Stop accepting connections and heartbeating at once; requests in flight get a few
    /// seconds to finish. When this returns the port is closed and no more heartbeats
    /// are sent.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let mut heartbeats = self.heartbeats;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut heartbeats)
            .await
            .is_err()
        {
            heartbeats.abort();
        }
        let mut block = self.block;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut block)
            .await
            .is_err()
        {
            block.abort();
        }
        let mut server = self.server;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut server)
            .await
            .is_err()
        {
            tracing::warn!("requests still in flight after the grace period; abandoning them");
            server.abort();
        }
        tracing::info!(node_id = %self.node_id, "storage node stopped");
    }

    /// Run until SIGTERM or SIGINT, then shut down.
    pub async fn run_until_signal(self) -> Result<()> {
        wait_for_signal().await?;
        tracing::info!("signal received; stopping");
        self.shutdown().await;
        Ok(())
    }
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
    Ok(())
}

/// Start a node and run it until SIGTERM or SIGINT (also while still enrolling).
pub async fn run(config: NodeConfig) -> Result<()> {
    let node = tokio::select! {
        node = StorageNode::start(config) => node?,
        signalled = wait_for_signal() => {
            signalled?;
            tracing::info!("signal received before the node started; stopping");
            return Ok(());
        }
    };
    node.run_until_signal().await
}
