//! GetObject, HeadObject and GetObjectAttributes: conditional reads, ranges, part reads,
//! delete markers.

use axum::body::Body;
use axum::response::Response;
use chrono::{DateTime, Utc};
use http::{HeaderMap, Method, StatusCode};

use super::response::{checksum_headers, empty, set_header, version_header, xml_response};
use super::xml;
use super::S3Request;
use crate::blobs;
use crate::buckets::{AuthorizedBucket, Bucket};
use crate::checksum::ChecksumType;
use crate::error::{Result, StorageError};
use crate::multipart;
use crate::objects::{self, etag_matches, precondition_failed, ObjectKey, ObjectVersion};
use crate::ObjectStorage;

/// The version of `key` the request names (`versionId`, else the latest).
pub(super) async fn get_readable(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<ObjectVersion> {
    objects::get(storage, bucket, key, request.param("versionId")).await
}

pub(super) fn parse_http_date(value: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc2822(value)
        .ok()
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(value, "%a, %d %b %Y %H:%M:%S GMT")
                .ok()
                .map(|n| n.and_utc())
        })
}

/// What the conditional headers decide: `Ok(true)` to serve, `Ok(false)` for 304.
pub(super) fn check_conditions(
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
pub(super) fn parse_range(value: &str, size: u64) -> Result<Option<(u64, u64)>> {
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
pub(super) fn part_range(version: &ObjectVersion, number: &str) -> Result<Option<(u64, u64)>> {
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

pub(super) fn invalid_range() -> StorageError {
    StorageError::S3(
        StatusCode::RANGE_NOT_SATISFIABLE,
        "InvalidRange",
        "The requested range is not satisfiable".into(),
    )
}

pub(super) fn object_headers(response: &mut Response, bucket: &Bucket, version: &ObjectVersion) {
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
pub(super) fn delete_marker_response(request: &S3Request, version: &ObjectVersion) -> Response {
    let error = if request.param("versionId").is_some() {
        objects::method_not_allowed()
    } else {
        StorageError::NoSuchKey(version.key.clone())
    };
    let mut error = error.to_s3(Some(&request.resource));
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

/// A non-negative count from a request header (`x-amz-max-parts`...), `default` when absent.
fn header_number(request: &S3Request, name: &str, default: usize) -> Result<usize> {
    match request.header(name) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|_| {
            StorageError::invalid_argument(format!("Invalid value for header {name}: {value}"))
        }),
    }
}

/// GetObjectAttributes: what `x-amz-object-attributes` asks for, without the data.
pub(super) async fn get_attributes(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
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
    let version = get_readable(storage, request, bucket, key).await?;
    if version.delete_marker {
        return Ok(delete_marker_response(request, &version));
    }
    let asked = |name: &str| wanted.iter().any(|a| a == name);
    let mut w = xml::document("GetObjectAttributesResponse");
    if asked("ETag") {
        // Unquoted here, unlike every other ETag S3 sends.
        w.text("ETag", version.etag.trim_matches('"'));
    }
    if asked("Checksum") {
        if let (Some(algorithm), Some(value)) =
            (version.checksum_algorithm, &version.checksum_value)
        {
            w.open("Checksum")
                .text(&format!("Checksum{algorithm}"), value)
                .text("ChecksumType", ChecksumType::of_value(value).as_str())
                .close();
        }
    }
    if asked("ObjectParts") {
        if let Some(count) = version.parts_count {
            w.open("ObjectParts").num("PartsCount", count);
            if let Some(sizes) = &version.part_sizes {
                let checksums = multipart::part_checksums(storage, &version).await?;
                let checksum_name = version.checksum_algorithm.map(|a| format!("Checksum{a}"));
                let marker = header_number(request, "x-amz-part-number-marker", 0)?;
                let max_parts = header_number(request, "x-amz-max-parts", 1000)?;
                let listed: Vec<usize> = (marker..sizes.len()).take(max_parts).collect();
                let next = listed.last().map_or(marker, |index| index + 1);
                w.num("PartNumberMarker", marker)
                    .num("NextPartNumberMarker", next)
                    .num("MaxParts", max_parts)
                    .bool("IsTruncated", next < sizes.len());
                for index in listed {
                    w.open("Part")
                        .num("PartNumber", index + 1)
                        .num("Size", sizes[index]);
                    if let (Some(name), Some(values)) = (&checksum_name, &checksums) {
                        w.opt(name, values.get(index).map(String::as_str));
                    }
                    w.close();
                }
            }
            w.close();
        }
    }
    if asked("StorageClass") {
        w.text("StorageClass", "STANDARD");
    }
    if asked("ObjectSize") {
        w.num("ObjectSize", version.size);
    }
    let mut response = xml_response(w.finish());
    set_header(
        &mut response,
        "last-modified",
        &xml::http_date(version.last_modified),
    );
    version_header(&mut response, bucket, &version);
    Ok(response)
}

/// GetObject and HeadObject (no body).
pub(super) async fn get_object(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
    let version = get_readable(storage, request, bucket, key).await?;
    if version.delete_marker {
        return Ok(delete_marker_response(request, &version));
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
    object_headers(&mut response, bucket, &version);
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
        if let (Some(algorithm), Some(value)) =
            (version.checksum_algorithm, &version.checksum_value)
        {
            checksum_headers(&mut response, algorithm, value);
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
