//! DHCP and DNS for the VPCs on a host: one dnsmasq per VPC router namespace.
//!
//! Each dnsmasq runs inside the router namespace (`ip netns exec <ns> dnsmasq
//! --keep-in-foreground --conf-file=…`), in its own process group so that it outlives the
//! agent, and serves:
//! - DHCP on `gw`: static leases only (every local interface's MAC → its primary address,
//!   named `ip-a-b-c-d`), the subnet's gateway as router, the VPC's resolver as DNS server,
//!   `dns_domain` as domain name; no dynamic pool, so an unknown MAC gets nothing;
//! - DNS on `dns_address` (put on `gw` as a /32): `ip-a-b-c-d.<dns_domain>` for every
//!   address of the VPC's CIDR blocks (`--synth-domain`, forward and PTR), other names of
//!   the domain answered locally (NXDOMAIN), everything else forwarded to the host's own
//!   resolvers (`/etc/resolv.conf`, loopback ones left out: they are the host's, not the
//!   namespace's; [`DnsServers::with_upstreams`] names others). No `/etc/hosts`. Without
//!   `dns_address` (DNS support off) only DHCP runs.
//!
//! Files, in `<state_dir>/<router netns>/`: `dnsmasq.conf`, `dhcp-hosts` (re-read on
//! SIGHUP), `dnsmasq.pid`, `dnsmasq.log` (startup and errors), `dnsmasq.err` (stderr).
//! Every value in them is generated from typed values or validated first, so no id, MAC,
//! domain or path can add a line of its own.
//!
//! [`DnsServers::ensure`] is idempotent: unchanged spec → nothing; only hosts changed →
//! the hosts file is rewritten and dnsmasq gets SIGHUP; configuration changed or dnsmasq
//! dead → (re)started. A dnsmasq is found again through its pid file (checked against
//! `/proc/<pid>/cmdline`, pids get reused) or, failing that, a scan of `/proc`: an agent
//! restart adopts the running one instead of starting a second.
//!
//! dnsmasq re-reads the hosts file after dropping root; it drops root (to its default
//! user) only when that user can reach the files, that is when every directory above them
//! is searchable by others, and keeps root otherwise (the agent's 0700 state directory).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use kumo_compute_protocol::network::{VpcSpec, ROUTER_GATEWAY_LINK};

use crate::error::{NodeError, Result};
use crate::netns::Netns;
use crate::network::{validate_mac, NETNS_DIR};

/// File names inside a router namespace's directory.
pub const CONFIG_FILE: &str = "dnsmasq.conf";
pub const HOSTS_FILE: &str = "dhcp-hosts";
pub const PID_FILE: &str = "dnsmasq.pid";
pub const LOG_FILE: &str = "dnsmasq.log";
pub const STDERR_FILE: &str = "dnsmasq.err";

/// AWS hands out one-hour leases.
const LEASE_TIME: &str = "1h";
/// How long a starting dnsmasq may take to write its pid file.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// After SIGTERM, and after SIGKILL.
const STOP_WAIT: Duration = Duration::from_secs(5);
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What [`DnsServers::ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsChange {
    /// Running with this configuration already.
    Unchanged,
    /// Hosts file rewritten, dnsmasq told (SIGHUP).
    Reloaded,
    /// dnsmasq (re)started.
    Started,
}

/// The dnsmasq instances of one agent. Holds no state of its own: everything is in
/// `state_dir` and on the host.
#[derive(Debug, Clone)]
pub struct DnsServers {
    state_dir: PathBuf,
    dnsmasq: PathBuf,
    /// Where names outside the VPC's domain are forwarded; `None`: the host's resolvers.
    upstreams: Option<Vec<IpAddr>>,
}

/// The two generated files of one router namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsmasqFiles {
    pub config: String,
    pub hosts: String,
}

impl DnsServers {
    /// Files go below `state_dir` (made absolute; created when first needed).
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        let state_dir = state_dir.into();
        let state_dir = std::path::absolute(&state_dir).unwrap_or(state_dir);
        Self {
            state_dir,
            dnsmasq: PathBuf::from("dnsmasq"),
            upstreams: None,
        }
    }

    /// Forward to these resolvers instead of the host's.
    pub fn with_upstreams(mut self, upstreams: Vec<IpAddr>) -> Self {
        self.upstreams = Some(upstreams);
        self
    }

    /// Use another dnsmasq binary than the one on the PATH.
    pub fn with_dnsmasq(mut self, dnsmasq: impl Into<PathBuf>) -> Self {
        self.dnsmasq = dnsmasq.into();
        self
    }

    /// `<state_dir>/<router netns>`.
    pub fn netns_dir(&self, router_netns: &str) -> PathBuf {
        self.state_dir.join(router_netns)
    }

    /// The pid of the dnsmasq serving `router_netns`, if one runs.
    pub fn running_pid(&self, router_netns: &str) -> Option<u32> {
        validate_netns_name(router_netns).ok()?;
        self.find_process(router_netns).map(|p| p.pid)
    }

    /// The router namespaces that have a dnsmasq directory here (to stop those a new spec
    /// no longer names, e.g. after an agent restart).
    pub fn managed(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.state_dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| validate_netns_name(n).is_ok())
            .filter(|n| self.netns_dir(n).join(CONFIG_FILE).exists())
            .collect();
        names.sort();
        names
    }

    /// Makes the dnsmasq of `router_netns` serve `vpc`: the DNS address on `gw`, the files
    /// written, the process running with them (see the module docs). The namespace and its
    /// `gw` link must exist; a dnsmasq left in an earlier namespace of the same name is
    /// replaced. Calls for one namespace must not overlap (the convergence loop's are
    /// sequential).
    pub async fn ensure(&self, router_netns: &str, vpc: &VpcSpec) -> Result<DnsChange> {
        validate_netns_name(router_netns)?;
        let netns = Netns::named(router_netns);
        if !netns.exists() {
            return Err(NodeError::Other(format!(
                "router namespace {router_netns} does not exist"
            )));
        }
        let dir = self.netns_dir(router_netns);
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))?;
        let drop_root = searchable_by_others(&dir);
        let upstreams = self.upstreams.clone().unwrap_or_else(host_resolvers);
        let files = render(vpc, &dir, &upstreams, drop_root)?;

        // The address first: dnsmasq binds to it at start.
        let previous = std::fs::read_to_string(dir.join(CONFIG_FILE)).ok();
        let old_address = previous.as_deref().and_then(listen_address);
        if let (Some(old), want) = (old_address, vpc.dns_address) {
            if want != Some(old) {
                remove_address(&netns, old).await?;
            }
        }
        if let Some(address) = vpc.dns_address {
            let cidr = format!("{address}/32");
            netns
                .ip(&["addr", "replace", &cidr, "dev", ROUTER_GATEWAY_LINK])
                .await?;
        }

        let config_changed = previous.as_deref() != Some(files.config.as_str());
        let hosts_path = dir.join(HOSTS_FILE);
        let hosts_changed =
            std::fs::read_to_string(&hosts_path).ok().as_deref() != Some(files.hosts.as_str());
        if hosts_changed {
            write_readable(&hosts_path, &files.hosts)?;
        }
        if config_changed {
            write_readable(&dir.join(CONFIG_FILE), &files.config)?;
        }

        let running = self.find_process(router_netns);
        match running {
            // Still in the namespace of that name (not one deleted and made again since).
            Some(process) if !config_changed && in_netns(process, router_netns) => {
                if !hosts_changed {
                    return Ok(DnsChange::Unchanged);
                }
                signal(process, libc::SIGHUP);
                tracing::info!(netns = router_netns, pid = process.pid, "dnsmasq reloaded");
                Ok(DnsChange::Reloaded)
            }
            running => {
                if let Some(process) = running {
                    terminate(process).await;
                }
                self.start(router_netns).await?;
                Ok(DnsChange::Started)
            }
        }
    }

    /// Stops the dnsmasq of `router_netns`, takes the DNS address off `gw` (when the
    /// namespace is still there) and removes the files. Nothing there: nothing to do.
    pub async fn stop(&self, router_netns: &str) -> Result<()> {
        validate_netns_name(router_netns)?;
        if let Some(process) = self.find_process(router_netns) {
            terminate(process).await;
            if process_alive(process) {
                return Err(NodeError::Other(format!(
                    "dnsmasq {} of {router_netns} did not stop",
                    process.pid
                )));
            }
        }
        let dir = self.netns_dir(router_netns);
        let config = std::fs::read_to_string(dir.join(CONFIG_FILE)).ok();
        if let Some(address) = config.as_deref().and_then(listen_address) {
            let netns = Netns::named(router_netns);
            if netns.exists() {
                remove_address(&netns, address).await?;
            }
        }
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        Ok(())
    }

    async fn start(&self, router_netns: &str) -> Result<()> {
        let dir = self.netns_dir(router_netns);
        let pid_path = dir.join(PID_FILE);
        remove_if_exists(&pid_path)?;
        let stderr = std::fs::File::create(dir.join(STDERR_FILE))?;
        let conf_arg = conf_file_arg(&dir);
        let dnsmasq = self.dnsmasq.display().to_string();
        let command_text =
            format!("ip netns exec {router_netns} {dnsmasq} --keep-in-foreground {conf_arg}");
        let mut child = tokio::process::Command::new("ip")
            .args(["netns", "exec", router_netns])
            .arg(&self.dnsmasq)
            .arg("--keep-in-foreground")
            .arg(&conf_arg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            // Its own process group: a signal to the agent's group does not reach it.
            .process_group(0)
            .spawn()
            .map_err(|e| NodeError::Command {
                command: command_text.clone(),
                message: e.to_string(),
            })?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = child.try_wait()? {
                let stderr = std::fs::read_to_string(dir.join(STDERR_FILE)).unwrap_or_default();
                return Err(NodeError::Command {
                    command: command_text,
                    message: format!("exited with {status}: {}", stderr.trim()),
                });
            }
            let pid = child.id();
            if pid.is_some() && read_pid(&pid_path) == pid {
                break;
            }
            if Instant::now() >= deadline {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(NodeError::Command {
                    command: command_text,
                    message: format!("no pid file within {START_TIMEOUT:?}"),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        tracing::info!(netns = router_netns, pid = ?child.id(), "dnsmasq started");
        // Reap it when it ends (while this agent runs; after that it is init's).
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(())
    }

    /// The dnsmasq of `router_netns`: through its pid file, else by scanning `/proc`.
    fn find_process(&self, router_netns: &str) -> Option<DnsmasqProcess> {
        let dir = self.netns_dir(router_netns);
        let conf_arg = conf_file_arg(&dir);
        if let Some(process) =
            read_pid(&dir.join(PID_FILE)).and_then(|pid| identify(pid, &conf_arg))
        {
            return Some(process);
        }
        std::fs::read_dir("/proc")
            .ok()?
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .find_map(|pid| identify(pid, &conf_arg))
    }
}

/// The configuration and hosts file of a VPC's dnsmasq whose files live in `dir`, with
/// `upstreams` as the resolvers to forward to; `drop_root`: let dnsmasq change to its
/// unprivileged user after start.
pub fn render(
    vpc: &VpcSpec,
    dir: &Path,
    upstreams: &[IpAddr],
    drop_root: bool,
) -> Result<DnsmasqFiles> {
    let dir_text = config_path(dir)?;
    let domain = validate_domain(&vpc.dns_domain)?;
    let mut config = String::new();
    // `writeln!` into a String cannot fail.
    let mut line = |text: String| {
        config.push_str(&text);
        config.push('\n');
    };
    line("# Generated by the Kumo agent; rewritten on every change.".to_string());
    line("no-hosts".to_string());
    line("no-resolv".to_string());
    line("domain-needed".to_string());
    line("bogus-priv".to_string());
    line("bind-interfaces".to_string());
    match vpc.dns_address {
        Some(address) => line(format!("listen-address={address}")),
        None => {
            line("port=0".to_string());
            line(format!("interface={ROUTER_GATEWAY_LINK}"));
        }
    }
    line("except-interface=lo".to_string());
    if !drop_root {
        line("user=root".to_string());
    }
    line(format!("pid-file={dir_text}/{PID_FILE}"));
    line(format!("log-facility={dir_text}/{LOG_FILE}"));
    line(format!("dhcp-hostsfile={dir_text}/{HOSTS_FILE}"));
    line("leasefile-ro".to_string());
    line("dhcp-authoritative".to_string());
    line("quiet-dhcp".to_string());
    line(format!("domain={domain}"));
    line(format!("local=/{domain}/"));
    for upstream in upstreams {
        line(format!("server={upstream}"));
    }
    for block in &vpc.cidr_blocks {
        let (base, prefix_len) = parse_cidr(block)?;
        line(format!("synth-domain={domain},{base}/{prefix_len},ip-"));
    }
    for (index, subnet) in vpc.subnets.iter().enumerate() {
        let (base, prefix_len) = parse_cidr(&subnet.cidr_block)?;
        if !(1..=30).contains(&prefix_len) || prefix_len != subnet.prefix_len {
            return Err(NodeError::InvalidSpec(format!(
                "subnet {} has prefix /{} and CIDR {}",
                subnet.subnet_id, subnet.prefix_len, subnet.cidr_block
            )));
        }
        let mask = netmask(prefix_len);
        line(format!(
            "dhcp-range=set:s{index},{base},static,{mask},{LEASE_TIME}"
        ));
        line(format!(
            "dhcp-option=tag:s{index},option:router,{}",
            subnet.gateway
        ));
    }
    if let Some(address) = vpc.dns_address {
        line(format!("dhcp-option=option:dns-server,{address}"));
    }
    line(format!("dhcp-option=option:domain-name,{domain}"));

    let mut hosts = String::new();
    let mut seen_macs = HashSet::new();
    let mut seen_ips = HashSet::new();
    for interface in &vpc.interfaces {
        validate_mac(&interface.mac)?;
        let Some(ip) = interface.private_ips.first().copied() else {
            continue;
        };
        let mac = interface.mac.to_ascii_lowercase();
        // Duplicates would make dnsmasq refuse the whole file; the first one wins.
        if !seen_macs.insert(mac.clone()) || !seen_ips.insert(ip) {
            tracing::warn!(interface = %interface.network_interface_id, "duplicate MAC or address left out of DHCP");
            continue;
        }
        let name = format!("ip-{}", ip.to_string().replace('.', "-"));
        let _ = writeln!(hosts, "{mac},{ip},{name},{LEASE_TIME}");
    }
    Ok(DnsmasqFiles { config, hosts })
}

/// The host's resolvers, from `/etc/resolv.conf`, loopback and unspecified ones left out;
/// when that leaves none (a local stub such as systemd-resolved's 127.0.0.53), the stub's
/// own upstreams.
pub fn host_resolvers() -> Vec<IpAddr> {
    ["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .map(|text| parse_resolv_conf(&text))
        .find(|found| !found.is_empty())
        .unwrap_or_default()
}

/// The usable `nameserver` addresses of a resolv.conf text.
pub fn parse_resolv_conf(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver").then_some(())?;
            // A scoped IPv6 address (`fe80::1%eth0`) names a host link: not usable here.
            words.next()?.parse::<IpAddr>().ok()
        })
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified())
        .collect()
}

/// The `listen-address` a configuration text names (the DNS address it put on `gw`).
fn listen_address(config: &str) -> Option<Ipv4Addr> {
    config
        .lines()
        .find_map(|l| l.strip_prefix("listen-address="))
        .and_then(|a| a.parse().ok())
}

/// Takes `address/32` off `gw`; fine when it (or `gw`) is already gone.
async fn remove_address(netns: &Netns, address: Ipv4Addr) -> Result<()> {
    let cidr = format!("{address}/32");
    let present = netns
        .ipv4_addresses(ROUTER_GATEWAY_LINK)
        .await
        .is_ok_and(|addresses| addresses.contains(&cidr));
    if present {
        netns
            .ip(&["addr", "del", &cidr, "dev", ROUTER_GATEWAY_LINK])
            .await?;
    }
    Ok(())
}

/// `a.b.c.d/n` with the host bits zero.
fn parse_cidr(text: &str) -> Result<(Ipv4Addr, u8)> {
    let bad = || NodeError::InvalidSpec(format!("bad IPv4 CIDR {text:?}"));
    let (address, len) = text.split_once('/').ok_or_else(bad)?;
    let address: Ipv4Addr = address.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    if !(1..=32).contains(&len) || u32::from(address) & !u32::from(netmask(len)) != 0 {
        return Err(bad());
    }
    Ok((address, len))
}

fn netmask(prefix_len: u8) -> Ipv4Addr {
    Ipv4Addr::from(
        u32::MAX
            .checked_shl(32 - u32::from(prefix_len))
            .unwrap_or(0),
    )
}

/// A DNS domain of letters, digits and hyphens (labels of 1–63, 253 in all), lowercased.
fn validate_domain(domain: &str) -> Result<String> {
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if domain.is_empty() || domain.len() > 253 || !domain.split('.').all(label_ok) {
        return Err(NodeError::InvalidSpec(format!("bad DNS domain {domain:?}")));
    }
    Ok(domain)
}

/// A namespace name we run things in: 1–64 of `[A-Za-z0-9._-]`, not `.`/`..`.
fn validate_netns_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(NodeError::InvalidSpec(format!(
            "bad namespace name {name:?}"
        )))
    }
}

/// A directory as dnsmasq's configuration may name it: absolute, UTF-8, none of the
/// characters its parser treats specially (whitespace, `,`, `#`, quotes, controls).
fn config_path(dir: &Path) -> Result<&str> {
    let text = dir.to_str().filter(|t| t.starts_with('/')).filter(|t| {
        !t.chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ',' | '#' | '"' | '\\'))
    });
    text.ok_or_else(|| {
        NodeError::InvalidSpec(format!(
            "dnsmasq state directory {} must be absolute, without spaces, commas, '#' or quotes",
            dir.display()
        ))
    })
}

fn conf_file_arg(dir: &Path) -> String {
    format!("--conf-file={}", dir.join(CONFIG_FILE).display())
}

/// Whether every directory from `/` down to `dir` lets others search it.
fn searchable_by_others(dir: &Path) -> bool {
    dir.ancestors()
        .all(|d| std::fs::metadata(d).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}

/// Written whole (temporary file, rename), readable by dnsmasq's user.
fn write_readable(path: &Path, contents: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

fn read_pid(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A dnsmasq known to be this namespace's, pinned by its start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DnsmasqProcess {
    pid: u32,
    start_time: u64,
}

/// State letter and start time from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is parenthesized and may contain anything.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start_time = fields.get(19)?.parse().ok()?;
    Some((state, start_time))
}

/// `pid` as the dnsmasq started with `conf_arg` (guards against pid reuse).
fn identify(pid: u32, conf_arg: &str) -> Option<DnsmasqProcess> {
    let (state, start_time) = proc_stat(pid)?;
    if matches!(state, 'Z' | 'X' | 'x') {
        return None;
    }
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut args = cmdline.split(|b| *b == 0);
    let argv0 = String::from_utf8_lossy(args.next()?);
    if !argv0
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .starts_with("dnsmasq")
    {
        return None;
    }
    args.any(|a| a == conf_arg.as_bytes())
        .then_some(DnsmasqProcess { pid, start_time })
}

/// Whether the process lives in the named namespace (same nsfs inode).
fn in_netns(process: DnsmasqProcess, netns: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    let theirs = std::fs::metadata(format!("/proc/{}/ns/net", process.pid));
    let named = std::fs::metadata(Path::new(NETNS_DIR).join(netns));
    match (theirs, named) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

fn process_alive(process: DnsmasqProcess) -> bool {
    proc_stat(process.pid).is_some_and(|(state, start)| {
        !matches!(state, 'Z' | 'X' | 'x') && start == process.start_time
    })
}

fn signal(process: DnsmasqProcess, signal: libc::c_int) {
    if process_alive(process) {
        // SAFETY: plain syscall on a pid just verified to be this namespace's dnsmasq.
        unsafe { libc::kill(process.pid as libc::pid_t, signal) };
    }
}

/// SIGTERM, then SIGKILL if it lingers; bounded.
async fn terminate(process: DnsmasqProcess) {
    for (sig, wait) in [(libc::SIGTERM, STOP_WAIT), (libc::SIGKILL, STOP_WAIT)] {
        signal(process, sig);
        let deadline = Instant::now() + wait;
        while process_alive(process) && Instant::now() < deadline {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        if !process_alive(process) {
            return;
        }
    }
}
