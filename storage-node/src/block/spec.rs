//! What the control plane asks for, checked before any of it reaches a path or a command
//! line: a volume id becomes a file name and an export name, the PSK identity and key go
//! into `keys.psk`, the size into `qemu-img`.

use kumo_common::ids::{SnapshotId, VolumeId};
use kumo_storage_protocol::block::{ReplicaDesired, ReplicaSource, VolumeReplicaSpec};

/// Smallest volume: 1 MiB (EBS's is 1 GiB; smaller ones make tests cheap).
pub const MIN_VOLUME_BYTES: u64 = 1 << 20;
/// Largest volume: 64 TiB (EBS io2 Block Express).
pub const MAX_VOLUME_BYTES: u64 = 64 << 40;
const MAX_IDENTITY_CHARS: usize = 64;
const KEY_HEX_DIGITS: usize = 64;
/// `vol-` and 17 hex digits.
const VOLUME_ID_CHARS: usize = 21;

/// A replica spec whose every field is safe to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSpec {
    pub volume_id: String,
    pub size_bytes: u64,
    pub desired: ReplicaDesired,
    pub psk_identity: String,
    pub psk_key_hex: String,
    /// What a new replica starts from (a snapshot's id is checked).
    pub source: Option<ReplicaSource>,
}

/// `vol-` followed by 17 lowercase hex digits.
pub fn valid_volume_id(text: &str) -> bool {
    text.len() == VOLUME_ID_CHARS && VolumeId::parse(text).is_ok()
}

/// The spec, or why it is refused. The volume id is checked first: with a bad one the
/// replica cannot even be named in a report.
pub fn validate(spec: &VolumeReplicaSpec) -> Result<ValidSpec, String> {
    if !valid_volume_id(&spec.volume_id) {
        return Err(format!(
            "volume id {:?} is not vol- and 17 hex digits",
            spec.volume_id
        ));
    }
    let identity = &spec.export.psk_identity;
    let key = &spec.export.psk_key_hex;
    check_credentials(identity, key)?;
    if spec.desired == ReplicaDesired::Present
        && !(MIN_VOLUME_BYTES..=MAX_VOLUME_BYTES).contains(&spec.size_bytes)
    {
        return Err(format!(
            "size {} is outside {MIN_VOLUME_BYTES}..={MAX_VOLUME_BYTES} bytes",
            spec.size_bytes
        ));
    }
    if !spec.size_bytes.is_multiple_of(512) {
        return Err(format!(
            "size {} is not a multiple of 512 bytes",
            spec.size_bytes
        ));
    }
    if let Some(ReplicaSource::Snapshot { snapshot_id }) = &spec.source {
        if SnapshotId::parse(snapshot_id).is_err() {
            return Err(format!("snapshot id {snapshot_id:?} is malformed"));
        }
    }
    if let Some(ReplicaSource::Peer {
        host,
        psk_identity,
        psk_key_hex,
        ..
    }) = &spec.source
    {
        // These go into qemu-img's option strings: no comma, no '=' may slip in.
        if host.is_empty()
            || host.len() > 253
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b))
        {
            return Err(format!("peer host {host:?} is not an address"));
        }
        check_credentials(psk_identity, psk_key_hex)?;
    }
    if let Some(ReplicaSource::Image { disk }) = &spec.source {
        if !disk.is_absolute() || disk.components().any(|c| c.as_os_str() == "..") {
            return Err(format!(
                "image disk {} is not an absolute path",
                disk.display()
            ));
        }
    }
    Ok(ValidSpec {
        volume_id: spec.volume_id.clone(),
        size_bytes: spec.size_bytes,
        desired: spec.desired,
        psk_identity: identity.clone(),
        psk_key_hex: key.clone(),
        source: spec.source.clone(),
    })
}

/// A TLS-PSK identity (`[A-Za-z0-9-]`, 1-64) and key (64 lowercase hex digits).
fn check_credentials(identity: &str, key: &str) -> Result<(), String> {
    if identity.is_empty()
        || identity.len() > MAX_IDENTITY_CHARS
        || !identity
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err("the PSK identity must be 1-64 characters of [A-Za-z0-9-]".into());
    }
    if key.len() != KEY_HEX_DIGITS
        || !key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err("the PSK key must be 64 lowercase hex digits".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use kumo_storage_protocol::block::ExportCredentials;

    fn spec(id: &str, identity: &str, key: &str, size: u64) -> VolumeReplicaSpec {
        VolumeReplicaSpec {
            volume_id: id.into(),
            size_bytes: size,
            desired: ReplicaDesired::Present,
            export: ExportCredentials {
                psk_identity: identity.into(),
                psk_key_hex: key.into(),
            },
            source: None,
        }
    }

    #[test]
    fn refuses_what_could_reach_a_path_or_command_line() {
        let key = "ab".repeat(32);
        let good = spec("vol-0123456789abcdef0", "host-1", &key, 1 << 30);
        assert!(validate(&good).is_ok());
        for id in [
            "vol-0123456789abcdef",
            "vol-0123456789ABCDEF0",
            "vol-0123456789abcdef0/..",
            "../../etc/passwd",
            "vol-01234567",
            "snap-0123456789abcdef0",
        ] {
            assert!(
                validate(&spec(id, "host-1", &key, 1 << 30)).is_err(),
                "{id}"
            );
        }
        for identity in ["", "a:b", "a,b", "a b", &"x".repeat(65), "é"] {
            let id = "vol-0123456789abcdef0";
            assert!(
                validate(&spec(id, identity, &key, 1 << 30)).is_err(),
                "{identity}"
            );
        }
        for bad_key in [
            "ab".repeat(31),
            "AB".repeat(32),
            format!("{}\n", "a".repeat(63)),
        ] {
            let id = "vol-0123456789abcdef0";
            assert!(validate(&spec(id, "h", &bad_key, 1 << 30)).is_err());
        }
        let id = "vol-0123456789abcdef0";
        for size in [0, 512, MAX_VOLUME_BYTES + 512, (1 << 30) + 1] {
            assert!(validate(&spec(id, "h", &key, size)).is_err(), "{size}");
        }
    }
}
