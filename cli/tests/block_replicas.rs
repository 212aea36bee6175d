#![allow(clippy::unwrap_used)]
//! Replica loss and rebuild end to end (issue 10's acceptance test) against a real
//! `kumo up --storage-nodes 1` with its compute agent, plus one external `kumo
//! storage-node` child in the same zone: the one node this test can kill alone (kumo up's
//! own nodes live inside its process). `tests/block/replicas.py` attaches a 2-replica
//! volume (one replica on each node) to a busybox VM that writes numbered blocks without
//! end, each synced, and prints an ack per acknowledged block; asks this test to kill the
//! external node (with its `qemu-storage-daemon`s, which outlive it by design): the writes
//! go on; asks for it back on the same directory (same node identity: its replica
//! returns): the host rebuilds it and the service marks it in sync again. Then a spare
//! node joins and the external node dies again for longer than the replacement grace: a
//! new replica on the spare is rebuilt. Then the guest reads back every acknowledged
//! block, and after DetachVolume the live replicas' qcow2 files are compared block by
//! block. Prints the write stalls at the losses, the rebuild and replacement times.
//!
//! The script and this test talk through files in `<state>/control/`: the script creates
//! `kill`, `restart` or `start-spare`, this test answers `<request>.done`.

mod kumo_up;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use kumo_up::hosts::operator_token;
use kumo_up::KumoUp;
use serde_json::Value;

/// The external storage node: a `kumo storage-node` child on `dir`; killed with its
/// storage daemons when dropped (also on a panic).
struct ExternalStorageNode {
    endpoint: String,
    join_token: String,
    name: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl ExternalStorageNode {
    fn start(endpoint: &str, join_token: &str, name: &str, dir: &Path) -> Self {
        let mut node = ExternalStorageNode {
            endpoint: endpoint.to_string(),
            join_token: join_token.to_string(),
            name: name.to_string(),
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
            .args(["--listen", "127.0.0.1:0", "--name", &self.name])
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
    // The killed node returns well within the grace; later, killed again, it is replaced.
    std::env::set_var("KUMO_BLOCK_REPLACE_GRACE_SECS", REPLACE_GRACE_SECS);
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_compute_node=info,kumo_block_storage=info",
        &["--storage-nodes", "1"],
    );
    let join_token = storage_join_token(&up.endpoint, state.path());
    let external_dir = state.path().join("storage-external");
    let spare_dir = state.path().join("storage-spare");
    let mut external = ExternalStorageNode::start(
        &up.endpoint,
        &join_token,
        "replicas-external",
        &external_dir,
    );
    // The spare joins only when asked (else it could hold the volume from the start).
    let mut spare: Option<ExternalStorageNode> = None;
    let control = state.path().join("control");
    std::fs::create_dir_all(&control).unwrap();

    let passed = std::thread::scope(|scope| {
        let script = scope.spawn(|| {
            up.run_python(
                state.path(),
                "block/replicas.py",
                &[external_dir.as_os_str(), spare_dir.as_os_str()],
                None,
            )
        });
        while !script.is_finished() {
            for request in ["kill", "restart", "start-spare"] {
                let done = control.join(format!("{request}.done"));
                if !control.join(request).exists() || done.exists() {
                    continue;
                }
                match request {
                    "kill" => external.kill(),
                    "restart" => external.spawn(),
                    _ => {
                        spare = Some(ExternalStorageNode::start(
                            &up.endpoint,
                            &join_token,
                            "replicas-spare",
                            &spare_dir,
                        ))
                    }
                }
                println!("control: {request} done");
                std::fs::write(done, "").unwrap();
                // A request may come again (kill, restart, kill): the script removes both.
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        script.join().unwrap().status.success()
    });
    if !passed {
        println!("kumo up's log tail:\n{}", up.log_tail());
        for dir in [&external_dir, &spare_dir] {
            let log = std::fs::read_to_string(dir.with_extension("log")).unwrap_or_default();
            let lines: Vec<&str> = log.lines().collect();
            println!(
                "{}'s log tail:\n{}",
                dir.display(),
                lines[lines.len().saturating_sub(30)..].join("\n")
            );
        }
    }
    drop(spare);
    assert!(passed, "replicas.py failed (see above)");
}

/// Long enough for a restart to count as the node returning, short enough to wait out.
const REPLACE_GRACE_SECS: &str = "40";
