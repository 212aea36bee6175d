#![allow(clippy::unwrap_used)]
//! Replica loss and rebuild end to end (issue 10's acceptance test) against a real
//! `kumo up --storage-nodes 1` with its compute agent, plus one external `kumo
//! storage-node` child in the same zone: the one node this test can kill alone (kumo up's
//! own nodes live inside its process). `tests/block/replicas.py` attaches a 2-replica
//! volume (one replica on each node) to a busybox VM that writes numbered blocks without
//! end, each synced, and prints an ack per acknowledged block; asks this test to kill the
//! external node (with its `qemu-storage-daemon`s, which outlive it by design): the writes
//! go on; asks for it back on the same directory (same node identity: its replica
//! returns): the host rebuilds it and the service marks it in sync again. Then the
//! guest reads back every acknowledged block, and after DetachVolume the two replicas'
//! qcow2 files are compared block by block. Prints the write stall at the loss and the
//! rebuild time.
//!
//! The script and this test talk through files in `<state>/control/`: the script creates
//! `kill` or `restart`, this test answers `killed` or `restarted`.

mod kumo_up;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kumo_up::hosts::operator_token;
use kumo_up::KumoUp;
use serde_json::Value;

/// The external storage node: a `kumo storage-node` child on `dir`; killed with its
/// storage daemons when dropped (also on a panic).
struct ExternalStorageNode {
    endpoint: String,
    join_token: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl ExternalStorageNode {
    fn start(endpoint: &str, join_token: &str, dir: &Path) -> Self {
        let mut node = ExternalStorageNode {
            endpoint: endpoint.to_string(),
            join_token: join_token.to_string(),
            dir: dir.to_path_buf(),
            child: None,
        };
        node.spawn();
        node
    }

    fn spawn(&mut self) {
        std::fs::create_dir_all(&self.dir).unwrap();
        let log = std::fs::File::options()
            .create(true)
            .append(true)
            .open(self.dir.with_extension("log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .arg("storage-node")
            .args(["--control-plane", &self.endpoint])
            .args(["--join-token", &self.join_token])
            .arg("--data-dir")
            .arg(&self.dir)
            .args(["--listen", "127.0.0.1:0", "--name", "replicas-external"])
            .args(["--zone", "us-east-1a", "--heartbeat-seconds", "1"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL the node and every storage daemon under its directory.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        kumo_compute_node::testing::kill_processes_mentioning("qemu-storage-daemon", &self.dir);
    }
}

impl Drop for ExternalStorageNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A join token for storage nodes, issued by the operator.
fn storage_join_token(endpoint: &str, state: &Path) -> String {
    let operator = operator_token(endpoint, state);
    let out = Command::new("curl")
        .args(["-s", "--fail-with-body", "-X", "POST"])
        .args(["-H", &format!("authorization: Bearer {operator}")])
        .arg(format!("{endpoint}/v1/storage/join-tokens"))
        .output()
        .unwrap();
    let join: Value = serde_json::from_slice(&out.stdout).unwrap();
    join["join_token"].as_str().unwrap().to_string()
}

#[test]
fn a_killed_storage_node_loses_no_acknowledged_write() {
    let state = tempfile::Builder::new()
        .prefix("kumo-replicas-")
        .tempdir_in("/tmp")
        .unwrap();
    // The killed node returns: it must not be replaced meanwhile.
    std::env::set_var("KUMO_BLOCK_REPLACE_GRACE_SECS", "3600");
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_compute_node=info,kumo_block_storage=info",
        &["--storage-nodes", "1"],
    );
    let external_dir = state.path().join("storage-external");
    let mut node = ExternalStorageNode::start(
        &up.endpoint,
        &storage_join_token(&up.endpoint, state.path()),
        &external_dir,
    );
    let control = state.path().join("control");
    std::fs::create_dir_all(&control).unwrap();

    let passed = std::thread::scope(|scope| {
        let script = scope.spawn(|| {
            up.run_python(
                state.path(),
                "block/replicas.py",
                &[external_dir.as_os_str()],
                None,
            )
        });
        while !script.is_finished() {
            if control.join("kill").exists() && !control.join("killed").exists() {
                let started = Instant::now();
                node.kill();
                println!(
                    "killed the external storage node in {:?}",
                    started.elapsed()
                );
                std::fs::write(control.join("killed"), "").unwrap();
            }
            if control.join("restart").exists() && !control.join("restarted").exists() {
                node.spawn();
                println!(
                    "restarted the external storage node on {}",
                    external_dir.display()
                );
                std::fs::write(control.join("restarted"), "").unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        script.join().unwrap().status.success()
    });
    if !passed {
        println!("kumo up's log tail:\n{}", up.log_tail());
        let node_log =
            std::fs::read_to_string(external_dir.with_extension("log")).unwrap_or_default();
        let lines: Vec<&str> = node_log.lines().collect();
        println!(
            "external storage node's log tail:\n{}",
            lines[lines.len().saturating_sub(30)..].join("\n")
        );
    }
    assert!(passed, "replicas.py failed (see above)");
}
