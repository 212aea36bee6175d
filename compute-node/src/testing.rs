//! A multi-host network topology for tests, in network namespaces of the machine (needs
//! root): the hosts are namespaces the agents (or a [`crate::vpc::VpcPlumbing`]) use as
//! their host namespace (`--host-netns`), joined by an underlay switch, with an uplink
//! switch where the "outside" lives.
//!
//! - `<prefix>-under`: bridge `br0`, the underlay switch (MTU 9000: room for VXLAN);
//! - `<prefix>-out`: bridge `br0`, the uplink switch, holding [`OUTSIDE_ADDR`]/24;
//! - `<prefix>-h<N>` (N = 1…9): `ul0` on the underlay with `10.77.0.1N/24` (the tunnel
//!   endpoint), `up0` on the uplink switch with `203.0.113.1N/24`, `lo` up.
//!
//! Public addresses for tests come from [`PUBLIC_POOL`] (on the uplink's L2: the outside
//! ARPs for them, a host answers by proxy ARP). Dropping the [`Topology`] deletes every
//! namespace it made (their links go with them) and every namespace handed to
//! [`Topology::adopt_netns`]; [`Topology::adopt_owner`] adds the router namespaces of an
//! agent. Also on panic.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use crate::network::NETNS_DIR;

/// The outside's address on the uplink switch.
pub const OUTSIDE_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 100);
/// The root namespace's address on the underlay ([`Topology::join_root_namespace`]).
pub const ROOT_ON_UNDERLAY: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 250);
/// The uplink's name in every host.
pub const UPLINK: &str = "up0";
/// The underlay link's name in every host.
pub const UNDERLAY: &str = "ul0";
/// Public addresses for tests (inside the uplink switch's /24).
pub const PUBLIC_POOL: &str = "203.0.113.128/25";

/// The namespaces of a multi-host test; removed when dropped.
#[derive(Debug)]
pub struct Topology {
    prefix: String,
    hosts: u8,
    made: Vec<String>,
    adopted: Mutex<Vec<String>>,
    owners: Mutex<Vec<String>>,
}

impl Topology {
    /// Build the topology with `hosts` hosts (1–9). `prefix`: a short unique word (≤ 8
    /// characters), e.g. `kt1a2b`.
    pub fn create(prefix: &str, hosts: u8) -> io::Result<Self> {
        if !(1..=9).contains(&hosts) || prefix.is_empty() || prefix.len() > 8 {
            return Err(io::Error::other("1–9 hosts and a prefix of 1–8 characters"));
        }
        let mut topology = Self {
            prefix: prefix.to_string(),
            hosts,
            made: Vec::new(),
            adopted: Mutex::new(Vec::new()),
            owners: Mutex::new(Vec::new()),
        };
        topology.build()?;
        Ok(topology)
    }

    fn build(&mut self) -> io::Result<()> {
        let under = self.underlay_netns();
        let out = self.outside_netns();
        for ns in [&under, &out] {
            self.add_netns(ns)?;
            ip(&["-n", ns, "link", "add", "br0", "type", "bridge"])?;
            ip(&["-n", ns, "link", "set", "br0", "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&["-n", &under, "link", "set", "br0", "mtu", "9000"])?;
        ip(&[
            "-n",
            &out,
            "addr",
            "add",
            &format!("{OUTSIDE_ADDR}/24"),
            "dev",
            "br0",
        ])?;
        for n in 1..=self.hosts {
            let host = self.host_netns(n);
            self.add_netns(&host)?;
            ip(&["-n", &host, "link", "set", "lo", "up"])?;
            let port = format!("h{n}");
            for (inner, switch, addr, mtu) in [
                (UNDERLAY, &under, Self::vtep(n), "9000"),
                (UPLINK, &out, Self::uplink_address(n), "1500"),
            ] {
                ip(&[
                    "link", "add", inner, "mtu", mtu, "netns", &host, "type", "veth", "peer",
                    "name", &port, "mtu", mtu, "netns", switch,
                ])?;
                ip(&["-n", switch, "link", "set", &port, "master", "br0"])?;
                ip(&["-n", switch, "link", "set", &port, "up"])?;
                ip(&[
                    "-n",
                    &host,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    inner,
                ])?;
                ip(&["-n", &host, "link", "set", inner, "up"])?;
            }
        }
        Ok(())
    }

    fn add_netns(&mut self, name: &str) -> io::Result<()> {
        ip(&["netns", "add", name])?;
        self.made.push(name.to_string());
        Ok(())
    }

    /// Host `n`'s namespace (1-based).
    pub fn host_netns(&self, n: u8) -> String {
        format!("{}-h{n}", self.prefix)
    }

    pub fn underlay_netns(&self) -> String {
        format!("{}-under", self.prefix)
    }

    pub fn outside_netns(&self) -> String {
        format!("{}-out", self.prefix)
    }

    pub fn hosts(&self) -> u8 {
        self.hosts
    }

    /// Host `n`'s tunnel endpoint: `10.77.0.1N`.
    pub fn vtep(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, 10 + n)
    }

    /// Host `n`'s address on the uplink switch: `203.0.113.1N`.
    pub fn uplink_address(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(203, 0, 113, 10 + n)
    }

    /// Put the machine's own (root) namespace on the underlay at [`ROOT_ON_UNDERLAY`], for
    /// services the hosts must reach, such as `kumo up`'s storage nodes (their NBD exports
    /// are dialled from a host's namespace by its VMs' QEMU). The root namespace gets a route
    /// to the underlay's /24, so one topology at a time on the machine may do this. The link
    /// goes with the underlay namespace.
    pub fn join_root_namespace(&self) -> io::Result<Ipv4Addr> {
        let under = self.underlay_netns();
        let link = format!("{}-ul", self.prefix);
        ip(&[
            "link", "add", &link, "type", "veth", "peer", "name", "root", "netns", &under,
        ])?;
        ip(&["-n", &under, "link", "set", "root", "master", "br0"])?;
        ip(&["-n", &under, "link", "set", "root", "up"])?;
        ip(&[
            "addr",
            "add",
            &format!("{ROOT_ON_UNDERLAY}/24"),
            "dev",
            &link,
        ])?;
        ip(&["link", "set", &link, "up"])?;
        Ok(ROOT_ON_UNDERLAY)
    }

    /// The agent flags that put an agent on host `n`.
    pub fn agent_args(&self, n: u8) -> Vec<String> {
        vec![
            "--host-netns".into(),
            self.host_netns(n),
            "--vtep-address".into(),
            Self::vtep(n).to_string(),
            "--uplink".into(),
            UPLINK.into(),
        ]
    }

    /// Delete namespace `name` with the topology too (an instance's, a router's).
    pub fn adopt_netns(&self, name: &str) {
        if let Ok(mut adopted) = self.adopted.lock() {
            adopted.push(name.to_string());
        }
    }

    /// Delete the router namespaces marked as `owner`'s (an agent's host id) with the
    /// topology too.
    pub fn adopt_owner(&self, owner: &str) {
        if let Ok(mut owners) = self.owners.lock() {
            owners.push(owner.to_string());
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let owners = self.owners.lock().map(|o| o.clone()).unwrap_or_default();
        let mut doomed = self.adopted.lock().map(|a| a.clone()).unwrap_or_default();
        doomed.extend(router_namespaces_of(&owners));
        doomed.extend(self.made.iter().rev().cloned());
        for ns in doomed {
            let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        }
    }
}

/// The router namespaces on the machine marked as one of `owners`' (agents' host ids).
pub fn router_namespaces_of(owners: &[String]) -> Vec<String> {
    crate::vpc::router_namespaces()
        .into_iter()
        .filter(|ns| {
            let mark = Command::new("ip")
                .args(["-n", ns, "-d", "link", "show", "dev", "lo"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            owners
                .iter()
                .any(|owner| mark.contains(&format!(" owner={owner} ")))
        })
        .collect()
}

/// Kills, when dropped, the QEMU of every instance directory under its path (a VM
/// runtime's state directory): QEMU daemonizes, so a failed test would leave it running.
/// Only a process whose command line names that instance's pid file.
#[derive(Debug)]
pub struct KillQemuOnDrop(pub PathBuf);

impl Drop for KillQemuOnDrop {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return;
        };
        for entry in entries.flatten() {
            let pidfile = entry.path().join(crate::vm::PID_FILE);
            let Some(pid) = std::fs::read_to_string(&pidfile)
                .ok()
                .and_then(|t| t.trim().parse::<i32>().ok())
            else {
                continue;
            };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*pidfile.to_string_lossy()) {
                // SAFETY: plain syscall on a pid verified to be that instance's QEMU.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Force-deletes, when dropped, the runc containers `ids` (state under `root`) and their
/// network namespaces.
#[derive(Debug)]
pub struct RemoveContainersOnDrop {
    pub root: PathBuf,
    pub ids: Vec<String>,
}

impl Drop for RemoveContainersOnDrop {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = Command::new("runc")
                .arg("--root")
                .arg(&self.root)
                .args(["delete", "--force", id])
                .output();
            let _ = Command::new("ip")
                .args(["netns", "del", &crate::network::HostNetwork::netns_name(id)])
                .output();
        }
    }
}

/// The forwarding entries programmed (permanent) in namespace `ns`, one a line: what
/// the bridges learnt comes and goes, what was programmed stays.
pub fn programmed_fdb(ns: &str) -> String {
    let fdb = Command::new("bridge")
        .args(["-n", ns, "fdb", "show"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    fdb.lines()
        .filter(|l| l.contains("permanent"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// `ip …`, failing with its stderr.
fn ip(args: &[&str]) -> io::Result<()> {
    let out = Command::new("ip").args(args).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Run `f` on a thread inside the named namespace `ns` (sockets it opens stay there).
pub fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    let path = Path::new(NETNS_DIR).join(ns);
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path)?;
        // SAFETY: setns(2) with an open namespace file; changes this thread only.
        if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        f()
    })
    .join()
    .map_err(|_| io::Error::other("thread panicked"))?
}

/// A TCP listener on `addr` inside namespace `ns`: `accept_peer` tells who connected.
pub struct PeerProbe {
    listener: TcpListener,
}

impl PeerProbe {
    pub fn listen(ns: &str, addr: SocketAddr) -> io::Result<Self> {
        let listener = in_netns(ns, move || TcpListener::bind(addr))?;
        listener.set_nonblocking(true)?;
        Ok(Self { listener })
    }

    /// The source address of the next connection, waiting at most `timeout`.
    pub fn accept_peer(&self, timeout: Duration) -> io::Result<SocketAddr> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.listener.accept() {
                Ok((_, peer)) => return Ok(peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() > deadline {
                        return Err(io::Error::new(io::ErrorKind::TimedOut, "no connection"));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// `GET http://<addr><path>` (HTTP/1.0) from namespace `ns`: the body of a 200 answer,
/// or `None` when there was no connection, no answer within `seconds`, or another status.
pub fn http_get_in(ns: &str, addr: SocketAddr, path: &str, seconds: u64) -> Option<String> {
    use std::io::{Read, Write};
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let timeout = Duration::from_secs(seconds.max(1));
    let answer = in_netns(ns, move || {
        let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.write_all(request.as_bytes())?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer)?;
        Ok(answer)
    })
    .ok()?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?;
    status
        .split_whitespace()
        .nth(1)
        .filter(|code| *code == "200")
        .map(|_| body.to_string())
}

/// A rootfs tarball in `dir`: static busybox with a symlink per applet.
pub fn busybox_rootfs(dir: &Path) -> io::Result<PathBuf> {
    let src = dir.join("rootfs-src");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "www"] {
        std::fs::create_dir_all(src.join(d))?;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| io::Error::other("busybox-static is not installed"))?;
    std::fs::copy(busybox, src.join("bin/busybox"))?;
    let list = Command::new(busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", src.join("bin").join(applet))?;
    }
    std::fs::write(src.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    let tar = dir.join("rootfs.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()?;
    if !status.success() {
        return Err(io::Error::other("tar failed"));
    }
    Ok(tar)
}

/// For single-host tests without a VPC router: put the gateway (`a.b.c.d/len`) and the
/// metadata address on `bridge` in namespace `host_ns` itself, so instances on it reach
/// a metadata listener bound to the bridge (as bridges were before router namespaces).
pub fn gateway_on_bridge(host_ns: &str, bridge: &str, gateway: &str) -> io::Result<()> {
    let metadata = format!("{}/32", crate::network::METADATA_ADDR);
    for address in [gateway, metadata.as_str()] {
        ip(&["-n", host_ns, "addr", "replace", address, "dev", bridge])?;
    }
    Ok(())
}

/// SIGKILL every process named `program` whose command line mentions `dir`: test clean-up of
/// the daemons that outlive their agent by design (dnsmasq, qemu-storage-daemon). Returns
/// how many it killed.
pub fn kill_processes_mentioning(program: &str, dir: &Path) -> usize {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let mut killed = 0;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let named = args
            .first()
            .and_then(|a| Path::new(a).file_name())
            .is_some_and(|n| n == program);
        if named && args.iter().any(|a| a.contains(&needle)) {
            // SAFETY: kill(2) on a pid read from /proc; at worst the process is gone.
            if unsafe { libc::kill(pid, libc::SIGKILL) } == 0 {
                killed += 1;
            }
        }
    }
    killed
}

/// Remove what a stopped agent (host id `owner`, state directory `state_dir`) built for its
/// VPCs: its dnsmasq processes (a running one keeps its namespace alive), its router
/// namespaces, and the links in `host_netns` (`None`: the current namespace) whose alias
/// marks them as its own. Test clean-up, once its instances are gone.
pub fn remove_agent_network(host_netns: Option<&str>, owner: &str, state_dir: &Path) {
    kill_processes_mentioning("dnsmasq", state_dir);
    for ns in router_namespaces_of(&[owner.to_string()]) {
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
    }
    let mut show = Command::new("ip");
    if let Some(ns) = host_netns {
        show.args(["-n", ns]);
    }
    let Ok(output) = show.args(["-d", "-j", "link", "show"]).output() else {
        return;
    };
    let links: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
    for link in links {
        let mine = link["ifalias"]
            .as_str()
            .and_then(crate::vpc::Mark::parse)
            .is_some_and(|mark| mark.owner == owner);
        if let (true, Some(name)) = (mine, link["ifname"].as_str()) {
            let mut del = Command::new("ip");
            if let Some(ns) = host_netns {
                del.args(["-n", ns]);
            }
            let _ = del.args(["link", "del", name]).output();
        }
    }
}

/// A rootfs tarball for test containers, built under `dir`: static busybox in `/bin` with a
/// symlink per applet, `/etc/passwd` with root, empty `/proc`, `/sys`, `/dev`, `/tmp`,
/// `/root`. Needs busybox-static.
pub fn busybox_rootfs_tarball(dir: &Path) -> io::Result<PathBuf> {
    let src = dir.join("rootfs-src");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        std::fs::create_dir_all(src.join(d))?;
    }
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "busybox-static is not installed")
        })?;
    std::fs::copy(busybox, src.join("bin/busybox"))?;
    let list = Command::new(busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        std::os::unix::fs::symlink("busybox", src.join("bin").join(applet))?;
    }
    std::fs::write(src.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    let tar = dir.join("rootfs.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()?;
    if !status.success() {
        return Err(io::Error::other(format!(
            "tar of the test rootfs: {status}"
        )));
    }
    Ok(tar)
}

/// A VM's spec for agent tests: one vCPU, 256 MiB, `image`, a primary interface at
/// `10.213.<subnet>.5/24` on bridge `kb-test` (gateway `.1`), account `000000000000`,
/// no volumes, no user data.
pub fn vm_spec(
    id: &str,
    image: kumo_compute_protocol::ImageSource,
    subnet: u8,
) -> kumo_compute_protocol::InstanceSpec {
    use kumo_compute_protocol::{
        DesiredState, InstanceKind, InstanceMetadata, InstanceSpec, NetworkAttachment,
    };
    let ip = Ipv4Addr::new(10, 213, subnet, 5);
    let mac = format!("02:00:0a:d5:{subnet:02x}:05");
    InstanceSpec {
        instance_id: id.to_string(),
        account_id: "000000000000".to_string(),
        kind: InstanceKind::Vm,
        desired: DesiredState::Running,
        generation: 1,
        reboot_count: 0,
        vcpus: 1,
        memory_mib: 256,
        image,
        network: NetworkAttachment {
            network_interface_id: String::new(),
            vpc_id: String::new(),
            subnet_id: "subnet-test".to_string(),
            bridge: "kb-test".to_string(),
            ip,
            prefix_len: 24,
            gateway: Ipv4Addr::new(10, 213, subnet, 1),
            mac: mac.clone(),
            dns_server: None,
            dns_domain: String::new(),
        },
        volumes: Vec::new(),
        metadata: InstanceMetadata {
            instance_id: id.to_string(),
            instance_type: "t3.micro".to_string(),
            ami_id: "ami-kumovm".to_string(),
            reservation_id: "r-test".to_string(),
            account_id: "000000000000".to_string(),
            availability_zone: "kumo-1a".to_string(),
            region: "kumo-1".to_string(),
            local_ipv4: ip,
            mac,
            hostname: "test".to_string(),
            public_keys: vec![],
            user_data: None,
        },
    }
}

/// The image source of a kernel + initramfs (+ disk) VM image.
pub fn vm_image(
    kernel: &Path,
    initramfs: &Path,
    disk: Option<&Path>,
) -> kumo_compute_protocol::ImageSource {
    kumo_compute_protocol::ImageSource {
        image_id: "ami-kumovm".to_string(),
        kind: kumo_compute_protocol::InstanceKind::Vm,
        kernel: Some(kernel.to_path_buf()),
        initramfs: Some(initramfs.to_path_buf()),
        disk: disk.map(Path::to_path_buf),
        rootfs: None,
    }
}
