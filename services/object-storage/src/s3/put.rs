//! PutObject, and what every write takes from its headers (content type, stored headers,
//! user metadata, `x-amz-tagging`).

use axum::response::Response;
use http::{HeaderMap, StatusCode};

use super::response::{checksum_headers, empty, set_header, version_header};
use super::S3Request;
use crate::buckets::AuthorizedBucket;
use crate::error::{Result, StorageError};
use crate::objects::{self, NewVersion, ObjectKey};
use crate::write;
use crate::ObjectStorage;

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

/// Content-Type, the stored headers, `x-amz-meta-*` and `x-amz-tagging` of a write.
pub(super) fn version_template(headers: &HeaderMap) -> Result<NewVersion> {
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
pub(super) fn parse_tagging_header(value: &[u8]) -> Result<Vec<(String, String)>> {
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

pub(super) async fn put_object(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
    let template = version_template(&request.headers)?;
    // Conditional write: `If-None-Match: *` refuses to overwrite an existing object,
    // `If-Match` to replace anything but the named version.
    let condition = objects::WriteCondition::from_headers(
        request.header("if-none-match"),
        request.header("if-match"),
    )?;
    // The bucket was authorized first: a refusal leaves the body unread (to be drained),
    // not half-stored.
    let incoming = super::body::incoming(
        &request.headers,
        request.context.as_ref(),
        || request.take_body(),
        MAX_PUT_BYTES,
        None,
    )?;
    let written = write::write_object(storage, incoming.stream, incoming.verifier).await?;
    let row = objects::commit_written(storage, bucket, key, &written, template, &condition).await?;
    let mut response = empty(StatusCode::OK);
    set_header(&mut response, "etag", &row.etag);
    version_header(&mut response, bucket, &row);
    if let (Some(algorithm), Some(value)) = (row.checksum_algorithm, &row.checksum_value) {
        checksum_headers(&mut response, algorithm, value);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
