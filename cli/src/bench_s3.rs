//! `kumo bench s3`: S3 PUT and GET throughput on loopback against a real `kumo up` with
//! in-process storage nodes, per object size, number of concurrent clients and replica
//! count.
//!
//! Each replication setting gets its own `kumo up --no-agent --storage-nodes N` child (with
//! `KUMO_S3_REPLICATION` in its environment). Per cell (size × clients) the clients first
//! PUT fresh objects, then GET those objects back, each phase bounded by `--seconds` or
//! `--requests`; then the objects are deleted and garbage collected at once, so disk use
//! stays bounded by one cell's uploads times the replica count. Requests are path style
//! (`/bucket/key`), signed with SigV4 for `s3` with `x-amz-content-sha256:
//! UNSIGNED-PAYLOAD`, as SDKs' high-throughput paths do. Object contents come from a
//! per-object PRNG stream, so content-addressed chunk dedup cannot flatter the figures.
//! Each row also shows the CPU used during the phase (the `kumo up` process, its Postgres,
//! this client) and, for PUTs, the bytes on the storage nodes' disks.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::bench::{percentile, UpProcess};

const MIB: f64 = 1024.0 * 1024.0;
const BUCKET: &str = "kumo-bench-s3";
const REGION: &str = "us-east-1";

#[derive(clap::Args)]
pub struct S3Args {
    /// Object sizes (B, KiB, MiB, GiB suffixes) [default: 4KiB,1MiB,64MiB; --quick: 4KiB,1MiB]
    #[arg(long, value_delimiter = ',', value_parser = parse_size)]
    sizes: Option<Vec<u64>>,
    /// Numbers of concurrent clients [default: 1,16; --quick: 1,4]
    #[arg(long, value_delimiter = ',')]
    clients: Option<Vec<usize>>,
    /// Replicas per chunk (KUMO_S3_REPLICATION), one `kumo up` each [default: 1,3; --quick: 3]
    #[arg(long, value_delimiter = ',')]
    replication: Option<Vec<usize>>,
    /// Bound each phase (PUT, GET) of a cell by time [default: 5; --quick: 1].
    #[arg(long, conflicts_with = "requests")]
    seconds: Option<f64>,
    /// Bound each phase (PUT, GET) of a cell by a number of requests instead.
    #[arg(long)]
    requests: Option<usize>,
    /// Upload at most this many MiB per cell (each client still uploads one object), so
    /// large objects keep disk use bounded: the peak is this times the replica count.
    #[arg(long, default_value_t = 1024)]
    max_mib_per_cell: u64,
    /// Storage nodes in the `kumo up` child.
    #[arg(long, default_value_t = 3)]
    storage_nodes: u32,
    /// A smoke run: small sizes, short phases, replication 3 only.
    #[arg(long)]
    quick: bool,
}

/// `4096`, `4k`, `4KiB`, `1MiB`, `64M`, `1GiB`.
fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("not a size: {text:?} (e.g. 4KiB, 1MiB, 64MiB)"))?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    match number.checked_mul(factor) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(format!("size out of range: {text:?}")),
    }
}

fn size_label(bytes: u64) -> String {
    if bytes >= 1 << 30 && bytes.is_multiple_of(1 << 30) {
        format!("{} GiB", bytes >> 30)
    } else if bytes >= 1 << 20 && bytes.is_multiple_of(1 << 20) {
        format!("{} MiB", bytes >> 20)
    } else if bytes >= 1 << 10 && bytes.is_multiple_of(1 << 10) {
        format!("{} KiB", bytes >> 10)
    } else {
        format!("{bytes} B")
    }
}

/// How a phase ends.
#[derive(Clone, Copy)]
enum Bound {
    Seconds(f64),
    Requests(usize),
}

/// One measured phase of one cell.
struct Row {
    replication: usize,
    size: u64,
    clients: usize,
    op: &'static str,
    ops: usize,
    seconds: f64,
    latencies: Vec<Duration>,
    /// Bytes on the storage nodes' disks after the PUT phase (all replicas).
    stored: Option<u64>,
    /// CPU used during the phase, in cores (1.0 = one core busy).
    cpu: CpuShare,
}

impl Row {
    fn header() -> String {
        "| repl | size | clients | op | ops | seconds | req/s | MiB/s | p50 ms | p99 ms | CPU kumo up | CPU postgres | CPU client | on disk |\n\
         |---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
            .to_string()
    }

    fn line(&self) -> String {
        let per_second = self.ops as f64 / self.seconds.max(1e-9);
        let ms = |p| percentile(&self.latencies, p).as_secs_f64() * 1000.0;
        let stored = match self.stored {
            Some(bytes) => format!("{:.0} MiB", bytes as f64 / MIB),
            None => String::new(),
        };
        format!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.1} | {:.2} | {:.2} | {:.0}% | {:.0}% | {:.0}% | {stored} |",
            self.replication,
            size_label(self.size),
            self.clients,
            self.op,
            self.ops,
            self.seconds,
            per_second,
            per_second * self.size as f64 / MIB,
            ms(0.5),
            ms(0.99),
            self.cpu.server * 100.0,
            self.cpu.postgres * 100.0,
            self.cpu.client * 100.0,
        )
    }
}

pub async fn run(args: S3Args) -> anyhow::Result<()> {
    let quick = args.quick;
    let sizes = args.sizes.unwrap_or_else(|| {
        if quick {
            vec![4 << 10, 1 << 20]
        } else {
            vec![4 << 10, 1 << 20, 64 << 20]
        }
    });
    let clients = args
        .clients
        .unwrap_or_else(|| if quick { vec![1, 4] } else { vec![1, 16] });
    let replication = args
        .replication
        .unwrap_or_else(|| if quick { vec![3] } else { vec![1, 3] });
    let bound = match (args.requests, args.seconds) {
        (Some(n), _) => Bound::Requests(n.max(1)),
        (None, Some(s)) => Bound::Seconds(s.max(0.01)),
        (None, None) => Bound::Seconds(if quick { 1.0 } else { 5.0 }),
    };
    if clients.contains(&0) || replication.contains(&0) {
        bail!("--clients and --replication must be at least 1");
    }
    let budget = args.max_mib_per_cell.max(1) << 20;

    println!("{}", Row::header());
    let mut cells = 0;
    for &replicas in &replication {
        let nodes = args.storage_nodes.to_string();
        let replicas_text = replicas.to_string();
        let (up, took) = UpProcess::start_with_env(
            &["--no-agent", "--storage-nodes", &nodes],
            &[("KUMO_S3_REPLICATION", &replicas_text)],
        )
        .await?;
        eprintln!(
            "kumo up (replication {replicas}, {nodes} storage nodes) ready in {:.2} s at {}",
            took.as_secs_f64(),
            up.endpoint
        );
        let bench = Bench::new(&up, replicas)?;
        bench.create_bucket().await?;
        for &size in &sizes {
            for &count in &clients {
                let cell = Cell {
                    size,
                    clients: count,
                    bound,
                    max_objects: (budget / size).max(count as u64) as usize,
                    tag: format!("r{replicas}-s{size}-c{count}"),
                };
                for row in bench.cell(&cell, &up.state_dir).await? {
                    println!("{}", row.line());
                }
                cells += 1;
            }
        }
        drop(up);
    }
    eprintln!(
        "\n{cells} cells done; each PUT returned after every replica fsynced its chunks and the catalog committed"
    );
    Ok(())
}

/// One size × clients combination.
struct Cell {
    size: u64,
    clients: usize,
    bound: Bound,
    /// PUTs allowed in this cell (the disk budget).
    max_objects: usize,
    /// Distinguishes this cell's keys and contents from every other cell's.
    tag: String,
}

/// A SigV4-signing S3 client for one `kumo up`.
struct Bench {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    access_key_id: String,
    secret: String,
    replication: usize,
    /// The `kumo up` child (gateway and storage nodes; Postgres runs beneath it).
    server_pid: u32,
}

impl Bench {
    fn new(up: &UpProcess, replication: usize) -> anyhow::Result<Arc<Self>> {
        let (access_key_id, secret) = up.credentials()?;
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Arc::new(Self {
            http,
            endpoint: up.endpoint.clone(),
            host: up.endpoint.trim_start_matches("http://").to_string(),
            access_key_id,
            secret,
            replication,
            server_pid: up.pid(),
        }))
    }

    /// A request to `path_and_query`, signed for `service`; S3 requests sign
    /// `UNSIGNED-PAYLOAD`, others the (empty) body's hash.
    fn request(
        &self,
        method: reqwest::Method,
        path_and_query: &str,
        service: &str,
    ) -> reqwest::RequestBuilder {
        let mut headers = vec![("host".to_string(), self.host.clone())];
        if service == "s3" {
            headers.push((
                "x-amz-content-sha256".to_string(),
                "UNSIGNED-PAYLOAD".to_string(),
            ));
        }
        let signed = kumo_auth::sigv4::sign_request(
            method.as_str(),
            path_and_query,
            &headers,
            b"",
            &self.access_key_id,
            &self.secret,
            REGION,
            service,
            chrono::Utc::now(),
        );
        let mut request = self
            .http
            .request(method, format!("{}{path_and_query}", self.endpoint));
        for (name, value) in headers.iter().skip(1).chain(signed.iter()) {
            request = request.header(name.as_str(), value.as_str());
        }
        request
    }

    async fn create_bucket(&self) -> anyhow::Result<()> {
        let response = self
            .request(reqwest::Method::PUT, &format!("/{BUCKET}"), "s3")
            .send()
            .await?;
        check(response, "CreateBucket").await?;
        Ok(())
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> anyhow::Result<()> {
        let response = self
            .request(reqwest::Method::PUT, &format!("/{BUCKET}/{key}"), "s3")
            .body(body)
            .send()
            .await?;
        check(response, "PutObject").await?;
        Ok(())
    }

    /// GET an object, streaming its body away; returns its length. With `keep`, the body.
    async fn get(&self, key: &str, keep: bool) -> anyhow::Result<(u64, Vec<u8>)> {
        let mut response = check(
            self.request(reqwest::Method::GET, &format!("/{BUCKET}/{key}"), "s3")
                .send()
                .await?,
            "GetObject",
        )
        .await?;
        let mut length = 0u64;
        let mut kept = Vec::new();
        while let Some(piece) = response.chunk().await? {
            length += piece.len() as u64;
            if keep {
                kept.extend_from_slice(&piece);
            }
        }
        Ok((length, kept))
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let response = self
            .request(reqwest::Method::DELETE, &format!("/{BUCKET}/{key}"), "s3")
            .send()
            .await?;
        check(response, "DeleteObject").await?;
        Ok(())
    }

    /// Collect garbage now (no grace period): deleted objects' chunks leave the disks.
    async fn collect_garbage(&self) -> anyhow::Result<String> {
        let response = self
            .request(
                reqwest::Method::POST,
                "/v1/storage/gc?grace_seconds=0",
                "kumo",
            )
            .send()
            .await?;
        Ok(check(response, "storage gc").await?.text().await?)
    }

    /// PUT phase, GET phase, then delete and collect.
    async fn cell(self: &Arc<Self>, cell: &Cell, state_dir: &Path) -> anyhow::Result<Vec<Row>> {
        let keys_written = Arc::new(std::sync::Mutex::new(Vec::new()));
        let size = cell.size;
        let (ops, seconds, latencies, cpu) = {
            let keys_written = keys_written.clone();
            let tag = cell.tag.clone();
            self.phase(
                cell.clients,
                cell.bound,
                Some(cell.max_objects),
                move |bench, i| {
                    let keys_written = keys_written.clone();
                    let key = format!("{tag}/{i:07}");
                    async move {
                        let body = contents(&key, size);
                        let t = Instant::now();
                        bench.put(&key, body).await?;
                        let took = t.elapsed();
                        keys_written
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .push(key);
                        Ok(took)
                    }
                },
            )
            .await?
        };
        let stored = disk_usage(state_dir);
        let put = Row {
            replication: self.replication,
            size,
            clients: cell.clients,
            op: "PUT",
            ops,
            seconds,
            latencies,
            stored: Some(stored),
            cpu,
        };

        let mut keys = std::mem::take(
            &mut *keys_written
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        keys.sort();
        if keys.is_empty() {
            bail!("{}: no object was uploaded", cell.tag);
        }
        let keys = Arc::new(keys);
        let (ops, seconds, latencies, cpu) = {
            let keys = keys.clone();
            self.phase(cell.clients, cell.bound, None, move |bench, i| {
                let key = keys[i % keys.len()].clone();
                async move {
                    // The first GET of a cell checks the bytes too (outside its latency).
                    let verify = i == 0;
                    let t = Instant::now();
                    let (length, body) = bench.get(&key, verify).await?;
                    let took = t.elapsed();
                    if length != size {
                        bail!("GET {key}: {length} bytes, expected {size}");
                    }
                    if verify && body != contents(&key, size) {
                        bail!("GET {key}: the contents differ from what was PUT");
                    }
                    Ok(took)
                }
            })
            .await?
        };
        let get = Row {
            replication: self.replication,
            size,
            clients: cell.clients,
            op: "GET",
            ops,
            seconds,
            latencies,
            stored: None,
            cpu,
        };

        // Clean up: delete with 16 workers, then collect garbage right away.
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = Vec::new();
        for _ in 0..16 {
            let (bench, keys, next) = (self.clone(), keys.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    match keys.get(i) {
                        Some(key) => bench.delete(key).await?,
                        None => return anyhow::Ok(()),
                    }
                }
            }));
        }
        for worker in workers {
            worker.await??;
        }
        let report = self.collect_garbage().await?;
        eprintln!(
            "{}: deleted {} objects; gc {report}; {:.0} MiB left on the storage nodes",
            cell.tag,
            keys.len(),
            disk_usage(state_dir) as f64 / MIB
        );
        Ok(vec![put, get])
    }

    /// Run `clients` workers, each issuing requests `op(bench, index)` (indices shared and
    /// increasing) until the bound (or `limit` requests) is reached; under a time bound each
    /// worker makes at least one request. Returns the requests made, the phase's wall time,
    /// the sorted latencies and the CPU used meanwhile.
    async fn phase<F, Fut>(
        self: &Arc<Self>,
        clients: usize,
        bound: Bound,
        limit: Option<usize>,
        op: F,
    ) -> anyhow::Result<(usize, f64, Vec<Duration>, CpuShare)>
    where
        F: Fn(Arc<Self>, usize) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = anyhow::Result<Duration>> + Send + 'static,
    {
        let op = Arc::new(op);
        let next = Arc::new(AtomicUsize::new(0));
        let cpu_before = CpuTicks::now(self.server_pid);
        let started = Instant::now();
        let deadline = match bound {
            Bound::Seconds(s) => Some(started + Duration::from_secs_f64(s)),
            Bound::Requests(_) => None,
        };
        let max = match (bound, limit) {
            (Bound::Requests(n), Some(l)) => n.min(l),
            (Bound::Requests(n), None) => n,
            (Bound::Seconds(_), Some(l)) => l,
            (Bound::Seconds(_), None) => usize::MAX,
        };
        let mut workers = Vec::new();
        for _ in 0..clients {
            let (bench, op, next) = (self.clone(), op.clone(), next.clone());
            workers.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let late = deadline.is_some_and(|d| Instant::now() >= d);
                    if late && !latencies.is_empty() {
                        break;
                    }
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= max {
                        break;
                    }
                    latencies.push(op(bench.clone(), i).await?);
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut latencies = Vec::new();
        for worker in workers {
            latencies.extend(worker.await??);
        }
        let seconds = started.elapsed().as_secs_f64();
        let cpu = CpuTicks::now(self.server_pid).share_since(&cpu_before, seconds);
        latencies.sort();
        Ok((latencies.len(), seconds, latencies, cpu))
    }
}

/// CPU used during a phase, in cores (1.0 = one core busy throughout).
#[derive(Debug, Clone, Copy, Default)]
struct CpuShare {
    /// The `kumo up` process: gateway, object storage and the in-process storage nodes.
    server: f64,
    /// The private Postgres beneath it (postmaster and backends).
    postgres: f64,
    /// This process: request signing, object contents, HTTP.
    client: f64,
}

/// CPU time (clock ticks, user + system) from `/proc`.
struct CpuTicks {
    server: u64,
    postgres: u64,
    client: u64,
}

impl CpuTicks {
    /// The server process, its descendants (with what their exited, reaped children
    /// used: a process's cutime/cstime count only those) and this process.
    fn now(server_pid: u32) -> Self {
        let mut parents = std::collections::HashMap::new();
        let mut ticks = std::collections::HashMap::new();
        if let Ok(entries) = std::fs::read_dir("/proc") {
            for entry in entries.flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                if let Some((ppid, used)) = proc_stat(pid) {
                    parents.insert(pid, ppid);
                    ticks.insert(pid, used);
                }
            }
        }
        let descends = |mut pid: u32| {
            while let Some(&parent) = parents.get(&pid) {
                if parent == server_pid {
                    return true;
                }
                if parent <= 1 {
                    return false;
                }
                pid = parent;
            }
            false
        };
        let postgres = ticks
            .iter()
            .filter(|(pid, _)| descends(**pid))
            .map(|(_, used)| used)
            .sum();
        Self {
            server: proc_stat(server_pid).map_or(0, |s| s.1),
            postgres,
            client: proc_stat(std::process::id()).map_or(0, |s| s.1),
        }
    }

    fn share_since(&self, before: &CpuTicks, seconds: f64) -> CpuShare {
        // SAFETY: sysconf(3) has no memory-safety preconditions.
        let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let share = |now: u64, then: u64| now.saturating_sub(then) as f64 / per_second / seconds;
        CpuShare {
            server: share(self.server, before.server),
            postgres: share(self.postgres, before.postgres),
            client: share(self.client, before.client),
        }
    }
}

/// `(ppid, utime + stime + cutime + cstime)` of a process, from `/proc/<pid>/stat`.
fn proc_stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields resume after the last ')'.
    let fields: Vec<&str> = text
        .get(text.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    // Field 4 (ppid) is at index 1; fields 14 to 17 (utime, stime, cutime, cstime) at 11 to 14.
    let ppid = fields.get(1)?.parse().ok()?;
    let mut used = 0u64;
    for index in 11..=14 {
        used += fields.get(index)?.parse::<u64>().ok()?;
    }
    Some((ppid, used))
}

async fn check(response: reqwest::Response, what: &str) -> anyhow::Result<reqwest::Response> {
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let text = response.text().await.unwrap_or_default();
    bail!("{what} failed: {status} {text}")
}

/// `size` bytes of xorshift64* output seeded from `key` (FNV-1a): every object and every
/// chunk of it differs, so no two chunks dedup.
fn contents(key: &str, size: u64) -> Vec<u8> {
    let mut state = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    if state == 0 {
        state = 1;
    }
    let mut data = vec![0u8; size as usize];
    let mut words = data.chunks_exact_mut(8);
    let mut next = || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    for word in &mut words {
        word.copy_from_slice(&next().to_le_bytes());
    }
    let tail = words.into_remainder();
    let last = next().to_le_bytes();
    tail.copy_from_slice(&last[..tail.len()]);
    data
}

/// Bytes in the files under `dir`, recursively.
pub(crate) fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&entry.path()),
            Ok(t) if t.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// Bytes in the files under the state directory's `storage-node-*` directories.
fn disk_usage(state_dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(state_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("storage-node-"))
        .map(|e| dir_bytes(&e.path()))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4KiB"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("100"), Ok(100));
        assert!(parse_size("0").is_err());
        assert!(parse_size("4 parsecs").is_err());
        assert_eq!(size_label(64 << 20), "64 MiB");
        assert_eq!(size_label(4096), "4 KiB");
        assert_eq!(size_label(1000), "1000 B");
    }

    #[test]
    fn own_cpu_is_readable() {
        let (ppid, _) = proc_stat(std::process::id()).expect("own /proc stat");
        assert!(ppid > 0);
    }

    #[test]
    fn contents_differ_per_key_and_are_stable() {
        let a = contents("a/0000001", 4 << 20);
        let b = contents("a/0000002", 4 << 20);
        assert_eq!(a.len(), 4 << 20);
        assert_ne!(a, b);
        assert_eq!(a, contents("a/0000001", 4 << 20));
        assert_eq!(contents("x", 13).len(), 13);
        // No period within a chunk: the second half differs from the first.
        assert_ne!(a[..2 << 20], a[2 << 20..]);
    }
}
