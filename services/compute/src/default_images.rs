//! The default images a single-host cloud offers everyone: the ones deploy/build-images.sh
//! builds, registered as public images of the operator's account when found.

use std::path::Path;

use crate::{images, ComputeError, Result};

/// One default image as registered.
#[derive(Debug, Clone)]
pub struct DefaultImage {
    pub image_id: String,
    pub name: &'static str,
}

/// A default image: its name, description and where it sits in the image directory.
struct Known {
    name: &'static str,
    description: &'static str,
    /// The file or directory the image is (relative to the image directory).
    location: &'static str,
    /// The file whose presence says the image was built.
    marker: &'static str,
}

const KNOWN: [Known; 2] = [
    Known {
        name: "kumo-busybox-vm",
        description: "Debian kernel with a busybox initramfs (boots under QEMU)",
        location: "vm",
        marker: "vm/vmlinuz",
    },
    Known {
        name: "kumo-busybox-container",
        description: "busybox root file system (runs under runc)",
        location: "container/rootfs.tar",
        marker: "container/rootfs.tar",
    },
];

/// Register, as public images owned by `owner`, the default images found in `dir`
/// (idempotent: an image already registered under its name is returned as it is).
pub async fn register(pool: &sqlx::PgPool, owner: &str, dir: &Path) -> Result<Vec<DefaultImage>> {
    let mut registered = Vec::new();
    for known in &KNOWN {
        if !dir.join(known.marker).is_file() {
            continue;
        }
        let location = dir.join(known.location);
        let location = location.canonicalize().map_err(|e| {
            ComputeError::Internal(format!("default image {}: {e}", location.display()))
        })?;
        let image = images::ensure_public(
            pool,
            owner,
            known.name,
            known.description,
            &location.to_string_lossy(),
        )
        .await?;
        registered.push(DefaultImage {
            image_id: image.image_id.to_string(),
            name: known.name,
        });
    }
    Ok(registered)
}
