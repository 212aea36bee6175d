//! Object-level S3 operations: Put/Get/Head/Delete/CopyObject, object tags, and multipart
//! uploads (create, upload part, upload part copy, complete, abort, list parts).

use axum::body::Body;
use axum::response::Response;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode};

use super::xml::{self, XmlWriter};
use super::{empty, read_document, set_header, xml_response, S3Request};
use crate::blobs;
use crate::buckets::{self, Bucket};
use crate::error::{Result, StorageError};
use crate::multipart;
use crate::objects::{self, NewVersion, ObjectKey, ObjectVersion};
use crate::ObjectStorage;

mod tagging;
mod uploads;

/// Largest single PUT S3 accepts.
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Headers stored with an object and returned on GET/HEAD.
const STORED_HEADERS: &[&str] = &[
    "content-encoding",
    "content-disposition",
    "cache-control",
    "content-language",
    "expires",
];

pub async fn route(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    match request.method {
        // First, for every method: a PUT ?retention must not store its body as the object.
        _ if UNSUPPORTED_SUBRESOURCES.iter().any(|r| request.has(r)) => {
            get_readable(storage, &request).await?;
            let name = UNSUPPORTED_SUBRESOURCES
                .iter()
                .find(|r| request.has(r))
                .copied()
                .unwrap_or_default();
            Err(StorageError::not_implemented(&format!("?{name}")))
        }
        Method::PUT if request.has("tagging") => tagging::put_tagging(storage, request).await,
        Method::PUT if request.has("uploadId") || request.has("partNumber") => {
            uploads::upload_part(storage, request).await
        }
        Method::PUT if request.headers.contains_key("x-amz-copy-source") => {
            copy_object(storage, request).await
        }
        Method::PUT if request.has("acl") => {
            get_readable(storage, &request).await?;
            Err(StorageError::not_implemented("PutObjectAcl"))
        }
        Method::PUT => put_object(storage, request).await,
        Method::GET if request.has("attributes") => get_attributes(storage, request).await,
        Method::GET if request.has("tagging") => tagging::get_tagging(storage, request).await,
        Method::GET if request.has("uploadId") => uploads::list_parts(storage, request).await,
        Method::GET if request.has("acl") => {
            let (bucket, _) = get_readable(storage, &request).await?;
            let mut w = XmlWriter::new("AccessControlPolicy");
            w.owner("Owner", &bucket.account_id);
            w.open("AccessControlList").open("Grant");
            w.raw("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
            w.text("ID", &xml::canonical_user_id(&bucket.account_id))
                .text("DisplayName", &bucket.account_id)
                .close("Grantee");
            w.text("Permission", "FULL_CONTROL")
                .close("Grant")
                .close("AccessControlList");
            Ok(xml_response(w.finish("AccessControlPolicy")))
        }
        Method::GET | Method::HEAD => get_object(storage, request).await,
        Method::DELETE if request.has("tagging") => tagging::delete_tagging(storage, request).await,
        Method::DELETE if request.has("uploadId") => uploads::abort_upload(storage, request).await,
        Method::DELETE => delete_object(storage, request).await,
        Method::POST if request.has("uploads") => uploads::create_upload(storage, request).await,
        Method::POST if request.has("uploadId") => uploads::complete_upload(storage, request).await,
        _ => Err(objects::method_not_allowed()),
    }
}

/// Object sub-resources Kumo does not serve: answered `NotImplemented`, never with the
/// object itself.
const UNSUPPORTED_SUBRESOURCES: &[&str] =
    &["retention", "legal-hold", "torrent", "restore", "select"];

/// The bucket (owned by the caller) and the version the request names.
async fn get_readable(
    storage: &ObjectStorage,
    request: &S3Request,
) -> Result<(Bucket, ObjectVersion)> {
    let bucket = buckets::owned(storage, &request.principal, request.bucket()?).await?;
    let version = objects::get(
        storage,
        &bucket.name,
        request.key()?,
        request.param("versionId"),
    )
    .await?;
    Ok((bucket, version))
}

/// Content-Type, the stored headers, `x-amz-meta-*` and `x-amz-tagging` of a write.
fn version_template(headers: &HeaderMap) -> Result<NewVersion> {
    let mut template = NewVersion {
        content_type: headers
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        ..NewVersion::default()
    };
    for name in STORED_HEADERS {
        if let Some(value) = headers.get(*name).and_then(|v| v.to_str().ok()) {
            // aws-chunked is how the body travelled, not what it is.
            let value = if *name == "content-encoding" {
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|v| !v.eq_ignore_ascii_case("aws-chunked"))
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                value.to_string()
            };
            if !value.is_empty() {
                template.headers.insert(name.to_string(), value);
            }
        }
    }
    let mut metadata_size = 0;
    for (name, value) in headers {
        if let Some(meta) = name.as_str().strip_prefix("x-amz-meta-") {
            // UTF-8 text, strictly (never decoded lossily), without refused characters.
            let value = kumo_common::text::check_bytes(value.as_bytes()).map_err(|problem| {
                StorageError::invalid_argument(format!(
                    "The value of metadata header {name} is not valid: it {problem}"
                ))
            })?;
            metadata_size += meta.len() + value.len();
            template
                .metadata
                .insert(meta.to_string(), value.to_string());
        }
    }
    if metadata_size > 2048 {
        return Err(StorageError::S3(
            StatusCode::BAD_REQUEST,
            "MetadataTooLarge",
            "Your metadata headers exceed the maximum allowed metadata size.".into(),
        ));
    }
    if let Some(tagging) = headers.get("x-amz-tagging") {
        let tags = parse_tagging_header(tagging.as_bytes())?;
        objects::validate_tags(&tags, 10)?;
        template.tags = Some(tags);
    }
    Ok(template)
}

/// `x-amz-tagging: k1=v1&k2=v2` (URL query encoding), decoded strictly: a pair that is not
/// UTF-8 once decoded is `InvalidTag`, never replaced by U+FFFD (the tag rules then
/// refuse what tags may not hold).
fn parse_tagging_header(value: &[u8]) -> Result<Vec<(String, String)>> {
    let invalid = || {
        StorageError::S3(
            StatusCode::BAD_REQUEST,
            "InvalidTag",
            "The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.".into(),
        )
    };
    kumo_common::text::decode_form(value)
        .map(|pair| pair.map_err(|_| invalid()))
        .collect()
}

/// `x-amz-metadata-directive` / `x-amz-tagging-directive`: `COPY` (the default) or
/// `REPLACE`; anything else is refused, not taken for `COPY`.
fn replace_directive(request: &S3Request, header: &str) -> Result<bool> {
    match request.headers.get(header).map(|v| v.as_bytes()) {
        None | Some(b"COPY") => Ok(false),
        Some(b"REPLACE") => Ok(true),
        Some(_) => Err(StorageError::invalid_argument(format!(
            "Unknown {header} value; expected COPY or REPLACE"
        ))),
    }
}

fn version_header(response: &mut Response, bucket: &Bucket, version: &ObjectVersion) {
    if !bucket.versioning.is_empty() {
        set_header(response, "x-amz-version-id", &version.version_id);
    }
}

async fn put_object(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let bucket_name = request.bucket()?.to_string();
    let key = request.key()?.to_string();
    objects::validate_key(&key)?;
    let template = version_template(&request.headers)?;
    // Conditional write: `If-None-Match: *` refuses to overwrite an existing object,
    // `If-Match` to replace anything but the named version.
    let condition = objects::WriteCondition::from_headers(
        request.header("if-none-match"),
        request.header("if-match"),
    )?;
    // The bucket first: a refusal leaves the body unread (to be drained), not half-stored.
    let bucket = buckets::writable(storage, &request.principal, &bucket_name).await?;
    let mut incoming = super::body::incoming(
        &request.headers,
        request.context.as_ref(),
        || request.take_body(),
        MAX_PUT_BYTES,
        None,
    )?;
    let verifier = &mut incoming.verifier;
    let mut observe = |data: &[u8]| verifier.update(data);
    let written = blobs::write_blob(storage, incoming.stream, &mut observe).await?;
    let integrity = incoming.verifier.finish()?;
    let version = NewVersion {
        size: written.size,
        etag: format!("\"{}\"", hex::encode(integrity.md5)),
        checksum_algorithm: integrity.checksum.as_ref().map(|c| c.0.clone()),
        checksum_value: integrity.checksum.as_ref().map(|c| c.1.clone()),
        ..template
    };
    let row = objects::commit_written_if(
        storage,
        &bucket,
        &request.principal,
        &key,
        &written,
        version,
        &condition,
    )
    .await?;
    let mut response = empty(StatusCode::OK);
    set_header(&mut response, "etag", &row.etag);
    version_header(&mut response, &bucket, &row);
    if let (Some(alg), Some(value)) = (&row.checksum_algorithm, &row.checksum_value) {
        checksum_headers(&mut response, alg, value);
    }
    Ok(response)
}

fn precondition_failed() -> StorageError {
    StorageError::S3(
        StatusCode::PRECONDITION_FAILED,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold".into(),
    )
}

fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(value, "%a, %d %b %Y %H:%M:%S GMT")
                .ok()
                .map(|n| n.and_utc())
        })
}

fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate.trim_matches('"') == etag.trim_matches('"'))
}

/// What the conditional headers decide: `Ok(true)` to serve, `Ok(false)` for 304.
fn check_conditions(
    headers: &HeaderMap,
    etag: &str,
    modified: DateTime<Utc>,
    prefix: &str,
) -> Result<bool> {
    let get = |name: &str| {
        headers
            .get(format!("{prefix}{name}"))
            .and_then(|v| v.to_str().ok())
    };
    // Last-Modified has second precision.
    let modified = DateTime::<Utc>::from_timestamp(modified.timestamp(), 0).unwrap_or(modified);
    let if_match = get("if-match");
    if let Some(list) = if_match {
        if !etag_matches(list, etag) {
            return Err(precondition_failed());
        }
    }
    if let Some(since) = get("if-unmodified-since").and_then(parse_http_date) {
        if if_match.is_none() && modified > since {
            return Err(precondition_failed());
        }
    }
    let if_none_match = get("if-none-match");
    if let Some(list) = if_none_match {
        if etag_matches(list, etag) {
            return Ok(false);
        }
    }
    if let Some(since) = get("if-modified-since").and_then(parse_http_date) {
        if if_none_match.is_none() && modified <= since {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `bytes=a-b`, `bytes=a-`, `bytes=-n` → `[start, end)`; None to serve the whole object.
fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>> {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        // S3 ignores multi-range requests and serves the whole object.
        return Ok(None);
    }
    let (first, last) = spec.split_once('-').ok_or_else(invalid_range)?;
    let range = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().map_err(|_| invalid_range())?;
            if n == 0 {
                return Err(invalid_range());
            }
            (size.saturating_sub(n), size)
        }
        (start, "") => {
            let start: u64 = start.parse().map_err(|_| invalid_range())?;
            (start, size)
        }
        (start, end) => {
            let start: u64 = start.parse().map_err(|_| invalid_range())?;
            let end: u64 = end.parse().map_err(|_| invalid_range())?;
            if end < start {
                return Ok(None);
            }
            (start, (end + 1).min(size))
        }
    };
    if range.0 >= size {
        return Err(invalid_range());
    }
    Ok(Some(range))
}

/// The byte range `[start, end)` of part `number` (the `partNumber` query value) of a
/// version: a multipart object's parts as completed, or the whole of an object written in
/// one piece (its only part). None for an empty object's part 1 (served whole).
fn part_range(version: &ObjectVersion, number: &str) -> Result<Option<(u64, u64)>> {
    let number = multipart::validate_part_number(number.parse().unwrap_or(0))? as usize;
    let invalid_part_number = || {
        StorageError::S3(
            StatusCode::RANGE_NOT_SATISFIABLE,
            "InvalidPartNumber",
            "The requested partnumber is not satisfiable".into(),
        )
    };
    let (start, size) = match &version.part_sizes {
        Some(sizes) => {
            let size = *sizes.get(number - 1).ok_or_else(invalid_part_number)?;
            (sizes[..number - 1].iter().sum::<i64>(), size)
        }
        // A multipart object completed before part sizes were kept.
        None if version.parts_count.unwrap_or(1) > 1 => {
            return Err(StorageError::not_implemented(
                "partNumber reads of multipart objects completed before part boundaries were kept",
            ))
        }
        None if number == 1 => (0, version.size),
        None => return Err(invalid_part_number()),
    };
    if size == 0 {
        return Ok(None);
    }
    Ok(Some((start as u64, (start + size) as u64)))
}

fn invalid_range() -> StorageError {
    StorageError::S3(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "InvalidRange",
        "The requested range is not satisfiable".into(),
    )
}

fn object_headers(response: &mut Response, bucket: &Bucket, version: &ObjectVersion) {
    set_header(response, "etag", &version.etag);
    set_header(
        response,
        "last-modified",
        &xml::http_date(version.last_modified),
    );
    set_header(response, "accept-ranges", "bytes");
    set_header(
        response,
        "content-type",
        version
            .content_type
            .as_deref()
            .unwrap_or("binary/octet-stream"),
    );
    for (name, value) in version.headers.0.iter() {
        set_header(response, name, value);
    }
    for (name, value) in version.metadata.0.iter() {
        set_header(response, &format!("x-amz-meta-{name}"), value);
    }
    if let Some(tags) = &version.tags {
        if !tags.0.is_empty() {
            set_header(response, "x-amz-tagging-count", &tags.0.len().to_string());
        }
    }
    version_header(response, bucket, version);
}

/// A read that found a delete marker. S3 says which: the latest version is a delete marker
/// (404 NoSuchKey), or a marker was asked for by version id (405); and names the marker in
/// headers.
fn delete_marker_response(request: &S3Request, version: &ObjectVersion) -> Response {
    let error = if request.param("versionId").is_some() {
        objects::method_not_allowed()
    } else {
        StorageError::NoSuchKey(version.key.clone())
    };
    let mut error = error.to_s3(Some(&request.resource()));
    if request.method == Method::HEAD {
        error.message.clear();
    }
    let mut response = error.into_response_as(kumo_common::AwsErrorFormat::S3);
    set_header(&mut response, "x-amz-delete-marker", "true");
    set_header(&mut response, "x-amz-version-id", &version.version_id);
    set_header(
        &mut response,
        "last-modified",
        &xml::http_date(version.last_modified),
    );
    response
}

/// GetObjectAttributes: what `x-amz-object-attributes` asks for, without the data.
async fn get_attributes(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    const KNOWN: &[&str] = &[
        "ETag",
        "Checksum",
        "ObjectParts",
        "StorageClass",
        "ObjectSize",
    ];
    let wanted: Vec<String> = request
        .headers
        .get_all("x-amz-object-attributes")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().to_string())
        .filter(|a| !a.is_empty())
        .collect();
    if wanted.is_empty() || wanted.iter().any(|a| !KNOWN.contains(&a.as_str())) {
        return Err(StorageError::invalid_argument(
            "Invalid attribute name specified.",
        ));
    }
    let (bucket, version) = get_readable(storage, &request).await?;
    if version.delete_marker {
        return Ok(delete_marker_response(&request, &version));
    }
    let asked = |name: &str| wanted.iter().any(|a| a == name);
    let mut w = XmlWriter::new("GetObjectAttributesResponse");
    if asked("ETag") {
        // Unquoted here, unlike every other ETag S3 sends.
        w.text("ETag", version.etag.trim_matches('"'));
    }
    if asked("Checksum") {
        if let (Some(alg), Some(value)) = (&version.checksum_algorithm, &version.checksum_value) {
            w.open("Checksum")
                .text(&format!("Checksum{}", checksum_member(alg)), value)
                .text("ChecksumType", checksum_type(value))
                .close("Checksum");
        }
    }
    if asked("ObjectParts") {
        if let Some(count) = version.parts_count {
            w.open("ObjectParts")
                .num("PartsCount", count)
                .close("ObjectParts");
        }
    }
    if asked("StorageClass") {
        w.text("StorageClass", "STANDARD");
    }
    if asked("ObjectSize") {
        w.num("ObjectSize", version.size);
    }
    let mut response = xml_response(w.finish("GetObjectAttributesResponse"));
    set_header(
        &mut response,
        "last-modified",
        &xml::http_date(version.last_modified),
    );
    version_header(&mut response, &bucket, &version);
    Ok(response)
}

async fn get_object(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let bucket = buckets::owned(storage, &request.principal, request.bucket()?).await?;
    let key = request.key()?;
    let version = match objects::get(storage, &bucket.name, key, request.param("versionId")).await {
        Ok(v) => v,
        Err(e) => return Err(e),
    };
    if version.delete_marker {
        return Ok(delete_marker_response(&request, &version));
    }
    let size = version.size as u64;
    if !check_conditions(&request.headers, &version.etag, version.last_modified, "")? {
        let mut response = empty(StatusCode::NOT_MODIFIED);
        response.headers_mut().remove(http::header::CONTENT_LENGTH);
        set_header(&mut response, "etag", &version.etag);
        set_header(
            &mut response,
            "last-modified",
            &xml::http_date(version.last_modified),
        );
        return Ok(response);
    }
    let part_number = request.param("partNumber");
    let mut range = match (request.header("range"), part_number) {
        (Some(_), Some(_)) => {
            return Err(StorageError::invalid_request(
                "Cannot specify both Range header and partNumber query parameter",
            ))
        }
        (Some(value), None) => parse_range(value, size)?,
        (None, Some(part)) => part_range(&version, part)?,
        (None, None) => None,
    };
    let status = if range.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let (start, end) = range.take().unwrap_or((0, size));
    let is_head = request.method == Method::HEAD;
    let body = if is_head || end == start {
        Body::empty()
    } else {
        let stream = blobs::read_range(storage, version.blob_id, start, end).await?;
        Body::from_stream(futures::StreamExt::map(stream, |r| {
            r.map_err(|e| std::io::Error::other(e.to_string()))
        }))
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    object_headers(&mut response, &bucket, &version);
    set_header(&mut response, "content-length", &(end - start).to_string());
    if status == StatusCode::PARTIAL_CONTENT {
        set_header(
            &mut response,
            "content-range",
            &format!("bytes {}-{}/{}", start, end.saturating_sub(1), size),
        );
    }
    // The stored checksum is the whole object's: a range does not get it (clients check
    // the bytes they received against it).
    if status == StatusCode::OK
        && request
            .header("x-amz-checksum-mode")
            .map(|m| m.eq_ignore_ascii_case("ENABLED"))
            == Some(true)
    {
        if let (Some(alg), Some(value)) = (&version.checksum_algorithm, &version.checksum_value) {
            checksum_headers(&mut response, alg, value);
        }
    }
    if let Some(count) = version
        .parts_count
        .filter(|_| request.param("partNumber").is_some())
    {
        set_header(&mut response, "x-amz-mp-parts-count", &count.to_string());
    }
    // response-* query parameters override headers of this one response.
    for (param, header) in [
        ("response-content-type", "content-type"),
        ("response-content-language", "content-language"),
        ("response-expires", "expires"),
        ("response-cache-control", "cache-control"),
        ("response-content-disposition", "content-disposition"),
        ("response-content-encoding", "content-encoding"),
    ] {
        if let Some(value) = request.param(param) {
            set_header(&mut response, header, value);
        }
    }
    Ok(response)
}

async fn delete_object(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let bucket = buckets::writable(storage, &request.principal, request.bucket()?).await?;
    let key = request.key()?;
    let deleted = objects::delete(
        storage,
        &bucket,
        &request.principal,
        key,
        request.param("versionId"),
    )
    .await?;
    let mut response = empty(StatusCode::NO_CONTENT);
    if deleted.delete_marker {
        set_header(&mut response, "x-amz-delete-marker", "true");
    }
    if let Some(version) = &deleted.version_id {
        set_header(&mut response, "x-amz-version-id", version);
    }
    Ok(response)
}

/// `x-amz-copy-source: /bucket/key?versionId=…` (leading slash optional, URL-encoded).
async fn copy_source(
    storage: &ObjectStorage,
    request: &S3Request,
) -> Result<(Bucket, ObjectVersion)> {
    let (bucket, key, version) = parse_copy_source(
        request
            .headers
            .get("x-amz-copy-source")
            .map(|v| v.as_bytes())
            .unwrap_or_default(),
    )?;
    let source_bucket = buckets::owned(storage, &request.principal, &bucket).await?;
    let source = objects::get(storage, &bucket, &key, version.as_deref()).await?;
    if source.delete_marker {
        return Err(if version.is_some() {
            StorageError::invalid_request("The source of a copy request may not specifically refer to a delete marker by version id.")
        } else {
            StorageError::NoSuchKey(key.to_string())
        });
    }
    if !check_conditions(
        &request.headers,
        &source.etag,
        source.last_modified,
        "x-amz-copy-source-",
    )? {
        return Err(precondition_failed());
    }
    Ok((source_bucket, source))
}

/// `x-amz-copy-source: [/]bucket/key[?versionId=id]`, the bucket and key URL-encoded:
/// decoded strictly (`InvalidArgument` for bytes that are not UTF-8), the key checked as an
/// [`ObjectKey`], the version id as every version id is.
fn parse_copy_source(raw: &[u8]) -> Result<(String, ObjectKey, Option<String>)> {
    let encoding = || StorageError::invalid_argument("Invalid copy source encoding");
    let raw = std::str::from_utf8(raw).map_err(|_| encoding())?;
    let (path, version) = match raw.split_once("?versionId=") {
        Some((p, v)) => (p, Some(super::decode_component(v).map_err(|_| encoding())?)),
        None => (raw, None),
    };
    if let Some(version) = &version {
        super::check_version_id(version)?;
    }
    let decoded = super::decode_component(path.trim_start_matches('/')).map_err(|_| encoding())?;
    let (bucket, key) = decoded
        .split_once('/')
        .filter(|(b, k)| !b.is_empty() && !k.is_empty())
        .ok_or_else(|| {
            StorageError::invalid_argument(
                "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            )
        })?;
    Ok((bucket.to_string(), ObjectKey::new(key)?, version))
}

async fn copy_object(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let bucket = buckets::writable(storage, &request.principal, request.bucket()?).await?;
    let key = request.key()?.to_string();
    let (_, source) = copy_source(storage, &request).await?;
    let replace = replace_directive(&request, "x-amz-metadata-directive")?;
    let replace_tags = replace_directive(&request, "x-amz-tagging-directive")?;
    let template = version_template(&request.headers)?;
    if !replace
        && source.bucket == bucket.name
        && source.key == key
        && !replace_tags
        && bucket.versioning.is_empty()
    {
        return Err(StorageError::invalid_request("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."));
    }
    let mut version = NewVersion {
        size: source.size as u64,
        etag: source.etag.clone(),
        checksum_algorithm: source.checksum_algorithm.clone(),
        checksum_value: source.checksum_value.clone(),
        parts_count: source.parts_count,
        part_sizes: source.part_sizes.clone(),
        ..NewVersion::default()
    };
    if replace {
        version.content_type = template.content_type;
        version.headers = template.headers;
        version.metadata = template.metadata;
    } else {
        version.content_type = source.content_type.clone();
        version.headers = source.headers.0.clone();
        version.metadata = source.metadata.0.clone();
    }
    version.tags = if replace_tags {
        template.tags
    } else {
        source.tags.as_ref().map(|t| t.0.clone())
    };
    let row = objects::copy(storage, &bucket, &request.principal, &key, &source, version).await?;
    let mut w = XmlWriter::new("CopyObjectResult");
    w.time("LastModified", row.last_modified)
        .text("ETag", &row.etag);
    let mut response = xml_response(w.finish("CopyObjectResult"));
    version_header(&mut response, &bucket, &row);
    if source.version_id != objects::NULL_VERSION {
        set_header(
            &mut response,
            "x-amz-copy-source-version-id",
            &source.version_id,
        );
    }
    Ok(response)
}

/// `CRC32` → `CRC32`, `CRC32C`, `CRC64NVME`, `SHA1`, `SHA256`: the XML member suffix.
fn checksum_member(alg: &str) -> String {
    alg.to_ascii_uppercase()
}

/// A multipart upload's checksum of checksums ends in `-<parts>`: `COMPOSITE`; any other
/// checksum covers the object's bytes: `FULL_OBJECT`.
fn checksum_type(value: &str) -> &'static str {
    if value.contains('-') {
        "COMPOSITE"
    } else {
        "FULL_OBJECT"
    }
}

/// `x-amz-checksum-<alg>` and `x-amz-checksum-type` of a stored checksum.
fn checksum_headers(response: &mut Response, algorithm: &str, value: &str) {
    set_header(
        response,
        &format!("x-amz-checksum-{}", algorithm.to_ascii_lowercase()),
        value,
    );
    set_header(response, "x-amz-checksum-type", checksum_type(value));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100).unwrap(), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=-10", 100).unwrap(), Some((90, 100)));
        assert_eq!(parse_range("bytes=95-200", 100).unwrap(), Some((95, 100)));
        assert!(parse_range("bytes=100-", 100).is_err());
        assert_eq!(parse_range("bytes=0-1,5-6", 100).unwrap(), None);
    }

    #[test]
    fn copy_sources_decode_strictly() {
        let (bucket, key, version) = parse_copy_source(b"/b/a%20b/c?versionId=v%2B1").unwrap();
        assert_eq!((bucket.as_str(), key.as_str()), ("b", "a b/c"));
        assert_eq!(version.as_deref(), Some("v+1"));
        let (_, key, version) = parse_copy_source(b"b/k").unwrap();
        assert_eq!((key.as_str(), version), ("k", None));
        for (raw, code) in [
            (&b"/b/a%FFb"[..], "InvalidArgument"),
            (b"/b/a%00b", "InvalidArgument"),
            (b"/b/k?versionId=%00", "InvalidArgument"),
            (b"/b/k?versionId=%FF", "InvalidArgument"),
            (b"/b/\xff", "InvalidArgument"),
            (b"/b", "InvalidArgument"),
        ] {
            let error = parse_copy_source(raw).err().unwrap();
            assert_eq!(error.code(), code, "{}", String::from_utf8_lossy(raw));
        }
        let long = format!("/b/{}", "k".repeat(1025));
        assert_eq!(
            parse_copy_source(long.as_bytes()).err().unwrap().code(),
            "KeyTooLongError"
        );
    }

    #[test]
    fn tagging_headers_decode_strictly() {
        assert_eq!(
            parse_tagging_header(b"a=1&b+c=%20d&e").unwrap(),
            vec![
                ("a".to_string(), "1".to_string()),
                ("b c".into(), " d".into()),
                ("e".into(), "".into())
            ]
        );
        assert_eq!(
            parse_tagging_header(b"a=%FF").err().unwrap().code(),
            "InvalidTag"
        );
        assert_eq!(
            parse_tagging_header(b"a=\xff").err().unwrap().code(),
            "InvalidTag"
        );
        // A NUL decodes, then the tag rules refuse it.
        let tags = parse_tagging_header(b"a=%00").unwrap();
        assert_eq!(
            objects::validate_tags(&tags, 10).err().unwrap().code(),
            "InvalidTag"
        );
    }

    #[test]
    fn metadata_is_strict_text() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-meta-a",
            http::HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap(),
        );
        assert_eq!(version_template(&headers).unwrap().metadata["a"], "café");
        headers.insert(
            "x-amz-meta-b",
            http::HeaderValue::from_bytes(b"\xff").unwrap(),
        );
        assert_eq!(
            version_template(&headers).err().unwrap().code(),
            "InvalidArgument"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-meta-c",
            http::HeaderValue::from_bytes(b"\xc2\x85").unwrap(),
        );
        assert_eq!(
            version_template(&headers).err().unwrap().code(),
            "InvalidArgument"
        );
    }

    #[test]
    fn conditions() {
        let mut headers = HeaderMap::new();
        let now = Utc::now();
        headers.insert("if-none-match", "\"abc\"".parse().unwrap());
        assert!(!check_conditions(&headers, "\"abc\"", now, "").unwrap());
        headers.clear();
        headers.insert("if-match", "\"zzz\"".parse().unwrap());
        assert!(check_conditions(&headers, "\"abc\"", now, "").is_err());
    }
}
