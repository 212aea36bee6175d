//! Bucket-level operations: create, delete, location, versioning, and the configurations
//! whose empty document is the truth for Kumo (accelerate, request payment, logging,
//! notifications).

use axum::response::Response;
use http::StatusCode;

use super::request::{malformed_xml, read_document, read_small_body};
use super::response::{empty, set_header, xml_response};
use super::xml;
use super::S3Request;
use crate::buckets::{self, AuthorizedBucket, Versioning};
use crate::error::{Result, StorageError};
use crate::ObjectStorage;

/// CreateBucket, with an optional `CreateBucketConfiguration` (its `LocationConstraint`).
pub(super) async fn create(
    storage: &ObjectStorage,
    request: &S3Request,
    name: &str,
) -> Result<Response> {
    let body = read_small_body(request.take_body()).await?;
    let constraint = if body.trim().is_empty() {
        None
    } else {
        if !xml::well_formed(&body, "CreateBucketConfiguration") {
            return Err(malformed_xml());
        }
        xml::first_token(&body, "LocationConstraint")
    };
    buckets::create(storage, &request.principal, name, constraint.as_deref()).await?;
    let mut response = empty(StatusCode::OK);
    set_header(&mut response, "location", &format!("/{name}"));
    Ok(response)
}

pub(super) async fn delete(storage: &ObjectStorage, bucket: AuthorizedBucket) -> Result<Response> {
    buckets::delete(storage, bucket).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// GetBucketLocation: the region as the root's text; us-east-1 is the empty constraint.
pub(super) fn location(bucket: &AuthorizedBucket) -> Response {
    let mut w = xml::document("LocationConstraint");
    if bucket.region != "us-east-1" {
        w.content(&bucket.region);
    }
    xml_response(w.finish())
}

pub(super) fn versioning(bucket: &AuthorizedBucket) -> Response {
    let mut w = xml::document("VersioningConfiguration");
    if let Some(status) = bucket.versioning.status() {
        w.text("Status", status);
    }
    xml_response(w.finish())
}

pub(super) async fn put_versioning(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &AuthorizedBucket,
) -> Result<Response> {
    let body = read_document(request.take_body(), "VersioningConfiguration").await?;
    let status = xml::first_token(&body, "Status").ok_or_else(malformed_xml)?;
    if xml::first_token(&body, "MfaDelete").is_some_and(|m| m != "Disabled") {
        return Err(StorageError::not_implemented("MFA delete (MfaDelete)"));
    }
    let versioning = Versioning::from_status(&status).ok_or_else(malformed_xml)?;
    buckets::set_versioning(storage, bucket, versioning).await?;
    Ok(empty(StatusCode::OK))
}

/// A configuration document with nothing in it: what S3 answers for a bucket that never
/// configured it.
pub(super) fn empty_configuration(root: &str) -> Response {
    xml_response(xml::document(root).finish())
}

pub(super) fn request_payment() -> Response {
    let mut w = xml::document("RequestPaymentConfiguration");
    w.text("Payer", "BucketOwner");
    xml_response(w.finish())
}
