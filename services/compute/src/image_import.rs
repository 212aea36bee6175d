//! Where RegisterImage may take an image from. Tenants name an S3 object they can read
//! (`ImageLocation=bucket/key`, or `s3://bucket/key`); Kumo copies it into its image store,
//! under a path it chooses (`<image store>/<image id>/rootfs.tar` or `disk.qcow2`), and
//! checks it first: a rootfs must be a plain tar archive (no device nodes, no member or
//! hard-link target outside the archive), a disk a self-contained qcow2 (no backing file,
//! no external data file, no encryption). Host paths are for operators only.
//!
//! Object storage is reached through [`ObjectReader`], which the gateway implements with
//! the object-storage service's own read path and permission check: this crate does not
//! depend on it. Without a reader (a standalone compute service), or without an image
//! store, importing answers a clear error.

use std::future::Future;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use kumo_auth::Principal;
use kumo_compute_protocol::InstanceKind;
use tokio::io::AsyncWriteExt;

use crate::error::{ComputeError, Result};
use crate::{validate, Compute};

/// Largest image Kumo imports from object storage, in bytes (8 GiB).
pub const MAX_IMAGE_BYTES: u64 = 8 << 30;
/// Longest `ImageLocation`, in characters (a 63-character bucket, `/`, a 1024-byte key).
pub const MAX_LOCATION_CHARS: usize = 1100;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
/// An object's bytes, in order.
pub type ObjectStream = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, String>> + Send>>;

/// Why an object could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// No such bucket or key.
    NotFound,
    /// The caller may not read it.
    AccessDenied,
    /// A request object storage refuses (e.g. a malformed key), with its message.
    Invalid(String),
    /// Object storage cannot serve it now.
    Unavailable(String),
}

/// Reads objects on behalf of a caller, with object storage's own permission check.
pub trait ObjectReader: Send + Sync + 'static {
    /// The object's size and bytes, if `caller` may read `bucket/key`.
    fn open<'a>(
        &'a self,
        caller: &'a Principal,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, std::result::Result<(u64, ObjectStream), ReadError>>;
}

/// A parsed `ImageLocation`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location<'a> {
    /// An absolute host path (operators only).
    HostPath(&'a str),
    /// An S3 object.
    Object { bucket: &'a str, key: &'a str },
}

fn bad_location(location: &str) -> ComputeError {
    ComputeError::invalid(format!(
        "Invalid value '{location}' for ImageLocation: give bucket/key of an S3 object you can read (a .tar root file system or a .qcow2 disk)"
    ))
}

pub fn parse_location(location: &str) -> Result<Location<'_>> {
    validate::field("ImageLocation", location, MAX_LOCATION_CHARS)?;
    if location.starts_with('/') {
        return Ok(Location::HostPath(location));
    }
    let rest = location.strip_prefix("s3://").unwrap_or(location);
    let (bucket, key) = rest.split_once('/').ok_or_else(|| bad_location(location))?;
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !bucket_ok || key.is_empty() || key.len() > 1024 {
        return Err(bad_location(location));
    }
    Ok(Location::Object { bucket, key })
}

/// What an imported object becomes: its kind and file name in the image's directory.
fn kind_of(key: &str) -> Option<(InstanceKind, &'static str)> {
    if key.ends_with(".tar") {
        Some((InstanceKind::Container, "rootfs.tar"))
    } else if key.ends_with(".qcow2") {
        Some((InstanceKind::Vm, "disk.qcow2"))
    } else {
        None
    }
}

/// An imported image: its kind and the file in the image store.
#[derive(Debug, Clone)]
pub struct Imported {
    pub kind: InstanceKind,
    pub path: PathBuf,
    /// The image's directory in the store (remove it if the image is not recorded).
    pub dir: PathBuf,
}

/// Copy `bucket/key` into the image store as image `image_id`, after checking that
/// `caller` may read it; then check the file's format.
pub async fn import(
    compute: &Compute,
    caller: &Principal,
    bucket: &str,
    key: &str,
    image_id: &str,
) -> Result<Imported> {
    let location = format!("{bucket}/{key}");
    let (kind, file_name) = kind_of(key).ok_or_else(|| {
        ComputeError::invalid(format!(
            "Invalid value '{location}' for ImageLocation: the object must be a .tar root file system or a .qcow2 disk"
        ))
    })?;
    let reader = compute.objects.as_ref().ok_or_else(|| {
        ComputeError::invalid(
            "RegisterImage from object storage is not available: this compute service has no object storage attached",
        )
    })?;
    let store = compute.config.image_store.as_ref().ok_or_else(|| {
        ComputeError::invalid(
            "RegisterImage from object storage is not available: this compute service has no image store configured",
        )
    })?;
    let (size, stream) = reader
        .open(caller, bucket, key)
        .await
        .map_err(|e| match e {
            ReadError::NotFound | ReadError::AccessDenied => ComputeError::invalid(format!(
                "Invalid value '{location}' for ImageLocation: the object does not exist or you may not read it"
            )),
            ReadError::Invalid(m) => {
                ComputeError::invalid(format!("Invalid value for ImageLocation: {m}"))
            }
            ReadError::Unavailable(m) => {
                ComputeError::Unavailable(format!("reading {location} from object storage: {m}"))
            }
        })?;
    if size > MAX_IMAGE_BYTES {
        return Err(too_large());
    }
    let dir = store.join(image_id);
    let path = dir.join(file_name);
    let copied = copy(stream, &dir, &path, kind).await;
    if let Err(e) = copied {
        let _ = tokio::fs::remove_dir_all(&dir).await;
        return Err(e);
    }
    tracing::info!(%image_id, %location, account_id = %caller.account_id, "image imported from object storage");
    Ok(Imported { kind, path, dir })
}

fn too_large() -> ComputeError {
    ComputeError::invalid(format!(
        "The image is larger than the {} GiB Kumo imports",
        MAX_IMAGE_BYTES >> 30
    ))
}

fn io(e: std::io::Error) -> ComputeError {
    ComputeError::Internal(format!("image store: {e}"))
}

async fn copy(mut stream: ObjectStream, dir: &Path, path: &Path, kind: InstanceKind) -> Result<()> {
    tokio::fs::create_dir_all(dir).await.map_err(io)?;
    let partial = path.with_extension("partial");
    let mut file = tokio::fs::File::create(&partial).await.map_err(io)?;
    let mut written: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|m| ComputeError::Unavailable(format!("reading the object: {m}")))?;
        written += chunk.len() as u64;
        if written > MAX_IMAGE_BYTES {
            return Err(too_large());
        }
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    file.sync_all().await.map_err(io)?;
    drop(file);
    let check = partial.clone();
    tokio::task::spawn_blocking(move || match kind {
        InstanceKind::Container => check_tar(&check),
        InstanceKind::Vm => check_qcow2(&check),
    })
    .await
    .map_err(|e| ComputeError::Internal(format!("image check failed: {e}")))??;
    tokio::fs::rename(&partial, path).await.map_err(io)?;
    Ok(())
}

fn bad_image(why: impl std::fmt::Display) -> ComputeError {
    ComputeError::invalid(format!("The image is not valid: {why}"))
}

/// A path inside the archive: relative, no `..` component, no NUL.
fn inside(name: &str) -> bool {
    !name.starts_with('/') && !name.contains('\0') && !name.split('/').any(|part| part == "..")
}

/// An octal (or GNU base-256) number field of a tar header.
fn tar_number(field: &[u8]) -> Option<u64> {
    if field.first().is_some_and(|b| b & 0x80 != 0) {
        let mut n: u64 = u64::from(field[0] & 0x7f);
        for &b in &field[1..] {
            n = n.checked_mul(256)?.checked_add(u64::from(b))?;
        }
        return Some(n);
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .take_while(|&b| b != 0)
        .filter(|&b| b != b' ')
        .collect();
    if text.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(std::str::from_utf8(&text).ok()?, 8).ok()
}

fn tar_text(field: &[u8]) -> String {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    String::from_utf8_lossy(&field[..end]).into_owned()
}

/// The `path`/`linkpath` records of a pax extended header.
fn pax_records(data: &[u8]) -> Result<(Option<String>, Option<String>)> {
    let (mut path, mut link) = (None, None);
    let mut rest = data;
    while !rest.is_empty() {
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| bad_image("malformed pax header"))?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&n| n > space && n <= rest.len())
            .ok_or_else(|| bad_image("malformed pax header"))?;
        let record = &rest[space + 1..len];
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(eq) = record.iter().position(|&b| b == b'=') {
            let value = String::from_utf8_lossy(&record[eq + 1..]).into_owned();
            match &record[..eq] {
                b"path" => path = Some(value),
                b"linkpath" => link = Some(value),
                _ => {}
            }
        }
        rest = &rest[len..];
    }
    Ok((path, link))
}

/// A root file system tarball Kumo will let agents extract: every header checksummed; only
/// files, directories, symbolic links and hard links; names and hard-link targets inside
/// the archive. (Symbolic-link targets resolve inside the container.)
pub fn check_tar(path: &Path) -> Result<()> {
    const LONG_NAME_MAX: u64 = 64 * 1024;
    let mut file = std::fs::File::open(path).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    let mut header = [0u8; 512];
    let (mut long_name, mut long_link): (Option<String>, Option<String>) = (None, None);
    let mut members = 0u64;
    loop {
        if file.read_exact(&mut header).is_err() {
            return Err(bad_image("truncated tar archive"));
        }
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let stored = tar_number(&header[148..156]).ok_or_else(|| bad_image("not a tar archive"))?;
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if stored != sum {
            return Err(bad_image("not a tar archive (bad header checksum)"));
        }
        let size = tar_number(&header[124..136]).ok_or_else(|| bad_image("bad member size"))?;
        let padded = size
            .div_ceil(512)
            .checked_mul(512)
            .ok_or_else(|| bad_image("bad member size"))?;
        let typeflag = header[156];
        let read_data = |file: &mut std::fs::File| -> Result<Vec<u8>> {
            if size > LONG_NAME_MAX {
                return Err(bad_image("extended header too large"));
            }
            let mut data = vec![0u8; padded as usize];
            file.read_exact(&mut data)
                .map_err(|_| bad_image("truncated tar archive"))?;
            data.truncate(size as usize);
            Ok(data)
        };
        match typeflag {
            b'L' => {
                long_name = Some(tar_text(&read_data(&mut file)?));
                continue;
            }
            b'K' => {
                long_link = Some(tar_text(&read_data(&mut file)?));
                continue;
            }
            b'x' => {
                let (p, l) = pax_records(&read_data(&mut file)?)?;
                long_name = p.or(long_name);
                long_link = l.or(long_link);
                continue;
            }
            b'g' => {
                read_data(&mut file)?;
                continue;
            }
            _ => {}
        }
        let ustar = &header[257..262] == b"ustar";
        let name = long_name.take().unwrap_or_else(|| {
            let name = tar_text(&header[0..100]);
            let prefix = if ustar {
                tar_text(&header[345..500])
            } else {
                String::new()
            };
            if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            }
        });
        let link = long_link
            .take()
            .unwrap_or_else(|| tar_text(&header[157..257]));
        if !inside(&name) {
            return Err(bad_image(format!("member {name:?} is outside the archive")));
        }
        match typeflag {
            b'0' | 0 | b'7' | b'5' | b'2' => {}
            b'1' => {
                if !inside(&link) {
                    return Err(bad_image(format!(
                        "hard link {name:?} points outside the archive"
                    )));
                }
            }
            b'3' | b'4' | b'6' => {
                return Err(bad_image(format!(
                    "member {name:?} is a device node or FIFO"
                )))
            }
            other => {
                return Err(bad_image(format!(
                    "member {name:?} has an unsupported type {:?}",
                    other as char
                )))
            }
        }
        members += 1;
        let position = file.stream_position().map_err(io)?;
        if position.saturating_add(padded) > total {
            return Err(bad_image("truncated tar archive"));
        }
        file.seek(SeekFrom::Current(padded as i64)).map_err(io)?;
    }
    if members == 0 {
        return Err(bad_image("the tar archive is empty"));
    }
    Ok(())
}

/// A disk's virtual size in bytes: a qcow2's from its header, a raw file's its length.
pub fn disk_virtual_size(path: &Path) -> Result<u64> {
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut header = [0u8; 32];
    let n = file.read(&mut header).map_err(io)?;
    if n == header.len() && &header[0..4] == b"QFI\xfb" {
        let mut size = [0u8; 8];
        size.copy_from_slice(&header[24..32]);
        return Ok(u64::from_be_bytes(size));
    }
    Ok(file.metadata().map_err(io)?.len())
}

/// A qcow2 disk Kumo will let agents boot: qcow2 version 2 or 3, no backing file (which
/// could name any host file), no external data file, no encryption.
pub fn check_qcow2(path: &Path) -> Result<()> {
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut header = [0u8; 104];
    let n = file.read(&mut header).map_err(io)?;
    let be32 = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let be64 = |at: usize| (u64::from(be32(at)) << 32) | u64::from(be32(at + 4));
    if n < 72 || &header[0..4] != b"QFI\xfb" {
        return Err(bad_image("not a qcow2 disk"));
    }
    let version = be32(4);
    if version != 2 && version != 3 {
        return Err(bad_image(format!(
            "qcow2 version {version} is not supported"
        )));
    }
    if be64(8) != 0 || be32(16) != 0 {
        return Err(bad_image(
            "qcow2 disks with a backing file are not accepted",
        ));
    }
    if be32(32) != 0 {
        return Err(bad_image("encrypted qcow2 disks are not accepted"));
    }
    if version == 3 {
        if n < 104 {
            return Err(bad_image("truncated qcow2 header"));
        }
        // Incompatible features: bit 2 is an external data file (any host file).
        if be64(72) & !0b11011 != 0 {
            return Err(bad_image(
                "qcow2 disks with an external data file or unknown features are not accepted",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            parse_location("/srv/images/x.tar").unwrap(),
            Location::HostPath("/srv/images/x.tar")
        );
        assert_eq!(
            parse_location("my-bucket/images/root.tar").unwrap(),
            Location::Object {
                bucket: "my-bucket",
                key: "images/root.tar"
            }
        );
        assert_eq!(
            parse_location("s3://my-bucket/a.qcow2").unwrap(),
            Location::Object {
                bucket: "my-bucket",
                key: "a.qcow2"
            }
        );
        for bad in [
            "",
            "nobucket",
            "Bucket/x.tar",
            "b/",
            "ab/x.tar",
            "my-bucket/a\0.tar",
        ] {
            assert_eq!(
                parse_location(bad).unwrap_err().to_aws().code,
                "InvalidParameterValue",
                "{bad:?}"
            );
        }
        assert_eq!(kind_of("a.tar").unwrap().1, "rootfs.tar");
        assert_eq!(kind_of("a.qcow2").unwrap().1, "disk.qcow2");
        assert!(kind_of("a.img").is_none());
    }

    fn tar_with(entries: &[(&str, u8, &str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, kind, link, data) in entries {
            let mut h = [0u8; 512];
            h[..name.len()].copy_from_slice(name.as_bytes());
            h[100..107].copy_from_slice(b"0000644");
            h[124..135].copy_from_slice(format!("{:011o}", data.len()).as_bytes());
            h[156] = *kind;
            h[157..157 + link.len()].copy_from_slice(link.as_bytes());
            h[257..263].copy_from_slice(b"ustar\0");
            h[263..265].copy_from_slice(b"00");
            h[148..156].copy_from_slice(b"        ");
            let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
            h[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&h);
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
        }
        out.extend_from_slice(&[0u8; 1024]);
        out
    }

    fn check(bytes: &[u8]) -> Result<()> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.tar");
        std::fs::write(&path, bytes).unwrap();
        check_tar(&path)
    }

    #[test]
    fn tarballs() {
        let good = tar_with(&[
            ("bin/", b'5', "", b""),
            ("bin/busybox", b'0', "", b"ELF..."),
            ("bin/sh", b'2', "/bin/busybox", b""),
            ("bin/ls", b'1', "bin/busybox", b""),
        ]);
        check(&good).unwrap();
        let code = |r: Result<()>| r.unwrap_err().to_aws().code;
        assert_eq!(
            code(check(&tar_with(&[("/etc/passwd", b'0', "", b"x")]))),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(check(&tar_with(&[("a/../../x", b'0', "", b"x")]))),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(check(&tar_with(&[("x", b'1', "/etc/shadow", b"")]))),
            "InvalidParameterValue"
        );
        assert_eq!(
            code(check(&tar_with(&[("sda", b'4', "", b"")]))),
            "InvalidParameterValue"
        );
        assert!(check(b"not really a tar").is_err());
        assert!(check(&good[..600]).is_err());
        assert!(check(&[0u8; 1024]).is_err());
        // A GNU long name is what is checked.
        let long = tar_with(&[
            ("././@LongLink", b'L', "", b"../../escape"),
            ("short", b'0', "", b"x"),
        ]);
        assert!(check(&long).is_err());
    }

    #[test]
    fn qcow2_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.qcow2");
        let mut h = vec![0u8; 104];
        h[0..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&3u32.to_be_bytes());
        h[100..104].copy_from_slice(&104u32.to_be_bytes());
        std::fs::write(&path, &h).unwrap();
        check_qcow2(&path).unwrap();
        let mut backed = h.clone();
        backed[8..16].copy_from_slice(&512u64.to_be_bytes());
        backed[16..20].copy_from_slice(&11u32.to_be_bytes());
        std::fs::write(&path, &backed).unwrap();
        assert!(check_qcow2(&path).is_err());
        let mut external = h.clone();
        external[72..80].copy_from_slice(&4u64.to_be_bytes());
        std::fs::write(&path, &external).unwrap();
        assert!(check_qcow2(&path).is_err());
        std::fs::write(&path, b"raw disk bytes").unwrap();
        assert!(check_qcow2(&path).is_err());
    }
}
