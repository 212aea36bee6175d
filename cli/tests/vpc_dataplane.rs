#![allow(clippy::unwrap_used)]
//! The VPC data plane end to end, with real packets: one `kumo up --no-agent` and three
//! `kumo agent` processes (children of this test, each with its own state dir) whose host
//! networking lives in the namespaces of a `kumo_compute_node::testing::Topology` (an
//! underlay switch for VXLAN, an uplink switch with the "outside" at 203.0.113.100), the
//! operator's public pool 203.0.113.128/25. `tests/network/dataplane.py` (boto3) builds
//! two accounts' VPCs with the same CIDR, security groups, an internet gateway, and pins
//! containers and a TCG VM to hosts; then probes TCP across hosts both ways, isolation of
//! the same addresses in the other VPC, a security group's port 22 authorized and revoked
//! 20 times (the time from the API answer to enforcement on the remote host: p50/p99)
//! under an established port-80 connection, an elastic IP from the outside and outbound.
//! This file measures TCP throughput over VXLAN vs one bridge, SIGKILLs and restarts an
//! agent while traffic flows (the longest gap), and after termination checks that no
//! bridge, VXLAN, veth, tap, router or instance namespace, nft table or dnsmasq is left.
//! Needs root, runc, qemu-system-x86_64, iproute2, nftables, dnsmasq and the default
//! images (`deploy/build-images.sh`). Figures are printed, never asserted.

mod kumo_up;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kumo_compute_node::container::{ContainerConfig, ContainerRuntime};
use kumo_compute_node::dns::DnsServers;
use kumo_compute_node::network::HostNetwork;
use kumo_compute_node::testing::{
    http_get_in, in_netns, router_namespaces_of, Topology, OUTSIDE_ADDR, PUBLIC_POOL,
};
use kumo_compute_node::vm::{VmConfig, VmRuntime};
use kumo_up::KumoUp;
use serde_json::{json, Value};

const HOSTS: u8 = 3;
const THROUGHPUT_MIB: usize = 200;
const THROUGHPUT_PORT: u16 = 5001;

/// One `kumo agent` child process.
struct Agent {
    name: String,
    n: u8,
    dir: PathBuf,
    args: Vec<String>,
    child: Option<Child>,
}

impl Agent {
    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.with_extension("log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_kumo"))
            .arg("agent")
            .args(&self.args)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            for _ in 0..100 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn host_id(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("node.json")).ok()?;
        let node: Value = serde_json::from_str(&text).ok()?;
        node["host_id"].as_str().map(str::to_owned)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.with_extension("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The agents; dropping them kills them and removes what a failed run left (instances,
/// their namespaces, dnsmasq processes).
struct Agents(Vec<Agent>);

impl Drop for Agents {
    fn drop(&mut self) {
        for agent in &mut self.0 {
            agent.kill();
        }
        let dirs: Vec<PathBuf> = self.0.iter().map(|a| a.dir.clone()).collect();
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                for dir in dirs {
                    let containers =
                        ContainerRuntime::new(ContainerConfig::new(dir.join("containers")));
                    let vms = VmRuntime::new(VmConfig::new(dir.join("vms")));
                    let ids: Vec<String> = containers
                        .known_instances()
                        .unwrap_or_default()
                        .into_iter()
                        .chain(vms.known_instances().unwrap_or_default())
                        .collect();
                    for id in &ids {
                        let _ = containers.remove(id).await;
                        let _ = vms.remove(id).await;
                        let _ = Command::new("ip")
                            .args(["netns", "del", &HostNetwork::netns_name(id)])
                            .output();
                    }
                    let dns = DnsServers::new(dir.join("dns"));
                    for ns in dns.managed() {
                        let _ = dns.stop(&ns).await;
                    }
                }
            });
        })
        .join();
    }
}

/// A native API call through curl: the JSON answer (Null when empty).
fn native(endpoint: &str, method: &str, path: &str, body: Option<Value>, token: &str) -> Value {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--fail-with-body", "--max-time", "30", "-X", method])
        .args(["-H", &format!("authorization: Bearer {token}")]);
    if let Some(body) = body {
        cmd.args([
            "-H",
            "content-type: application/json",
            "-d",
            &body.to_string(),
        ]);
    }
    let out = cmd.arg(format!("{endpoint}{path}")).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn operator_token(endpoint: &str, state: &Path) -> String {
    let password = std::fs::read_to_string(state.join("operator-password")).unwrap();
    let body = json!({"account": "operator", "user_name": "operator", "password": password.trim()});
    let out = Command::new("curl")
        .args(["-s", "--fail-with-body", "-X", "POST"])
        .args([
            "-H",
            "content-type: application/json",
            "-d",
            &body.to_string(),
        ])
        .arg(format!("{endpoint}/v1/login"))
        .output()
        .unwrap();
    let answer: Value = serde_json::from_slice(&out.stdout).unwrap();
    answer["token"].as_str().unwrap().to_string()
}

/// Runs one phase of the boto3 script; its `FIGURE name {json}` lines.
fn phase(up: &KumoUp, state: &Path, name: &str, agents: &Agents) -> BTreeMap<String, Value> {
    let out = up.run_python(
        state,
        "network/dataplane.py",
        &[std::ffi::OsStr::new(name)],
        None,
    );
    if !out.status.success() {
        if let Ok(seconds) = std::env::var("KUMO_DP_HOLD") {
            // Debugging: the world stays up until the time is over or STATE/release exists.
            println!(
                "holding the world for {seconds} s (KUMO_DP_HOLD; touch {}/release to end)",
                state.display()
            );
            let until = Instant::now() + Duration::from_secs(seconds.parse().unwrap_or(600));
            while Instant::now() < until && !state.join("release").exists() {
                std::thread::sleep(Duration::from_millis(500));
            }
        }
        println!("kumo up's log tail:\n{}", up.log_tail());
        for agent in &agents.0 {
            println!("agent {}'s log tail:\n{}", agent.name, agent.log_tail());
        }
    }
    assert!(
        out.status.success(),
        "phase {name} failed (see FAIL lines above)"
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("FIGURE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| {
            (
                k.to_string(),
                serde_json::from_str(v).unwrap_or(Value::Null),
            )
        })
        .collect()
}

#[derive(Clone)]
struct Instance {
    id: String,
    ip: Ipv4Addr,
    host: u8,
}

impl Instance {
    fn netns(&self) -> String {
        HostNetwork::netns_name(&self.id)
    }
    fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::from((self.ip, port))
    }
}

fn instances(state: &Path) -> BTreeMap<String, Instance> {
    let world: Value =
        serde_json::from_str(&std::fs::read_to_string(state.join("dataplane.json")).unwrap())
            .unwrap();
    world["instances"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, i)| {
            (
                name.clone(),
                Instance {
                    id: i["id"].as_str().unwrap().to_string(),
                    ip: i["ip"].as_str().unwrap().parse().unwrap(),
                    host: i["host"].as_u64().unwrap() as u8,
                },
            )
        })
        .collect()
}

/// MiB/s of `THROUGHPUT_MIB` MiB sent over one TCP connection from `from`'s namespace to a
/// listener in `to`'s (sockets opened inside the instances' namespaces).
fn throughput(from: &Instance, to: &Instance) -> f64 {
    let bind = SocketAddr::from(([0, 0, 0, 0], THROUGHPUT_PORT));
    let listener = in_netns(&to.netns(), move || TcpListener::bind(bind)).unwrap();
    let receiver = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0usize;
        loop {
            let n = stream.read(&mut buf).unwrap();
            if n == 0 {
                return (total, Instant::now());
            }
            total += n;
        }
    });
    let target = to.addr(THROUGHPUT_PORT);
    let started = Instant::now();
    in_netns(&from.netns(), move || {
        let mut stream = TcpStream::connect_timeout(&target, Duration::from_secs(5))?;
        let buf = vec![0x5au8; 1 << 20];
        for _ in 0..THROUGHPUT_MIB {
            stream.write_all(&buf)?;
        }
        stream.shutdown(std::net::Shutdown::Write)?;
        Ok(())
    })
    .unwrap();
    let (total, ended) = receiver.join().unwrap();
    assert_eq!(total, THROUGHPUT_MIB << 20, "bytes received");
    THROUGHPUT_MIB as f64 / ended.duration_since(started).as_secs_f64()
}

/// Probe `from` → `to`:80 every 50 ms while `during` runs and for `after` more; the
/// longest stretch without a successful probe, and the number of failed probes.
fn probe_gap(
    from: &Instance,
    to: &Instance,
    expected: &str,
    after: Duration,
    during: impl FnOnce(),
) -> (Duration, usize, bool) {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (ns, addr, expected) = (from.netns(), to.addr(80), expected.to_string());
    let flag = stop.clone();
    let prober = std::thread::spawn(move || {
        let mut last_ok = Instant::now();
        let (mut gap, mut failures, mut last) = (Duration::ZERO, 0usize, false);
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            let ok = http_get_in(&ns, addr, "/", 1).is_some_and(|b| b.trim() == expected);
            let now = Instant::now();
            if ok {
                gap = gap.max(now.duration_since(last_ok));
                last_ok = now;
            } else {
                failures += 1;
            }
            last = ok;
            std::thread::sleep(Duration::from_millis(50));
        }
        gap = gap.max(Instant::now().duration_since(last_ok));
        (gap, failures, last)
    });
    during();
    std::thread::sleep(after);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    prober.join().unwrap()
}

/// A host namespace's link names and nft tables (a restarted agent adopts them as they are).
fn host_state(ns: &str) -> (Vec<String>, String) {
    let links = Command::new("ip")
        .args(["-n", ns, "-o", "link", "show"])
        .output()
        .unwrap();
    let mut names: Vec<String> = String::from_utf8_lossy(&links.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect();
    names.sort();
    let tables = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "list", "tables"])
        .output()
        .unwrap();
    (names, String::from_utf8_lossy(&tables.stdout).into_owned())
}

/// What of the agents' plumbing is left anywhere (empty: nothing).
fn leftovers(
    topology: &Topology,
    owners: &[String],
    instance_ids: &[String],
    dirs: &[PathBuf],
) -> Vec<String> {
    let mut left = Vec::new();
    for n in 1..=HOSTS {
        let ns = topology.host_netns(n);
        let links = Command::new("ip")
            .args(["-n", &ns, "-o", "link", "show"])
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&links.stdout).lines() {
            let name = line.split(':').nth(1).unwrap_or("").trim();
            let name = name.split('@').next().unwrap_or(name);
            if ["kb-", "kx-", "kg-", "kr-", "kv", "kt"]
                .iter()
                .any(|p| name.starts_with(p))
            {
                left.push(format!("{ns}: link {name}"));
            }
        }
        let tables = Command::new("ip")
            .args(["netns", "exec", &ns, "nft", "list", "tables"])
            .output()
            .unwrap();
        for table in String::from_utf8_lossy(&tables.stdout).lines() {
            if table.contains("kumo_sg")
                || table.contains("kumo_spoof")
                || table.trim() == "table inet kumo"
            {
                left.push(format!("{ns}: {}", table.trim()));
            }
        }
    }
    for ns in router_namespaces_of(owners) {
        left.push(format!("router namespace {ns}"));
    }
    for id in instance_ids {
        let ns = HostNetwork::netns_name(id);
        if Path::new("/var/run/netns").join(&ns).exists() {
            left.push(format!("instance namespace {ns}"));
        }
    }
    for dir in dirs {
        let dns = DnsServers::new(dir.join("dns"));
        for ns in dns.managed() {
            if let Some(pid) = dns.running_pid(&ns) {
                left.push(format!("dnsmasq {pid} for {ns}"));
            }
        }
    }
    left
}

#[test]
fn vpc_data_plane_across_three_hosts() {
    let started = Instant::now();
    let prefix = format!("kd{:04x}", rand_word() & 0xffff);
    let topology = Topology::create(&prefix, HOSTS).unwrap();
    let state = tempfile::Builder::new()
        .prefix("kumo-dp-")
        .tempdir_in("/tmp")
        .unwrap();
    // No storage node: the hosts' namespaces cannot reach one on kumo up's loopback, and
    // without one in the zone a VM keeps its image's root on its host (instance store).
    let mut up = KumoUp::start_and(state.path(), "warn", &["--storage-nodes", "0"]);
    let operator = operator_token(&up.endpoint, state.path());
    let join = native(&up.endpoint, "POST", "/v1/join-tokens", None, &operator);
    let join_token = join["join_token"].as_str().unwrap().to_string();

    let mut agents = Agents(Vec::new());
    for n in 1..=HOSTS {
        let name = format!("{prefix}-h{n}");
        let dir = state.path().join(format!("agent-h{n}"));
        let mut args: Vec<String> = vec![
            "--control-plane".into(),
            up.endpoint.clone(),
            "--join-token".into(),
            join_token.clone(),
            "--name".into(),
            name.clone(),
            "--state-dir".into(),
            dir.to_string_lossy().into_owned(),
            "--vcpus".into(),
            "16".into(),
            "--memory-mib".into(),
            "16384".into(),
        ];
        args.extend(topology.agent_args(n));
        let mut agent = Agent {
            name,
            n,
            dir,
            args,
            child: None,
        };
        agent.start();
        agents.0.push(agent);
    }
    let mut owners = Vec::new();
    for agent in &agents.0 {
        let deadline = Instant::now() + Duration::from_secs(60);
        let host_id = loop {
            if let Some(id) = agent.host_id() {
                break id;
            }
            assert!(
                Instant::now() < deadline,
                "{} never enrolled:\n{}",
                agent.name,
                agent.log_tail()
            );
            std::thread::sleep(Duration::from_millis(200));
        };
        topology.adopt_owner(&host_id);
        owners.push(host_id);
    }
    let input = json!({
        "prefix": prefix,
        "hosts": agents.0.iter().map(|a| a.name.clone()).collect::<Vec<_>>(),
        "outside_netns": topology.outside_netns(),
        "outside_addr": OUTSIDE_ADDR.to_string(),
        "public_pool": PUBLIC_POOL,
    });
    std::fs::write(state.path().join("dataplane-input.json"), input.to_string()).unwrap();
    println!(
        "control plane and 3 agents up after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    phase(&up, state.path(), "setup", &agents);
    let world = instances(state.path());
    for i in world.values() {
        topology.adopt_netns(&i.netns());
    }
    println!("world built after {:.1} s", started.elapsed().as_secs_f64());
    let mut figures = phase(&up, state.path(), "probe", &agents);
    println!("probes done after {:.1} s", started.elapsed().as_secs_f64());

    // Throughput: a1 (host 1) → a2 (host 2) over VXLAN; a1 → a4 (host 1) on one bridge.
    let (a1, a2, a4) = (&world["a1"], &world["a2"], &world["a4"]);
    assert_eq!((a1.host, a2.host, a4.host), (1, 2, 1));
    let vxlan = throughput(a1, a2);
    let bridge = throughput(a1, a4);
    figures.insert(
        "throughput".into(),
        json!({"vxlan_mib_s": vxlan.round(), "bridge_mib_s": bridge.round(), "ratio": (vxlan / bridge * 100.0).round() / 100.0}),
    );
    println!("TCP throughput ({THROUGHPUT_MIB} MiB): two hosts over VXLAN {vxlan:.0} MiB/s, one bridge {bridge:.0} MiB/s, ratio {:.2}", vxlan / bridge);

    // SIGKILL host 2's agent (a2's host) while a1 → a2:80 runs, restart it after 2 s.
    let host2 = agents.0.iter().position(|a| a.n == a2.host).unwrap();
    let before = host_state(&topology.host_netns(a2.host));
    let (gap, failures, last_ok) = probe_gap(a1, a2, "a2", Duration::from_secs(6), || {
        std::thread::sleep(Duration::from_millis(500));
        agents.0[host2].kill();
        std::thread::sleep(Duration::from_secs(2));
        agents.0[host2].start();
    });
    println!(
        "agent of host 2 SIGKILLed and restarted: longest gap between successful a1 -> a2:80 probes {:.0} ms, {failures} failed probes",
        gap.as_secs_f64() * 1000.0
    );
    assert!(
        last_ok,
        "a1 -> a2:80 does not work after the agent's restart:\n{}",
        agents.0[host2].log_tail()
    );
    phase(&up, state.path(), "restart", &agents);
    assert_eq!(
        host_state(&topology.host_netns(a2.host)),
        before,
        "host 2's links and nft tables after the agent's restart"
    );
    let (b1, b2) = (&world["b1"], &world["b2"]);
    assert_eq!(
        http_get_in(&a2.netns(), a1.addr(80), "/", 2)
            .as_deref()
            .map(str::trim),
        Some("a1")
    );
    assert_eq!(
        http_get_in(&b2.netns(), b1.addr(80), "/", 2)
            .as_deref()
            .map(str::trim),
        Some("b1")
    );
    assert_eq!(
        http_get_in(&b1.netns(), a4.addr(80), "/", 1),
        None,
        "b1 reaches A's a4 after the restart"
    );
    figures.insert(
        "agent_restart".into(),
        json!({"gap_ms": (gap.as_secs_f64() * 1000.0).round(), "failed_probes": failures}),
    );

    phase(&up, state.path(), "end", &agents);
    let ids: Vec<String> = world.values().map(|i| i.id.clone()).collect();
    let dirs: Vec<PathBuf> = agents.0.iter().map(|a| a.dir.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    let cleaned = Instant::now();
    loop {
        let left = leftovers(&topology, &owners, &ids, &dirs);
        if left.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            for agent in &agents.0 {
                println!("agent {}'s log tail:\n{}", agent.name, agent.log_tail());
            }
            panic!(
                "left behind after every instance ended:\n{}",
                left.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    println!(
        "nothing left on any host {:.1} s after termination",
        cleaned.elapsed().as_secs_f64()
    );

    for agent in &mut agents.0 {
        agent.terminate();
    }
    up.assert_clean_stop();
    println!(
        "FIGURES {}",
        serde_json::to_string_pretty(&figures).unwrap()
    );
    println!("total {:.1} s", started.elapsed().as_secs_f64());
}

fn rand_word() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    nanos ^ std::process::id()
}
