//! Compute benchmarks (figures, never timed tests):
//! - the scheduler alone on 1,000 and 10,000 simulated hosts (in memory, and through the
//!   catalog with the real claim transaction);
//! - RunInstances → running for container instances on this host's real agent;
//! - RunInstances → VM boot marker, next to a bare `qemu-system-x86_64` boot.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kumo_compute::scheduler::{self, Candidate, Demand, Ratios};
use kumo_compute::{ComputeConfig, Weigher};
use kumo_compute_protocol::InstanceKind;
use serde_json::Value;

use crate::bench::{percentile, UpProcess};

fn demand() -> Demand {
    Demand {
        kind: InstanceKind::Container,
        vcpus: 2,
        memory_mib: 1024,
        zone: None,
        min_count: 1,
        max_count: 1,
    }
}

pub async fn scheduler(pools: &[usize], placements: usize) -> anyhow::Result<()> {
    let config = ComputeConfig::default();
    let ratios = Ratios {
        cpu: config.cpu_allocation_ratio,
        memory: config.memory_allocation_ratio,
    };
    // Simulated hosts are big enough that no placement fails during the run.
    let host_memory = 1024 * 1024;
    for &count in pools {
        let mut hosts: Vec<Candidate> = (0..count)
            .map(|i| Candidate {
                host_id: format!("host-{i:017x}"),
                zone: "us-east-1a".into(),
                vcpus: 4096,
                memory_mib: host_memory,
                vcpus_used: 0,
                memory_mib_used: 0,
            })
            .collect();
        let started = Instant::now();
        let mut placed = 0;
        for _ in 0..placements {
            placed += scheduler::place(&mut hosts, &demand(), Weigher::Spread, ratios).len();
        }
        let elapsed = started.elapsed();
        println!(
            "scheduler in memory, {count} hosts: {placed} placements in {:.3} s = {:.0} placements/s",
            elapsed.as_secs_f64(),
            placed as f64 / elapsed.as_secs_f64()
        );
    }

    // Through the catalog: simulated hosts are rows with a fresh heartbeat (no agents).
    let dir = tempfile::Builder::new()
        .prefix("kumo-bench-sched-")
        .tempdir_in("/tmp")?;
    let catalog = kumo_catalog::Catalog::open(None, dir.path()).await?;
    let pool = catalog.pool.clone();
    for &count in pools {
        sqlx::query("DELETE FROM compute.hosts")
            .execute(&pool)
            .await?;
        sqlx::query(
            "INSERT INTO compute.hosts (host_id, name, zone, address, token_sha256, vcpus, memory_mib, disk_gib, kinds, last_heartbeat_at)
             SELECT 'host-' || lpad(to_hex(i), 17, '0'), 'sim-' || i, 'us-east-1a', '', '', 4096, $2, 1000,
                    ARRAY['vm', 'container'], now() + interval '1 hour'
             FROM generate_series(1, $1) AS i",
        )
        .bind(count as i32)
        .bind(host_memory)
        .execute(&pool)
        .await?;
        sqlx::query("ANALYZE compute.hosts").execute(&pool).await?;
        for batch in [1usize, 10] {
            let rounds = (placements / batch / 4).max(10);
            let mut latencies = Vec::with_capacity(rounds);
            let started = Instant::now();
            let mut placed = 0;
            for _ in 0..rounds {
                let t = Instant::now();
                let mut tx = pool.begin().await?;
                let d = Demand {
                    min_count: batch,
                    max_count: batch,
                    ..demand()
                };
                placed += scheduler::claim(&mut tx, &d, &config).await?.len();
                tx.commit().await?;
                latencies.push(t.elapsed());
            }
            let elapsed = started.elapsed();
            latencies.sort();
            println!(
                "scheduler through the catalog, {count} simulated hosts, batches of {batch}: {placed} placements, {:.0} placements/s, {:.0} rounds/s (round p50 {:.2} ms, p99 {:.2} ms)",
                placed as f64 / elapsed.as_secs_f64(),
                rounds as f64 / elapsed.as_secs_f64(),
                percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
                percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
            );
        }
    }
    catalog.shutdown().await;
    Ok(())
}

/// A logged-in native-API client for a `kumo up` child.
struct Client {
    http: reqwest::Client,
    endpoint: String,
    token: String,
}

impl Client {
    async fn login(up: &UpProcess) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let password = std::fs::read_to_string(up.state_dir.join("operator-password"))?;
        let response: Value = http
            .post(format!("{}/v1/login", up.endpoint))
            .json(&serde_json::json!({"account": "operator", "user_name": "operator", "password": password.trim()}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let token = response["token"].as_str().context("no token")?.to_string();
        Ok(Self {
            http,
            endpoint: up.endpoint.clone(),
            token,
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        Ok(self
            .http
            .get(format!("{}{path}", self.endpoint))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?)
    }

    async fn image(&self, name: &str) -> anyhow::Result<String> {
        let images = self.get("/v1/images").await?;
        images
            .as_array()
            .and_then(|list| list.iter().find(|i| i["name"] == name))
            .and_then(|i| i["image_id"].as_str())
            .map(str::to_string)
            .with_context(|| format!("image {name} not registered: run deploy/build-images.sh"))
    }

    async fn run(&self, image_id: &str, instance_type: &str) -> anyhow::Result<String> {
        let response: Value = self
            .http
            .post(format!("{}/v1/instances", self.endpoint))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"image_id": image_id, "instance_type": instance_type}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(response["instances"][0]["instance_id"]
            .as_str()
            .context("no instance id")?
            .to_string())
    }

    async fn state(&self, id: &str) -> anyhow::Result<String> {
        Ok(self.get(&format!("/v1/instances/{id}")).await?["state"]
            .as_str()
            .unwrap_or("")
            .to_string())
    }

    async fn terminate(&self, id: &str) -> anyhow::Result<()> {
        self.http
            .delete(format!("{}/v1/instances/{id}", self.endpoint))
            .bearer_auth(&self.token)
            .send()
            .await?
            .error_for_status()?;
        Ok(())
    }

    async fn wait_state(&self, id: &str, state: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        while self.state(id).await? != state {
            if Instant::now() > deadline {
                bail!("{id} did not reach {state}");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Ok(())
    }
}

fn image_dir_arg(image_dir: &Path) -> anyhow::Result<String> {
    Ok(image_dir
        .canonicalize()
        .with_context(|| format!("{}: run deploy/build-images.sh", image_dir.display()))?
        .to_string_lossy()
        .into_owned())
}

pub async fn launch(count: usize, image_dir: &Path) -> anyhow::Result<()> {
    let dir = image_dir_arg(image_dir)?;
    let (up, _) = UpProcess::start_with(&["--image-dir", &dir]).await?;
    let client = Client::login(&up).await?;
    let image = client.image("kumo-busybox-container").await?;
    let mut latencies = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let id = client.run(&image, "t3.nano").await?;
        client
            .wait_state(&id, "running", Duration::from_secs(120))
            .await?;
        latencies.push(started.elapsed());
        client.terminate(&id).await?;
        client
            .wait_state(&id, "terminated", Duration::from_secs(120))
            .await?;
    }
    latencies.sort();
    println!(
        "RunInstances → running (container, one host, {count} launches one at a time): p50 {:.0} ms, p99 {:.0} ms, min {:.0} ms, max {:.0} ms",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.first().copied().unwrap_or_default().as_secs_f64() * 1000.0,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1000.0,
    );
    Ok(())
}

const BOOT_MARKER: &str = "KUMO-BOOT: kernel up";

/// Boot the image with a bare QEMU command; time to the marker on the serial console.
fn bare_boot(image_dir: &Path) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-machine", "pc", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "2",
        ])
        .args([
            "-nodefaults",
            "-no-user-config",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-nic",
            "none",
        ])
        .arg("-kernel")
        .arg(image_dir.join("vm/vmlinuz"))
        .arg("-initrd")
        .arg(image_dir.join("vm/initramfs.img"))
        .args(["-append", "console=ttyS0 panic=-1"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("qemu-system-x86_64: run deploy/install-compute-deps.sh")?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut found = None;
    for line in BufReader::new(stdout).lines() {
        if line?.contains(BOOT_MARKER) {
            found = Some(started.elapsed());
            break;
        }
        if started.elapsed() > Duration::from_secs(180) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    found.context("bare QEMU never printed the boot marker")
}

pub async fn vm_boot(runs: usize, image_dir: &Path) -> anyhow::Result<()> {
    let dir = image_dir_arg(image_dir)?;
    let (up, _) = UpProcess::start_with(&["--image-dir", &dir]).await?;
    let client = Client::login(&up).await?;
    let image = client.image("kumo-busybox-vm").await?;
    let mut kumo = Vec::new();
    let mut bare = Vec::new();
    for run in 1..=runs {
        let started = Instant::now();
        let id = client.run(&image, "t3.micro").await?;
        // The agent's console file: what GetConsoleOutput serves, without the upload delay.
        let console = up
            .state_dir
            .join(format!("compute-node/vms/{id}/console.log"));
        let took = loop {
            if std::fs::read_to_string(&console)
                .map(|c| c.contains(BOOT_MARKER))
                .unwrap_or(false)
            {
                break started.elapsed();
            }
            if started.elapsed() > Duration::from_secs(180) {
                bail!("{id} never printed the boot marker");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        client.terminate(&id).await?;
        client
            .wait_state(&id, "terminated", Duration::from_secs(120))
            .await?;
        let bare_took = bare_boot(Path::new(&dir))?;
        println!(
            "run {run}: RunInstances → boot marker {:.2} s; bare qemu-system-x86_64 → boot marker {:.2} s",
            took.as_secs_f64(),
            bare_took.as_secs_f64()
        );
        kumo.push(took);
        bare.push(bare_took);
    }
    kumo.sort();
    bare.sort();
    let (k, b) = (percentile(&kumo, 0.5), percentile(&bare, 0.5));
    println!(
        "VM boot (TCG), median of {runs}: Kumo {:.2} s, bare QEMU {:.2} s, ratio {:.2}",
        k.as_secs_f64(),
        b.as_secs_f64(),
        k.as_secs_f64() / b.as_secs_f64().max(0.001)
    );
    Ok(())
}
