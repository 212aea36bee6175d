//! Benchmarks that print figures (never timed tests):
//! - `kumo bench startup`: cold `kumo up` to ready, each run with a fresh private Postgres;
//! - `kumo bench sigv4`: SigV4-signed STS GetCallerIdentity requests/s on loopback;
//! - `kumo bench s3`: S3 PUT/GET throughput on loopback (see `bench_s3`);
//! - `kumo bench security-groups`: DescribeSecurityGroups with 1,000 rules (see `bench_network`);
//! - `kumo bench snapshots`: EBS snapshot time and stored bytes (see `bench_snapshots`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

#[derive(clap::Subcommand)]
pub enum Which {
    /// Cold `kumo up` (fresh state directory and private Postgres) until /readyz answers.
    Startup {
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Signed GetCallerIdentity requests against a fresh `kumo up` on loopback.
    Sigv4 {
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// The scheduler alone on simulated hosts (rows in a private catalog; no agents).
    Scheduler {
        /// Pool sizes to measure.
        #[arg(long, value_delimiter = ',', default_value = "1000,10000")]
        hosts: Vec<usize>,
        /// Placements per pool size.
        #[arg(long, default_value_t = 2000)]
        placements: usize,
    },
    /// RunInstances → running for container instances, one at a time, on this host's agent.
    /// (Creates a bridge in this machine's network namespace.)
    Launch {
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Where deploy/build-images.sh put the images.
        #[arg(long, env = "KUMO_IMAGE_DIR", default_value = "target/kumo-images")]
        image_dir: PathBuf,
    },
    /// RunInstances → the guest's boot marker on the console, next to a bare QEMU boot of
    /// the same image.
    VmBoot {
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long, env = "KUMO_IMAGE_DIR", default_value = "target/kumo-images")]
        image_dir: PathBuf,
    },
    /// S3 PUT and GET throughput on loopback per object size, clients and replica count
    /// (`kumo up --no-agent --storage-nodes 3` per replication setting).
    S3(crate::bench_s3::S3Args),
    /// DescribeSecurityGroups latency with 1,000 rules (EC2 facade on a private catalog).
    SecurityGroups {
        #[arg(long, default_value_t = 200)]
        runs: usize,
    },
    /// EBS snapshot of a volume filled with random bytes, then again after rewriting a
    /// share of it (`kumo up --no-agent --storage-nodes 1`).
    Snapshots(crate::bench_snapshots::SnapshotArgs),
}

pub async fn run(which: Which) -> anyhow::Result<()> {
    match which {
        Which::Startup { runs } => startup(runs).await,
        Which::Sigv4 {
            requests,
            concurrency,
        } => sigv4(requests, concurrency.max(1)).await,
        Which::Scheduler { hosts, placements } => {
            crate::bench_compute::scheduler(&hosts, placements).await
        }
        Which::Launch { count, image_dir } => crate::bench_compute::launch(count, &image_dir).await,
        Which::VmBoot { runs, image_dir } => crate::bench_compute::vm_boot(runs, &image_dir).await,
        Which::S3(args) => crate::bench_s3::run(args).await,
        Which::SecurityGroups { runs } => crate::bench_network::security_groups(runs.max(1)).await,
        Which::Snapshots(args) => crate::bench_snapshots::run(args).await,
    }
}

/// A `kumo up` child with its own fresh state directory; stopped (SIGTERM) on drop.
pub struct UpProcess {
    child: Child,
    pub state_dir: PathBuf,
    pub endpoint: String,
}

impl UpProcess {
    async fn start() -> anyhow::Result<(Self, Duration)> {
        Self::start_with(&[]).await
    }

    /// `kumo up` with extra arguments.
    pub async fn start_with(extra: &[&str]) -> anyhow::Result<(Self, Duration)> {
        Self::start_with_env(extra, &[]).await
    }

    /// `kumo up` with extra arguments and extra environment variables.
    pub async fn start_with_env(
        extra: &[&str],
        env: &[(&str, &str)],
    ) -> anyhow::Result<(Self, Duration)> {
        let state_dir = tempfile::Builder::new()
            .prefix("kumo-bench-")
            .tempdir_in("/tmp")?
            .keep();
        let endpoint_file = state_dir.join("endpoint");
        let started = Instant::now();
        let child = Command::new(std::env::current_exe()?)
            .args(["up", "--listen", "127.0.0.1:0", "--state-dir"])
            .arg(&state_dir)
            .args(extra)
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .context("start kumo up")?;
        let mut process = UpProcess {
            child,
            state_dir,
            endpoint: String::new(),
        };
        let client = reqwest::Client::new();
        loop {
            if let Some(status) = process.child.try_wait()? {
                bail!("kumo up exited early: {status}");
            }
            if let Ok(text) = std::fs::read_to_string(&endpoint_file) {
                let endpoint = text.trim().to_string();
                if let Ok(resp) = client.get(format!("{endpoint}/readyz")).send().await {
                    if resp.status().is_success() {
                        process.endpoint = endpoint;
                        return Ok((process, started.elapsed()));
                    }
                }
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("kumo up was not ready after 120 s");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// The `kumo up` process's id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn credentials(&self) -> anyhow::Result<(String, String)> {
        read_profile(&self.state_dir.join("aws/credentials"))
    }
}

impl Drop for UpProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) has no memory-safety preconditions.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.state_dir);
    }
}

fn read_profile(path: &Path) -> anyhow::Result<(String, String)> {
    let text = std::fs::read_to_string(path)?;
    let value = |key: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(key)
                .map(|v| v.trim_start_matches([' ', '=']).trim().to_string())
        })
    };
    Ok((
        value("aws_access_key_id").context("no access key in profile")?,
        value("aws_secret_access_key").context("no secret in profile")?,
    ))
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

async fn startup(runs: usize) -> anyhow::Result<()> {
    let mut times = Vec::new();
    for run in 1..=runs {
        let (process, took) = UpProcess::start().await?;
        println!(
            "run {run}: cold kumo up to ready in {:.3} s",
            took.as_secs_f64()
        );
        times.push(took);
        drop(process);
    }
    times.sort();
    println!(
        "cold start (fresh private Postgres, migrations, bootstrap, listening): min {:.3} s, median {:.3} s, max {:.3} s over {runs} runs",
        times.first().copied().unwrap_or_default().as_secs_f64(),
        percentile(&times, 0.5).as_secs_f64(),
        times.last().copied().unwrap_or_default().as_secs_f64(),
    );
    Ok(())
}

async fn sigv4(requests: usize, concurrency: usize) -> anyhow::Result<()> {
    let (process, _) = UpProcess::start().await?;
    let (access_key_id, secret) = process.credentials()?;
    let endpoint = process.endpoint.clone();
    let host = endpoint.trim_start_matches("http://").to_string();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let body = b"Action=GetCallerIdentity&Version=2011-06-15".to_vec();
    let shared = Arc::new((client, endpoint, host, access_key_id, secret, body));

    // Warm up connections and caches.
    for _ in 0..50 {
        one_request(&shared).await?;
    }
    let started = Instant::now();
    let per_worker = requests / concurrency;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let shared = shared.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            for _ in 0..per_worker {
                let t = Instant::now();
                one_request(&shared).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    println!(
        "SigV4 GetCallerIdentity on loopback: {} requests, concurrency {concurrency}: {:.0} requests/s; latency p50 {:.2} ms, p99 {:.2} ms",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
    drop(process);
    Ok(())
}

type Shared = (reqwest::Client, String, String, String, String, Vec<u8>);

async fn one_request(shared: &Shared) -> anyhow::Result<()> {
    let (client, endpoint, host, access_key_id, secret, body) = shared;
    let headers = vec![
        ("host".to_string(), host.clone()),
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        ),
    ];
    let signed = kumo_auth::sigv4::sign_request(
        "POST",
        "/",
        &headers,
        body,
        access_key_id,
        secret,
        "us-east-1",
        "sts",
        chrono::Utc::now(),
    );
    let mut request = client.post(format!("{endpoint}/")).body(body.clone());
    for (name, value) in headers.iter().skip(1).chain(signed.iter()) {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await?;
    if !response.status().is_success() {
        bail!(
            "GetCallerIdentity failed: {} {}",
            response.status(),
            response.text().await?
        );
    }
    let _ = response.bytes().await?;
    Ok(())
}
