//! Files that hold secrets or state a process must find intact after a crash.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Replace `path` with `contents`, readable by the owner only (mode 0600), atomically and
/// durably: a temporary file in the same directory is written and synced, renamed over
/// `path`, then the directory is synced so the rename itself survives a crash. A reader
/// never sees half a file; a failed write leaves the old file and no temporary behind.
pub fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    // A name of its own per write: concurrent writers must not rename each other's file.
    let tmp = path.with_extension(format!("tmp.{}", uuid::Uuid::new_v4().simple()));
    let written = (|| -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        std::fs::File::open(dir)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn replaces_the_file_owner_only_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("kumo-fs-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).unwrap();
        let path = dir.join("secret.json");
        write_private(&path, b"first").unwrap();
        write_private(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        // A directory that does not exist: an error, nothing created.
        assert!(write_private(&dir.join("missing/secret"), b"x").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
