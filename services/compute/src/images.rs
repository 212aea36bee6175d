//! Images: a kernel + initramfs (+ optional disk), a bootable qcow2 disk, or a rootfs
//! tarball for containers. The image decides the instance kind. Image files live in an
//! image store every compute host can read (a shared path).

use std::path::Path;

use chrono::{DateTime, Utc};
use kumo_auth::Principal;
use kumo_compute_protocol::{ImageSource, InstanceKind};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::error::{ComputeError, Result};
use crate::{image_import, require_write, validate, Compute};
use kumo_common::ids::ImageId;
use kumo_ec2_query::filters;

/// An image's `state` column: deregistered images stay for the instances launched from them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum ImageState {
    /// An EBS image whose snapshots are being taken.
    Pending,
    Available,
    /// One of its snapshots failed: it cannot launch.
    Failed,
    Deregistered,
}

impl ImageState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Available => "available",
            Self::Failed => "failed",
            Self::Deregistered => "deregistered",
        }
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Image {
    pub image_id: String,
    /// The owning account.
    pub account_id: String,
    pub name: String,
    pub description: String,
    /// `vm` or `container`.
    #[schema(value_type = String)]
    pub kind: InstanceKind,
    /// Files in the image store: never shown through the APIs (agents get them in specs).
    #[serde(skip)]
    pub kernel: Option<String>,
    #[serde(skip)]
    pub initramfs: Option<String>,
    #[serde(skip)]
    pub disk: Option<String>,
    #[serde(skip)]
    pub rootfs: Option<String>,
    pub is_public: bool,
    #[schema(value_type = String)]
    pub state: ImageState,
    pub created_at: DateTime<Utc>,
    /// The instance CreateImage made it from.
    pub source_instance_id: Option<String>,
    /// An EBS image's mapping (CreateImage, RegisterImage with snapshots), by device.
    #[sqlx(flatten)]
    #[serde(skip)]
    pub block_devices: crate::ebs_images::ImageBlockDevices,
}

impl Image {
    /// A VM image with a disk launches EBS-backed instances (the disk becomes the root
    /// volume); the others boot from the host's copy of the image (instance store).
    pub fn is_ebs_backed(&self) -> bool {
        self.kind == InstanceKind::Vm && (self.disk.is_some() || !self.block_devices.is_empty())
    }

    /// The root volume's default size: the disk's virtual size, in GiB rounded up.
    pub fn root_volume_gib(&self) -> Option<u64> {
        let disk = self.disk.as_deref().filter(|_| self.is_ebs_backed())?;
        let bytes = image_import::disk_virtual_size(Path::new(disk)).ok()?;
        Some(bytes.div_ceil(1 << 30).max(1))
    }

    pub fn source(&self) -> ImageSource {
        ImageSource {
            image_id: self.image_id.clone(),
            kind: self.kind,
            kernel: self.kernel.as_ref().map(Into::into),
            initramfs: self.initramfs.as_ref().map(Into::into),
            disk: self.disk.as_ref().map(Into::into),
            rootfs: self.rootfs.as_ref().map(Into::into),
        }
    }
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterImage {
    /// 3–128 characters, unique within the account.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// `bucket/key` (or `s3://bucket/key`) of an S3 object the caller can read: a `.tar`
    /// root file system (container) or a self-contained `.qcow2` disk (VM), which Kumo copies
    /// into its image store. Operators may also give an absolute host path: a directory
    /// holding `vmlinuz` and `initramfs.img`, a `.qcow2` file or a `.tar` rootfs.
    pub location: String,
    /// Visible to every account (operators only).
    #[serde(default)]
    pub public: bool,
}

pub(crate) const COLUMNS: &str = "image_id, account_id, name, description, kind, kernel, initramfs, disk, rootfs, is_public, state, created_at, source_instance_id, \
    ARRAY(SELECT device_name FROM compute.image_block_devices d WHERE d.image_id = images.image_id ORDER BY device_name) AS bd_devices, \
    ARRAY(SELECT COALESCE(snapshot_id, '') FROM compute.image_block_devices d WHERE d.image_id = images.image_id ORDER BY device_name) AS bd_snapshots, \
    ARRAY(SELECT volume_size_gib FROM compute.image_block_devices d WHERE d.image_id = images.image_id ORDER BY device_name) AS bd_sizes, \
    ARRAY(SELECT volume_type FROM compute.image_block_devices d WHERE d.image_id = images.image_id ORDER BY device_name) AS bd_types, \
    ARRAY(SELECT delete_on_termination FROM compute.image_block_devices d WHERE d.image_id = images.image_id ORDER BY device_name) AS bd_delete";

/// An image id, by the one rule of [`ImageId::parse`] (`InvalidAMIID.Malformed`).
pub fn parse_image_id(id: &str) -> Result<ImageId> {
    ImageId::parse(id).map_err(|malformed| {
        ComputeError::Invalid(
            malformed.code,
            format!("{malformed} (expecting \"ami-...\")"),
        )
    })
}

/// What files a location names.
struct Files {
    kind: InstanceKind,
    kernel: Option<String>,
    initramfs: Option<String>,
    disk: Option<String>,
    rootfs: Option<String>,
}

fn inspect_location(location: &str) -> Result<Files> {
    let path = Path::new(location);
    if !path.is_absolute() || location.contains("..") {
        return Err(ComputeError::invalid(format!(
            "image location must be an absolute path in the image store, got {location:?}"
        )));
    }
    let text = |p: &Path| p.to_string_lossy().into_owned();
    if path.is_dir() {
        let kernel = path.join("vmlinuz");
        let initramfs = path.join("initramfs.img");
        if !kernel.is_file() || !initramfs.is_file() {
            return Err(ComputeError::invalid(format!(
                "image directory {location} must hold vmlinuz and initramfs.img"
            )));
        }
        let disk = path.join("disk.qcow2");
        return Ok(Files {
            kind: InstanceKind::Vm,
            kernel: Some(text(&kernel)),
            initramfs: Some(text(&initramfs)),
            disk: disk.is_file().then(|| text(&disk)),
            rootfs: None,
        });
    }
    if !path.is_file() {
        return Err(ComputeError::invalid(format!(
            "image location {location} does not exist"
        )));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("qcow2") => Ok(Files { kind: InstanceKind::Vm, kernel: None, initramfs: None, disk: Some(location.into()), rootfs: None }),
        Some("tar") => Ok(Files { kind: InstanceKind::Container, kernel: None, initramfs: None, disk: None, rootfs: Some(location.into()) }),
        _ => Err(ComputeError::invalid(format!(
            "unsupported image location {location}: use a kernel directory, a .qcow2 disk or a .tar rootfs"
        ))),
    }
}

pub async fn register(
    compute: &Compute,
    caller: &Principal,
    input: &RegisterImage,
) -> Result<Image> {
    require_write(caller)?;
    check_name_and_description(&input.name, &input.description)?;
    if input.public && !caller.is_operator() {
        return Err(ComputeError::Forbidden(
            "only operators can register public images".into(),
        ));
    }
    let pool = &compute.pool;
    let location = image_import::parse_location(&input.location)?;
    let image_id = ImageId::generate().into_string();
    let (files, imported_dir) = match location {
        image_import::Location::HostPath(path) => {
            if !caller.is_operator() {
                return Err(ComputeError::invalid(format!(
                    "Invalid value '{path}' for ImageLocation: host paths are for operators; give bucket/key of an S3 object you can read"
                )));
            }
            (inspect_location(path)?, None)
        }
        image_import::Location::Object { bucket, key } => {
            // A taken name fails now, before a long copy.
            if name_taken(pool, &caller.account_id, &input.name).await? {
                return Err(duplicate_name(&input.name));
            }
            let imported = image_import::import(compute, caller, bucket, key, &image_id).await?;
            let path = Some(imported.path.to_string_lossy().into_owned());
            let files = match imported.kind {
                InstanceKind::Vm => Files {
                    kind: InstanceKind::Vm,
                    kernel: None,
                    initramfs: None,
                    disk: path,
                    rootfs: None,
                },
                InstanceKind::Container => Files {
                    kind: InstanceKind::Container,
                    kernel: None,
                    initramfs: None,
                    disk: None,
                    rootfs: path,
                },
            };
            (files, Some(imported.dir))
        }
    };
    let inserted = insert(
        pool,
        &image_id,
        &caller.account_id,
        &input.name,
        &input.description,
        &files,
        input.public,
    )
    .await;
    if inserted.is_err() {
        if let Some(dir) = imported_dir {
            let _ = tokio::fs::remove_dir_all(dir).await;
        }
    }
    inserted
}

/// An image's name (3–128 of letters, digits and `()[] ./-'@_`) and description.
pub(crate) fn check_name_and_description(name: &str, description: &str) -> Result<()> {
    let name_ok = (3..=128).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "()[] ./-'@_".contains(c));
    if !name_ok {
        return Err(ComputeError::invalid(format!(
            "Invalid value '{name}' for Name: 3 to 128 letters, digits and ()[] ./-'@_"
        )));
    }
    validate::field("Description", description, validate::MAX_DESCRIPTION_CHARS)
}

pub(crate) async fn name_taken(pool: &PgPool, account_id: &str, name: &str) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM compute.images WHERE account_id = $1 AND name = $2 AND state <> 'deregistered')",
    )
    .bind(account_id)
    .bind(name)
    .fetch_one(pool)
    .await?)
}

pub(crate) fn duplicate_name(name: &str) -> ComputeError {
    ComputeError::Invalid(
        "InvalidAMIName.Duplicate",
        format!("AMI name {name} is already in use by AMI in this account"),
    )
}

async fn insert(
    pool: &PgPool,
    image_id: &str,
    account_id: &str,
    name: &str,
    description: &str,
    files: &Files,
    public: bool,
) -> Result<Image> {
    sqlx::query_as::<_, Image>(&format!(
        "INSERT INTO compute.images (image_id, account_id, name, description, kind, kernel, initramfs, disk, rootfs, is_public)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
    ))
    .bind(image_id)
    .bind(account_id)
    .bind(name)
    .bind(description)
    .bind(files.kind)
    .bind(&files.kernel)
    .bind(&files.initramfs)
    .bind(&files.disk)
    .bind(&files.rootfs)
    .bind(public)
    .fetch_one(pool)
    .await
    .map_err(|e| match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => duplicate_name(name),
        other => other.into(),
    })
}

/// Register (once) a public image owned by `account_id`; returns the existing one when present.
pub async fn ensure_public(
    pool: &PgPool,
    account_id: &str,
    name: &str,
    description: &str,
    location: &str,
) -> Result<Image> {
    if let Some(image) = sqlx::query_as::<_, Image>(&format!(
        "SELECT {COLUMNS} FROM compute.images WHERE account_id = $1 AND name = $2 AND state = 'available'"
    ))
    .bind(account_id)
    .bind(name)
    .fetch_optional(pool)
    .await?
    {
        return Ok(image);
    }
    let files = inspect_location(location)?;
    let image_id = ImageId::generate().into_string();
    insert(pool, &image_id, account_id, name, description, &files, true).await
}

/// Images the caller can see: its own and public ones; optionally by id, owner or name.
pub async fn list(
    pool: &PgPool,
    caller: &Principal,
    image_ids: &[String],
    owners: &[String],
    names: &[String],
) -> Result<Vec<Image>> {
    filters::check_ids("ImageId", image_ids)?;
    filters::check_ids("Owner", owners)?;
    filters::check_ids("Name", names)?;
    for id in image_ids {
        parse_image_id(id)?;
    }
    // Owners: `self` (the caller's account), an account id, or EC2's aliases (`amazon`,
    // `aws-marketplace`, which own nothing here).
    let mut owner_ids: Vec<String> = Vec::with_capacity(owners.len());
    for owner in owners {
        match owner.as_str() {
            "self" => owner_ids.push(caller.account_id.clone()),
            "amazon" | "aws-marketplace" | "aws-backup-vault" => owner_ids.push(String::new()),
            id if kumo_common::ids::is_account_id(id) => owner_ids.push(id.to_string()),
            other => {
                return Err(ComputeError::Invalid(
                    "InvalidUserID.Malformed",
                    format!("Invalid user id: '{other}'"),
                ))
            }
        }
    }
    let owners = owner_ids;
    let images = sqlx::query_as::<_, Image>(&format!(
        "SELECT {COLUMNS} FROM compute.images
         WHERE state <> 'deregistered' AND (account_id = $1 OR is_public)
           AND (cardinality($2::text[]) = 0 OR image_id = ANY($2))
           AND (cardinality($3::text[]) = 0 OR account_id = ANY($3))
           AND (cardinality($4::text[]) = 0 OR name = ANY($4))
         ORDER BY created_at, image_id"
    ))
    .bind(&caller.account_id)
    .bind(image_ids)
    .bind(&owners)
    .bind(names)
    .fetch_all(pool)
    .await?;
    if let Some(missing) = image_ids
        .iter()
        .find(|id| !images.iter().any(|i| &i.image_id == *id))
    {
        return Err(not_found(missing));
    }
    Ok(images)
}

/// An image by id, whatever its owner or state (for specs of existing instances).
pub async fn by_id(pool: &PgPool, image_id: &str) -> Result<Image> {
    sqlx::query_as::<_, Image>(&format!(
        "SELECT {COLUMNS} FROM compute.images WHERE image_id = $1"
    ))
    .bind(image_id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| not_found(image_id))
}

pub fn not_found(image_id: &str) -> ComputeError {
    ComputeError::NotFound(
        "InvalidAMIID.NotFound",
        format!("The image id '[{image_id}]' does not exist"),
    )
}

/// An image the caller may launch.
pub async fn get_launchable<'e, E: sqlx::PgExecutor<'e>>(
    executor: E,
    caller: &Principal,
    image_id: &str,
) -> Result<Image> {
    parse_image_id(image_id)?;
    sqlx::query_as::<_, Image>(&format!(
        "SELECT {COLUMNS} FROM compute.images WHERE image_id = $1 AND state = 'available' AND (account_id = $2 OR is_public)"
    ))
    .bind(image_id)
    .bind(&caller.account_id)
    .fetch_optional(executor)
    .await?
    .ok_or_else(|| not_found(image_id))
}

pub async fn deregister(pool: &PgPool, caller: &Principal, image_id: &str) -> Result<()> {
    require_write(caller)?;
    parse_image_id(image_id)?;
    let done = sqlx::query("UPDATE compute.images SET state = 'deregistered' WHERE image_id = $1 AND account_id = $2 AND state <> 'deregistered'")
        .bind(image_id)
        .bind(&caller.account_id)
        .execute(pool)
        .await?;
    if done.rows_affected() == 0 {
        return Err(not_found(image_id));
    }
    Ok(())
}
