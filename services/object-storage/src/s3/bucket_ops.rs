//! Bucket-level S3 operations: create, head, delete, location, versioning, tags, listings
//! (objects v1/v2, versions, multipart uploads), DeleteObjects, and the configuration
//! sub-resources Terraform reads (answered with S3's "not configured" errors).

use base64::Engine;
use http::{Method, StatusCode};

use super::check_version_id;
use super::xml::{self, XmlWriter};
use super::{
    empty, encode_key, malformed_xml, read_document, read_small_body, xml_response, S3Request,
};
use crate::buckets;
use crate::error::{Result, StorageError};
use crate::multipart;
use crate::objects::{self, ListPosition, ListQuery, ObjectKey};
use crate::ObjectStorage;
use axum::response::Response;

pub async fn list_buckets(storage: &ObjectStorage, request: &S3Request) -> Result<Response> {
    let list = buckets::list(storage, &request.principal).await?;
    let mut w = XmlWriter::new("ListAllMyBucketsResult");
    w.owner("Owner", &request.principal.account_id);
    w.open("Buckets");
    for bucket in &list {
        w.open("Bucket")
            .text("Name", &bucket.name)
            .time("CreationDate", bucket.created_at)
            .text("BucketRegion", &bucket.region)
            .close("Bucket");
    }
    w.close("Buckets");
    Ok(xml_response(w.finish("ListAllMyBucketsResult")))
}

/// Sub-resources S3 answers with "not configured" until set; Kumo never configures them.
fn not_configured(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "policy" => ("NoSuchBucketPolicy", "The bucket policy does not exist"),
        "cors" => (
            "NoSuchCORSConfiguration",
            "The CORS configuration does not exist",
        ),
        "website" => (
            "NoSuchWebsiteConfiguration",
            "The specified bucket does not have a website configuration",
        ),
        "lifecycle" => (
            "NoSuchLifecycleConfiguration",
            "The lifecycle configuration does not exist",
        ),
        "replication" => (
            "ReplicationConfigurationNotFoundError",
            "The replication configuration was not found",
        ),
        "encryption" => (
            "ServerSideEncryptionConfigurationNotFoundError",
            "The server side encryption configuration was not found",
        ),
        "object-lock" => (
            "ObjectLockConfigurationNotFoundError",
            "Object Lock configuration does not exist for this bucket",
        ),
        "ownershipControls" => (
            "OwnershipControlsNotFoundError",
            "The bucket ownership controls were not found",
        ),
        "publicAccessBlock" => (
            "NoSuchPublicAccessBlockConfiguration",
            "The public access block configuration was not found",
        ),
        "policyStatus" => ("NoSuchBucketPolicy", "The bucket policy does not exist"),
        _ => return None,
    })
}

const UNSUPPORTED_SUBRESOURCES: &[&str] = &[
    "analytics",
    "intelligent-tiering",
    "inventory",
    "metrics",
    "notification",
    "accelerate",
    "requestPayment",
    "logging",
    "acl",
];

pub async fn route(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let name = request.bucket()?.to_string();
    match request.method {
        Method::PUT if request.query.is_empty() || only_harmless(&request) => {
            create(storage, request).await
        }
        Method::HEAD => {
            buckets::owned(storage, &request.principal, &name).await?;
            Ok(empty(StatusCode::OK))
        }
        Method::DELETE if request.has("tagging") => {
            buckets::set_tags(storage, &request.principal, &name, None).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Method::DELETE if only_harmless(&request) => {
            buckets::delete(storage, &request.principal, &name).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Method::POST if request.has("delete") => delete_objects(storage, request).await,
        Method::GET => get(storage, request, &name).await,
        Method::PUT => put_subresource(storage, request, &name).await,
        Method::DELETE if request.query.keys().any(|k| not_configured(k).is_some()) => {
            buckets::writable(storage, &request.principal, &name).await?;
            // Deleting a configuration Kumo does not keep: there is nothing to delete.
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Method::DELETE => {
            buckets::writable(storage, &request.principal, &name).await?;
            // Anything else is not a delete Kumo knows: never answer it as done.
            let what = request
                .query
                .keys()
                .find(|k| *k != "x-id")
                .cloned()
                .unwrap_or_default();
            Err(StorageError::not_implemented(&format!("DELETE ?{what}")))
        }
        _ => Err(objects::method_not_allowed()),
    }
}

/// Query parameters SDKs add that change nothing (`x-id=…`).
fn only_harmless(request: &S3Request) -> bool {
    request.query.keys().all(|k| k == "x-id")
}

async fn create(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let name = request.bucket()?.to_string();
    let body = read_small_body(request.take_body()).await?;
    let constraint = if body.trim().is_empty() {
        None
    } else {
        if !xml::well_formed(&body, "CreateBucketConfiguration") {
            return Err(malformed_xml());
        }
        xml::first_token(&body, "LocationConstraint")
    };
    buckets::create(storage, &request.principal, &name, constraint.as_deref()).await?;
    let mut response = empty(StatusCode::OK);
    super::set_header(&mut response, "location", &format!("/{name}"));
    Ok(response)
}

async fn get(storage: &ObjectStorage, request: S3Request, name: &str) -> Result<Response> {
    let bucket = buckets::owned(storage, &request.principal, name).await?;
    if request.has("location") {
        let mut w = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        // us-east-1 is the empty constraint.
        if bucket.region == "us-east-1" {
            w.push_str(&format!(
                "<LocationConstraint xmlns=\"{}\"/>",
                xml::NAMESPACE
            ));
        } else {
            w.push_str(&format!(
                "<LocationConstraint xmlns=\"{}\">{}</LocationConstraint>",
                xml::NAMESPACE,
                bucket.region
            ));
        }
        return Ok(xml_response(w));
    }
    if request.has("versioning") {
        let mut w = XmlWriter::new("VersioningConfiguration");
        if !bucket.versioning.is_empty() {
            w.text("Status", &bucket.versioning);
        }
        return Ok(xml_response(w.finish("VersioningConfiguration")));
    }
    if request.has("tagging") {
        return match &bucket.tags {
            Some(tags) => Ok(xml_response(xml::write_tagging(&tags.0))),
            None => Err(StorageError::S3(
                StatusCode::NOT_FOUND,
                "NoSuchTagSet",
                "The TagSet does not exist".into(),
            )),
        };
    }
    if request.has("acl") {
        let mut w = XmlWriter::new("AccessControlPolicy");
        w.owner("Owner", &bucket.account_id);
        w.open("AccessControlList").open("Grant");
        w.out_grantee(&bucket.account_id);
        w.text("Permission", "FULL_CONTROL")
            .close("Grant")
            .close("AccessControlList");
        return Ok(xml_response(w.finish("AccessControlPolicy")));
    }
    if let Some((code, message)) = request.query.keys().find_map(|k| not_configured(k)) {
        return Err(StorageError::S3(
            StatusCode::NOT_FOUND,
            code,
            message.into(),
        ));
    }
    if request.has("accelerate") {
        return Ok(xml_response(
            XmlWriter::new("AccelerateConfiguration").finish("AccelerateConfiguration"),
        ));
    }
    if request.has("requestPayment") {
        let mut w = XmlWriter::new("RequestPaymentConfiguration");
        w.text("Payer", "BucketOwner");
        return Ok(xml_response(w.finish("RequestPaymentConfiguration")));
    }
    if request.has("logging") {
        return Ok(xml_response(
            XmlWriter::new("BucketLoggingStatus").finish("BucketLoggingStatus"),
        ));
    }
    if request.has("notification") {
        return Ok(xml_response(
            XmlWriter::new("NotificationConfiguration").finish("NotificationConfiguration"),
        ));
    }
    if request.has("versions") {
        return list_versions(storage, &request, name).await;
    }
    if request.has("uploads") {
        return list_uploads(storage, &request, name).await;
    }
    if let Some(other) = request
        .query
        .keys()
        .find(|k| UNSUPPORTED_SUBRESOURCES.contains(&k.as_str()))
    {
        return Err(StorageError::not_implemented(other));
    }
    if request.param("list-type") == Some("2") {
        list_objects(storage, &request, name, true).await
    } else {
        list_objects(storage, &request, name, false).await
    }
}

impl XmlWriter {
    /// The grantee of an owner's FULL_CONTROL grant.
    fn out_grantee(&mut self, account_id: &str) -> &mut Self {
        self.raw("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
        self.text("ID", &xml::canonical_user_id(account_id))
            .text("DisplayName", account_id)
            .close("Grantee")
    }
}

async fn put_subresource(
    storage: &ObjectStorage,
    request: S3Request,
    name: &str,
) -> Result<Response> {
    if request.has("versioning") {
        let principal = request.principal.clone();
        let body = read_document(request.take_body(), "VersioningConfiguration").await?;
        let status = xml::first_token(&body, "Status").ok_or_else(malformed_xml)?;
        if xml::first_token(&body, "MfaDelete").is_some_and(|m| m != "Disabled") {
            return Err(StorageError::not_implemented("MFA delete (MfaDelete)"));
        }
        buckets::set_versioning(storage, &principal, name, &status).await?;
        return Ok(empty(StatusCode::OK));
    }
    if request.has("tagging") {
        let principal = request.principal.clone();
        let body = read_document(request.take_body(), "Tagging").await?;
        let tags = xml::parse_tagging(&body);
        buckets::set_tags(storage, &principal, name, Some(tags)).await?;
        return Ok(empty(StatusCode::NO_CONTENT));
    }
    buckets::writable(storage, &request.principal, name).await?;
    let what = request.query.keys().next().cloned().unwrap_or_default();
    Err(StorageError::not_implemented(&format!("PUT ?{what}")))
}

fn max_keys(request: &S3Request, name: &str) -> Result<usize> {
    match request.param(name) {
        None => Ok(1000),
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .map(|n| n.min(1000) as usize)
            .ok_or_else(|| {
                StorageError::invalid_argument(format!(
                    "Provided {name} not an integer or within integer range"
                ))
            }),
    }
}

fn url_encoding(request: &S3Request) -> Result<bool> {
    match request.param("encoding-type") {
        None => Ok(false),
        Some("url") => Ok(true),
        Some(_) => Err(StorageError::invalid_argument(
            "Invalid Encoding Method specified in Request",
        )),
    }
}

fn encode_token(position: &ListPosition) -> String {
    let raw = match position {
        ListPosition::AfterKey(k) => format!("k{k}"),
        ListPosition::AfterPrefix(p) => format!("p{p}"),
        ListPosition::AfterVersion(k, seq) => format!("v{seq}:{k}"),
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_token(token: &str) -> Result<ListPosition> {
    let invalid = || StorageError::invalid_argument("The continuation token provided is incorrect");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (kind, rest) = raw.split_at_checked(1).ok_or_else(invalid)?;
    match kind {
        "k" => Ok(ListPosition::AfterKey(rest.to_string())),
        "p" => Ok(ListPosition::AfterPrefix(rest.to_string())),
        _ => Err(invalid()),
    }
}

async fn list_objects(
    storage: &ObjectStorage,
    request: &S3Request,
    name: &str,
    v2: bool,
) -> Result<Response> {
    let url = url_encoding(request)?;
    let prefix = request.param("prefix").unwrap_or("").to_string();
    let delimiter = request
        .param("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let max = max_keys(request, "max-keys")?;
    let start = if v2 {
        match request.param("continuation-token") {
            Some(token) => Some(decode_token(token)?),
            None => request
                .param("start-after")
                .filter(|s| !s.is_empty())
                .map(|s| ListPosition::AfterKey(s.to_string())),
        }
    } else {
        request
            .param("marker")
            .filter(|s| !s.is_empty())
            .map(|m| match &delimiter {
                // A marker that is a common prefix resumes after everything under it.
                Some(d) if m.ends_with(d.as_str()) && m.starts_with(&prefix) => {
                    ListPosition::AfterPrefix(m.to_string())
                }
                _ => ListPosition::AfterKey(m.to_string()),
            })
    };
    let listing = objects::list(
        storage,
        name,
        &ListQuery {
            prefix: prefix.clone(),
            delimiter: delimiter.clone(),
            max_keys: max,
            start,
            versions: false,
        },
    )
    .await?;
    let root = "ListBucketResult";
    let mut w = XmlWriter::new(root);
    w.text("Name", name)
        .text("Prefix", &encode_key(&prefix, url));
    if v2 {
        w.opt(
            "StartAfter",
            request
                .param("start-after")
                .map(|s| encode_key(s, url))
                .as_deref(),
        );
        w.opt("ContinuationToken", request.param("continuation-token"));
        w.num(
            "KeyCount",
            listing.entries.len() + listing.common_prefixes.len(),
        );
    } else {
        w.text(
            "Marker",
            &encode_key(request.param("marker").unwrap_or(""), url),
        );
    }
    w.num("MaxKeys", max);
    w.opt(
        "Delimiter",
        delimiter.as_deref().map(|d| encode_key(d, url)).as_deref(),
    );
    w.bool("IsTruncated", listing.truncated);
    if listing.truncated {
        if let Some(next) = &listing.next {
            if v2 {
                w.text("NextContinuationToken", &encode_token(next));
            } else if delimiter.is_some() {
                let marker = match next {
                    ListPosition::AfterKey(k)
                    | ListPosition::AfterPrefix(k)
                    | ListPosition::AfterVersion(k, _) => k,
                };
                w.text("NextMarker", &encode_key(marker, url));
            }
        }
    }
    if url {
        w.text("EncodingType", "url");
    }
    for entry in &listing.entries {
        w.open("Contents")
            .text("Key", &encode_key(&entry.key, url))
            .time("LastModified", entry.last_modified)
            .text("ETag", &entry.etag)
            .num("Size", entry.size);
        if let Some(alg) = &entry.checksum_algorithm {
            w.text("ChecksumAlgorithm", alg);
        }
        w.text("StorageClass", "STANDARD");
        if !v2 || request.param("fetch-owner") == Some("true") {
            w.owner("Owner", &entry.owner_account);
        }
        w.close("Contents");
    }
    for prefix in &listing.common_prefixes {
        w.open("CommonPrefixes")
            .text("Prefix", &encode_key(prefix, url))
            .close("CommonPrefixes");
    }
    Ok(xml_response(w.finish(root)))
}

async fn list_versions(
    storage: &ObjectStorage,
    request: &S3Request,
    name: &str,
) -> Result<Response> {
    let url = url_encoding(request)?;
    let prefix = request.param("prefix").unwrap_or("").to_string();
    let delimiter = request
        .param("delimiter")
        .filter(|d| !d.is_empty())
        .map(str::to_string);
    let max = max_keys(request, "max-keys")?;
    let key_marker = request.param("key-marker").filter(|s| !s.is_empty());
    let start = match (
        key_marker,
        request.param("version-id-marker").filter(|s| !s.is_empty()),
    ) {
        (None, _) => None,
        (Some(key), None) => Some(match &delimiter {
            Some(d) if key.ends_with(d.as_str()) => ListPosition::AfterPrefix(key.to_string()),
            _ => ListPosition::AfterKey(key.to_string()),
        }),
        (Some(key), Some(version)) => {
            let seq: Option<i64> = sqlx::query_scalar(
                "SELECT seq FROM object_storage.objects WHERE bucket = $1 AND key = $2 AND version_id = $3",
            )
            .bind(name)
            .bind(key)
            .bind(version)
            .fetch_optional(&storage.pool)
            .await?;
            let seq =
                seq.ok_or_else(|| StorageError::invalid_argument("Invalid version id specified"))?;
            Some(ListPosition::AfterVersion(key.to_string(), seq))
        }
    };
    let listing = objects::list(
        storage,
        name,
        &ListQuery {
            prefix: prefix.clone(),
            delimiter: delimiter.clone(),
            max_keys: max,
            start,
            versions: true,
        },
    )
    .await?;
    let root = "ListVersionsResult";
    let mut w = XmlWriter::new(root);
    w.text("Name", name)
        .text("Prefix", &encode_key(&prefix, url))
        .text("KeyMarker", &encode_key(key_marker.unwrap_or(""), url))
        .text(
            "VersionIdMarker",
            request.param("version-id-marker").unwrap_or(""),
        )
        .num("MaxKeys", max);
    w.opt(
        "Delimiter",
        delimiter.as_deref().map(|d| encode_key(d, url)).as_deref(),
    );
    w.bool("IsTruncated", listing.truncated);
    if listing.truncated {
        match &listing.next {
            Some(ListPosition::AfterVersion(key, seq)) => {
                let version = listing
                    .entries
                    .iter()
                    .rev()
                    .find(|e| &e.key == key && e.seq == *seq)
                    .map(|e| e.version_id.clone())
                    .unwrap_or_default();
                w.text("NextKeyMarker", &encode_key(key, url))
                    .text("NextVersionIdMarker", &version);
            }
            Some(ListPosition::AfterPrefix(p)) | Some(ListPosition::AfterKey(p)) => {
                w.text("NextKeyMarker", &encode_key(p, url));
            }
            None => {}
        }
    }
    if url {
        w.text("EncodingType", "url");
    }
    for entry in &listing.entries {
        let element = if entry.delete_marker {
            "DeleteMarker"
        } else {
            "Version"
        };
        w.open(element)
            .text("Key", &encode_key(&entry.key, url))
            .text("VersionId", &entry.version_id)
            .bool("IsLatest", entry.is_latest)
            .time("LastModified", entry.last_modified);
        if !entry.delete_marker {
            w.text("ETag", &entry.etag)
                .num("Size", entry.size)
                .text("StorageClass", "STANDARD");
        }
        w.owner("Owner", &entry.owner_account);
        w.close(element);
    }
    for prefix in &listing.common_prefixes {
        w.open("CommonPrefixes")
            .text("Prefix", &encode_key(prefix, url))
            .close("CommonPrefixes");
    }
    Ok(xml_response(w.finish(root)))
}

async fn list_uploads(
    storage: &ObjectStorage,
    request: &S3Request,
    name: &str,
) -> Result<Response> {
    let url = url_encoding(request)?;
    let prefix = request.param("prefix").unwrap_or("");
    let max = max_keys(request, "max-uploads")?;
    let key_marker = request.param("key-marker").filter(|s| !s.is_empty());
    let id_marker = request.param("upload-id-marker").filter(|s| !s.is_empty());
    let mut uploads =
        multipart::list_uploads(storage, name, prefix, key_marker, id_marker, max as i64 + 1)
            .await?;
    let truncated = uploads.len() > max;
    uploads.truncate(max);
    let root = "ListMultipartUploadsResult";
    let mut w = XmlWriter::new(root);
    w.text("Bucket", name)
        .text("KeyMarker", key_marker.unwrap_or(""))
        .text("UploadIdMarker", id_marker.unwrap_or(""));
    if let (true, Some(last)) = (truncated, uploads.last()) {
        w.text("NextKeyMarker", &encode_key(&last.key, url))
            .text("NextUploadIdMarker", &last.upload_id);
    }
    w.text("Prefix", &encode_key(prefix, url))
        .num("MaxUploads", max)
        .bool("IsTruncated", truncated);
    if url {
        w.text("EncodingType", "url");
    }
    for upload in &uploads {
        w.open("Upload")
            .text("Key", &encode_key(&upload.key, url))
            .text("UploadId", &upload.upload_id);
        w.owner("Initiator", &upload.account_id)
            .owner("Owner", &upload.account_id);
        w.text("StorageClass", "STANDARD")
            .time("Initiated", upload.initiated_at)
            .close("Upload");
    }
    Ok(xml_response(w.finish(root)))
}

/// DeleteObjects: up to 1000 keys, each answered on its own.
async fn delete_objects(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let name = request.bucket()?.to_string();
    let principal = request.principal.clone();
    let bucket = buckets::writable(storage, &principal, &name).await?;
    let body = read_document(request.take_body(), "Delete").await?;
    let quiet = xml::first_token(&body, "Quiet").as_deref() == Some("true");
    let targets = xml::elements(&body, "Object");
    // S3 takes 1 to 1000 keys.
    if targets.is_empty() || targets.len() > 1000 {
        return Err(malformed_xml());
    }
    // Keys are data: taken exactly as sent (never trimmed), each checked as an ObjectKey.
    let targets = targets
        .into_iter()
        .map(|target| {
            let key = xml::first_text(target, "Key").ok_or_else(malformed_xml)?;
            Ok((key, xml::first_text(target, "VersionId")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut w = XmlWriter::new("DeleteResult");
    for (key, version) in targets {
        let outcome = match (
            ObjectKey::new(key.as_str()),
            version.as_deref().map(check_version_id),
        ) {
            (Err(e), _) | (_, Some(Err(e))) => Err(e),
            (Ok(key), _) => {
                objects::delete(storage, &bucket, &principal, &key, version.as_deref()).await
            }
        };
        match outcome {
            Ok(deleted) => {
                if quiet {
                    continue;
                }
                w.open("Deleted").text("Key", &key);
                w.opt("VersionId", version.as_deref());
                if deleted.delete_marker {
                    w.bool("DeleteMarker", true);
                    if version.is_none() {
                        w.opt("DeleteMarkerVersionId", deleted.version_id.as_deref());
                    }
                }
                w.close("Deleted");
            }
            Err(e) => {
                w.open("Error").text("Key", &key);
                w.opt("VersionId", version.as_deref());
                // The client's own error, or a generic one: internal details (catalog
                // errors) are logged, never sent.
                let error = e.to_s3(None);
                w.text("Code", &error.code)
                    .text("Message", &error.message)
                    .close("Error");
            }
        }
    }
    Ok(xml_response(w.finish("DeleteResult")))
}
