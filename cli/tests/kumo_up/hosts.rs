//! More compute hosts for a `kumo up --no-agent`: `kumo agent` children on a
//! [`Topology`]'s hosts, enrolled with an operator's join token.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kumo_compute_node::testing::Topology;
use serde_json::{json, Value};

use super::KumoUp;

/// One `kumo agent` child on a topology host; killed, and its containers and VMs (with
/// their volumes) and namespaces removed, when dropped.
pub struct HostAgent {
    pub dir: PathBuf,
    pub child: Child,
}

impl HostAgent {
    pub fn start(
        up: &KumoUp,
        state: &Path,
        topology: &Topology,
        join_token: &str,
        name: &str,
        n: u8,
    ) -> Self {
        let dir = state.join(format!("agent-h{n}"));
        let log = std::fs::File::create(dir.with_extension("log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .arg("agent")
            .args([
                "--control-plane",
                &up.endpoint,
                "--join-token",
                join_token,
                "--name",
                name,
            ])
            .arg("--state-dir")
            .arg(&dir)
            .args(["--vcpus", "8", "--memory-mib", "8192"])
            .args(topology.agent_args(n))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        HostAgent { dir, child }
    }

    pub fn host_id(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("node.json")).ok()?;
        let node: Value = serde_json::from_str(&text).ok()?;
        node["host_id"].as_str().map(str::to_owned)
    }

    /// Its host id once enrolled (at most a minute).
    pub fn wait_enrolled(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(id) = self.host_id() {
                return id;
            }
            assert!(Instant::now() < deadline, "an agent never enrolled");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for HostAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = self.dir.clone();
        // Drop may run inside a test's runtime: clean up on a thread with its own.
        let _ = std::thread::spawn(move || KumoUp::remove_leftover_instances(&dir)).join();
    }
}

/// The operator's token (native login with the password kumo up wrote).
pub fn operator_token(endpoint: &str, state: &Path) -> String {
    let password = std::fs::read_to_string(state.join("operator-password")).unwrap();
    let body = json!({"account": "operator", "user_name": "operator", "password": password.trim()});
    let out = Command::new("curl")
        .args([
            "-s",
            "--fail-with-body",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
        ])
        .args(["-d", &body.to_string()])
        .arg(format!("{endpoint}/v1/login"))
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    answer["token"].as_str().unwrap().to_string()
}

/// A join token for more compute hosts, issued by the operator.
pub fn join_token(up: &KumoUp, state: &Path) -> String {
    let operator = operator_token(&up.endpoint, state);
    let out = Command::new("curl")
        .args(["-s", "--fail-with-body", "-X", "POST"])
        .args(["-H", &format!("authorization: Bearer {operator}")])
        .arg(format!("{}/v1/join-tokens", up.endpoint))
        .output()
        .unwrap();
    let join: Value = serde_json::from_slice(&out.stdout).unwrap();
    join["join_token"].as_str().unwrap().to_string()
}
