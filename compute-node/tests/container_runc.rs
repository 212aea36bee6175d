//! OCI containers for real, with runc: lifecycle, cgroup v1 limits, user data, network
//! namespace, metadata from inside, survival of the agent and re-adoption. Each test
//! builds its own busybox rootfs and does its networking inside a throw-away network
//! namespace. Needs root, runc, iproute2, nftables and busybox-static.
#![allow(clippy::unwrap_used)]

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use kumo_compute_node::container::{ContainerConfig, ContainerRuntime, START_MARKER};
use kumo_compute_node::metadata::MetadataService;
use kumo_compute_node::network::HostNetwork;
use kumo_compute_node::testing::busybox_rootfs_tarball;
use kumo_compute_protocol::{
    DesiredState, ImageSource, InstanceKind, InstanceMetadata, InstanceSpec, NetworkAttachment,
    ObservedState,
};

const HELPER_ENV: &str = "KUMO_TEST_CONTAINER_HELPER";

/// Deletes a named network namespace when dropped (also when a test panics).
struct NetnsGuard(String);

impl NetnsGuard {
    fn create() -> Self {
        let name = format!("kumo-t-{:08x}", rand::random::<u32>());
        assert!(Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .unwrap()
            .success());
        NetnsGuard(name)
    }
}

impl Drop for NetnsGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// Force-deletes a container when dropped, so a failing test leaves nothing running.
struct ContainerGuard {
    root: PathBuf,
    id: String,
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&self.root)
            .args(["delete", "--force", &self.id])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &HostNetwork::netns_name(&self.id)])
            .output();
    }
}

/// One test's world: a busybox rootfs tarball, a state directory, a throw-away host
/// namespace and an instance id whose container is force-deleted at the end.
struct Bench {
    // Dropped in this order: the container, then its host namespace, then the files.
    _container: ContainerGuard,
    host: NetnsGuard,
    net: HostNetwork,
    id: String,
    tar: PathBuf,
    state_dir: PathBuf,
    _tmp: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let tar = busybox_rootfs_tarball(tmp.path()).unwrap();
        let state_dir = tmp.path().join("state");
        let host = NetnsGuard::create();
        let id = instance_id();
        Bench {
            _container: ContainerGuard {
                root: state_dir.join("runc"),
                id: id.clone(),
            },
            net: HostNetwork::in_netns(&host.0),
            host,
            id,
            tar,
            state_dir,
            _tmp: tmp,
        }
    }
}

fn instance_id() -> String {
    format!("i-f{:016x}", rand::random::<u64>())
}

fn attachment(bridge: &str, subnet: u8, host: u8) -> NetworkAttachment {
    NetworkAttachment {
        network_interface_id: String::new(),
        vpc_id: String::new(),
        subnet_id: format!("subnet-{subnet}"),
        bridge: bridge.to_string(),
        ip: Ipv4Addr::new(10, subnet, 0, host),
        prefix_len: 24,
        gateway: Ipv4Addr::new(10, subnet, 0, 1),
        mac: format!("02:00:0a:{subnet:02x}:00:{host:02x}"),
        dns_server: None,
        dns_domain: String::new(),
    }
}

fn spec(
    id: &str,
    rootfs: &Path,
    att: &NetworkAttachment,
    user_data: Option<&[u8]>,
) -> InstanceSpec {
    InstanceSpec {
        instance_id: id.to_string(),
        account_id: "123456789012".into(),
        kind: InstanceKind::Container,
        desired: DesiredState::Running,
        generation: 1,
        reboot_count: 0,
        vcpus: 2,
        memory_mib: 256,
        image: ImageSource {
            image_id: "ami-busybox".into(),
            kind: InstanceKind::Container,
            kernel: None,
            initramfs: None,
            disk: None,
            rootfs: Some(rootfs.to_path_buf()),
        },
        network: att.clone(),
        volumes: Vec::new(),
        metadata: InstanceMetadata {
            instance_id: id.to_string(),
            instance_type: "c.small".into(),
            ami_id: "ami-busybox".into(),
            reservation_id: "r-0000000000000001".into(),
            account_id: "123456789012".into(),
            availability_zone: "kumo-1a".into(),
            region: "kumo-1".into(),
            local_ipv4: att.ip,
            mac: att.mac.clone(),
            hostname: id.to_string(),
            public_keys: vec![],
            user_data: user_data.map(<[u8]>::to_vec),
        },
    }
}

fn console(rt: &ContainerRuntime, id: &str) -> String {
    std::fs::read_to_string(rt.console_path(id)).unwrap_or_default()
}

/// Poll until `what` shows up in the console (at most 30 s).
async fn wait_console(rt: &ContainerRuntime, id: &str, what: &str, times: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = console(rt, id);
        if text.matches(what).count() >= times {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{what:?} ×{times} not in console:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Alive: /proc/<pid> exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start())
                .unwrap_or("");
            !state.starts_with('Z') && !state.starts_with('X')
        }
        Err(_) => false,
    }
}

/// The v1 cgroup directory of `pid` for `controller`, from /proc/<pid>/cgroup.
fn cgroup_dir(pid: u32, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, controllers, path) = (
            parts.next().unwrap(),
            parts.next().unwrap(),
            parts.next().unwrap(),
        );
        if controllers.split(',').any(|c| c == controller) {
            let mount = Path::new("/sys/fs/cgroup").join(controllers);
            let mount = if mount.exists() {
                mount
            } else {
                Path::new("/sys/fs/cgroup").join(controller)
            };
            return mount.join(path.trim_start_matches('/'));
        }
    }
    panic!("no {controller} cgroup in:\n{text}");
}

fn read_num(path: &Path) -> i64 {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .trim()
        .parse()
        .unwrap()
}

fn session_of(pid: u32) -> i64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    // state ppid pgrp session …
    rest.split_whitespace().nth(3).unwrap().parse().unwrap()
}

fn netns_inode(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

#[tokio::test]
async fn lifecycle_limits_stop_restart_remove() {
    let bench = Bench::new();
    let (tar, state_dir, net) = (bench.tar.clone(), bench.state_dir.clone(), &bench.net);
    let id = bench.id.clone();
    let att = attachment("kb-ct000001", 31, 2);
    let netns = net.attach_container(&id, &att).await.unwrap();
    let spec = spec(&id, &tar, &att, None);
    let config = ContainerConfig::new(&state_dir);
    assert_eq!(config.runtime, Path::new("runc"));

    let rt = ContainerRuntime::new(config.clone());
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Absent);
    assert!(rt.known_instances().unwrap().is_empty());
    rt.start(&spec, &netns).await.unwrap();
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Running);
    let pid = rt
        .pid(&id)
        .await
        .unwrap()
        .expect("a running container has a pid");
    assert!(alive(pid));
    wait_console(&rt, &id, &format!("{START_MARKER} {id}"), 1).await;
    assert!(state_dir.join(&id).join("rootfs/bin/busybox").exists());

    // In the instance's network namespace.
    assert_eq!(
        netns_inode(&netns),
        netns_inode(&PathBuf::from(format!("/proc/{pid}/ns/net")))
    );
    // cgroup v1 limits: 256 MiB, 2 × the CFS period.
    let mem = cgroup_dir(pid, "memory");
    assert!(mem.ends_with(format!("kumo/{id}")), "{}", mem.display());
    assert_eq!(read_num(&mem.join("memory.limit_in_bytes")), 268_435_456);
    let cpu = cgroup_dir(pid, "cpu");
    assert!(cpu.ends_with(format!("kumo/{id}")), "{}", cpu.display());
    let period = read_num(&cpu.join("cpu.cfs_period_us"));
    assert!(period > 0);
    assert_eq!(read_num(&cpu.join("cpu.cfs_quota_us")), 2 * period);

    // Starting again is a no-op.
    rt.start(&spec, &netns).await.unwrap();
    assert_eq!(rt.pid(&id).await.unwrap(), Some(pid));

    // Dropping the runtime leaves the container alone; a new one finds it.
    drop(rt);
    let rt = ContainerRuntime::new(config.clone());
    assert_eq!(rt.known_instances().unwrap(), vec![id.clone()]);
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Running);
    assert_eq!(rt.pid(&id).await.unwrap(), Some(pid));
    assert!(alive(pid));

    // Something written to the disk survives a stop.
    std::fs::write(state_dir.join(&id).join("rootfs/root/kept"), "yes").unwrap();
    rt.stop(&id, Duration::from_secs(10)).await.unwrap();
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Stopped);
    assert_eq!(rt.pid(&id).await.unwrap(), None);
    assert!(!alive(pid), "process {pid} still alive after stop");
    assert!(!mem.exists(), "cgroup {} left behind", mem.display());
    rt.stop(&id, Duration::from_secs(1)).await.unwrap(); // stopping again is fine
    assert_eq!(rt.known_instances().unwrap(), vec![id.clone()]);

    // Start again: same disk, new process, second marker in the same console.
    rt.start(&spec, &netns).await.unwrap();
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Running);
    let pid2 = rt.pid(&id).await.unwrap().unwrap();
    assert_ne!(pid2, pid);
    wait_console(&rt, &id, &format!("{START_MARKER} {id}"), 2).await;
    assert_eq!(
        std::fs::read_to_string(state_dir.join(&id).join("rootfs/root/kept")).unwrap(),
        "yes"
    );

    // Remove: nothing left.
    rt.remove(&id).await.unwrap();
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Absent);
    assert!(!alive(pid2));
    assert!(!state_dir.join(&id).exists());
    assert!(rt.known_instances().unwrap().is_empty());
    rt.remove(&id).await.unwrap();
    rt.stop(&id, Duration::from_secs(1)).await.unwrap();
    net.detach(&id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_data_runs_with_network_hostname_and_metadata() {
    let bench = Bench::new();
    let (tar, state_dir, net) = (bench.tar.clone(), bench.state_dir.clone(), &bench.net);
    let id = bench.id.clone();
    let att = attachment("kb-ct000002", 32, 7);
    let netns = net.attach_container(&id, &att).await.unwrap();
    let user_data = b"#!/bin/sh\n\
        echo hi-from-user-data\n\
        echo \"hostname=$(hostname)\"\n\
        ip -4 addr show dev eth0\n\
        echo \"md-id=$(wget -q -O - http://169.254.169.254/latest/meta-data/instance-id)\"\n";
    let spec = spec(&id, &tar, &att, Some(user_data));

    let md = MetadataService::in_netns(&bench.host.0);
    md.register(&att.bridge, spec.metadata.clone());
    // No VPC router here: the bridge plays it.
    kumo_compute_node::testing::gateway_on_bridge(&bench.host.0, &att.bridge, "10.32.0.1/24")
        .unwrap();
    md.ensure_listener(&att.bridge).await.unwrap();

    let rt = ContainerRuntime::new(ContainerConfig::new(&state_dir));
    rt.start(&spec, &netns).await.unwrap();
    let text = wait_console(&rt, &id, "KUMO-USER-DATA-EXIT 0", 1).await;
    assert!(text.contains("hi-from-user-data"), "{text}");
    assert!(text.contains(&format!("hostname={id}")), "{text}");
    assert!(text.contains("inet 10.32.0.7/24"), "{text}");
    assert!(text.contains(&format!("md-id={id}")), "{text}");
    assert_eq!(
        std::fs::read(state_dir.join(&id).join("rootfs/kumo-user-data")).unwrap(),
        user_data
    );
    // Still alive after the script.
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Running);

    // Without a script, the user data is not run (and the old script goes).
    rt.stop(&id, Duration::from_secs(10)).await.unwrap();
    let plain = spec_with_user_data(&spec, Some(b"just=some-data\n"));
    rt.start(&plain, &netns).await.unwrap();
    wait_console(&rt, &id, &format!("{START_MARKER} {id}"), 2).await;
    assert!(!state_dir.join(&id).join("rootfs/kumo-user-data").exists());
    assert_eq!(console(&rt, &id).matches("hi-from-user-data").count(), 1);

    rt.remove(&id).await.unwrap();
    net.detach(&id).await.unwrap();
}

fn spec_with_user_data(spec: &InstanceSpec, user_data: Option<&[u8]>) -> InstanceSpec {
    let mut s = spec.clone();
    s.metadata.user_data = user_data.map(<[u8]>::to_vec);
    s
}

/// Not a test of its own: the "agent" process that starts a container and exits, run by
/// `container_outlives_the_agent_process` as a child process. Without its environment
/// variable (a normal test run) it does nothing.
#[tokio::test]
async fn helper_start_container_and_exit() {
    let Ok(args) = std::env::var(HELPER_ENV) else {
        return;
    };
    let v: serde_json::Value = serde_json::from_str(&args).unwrap();
    let spec: InstanceSpec = serde_json::from_value(v["spec"].clone()).unwrap();
    let rt = ContainerRuntime::new(ContainerConfig::new(v["state_dir"].as_str().unwrap()));
    rt.start(&spec, Path::new(v["netns"].as_str().unwrap()))
        .await
        .unwrap();
    println!("HELPER-STARTED pid={}", std::process::id());
}

#[tokio::test]
async fn container_outlives_the_agent_process() {
    let bench = Bench::new();
    let (tar, state_dir, net) = (bench.tar.clone(), bench.state_dir.clone(), &bench.net);
    let id = bench.id.clone();
    let att = attachment("kb-ct000003", 33, 2);
    let netns = net.attach_container(&id, &att).await.unwrap();
    let spec = spec(&id, &tar, &att, None);

    // Another process starts the container and exits. Its stdout is a pipe: if the
    // container held on to it, this would never finish.
    let args = serde_json::json!({
        "spec": spec,
        "state_dir": state_dir,
        "netns": netns,
    });
    let child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "helper_start_container_and_exit",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HELPER_ENV, args.to_string())
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("the helper's output pipe stayed open: the container inherited it")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("HELPER-STARTED"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let helper_pid: u32 = stdout
        .split("HELPER-STARTED pid=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(!alive(helper_pid));

    // A new runtime on the same state directory adopts it.
    let rt = ContainerRuntime::new(ContainerConfig::new(&state_dir));
    assert_eq!(rt.known_instances().unwrap(), vec![id.clone()]);
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Running);
    let pid = rt.pid(&id).await.unwrap().unwrap();
    assert!(alive(pid));
    wait_console(&rt, &id, &format!("{START_MARKER} {id}"), 1).await;
    // Its own session, not ours.
    // SAFETY: getsid(0) only reads the calling process's session id.
    let our_session = i64::from(unsafe { libc::getsid(0) });
    assert_ne!(session_of(pid), our_session);
    // Its stdio is the console file.
    let stdout_target = std::fs::read_link(format!("/proc/{pid}/fd/1")).unwrap();
    assert_eq!(stdout_target, rt.console_path(&id));

    rt.remove(&id).await.unwrap();
    assert_eq!(rt.observe(&id).await.unwrap(), ObservedState::Absent);
    assert!(!alive(pid));
    net.detach(&id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vpc_resolver_is_the_containers_resolv_conf() {
    let bench = Bench::new();
    let (tar, state_dir, net) = (bench.tar.clone(), bench.state_dir.clone(), &bench.net);
    let id = bench.id.clone();
    let mut att = attachment("kb-ct000004", 34, 7);
    att.dns_server = Some(Ipv4Addr::new(10, 34, 0, 2));
    att.dns_domain = "ec2.internal".into();
    let netns = net.attach_container(&id, &att).await.unwrap();
    let script = b"#!/bin/sh\n\
        sed 's/^/resolv: /' /etc/resolv.conf\n\
        if echo nameserver 1.1.1.1 > /etc/resolv.conf; then echo resolv-writable; \
        else echo resolv-read-only; fi\n";
    let rt = ContainerRuntime::new(ContainerConfig::new(&state_dir));

    // The image has no /etc/resolv.conf: the container gets the VPC's, read-only.
    rt.start(&spec(&id, &tar, &att, Some(script)), &netns)
        .await
        .unwrap();
    let text = wait_console(&rt, &id, "KUMO-USER-DATA-EXIT 0", 1).await;
    assert!(text.contains("resolv: nameserver 10.34.0.2"), "{text}");
    assert!(text.contains("resolv: search ec2.internal"), "{text}");
    assert!(text.contains("resolv-read-only"), "{text}");

    // The image's own file stays as it is under the mount, and is what the container
    // sees once the VPC has no resolver (DNS support turned off).
    let image_file = state_dir.join(&id).join("rootfs/etc/resolv.conf");
    std::fs::write(&image_file, "nameserver 192.0.2.53\n").unwrap();
    rt.stop(&id, Duration::from_secs(10)).await.unwrap();
    rt.start(&spec(&id, &tar, &att, Some(script)), &netns)
        .await
        .unwrap();
    let text = wait_console(&rt, &id, "KUMO-USER-DATA-EXIT 0", 2).await;
    assert_eq!(
        text.matches("resolv: nameserver 10.34.0.2").count(),
        2,
        "{text}"
    );
    assert!(!text.contains("192.0.2.53"), "{text}");
    rt.stop(&id, Duration::from_secs(10)).await.unwrap();
    att.dns_server = None;
    rt.start(&spec(&id, &tar, &att, Some(script)), &netns)
        .await
        .unwrap();
    let text = wait_console(&rt, &id, "KUMO-USER-DATA-EXIT 0", 3).await;
    assert!(text.contains("resolv: nameserver 192.0.2.53"), "{text}");
    assert!(text.contains("resolv-writable"), "{text}");
    assert!(!state_dir.join(&id).join("resolv.conf").exists());

    rt.remove(&id).await.unwrap();
    net.detach(&id).await.unwrap();
}
