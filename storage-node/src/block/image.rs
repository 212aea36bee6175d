//! The replica's qcow2 file, through `qemu-img`.

use std::path::Path;

use tokio::process::Command;

/// Run a command to its end; its stderr (trimmed) is the error when it fails.
pub(super) async fn run(command: &mut Command) -> Result<Vec<u8>, String> {
    let program = command
        .as_std()
        .get_program()
        .to_string_lossy()
        .into_owned();
    let output = command
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| format!("{program}: {e}"))?;
    if output.status.success() {
        Ok(output.stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(format!(
            "{program} failed ({}): {}",
            output.status,
            stderr.trim()
        ))
    }
}

/// Create an empty qcow2 of `size_bytes` at `path`, all or nothing: it is made under a
/// temporary name and renamed, so a crash never leaves a half-made image behind.
pub(super) async fn create(qemu_img: &Path, path: &Path, size_bytes: u64) -> Result<(), String> {
    let tmp = path.with_extension("qcow2.tmp");
    let _ = std::fs::remove_file(&tmp);
    let created = run(Command::new(qemu_img)
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&tmp)
        .arg(size_bytes.to_string()))
    .await;
    if let Err(e) = created {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Create the qcow2 at `path` as a full copy of an image's disk (qcow2 or raw, on the shared
/// image store), grown to `size_bytes`: an EBS root volume. All or nothing, as [`create`].
/// A copy, not an overlay: the replica never depends on the image's file.
pub(super) async fn create_from(
    qemu_img: &Path,
    disk: &Path,
    path: &Path,
    size_bytes: u64,
) -> Result<(), String> {
    let tmp = path.with_extension("qcow2.tmp");
    let _ = std::fs::remove_file(&tmp);
    let made = async {
        run(Command::new(qemu_img)
            .args(["convert", "-q", "-O", "qcow2"])
            .arg(disk)
            .arg(&tmp))
        .await?;
        if virtual_size(qemu_img, &tmp).await? < size_bytes {
            grow(qemu_img, &tmp, size_bytes).await?;
        }
        Ok::<(), String>(())
    }
    .await;
    install(&tmp, path, made)
}

/// Where a replica is copied from another node's export (see [`copy_from_peer`]).
pub(super) struct PeerExport<'a> {
    pub host: &'a str,
    pub nbd_port: u16,
    /// The export's name.
    pub volume_id: &'a str,
    /// Holds `keys.psk` (`identity:hexkey`) for the export.
    pub key_dir: &'a Path,
    pub psk_identity: &'a str,
}

/// Create the qcow2 at `path` as a full copy of another node's replica, read over its NBD
/// export with TLS-PSK, grown to `size_bytes`. All or nothing, as [`create`]: a replica
/// whose copy broke off is never left behind looking whole.
pub(super) async fn copy_from_peer(
    qemu_img: &Path,
    peer: &PeerExport<'_>,
    path: &Path,
    size_bytes: u64,
) -> Result<(), String> {
    let tmp = path.with_extension("qcow2.tmp");
    let _ = std::fs::remove_file(&tmp);
    let key_dir = peer
        .key_dir
        .to_str()
        .ok_or_else(|| "the key directory is not UTF-8".to_string())?;
    let made = async {
        run(Command::new(qemu_img)
            .args(["convert", "-q", "-O", "qcow2", "--object"])
            .arg(format!(
                "tls-creds-psk,id=peer,endpoint=client,dir={key_dir},username={}",
                peer.psk_identity
            ))
            .arg("--image-opts")
            .arg(format!(
                "driver=nbd,server.type=inet,server.host={},server.port={},export={},tls-creds=peer",
                peer.host, peer.nbd_port, peer.volume_id
            ))
            .arg(&tmp))
        .await?;
        if virtual_size(qemu_img, &tmp).await? < size_bytes {
            grow(qemu_img, &tmp, size_bytes).await?;
        }
        Ok::<(), String>(())
    }
    .await;
    install(&tmp, path, made)
}

/// Rename a finished `tmp` to `path` (durably), or remove it when making it failed.
fn install(tmp: &Path, path: &Path, made: Result<(), String>) -> Result<(), String> {
    if let Err(e) = made {
        let _ = std::fs::remove_file(tmp);
        return Err(e);
    }
    std::fs::rename(tmp, path).map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
    if let Some(dir) = path.parent() {
        let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Grow an image no process holds open.
pub(super) async fn grow(qemu_img: &Path, path: &Path, size_bytes: u64) -> Result<(), String> {
    run(Command::new(qemu_img)
        .args(["resize", "-q", "-f", "qcow2"])
        .arg(path)
        .arg(size_bytes.to_string()))
    .await
    .map(drop)
}

/// The image's virtual size; `-U` reads it while a storage daemon holds the image.
pub(super) async fn virtual_size(qemu_img: &Path, path: &Path) -> Result<u64, String> {
    let out = run(Command::new(qemu_img)
        .args(["info", "-U", "--output=json", "-f", "qcow2"])
        .arg(path))
    .await?;
    let info: serde_json::Value =
        serde_json::from_slice(&out).map_err(|e| format!("qemu-img info: {e}"))?;
    info.get("virtual-size")
        .and_then(serde_json::Value::as_u64)
        .ok_or_else(|| "qemu-img info: no virtual-size".to_string())
}
