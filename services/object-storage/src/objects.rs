//! Objects and their versions: commit a written blob as a new version (one transaction,
//! serialized per key), read, delete (versions, delete markers), copy, list, tags.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use http::StatusCode;
use kumo_auth::Principal;
use serde::Serialize;
use sqlx::types::Json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::blobs;
use crate::buckets::{self, Access, AuthorizedBucket, Versioning};
use crate::checksum::ChecksumAlgorithm;
use crate::error::{Result, StorageError};
use crate::write::WrittenObject;
use crate::ObjectStorage;

/// The version id S3 gives objects written while versioning is off or suspended.
pub const NULL_VERSION: &str = "null";

/// Longest key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ObjectVersion {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    pub seq: i64,
    pub is_latest: bool,
    pub delete_marker: bool,
    pub size: i64,
    /// Quoted, as S3 sends it: `"<md5 hex>"` or `"<md5 of md5s>-N"`.
    pub etag: String,
    #[serde(skip)]
    pub blob_id: Option<Uuid>,
    pub content_type: Option<String>,
    /// Content-Encoding, Content-Disposition, Cache-Control, Content-Language, Expires.
    pub headers: Json<BTreeMap<String, String>>,
    /// User metadata (`x-amz-meta-*`), names without the prefix.
    pub metadata: Json<BTreeMap<String, String>>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_value: Option<String>,
    #[serde(skip)]
    pub tags: Option<Json<Vec<(String, String)>>>,
    pub parts_count: Option<i32>,
    /// Sizes of the parts a multipart upload was completed with, in order (None for an
    /// object written in one piece).
    #[serde(skip)]
    pub part_sizes: Option<Vec<i64>>,
    pub owner_account: String,
    pub last_modified: DateTime<Utc>,
}

const COLUMNS: &str = "bucket, key, version_id, seq, is_latest, delete_marker, size, etag, blob_id, content_type, headers, metadata, checksum_algorithm, checksum_value, tags, parts_count, part_sizes, owner_account, last_modified";

/// What a new version carries besides its data.
#[derive(Debug, Clone, Default)]
pub struct NewVersion {
    pub size: u64,
    pub etag: String,
    pub content_type: Option<String>,
    pub headers: BTreeMap<String, String>,
    pub metadata: BTreeMap<String, String>,
    pub checksum_algorithm: Option<ChecksumAlgorithm>,
    pub checksum_value: Option<String>,
    pub tags: Option<Vec<(String, String)>>,
    pub parts_count: Option<i32>,
    pub part_sizes: Option<Vec<i64>>,
}

/// An object key as Kumo accepts it: 1 to [`MAX_KEY_BYTES`] bytes of UTF-8 text without
/// the characters `kumo_common::text::check` refuses (NUL, other controls but TAB/LF/CR,
/// U+FFFE/U+FFFF). Built only by [`ObjectKey::new`], so every operation that holds one
/// (the S3 facade's path, copy sources and DeleteObjects keys, the native API) works on a
/// key the catalog can store and XML can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn new(key: impl Into<String>) -> Result<Self> {
        let key = key.into();
        validate_key(&key)?;
        Ok(ObjectKey(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for ObjectKey {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The rules of [`ObjectKey`]: `InvalidArgument` for an empty key or a refused character,
/// `KeyTooLongError` beyond 1024 bytes.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(StorageError::invalid_argument(
            "object keys must not be empty",
        ));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(StorageError::S3(
            StatusCode::BAD_REQUEST,
            "KeyTooLongError",
            "Your key is too long".into(),
        ));
    }
    kumo_common::text::check(key).map_err(|problem| {
        StorageError::invalid_argument(format!("The object key is not valid: it {problem}"))
    })
}

/// A listing bound that is compared with keys (`prefix`, `delimiter`, `marker`,
/// `key-marker`, `start-after`, the native API's `after`): text a key could hold, at most
/// [`MAX_KEY_BYTES`] bytes (no key is longer), else `InvalidArgument` naming `what`.
pub fn check_listing_text(what: &str, value: &str) -> Result<()> {
    if value.len() > MAX_KEY_BYTES {
        return Err(StorageError::invalid_argument(format!(
            "{what} must be at most {MAX_KEY_BYTES} bytes"
        )));
    }
    kumo_common::text::check(value).map_err(|problem| {
        StorageError::invalid_argument(format!("{what} is not valid: it {problem}"))
    })
}

/// Tag rules (objects: 10 tags, buckets: 50): keys 1–128 characters, values up to 256,
/// unique keys, and text without the characters `kumo_common::text::check` refuses; any
/// breach is `InvalidTag`.
pub fn validate_tags(tags: &[(String, String)], max: usize) -> Result<()> {
    let bad = |m: &str| {
        Err(StorageError::S3(
            StatusCode::BAD_REQUEST,
            "InvalidTag",
            m.into(),
        ))
    };
    if tags.len() > max {
        return bad(&format!("Object tags cannot be greater than {max}"));
    }
    let mut seen = std::collections::HashSet::new();
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 || kumo_common::text::check(k).is_err() {
            return bad("The TagKey you have provided is invalid");
        }
        if v.chars().count() > 256 || kumo_common::text::check(v).is_err() {
            return bad("The TagValue you have provided is invalid");
        }
        if !seen.insert(k) {
            return bad("Cannot provide multiple Tags with the same key");
        }
    }
    Ok(())
}

fn new_version_id() -> String {
    kumo_common::ids::secret_string(32)
}

/// Serialize writers of one key (commits, deletes) for the rest of the transaction.
async fn lock_key(tx: &mut Transaction<'_, Postgres>, bucket: &str, key: &str) -> Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("{bucket}/{key}"))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The bucket's versioning state, read under a share lock so the bucket cannot be deleted
/// before this transaction commits.
async fn lock_bucket(tx: &mut Transaction<'_, Postgres>, bucket: &str) -> Result<Versioning> {
    sqlx::query_scalar("SELECT versioning FROM object_storage.buckets WHERE name = $1 FOR SHARE")
        .bind(bucket)
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StorageError::NoSuchBucket(bucket.to_string()))
}

/// Drop the `null` version of a key (overwritten in an unversioned or suspended bucket).
async fn drop_null_version(
    tx: &mut Transaction<'_, Postgres>,
    bucket: &str,
    key: &str,
) -> Result<()> {
    let old: Option<Option<Uuid>> = sqlx::query_scalar(
        "DELETE FROM object_storage.objects WHERE bucket = $1 AND key = $2 AND version_id = 'null' RETURNING blob_id",
    )
    .bind(bucket)
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(blob) = old {
        blobs::release_blob(tx, blob).await?;
    }
    Ok(())
}

/// Make `blob_id` the newest version of `key`, inside `tx`, owned by the bucket's caller.
pub async fn commit_version(
    tx: &mut Transaction<'_, Postgres>,
    bucket: &AuthorizedBucket,
    key: &str,
    blob_id: Option<Uuid>,
    version: NewVersion,
    delete_marker: bool,
) -> Result<ObjectVersion> {
    let versioning = lock_bucket(tx, &bucket.name).await?;
    lock_key(tx, &bucket.name, key).await?;
    let version_id = if versioning == Versioning::Enabled {
        new_version_id()
    } else {
        drop_null_version(tx, &bucket.name, key).await?;
        NULL_VERSION.to_string()
    };
    sqlx::query("UPDATE object_storage.objects SET is_latest = false WHERE bucket = $1 AND key = $2 AND is_latest")
        .bind(&bucket.name)
        .bind(key)
        .execute(&mut **tx)
        .await?;
    let row = sqlx::query_as::<_, ObjectVersion>(&format!(
        "INSERT INTO object_storage.objects (bucket, key, version_id, is_latest, delete_marker, size, etag, blob_id,
             content_type, headers, metadata, checksum_algorithm, checksum_value, tags, parts_count, part_sizes, owner_account)
         VALUES ($1, $2, $3, true, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING {COLUMNS}"
    ))
    .bind(&bucket.name)
    .bind(key)
    .bind(&version_id)
    .bind(delete_marker)
    .bind(version.size as i64)
    .bind(&version.etag)
    .bind(blob_id)
    .bind(&version.content_type)
    .bind(Json(&version.headers))
    .bind(Json(&version.metadata))
    .bind(version.checksum_algorithm)
    .bind(&version.checksum_value)
    .bind(version.tags.as_ref().map(Json))
    .bind(version.parts_count)
    .bind(&version.part_sizes)
    .bind(&bucket.caller().account_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row)
}

/// A precondition on the object a write replaces (`If-None-Match: *`, `If-Match: <etag>`),
/// checked under the key's lock in the committing transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum WriteCondition {
    #[default]
    Always,
    /// Only if no live object has the key.
    IfAbsent,
    /// Only if the live object has one of these ETags (a comma-separated list, or `*`).
    IfMatch(String),
}

impl WriteCondition {
    /// From a write request's `If-None-Match` / `If-Match` headers.
    pub fn from_headers(if_none_match: Option<&str>, if_match: Option<&str>) -> Result<Self> {
        match (if_none_match.map(str::trim), if_match.map(str::trim)) {
            (Some(_), Some(_)) => Err(StorageError::invalid_request(
                "If-None-Match and If-Match cannot be used together on a write",
            )),
            (Some("*"), None) => Ok(WriteCondition::IfAbsent),
            (Some(_), None) => Err(StorageError::not_implemented(
                "If-None-Match on a write takes only '*'",
            )),
            (None, Some(etags)) => Ok(WriteCondition::IfMatch(etags.to_string())),
            (None, None) => Ok(WriteCondition::Always),
        }
    }
}

/// `412 PreconditionFailed`: an `If-Match`, `If-None-Match: *` or `If-Unmodified-Since`
/// (of a read, a write or a copy source) did not hold.
pub fn precondition_failed() -> StorageError {
    StorageError::S3(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold".into(),
    )
}

/// Does `etag` match an `If-Match` / `If-None-Match` list (comma-separated ETags, quoted or
/// not, or `*`)?
pub fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_matches('"') == etag.trim_matches('"'))
}

/// Check `condition` against the key's live version; the caller holds the key's lock.
pub async fn check_write_condition(
    tx: &mut Transaction<'_, Postgres>,
    bucket: &AuthorizedBucket,
    key: &str,
    condition: &WriteCondition,
) -> Result<()> {
    if *condition == WriteCondition::Always {
        return Ok(());
    }
    let live: Option<(bool, String)> = sqlx::query_as(
        "SELECT delete_marker, etag FROM object_storage.objects WHERE bucket = $1 AND key = $2 AND is_latest",
    )
    .bind(bucket.name())
    .bind(key)
    .fetch_optional(&mut **tx)
    .await?;
    let live_etag = live.filter(|(marker, _)| !marker).map(|(_, etag)| etag);
    match (condition, live_etag) {
        (WriteCondition::IfAbsent, Some(_)) => Err(precondition_failed()),
        // S3: If-Match on a key with no current object (or a delete marker) is a 404.
        (WriteCondition::IfMatch(_), None) => Err(StorageError::NoSuchKey(key.to_string())),
        (WriteCondition::IfMatch(wanted), Some(etag)) => {
            if etag_matches(wanted, &etag) {
                Ok(())
            } else {
                Err(precondition_failed())
            }
        }
        _ => Ok(()),
    }
}

/// Commit a written object (chunks durable, body checked) as the key's newest version, in
/// one transaction, if `condition` holds: `template` gives its content type, headers,
/// metadata and tags, `written` its size, ETag and checksum.
pub async fn commit_written(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    written: &WrittenObject,
    template: NewVersion,
    condition: &WriteCondition,
) -> Result<ObjectVersion> {
    bucket.require_write()?;
    let mut tx = storage.pool.begin().await?;
    if *condition != WriteCondition::Always {
        // Bucket, then key: the order every writer takes them in.
        lock_bucket(&mut tx, &bucket.name).await?;
        lock_key(&mut tx, &bucket.name, key).await?;
        check_write_condition(&mut tx, bucket, key, condition).await?;
    }
    let blob_id = blobs::commit_blob(&mut tx, &written.blob).await?;
    let version = written.new_version(template);
    let row = commit_version(&mut tx, bucket, key, Some(blob_id), version, false).await?;
    tx.commit().await?;
    Ok(row)
}

/// Take the bucket's share lock and the key's lock (in that order) inside `tx`, for callers
/// that check a [`WriteCondition`] before [`commit_version`].
pub async fn lock_for_write(
    tx: &mut Transaction<'_, Postgres>,
    bucket: &AuthorizedBucket,
    key: &str,
) -> Result<()> {
    lock_bucket(tx, bucket.name()).await?;
    lock_key(tx, bucket.name(), key).await
}

/// A version to read: the latest unless `version_id` is given.
pub async fn get(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    version_id: Option<&str>,
) -> Result<ObjectVersion> {
    let bucket = bucket.name();
    let row = match version_id {
        Some(v) => sqlx::query_as::<_, ObjectVersion>(&format!(
            "SELECT {COLUMNS} FROM object_storage.objects WHERE bucket = $1 AND key = $2 AND version_id = $3"
        ))
        .bind(bucket)
        .bind(key)
        .bind(v)
        .fetch_optional(&storage.pool)
        .await?
        .ok_or_else(|| {
            StorageError::S3(
                StatusCode::NOT_FOUND,
                "NoSuchVersion",
                "The specified version does not exist.".into(),
            )
        })?,
        None => sqlx::query_as::<_, ObjectVersion>(&format!(
            "SELECT {COLUMNS} FROM object_storage.objects WHERE bucket = $1 AND key = $2 AND is_latest"
        ))
        .bind(bucket)
        .bind(key)
        .fetch_optional(&storage.pool)
        .await?
        .ok_or_else(|| StorageError::NoSuchKey(key.to_string()))?,
    };
    Ok(row)
}

/// What a delete did.
#[derive(Debug, Clone, Default)]
pub struct Deleted {
    /// The version removed, or the delete marker's version created.
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

/// DeleteObject: without a version id, a delete marker (versioned buckets) or removal of the
/// `null` version; with one, that version goes for good.
pub async fn delete(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    version_id: Option<&str>,
) -> Result<Deleted> {
    bucket.require_write()?;
    let mut tx = storage.pool.begin().await?;
    let versioning = lock_bucket(&mut tx, &bucket.name).await?;
    lock_key(&mut tx, &bucket.name, key).await?;
    let deleted = match version_id {
        None if versioning == Versioning::Unversioned => {
            drop_null_version(&mut tx, &bucket.name, key).await?;
            Deleted::default()
        }
        None => {
            let marker =
                commit_version(&mut tx, bucket, key, None, NewVersion::default(), true).await?;
            Deleted {
                version_id: Some(marker.version_id),
                delete_marker: true,
            }
        }
        Some(version_id) => {
            let removed: Option<(bool, bool, Option<Uuid>)> = sqlx::query_as(
                "DELETE FROM object_storage.objects WHERE bucket = $1 AND key = $2 AND version_id = $3
                 RETURNING is_latest, delete_marker, blob_id",
            )
            .bind(&bucket.name)
            .bind(key)
            .bind(version_id)
            .fetch_optional(&mut *tx)
            .await?;
            match removed {
                Some((was_latest, delete_marker, blob_id)) => {
                    blobs::release_blob(&mut tx, blob_id).await?;
                    if was_latest {
                        sqlx::query(
                            "UPDATE object_storage.objects SET is_latest = true
                             WHERE (bucket, key, version_id) = (
                                 SELECT bucket, key, version_id FROM object_storage.objects
                                 WHERE bucket = $1 AND key = $2 ORDER BY seq DESC LIMIT 1)",
                        )
                        .bind(&bucket.name)
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Deleted {
                        version_id: Some(version_id.to_string()),
                        delete_marker,
                    }
                }
                None => Deleted {
                    version_id: Some(version_id.to_string()),
                    delete_marker: false,
                },
            }
        }
    };
    tx.commit().await?;
    Ok(deleted)
}

/// CopyObject within the catalog: the new version shares the source's chunks.
pub async fn copy(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    source: &ObjectVersion,
    version: NewVersion,
) -> Result<ObjectVersion> {
    bucket.require_write()?;
    validate_key(key)?;
    let mut tx = storage.pool.begin().await?;
    // The destination's locks first (the order every writer takes), then the source version
    // held until commit: deleted meanwhile, its chunks could be collected under the copy.
    lock_for_write(&mut tx, bucket, key).await?;
    let source_alive: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM object_storage.objects WHERE bucket = $1 AND key = $2 AND version_id = $3 FOR SHARE",
    )
    .bind(&source.bucket)
    .bind(&source.key)
    .bind(&source.version_id)
    .fetch_optional(&mut *tx)
    .await?;
    if source_alive.is_none() {
        return Err(StorageError::NoSuchKey(source.key.clone()));
    }
    let blob_id = match source.blob_id {
        Some(id) => Some(blobs::concat_blobs(&mut tx, &[id]).await?),
        None => None,
    };
    let row = commit_version(&mut tx, bucket, key, blob_id, version, false).await?;
    tx.commit().await?;
    Ok(row)
}

pub async fn set_tags(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    version_id: Option<&str>,
    tags: Option<Vec<(String, String)>>,
) -> Result<ObjectVersion> {
    bucket.require_write()?;
    if let Some(tags) = &tags {
        validate_tags(tags, 10)?;
    }
    let target = get(storage, bucket, key, version_id).await?;
    if target.delete_marker {
        return Err(method_not_allowed());
    }
    sqlx::query("UPDATE object_storage.objects SET tags = $4 WHERE bucket = $1 AND key = $2 AND version_id = $3")
        .bind(bucket.name())
        .bind(key)
        .bind(&target.version_id)
        .bind(tags.map(Json))
        .execute(&storage.pool)
        .await?;
    Ok(target)
}

/// Where a version listing resumes after `key`'s version `version_id` (its `seq`). A version
/// deleted since (a client deleting what it lists, page by page) resumes at `key`'s versions
/// still there, as S3 continues past a vanished marker: ids are random, so where it stood is
/// unknown, and listing one again beats skipping the rest.
pub async fn version_position(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &str,
    version_id: &str,
) -> Result<ListPosition> {
    let seq: Option<i64> = sqlx::query_scalar(
        "SELECT seq FROM object_storage.objects WHERE bucket = $1 AND key = $2 AND version_id = $3",
    )
    .bind(bucket.name())
    .bind(key)
    .bind(version_id)
    .fetch_optional(&storage.pool)
    .await?;
    Ok(ListPosition::AfterVersion(
        key.to_string(),
        seq.unwrap_or(i64::MAX),
    ))
}

pub fn method_not_allowed() -> StorageError {
    StorageError::S3(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.".into(),
    )
}

/// One page of a listing.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub entries: Vec<ObjectVersion>,
    pub common_prefixes: Vec<String>,
    pub truncated: bool,
    /// Where the next page starts (exclusive): the last key, or the last common prefix.
    pub next: Option<ListPosition>,
}

/// A position in key order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListPosition {
    /// Resume after this key.
    AfterKey(String),
    /// Resume after every key under this common prefix.
    AfterPrefix(String),
    /// Resume after this version of this key (version listings).
    AfterVersion(String, i64),
}

/// The smallest string greater than every string that starts with `prefix` (in byte order),
/// or None when there is none.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        // Skip the surrogate gap.
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Parameters of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: String,
    pub delimiter: Option<String>,
    pub max_keys: usize,
    pub start: Option<ListPosition>,
    /// List every version (ListObjectVersions) instead of the latest live ones.
    pub versions: bool,
}

/// List a bucket in S3's byte order, rolling keys up into common prefixes at the delimiter.
pub async fn list(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    query: &ListQuery,
) -> Result<Listing> {
    let bucket = bucket.name();
    let mut listing = Listing::default();
    if query.max_keys == 0 {
        return Ok(listing);
    }
    // (key, seq) strictly after which the scan resumes; seq i64::MAX means "all of key".
    let (mut after_key, mut after_seq): (Option<String>, i64) = match &query.start {
        None => (None, i64::MAX),
        Some(ListPosition::AfterKey(k)) => (Some(k.clone()), -1),
        Some(ListPosition::AfterVersion(k, seq)) => (Some(k.clone()), *seq),
        Some(ListPosition::AfterPrefix(p)) => match prefix_successor(p) {
            Some(s) => (Some(s), i64::MAX),
            None => return Ok(listing),
        },
    };
    let mut count = 0usize;
    let batch = (query.max_keys + 1).min(1001) as i64;
    loop {
        let rows = sqlx::query_as::<_, ObjectVersion>(&format!(
            "SELECT {COLUMNS} FROM object_storage.objects
             WHERE bucket = $1
               AND ($5 OR (is_latest AND NOT delete_marker))
               AND key COLLATE \"C\" >= $2 COLLATE \"C\"
               AND ($3::text IS NULL OR key COLLATE \"C\" > $3 COLLATE \"C\" OR (key = $3 AND seq < $4))
             ORDER BY key COLLATE \"C\", seq DESC
             LIMIT $6"
        ))
        .bind(bucket)
        .bind(&query.prefix)
        .bind(&after_key)
        .bind(after_seq)
        .bind(query.versions)
        .bind(batch)
        .fetch_all(&storage.pool)
        .await?;
        let exhausted = (rows.len() as i64) < batch;
        let mut jumped = false;
        for row in rows {
            if !row.key.starts_with(&query.prefix) {
                return Ok(listing);
            }
            if count == query.max_keys {
                listing.truncated = true;
                return Ok(listing);
            }
            let rest = &row.key[query.prefix.len()..];
            if let Some(delimiter) = query.delimiter.as_deref().filter(|d| !d.is_empty()) {
                if let Some(at) = rest.find(delimiter) {
                    let common = format!("{}{}", query.prefix, &rest[..at + delimiter.len()]);
                    count += 1;
                    listing.next = Some(ListPosition::AfterPrefix(common.clone()));
                    listing.common_prefixes.push(common.clone());
                    match prefix_successor(&common) {
                        Some(s) => {
                            after_key = Some(s);
                            after_seq = i64::MAX;
                            jumped = true;
                            break;
                        }
                        None => return Ok(listing),
                    }
                }
            }
            count += 1;
            listing.next = Some(if query.versions {
                ListPosition::AfterVersion(row.key.clone(), row.seq)
            } else {
                ListPosition::AfterKey(row.key.clone())
            });
            after_key = Some(row.key.clone());
            after_seq = row.seq;
            listing.entries.push(row);
        }
        if exhausted && !jumped {
            // The loop ran to the end of the bucket without filling the page.
            return Ok(listing);
        }
        if !query.versions && !jumped {
            after_seq = -1;
        }
    }
}

/// The latest version of `bucket/key` and a stream of its bytes, for `caller` — authorized
/// as GetObject is ([`buckets::authorize`] for reading). For other services that import
/// objects (the compute service's RegisterImage), which hold a principal and a name.
pub async fn read_latest(
    storage: &ObjectStorage,
    caller: &Principal,
    bucket: &str,
    key: &str,
) -> Result<(
    ObjectVersion,
    impl futures::Stream<Item = Result<bytes::Bytes>> + Send + 'static,
)> {
    validate_key(key)?;
    let bucket = buckets::authorize(storage, caller, bucket, Access::Read).await?;
    let version = get(storage, &bucket, key, None).await?;
    if version.delete_marker {
        return Err(StorageError::NoSuchKey(key.to_string()));
    }
    let stream = blobs::read_range(storage, version.blob_id, 0, version.size.max(0) as u64).await?;
    Ok((version, stream))
}
