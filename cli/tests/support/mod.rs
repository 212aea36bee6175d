//! A real control plane (in this test process) and real compute hosts: each host is a
//! `kumo agent` process in its own network namespace, joined to ours by a veth pair, so
//! its bridges, taps, netns and metadata listeners are its own — as on separate machines.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use kumo_auth::{AuthMethod, Principal, Role};
use kumo_identity::bootstrap::{self, OperatorCredentials};
use kumo_identity::{Identity, IdentityConfig, MasterKey};
use kumo_object_storage::{ObjectStorage, ObjectStorageConfig};
use kumo_storage_node::{ChunkStore, NodeConfig, RunningNode, StorageNode};

pub struct Cloud {
    /// For clients on this machine.
    pub endpoint: String,
    pub port: u16,
    pub identity: Identity,
    pub compute: kumo_compute::Compute,
    pub operator: OperatorCredentials,
    pub join_token: String,
    pub vm_image: String,
    pub container_image: String,
    /// The object-storage service the gateway serves.
    pub object_storage: ObjectStorage,
    /// In-process storage nodes ([`Cloud::start_storage`]); none for [`Cloud::start`].
    pub storage_nodes: Vec<TestStorageNode>,
}

fn run(cmd: &str, args: &[&str]) -> Output {
    let out = Command::new(cmd).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn image_dir() -> PathBuf {
    std::env::var_os("KUMO_IMAGE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/kumo-images"))
}

impl Cloud {
    /// The gateway in this process on a fresh database, listening on `bind`.
    async fn gateway(
        bind: &str,
        storage_config: ObjectStorageConfig,
    ) -> (
        Identity,
        OperatorCredentials,
        kumo_compute::Compute,
        ObjectStorage,
        u16,
    ) {
        let pool = kumo_catalog::testing::fresh_database().await.unwrap();
        let identity = Identity::new(pool.clone(), MasterKey::random(), IdentityConfig::default());
        let operator = bootstrap::ensure_operator(&pool, &identity.master_key)
            .await
            .unwrap();
        let compute = kumo_compute::Compute::new(pool.clone(), Default::default());
        let object_storage = ObjectStorage::new(pool.clone(), storage_config);
        let app = kumo_gateway::app(
            kumo_gateway::Services {
                identity: identity.clone(),
                compute: compute.clone(),
                object_storage: object_storage.clone(),
                network: kumo_network::Network::new(pool.clone(), Default::default()),
                block_storage: kumo_block_storage::BlockStorage::new(
                    pool.clone(),
                    Default::default(),
                ),
            },
            Default::default(),
        );
        let listener = tokio::net::TcpListener::bind(bind).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        (identity, operator, compute, object_storage, port)
    }

    pub async fn start() -> Self {
        // All addresses: agents in their namespaces reach us over their veth.
        let (identity, operator, compute, object_storage, port) =
            Self::gateway("0.0.0.0:0", ObjectStorageConfig::default()).await;
        let pool = identity.pool.clone();
        let images = image_dir();
        assert!(
            images.join("vm/vmlinuz").is_file() && images.join("container/rootfs.tar").is_file(),
            "default images missing in {}: run deploy/build-images.sh",
            images.display()
        );
        let vm = kumo_compute::images::ensure_public(
            &pool,
            &operator.account_id,
            "kumo-busybox-vm",
            "test",
            &images.join("vm").canonicalize().unwrap().to_string_lossy(),
        )
        .await
        .unwrap();
        let container = kumo_compute::images::ensure_public(
            &pool,
            &operator.account_id,
            "kumo-busybox-container",
            "test",
            &images
                .join("container/rootfs.tar")
                .canonicalize()
                .unwrap()
                .to_string_lossy(),
        )
        .await
        .unwrap();
        let token = kumo_compute::hosts::create_join_token(&pool, Duration::from_secs(3600))
            .await
            .unwrap();
        Cloud {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            identity,
            compute,
            operator,
            join_token: token.join_token,
            vm_image: vm.image_id,
            container_image: container.image_id,
            object_storage,
            storage_nodes: Vec::new(),
        }
    }

    /// The gateway (no compute images needed) and `nodes` in-process storage nodes, with
    /// [`storage_test_config`]`(3)`.
    pub async fn start_storage(nodes: usize) -> Self {
        Self::start_storage_with(nodes, storage_test_config(3)).await
    }

    /// The gateway with this object-storage configuration and `nodes` in-process storage
    /// nodes on 127.0.0.1, enrolled with a join token, their data in temporary directories.
    pub async fn start_storage_with(nodes: usize, config: ObjectStorageConfig) -> Self {
        let (identity, operator, compute, object_storage, port) =
            Self::gateway("127.0.0.1:0", config).await;
        let endpoint = format!("http://127.0.0.1:{port}");
        let token = kumo_object_storage::nodes::create_join_token(
            &identity.pool,
            Duration::from_secs(3600),
        )
        .await
        .unwrap();
        let mut storage_nodes = Vec::with_capacity(nodes);
        for index in 0..nodes {
            storage_nodes.push(
                TestStorageNode::start(&endpoint, &token.join_token, &format!("sn-{index}")).await,
            );
        }
        Cloud {
            endpoint,
            port,
            identity,
            compute,
            operator,
            join_token: String::new(),
            vm_image: String::new(),
            container_image: String::new(),
            object_storage,
            storage_nodes,
        }
    }

    /// A new user of `account_id` with `role` and an access key: `(key id, secret)`.
    pub async fn access_key(
        &self,
        account_id: &str,
        user_name: &str,
        role: Role,
    ) -> (String, String) {
        let pool = &self.identity.pool;
        kumo_identity::users::insert(pool, account_id, user_name, role, None)
            .await
            .unwrap();
        let row = kumo_identity::users::fetch_row(pool, account_id, user_name)
            .await
            .unwrap()
            .unwrap();
        let key = kumo_identity::access_keys::insert(pool, &self.identity.master_key, &row)
            .await
            .unwrap();
        (key.access_key_id, key.secret_access_key)
    }

    /// Log in through the native API: the bearer token.
    pub async fn login(&self, account: &str, user: &str, password: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/v1/login", self.endpoint))
            .json(&serde_json::json!({"account": account, "user_name": user, "password": password}))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(status, 200, "login failed: {body}");
        body["token"].as_str().unwrap().to_string()
    }

    /// The operator's bearer token.
    pub async fn operator_token(&self) -> String {
        let password = self.operator.new_password.clone().unwrap();
        self.login(
            &self.operator.account_id,
            &self.operator.user_name,
            &password,
        )
        .await
    }

    /// A tenant account with an admin user and an access key: `(principal, key id, secret)`.
    pub async fn tenant(&self, name: &str) -> (Principal, String, String) {
        let op = Principal {
            account_id: self.operator.account_id.clone(),
            user_id: "AIDAOPERATOR".into(),
            user_name: "operator".into(),
            role: Role::Operator,
            method: AuthMethod::Bearer,
        };
        let pool = &self.identity.pool;
        let account = kumo_identity::accounts::create(
            pool,
            &op,
            &kumo_identity::accounts::CreateAccount { name: name.into() },
        )
        .await
        .unwrap();
        kumo_identity::users::insert(pool, &account.account_id, "admin", Role::Admin, None)
            .await
            .unwrap();
        let row = kumo_identity::users::fetch_row(pool, &account.account_id, "admin")
            .await
            .unwrap()
            .unwrap();
        let key = kumo_identity::access_keys::insert(pool, &self.identity.master_key, &row)
            .await
            .unwrap();
        let principal = Principal {
            account_id: account.account_id,
            user_id: row.user_id,
            user_name: "admin".into(),
            role: Role::Admin,
            method: AuthMethod::Bearer,
        };
        (principal, key.access_key_id, key.secret_access_key)
    }

    /// Run aws-cli with these credentials; returns (success, stdout JSON or Null, stderr).
    pub async fn aws(
        &self,
        key: &str,
        secret: &str,
        args: &[&str],
    ) -> (bool, serde_json::Value, String) {
        let out = tokio::process::Command::new(
            std::env::var("KUMO_AWS_CLI").unwrap_or_else(|_| "aws".into()),
        )
        .args([
            "--endpoint-url",
            &self.endpoint,
            "--region",
            "us-east-1",
            "--output",
            "json",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .await
        .expect("aws-cli: run deploy/install-deps.sh --test");
        let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
        (
            out.status.success(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Poll until every instance is in `state` (bounded: at most `limit`).
    pub async fn wait_state(
        &self,
        owner: &Principal,
        ids: &[String],
        state: &str,
        limit: Duration,
    ) {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let mut all = true;
            let mut seen = Vec::new();
            for id in ids {
                let instance = kumo_compute::instances::get(&self.compute, owner, id)
                    .await
                    .unwrap();
                seen.push(format!("{id}={}", instance.state.as_str()));
                if instance.state.as_str() != state {
                    all = false;
                }
            }
            if all {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "instances did not reach {state}: {seen:?}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// One compute host: a network namespace with a `kumo agent` in it.
pub struct Host {
    pub name: String,
    pub netns: String,
    pub state_dir: tempfile::TempDir,
    pub agent: Option<Child>,
    subnet: u8,
    vcpus: u32,
    memory_mib: u32,
    control_plane: String,
    join_token: String,
}

impl Host {
    pub fn start(cloud: &Cloud, name: &str, vcpus: u32, memory_mib: u32) -> Host {
        Host::start_at(cloud.port, &cloud.join_token, name, vcpus, memory_mib)
    }

    /// A host whose agent talks to a control plane on this machine's `port`.
    pub fn start_at(port: u16, join_token: &str, name: &str, vcpus: u32, memory_mib: u32) -> Host {
        let tag: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
        let netns = format!("kumo-th-{tag}");
        run("ip", &["netns", "add", &netns]);
        // A /30 per host in 10.201.0.0/16, chosen at random; retry on a clash.
        let mut subnet = 0u8;
        for attempt in 0..20u8 {
            subnet = next_subnet().wrapping_add(attempt).max(1);
            let outside = format!("kh{tag}o");
            let inside = format!("kh{tag}i");
            let _ = Command::new("ip").args(["link", "del", &outside]).output();
            run(
                "ip",
                &[
                    "link", "add", &outside, "type", "veth", "peer", "name", &inside, "netns",
                    &netns,
                ],
            );
            let ok = Command::new("ip")
                .args([
                    "addr",
                    "add",
                    &format!("10.201.{subnet}.1/30"),
                    "dev",
                    &outside,
                ])
                .status()
                .unwrap()
                .success();
            if ok {
                run("ip", &["link", "set", &outside, "up"]);
                run(
                    "ip",
                    &[
                        "-n",
                        &netns,
                        "addr",
                        "add",
                        &format!("10.201.{subnet}.2/30"),
                        "dev",
                        &inside,
                    ],
                );
                run("ip", &["-n", &netns, "link", "set", &inside, "up"]);
                run("ip", &["-n", &netns, "link", "set", "lo", "up"]);
                break;
            }
        }
        let mut host = Host {
            name: name.to_string(),
            netns,
            state_dir: tempfile::Builder::new()
                .prefix("kumo-host-")
                .tempdir_in("/tmp")
                .unwrap(),
            agent: None,
            subnet,
            vcpus,
            memory_mib,
            control_plane: format!("http://10.201.{subnet}.1:{port}"),
            join_token: join_token.to_string(),
        };
        host.start_agent();
        host
    }

    pub fn start_agent(&mut self) {
        // nsenter switches only the network namespace (`ip netns exec` would also remount
        // /sys and hide the cgroup hierarchies runc needs) and execs the agent in place.
        let child = Command::new("nsenter")
            .arg(format!("--net=/var/run/netns/{}", self.netns))
            .args(["--", env!("CARGO_BIN_EXE_kumo"), "agent"])
            .args([
                "--control-plane",
                &self.control_plane,
                "--join-token",
                &self.join_token,
                "--name",
                &self.name,
            ])
            .arg("--state-dir")
            .arg(self.state_dir.path())
            .args([
                "--vcpus",
                &self.vcpus.to_string(),
                "--memory-mib",
                &self.memory_mib.to_string(),
            ])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        self.agent = Some(child);
    }

    /// SIGKILL the agent (its workloads keep running).
    pub fn kill_agent(&mut self) {
        if let Some(mut child) = self.agent.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The container runtime's view of this host (for checks from outside the agent).
    pub fn containers(&self) -> kumo_compute_node::container::ContainerRuntime {
        kumo_compute_node::container::ContainerRuntime::new(
            kumo_compute_node::container::ContainerConfig::new(
                self.state_dir.path().join("containers"),
            ),
        )
    }

    pub fn vms(&self) -> kumo_compute_node::vm::VmRuntime {
        kumo_compute_node::vm::VmRuntime::new(kumo_compute_node::vm::VmConfig::new(
            self.state_dir.path().join("vms"),
        ))
    }

    /// Wait (bounded) until the control plane sees this host.
    pub async fn wait_enrolled(&self, cloud: &Cloud) -> String {
        self.wait_enrolled_in(&cloud.compute.pool).await
    }

    pub async fn wait_enrolled_in(&self, pool: &sqlx::PgPool) -> String {
        for _ in 0..240 {
            let host: Option<String> =
                sqlx::query_scalar("SELECT host_id FROM compute.hosts WHERE name = $1")
                    .bind(&self.name)
                    .fetch_optional(pool)
                    .await
                    .unwrap();
            if let Some(id) = host {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        panic!("host {} never enrolled", self.name);
    }
}

/// Each host of this test process gets its own /30 (from a random start, so two test
/// processes running one after the other do not reuse a just-released one).
fn next_subnet() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static NEXT: AtomicU8 = AtomicU8::new(0);
    static START: std::sync::OnceLock<u8> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| uuid::Uuid::new_v4().as_bytes()[0]);
    start.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill_agent();
        // Whatever the test left running on this host goes with it.
        let containers = self.containers();
        let vms = self.vms();
        let ids: Vec<String> = containers
            .known_instances()
            .unwrap_or_default()
            .into_iter()
            .chain(vms.known_instances().unwrap_or_default())
            .collect();
        // Drop may run inside the test's runtime: clean up on a thread with its own.
        let cleanup_ids = ids.clone();
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                rt.block_on(async {
                    for id in &cleanup_ids {
                        let _ = containers.remove(id).await;
                        let _ = vms.remove(id).await;
                    }
                });
            }
        })
        .join();
        for id in &ids {
            let _ = Command::new("ip")
                .args(["netns", "del", &format!("kumo-{id}")])
                .output();
        }
        // Its VPCs' router namespaces and dnsmasq live outside its namespace.
        let host_id = std::fs::read_to_string(self.state_dir.path().join("node.json"))
            .ok()
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
            .and_then(|node| node["host_id"].as_str().map(str::to_owned));
        if let Some(host_id) = host_id {
            kumo_compute_node::testing::remove_agent_network(
                Some(&self.netns),
                &host_id,
                self.state_dir.path(),
            );
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.netns])
            .output();
    }
}

/// Object storage for tests: 256 KiB chunks (multi-chunk objects are cheap), heartbeats
/// every second, a node silent for 10 s is unhealthy, GC grace of an hour (tests collect
/// with their own grace).
pub fn storage_test_config(replication: usize) -> ObjectStorageConfig {
    ObjectStorageConfig {
        replication,
        chunk_size: 256 * 1024,
        heartbeat_timeout: Duration::from_secs(10),
        heartbeat_interval: Duration::from_secs(1),
        gc_grace: Duration::from_secs(3600),
        ..ObjectStorageConfig::default()
    }
}

/// Capacity each test storage node reports.
pub const TEST_NODE_CAPACITY: u64 = 1 << 30;

/// A storage node running in this process (until [`TestStorageNode::shutdown`]).
pub struct TestStorageNode {
    pub name: String,
    pub node_id: String,
    /// The chunk API's base URL (a restart may change it).
    pub address: String,
    /// What the chunk API requires in `x-kumo-storage-token`.
    pub node_token: String,
    control_plane: String,
    node: Option<RunningNode>,
    store: std::sync::Arc<ChunkStore>,
    /// Last: removed after the node is gone.
    pub data_dir: tempfile::TempDir,
}

impl TestStorageNode {
    pub async fn start(control_plane: &str, join_token: &str, name: &str) -> Self {
        let data_dir = tempfile::Builder::new()
            .prefix("kumo-sn-")
            .tempdir_in("/tmp")
            .unwrap();
        let node = Self::run(data_dir.path(), control_plane, Some(join_token), name).await;
        TestStorageNode {
            name: name.to_string(),
            node_id: node.node_id().to_string(),
            address: node.address().to_string(),
            node_token: node.node_token().to_string(),
            control_plane: control_plane.to_string(),
            store: node.store().clone(),
            node: Some(node),
            data_dir,
        }
    }

    async fn run(
        data_dir: &std::path::Path,
        control_plane: &str,
        join_token: Option<&str>,
        name: &str,
    ) -> RunningNode {
        let mut config = NodeConfig::new(data_dir, control_plane);
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.join_token = join_token.map(str::to_string);
        config.name = name.to_string();
        config.capacity_bytes = Some(TEST_NODE_CAPACITY);
        config.heartbeat_interval = Duration::from_secs(1);
        StorageNode::start(config).await.unwrap()
    }

    /// Start a stopped node again on its data (it keeps its enrolment; the port changes).
    pub async fn restart(&mut self) {
        assert!(self.node.is_none(), "{} is running", self.name);
        let node = Self::run(self.data_dir.path(), &self.control_plane, None, &self.name).await;
        assert_eq!(node.node_id(), self.node_id);
        self.address = node.address().to_string();
        self.store = node.store().clone();
        self.node = Some(node);
    }

    /// Where this node keeps the chunk `sha256` (also after shutdown).
    pub fn chunk_path(&self, sha256: &str) -> PathBuf {
        self.store.chunk_path(sha256)
    }

    pub fn is_running(&self) -> bool {
        self.node.is_some()
    }

    /// Stop serving and heartbeating (the data stays on disk).
    pub async fn shutdown(&mut self) {
        if let Some(node) = self.node.take() {
            node.shutdown().await;
        }
    }
}

/// The Python with boto3: `$KUMO_PYTHON`, else the workspace's `.venv`, else `python3`.
pub fn python() -> String {
    if let Ok(python) = std::env::var("KUMO_PYTHON") {
        return python;
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    if venv.exists() {
        return venv.to_string_lossy().into_owned();
    }
    "python3".into()
}

/// Run a boto3 script of `tests/` with `args` and no AWS profile or config of this machine;
/// its report (the JSON on its last stdout line: `passed`, `failed`), its output, stdout
/// and stderr.
pub async fn run_boto3_report(
    script: &str,
    args: &[String],
) -> (serde_json::Value, Output, String, String) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(script);
    let out = tokio::process::Command::new(python())
        .arg(&script)
        .args(args)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .output()
        .await
        .expect("python with boto3: run deploy/install-deps.sh --test, or set KUMO_PYTHON");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report: serde_json::Value = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no report from the script\nstdout: {stdout}\nstderr: {stderr}"));
    (report, out, stdout, stderr)
}
