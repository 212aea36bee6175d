//! Multipart uploads: parts are blobs of their own; completion references the parts' chunks
//! in order under one new blob (no data is copied) and commits it as the key's newest
//! version with S3's multipart ETag (`md5 of the parts' md5s`-N), keeping the parts' sizes
//! (for `partNumber` reads).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use http::StatusCode;
use md5::Digest;
use sqlx::types::Json;
use uuid::Uuid;

use crate::blobs;
use crate::buckets::AuthorizedBucket;
use crate::checksum::{
    composite_checksum, full_object_crc, ChecksumAlgorithm, ChecksumError, ChecksumType,
};
use crate::error::{Result, StorageError};
use crate::objects::{self, NewVersion, ObjectVersion, WriteCondition};
use crate::write::WrittenObject;
use crate::ObjectStorage;

/// Every part but the last must be at least this big.
pub const MIN_PART_BYTES: i64 = 5 * 1024 * 1024;
/// S3's largest part.
pub const MAX_PART_BYTES: u64 = 5 * 1024 * 1024 * 1024;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Upload {
    pub upload_id: String,
    pub bucket: String,
    pub key: String,
    pub account_id: String,
    pub content_type: Option<String>,
    pub headers: Json<BTreeMap<String, String>>,
    pub metadata: Json<BTreeMap<String, String>>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    /// The type the client asked for, if any; None is COMPOSITE.
    pub checksum_type: Option<ChecksumType>,
    pub tags: Option<Json<Vec<(String, String)>>>,
    pub initiated_at: DateTime<Utc>,
}

impl Upload {
    /// The checksum type the completed object gets.
    pub fn checksum_type(&self) -> ChecksumType {
        self.checksum_type.unwrap_or(ChecksumType::Composite)
    }
}

const UPLOAD_COLUMNS: &str = "upload_id, bucket, key, account_id, content_type, headers, metadata, checksum_algorithm, checksum_type, tags, initiated_at";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Part {
    pub part_number: i32,
    pub size: i64,
    pub md5_hex: String,
    pub blob_id: Uuid,
    pub checksum_value: Option<String>,
    pub last_modified: DateTime<Utc>,
}

impl Part {
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.md5_hex)
    }
}

/// S3's NoSuchUpload, naming the upload (its `UploadId` element).
pub fn no_such_upload(upload_id: &str) -> StorageError {
    StorageError::NoSuchUpload(Some(upload_id.to_string()))
}

pub async fn create(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    template: &NewVersion,
    checksum_type: Option<ChecksumType>,
) -> Result<Upload> {
    objects::validate_key(key)?;
    bucket.require_write()?;
    let upload_id = new_upload_id();
    Ok(sqlx::query_as::<_, Upload>(&format!(
        "INSERT INTO object_storage.multipart_uploads
             (upload_id, bucket, key, account_id, content_type, headers, metadata, checksum_algorithm, tags, checksum_type)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {UPLOAD_COLUMNS}"
    ))
    .bind(&upload_id)
    .bind(bucket.name())
    .bind(key)
    .bind(&bucket.caller().account_id)
    .bind(&template.content_type)
    .bind(Json(&template.headers))
    .bind(Json(&template.metadata))
    .bind(template.checksum_algorithm)
    .bind(template.tags.as_ref().map(Json))
    .bind(checksum_type)
    .fetch_one(&storage.pool)
    .await?)
}

/// Upload ids sort by creation time (14 hex digits of microseconds, then randomness): S3
/// lists a key's uploads in initiation order and resumes after `upload-id-marker` by
/// comparing ids, and both orders must agree for listings to page correctly.
fn new_upload_id() -> String {
    let micros = Utc::now().timestamp_micros().max(0);
    format!("{micros:014x}{}", kumo_common::ids::secret_string(34))
}

/// The upload, checked to belong to `bucket`/`key`.
pub async fn get(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    upload_id: &str,
) -> Result<Upload> {
    let upload = sqlx::query_as::<_, Upload>(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM object_storage.multipart_uploads WHERE upload_id = $1"
    ))
    .bind(upload_id)
    .fetch_optional(&storage.pool)
    .await?
    .ok_or_else(|| no_such_upload(upload_id))?;
    if upload.bucket != bucket.name() || upload.key != key {
        return Err(no_such_upload(upload_id));
    }
    Ok(upload)
}

pub fn validate_part_number(number: i64) -> Result<i32> {
    if (1..=10_000).contains(&number) {
        Ok(number as i32)
    } else {
        Err(StorageError::invalid_argument(
            "Part number must be an integer between 1 and 10000, inclusive",
        ))
    }
}

/// Store an uploaded part (replacing an earlier upload of the same number): its chunks,
/// size, MD5 and checksum, as [`crate::write::write_object`] wrote and checked them.
pub async fn save_part(
    storage: &ObjectStorage,
    upload: &Upload,
    part_number: i32,
    written: &WrittenObject,
) -> Result<Part> {
    let mut tx = storage.pool.begin().await?;
    // The upload must still exist (not completed or aborted meanwhile).
    let alive: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM object_storage.multipart_uploads WHERE upload_id = $1 FOR SHARE",
    )
    .bind(&upload.upload_id)
    .fetch_optional(&mut *tx)
    .await?;
    if alive.is_none() {
        return Err(no_such_upload(&upload.upload_id));
    }
    let blob_id = blobs::commit_blob(&mut tx, &written.blob).await?;
    let previous: Option<Uuid> = sqlx::query_scalar(
        "SELECT blob_id FROM object_storage.upload_parts WHERE upload_id = $1 AND part_number = $2 FOR UPDATE",
    )
    .bind(&upload.upload_id)
    .bind(part_number)
    .fetch_optional(&mut *tx)
    .await?;
    blobs::release_blob(&mut tx, previous).await?;
    let part = sqlx::query_as::<_, Part>(
        "INSERT INTO object_storage.upload_parts (upload_id, part_number, size, md5_hex, blob_id, checksum_value)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (upload_id, part_number) DO UPDATE SET size = EXCLUDED.size, md5_hex = EXCLUDED.md5_hex,
             blob_id = EXCLUDED.blob_id, checksum_value = EXCLUDED.checksum_value, last_modified = now()
         RETURNING part_number, size, md5_hex, blob_id, checksum_value, last_modified",
    )
    .bind(&upload.upload_id)
    .bind(part_number)
    .bind(written.size() as i64)
    .bind(written.md5_hex())
    .bind(blob_id)
    .bind(written.checksum_value())
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(part)
}

pub async fn parts(
    storage: &ObjectStorage,
    upload: &Upload,
    after_part: i32,
    max_parts: i64,
) -> Result<Vec<Part>> {
    Ok(sqlx::query_as::<_, Part>(
        "SELECT part_number, size, md5_hex, blob_id, checksum_value, last_modified
         FROM object_storage.upload_parts WHERE upload_id = $1 AND part_number > $2
         ORDER BY part_number LIMIT $3",
    )
    .bind(&upload.upload_id)
    .bind(after_part)
    .bind(max_parts)
    .fetch_all(&storage.pool)
    .await?)
}

fn invalid_part(number: i32) -> StorageError {
    StorageError::S3(
        StatusCode::BAD_REQUEST,
        "InvalidPart",
        format!("One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part {number})"),
    )
}

/// One part as the client lists it in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct RequestedPart {
    pub number: i32,
    pub etag: String,
    /// The part's checksum (of the upload's algorithm), when the client lists it.
    pub checksum: Option<String>,
}

/// What the client says the completed object is (CompleteMultipartUpload's headers).
#[derive(Debug, Clone, Default)]
pub struct Expected {
    /// The whole object's checksum (`x-amz-checksum-<the upload's algorithm>`), checked for
    /// FULL_OBJECT uploads.
    pub checksum: Option<String>,
    /// `x-amz-mp-object-size`.
    pub size: Option<u64>,
}

/// CompleteMultipartUpload with the client's list of parts. An upload created with a
/// checksum algorithm gets S3's `COMPOSITE` checksum (the checksum of the parts' raw
/// checksums, `-<parts>`), or with `FULL_OBJECT` the CRC of the whole object, combined from
/// the parts' CRCs and sizes and checked against the client's.
pub async fn complete(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    upload: &Upload,
    requested: &[RequestedPart],
    condition: &WriteCondition,
    expected: &Expected,
) -> Result<ObjectVersion> {
    bucket.require_write()?;
    if requested.is_empty() {
        return Err(StorageError::S3(
            StatusCode::BAD_REQUEST,
            "MalformedXML",
            "The XML you provided was not well-formed or did not validate against our published schema".into(),
        ));
    }
    if requested.windows(2).any(|w| w[0].number >= w[1].number) {
        return Err(StorageError::S3(
            StatusCode::BAD_REQUEST,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number."
                .into(),
        ));
    }
    let mut tx = storage.pool.begin().await?;
    let locked: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM object_storage.multipart_uploads WHERE upload_id = $1 FOR UPDATE",
    )
    .bind(&upload.upload_id)
    .fetch_optional(&mut *tx)
    .await?;
    if locked.is_none() {
        return Err(no_such_upload(&upload.upload_id));
    }
    if *condition != WriteCondition::Always {
        objects::lock_for_write(&mut tx, bucket, &upload.key).await?;
        objects::check_write_condition(&mut tx, bucket, &upload.key, condition).await?;
    }
    let stored: Vec<Part> = sqlx::query_as::<_, Part>(
        "SELECT part_number, size, md5_hex, blob_id, checksum_value, last_modified
         FROM object_storage.upload_parts WHERE upload_id = $1 ORDER BY part_number",
    )
    .bind(&upload.upload_id)
    .fetch_all(&mut *tx)
    .await?;
    let by_number: std::collections::HashMap<i32, &Part> =
        stored.iter().map(|p| (p.part_number, p)).collect();
    let mut chosen = Vec::with_capacity(requested.len());
    for (index, wanted) in requested.iter().enumerate() {
        let number = wanted.number;
        let part = by_number.get(&number).ok_or_else(|| invalid_part(number))?;
        if wanted.etag.trim_matches('"') != part.md5_hex {
            return Err(invalid_part(number));
        }
        if let Some(checksum) = &wanted.checksum {
            if part.checksum_value.as_deref() != Some(checksum.trim()) {
                return Err(invalid_part(number));
            }
        }
        if index + 1 < requested.len() && part.size < MIN_PART_BYTES {
            return Err(StorageError::S3(
                StatusCode::BAD_REQUEST,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size.".into(),
            ));
        }
        chosen.push(*part);
    }
    let mut md5s = Vec::with_capacity(chosen.len() * 16);
    for part in &chosen {
        md5s.extend(hex::decode(&part.md5_hex).map_err(|e| StorageError::Internal(e.to_string()))?);
    }
    let etag = format!(
        "\"{}-{}\"",
        hex::encode(md5::Md5::digest(&md5s)),
        chosen.len()
    );
    let full_object = upload.checksum_type() == ChecksumType::FullObject;
    let algorithm = upload.checksum_algorithm;
    let checksum = algorithm.and_then(|algorithm| {
        let value = if full_object {
            let parts: Option<Vec<(&str, u64)>> = chosen
                .iter()
                .map(|p| Some((p.checksum_value.as_deref()?, p.size as u64)))
                .collect();
            full_object_crc(algorithm, &parts?)?
        } else {
            let values: Option<Vec<&str>> =
                chosen.iter().map(|p| p.checksum_value.as_deref()).collect();
            composite_checksum(algorithm, &values?)?
        };
        Some((algorithm, value))
    });
    if let (true, Some(algorithm), Some(wanted)) = (full_object, algorithm, &expected.checksum) {
        if checksum.as_ref().map(|(_, value)| value.as_str()) != Some(wanted.trim()) {
            return Err(ChecksumError::ChecksumMismatch(algorithm).into());
        }
    }
    let size: i64 = chosen.iter().map(|p| p.size).sum();
    if let Some(wanted) = expected.size {
        if wanted != size as u64 {
            return Err(StorageError::invalid_request(format!(
                "The provided 'x-amz-mp-object-size' header value {wanted} does not match what was computed: {size}"
            )));
        }
    }
    let sources: Vec<Uuid> = chosen.iter().map(|p| p.blob_id).collect();
    let blob_id = blobs::concat_blobs(&mut tx, &sources).await?;
    for part in &stored {
        blobs::release_blob(&mut tx, Some(part.blob_id)).await?;
    }
    sqlx::query("DELETE FROM object_storage.multipart_uploads WHERE upload_id = $1")
        .bind(&upload.upload_id)
        .execute(&mut *tx)
        .await?;
    let version = NewVersion {
        size: size as u64,
        etag,
        content_type: upload.content_type.clone(),
        headers: upload.headers.0.clone(),
        metadata: upload.metadata.0.clone(),
        checksum_algorithm: checksum.as_ref().map(|(algorithm, _)| *algorithm),
        checksum_value: checksum.map(|(_, value)| value),
        tags: upload.tags.as_ref().map(|t| t.0.clone()),
        parts_count: Some(chosen.len() as i32),
        part_sizes: Some(chosen.iter().map(|p| p.size).collect()),
    };
    let row = objects::commit_version(&mut tx, bucket, &upload.key, Some(blob_id), version, false)
        .await?;
    let part_checksums: Option<Vec<String>> =
        chosen.iter().map(|p| p.checksum_value.clone()).collect();
    sqlx::query(
        "UPDATE object_storage.objects SET upload_id = $4, part_checksums = $5
         WHERE bucket = $1 AND key = $2 AND version_id = $3",
    )
    .bind(bucket.name())
    .bind(&upload.key)
    .bind(&row.version_id)
    .bind(&upload.upload_id)
    .bind(&part_checksums)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(bucket = %bucket.name, key = %upload.key, parts = chosen.len(), size, "multipart upload completed");
    Ok(row)
}

pub async fn abort(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    upload: &Upload,
) -> Result<()> {
    bucket.require_write()?;
    let mut tx = storage.pool.begin().await?;
    let blobs_of: Vec<Uuid> =
        sqlx::query_scalar("SELECT blob_id FROM object_storage.upload_parts WHERE upload_id = $1")
            .bind(&upload.upload_id)
            .fetch_all(&mut *tx)
            .await?;
    let deleted = sqlx::query("DELETE FROM object_storage.multipart_uploads WHERE upload_id = $1")
        .bind(&upload.upload_id)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(no_such_upload(&upload.upload_id));
    }
    for blob in blobs_of {
        blobs::release_blob(&mut tx, Some(blob)).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The version of `key` that upload `upload_id` completed, if it is still there: S3 answers
/// a repeated CompleteMultipartUpload with the first one's result.
pub async fn completed_version(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    upload_id: &str,
) -> Result<Option<ObjectVersion>> {
    bucket.require_write()?;
    let version_id: Option<String> = sqlx::query_scalar(
        "SELECT version_id FROM object_storage.objects
         WHERE bucket = $1 AND key = $2 AND upload_id = $3",
    )
    .bind(bucket.name())
    .bind(key)
    .bind(upload_id)
    .fetch_optional(&storage.pool)
    .await?;
    match version_id {
        Some(version_id) => Ok(Some(
            objects::get(storage, bucket, key, Some(&version_id)).await?,
        )),
        None => Ok(None),
    }
}

/// The checksums of the parts a version was completed from, in part order (None when it
/// was written in one piece or its upload had no checksum algorithm).
pub async fn part_checksums(
    storage: &ObjectStorage,
    version: &ObjectVersion,
) -> Result<Option<Vec<String>>> {
    Ok(sqlx::query_scalar(
        "SELECT part_checksums FROM object_storage.objects
         WHERE bucket = $1 AND key = $2 AND version_id = $3",
    )
    .bind(&version.bucket)
    .bind(&version.key)
    .bind(&version.version_id)
    .fetch_optional(&storage.pool)
    .await?
    .flatten())
}

/// In-progress uploads of a bucket, in (key, initiation) order.
pub async fn list_uploads(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    prefix: &str,
    key_marker: Option<&str>,
    upload_id_marker: Option<&str>,
    max_uploads: i64,
) -> Result<Vec<Upload>> {
    Ok(sqlx::query_as::<_, Upload>(&format!(
        "SELECT {UPLOAD_COLUMNS} FROM object_storage.multipart_uploads
         WHERE bucket = $1 AND starts_with(key, $2)
           AND ($3::text IS NULL OR key COLLATE \"C\" > $3 COLLATE \"C\"
                OR (key = $3 AND $4::text IS NOT NULL AND upload_id COLLATE \"C\" > $4 COLLATE \"C\"))
         ORDER BY key COLLATE \"C\", upload_id COLLATE \"C\" LIMIT $5"
    ))
    .bind(bucket.name())
    .bind(prefix)
    .bind(key_marker)
    .bind(upload_id_marker)
    .bind(max_uploads)
    .fetch_all(&storage.pool)
    .await?)
}
