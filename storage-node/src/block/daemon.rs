//! One `qemu-storage-daemon` per exported replica: started daemonized (it outlives the
//! node agent, so volumes stay served while the agent restarts), found again through its
//! pid file, stopped with SIGTERM then SIGKILL. Its QMP socket (`qmp.sock`) serves
//! snapshots (`snapshot.rs`: blockdev-backup into a point-in-time copy).

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kumo_agent_kit::process::{identify, terminate, PinnedProcess};
use tokio::process::Command;

use super::image::run;

pub(super) const PROGRAM: &str = "qemu-storage-daemon";
/// The qcow2 node the export names.
const DISK_NODE: &str = "disk0";
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Where one replica's daemon keeps its things (all under `<block dir>/<volume id>.d/`).
#[derive(Debug, Clone)]
pub(super) struct DaemonPaths {
    pub image: PathBuf,
    pub run_dir: PathBuf,
    /// Holds `keys.psk` (QEMU's tls-creds-psk reads `<dir>/keys.psk`).
    pub tls_dir: PathBuf,
    pub pidfile: PathBuf,
    pub qmp_socket: PathBuf,
    pub port_file: PathBuf,
}

impl DaemonPaths {
    pub fn new(block_dir: &Path, volume_id: &str) -> Self {
        let run_dir = block_dir.join(format!("{volume_id}.d"));
        Self {
            image: block_dir.join(format!("{volume_id}.qcow2")),
            tls_dir: run_dir.join("tls"),
            pidfile: run_dir.join("qsd.pid"),
            qmp_socket: run_dir.join("qmp.sock"),
            port_file: run_dir.join("port"),
            run_dir,
        }
    }
}

/// The daemon serving this replica, if one runs: its pid file names a live
/// `qemu-storage-daemon` started with this very pid file.
pub(super) fn find(paths: &DaemonPaths) -> Option<PinnedProcess> {
    let pid: u32 = std::fs::read_to_string(&paths.pidfile)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    identify(pid, PROGRAM, "--pidfile", &paths.pidfile.to_string_lossy())
}

/// Start the daemon exporting `paths.image` as `export_name` on `host:port` with TLS-PSK,
/// and return it once it serves (`--daemonize` returns after start-up completed).
pub(super) async fn start(
    binary: &Path,
    paths: &DaemonPaths,
    export_name: &str,
    host: IpAddr,
    port: u16,
) -> Result<PinnedProcess, String> {
    let _ = std::fs::remove_file(&paths.pidfile);
    let _ = std::fs::remove_file(&paths.qmp_socket);
    let path = |p: &Path| p.to_string_lossy().into_owned();
    let mut command = Command::new(binary);
    command
        .arg("--daemonize")
        .arg("--pidfile")
        .arg(&paths.pidfile)
        .arg("--object")
        .arg(format!(
            "tls-creds-psk,id=tls0,endpoint=server,dir={}",
            path(&paths.tls_dir)
        ))
        .arg("--nbd-server")
        .arg(format!(
            "addr.type=inet,addr.host={host},addr.port={port},tls-creds=tls0"
        ))
        .arg("--blockdev")
        .arg(format!(
            "driver=file,node-name=file0,filename={}",
            path(&paths.image)
        ))
        .arg("--blockdev")
        .arg(format!("driver=qcow2,node-name={DISK_NODE},file=file0"))
        .arg("--export")
        .arg(format!(
            "type=nbd,id=export0,node-name={DISK_NODE},name={export_name},writable=on"
        ))
        .arg("--chardev")
        .arg(format!(
            "socket,id=qmp0,path={},server=on,wait=off",
            path(&paths.qmp_socket)
        ))
        .arg("--monitor")
        .arg("chardev=qmp0,mode=control");
    run(&mut command).await?;
    find(paths).ok_or_else(|| format!("{PROGRAM} started but its pid file names no daemon"))
}

/// Grow the running daemon's replica to `size_bytes` without restarting it. An NBD export
/// does not share the resize permission, so the export is dropped (its clients are
/// disconnected and reconnect on their own: `reconnect-delay`), the image grown over QMP
/// (`block_resize`) and the export added again, same name, same port.
pub(super) async fn grow_live(
    paths: &DaemonPaths,
    export_name: &str,
    size_bytes: u64,
) -> Result<(), String> {
    let mut qmp = super::qmp::Qmp::connect(&paths.qmp_socket).await?;
    qmp.execute(
        "block-export-del",
        serde_json::json!({ "id": "export0", "mode": "hard" }),
    )
    .await?;
    // The export goes once its clients are gone (at once with mode hard, but bounded).
    for _ in 0..100 {
        let exports = qmp
            .execute("query-block-exports", serde_json::json!({}))
            .await?;
        if !exports.to_string().contains("\"export0\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let resized = qmp
        .execute(
            "block_resize",
            serde_json::json!({ "node-name": DISK_NODE, "size": size_bytes }),
        )
        .await;
    // Exported again whatever the resize did: the replica stays served.
    qmp.execute(
        "block-export-add",
        serde_json::json!({
            "type": "nbd",
            "id": "export0",
            "node-name": DISK_NODE,
            "name": export_name,
            "writable": true,
        }),
    )
    .await?;
    resized.map(drop)
}

/// Stop the daemon: SIGTERM, then SIGKILL after a grace period. Returns once it is gone.
pub(super) async fn stop(process: PinnedProcess) -> Result<(), String> {
    if terminate(process, STOP_GRACE).await {
        Ok(())
    } else {
        Err(format!("{PROGRAM} {} does not die", process.pid))
    }
}
