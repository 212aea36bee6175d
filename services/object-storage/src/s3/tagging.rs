//! Object tags (GetObjectTagging, PutObjectTagging, DeleteObjectTagging).

use axum::response::Response;
use http::StatusCode;

use super::get::get_readable;
use super::request::read_document;
use super::response::{empty, set_header, xml_response};
use super::xml;
use super::S3Request;
use crate::buckets;
use crate::error::Result;
use crate::objects;
use crate::ObjectStorage;

pub(super) async fn get_tagging(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let (_, version) = get_readable(storage, &request).await?;
    if version.delete_marker {
        return Err(objects::method_not_allowed());
    }
    let tags = version.tags.map(|t| t.0).unwrap_or_default();
    let mut response = xml_response(xml::write_tagging(&tags));
    if version.version_id != objects::NULL_VERSION {
        set_header(&mut response, "x-amz-version-id", &version.version_id);
    }
    Ok(response)
}

pub(super) async fn put_tagging(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let bucket = buckets::writable(storage, &request.principal, request.bucket()?).await?;
    let key = request.key()?.to_string();
    let version_id = request.param("versionId").map(str::to_string);
    let body = read_document(request.take_body(), "Tagging").await?;
    let tags = xml::parse_tagging(&body);
    let target = objects::set_tags(
        storage,
        &bucket.name,
        &key,
        version_id.as_deref(),
        Some(tags),
    )
    .await?;
    let mut response = empty(StatusCode::OK);
    if target.version_id != objects::NULL_VERSION {
        set_header(&mut response, "x-amz-version-id", &target.version_id);
    }
    Ok(response)
}

pub(super) async fn delete_tagging(
    storage: &ObjectStorage,
    request: S3Request,
) -> Result<Response> {
    let bucket = buckets::writable(storage, &request.principal, request.bucket()?).await?;
    let target = objects::set_tags(
        storage,
        &bucket.name,
        request.key()?,
        request.param("versionId"),
        None,
    )
    .await?;
    let mut response = empty(StatusCode::NO_CONTENT);
    if target.version_id != objects::NULL_VERSION {
        set_header(&mut response, "x-amz-version-id", &target.version_id);
    }
    Ok(response)
}
