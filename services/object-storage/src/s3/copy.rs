//! CopyObject, and the copy source UploadPartCopy shares with it.

use axum::response::Response;

use super::get::check_conditions;
use super::put::version_template;
use super::response::{set_header, version_header, xml_response};
use super::xml;
use super::S3Request;
use crate::buckets::{self, Access, AuthorizedBucket};
use crate::error::{Result, StorageError};
use crate::objects::{self, precondition_failed, NewVersion, ObjectKey, ObjectVersion};
use crate::ObjectStorage;

/// `x-amz-metadata-directive` / `x-amz-tagging-directive`: `COPY` (the default) or
/// `REPLACE`; anything else is refused, not taken for `COPY`.
pub(super) fn replace_directive(request: &S3Request, header: &str) -> Result<bool> {
    match request.headers.get(header).map(|v| v.as_bytes()) {
        None | Some(b"COPY") => Ok(false),
        Some(b"REPLACE") => Ok(true),
        Some(_) => Err(StorageError::invalid_argument(format!(
            "Unknown {header} value; expected COPY or REPLACE"
        ))),
    }
}

/// The version `x-amz-copy-source: /bucket/key?versionId=…` names (leading slash optional,
/// URL-encoded), its bucket authorized for reading like any GetObject's.
pub(super) async fn copy_source(
    storage: &ObjectStorage,
    request: &S3Request,
) -> Result<ObjectVersion> {
    let (bucket, key, version) = parse_copy_source(
        request
            .headers
            .get("x-amz-copy-source")
            .map(|v| v.as_bytes())
            .unwrap_or_default(),
    )?;
    let source_bucket =
        buckets::authorize(storage, &request.principal, &bucket, Access::Read).await?;
    let source = objects::get(storage, &source_bucket, &key, version.as_deref()).await?;
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
    Ok(source)
}

/// A copy's answer names the source version it read, unless it is the `null` version.
pub(super) fn copy_source_version_header(response: &mut Response, source: &ObjectVersion) {
    if source.version_id != objects::NULL_VERSION {
        set_header(response, "x-amz-copy-source-version-id", &source.version_id);
    }
}

/// `x-amz-copy-source: [/]bucket/key[?versionId=id]`, the bucket and key URL-encoded:
/// decoded strictly (`InvalidArgument` for bytes that are not UTF-8), the key checked as an
/// [`ObjectKey`], the version id as every version id is.
pub(super) fn parse_copy_source(raw: &[u8]) -> Result<(String, ObjectKey, Option<String>)> {
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

pub(super) async fn copy_object(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
    let source = copy_source(storage, request).await?;
    let replace = replace_directive(request, "x-amz-metadata-directive")?;
    let replace_tags = replace_directive(request, "x-amz-tagging-directive")?;
    let template = version_template(&request.headers)?;
    if !replace
        && source.bucket == bucket.name
        && source.key == key.as_str()
        && !replace_tags
        && !bucket.ever_versioned()
    {
        return Err(StorageError::invalid_request("This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."));
    }
    let mut version = NewVersion {
        size: source.size as u64,
        etag: source.etag.clone(),
        checksum_algorithm: source.checksum_algorithm,
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
    let row = objects::copy(storage, bucket, key, &source, version).await?;
    let mut w = xml::document("CopyObjectResult");
    w.time("LastModified", row.last_modified)
        .text("ETag", &row.etag);
    let mut response = xml_response(w.finish());
    version_header(&mut response, bucket, &row);
    copy_source_version_header(&mut response, &source);
    Ok(response)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
}
