//! The QEMU block graph of an attached EBS volume, shared by VMs (QMP hot-plug into QEMU,
//! `vm/volumes.rs`) and containers (a local `qemu-storage-daemon` exporting the volume
//! through FUSE, `container/volumes.rs`): the same JSON goes to QMP's `object-add` /
//! `blockdev-add` and to the daemon's `--object` / `--blockdev`.
//!
//! For each replica `i`: a `tls-creds-psk` object `tls<i>-<vol>` (endpoint client,
//! `username` the PSK identity, its `keys.psk` in a private directory) and an `nbd` block
//! node `n<i>-<vol>` (with `reconnect-delay`, so a storage node that restarts is
//! reconnected to). With two or more replicas a `quorum` node `q-<vol>` (vote-threshold 1)
//! stands over them: every write goes to every child and succeeds while one does.

use std::path::Path;

use kumo_common::fs::write_private;
use kumo_compute_protocol::VolumeReplicaEndpoint;
use serde_json::{json, Value};

use crate::error::{NodeError, Result};

/// Seconds QEMU waits for a lost NBD server before failing requests.
pub const RECONNECT_DELAY: u64 = 10;

/// Replicas per volume at most (node names and objects are numbered).
pub const MAX_REPLICAS: usize = 8;

/// The nbd block node of replica `i`.
pub fn replica_node(i: usize, volume_id: &str) -> String {
    format!("n{i}-{volume_id}")
}

/// The quorum block node over the replicas.
pub fn quorum_node(volume_id: &str) -> String {
    format!("q-{volume_id}")
}

/// The TLS credentials object of replica `i`.
pub fn tls_object(i: usize, volume_id: &str) -> String {
    format!("tls{i}-{volume_id}")
}

/// Refuse an endpoint whose fields could smuggle options into QEMU's arguments.
pub fn check_replica(replica: &VolumeReplicaEndpoint) -> Result<()> {
    let identity_ok = !replica.psk_identity.is_empty()
        && replica.psk_identity.len() <= 64
        && replica
            .psk_identity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let key_ok = replica.psk_key_hex.len() == 64
        && replica
            .psk_key_hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    let host_ok = replica.host.parse::<std::net::IpAddr>().is_ok();
    if identity_ok && key_ok && host_ok && replica.nbd_port != 0 {
        Ok(())
    } else {
        Err(NodeError::Other(format!(
            "bad replica endpoint {}:{} for {}",
            replica.host, replica.nbd_port, replica.psk_identity
        )))
    }
}

/// Check the volume's replica count and every endpoint.
pub fn check_replicas(volume_id: &str, replicas: &[VolumeReplicaEndpoint]) -> Result<()> {
    if replicas.is_empty() || replicas.len() > MAX_REPLICAS {
        return Err(NodeError::Other(format!(
            "volume {volume_id} has {} ready replicas",
            replicas.len()
        )));
    }
    replicas.iter().try_for_each(check_replica)
}

/// Write the replica's PSK (`identity:key`, mode 0600) as `keys.psk` in `dir` (created).
pub fn write_psk(dir: &Path, replica: &VolumeReplicaEndpoint) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    write_private(
        &dir.join("keys.psk"),
        format!("{}:{}\n", replica.psk_identity, replica.psk_key_hex).as_bytes(),
    )?;
    Ok(())
}

/// The `tls-creds-psk` object of replica `i`, reading its key from `dir`.
pub fn tls_creds(
    i: usize,
    volume_id: &str,
    dir: &Path,
    replica: &VolumeReplicaEndpoint,
) -> Result<Value> {
    let dir = dir
        .to_str()
        .ok_or_else(|| NodeError::Other("key directory is not UTF-8".into()))?;
    Ok(json!({
        "qom-type": "tls-creds-psk",
        "id": tls_object(i, volume_id),
        "endpoint": "client",
        "dir": dir,
        "username": replica.psk_identity,
    }))
}

/// The `nbd` block node of replica `i` (the export is named by the volume id).
pub fn nbd_blockdev(i: usize, volume_id: &str, replica: &VolumeReplicaEndpoint) -> Value {
    json!({
        "driver": "nbd",
        "node-name": replica_node(i, volume_id),
        "server": {
            "type": "inet",
            "host": replica.host,
            "port": replica.nbd_port.to_string(),
        },
        "export": volume_id,
        "tls-creds": tls_object(i, volume_id),
        "reconnect-delay": RECONNECT_DELAY,
    })
}

/// The `quorum` block node over `replicas` nbd children, or `None` with a single replica
/// (the nbd node is then the top).
pub fn quorum_blockdev(volume_id: &str, replicas: usize) -> Option<Value> {
    (replicas >= 2).then(|| quorum_over(volume_id, &(0..replicas).collect::<Vec<_>>()))
}

/// The `quorum` block node over the nbd nodes of replicas `slots` (one child is enough:
/// children can be added and removed at run time with `x-blockdev-change`). Reads come
/// from the first child that answers (`read-pattern=fifo`), never from a vote, so a stale
/// child can never outvote a fresh one.
pub fn quorum_over(volume_id: &str, slots: &[usize]) -> Value {
    let children: Vec<String> = slots.iter().map(|&i| replica_node(i, volume_id)).collect();
    json!({
        "driver": "quorum",
        "node-name": quorum_node(volume_id),
        "children": children,
        "vote-threshold": 1,
        "read-pattern": "fifo",
    })
}

/// The replica slot of one of a volume's nbd node names (`n3-vol-…` → 3).
pub fn replica_slot(node_name: &str, volume_id: &str) -> Option<usize> {
    node_name
        .strip_prefix('n')?
        .strip_suffix(volume_id)?
        .strip_suffix('-')?
        .parse()
        .ok()
}

/// The node a device (or an export) stands on: the quorum, or the only replica.
pub fn top_node(volume_id: &str, replicas: usize) -> String {
    if replicas >= 2 {
        quorum_node(volume_id)
    } else {
        replica_node(0, volume_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_qemu_limits() {
        let vol = "vol-0123456789abcdef0";
        assert!(replica_node(MAX_REPLICAS - 1, vol).len() <= 31);
        assert!(quorum_node(vol).len() <= 31);
    }

    #[test]
    fn replica_endpoints_are_checked() {
        let good = VolumeReplicaEndpoint {
            host: "10.0.0.5".into(),
            nbd_port: 10809,
            psk_identity: "vol-0123456789abcdef0".into(),
            psk_key_hex: "ab".repeat(32),
            replica_id: "node-1".into(),
            in_sync: true,
        };
        assert!(check_replica(&good).is_ok());
        for bad in [
            VolumeReplicaEndpoint {
                host: "a,b".into(),
                ..good.clone()
            },
            VolumeReplicaEndpoint {
                psk_identity: "x:y".into(),
                ..good.clone()
            },
            VolumeReplicaEndpoint {
                psk_key_hex: "AB".repeat(32),
                ..good.clone()
            },
            VolumeReplicaEndpoint {
                nbd_port: 0,
                ..good.clone()
            },
        ] {
            assert!(check_replica(&bad).is_err());
        }
        assert!(check_replicas("vol-1", &[]).is_err());
        assert!(check_replicas("vol-1", &vec![good; MAX_REPLICAS + 1]).is_err());
    }

    #[test]
    fn single_replica_has_no_quorum() {
        assert!(quorum_blockdev("vol-1", 1).is_none());
        assert_eq!(top_node("vol-1", 1), "n0-vol-1");
        let q = quorum_blockdev("vol-1", 2).unwrap_or_default();
        assert_eq!(q["children"], json!(["n0-vol-1", "n1-vol-1"]));
        assert_eq!(top_node("vol-1", 2), "q-vol-1");
        assert_eq!(q["read-pattern"], "fifo");
    }

    #[test]
    fn slots_are_read_back_from_node_names() {
        let vol = "vol-0123456789abcdef0";
        assert_eq!(replica_slot(&replica_node(3, vol), vol), Some(3));
        assert_eq!(replica_slot(&quorum_node(vol), vol), None);
        assert_eq!(replica_slot("n1-vol-other", vol), None);
    }
}
