//! The agent loop: enrol once, then every second report capacity and observed states to
//! the control plane and converge the host to the specs it answers with. Actions on one
//! instance never overlap; slow ones (a VM's stop grace) run in their own tasks so the
//! loop keeps its heartbeat. Everything the agent must remember across a restart (its
//! node credential, the generation it acted on per instance) lives in its state dir.
//!
//! The VPC data plane (router namespaces, VXLANs, NAT, metadata listeners, DNS, security
//! groups) is a task of its own following the control plane's host network
//! ([`crate::vpc::poll`]). An instance's bridge goes when the last instance on it leaves
//! and its VPC is gone, and at start and stop the agent sweeps the bridges no instance
//! uses: running instances keep theirs across the agent's restarts.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use kumo_common::fs::write_private;
use kumo_common::host::hostname;
use kumo_compute_protocol::{
    ConsoleUpload, DesiredState, EnrolRequest, EnrolResponse, InstanceKind, InstanceSpec,
    ObservedInstance, ObservedState, SyncRequest, SyncResponse, NODE_TOKEN_HEADER,
};
use serde::{Deserialize, Serialize};

use crate::container::{ContainerConfig, ContainerRuntime};
use crate::dns::DnsServers;
use crate::error::{NodeError, Result};
use crate::metadata::MetadataService;
use crate::network::HostNetwork;
use crate::vm::{VmConfig, VmRuntime};
use crate::vpc::poll::NetworkSource;
use crate::vpc::{self, VpcPlumbing};

mod host_facts;
pub use host_facts::{capacity, network_report};

#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The control plane's base URL, e.g. `http://127.0.0.1:8780`.
    pub control_plane: String,
    /// Needed only for the first start (enrolment).
    pub join_token: Option<String>,
    pub name: String,
    pub zone: String,
    pub address: String,
    pub state_dir: PathBuf,
    /// `runc` (default) or `crun`.
    pub container_runtime: PathBuf,
    pub qemu: PathBuf,
    /// Report this capacity instead of the machine's (tests, benchmarks, reserving room).
    pub vcpus: Option<u32>,
    pub memory_mib: Option<u32>,
    pub sync_interval: Duration,
    pub stop_grace: Duration,
    /// Do the host networking (bridges, isolation rules, metadata listeners) inside this
    /// named network namespace instead of the current one (tests).
    pub host_netns: Option<String>,
    /// The VXLAN tunnel endpoint this host reports (`--vtep-address`).
    pub vtep_address: Option<std::net::Ipv4Addr>,
    /// The uplink interface this host reports (`--uplink`).
    pub uplink: Option<String>,
}

impl AgentConfig {
    pub fn new(control_plane: impl Into<String>, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            control_plane: control_plane.into(),
            join_token: None,
            name: hostname(),
            zone: "us-east-1a".into(),
            address: String::new(),
            state_dir: state_dir.into(),
            container_runtime: PathBuf::from("runc"),
            qemu: PathBuf::from("qemu-system-x86_64"),
            vcpus: None,
            memory_mib: None,
            sync_interval: Duration::from_secs(1),
            stop_grace: Duration::from_secs(10),
            host_netns: None,
            vtep_address: None,
            uplink: None,
        }
    }
}

/// The node credential, kept in `<state_dir>/node.json` (mode 0600).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct NodeCredential {
    host_id: String,
    node_token: String,
}

/// What the agent remembers about an instance it acted on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LocalInstance {
    kind: Option<InstanceKind>,
    /// The spec generation last acted on.
    generation: i64,
    reboot_count: i64,
    /// The generation at which the workload was last seen running: if it is then seen
    /// stopped without a new generation, it died on its own.
    running_generation: Option<i64>,
    /// Set once a death has been reported, so it is not restarted behind the user's back.
    died_generation: Option<i64>,
    /// The bridge of its subnet: kept while the instance is on this host.
    #[serde(default)]
    bridge: Option<String>,
    #[serde(skip)]
    console_len: u64,
}

struct Shared {
    config: AgentConfig,
    http: reqwest::Client,
    vms: Arc<VmRuntime>,
    containers: ContainerRuntime,
    network: HostNetwork,
    metadata: MetadataService,
    local: Mutex<BTreeMap<String, LocalInstance>>,
    in_flight: Mutex<HashSet<String>>,
    /// Rung when an action finishes, so its outcome is reported at once rather than at
    /// the next tick.
    wake: tokio::sync::Notify,
    /// The last error of an action, reported once as the observation's detail.
    last_error: Mutex<HashMap<String, String>>,
    /// Instances the control plane assigned in the last round: each is reported, even
    /// when nothing of it is left here (Absent is what completes a termination).
    assigned: Mutex<HashSet<String>>,
    /// Held while a bridge is made or given a port, and while one is checked for removal,
    /// so that a bridge is never removed between its creation and its first port.
    plumbing: Arc<tokio::sync::Mutex<()>>,
    /// The VPC data plane, converged by the network task.
    vpcs: Arc<VpcPlumbing>,
}

/// The agent. `run` loops until the future is dropped.
pub struct Agent {
    shared: Arc<Shared>,
    credential: NodeCredential,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means another task panicked mid-update; the data is still usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Agent {
    /// Load the node credential, or enrol with the join token.
    pub async fn start(config: AgentConfig) -> Result<Self> {
        std::fs::create_dir_all(&config.state_dir)?;
        // Tenants' root file systems are unpacked below it with their setuid bits: keep
        // every other host user out.
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&config.state_dir, std::fs::Permissions::from_mode(0o700))?;
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| NodeError::ControlPlane(e.to_string()))?;
        let vm_config = VmConfig {
            qemu: config.qemu.clone(),
            stop_grace: config.stop_grace,
            ..VmConfig::new(config.state_dir.join("vms"))
        };
        let container_config = ContainerConfig {
            runtime: config.container_runtime.clone(),
            ..ContainerConfig::new(config.state_dir.join("containers"))
        };
        let credential = match load_credential(&config.state_dir) {
            Some(c) => c,
            None => enrol(&http, &config).await?,
        };
        let (network, metadata) = match &config.host_netns {
            Some(ns) => (HostNetwork::in_netns(ns), MetadataService::in_netns(ns)),
            None => (HostNetwork::new(), MetadataService::new()),
        };
        let vms = Arc::new(VmRuntime::new(vm_config).in_netns(config.host_netns.as_deref()));
        let shared = Arc::new(Shared {
            vms: vms.clone(),
            containers: ContainerRuntime::new(container_config),
            network: network.clone().with_owner(&credential.host_id),
            metadata: metadata.clone(),
            local: Mutex::new(load_local(&config.state_dir)),
            in_flight: Mutex::new(HashSet::new()),
            wake: tokio::sync::Notify::new(),
            last_error: Mutex::new(HashMap::new()),
            assigned: Mutex::new(HashSet::new()),
            plumbing: Arc::new(tokio::sync::Mutex::new(())),
            vpcs: Arc::new(
                VpcPlumbing::new(network.clone(), &credential.host_id, metadata.clone())
                    .with_dns(DnsServers::new(config.state_dir.join("dns")))
                    .with_vms(vms),
            ),
            http,
            config,
        });
        tracing::info!(host_id = %credential.host_id, name = %shared.config.name, "compute agent started");
        let agent = Self { shared, credential };
        // What a previous run left behind and no instance uses (instances this host
        // still runs keep theirs: they are re-adopted).
        agent.sweep_unused_plumbing().await;
        Ok(agent)
    }

    /// Remove the host plumbing no instance of this agent uses: its `kb-*` bridges that
    /// have no port and belong to no instance it knows, their metadata listeners, and the
    /// isolation table once no bridge is left. Errors are logged, not returned.
    pub async fn sweep_unused_plumbing(&self) {
        let shared = &self.shared;
        let _plumbing = shared.plumbing.lock().await;
        let keep: HashSet<String> = lock(&shared.local)
            .values()
            .filter_map(|l| l.bridge.clone())
            .collect();
        match shared.network.sweep(&keep).await {
            Ok(removed) => {
                for bridge in removed {
                    shared.metadata.remove_listener(&bridge).await;
                    tracing::info!(%bridge, "removed a bridge no instance uses");
                }
            }
            Err(e) => tracing::warn!(error = %e, "sweeping unused host networking failed"),
        }
    }

    pub fn host_id(&self) -> &str {
        &self.credential.host_id
    }

    /// Sync forever. Control-plane outages are logged and retried; workloads keep running.
    pub async fn run(self) {
        self.run_until(std::future::pending()).await
    }

    /// Sync until `shutdown` resolves, then let the actions under way finish (a few
    /// seconds at most) and sweep the plumbing no instance uses. Workloads keep running.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(self.shared.config.sync_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round: u64 = 0;
        let mut failing = false;
        let network_task = tokio::spawn(vpc::poll::run(
            self.shared.vpcs.clone(),
            NetworkSource {
                http: self.shared.http.clone(),
                control_plane: self.shared.config.control_plane.clone(),
                node_token: self.credential.node_token.clone(),
            },
            self.shared.plumbing.clone(),
        ));
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tick.tick() => {}
                _ = self.shared.wake.notified() => {}
            }
            round += 1;
            tokio::select! {
                _ = &mut shutdown => break,
                result = self.sync_once(round.is_multiple_of(2)) => match result {
                    Ok(()) if failing => {
                        tracing::info!("sync reaches the control plane again");
                        failing = false;
                    }
                    Ok(()) => {}
                    // The first failure loudly, then quietly until it recovers.
                    Err(e) if failing => {
                        tracing::debug!(error = %e, "sync with the control plane failed; retrying")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "sync with the control plane failed; retrying");
                        failing = true;
                    }
                },
            }
        }
        network_task.abort();
        let _ = network_task.await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while !lock(&self.shared.in_flight).is_empty() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.sweep_unused_plumbing().await;
    }

    /// One round: observe, report, converge, and (every other round) upload consoles.
    pub async fn sync_once(&self, upload_consoles: bool) -> Result<()> {
        let shared = &self.shared;
        let observed = observe_all(shared).await;
        let request = SyncRequest {
            capacity: capacity(&shared.config),
            instances: observed,
            network: network_report(&shared.config),
        };
        let response: SyncResponse = shared
            .http
            .post(format!("{}/v1/agent/sync", shared.config.control_plane))
            .header(NODE_TOKEN_HEADER, &self.credential.node_token)
            .json(&request)
            .send()
            .await
            .map_err(|e| NodeError::ControlPlane(e.to_string()))?
            .error_for_status()
            .map_err(|e| NodeError::ControlPlane(e.to_string()))?
            .json()
            .await
            .map_err(|e| NodeError::ControlPlane(e.to_string()))?;

        let wanted: HashSet<String> = response
            .instances
            .iter()
            .map(|s| s.instance_id.clone())
            .collect();
        *lock(&shared.assigned) = wanted.clone();
        let known: Vec<String> = lock(&shared.local).keys().cloned().collect();
        let mut present: HashSet<String> = known.into_iter().collect();
        present.extend(shared.containers.known_instances().unwrap_or_default());
        present.extend(shared.vms.known_instances().unwrap_or_default());
        for spec in response.instances {
            // A termination whose removal already finished has nothing left to do: running
            // it again each round would keep it in flight and hide the Absent report that
            // completes the termination.
            if spec.desired == DesiredState::Terminated && !present.contains(&spec.instance_id) {
                continue;
            }
            converge(shared, spec);
        }
        // Whatever the control plane no longer knows is removed from the host.
        for id in present.into_iter().filter(|id| !wanted.contains(id)) {
            remove_orphan(shared, id);
        }
        if upload_consoles {
            self.upload_consoles(&wanted).await;
        }
        Ok(())
    }

    async fn upload_consoles(&self, ids: &HashSet<String>) {
        let shared = &self.shared;
        for id in ids {
            let kind = lock(&shared.local).get(id).and_then(|l| l.kind);
            let path = match kind {
                Some(InstanceKind::Vm) => shared.vms.console_path(id),
                Some(InstanceKind::Container) => shared.containers.console_path(id),
                None => continue,
            };
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let previous = lock(&shared.local)
                .get(id)
                .map(|l| l.console_len)
                .unwrap_or(0);
            if meta.len() == previous {
                continue;
            }
            let Ok(bytes) = read_tail(&path, 64 * 1024) else {
                continue;
            };
            let upload = ConsoleUpload {
                instance_id: id.clone(),
                output_base64: base64::engine::general_purpose::STANDARD.encode(&bytes),
            };
            let sent = shared
                .http
                .put(format!("{}/v1/agent/console", shared.config.control_plane))
                .header(NODE_TOKEN_HEADER, &self.credential.node_token)
                .json(&upload)
                .send()
                .await;
            if matches!(&sent, Ok(r) if r.status().is_success()) {
                if let Some(local) = lock(&shared.local).get_mut(id) {
                    local.console_len = meta.len();
                }
            }
        }
    }
}

fn read_tail(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut out = Vec::new();
    file.read_to_end(&mut out)?;
    Ok(out)
}

fn load_credential(state_dir: &Path) -> Option<NodeCredential> {
    let text = std::fs::read_to_string(state_dir.join("node.json")).ok()?;
    serde_json::from_str(&text).ok()
}

fn load_local(state_dir: &Path) -> BTreeMap<String, LocalInstance> {
    std::fs::read_to_string(state_dir.join("instances.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_local(shared: &Shared) {
    let text = {
        let local = lock(&shared.local);
        serde_json::to_string_pretty(&*local).unwrap_or_default()
    };
    if let Err(e) = write_private(
        &shared.config.state_dir.join("instances.json"),
        text.as_bytes(),
    ) {
        tracing::warn!(error = %e, "could not save the agent's instance state");
    }
}

async fn enrol(http: &reqwest::Client, config: &AgentConfig) -> Result<NodeCredential> {
    let join_token = config
        .join_token
        .clone()
        .ok_or_else(|| NodeError::ControlPlane(kumo_agent_kit::missing_join_token("host")))?;
    let request = EnrolRequest {
        join_token,
        name: config.name.clone(),
        zone: config.zone.clone(),
        address: config.address.clone(),
        capacity: capacity(config),
        network: network_report(config),
    };
    let url = format!("{}/v1/agent/enrol", config.control_plane);
    let enrolled: EnrolResponse = kumo_agent_kit::enrol(http, &url, &request)
        .await
        .map_err(|e| NodeError::ControlPlane(e.to_string()))?;
    let credential = NodeCredential {
        host_id: enrolled.host_id,
        node_token: enrolled.node_token,
    };
    write_private(
        &config.state_dir.join("node.json"),
        serde_json::to_string(&credential)
            .map_err(|e| NodeError::Other(e.to_string()))?
            .as_bytes(),
    )?;
    tracing::info!(host_id = %credential.host_id, "enrolled with the control plane");
    Ok(credential)
}

async fn observe_one(shared: &Shared, id: &str, kind: Option<InstanceKind>) -> ObservedState {
    let result = match kind {
        Some(InstanceKind::Vm) => shared.vms.observe(id).await,
        Some(InstanceKind::Container) => shared.containers.observe(id).await,
        None => match shared.vms.observe(id).await {
            Ok(ObservedState::Absent) => shared.containers.observe(id).await,
            other => other,
        },
    };
    result.unwrap_or_else(|e| {
        tracing::warn!(instance_id = %id, error = %e, "could not observe instance");
        ObservedState::Stopped
    })
}

async fn observe_all(shared: &Arc<Shared>) -> Vec<ObservedInstance> {
    let mut entries: BTreeMap<String, LocalInstance> = lock(&shared.local).clone();
    for id in lock(&shared.assigned).iter() {
        entries.entry(id.clone()).or_default();
    }
    let mut out = Vec::with_capacity(entries.len());
    for (id, local) in entries {
        let in_flight = lock(&shared.in_flight).contains(&id);
        let mut state = observe_one(shared, &id, local.kind).await;
        if in_flight && state != ObservedState::Running {
            state = ObservedState::Starting;
        }
        {
            let mut all = lock(&shared.local);
            if let Some(entry) = all.get_mut(&id) {
                if state == ObservedState::Running {
                    entry.running_generation = Some(entry.generation);
                }
            }
        }
        let volumes = plugged_volumes(shared, &id, local.kind, state).await;
        let volume_replicas = replica_states(shared, &id, local.kind, state, &volumes).await;
        let detail = lock(&shared.last_error).remove(&id);
        out.push(ObservedInstance {
            instance_id: id,
            state,
            detail,
            reboot_count: local.reboot_count,
            generation: local.generation,
            volumes,
            volume_replicas,
        });
    }
    out
}

/// The volumes a running VM or container has plugged (`None` when QEMU or the host does
/// not answer: the control plane then concludes nothing); an instance not running has none.
async fn plugged_volumes(
    shared: &Shared,
    id: &str,
    kind: Option<InstanceKind>,
    state: ObservedState,
) -> Option<Vec<String>> {
    let plugged = match (state, kind) {
        (ObservedState::Running, Some(InstanceKind::Vm)) => shared.vms.plugged_volumes(id).await,
        (ObservedState::Running, Some(InstanceKind::Container)) => {
            shared.containers.plugged_volumes(id).await
        }
        _ => return Some(Vec::new()),
    };
    match plugged {
        Ok(plugged) => Some(plugged.into_iter().collect()),
        Err(e) => {
            tracing::debug!(instance_id = %id, error = %e, "could not read the instance's volumes");
            None
        }
    }
}

/// The replicas of a running VM's plugged volumes as QEMU has them (`None`: not a running
/// VM, or QEMU did not answer).
async fn replica_states(
    shared: &Shared,
    id: &str,
    kind: Option<InstanceKind>,
    state: ObservedState,
    plugged: &Option<Vec<String>>,
) -> Option<Vec<kumo_compute_protocol::ObservedVolume>> {
    let (ObservedState::Running, Some(InstanceKind::Vm), Some(plugged)) = (state, kind, plugged)
    else {
        return None;
    };
    if plugged.is_empty() {
        return Some(Vec::new());
    }
    let plugged = plugged.iter().cloned().collect();
    match shared.vms.observed_replicas(id, &plugged).await {
        Ok(observed) => Some(observed),
        Err(e) => {
            tracing::debug!(instance_id = %id, error = %e, "could not read the volumes' replicas");
            None
        }
    }
}

/// Start the action `spec` needs, unless one is already running for this instance.
fn converge(shared: &Arc<Shared>, spec: InstanceSpec) {
    if !lock(&shared.in_flight).insert(spec.instance_id.clone()) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let id = spec.instance_id.clone();
        if let Err(e) = converge_one(&shared, &spec).await {
            tracing::warn!(instance_id = %id, error = %e, "converging instance failed");
            lock(&shared.last_error).insert(id.clone(), e.to_string());
        }
        lock(&shared.in_flight).remove(&id);
        shared.wake.notify_one();
    });
}

async fn converge_one(shared: &Arc<Shared>, spec: &InstanceSpec) -> Result<()> {
    let id = spec.instance_id.as_str();
    let previous = {
        let mut all = lock(&shared.local);
        let entry = all.entry(id.to_string()).or_default();
        entry.kind = Some(spec.kind);
        if spec.desired != DesiredState::Terminated {
            entry.bridge = Some(spec.network.bridge.clone());
        }
        entry.clone()
    };
    let current = observe_one(shared, id, Some(spec.kind)).await;
    match spec.desired {
        DesiredState::Running => {
            {
                // The VPC's bridge, for the instance's port; the network task gives it
                // its router (gateways, metadata listener) and tunnel.
                let _plumbing = shared.plumbing.lock().await;
                shared.network.ensure_bridge(&spec.network).await?;
            }
            shared
                .metadata
                .register(&spec.network.bridge, spec.metadata.clone());
            let died = current != ObservedState::Running
                && previous.generation == spec.generation
                && previous.running_generation == Some(spec.generation);
            if died || previous.died_generation == Some(spec.generation) {
                // Report the death; the control plane decides (stop, or terminate).
                if previous.died_generation != Some(spec.generation) {
                    tracing::warn!(instance_id = %id, "instance stopped on its own");
                    if let Some(e) = lock(&shared.local).get_mut(id) {
                        e.died_generation = Some(spec.generation);
                    }
                    save_local(shared);
                }
                return Ok(());
            }
            if current != ObservedState::Running {
                if let Err(e) = start(shared, spec).await {
                    // Do not retry forever: report the failure as this generation's outcome
                    // (the control plane shows it stopped, with the reason).
                    if let Some(entry) = lock(&shared.local).get_mut(id) {
                        entry.generation = spec.generation;
                        entry.reboot_count = spec.reboot_count;
                        entry.died_generation = Some(spec.generation);
                    }
                    save_local(shared);
                    return Err(e);
                }
            } else if spec.reboot_count > previous.reboot_count {
                match spec.kind {
                    InstanceKind::Vm => shared.vms.reboot(id).await?,
                    InstanceKind::Container => {
                        shared.containers.stop(id, shared.config.stop_grace).await?;
                        start(shared, spec).await?;
                    }
                }
                tracing::info!(instance_id = %id, "instance rebooted");
            }
            // Attached volumes, hot-plugged (again, after QEMU or the container restarted).
            let volumes = match spec.kind {
                InstanceKind::Vm => shared.vms.converge_volumes(id, &spec.volumes).await,
                InstanceKind::Container => {
                    shared.containers.converge_volumes(id, &spec.volumes).await
                }
            };
            if let Err(e) = volumes {
                tracing::warn!(instance_id = %id, error = %e, "converging volumes failed");
            }
        }
        DesiredState::Stopped => {
            if matches!(
                current,
                ObservedState::Running | ObservedState::Starting | ObservedState::Stopping
            ) {
                match spec.kind {
                    InstanceKind::Vm => shared.vms.stop(id).await?,
                    InstanceKind::Container => {
                        shared.containers.stop(id, shared.config.stop_grace).await?
                    }
                }
                tracing::info!(instance_id = %id, "instance stopped");
            }
        }
        DesiredState::Terminated => {
            let bridge = remove(shared, id, Some(spec.kind)).await?;
            shared
                .metadata
                .unregister(&spec.network.bridge, spec.network.ip);
            lock(&shared.local).remove(id);
            save_local(shared);
            let mut bridges = vec![spec.network.bridge.clone()];
            bridges.extend(bridge.into_iter().chain(previous.bridge));
            release_bridges(shared, bridges).await;
            return Ok(());
        }
    }
    if let Some(e) = lock(&shared.local).get_mut(id) {
        e.generation = spec.generation;
        e.reboot_count = spec.reboot_count;
    }
    save_local(shared);
    Ok(())
}

async fn start(shared: &Shared, spec: &InstanceSpec) -> Result<()> {
    let id = spec.instance_id.as_str();
    match spec.kind {
        InstanceKind::Container => {
            let netns = {
                let _plumbing = shared.plumbing.lock().await;
                shared.network.attach_container(id, &spec.network).await?
            };
            shared.containers.start(spec, &netns).await?;
        }
        InstanceKind::Vm => {
            let tap = {
                let _plumbing = shared.plumbing.lock().await;
                shared.network.attach_vm(id, &spec.network).await?
            };
            shared.vms.start(spec, Some(&tap)).await?;
        }
    }
    tracing::info!(instance_id = %id, kind = spec.kind.as_str(), ip = %spec.network.ip, "instance started");
    Ok(())
}

/// Remove an instance from the host: its workload, then its network attachment. Returns
/// the bridge it was attached to, if it still was.
async fn remove(shared: &Shared, id: &str, kind: Option<InstanceKind>) -> Result<Option<String>> {
    match kind {
        Some(InstanceKind::Vm) => shared.vms.remove(id).await?,
        Some(InstanceKind::Container) => shared.containers.remove(id).await?,
        None => {
            shared.vms.remove(id).await?;
            shared.containers.remove(id).await?;
        }
    }
    let bridge = shared.network.bridge_of(id).await;
    shared.network.detach(id).await?;
    tracing::info!(instance_id = %id, "instance removed from host");
    Ok(bridge)
}

/// After an instance left: remove each of `bridges` that no instance uses any more (no
/// instance this agent knows is on it, no port is left), with its metadata listener.
async fn release_bridges(shared: &Shared, mut bridges: Vec<String>) {
    bridges.sort();
    bridges.dedup();
    let _plumbing = shared.plumbing.lock().await;
    for bridge in bridges {
        let known = lock(&shared.local)
            .values()
            .any(|l| l.bridge.as_deref() == Some(bridge.as_str()));
        if known {
            continue;
        }
        match shared.network.remove_bridge_if_unused(&bridge).await {
            Ok(true) => {
                shared.metadata.remove_listener(&bridge).await;
                tracing::info!(%bridge, "removed the bridge: its last instance left");
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(%bridge, error = %e, "removing an unused bridge failed"),
        }
    }
}

fn remove_orphan(shared: &Arc<Shared>, id: String) {
    if !lock(&shared.in_flight).insert(id.clone()) {
        return;
    }
    let shared = shared.clone();
    tokio::spawn(async move {
        let (kind, known_bridge) = lock(&shared.local)
            .get(&id)
            .map(|l| (l.kind, l.bridge.clone()))
            .unwrap_or_default();
        match remove(&shared, &id, kind).await {
            Ok(bridge) => {
                lock(&shared.local).remove(&id);
                save_local(&shared);
                release_bridges(&shared, bridge.into_iter().chain(known_bridge).collect()).await;
            }
            Err(e) => {
                tracing::warn!(instance_id = %id, error = %e, "removing orphaned instance failed")
            }
        }
        lock(&shared.in_flight).remove(&id);
        shared.wake.notify_one();
    });
}
