//! Multipart uploads: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts and ListMultipartUploads.

use axum::response::Response;
use http::StatusCode;

use super::body;
use super::copy::{copy_source, copy_source_version_header};
use super::list::{max_keys, url_encoding};
use super::put::version_template;
use super::request::{malformed_xml, read_document};
use super::response::{empty, encode_key, set_header, version_header, xml_response};
use super::xml::{self, S3Xml};
use super::S3Request;
use crate::blobs;
use crate::buckets::AuthorizedBucket;
use crate::checksum::{
    ChecksumAlgorithm, ChecksumError, ChecksumType, IntegrityExpectation, ObjectHasher,
};
use crate::error::{Result, StorageError};
use crate::multipart;
use crate::objects::{self, ObjectKey, ObjectVersion};
use crate::write;
use crate::ObjectStorage;

pub(super) async fn create_upload(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
    let mut template = version_template(&request.headers)?;
    template.checksum_algorithm = match request.header("x-amz-checksum-algorithm") {
        Some(name) => {
            Some(ChecksumAlgorithm::parse(name).ok_or(ChecksumError::UnsupportedAlgorithm)?)
        }
        None => None,
    };
    let checksum_type = requested_checksum_type(request, template.checksum_algorithm)?;
    let upload = multipart::create(storage, bucket, key, &template, checksum_type).await?;
    let mut w = xml::document("InitiateMultipartUploadResult");
    w.text("Bucket", bucket.name())
        .text("Key", key)
        .text("UploadId", &upload.upload_id);
    let mut response = xml_response(w.finish());
    if let Some(algorithm) = template.checksum_algorithm {
        set_header(
            &mut response,
            "x-amz-checksum-algorithm",
            algorithm.as_str(),
        );
        set_header(
            &mut response,
            "x-amz-checksum-type",
            upload.checksum_type().as_str(),
        );
    }
    Ok(response)
}

/// CreateMultipartUpload's `x-amz-checksum-type`, checked against the algorithm as S3
/// does: it needs an algorithm, and FULL_OBJECT needs a CRC.
pub(super) fn requested_checksum_type(
    request: &S3Request,
    algorithm: Option<ChecksumAlgorithm>,
) -> Result<Option<ChecksumType>> {
    let Some(value) = request.header("x-amz-checksum-type") else {
        return Ok(None);
    };
    let checksum_type = ChecksumType::parse(value).ok_or_else(|| {
        StorageError::invalid_request("Value for x-amz-checksum-type header is invalid.")
    })?;
    let algorithm = algorithm.ok_or_else(|| {
        StorageError::invalid_request(
            "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
        )
    })?;
    if checksum_type == ChecksumType::FullObject && !algorithm.is_crc() {
        return Err(StorageError::invalid_request(format!(
            "The FULL_OBJECT checksum type cannot be used with the {} checksum algorithm.",
            algorithm.as_str().to_ascii_lowercase()
        )));
    }
    Ok(Some(checksum_type))
}

pub(super) async fn upload_part(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
    upload_id: &str,
    number: i32,
) -> Result<Response> {
    let upload = multipart::get(storage, bucket, key, upload_id).await?;
    // A part of an upload created with a checksum algorithm carries that checksum (computed
    // here when the client sent none); another algorithm is refused, as S3 does.
    let upload_algorithm = upload.checksum_algorithm;
    let sent = IntegrityExpectation::from_headers(&request.headers)?.algorithm();
    if let (Some(expected), Some(sent)) = (upload_algorithm, sent) {
        if expected != sent {
            return Err(StorageError::invalid_request(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                expected.as_str().to_ascii_lowercase(),
                sent.as_str().to_ascii_lowercase()
            )));
        }
    }
    let incoming = body::incoming(
        &request.headers,
        request.context.as_ref(),
        || request.take_body(),
        multipart::MAX_PART_BYTES,
        upload_algorithm,
    )?;
    let written = write::write_object(storage, incoming.stream, incoming.verifier).await?;
    let part = multipart::save_part(storage, &upload, number, &written).await?;
    let mut response = empty(StatusCode::OK);
    set_header(&mut response, "etag", &part.etag());
    if let Some((algorithm, value)) = &written.digests.checksum {
        set_header(&mut response, algorithm.header_name(), value);
    }
    Ok(response)
}

pub(super) async fn upload_part_copy(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
    upload_id: &str,
    number: i32,
) -> Result<Response> {
    let upload = multipart::get(storage, bucket, key, upload_id).await?;
    let source = copy_source(storage, request).await?;
    let size = source.size as u64;
    let (start, end) = match request.header("x-amz-copy-source-range") {
        Some(value) => {
            let range = value
                .strip_prefix("bytes=")
                .and_then(|r| r.split_once('-'))
                .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)))
                .filter(|(a, b)| a <= b && *b < size)
                .ok_or_else(|| StorageError::invalid_argument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"))?;
            (range.0, range.1 + 1)
        }
        None => (0, size),
    };
    // A part copy re-writes the bytes (a range need not fall on chunk boundaries).
    // The part gets the upload's checksum like an uploaded one (the completed object's
    // checksum is made of its parts').
    let stream = blobs::read_range(storage, source.blob_id, start, end).await?;
    let algorithm = upload.checksum_algorithm;
    // Our own chunks, verified as they were read: nothing to check but to hash.
    let written =
        write::write_object(storage, Box::pin(stream), ObjectHasher::new(algorithm)).await?;
    let part = multipart::save_part(storage, &upload, number, &written).await?;
    let mut w = xml::document("CopyPartResult");
    w.time("LastModified", part.last_modified)
        .text("ETag", &part.etag());
    if let Some((algorithm, value)) = &written.digests.checksum {
        w.text(&format!("Checksum{}", algorithm.as_str()), value);
    }
    let mut response = xml_response(w.finish());
    copy_source_version_header(&mut response, &source);
    Ok(response)
}

pub(super) async fn complete_upload(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
    upload_id: &str,
) -> Result<Response> {
    let upload = match multipart::get(storage, bucket, key, upload_id).await {
        Err(StorageError::NoSuchUpload(id)) => {
            return match multipart::completed_version(storage, bucket, key, upload_id).await? {
                Some(row) => Ok(completed(bucket, key, &row)),
                None => Err(StorageError::NoSuchUpload(id)),
            };
        }
        outcome => outcome?,
    };
    let body = read_document(request.take_body(), "CompleteMultipartUpload").await?;
    // The part checksums the client lists are checked against the stored ones.
    let listed_checksum = upload
        .checksum_algorithm
        .map(|algorithm| format!("Checksum{algorithm}"));
    let mut parts = Vec::new();
    for part in xml::elements(&body, "Part") {
        let number = xml::first_token(part, "PartNumber")
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(malformed_xml)?;
        let etag = xml::first_token(part, "ETag").ok_or_else(malformed_xml)?;
        parts.push(multipart::RequestedPart {
            number: multipart::validate_part_number(number)?,
            etag,
            checksum: listed_checksum
                .as_deref()
                .and_then(|member| xml::first_token(part, member)),
        });
    }
    let condition = objects::WriteCondition::from_headers(
        request.header("if-none-match"),
        request.header("if-match"),
    )?;
    let algorithm = upload.checksum_algorithm;
    if let (Some(_), Some(wanted)) = (algorithm, request.header("x-amz-checksum-type")) {
        if !wanted
            .trim()
            .eq_ignore_ascii_case(upload.checksum_type().as_str())
        {
            return Err(StorageError::S3(
                StatusCode::BAD_REQUEST,
                "BadDigest",
                format!(
                    "The upload was created using the {} checksum mode. The complete request must use the same checksum mode.",
                    upload.checksum_type()
                ),
            ));
        }
    }
    let expected = multipart::Expected {
        checksum: algorithm
            .and_then(|a| request.header(a.header_name()))
            .map(str::to_string),
        size: match request.header("x-amz-mp-object-size") {
            Some(value) => Some(value.trim().parse().map_err(|_| {
                StorageError::invalid_argument("Value for x-amz-mp-object-size header is invalid.")
            })?),
            None => None,
        },
    };
    let row = multipart::complete(storage, bucket, &upload, &parts, &condition, &expected).await?;
    Ok(completed(bucket, key, &row))
}

/// CompleteMultipartUpload's answer for the version it made.
fn completed(bucket: &AuthorizedBucket, key: &ObjectKey, row: &ObjectVersion) -> Response {
    let mut w = xml::document("CompleteMultipartUploadResult");
    w.text("Location", &format!("/{}/{key}", bucket.name()))
        .text("Bucket", bucket.name())
        .text("Key", key)
        .text("ETag", &row.etag);
    if let (Some(algorithm), Some(value)) = (row.checksum_algorithm, &row.checksum_value) {
        w.text(&format!("Checksum{algorithm}"), value)
            .text("ChecksumType", ChecksumType::of_value(value).as_str());
    }
    let mut response = xml_response(w.finish());
    version_header(&mut response, bucket, row);
    response
}

pub(super) async fn abort_upload(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
    upload_id: &str,
) -> Result<Response> {
    let upload = multipart::get(storage, bucket, key, upload_id).await?;
    multipart::abort(storage, bucket, &upload).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn list_parts(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
    upload_id: &str,
) -> Result<Response> {
    let upload = multipart::get(storage, bucket, key, upload_id).await?;
    let number = |name: &str, default: i64| -> Result<i64> {
        match request.param(name) {
            None => Ok(default),
            Some(v) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                StorageError::invalid_argument(format!(
                    "Provided {name} not an integer or within integer range"
                ))
            }),
        }
    };
    let after = number("part-number-marker", 0)?.min(10_000) as i32;
    let max = number("max-parts", 1000)?.min(1000);
    let mut parts = multipart::parts(storage, &upload, after, max + 1).await?;
    let truncated = parts.len() as i64 > max;
    parts.truncate(max as usize);
    let mut w = xml::document("ListPartsResult");
    w.text("Bucket", bucket.name())
        .text("Key", key)
        .text("UploadId", upload_id);
    w.owner("Initiator", &upload.account_id)
        .owner("Owner", &upload.account_id);
    w.text("StorageClass", "STANDARD")
        .num("PartNumberMarker", after);
    if let Some(last) = parts.last() {
        w.num("NextPartNumberMarker", last.part_number);
    }
    w.num("MaxParts", max).bool("IsTruncated", truncated);
    if let Some(algorithm) = upload.checksum_algorithm {
        w.text("ChecksumAlgorithm", algorithm.as_str())
            .text("ChecksumType", upload.checksum_type().as_str());
    }
    for part in &parts {
        w.open("Part")
            .num("PartNumber", part.part_number)
            .time("LastModified", part.last_modified)
            .text("ETag", &part.etag())
            .num("Size", part.size);
        if let (Some(algorithm), Some(value)) = (upload.checksum_algorithm, &part.checksum_value) {
            w.text(&format!("Checksum{algorithm}"), value);
        }
        w.close();
    }
    Ok(xml_response(w.finish()))
}

pub(super) async fn list_uploads(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
) -> Result<Response> {
    let url = url_encoding(request)?;
    let prefix = request.param("prefix").unwrap_or("");
    let max = max_keys(request, "max-uploads")?;
    let key_marker = request.param("key-marker").filter(|s| !s.is_empty());
    let id_marker = request.param("upload-id-marker").filter(|s| !s.is_empty());
    let mut uploads = multipart::list_uploads(
        storage,
        bucket,
        prefix,
        key_marker,
        id_marker,
        max as i64 + 1,
    )
    .await?;
    let truncated = uploads.len() > max;
    uploads.truncate(max);
    let mut w = xml::document("ListMultipartUploadsResult");
    w.text("Bucket", bucket.name())
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
            .close();
    }
    Ok(xml_response(w.finish()))
}
