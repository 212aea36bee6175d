//! `kumo bench snapshots`: EBS snapshot time and the bytes they store, on a fresh
//! `kumo up --no-agent --storage-nodes 1`. A volume is filled with random bytes through its
//! NBD export (the export's own TLS-PSK key, read from the storage node's directory, as a
//! compute host would get it), snapshotted, 10 % of its 1 MiB chunks (spread evenly) are
//! rewritten with new random bytes, and it is snapshotted again. Printed per snapshot:
//! CreateSnapshot → completed, and the bytes the storage nodes' chunk stores grew by.

use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::bench::UpProcess;
use crate::bench_s3::dir_bytes;

const MIB: u64 = 1 << 20;
const REGION: &str = "us-east-1";

#[derive(clap::Args)]
pub struct SnapshotArgs {
    /// Volume size in GiB.
    #[arg(long, default_value_t = 1)]
    size_gib: u64,
    /// Percentage of the volume's chunks rewritten before the second snapshot.
    #[arg(long, default_value_t = 10)]
    changed_percent: u64,
}

/// A SigV4-signed EC2 Query client for one `kumo up`.
struct Ec2 {
    http: reqwest::Client,
    endpoint: String,
    host: String,
    access_key_id: String,
    secret: String,
}

impl Ec2 {
    async fn call(&self, action: &str, params: &[(&str, &str)]) -> anyhow::Result<String> {
        // Every value here is an id, a zone or a number: nothing to escape.
        let mut body = format!("Action={action}&Version=2016-11-15");
        for (name, value) in params {
            body.push_str(&format!("&{name}={value}"));
        }
        let body = body.into_bytes();
        let headers = vec![
            ("host".to_string(), self.host.clone()),
            (
                "content-type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
        ];
        let signed = kumo_auth::sigv4::sign_request(
            "POST",
            "/",
            &headers,
            &body,
            &self.access_key_id,
            &self.secret,
            REGION,
            "ec2",
            chrono::Utc::now(),
        );
        let mut request = self.http.post(format!("{}/", self.endpoint)).body(body);
        for (name, value) in headers.iter().skip(1).chain(signed.iter()) {
            request = request.header(name.as_str(), value.as_str());
        }
        let response = request.send().await?;
        let status = response.status();
        let text = response.text().await?;
        if !status.is_success() {
            bail!("{action} failed: {status} {text}");
        }
        Ok(text)
    }

    /// Poll `action` until its answer contains `wanted`.
    async fn wait(
        &self,
        action: &str,
        params: &[(&str, &str)],
        wanted: &str,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let text = self.call(action, params).await?;
            if text.contains(wanted) {
                return Ok(());
            }
            if text.contains("<status>error</status>") {
                bail!("{action}: error: {text}");
            }
            if started.elapsed() > Duration::from_secs(1800) {
                bail!("{action}: no {wanted} after 30 minutes");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The text of the first `<name>…</name>` in `xml`.
fn element<'a>(xml: &'a str, name: &str) -> anyhow::Result<&'a str> {
    let open = format!("<{name}>");
    let start = xml.find(&open).context(format!("no {name} in {xml}"))? + open.len();
    let end = xml[start..].find('<').context("unterminated element")? + start;
    Ok(&xml[start..end])
}

/// Bytes under the storage nodes' chunk directories (what snapshots add to object storage).
fn chunk_bytes(state_dir: &Path) -> u64 {
    std::fs::read_dir(state_dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("storage-node-"))
        .map(|e| dir_bytes(&e.path().join("chunks")))
        .sum()
}

/// The replica's run directory (`<volume>.d`, with `port` and `tls/keys.psk`).
fn replica_dir(state_dir: &Path, volume_id: &str) -> anyhow::Result<PathBuf> {
    std::fs::read_dir(state_dir)?
        .flatten()
        .map(|e| e.path().join("block").join(format!("{volume_id}.d")))
        .find(|p| p.join("port").is_file())
        .context("no replica directory of the volume")
}

/// Write `raw` (a file of the volume's size) onto the volume's NBD export.
fn write_export(raw: &Path, replica: &Path, volume_id: &str) -> anyhow::Result<()> {
    let port = std::fs::read_to_string(replica.join("port"))?;
    let status = Command::new("qemu-img")
        .args(["convert", "-q", "-n", "-f", "raw", "--object"])
        .arg(format!(
            "tls-creds-psk,id=tls0,endpoint=client,username={volume_id},dir={}",
            replica.join("tls").display()
        ))
        .arg(raw)
        .arg("--target-image-opts")
        .arg(format!(
            "driver=nbd,host=127.0.0.1,port={},export={volume_id},tls-creds=tls0",
            port.trim()
        ))
        .status()
        .context("qemu-img")?;
    if !status.success() {
        bail!("qemu-img convert onto the export failed: {status}");
    }
    Ok(())
}

fn random_mib(
    file: &mut std::fs::File,
    urandom: &mut std::fs::File,
    at: u64,
) -> anyhow::Result<()> {
    let mut buf = vec![0u8; MIB as usize];
    std::io::Read::read_exact(urandom, &mut buf)?;
    file.seek(SeekFrom::Start(at * MIB))?;
    file.write_all(&buf)?;
    Ok(())
}

/// CreateSnapshot → completed; prints the time and the bytes the chunk stores grew by.
async fn take_snapshot(
    ec2: &Ec2,
    volume_id: &str,
    state_dir: &Path,
    label: &str,
) -> anyhow::Result<()> {
    let before = chunk_bytes(state_dir);
    let started = Instant::now();
    let answer = ec2
        .call("CreateSnapshot", &[("VolumeId", volume_id)])
        .await?;
    let snapshot_id = element(&answer, "snapshotId")?.to_string();
    ec2.wait(
        "DescribeSnapshots",
        &[("SnapshotId.1", snapshot_id.as_str())],
        "<status>completed</status>",
    )
    .await?;
    let took = started.elapsed();
    let stored = chunk_bytes(state_dir).saturating_sub(before);
    println!(
        "{label}: CreateSnapshot -> completed in {:.2} s; chunk stores grew {:.1} MiB",
        took.as_secs_f64(),
        stored as f64 / MIB as f64
    );
    Ok(())
}

pub async fn run(args: SnapshotArgs) -> anyhow::Result<()> {
    let (up, _) = UpProcess::start_with(&["--no-agent", "--storage-nodes", "1"]).await?;
    let (access_key_id, secret) = up.credentials()?;
    let ec2 = Ec2 {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(600))
            .build()?,
        endpoint: up.endpoint.clone(),
        host: up.endpoint.trim_start_matches("http://").to_string(),
        access_key_id,
        secret,
    };
    let size = args.size_gib.max(1).to_string();
    let created = ec2
        .call(
            "CreateVolume",
            &[("AvailabilityZone", "us-east-1a"), ("Size", &size)],
        )
        .await?;
    let volume_id = element(&created, "volumeId")?.to_string();
    let by_id = [("VolumeId.1", volume_id.as_str())];
    ec2.wait("DescribeVolumes", &by_id, "<status>available</status>")
        .await?;
    let replica = replica_dir(&up.state_dir, &volume_id)?;

    let chunks = args.size_gib.max(1) * 1024;
    let raw = up.state_dir.join("bench-volume.raw");
    let mut file = std::fs::File::create(&raw)?;
    let mut urandom = std::fs::File::open("/dev/urandom")?;
    for index in 0..chunks {
        random_mib(&mut file, &mut urandom, index)?;
    }
    file.sync_all()?;
    write_export(&raw, &replica, &volume_id)?;
    println!(
        "volume {volume_id}: {} GiB of random bytes written through its NBD export",
        args.size_gib.max(1)
    );

    take_snapshot(
        &ec2,
        &volume_id,
        &up.state_dir,
        "snapshot 1 (whole volume new)",
    )
    .await?;

    let step = (100 / args.changed_percent.clamp(1, 100)).max(1);
    let changed: Vec<u64> = (0..chunks).step_by(step as usize).collect();
    for index in &changed {
        random_mib(&mut file, &mut urandom, *index)?;
    }
    file.sync_all()?;
    drop(file);
    write_export(&raw, &replica, &volume_id)?;
    println!(
        "{} of {chunks} chunks (1 MiB each) rewritten with new random bytes",
        changed.len()
    );
    take_snapshot(
        &ec2,
        &volume_id,
        &up.state_dir,
        "snapshot 2 (after the change)",
    )
    .await?;
    let _ = std::fs::remove_file(&raw);
    Ok(())
}
