//! `kumo up` as a child process for the tests that attack or break a whole cloud (hostile
//! inputs, schemathesis, catalog loss): started on a free port with a private Postgres and
//! no compute agent, ready once `/readyz` answers; stopped (SIGTERM, then SIGKILL) when
//! dropped. [`KumoUp::start_with_agent`] also runs its own compute agent (the conformance
//! harness runs real container instances on it).
#![allow(dead_code, clippy::unwrap_used)]

pub mod hosts;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The repository's root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// The default images: `$KUMO_IMAGE_DIR`, else `target/kumo-images`.
pub fn image_dir() -> PathBuf {
    std::env::var_os("KUMO_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/kumo-images"))
}

/// The Python with boto3: `$KUMO_PYTHON`, else the workspace's `.venv`, else `python3`.
pub fn python() -> String {
    if let Ok(python) = std::env::var("KUMO_PYTHON") {
        return python;
    }
    let venv = repo_root().join(".venv/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".into()
}

/// The HTTP status of a GET with these headers (0 when nothing answered).
pub fn http_status(url: &str, headers: &[String]) -> u16 {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .args(["--max-time", "60"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// A running `kumo up`.
pub struct KumoUp {
    pub child: Child,
    pub endpoint: String,
    /// Its stdout and stderr.
    pub log: PathBuf,
    /// The compute agent's state directory, when it runs one.
    agent_dir: Option<PathBuf>,
    /// `--state-dir`: the storage nodes' volume exports live under it.
    state: PathBuf,
}

impl KumoUp {
    /// `kumo up --listen 127.0.0.1:0 --no-agent --state-dir STATE` with `RUST_LOG` and the
    /// default images when they are built; the log goes to `STATE/kumo-up.log`.
    pub fn start(state: &Path, rust_log: &str) -> KumoUp {
        KumoUp::start_and(state, rust_log, &[])
    }

    /// [`KumoUp::start`] with more `kumo up` arguments (`--storage-nodes 3`).
    pub fn start_and(state: &Path, rust_log: &str, more: &[&str]) -> KumoUp {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kumo"));
        cmd.args(["up", "--listen", "127.0.0.1:0", "--no-agent", "--state-dir"])
            .arg(state);
        if image_dir().join("container/rootfs.tar").is_file() {
            cmd.arg("--image-dir").arg(image_dir());
        }
        cmd.args(more);
        KumoUp::spawn(cmd, state, rust_log, None)
    }

    /// `kumo up` with its own compute agent (runc containers, this machine's network
    /// namespace) and the default images, which must be built (`deploy/build-images.sh`,
    /// or `$KUMO_IMAGE_DIR`). The agent reports a fixed capacity (4 vCPUs, 4 GiB), so that
    /// the tests' instances fit on any machine. Instances left running when it is dropped
    /// are removed with it.
    pub fn start_with_agent(state: &Path, rust_log: &str) -> KumoUp {
        KumoUp::start_with_agent_and(state, rust_log, &[])
    }

    /// [`KumoUp::start_with_agent`] with more `kumo up` arguments (`--storage-nodes 2`).
    pub fn start_with_agent_and(state: &Path, rust_log: &str, more: &[&str]) -> KumoUp {
        let images = image_dir();
        assert!(
            images.join("container/rootfs.tar").is_file(),
            "no container image in {}: run deploy/build-images.sh {0} (or set KUMO_IMAGE_DIR)",
            images.display()
        );
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_kumo"));
        cmd.args(["up", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(state)
            .arg("--image-dir")
            .arg(&images)
            .args(["--agent-vcpus", "4", "--agent-memory-mib", "4096"])
            .args(more);
        KumoUp::spawn(cmd, state, rust_log, Some(state.join("compute-node")))
    }

    fn spawn(mut cmd: Command, state: &Path, rust_log: &str, agent_dir: Option<PathBuf>) -> KumoUp {
        let log = state.join("kumo-up.log");
        let child = cmd
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", rust_log)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::options().append(true).open(&log).unwrap())
            .spawn()
            .unwrap();
        let mut up = KumoUp {
            child,
            endpoint: String::new(),
            log,
            agent_dir,
            state: state.to_path_buf(),
        };
        // Start-up takes a few seconds; poll (bounded) for the endpoint file and readiness.
        for _ in 0..1200 {
            if let Some(status) = up.child.try_wait().unwrap() {
                panic!("kumo up exited: {status}\n{}", up.log_tail());
            }
            if let Ok(text) = std::fs::read_to_string(state.join("endpoint")) {
                let endpoint = text.trim().to_string();
                if http_status(&format!("{endpoint}/readyz"), &[]) == 200 {
                    up.endpoint = endpoint;
                    return up;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kumo up never became ready\n{}", up.log_tail());
    }

    /// The last 40 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Send it a signal (SIGINT, SIGTERM, …).
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
    }

    /// Runs `python tests/SCRIPT ENDPOINT STATE ARGS…` against it, followed by the check-name
    /// prefixes in `$CHECKS_VAR` when that is set, with the default images in
    /// `$KUMO_IMAGE_DIR` and no AWS configuration or credentials from this environment;
    /// prints the script's stdout and stderr and returns its output.
    pub fn run_python(
        &self,
        state: &Path,
        script: &str,
        args: &[&OsStr],
        checks_var: Option<&str>,
    ) -> Output {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests")
            .join(script);
        let mut cmd = Command::new(python());
        cmd.arg(&script)
            .arg(&self.endpoint)
            .arg(state)
            .args(args)
            .env("KUMO_IMAGE_DIR", image_dir())
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY");
        if let Some(only) = checks_var.and_then(|var| std::env::var(var).ok()) {
            cmd.args(only.split_whitespace());
        }
        let out = cmd.output().expect(
            "python with boto3 (and moto, for the conformance harness): run \
             deploy/install-deps.sh --test, or set KUMO_PYTHON",
        );
        println!("{}", String::from_utf8_lossy(&out.stdout));
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !stderr.trim().is_empty() {
            println!("stderr of the script:\n{stderr}");
        }
        out
    }

    /// [`KumoUp::run_python`], and the script must succeed (else its log tail is printed
    /// and the test fails with FAILURE).
    pub fn run_checks(
        &self,
        state: &Path,
        script: &str,
        args: &[&OsStr],
        checks_var: Option<&str>,
        failure: &str,
    ) {
        let out = self.run_python(state, script, args, checks_var);
        if !out.status.success() {
            println!("kumo up's log tail:\n{}", self.log_tail());
        }
        assert!(out.status.success(), "{failure}");
    }

    /// SIGTERM, and it must exit with success.
    pub fn assert_clean_stop(&mut self) {
        self.signal(libc::SIGTERM);
        assert!(self.child.wait().unwrap().success());
    }
}

impl KumoUp {
    /// SIGTERM, then (after 10 s) SIGKILL, and wait for it.
    fn stop(&mut self) {
        if matches!(self.child.try_wait(), Ok(Some(_))) {
            return;
        }
        self.signal(libc::SIGTERM);
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Remove the containers and VMs a test left running (they outlive their agent by
    /// design), their network namespaces, then what the agent built for its VPCs (router
    /// namespaces, dnsmasq, its marked links) and its bridges that no instance uses.
    pub fn remove_leftover_instances(agent_dir: &Path) {
        use kumo_compute_node::container::{ContainerConfig, ContainerRuntime};
        use kumo_compute_node::network::HostNetwork;
        use kumo_compute_node::vm::{VmConfig, VmRuntime};
        let containers = ContainerRuntime::new(ContainerConfig::new(agent_dir.join("containers")));
        let vms = VmRuntime::new(VmConfig::new(agent_dir.join("vms")));
        let ids = containers.known_instances().unwrap_or_default();
        let vm_ids = vms.known_instances().unwrap_or_default();
        // The agent's host id marks its bridges and router namespaces (only those go).
        let host_id = std::fs::read_to_string(agent_dir.join("node.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|node| node["host_id"].as_str().map(str::to_owned));
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            for id in &ids {
                let _ = containers.remove(id).await;
                let _ = HostNetwork::new().detach(id).await;
            }
            // VMs too: a test that stops kumo up right after terminating them would
            // otherwise leave TCG guests running (they outlive their agent by design).
            for id in &vm_ids {
                let _ = vms.remove(id).await;
                let _ = HostNetwork::new().detach(id).await;
            }
            if let Some(host_id) = host_id {
                kumo_compute_node::testing::remove_agent_network(None, &host_id, agent_dir);
                let network = HostNetwork::new().with_owner(&host_id);
                let _ = network.sweep(&Default::default()).await;
            }
        });
    }
}

impl Drop for KumoUp {
    fn drop(&mut self) {
        self.stop();
        // Volume exports outlive their storage node by design.
        kumo_compute_node::testing::kill_processes_mentioning("qemu-storage-daemon", &self.state);
        if let Some(agent_dir) = self.agent_dir.take() {
            // Drop may run inside a test's runtime: clean up on a thread with its own.
            let _ =
                std::thread::spawn(move || KumoUp::remove_leftover_instances(&agent_dir)).join();
        }
    }
}
