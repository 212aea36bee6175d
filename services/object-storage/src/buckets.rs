//! Buckets: globally unique names owned by one account, versioning state and tags; and
//! the one authorization of object storage, [`authorize`].
//!
//! The convention: a domain function that acts on a bucket (here, in `objects` and in
//! `multipart`) takes an [`AuthorizedBucket`], never a bare name. The only ways to get one
//! are [`authorize`] (the caller's account owns the bucket; writes also need a role that
//! can write) and [`create`]; its fields are private. So no operation can reach a bucket
//! its caller may not use, whichever edge (S3, the native API, another service) it came from.

use chrono::{DateTime, Utc};
use http::StatusCode;
use kumo_auth::Principal;
use serde::Serialize;

use crate::error::{Result, StorageError};
use crate::{require_write, ObjectStorage};

#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Bucket {
    pub name: String,
    pub account_id: String,
    pub region: String,
    /// `""` (never enabled), `Enabled` or `Suspended`.
    #[schema(value_type = String)]
    pub versioning: Versioning,
    #[serde(skip)]
    #[schema(value_type = Option<Object>)]
    pub tags: Option<sqlx::types::Json<Vec<(String, String)>>>,
    pub created_at: DateTime<Utc>,
}

/// A bucket's versioning (the `versioning` column, a CHECKed TEXT): S3's `Status`, or
/// the empty string for a bucket whose versioning was never enabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(type_name = "text")]
pub enum Versioning {
    /// Never enabled: S3 answers no `Status` and no `x-amz-version-id`.
    #[serde(rename = "")]
    #[sqlx(rename = "")]
    Unversioned,
    Enabled,
    /// Enabled once, now off: new writes get the `null` version, old versions stay.
    Suspended,
}

impl Versioning {
    /// A PutBucketVersioning `Status`: `Enabled` or `Suspended` (there is no way back to
    /// never-enabled).
    pub fn from_status(status: &str) -> Option<Self> {
        match status {
            "Enabled" => Some(Self::Enabled),
            "Suspended" => Some(Self::Suspended),
            _ => None,
        }
    }

    /// GetBucketVersioning's `Status`: none for a bucket that never had versioning.
    pub fn status(self) -> Option<&'static str> {
        match self {
            Self::Unversioned => None,
            Self::Enabled => Some("Enabled"),
            Self::Suspended => Some("Suspended"),
        }
    }
}

impl Bucket {
    pub fn versioning_enabled(&self) -> bool {
        self.versioning == Versioning::Enabled
    }

    /// Was versioning ever enabled (so responses carry version ids)?
    pub fn ever_versioned(&self) -> bool {
        self.versioning != Versioning::Unversioned
    }
}

/// What a caller asks to do with a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read its objects, listings and configuration.
    Read,
    /// Change anything in it (objects, tags, versioning, uploads) or delete it.
    Write,
}

/// A bucket its caller was authorized to act on with an [`Access`]: made only by
/// [`authorize`] and [`create`]. Reads through to the [`Bucket`] row.
#[derive(Debug, Clone)]
pub struct AuthorizedBucket {
    bucket: Bucket,
    caller: Principal,
    access: Access,
}

impl AuthorizedBucket {
    pub fn name(&self) -> &str {
        &self.bucket.name
    }

    /// Who was authorized: new versions and uploads are theirs.
    pub fn caller(&self) -> &Principal {
        &self.caller
    }

    pub fn access(&self) -> Access {
        self.access
    }

    /// Refuse a change through a handle authorized only to read (`AccessDenied`).
    pub fn require_write(&self) -> Result<()> {
        match self.access {
            Access::Write => Ok(()),
            Access::Read => Err(StorageError::AccessDenied),
        }
    }

    pub fn into_bucket(self) -> Bucket {
        self.bucket
    }
}

impl std::ops::Deref for AuthorizedBucket {
    type Target = Bucket;

    fn deref(&self) -> &Bucket {
        &self.bucket
    }
}

const COLUMNS: &str = "name, account_id, region, versioning, tags, created_at";

/// S3's bucket naming rules (general purpose buckets).
pub fn validate_name(name: &str) -> Result<()> {
    let invalid = |why: &str| {
        Err(StorageError::S3(
            StatusCode::BAD_REQUEST,
            "InvalidBucketName",
            format!("The specified bucket is not valid: {why}"),
        ))
    };
    if name.len() < 3 || name.len() > 63 {
        return invalid("bucket names must be 3 to 63 characters long");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return invalid("only lowercase letters, digits, '.' and '-' are allowed");
    }
    let first = name.as_bytes()[0];
    let last = name.as_bytes()[name.len() - 1];
    if !(first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric()) {
        return invalid("names must begin and end with a letter or digit");
    }
    if name.contains("..") || name.contains(".-") || name.contains("-.") {
        return invalid("adjacent periods or period-hyphen are not allowed");
    }
    if name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok()) {
        return invalid("names must not look like an IP address");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") || name.ends_with("-s3alias") {
        return invalid("reserved prefix or suffix");
    }
    Ok(())
}

pub async fn create(
    storage: &ObjectStorage,
    caller: &Principal,
    name: &str,
    location_constraint: Option<&str>,
) -> Result<AuthorizedBucket> {
    require_write(caller)?;
    validate_name(name)?;
    let region = storage.config.region.as_str();
    match location_constraint {
        None | Some("") => {}
        Some(constraint) if constraint == region && region != "us-east-1" => {}
        Some(constraint) => {
            return Err(StorageError::S3(
                StatusCode::BAD_REQUEST,
                if constraint == region {
                    "InvalidLocationConstraint"
                } else {
                    "IllegalLocationConstraintException"
                },
                format!(
                    "The {constraint} location constraint is incompatible for the region specific endpoint this request was sent to."
                ),
            ))
        }
    }
    let inserted = sqlx::query_as::<_, Bucket>(&format!(
        "INSERT INTO object_storage.buckets (name, account_id, region) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO NOTHING RETURNING {COLUMNS}"
    ))
    .bind(name)
    .bind(&caller.account_id)
    .bind(region)
    .fetch_optional(&storage.pool)
    .await?;
    match inserted {
        Some(bucket) => {
            tracing::info!(bucket = name, account_id = %caller.account_id, "bucket created");
            // The creator owns it and may write (checked above).
            Ok(AuthorizedBucket {
                bucket,
                caller: caller.clone(),
                access: Access::Write,
            })
        }
        None => {
            let owner: Option<String> =
                sqlx::query_scalar("SELECT account_id FROM object_storage.buckets WHERE name = $1")
                    .bind(name)
                    .fetch_optional(&storage.pool)
                    .await?;
            if owner.as_deref() == Some(caller.account_id.as_str()) {
                Err(StorageError::S3(
                    StatusCode::CONFLICT,
                    "BucketAlreadyOwnedByYou",
                    "Your previous request to create the named bucket succeeded and you already own it.".into(),
                ))
            } else {
                Err(StorageError::S3(
                    StatusCode::CONFLICT,
                    "BucketAlreadyExists",
                    "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.".into(),
                ))
            }
        }
    }
}

pub async fn list(storage: &ObjectStorage, caller: &Principal) -> Result<Vec<Bucket>> {
    Ok(sqlx::query_as::<_, Bucket>(&format!(
        "SELECT {COLUMNS} FROM object_storage.buckets WHERE account_id = $1 ORDER BY name"
    ))
    .bind(&caller.account_id)
    .fetch_all(&storage.pool)
    .await?)
}

/// The bucket `name`, for `caller` to act on with `access`: `NoSuchBucket` when it does not
/// exist, `AccessDenied` when another account owns it (as S3 answers for private buckets)
/// or when `access` is [`Access::Write`] and the caller's role cannot write.
/// Every operation on an existing bucket comes through here: a name that breaks the naming
/// rules (a NUL, a control character, anything `create` refuses) names no bucket and never
/// reaches the catalog.
pub async fn authorize(
    storage: &ObjectStorage,
    caller: &Principal,
    name: &str,
    access: Access,
) -> Result<AuthorizedBucket> {
    if validate_name(name).is_err() {
        return Err(StorageError::NoSuchBucket(name.to_string()));
    }
    let bucket = sqlx::query_as::<_, Bucket>(&format!(
        "SELECT {COLUMNS} FROM object_storage.buckets WHERE name = $1"
    ))
    .bind(name)
    .fetch_optional(&storage.pool)
    .await?
    .ok_or_else(|| StorageError::NoSuchBucket(name.to_string()))?;
    if bucket.account_id != caller.account_id {
        return Err(StorageError::AccessDenied);
    }
    if access == Access::Write {
        require_write(caller)?;
    }
    Ok(AuthorizedBucket {
        bucket,
        caller: caller.clone(),
        access,
    })
}

pub async fn delete(storage: &ObjectStorage, bucket: AuthorizedBucket) -> Result<()> {
    bucket.require_write()?;
    let name = bucket.name();
    let mut tx = storage.pool.begin().await?;
    // Lock the bucket row: a concurrent PUT commits under the same lock (FOR SHARE).
    sqlx::query("SELECT 1 FROM object_storage.buckets WHERE name = $1 FOR UPDATE")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    // Only object versions (delete markers included) keep a bucket: S3 deletes a general
    // purpose bucket with multipart uploads in progress, and their parts with it.
    let in_use: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM object_storage.objects WHERE bucket = $1)",
    )
    .bind(name)
    .fetch_one(&mut *tx)
    .await?;
    if in_use {
        return Err(StorageError::S3(
            StatusCode::CONFLICT,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty".into(),
        ));
    }
    let part_blobs: Vec<uuid::Uuid> = sqlx::query_scalar(
        "SELECT p.blob_id FROM object_storage.upload_parts p
           JOIN object_storage.multipart_uploads u USING (upload_id) WHERE u.bucket = $1",
    )
    .bind(name)
    .fetch_all(&mut *tx)
    .await?;
    // The uploads and their parts go with the bucket (ON DELETE CASCADE).
    sqlx::query("DELETE FROM object_storage.buckets WHERE name = $1")
        .bind(name)
        .execute(&mut *tx)
        .await?;
    for blob in part_blobs {
        crate::blobs::release_blob(&mut tx, Some(blob)).await?;
    }
    tx.commit().await?;
    tracing::info!(bucket = name, "bucket deleted");
    Ok(())
}

/// PutBucketVersioning: `Enabled` or `Suspended`.
pub async fn set_versioning(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    versioning: Versioning,
) -> Result<()> {
    bucket.require_write()?;
    if versioning == Versioning::Unversioned {
        return Err(StorageError::invalid_argument(
            "versioning can be suspended, not turned back to never-enabled",
        ));
    }
    sqlx::query("UPDATE object_storage.buckets SET versioning = $2 WHERE name = $1")
        .bind(bucket.name())
        .bind(versioning)
        .execute(&storage.pool)
        .await?;
    Ok(())
}

pub async fn set_tags(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    tags: Option<Vec<(String, String)>>,
) -> Result<()> {
    bucket.require_write()?;
    if let Some(tags) = &tags {
        crate::objects::validate_tags(tags, 50)?;
    }
    sqlx::query("UPDATE object_storage.buckets SET tags = $2 WHERE name = $1")
        .bind(bucket.name())
        .bind(tags.map(sqlx::types::Json))
        .execute(&storage.pool)
        .await?;
    Ok(())
}
