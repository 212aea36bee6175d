//! The replicas of a plugged volume: a failed one out of the quorum, a stale one rebuilt.
//!
//! A volume's disk stands on a `quorum` node `q-<vol>` (vote-threshold 1, reads from the
//! first child that answers) over one nbd child per in-sync replica. Each replica has a
//! slot `i` (its nodes and objects are `n<i>-<vol>`, `tls<i>-<vol>`), recorded in
//! `<instance dir>/volumes/<vol>/replicas.json` as the list of replica ids by slot.
//!
//! - **Failure.** QEMU tells which child a write failed on only by the asynchronous event
//!   `QUORUM_REPORT_BAD` (per-node block stats count nothing below a device). Each VM
//!   therefore has a second QMP monitor (`qev.sock`) that a task of the agent listens to;
//!   a child with a failed write or flush is taken out of the quorum at the next pass
//!   (`x-blockdev-change`, never the last child) and reported `Failed`. Events sent while
//!   the agent was down are lost: the control plane's own view (a node that stayed
//!   unhealthy gets its replicas replaced) is the backstop.
//! - **Rebuild.** A replica of the spec that is not in the quorum (new, returned,
//!   replacement, or one that was taken out) is rebuilt, one per volume at a time (QEMU
//!   mirrors only from a root node): its nbd node is added, then `blockdev-mirror
//!   sync=full copy-mode=write-blocking` from the quorum copies everything and, once
//!   READY, every guest write reaches it before it completes. Then the VM is paused (a
//!   few ms), the job cancelled (a cancelled READY mirror leaves the target identical),
//!   the target added to the quorum and the VM resumed; a job that ended with an error
//!   (its target died) is dropped and the rebuild starts over at a later pass.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use kumo_compute_protocol::{
    ObservedReplica, ObservedVolume, ReplicaSyncState, VolumeAttachmentSpec, VolumeReplicaEndpoint,
};
use serde_json::{json, Value};

use super::qmp::QmpClient;
use super::volumes::{tolerate_existing, tolerate_missing};
use super::{VmRuntime, QMP_TIMEOUT};
use crate::block_nodes::{
    check_replica, nbd_blockdev, quorum_node, replica_node, replica_slot, tls_creds, tls_object,
    write_psk, MAX_REPLICAS,
};
use crate::error::{NodeError, Result};

/// The VM's second QMP monitor, only listened to (events).
pub const EVENTS_SOCKET: &str = "qev.sock";

/// The replica ids by slot, in the volume's directory.
const SLOTS_FILE: &str = "replicas.json";

/// How long a cancelled READY mirror may take to conclude (the VM is paused meanwhile).
const CANCEL_WAIT: Duration = Duration::from_secs(10);

/// What the event listeners learnt: per instance, the nbd nodes a write failed on.
#[derive(Debug, Default)]
pub struct QuorumEvents {
    failed: Mutex<HashMap<String, BTreeSet<String>>>,
    listening: Mutex<HashSet<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl QuorumEvents {
    fn record(&self, instance_id: &str, event: &Value) {
        if event.get("event").and_then(Value::as_str) != Some("QUORUM_REPORT_BAD") {
            return;
        }
        let data = &event["data"];
        // A failed read is retried on the next child and leaves no child behind.
        if data.get("type").and_then(Value::as_str) == Some("read") {
            return;
        }
        if let Some(node) = data.get("node-name").and_then(Value::as_str) {
            tracing::warn!(instance = instance_id, node, %data, "a volume replica failed a write");
            lock(&self.failed)
                .entry(instance_id.to_string())
                .or_default()
                .insert(node.to_string());
        }
    }

    fn failed(&self, instance_id: &str) -> BTreeSet<String> {
        lock(&self.failed)
            .get(instance_id)
            .cloned()
            .unwrap_or_default()
    }

    fn forget(&self, instance_id: &str, node: &str) {
        if let Some(nodes) = lock(&self.failed).get_mut(instance_id) {
            nodes.remove(node);
        }
    }
}

/// The key of a replica in the slots file: its id (a control plane that sends none: its
/// endpoint).
fn replica_key(replica: &VolumeReplicaEndpoint) -> String {
    if replica.replica_id.is_empty() {
        format!("{}:{}", replica.host, replica.nbd_port)
    } else {
        replica.replica_id.clone()
    }
}

fn load_slots(dir: &Path) -> Vec<String> {
    std::fs::read(dir.join(SLOTS_FILE))
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn save_slots(dir: &Path, slots: &[String]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let bytes = serde_json::to_vec(slots).map_err(|e| NodeError::Other(e.to_string()))?;
    std::fs::write(dir.join(SLOTS_FILE), bytes)?;
    Ok(())
}

/// The slot of `key`: its own, else the first free one.
fn slot_for(slots: &mut Vec<String>, key: &str) -> Result<usize> {
    if let Some(i) = slots.iter().position(|k| k == key) {
        return Ok(i);
    }
    if let Some(i) = slots.iter().position(String::is_empty) {
        slots[i] = key.to_string();
        return Ok(i);
    }
    if slots.len() >= MAX_REPLICAS {
        return Err(NodeError::Other(format!(
            "more than {MAX_REPLICAS} replicas"
        )));
    }
    slots.push(key.to_string());
    Ok(slots.len() - 1)
}

/// The rebuild (mirror) job of slot `i`.
fn rebuild_job(i: usize, volume_id: &str) -> String {
    format!("r{i}-{volume_id}")
}

/// What QEMU has of the volumes: each quorum's children (edge name → node name) and the
/// block jobs (id → (status, error)).
#[derive(Debug, Default)]
struct BlockState {
    children: BTreeMap<String, Vec<(String, String)>>,
    jobs: BTreeMap<String, (String, Option<String>)>,
}

impl BlockState {
    async fn read(qmp: &mut QmpClient) -> Result<Self> {
        let graph = qmp.execute("x-debug-query-block-graph", None).await?;
        let names: HashMap<u64, &str> = graph["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| Some((n["id"].as_u64()?, n["name"].as_str()?)))
            .collect();
        let mut children: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for edge in graph["edges"].as_array().into_iter().flatten() {
            let (Some(parent), Some(child), Some(name)) = (
                edge["parent"].as_u64().and_then(|id| names.get(&id)),
                edge["child"].as_u64().and_then(|id| names.get(&id)),
                edge["name"].as_str(),
            ) else {
                continue;
            };
            if parent.starts_with("q-") && name.starts_with("children.") {
                children
                    .entry(parent.to_string())
                    .or_default()
                    .push((name.to_string(), child.to_string()));
            }
        }
        let jobs = qmp
            .execute("query-block-jobs", None)
            .await?
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|j| {
                Some((
                    j["device"].as_str()?.to_string(),
                    (
                        j["status"].as_str().unwrap_or_default().to_string(),
                        j["error"].as_str().map(str::to_string),
                    ),
                ))
            })
            .collect();
        Ok(BlockState { children, jobs })
    }

    fn quorum_nodes(&self, volume_id: &str) -> BTreeSet<&str> {
        self.children
            .get(&quorum_node(volume_id))
            .into_iter()
            .flatten()
            .map(|(_, node)| node.as_str())
            .collect()
    }

    fn volume_job(&self, volume_id: &str) -> Option<(usize, &str, Option<&str>)> {
        self.jobs.iter().find_map(|(id, (status, error))| {
            let slot = id
                .strip_prefix('r')?
                .strip_suffix(volume_id)?
                .strip_suffix('-')?
                .parse()
                .ok()?;
            Some((slot, status.as_str(), error.as_deref()))
        })
    }
}

impl VmRuntime {
    /// Listen to the VM's event monitor (once per QEMU): failed writes are recorded.
    pub(super) async fn ensure_event_listener(&self, instance_id: &str) {
        if !lock(&self.quorum_events.listening).insert(instance_id.to_string()) {
            return;
        }
        let socket = self.instance_dir(instance_id).join(EVENTS_SOCKET);
        let client = match QmpClient::connect(&socket, QMP_TIMEOUT).await {
            Ok(client) => client,
            Err(e) => {
                // A VM started before the events monitor existed has none.
                tracing::debug!(instance = instance_id, error = %e, "no event monitor");
                lock(&self.quorum_events.listening).remove(instance_id);
                return;
            }
        };
        let events = Arc::clone(&self.quorum_events);
        let instance_id = instance_id.to_string();
        tokio::spawn(async move {
            let mut client = client;
            while let Ok(event) = client.next_event().await {
                events.record(&instance_id, &event);
            }
            lock(&events.listening).remove(&instance_id);
        });
    }

    /// Plug `volume`'s disk over a quorum of its in-sync replicas (the others are rebuilt
    /// by [`VmRuntime::sync_replicas`]). A replica that cannot be reached is left out; at
    /// least one must be.
    pub(super) async fn plug_quorum(
        &self,
        qmp: &mut QmpClient,
        instance_id: &str,
        volume: &VolumeAttachmentSpec,
    ) -> Result<()> {
        let volume_id = volume.volume_id.as_str();
        let dir = self.volume_dir(instance_id, volume_id);
        let mut slots = load_slots(&dir);
        let mut joined = Vec::new();
        let mut last_error = None;
        for replica in volume.replicas.iter().filter(|r| r.in_sync) {
            let i = slot_for(&mut slots, &replica_key(replica))?;
            // Failures seen by an earlier QEMU say nothing about this one.
            self.quorum_events
                .forget(instance_id, &replica_node(i, volume_id));
            match self
                .add_replica_node(qmp, instance_id, volume_id, i, replica)
                .await
            {
                Ok(()) => joined.push(i),
                Err(e) => {
                    tracing::warn!(instance = instance_id, volume = volume_id, replica = %replica.replica_id, error = %e, "replica unreachable at plug");
                    last_error = Some(e);
                }
            }
        }
        save_slots(&dir, &slots)?;
        if joined.is_empty() {
            return Err(last_error.unwrap_or_else(|| {
                NodeError::Other(format!("volume {volume_id} has no in-sync replica"))
            }));
        }
        let quorum = crate::block_nodes::quorum_over(volume_id, &joined);
        tolerate_existing(qmp.execute("blockdev-add", Some(quorum)).await)
    }

    async fn add_replica_node(
        &self,
        qmp: &mut QmpClient,
        instance_id: &str,
        volume_id: &str,
        i: usize,
        replica: &VolumeReplicaEndpoint,
    ) -> Result<()> {
        check_replica(replica)?;
        let dir = self.volume_dir(instance_id, volume_id).join(i.to_string());
        write_psk(&dir, replica)?;
        tolerate_existing(
            qmp.execute("object-add", Some(tls_creds(i, volume_id, &dir, replica)?))
                .await,
        )?;
        tolerate_existing(
            qmp.execute("blockdev-add", Some(nbd_blockdev(i, volume_id, replica)))
                .await,
        )
    }

    /// One pass over a plugged volume's replicas: failed and dropped children out,
    /// a finished rebuild in, the next rebuild started.
    pub(super) async fn sync_replicas(
        &self,
        instance_id: &str,
        volume: &VolumeAttachmentSpec,
    ) -> Result<()> {
        let volume_id = volume.volume_id.as_str();
        let dir = self.volume_dir(instance_id, volume_id);
        let mut qmp = self.connect_qmp(instance_id).await?;
        let state = BlockState::read(&mut qmp).await?;
        let mut slots = load_slots(&dir);
        let wanted: BTreeMap<String, &VolumeReplicaEndpoint> = volume
            .replicas
            .iter()
            .map(|r| (replica_key(r), r))
            .collect();
        let failed = self.quorum_events.failed(instance_id);
        let children = state
            .children
            .get(&quorum_node(volume_id))
            .cloned()
            .unwrap_or_default();
        let mut members = children.len();
        for (child, node) in &children {
            let Some(i) = replica_slot(node, volume_id) else {
                continue;
            };
            let key = slots.get(i).cloned().unwrap_or_default();
            let dropped = !wanted.contains_key(&key);
            if !dropped && !failed.contains(node) {
                continue;
            }
            if members <= 1 {
                // The last copy stays: the guest would lose its disk.
                continue;
            }
            qmp.execute(
                "x-blockdev-change",
                Some(json!({ "parent": quorum_node(volume_id), "child": child })),
            )
            .await?;
            members -= 1;
            if let Err(e) = tolerate_missing(
                qmp.execute("blockdev-del", Some(json!({ "node-name": node })))
                    .await,
            ) {
                tracing::warn!(instance = instance_id, node, error = %e, "cannot delete a replica node");
            }
            if dropped {
                let _ = tolerate_missing(
                    qmp.execute(
                        "object-del",
                        Some(json!({ "id": tls_object(i, volume_id) })),
                    )
                    .await,
                );
                if let Some(slot) = slots.get_mut(i) {
                    slot.clear();
                }
            }
            tracing::warn!(instance = instance_id, volume = volume_id, replica = %key, dropped, "replica taken out of the volume");
        }
        let in_quorum: BTreeSet<String> = {
            let state = BlockState::read(&mut qmp).await?;
            state
                .quorum_nodes(volume_id)
                .into_iter()
                .map(str::to_string)
                .collect()
        };
        let result = match state.volume_job(volume_id) {
            Some((i, "ready", _)) => self.finish_rebuild(&mut qmp, volume_id, i).await,
            Some((i, "concluded", error)) => {
                tracing::warn!(
                    instance = instance_id,
                    volume = volume_id,
                    slot = i,
                    ?error,
                    "a replica rebuild failed"
                );
                qmp.execute(
                    "job-dismiss",
                    Some(json!({ "id": rebuild_job(i, volume_id) })),
                )
                .await
                .map(drop)
            }
            Some(_) => Ok(()),
            None => {
                let mut result = Ok(());
                for replica in &volume.replicas {
                    let i = slot_for(&mut slots, &replica_key(replica))?;
                    if in_quorum.contains(&replica_node(i, volume_id)) {
                        continue;
                    }
                    result = self
                        .start_rebuild(&mut qmp, instance_id, volume_id, i, replica)
                        .await;
                    if result.is_ok() {
                        break;
                    }
                }
                result
            }
        };
        save_slots(&dir, &slots)?;
        result
    }

    async fn start_rebuild(
        &self,
        qmp: &mut QmpClient,
        instance_id: &str,
        volume_id: &str,
        i: usize,
        replica: &VolumeReplicaEndpoint,
    ) -> Result<()> {
        let node = replica_node(i, volume_id);
        // A fresh connection and credentials (the endpoint or key may have changed since
        // the node was made).
        let _ = tolerate_missing(
            qmp.execute("blockdev-del", Some(json!({ "node-name": node })))
                .await,
        );
        let _ = tolerate_missing(
            qmp.execute(
                "object-del",
                Some(json!({ "id": tls_object(i, volume_id) })),
            )
            .await,
        );
        self.add_replica_node(qmp, instance_id, volume_id, i, replica)
            .await?;
        self.quorum_events.forget(instance_id, &node);
        qmp.execute(
            "blockdev-mirror",
            Some(json!({
                "job-id": rebuild_job(i, volume_id),
                "device": quorum_node(volume_id),
                "target": node,
                "sync": "full",
                "copy-mode": "write-blocking",
                "auto-dismiss": false,
            })),
        )
        .await?;
        tracing::info!(
            instance = instance_id,
            volume = volume_id,
            replica = %replica.replica_id,
            "rebuilding a replica"
        );
        Ok(())
    }

    /// The mirror to slot `i` is READY: pause the VM, end the job (the target is then
    /// identical), add the target to the quorum, resume.
    async fn finish_rebuild(&self, qmp: &mut QmpClient, volume_id: &str, i: usize) -> Result<()> {
        let job = rebuild_job(i, volume_id);
        let status = qmp.execute("query-status", None).await?;
        let running = status["running"].as_bool().unwrap_or(false);
        if running {
            qmp.execute("stop", None).await?;
        }
        let paused_at = Instant::now();
        let joined = self.join_rebuilt(qmp, volume_id, i, &job).await;
        if running {
            qmp.execute("cont", None).await?;
        }
        tracing::info!(
            volume = volume_id,
            slot = i,
            paused_ms = paused_at.elapsed().as_millis() as u64,
            ok = joined.is_ok(),
            "replica rebuild finished"
        );
        joined
    }

    async fn join_rebuilt(
        &self,
        qmp: &mut QmpClient,
        volume_id: &str,
        i: usize,
        job: &str,
    ) -> Result<()> {
        qmp.execute("block-job-cancel", Some(json!({ "device": job })))
            .await?;
        let deadline = Instant::now() + CANCEL_WAIT;
        let error = loop {
            let state = BlockState::read(qmp).await?;
            match state.jobs.get(job) {
                Some((status, error)) if status == "concluded" => break error.clone(),
                _ if Instant::now() > deadline => {
                    return Err(NodeError::Qmp(format!("{job} did not conclude")));
                }
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        qmp.execute("job-dismiss", Some(json!({ "id": job })))
            .await?;
        if let Some(error) = error {
            return Err(NodeError::Qmp(format!("{job}: {error}")));
        }
        qmp.execute(
            "x-blockdev-change",
            Some(json!({ "parent": quorum_node(volume_id), "node": replica_node(i, volume_id) })),
        )
        .await
        .map(drop)
    }

    /// End the volume's rebuild job, if any (the volume is being unplugged).
    pub(super) async fn drop_rebuild(&self, qmp: &mut QmpClient, volume_id: &str) -> Result<()> {
        let state = BlockState::read(qmp).await?;
        let Some((i, status, _)) = state.volume_job(volume_id) else {
            return Ok(());
        };
        let job = rebuild_job(i, volume_id);
        if status != "concluded" {
            tolerate_missing(
                qmp.execute(
                    "block-job-cancel",
                    Some(json!({ "device": job, "force": true })),
                )
                .await,
            )?;
            let deadline = Instant::now() + CANCEL_WAIT;
            while Instant::now() < deadline {
                let state = BlockState::read(qmp).await?;
                if state.jobs.get(&job).is_none_or(|(s, _)| s == "concluded") {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        tolerate_missing(qmp.execute("job-dismiss", Some(json!({ "id": job }))).await)
    }

    /// Each plugged volume's replicas as this host sees them: in the quorum `InSync`,
    /// being mirrored `Rebuilding`, else `Failed`.
    pub async fn observed_replicas(
        &self,
        instance_id: &str,
        volumes: &BTreeSet<String>,
    ) -> Result<Vec<ObservedVolume>> {
        let mut qmp = self.connect_qmp(instance_id).await?;
        let state = BlockState::read(&mut qmp).await?;
        let mut observed = Vec::new();
        for volume_id in volumes {
            let slots = load_slots(&self.volume_dir(instance_id, volume_id));
            let in_quorum = state.quorum_nodes(volume_id);
            let job = state.volume_job(volume_id);
            let replicas = slots
                .iter()
                .enumerate()
                .filter(|(_, key)| !key.is_empty())
                .map(|(i, key)| ObservedReplica {
                    replica_id: key.clone(),
                    state: if in_quorum.contains(replica_node(i, volume_id).as_str()) {
                        ReplicaSyncState::InSync
                    } else if matches!(job, Some((j, status, _)) if j == i && status != "concluded")
                    {
                        ReplicaSyncState::Rebuilding
                    } else {
                        ReplicaSyncState::Failed
                    },
                })
                .collect();
            observed.push(ObservedVolume {
                volume_id: volume_id.clone(),
                replicas,
            });
        }
        Ok(observed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_kept_and_reused() {
        let mut slots = Vec::new();
        assert_eq!(slot_for(&mut slots, "a").ok(), Some(0));
        assert_eq!(slot_for(&mut slots, "b").ok(), Some(1));
        assert_eq!(slot_for(&mut slots, "a").ok(), Some(0));
        slots[0].clear();
        assert_eq!(slot_for(&mut slots, "c").ok(), Some(0));
        for k in 0..MAX_REPLICAS {
            let _ = slot_for(&mut slots, &format!("k{k}"));
        }
        assert!(slot_for(&mut slots, "one too many").is_err());
    }

    #[test]
    fn only_failed_writes_are_recorded() {
        let events = QuorumEvents::default();
        let bad = |kind: &str, node: &str| json!({"event": "QUORUM_REPORT_BAD", "data": {"type": kind, "node-name": node}});
        events.record("i-1", &bad("read", "n0-vol-1"));
        events.record("i-1", &bad("write", "n1-vol-1"));
        events.record("i-1", &json!({"event": "STOP"}));
        assert_eq!(
            events.failed("i-1").into_iter().collect::<Vec<_>>(),
            vec!["n1-vol-1"]
        );
        events.forget("i-1", "n1-vol-1");
        assert!(events.failed("i-1").is_empty());
    }
}
