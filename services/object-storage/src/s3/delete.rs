//! DeleteObject and DeleteObjects.

use axum::response::Response;
use http::StatusCode;

use super::request::{check_version_id, malformed_xml, read_document};
use super::response::{empty, set_header, xml_response};
use super::xml;
use super::S3Request;
use crate::buckets::AuthorizedBucket;
use crate::error::Result;
use crate::objects::{self, ObjectKey};
use crate::ObjectStorage;

pub(super) async fn delete_object(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
    key: &ObjectKey,
) -> Result<Response> {
    let deleted = objects::delete(storage, bucket, key, request.param("versionId")).await?;
    let mut response = empty(StatusCode::NO_CONTENT);
    if deleted.delete_marker {
        set_header(&mut response, "x-amz-delete-marker", "true");
    }
    if let Some(version) = &deleted.version_id {
        set_header(&mut response, "x-amz-version-id", version);
    }
    Ok(response)
}

/// DeleteObjects: up to 1000 keys, each answered on its own.
pub(super) async fn delete_objects(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
) -> Result<Response> {
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
    let mut w = xml::document("DeleteResult");
    for (key, version) in targets {
        let outcome = match (
            ObjectKey::new(key.as_str()),
            version.as_deref().map(check_version_id),
        ) {
            (Err(e), _) | (_, Some(Err(e))) => Err(e),
            (Ok(key), _) => objects::delete(storage, bucket, &key, version.as_deref()).await,
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
                w.close();
            }
            Err(e) => {
                w.open("Error").text("Key", &key);
                w.opt("VersionId", version.as_deref());
                // The client's own error, or a generic one: internal details (catalog
                // errors) are logged, never sent.
                let error = e.to_s3(None);
                w.text("Code", &error.code)
                    .text("Message", &error.message)
                    .close();
            }
        }
    }
    Ok(xml_response(w.finish()))
}
