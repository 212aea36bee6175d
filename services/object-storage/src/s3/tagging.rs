//! Tags: of objects (Get/Put/DeleteObjectTagging) and of buckets (Get/Put/DeleteBucketTagging).

use axum::response::Response;
use http::StatusCode;

use super::get::get_readable;
use super::request::read_document;
use super::response::{empty, set_header, xml_response};
use super::xml;
use super::S3Request;
use crate::buckets::{self, AuthorizedBucket};
use crate::error::{Result, StorageError};
use crate::objects::{self, ObjectKey, ObjectVersion};
use crate::ObjectStorage;

pub(super) async fn get_tagging(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
    let version = get_readable(storage, request, bucket, key).await?;
    if version.delete_marker {
        return Err(objects::method_not_allowed());
    }
    let tags = version
        .tags
        .as_ref()
        .map(|t| t.0.as_slice())
        .unwrap_or_default();
    let mut response = xml_response(xml::write_tagging(tags));
    version_id_header(&mut response, &version);
    Ok(response)
}

pub(super) async fn put_tagging(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
    let body = read_document(request.take_body(), "Tagging").await?;
    let tags = xml::parse_tagging(&body);
    let target =
        objects::set_tags(storage, bucket, key, request.param("versionId"), Some(tags)).await?;
    let mut response = empty(StatusCode::OK);
    version_id_header(&mut response, &target);
    Ok(response)
}

pub(super) async fn delete_tagging(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
    let target = objects::set_tags(storage, bucket, key, request.param("versionId"), None).await?;
    let mut response = empty(StatusCode::NO_CONTENT);
    version_id_header(&mut response, &target);
    Ok(response)
}

/// Tagging answers name the version they touched, unless it is the `null` version.
fn version_id_header(response: &mut Response, version: &ObjectVersion) {
    if version.version_id != objects::NULL_VERSION {
        set_header(response, "x-amz-version-id", &version.version_id);
    }
}

pub(super) fn get_bucket_tagging(bucket: &AuthorizedBucket) -> Result<Response> {
    match &bucket.tags {
        Some(tags) => Ok(xml_response(xml::write_tagging(&tags.0))),
        None => Err(StorageError::S3(
            StatusCode::NOT_FOUND,
            "NoSuchTagSet",
            "The TagSet does not exist".into(),
        )),
    }
}

pub(super) async fn put_bucket_tagging(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
) -> Result<Response> {
    let body = read_document(request.take_body(), "Tagging").await?;
    let tags = xml::parse_tagging(&body);
    buckets::set_tags(storage, bucket, Some(tags)).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn delete_bucket_tagging(
    storage: &ObjectStorage,
    bucket: &AuthorizedBucket,
) -> Result<Response> {
    buckets::set_tags(storage, bucket, None).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
