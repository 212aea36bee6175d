//! A VPC's DHCP server and resolver for real: a router namespace whose `gw` is on a bridge
//! (in a third namespace playing the host) with a client namespace on the same bridge;
//! the client gets its static lease with busybox udhcpc and resolves `ip-a-b-c-d` names
//! with busybox nslookup, other names through a stand-in upstream resolver on the bridge.
//! Needs root, iproute2, busybox and dnsmasq. Plus the generated
//! files' refusal of anything that could add a line of its own.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use kumo_compute_node::dns::{self, DnsChange, DnsServers, CONFIG_FILE, PID_FILE};
use kumo_compute_protocol::network::{InterfaceSpec, SubnetSpec, VpcSpec};

const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const CLIENT_MAC: &str = "02:00:0a:00:01:05";
const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 5);
const OTHER_MAC: &str = "02:00:0a:00:01:06";
const OTHER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 6);

fn sh(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program).args(args).output().unwrap()
}

fn must(program: &str, args: &[&str]) {
    let out = sh(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The namespaces of one test and whatever dnsmasq it left, removed when dropped (also
/// when the test panics).
struct Topology {
    host: String,
    router: String,
    client: String,
    state_dir: PathBuf,
}

impl Topology {
    /// Host namespace with bridge `br0`; router namespace with `gw` (the subnet gateway
    /// 10.0.1.1/24) on it; client namespace with `eth0` (no address) on it.
    fn new(state_dir: &Path) -> Self {
        let tag = format!("{:06x}", rand::random::<u32>() & 0xff_ffff);
        let topology = Topology {
            host: format!("kdns-h-{tag}"),
            router: format!("kdns-r-{tag}"),
            client: format!("kdns-c-{tag}"),
            state_dir: state_dir.to_path_buf(),
        };
        for ns in [&topology.host, &topology.client] {
            must("ip", &["netns", "add", ns]);
            must("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        let h = &topology.host;
        must("ip", &["-n", h, "link", "add", "br0", "type", "bridge"]);
        must("ip", &["-n", h, "link", "set", "br0", "up"]);
        topology.connect(&topology.client, "eth0", "p-c", CLIENT_MAC);
        topology.add_router();
        topology
    }

    /// The router namespace, its `gw` on the bridge with the subnet's gateway.
    fn add_router(&self) {
        must("ip", &["netns", "add", &self.router]);
        must("ip", &["-n", &self.router, "link", "set", "lo", "up"]);
        self.connect(&self.router, "gw", "p-gw", "02:00:00:00:00:01");
        must(
            "ip",
            &[
                "-n",
                &self.router,
                "addr",
                "add",
                "10.0.1.1/24",
                "dev",
                "gw",
            ],
        );
    }

    /// A veth from the bridge (`outer`) to `inner` in `ns`, both up.
    fn connect(&self, ns: &str, inner: &str, outer: &str, mac: &str) {
        let h = &self.host;
        must(
            "ip",
            &[
                "-n", h, "link", "add", outer, "type", "veth", "peer", "name", inner, "address",
                mac, "netns", ns,
            ],
        );
        must(
            "ip",
            &["-n", h, "link", "set", outer, "master", "br0", "up"],
        );
        must("ip", &["-n", ns, "link", "set", inner, "up"]);
    }

    /// The client's `eth0` holds only `address`/24, with a default route via the gateway.
    fn client_address(&self, address: &str) {
        let c = &self.client;
        must("ip", &["-n", c, "addr", "flush", "dev", "eth0"]);
        must(
            "ip",
            &[
                "-n",
                c,
                "addr",
                "add",
                &format!("{address}/24"),
                "dev",
                "eth0",
            ],
        );
        must(
            "ip",
            &["-n", c, "route", "add", "default", "via", "10.0.1.1"],
        );
    }

    fn in_netns(&self, ns: &str, args: &[&str]) -> std::process::Output {
        let mut all = vec!["netns", "exec", ns];
        all.extend_from_slice(args);
        sh("ip", &all)
    }

    /// Runs udhcpc in the client namespace: the `bound` variables, or `None` when no
    /// lease came.
    fn dhcp(&self, script_dir: &Path) -> Option<String> {
        let script = script_dir.join("udhcpc.sh");
        let result = script_dir.join("lease");
        let _ = std::fs::remove_file(&result);
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\n[ \"$1\" = bound ] && echo \"ip=$ip subnet=$subnet router=$router \
                 dns=$dns domain=$domain hostname=$hostname\" > {}\nexit 0\n",
                result.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let script = script.display().to_string();
        let out = self.in_netns(
            &self.client,
            &[
                "busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-t", "3", "-T", "1", "-s", &script,
            ],
        );
        out.status
            .success()
            .then(|| std::fs::read_to_string(&result).ok())?
    }

    /// `busybox nslookup <name> <server>` from the client namespace: its output, or
    /// `None` when it failed.
    fn nslookup(&self, name: &str) -> Option<String> {
        let out = self.in_netns(
            &self.client,
            &["busybox", "nslookup", name, &DNS.to_string()],
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status.success().then_some(text)
    }

    fn gw_addresses(&self) -> String {
        let out = sh(
            "ip",
            &["-n", &self.router, "-4", "addr", "show", "dev", "gw"],
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        let pid_file = self.state_dir.join(&self.router).join(PID_FILE);
        if let Ok(pid) = std::fs::read_to_string(pid_file) {
            let _ = sh("kill", &["-9", pid.trim()]);
        }
        for ns in [&self.client, &self.router, &self.host] {
            let _ = sh("ip", &["netns", "del", ns]);
        }
    }
}

/// A stand-in for the host's resolver: a dnsmasq on the bridge (10.0.1.250, in the host
/// namespace) answering `*.example.test` and `*.ec2.internal` with fixed addresses.
struct Upstream(std::process::Child);

const UPSTREAM: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 250);

impl Upstream {
    fn start(topo: &Topology, dir: &Path) -> Self {
        must(
            "ip",
            &[
                "-n",
                &topo.host,
                "addr",
                "add",
                "10.0.1.250/24",
                "dev",
                "br0",
            ],
        );
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &topo.host,
                "dnsmasq",
                "--keep-in-foreground",
            ])
            .args([
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
            ])
            .args([
                "--listen-address=10.0.1.250",
                "--user=root",
                "--log-facility=/dev/null",
            ])
            .args([
                "--address=/example.test/192.0.2.7",
                "--address=/example.test/2001:db8::7",
                "--address=/ec2.internal/192.0.2.99",
                "--address=/ec2.internal/2001:db8::99",
            ])
            .arg(format!("--pid-file={}", dir.join("upstream.pid").display()))
            .stdin(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        Upstream(child)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vpc(router_netns: &str, macs: &[(&str, Ipv4Addr)]) -> VpcSpec {
    VpcSpec {
        vpc_id: "vpc-0123456789abcdef0".into(),
        vni: 4242,
        bridge: "kb-000000000000".into(),
        vxlan: "kx-000000000000".into(),
        router_netns: router_netns.into(),
        cidr_blocks: vec!["10.0.0.0/16".into()],
        dns_address: Some(DNS),
        dns_domain: "ec2.internal".into(),
        subnets: vec![SubnetSpec {
            subnet_id: "subnet-0123456789abcdef0".into(),
            cidr_block: "10.0.1.0/24".into(),
            gateway: Ipv4Addr::new(10, 0, 1, 1),
            prefix_len: 24,
            internet_gateway: false,
        }],
        interfaces: macs
            .iter()
            .enumerate()
            .map(|(n, (mac, ip))| InterfaceSpec {
                network_interface_id: format!("eni-{n:017x}"),
                instance_id: format!("i-{n:017x}"),
                device_index: 0,
                subnet_id: "subnet-0123456789abcdef0".into(),
                mac: mac.to_string(),
                private_ips: vec![*ip],
                source_dest_check: true,
                groups: vec![],
                public_ips: vec![],
            })
            .collect(),
        remote_interfaces: vec![],
        security_groups: vec![],
    }
}

/// The dnsmasq processes started with this configuration file.
fn dnsmasq_count(config: &Path) -> usize {
    let arg = format!("--conf-file={}", config.display());
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                let zombie = stat
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z');
                !zombie && c.split(|b| *b == 0).any(|a| a == arg.as_bytes())
            })
        })
        .count()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The whole life of one VPC's dnsmasq: start, DHCP, DNS (forward and reverse), reload on
/// a new interface, adoption by a restarted agent, restart after a crash, stop.
fn serves_dhcp_and_dns(state_mode: u32) {
    let work = tempfile::tempdir().unwrap();
    std::fs::set_permissions(work.path(), std::fs::Permissions::from_mode(state_mode)).unwrap();
    let state_dir = work.path().join("dns");
    let scripts = tempfile::tempdir().unwrap();
    let topo = Topology::new(&state_dir);
    let spec = vpc(&topo.router, &[(CLIENT_MAC, CLIENT_IP)]);
    let config = state_dir.join(&topo.router).join(CONFIG_FILE);

    // Start; idempotent.
    let _upstream = Upstream::start(&topo, scripts.path());
    let servers = DnsServers::new(&state_dir).with_upstreams(vec![UPSTREAM.into()]);
    let rt = runtime();
    assert_eq!(
        rt.block_on(servers.ensure(&topo.router, &spec)).unwrap(),
        DnsChange::Started
    );
    let pid = servers.running_pid(&topo.router).unwrap();
    // Root only when its user could not reach the files.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let as_root = uid.split_whitespace().nth(1) == Some("0");
    assert_eq!(as_root, state_mode & 0o001 == 0, "{uid}");
    assert_eq!(
        rt.block_on(servers.ensure(&topo.router, &spec)).unwrap(),
        DnsChange::Unchanged
    );
    assert_eq!(servers.running_pid(&topo.router), Some(pid));
    assert!(
        topo.gw_addresses().contains("inet 10.0.0.2/32"),
        "{}",
        topo.gw_addresses()
    );
    assert_eq!(servers.managed(), vec![topo.router.clone()]);

    // DHCP: the static lease, the subnet's router, the VPC's resolver.
    let lease = topo.dhcp(scripts.path()).expect("a DHCP lease");
    assert!(lease.contains("ip=10.0.1.5 "), "{lease}");
    assert!(lease.contains("subnet=255.255.255.0 "), "{lease}");
    assert!(lease.contains("router=10.0.1.1 "), "{lease}");
    assert!(lease.contains("dns=10.0.0.2 "), "{lease}");
    assert!(lease.contains("domain=ec2.internal "), "{lease}");
    assert!(lease.contains("hostname=ip-10-0-1-5"), "{lease}");

    // DNS from the leased address, through the gateway's subnet.
    topo.client_address("10.0.1.5");
    let answer = topo
        .nslookup("ip-10-0-1-5.ec2.internal")
        .expect("an answer");
    assert!(answer.contains("Address: 10.0.1.5"), "{answer}");
    let answer = topo
        .nslookup("ip-10-0-200-77.ec2.internal")
        .expect("an answer");
    assert!(answer.contains("Address: 10.0.200.77"), "{answer}");
    let answer = topo.nslookup("10.0.3.9").expect("a PTR answer");
    assert!(answer.contains("ip-10-0-3-9.ec2.internal"), "{answer}");
    // Other names go to the upstream resolver, but not the VPC's own domain's.
    let answer = topo
        .nslookup("www.example.test")
        .expect("a forwarded answer");
    assert!(answer.contains("Address: 192.0.2.7"), "{answer}");
    // Outside the VPC's block, or not a synthesized name: no answer.
    assert!(topo.nslookup("ip-10-1-0-5.ec2.internal").is_none());
    assert!(topo.nslookup("db.ec2.internal").is_none());

    // An unknown MAC gets nothing; once the spec names it, a reload (same process) does.
    must("ip", &["-n", &topo.client, "addr", "flush", "dev", "eth0"]);
    must(
        "ip",
        &[
            "-n",
            &topo.client,
            "link",
            "set",
            "eth0",
            "address",
            OTHER_MAC,
        ],
    );
    assert!(
        topo.dhcp(scripts.path()).is_none(),
        "no lease for an unknown MAC"
    );
    let two = vpc(
        &topo.router,
        &[(CLIENT_MAC, CLIENT_IP), (OTHER_MAC, OTHER_IP)],
    );
    assert_eq!(
        rt.block_on(servers.ensure(&topo.router, &two)).unwrap(),
        DnsChange::Reloaded
    );
    assert_eq!(servers.running_pid(&topo.router), Some(pid));
    let lease = topo.dhcp(scripts.path()).expect("a lease after the reload");
    assert!(lease.contains("ip=10.0.1.6 "), "{lease}");
    drop(rt);

    // An agent restart: a new handle and runtime adopt the running dnsmasq.
    let restarted = DnsServers::new(&state_dir).with_upstreams(vec![UPSTREAM.into()]);
    let rt = runtime();
    assert_eq!(
        rt.block_on(restarted.ensure(&topo.router, &two)).unwrap(),
        DnsChange::Unchanged
    );
    assert_eq!(restarted.running_pid(&topo.router), Some(pid));
    assert_eq!(dnsmasq_count(&config), 1);

    // Killed: started again; a changed configuration restarts it too.
    must("kill", &["-9", &pid.to_string()]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        rt.block_on(restarted.ensure(&topo.router, &two)).unwrap(),
        DnsChange::Started
    );
    let second = restarted.running_pid(&topo.router).unwrap();
    assert_ne!(second, pid);
    let mut renamed = two.clone();
    renamed.dns_domain = "eu-west-1.compute.internal".into();
    assert_eq!(
        rt.block_on(restarted.ensure(&topo.router, &renamed))
            .unwrap(),
        DnsChange::Started
    );
    assert_eq!(dnsmasq_count(&config), 1);
    topo.client_address("10.0.1.6");
    let answer = topo
        .nslookup("ip-10-0-1-6.eu-west-1.compute.internal")
        .expect("an answer");
    assert!(answer.contains("Address: 10.0.1.6"), "{answer}");

    // The router namespace made again (its dnsmasq left in the old one): replaced.
    let before = restarted.running_pid(&topo.router).unwrap();
    must("ip", &["netns", "del", &topo.router]);
    // The old namespace lives on with its dnsmasq, and so does the veth into it.
    must("ip", &["-n", &topo.host, "link", "del", "p-gw"]);
    topo.add_router();
    assert_eq!(
        rt.block_on(restarted.ensure(&topo.router, &renamed))
            .unwrap(),
        DnsChange::Started
    );
    assert_ne!(restarted.running_pid(&topo.router), Some(before));
    assert_eq!(dnsmasq_count(&config), 1);
    assert!(topo
        .nslookup("ip-10-0-1-6.eu-west-1.compute.internal")
        .is_some());

    // DNS support off: the address leaves gw, DHCP stays (without a DNS server).
    let mut no_dns = renamed.clone();
    no_dns.dns_address = None;
    assert_eq!(
        rt.block_on(restarted.ensure(&topo.router, &no_dns))
            .unwrap(),
        DnsChange::Started
    );
    assert!(
        !topo.gw_addresses().contains("10.0.0.2"),
        "{}",
        topo.gw_addresses()
    );
    must("ip", &["-n", &topo.client, "addr", "flush", "dev", "eth0"]);
    let lease = topo.dhcp(scripts.path()).expect("a lease without DNS");
    assert!(
        lease.contains("ip=10.0.1.6 ") && lease.contains("dns= "),
        "{lease}"
    );
    assert_eq!(
        rt.block_on(restarted.ensure(&topo.router, &renamed))
            .unwrap(),
        DnsChange::Started
    );

    // Stop: no process, no files, no address; twice is fine.
    rt.block_on(restarted.stop(&topo.router)).unwrap();
    assert_eq!(dnsmasq_count(&config), 0);
    assert!(!state_dir.join(&topo.router).exists());
    assert!(
        !topo.gw_addresses().contains("10.0.0.2"),
        "{}",
        topo.gw_addresses()
    );
    assert!(topo.gw_addresses().contains("10.0.1.1/24"));
    assert!(restarted.managed().is_empty());
    rt.block_on(restarted.stop(&topo.router)).unwrap();
}

/// The agent's state directory is 0700: dnsmasq keeps root to read its hosts file.
#[test]
fn dnsmasq_serves_a_vpc_from_a_private_state_dir() {
    serves_dhcp_and_dns(0o700);
}

/// A state directory others can search: dnsmasq drops root and still reloads its hosts.
#[test]
fn dnsmasq_serves_a_vpc_without_root() {
    serves_dhcp_and_dns(0o755);
}

#[test]
fn a_missing_namespace_is_an_error_not_a_process() {
    let work = tempfile::tempdir().unwrap();
    let servers = DnsServers::new(work.path());
    let spec = vpc("kdns-absent-0", &[(CLIENT_MAC, CLIENT_IP)]);
    assert!(runtime()
        .block_on(servers.ensure("kdns-absent-0", &spec))
        .is_err());
    assert!(servers.running_pid("kdns-absent-0").is_none());
    assert!(runtime().block_on(servers.ensure("../etc", &spec)).is_err());
    assert!(runtime().block_on(servers.stop("a/b")).is_err());
}

#[test]
fn generated_files_carry_only_validated_values() {
    let dir = Path::new("/var/lib/kumo/dns/kumo-r-0123456789ab");
    let upstreams: Vec<IpAddr> = vec!["192.0.2.53".parse().unwrap()];
    let spec = vpc("kumo-r-0123456789ab", &[("02:AB:cd:00:01:05", CLIENT_IP)]);
    let files = dns::render(&spec, dir, &upstreams, false).unwrap();
    for line in [
        "no-hosts",
        "no-resolv",
        "listen-address=10.0.0.2",
        "user=root",
        "server=192.0.2.53",
        "local=/ec2.internal/",
        "synth-domain=ec2.internal,10.0.0.0/16,ip-",
        "dhcp-range=set:s0,10.0.1.0,static,255.255.255.0,1h",
        "dhcp-option=tag:s0,option:router,10.0.1.1",
        "dhcp-option=option:dns-server,10.0.0.2",
        "dhcp-hostsfile=/var/lib/kumo/dns/kumo-r-0123456789ab/dhcp-hosts",
    ] {
        assert!(
            files.config.lines().any(|l| l == line),
            "{line} in\n{}",
            files.config
        );
    }
    assert_eq!(files.hosts, "02:ab:cd:00:01:05,10.0.1.5,ip-10-0-1-5,1h\n");
    assert!(!dns::render(&spec, dir, &upstreams, true)
        .unwrap()
        .config
        .contains("user="));

    let refused = |change: &dyn Fn(&mut VpcSpec)| {
        let mut bad = spec.clone();
        change(&mut bad);
        dns::render(&bad, dir, &upstreams, false).is_err()
    };
    assert!(refused(
        &|v| v.dns_domain = "ec2.internal\nserver=6.6.6.6".into()
    ));
    assert!(refused(&|v| v.dns_domain = "ec2.internal/#".into()));
    assert!(refused(&|v| v.dns_domain = String::new()));
    assert!(refused(
        &|v| v.dns_domain = format!("{}.internal", "a".repeat(64))
    ));
    assert!(refused(
        &|v| v.interfaces[0].mac = "02:00:00:00:00:01,set:x".into()
    ));
    assert!(refused(
        &|v| v.interfaces[0].mac = "02:00:00:00:00:01\nx".into()
    ));
    assert!(refused(
        &|v| v.cidr_blocks = vec!["10.0.0.0/16,ip-\nserver=x".into()]
    ));
    assert!(refused(&|v| v.cidr_blocks = vec!["10.0.0.1/16".into()]));
    assert!(refused(&|v| v.subnets[0].cidr_block = "10.0.1.0/25".into()));
    assert!(dns::render(&spec, Path::new("/tmp/a b"), &upstreams, false).is_err());
    assert!(dns::render(&spec, Path::new("relative"), &upstreams, false).is_err());

    // Duplicate MACs or addresses: the first interface wins.
    let dup = vpc(
        "r",
        &[
            (CLIENT_MAC, CLIENT_IP),
            (CLIENT_MAC, OTHER_IP),
            (OTHER_MAC, CLIENT_IP),
        ],
    );
    let files = dns::render(&dup, dir, &upstreams, false).unwrap();
    assert_eq!(files.hosts.lines().count(), 1);
}

#[test]
fn resolv_conf_upstreams_leave_out_the_hosts_own() {
    let text = "# c\nnameserver 127.0.0.53\nnameserver 192.0.2.1\nnameserver ::1\n\
                nameserver 2001:db8::1\nnameserver fe80::1%eth0\nsearch example.com\n\
                nameserver 0.0.0.0\nnameserver bogus\n";
    let want: Vec<IpAddr> = vec!["192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    assert_eq!(dns::parse_resolv_conf(text), want);
}
