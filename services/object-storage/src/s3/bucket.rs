//! Bucket-level operations: create, head, delete, location, versioning, tags, the ACL, and
//! the configuration sub-resources Terraform reads (answered with S3's "not configured"
//! errors).

use axum::response::Response;
use http::StatusCode;

use super::request::{malformed_xml, read_document, read_small_body};
use super::response::{empty, set_header, xml_response};
use super::xml::{self, XmlWriter};
use super::S3Request;
use crate::buckets;
use crate::error::{Result, StorageError};
use crate::ObjectStorage;

/// Sub-resources S3 answers with "not configured" until set; Kumo never configures them.
pub(super) fn not_configured(name: &str) -> Option<(&'static str, &'static str)> {
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

pub(super) async fn create(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
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
    set_header(&mut response, "location", &format!("/{name}"));
    Ok(response)
}

pub(super) async fn get(
    storage: &ObjectStorage,
    request: S3Request,
    name: &str,
) -> Result<Response> {
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
        return super::list::list_versions(storage, &request, name).await;
    }
    if request.has("uploads") {
        return super::multipart::list_uploads(storage, &request, name).await;
    }
    if let Some(other) = request
        .query
        .keys()
        .find(|k| UNSUPPORTED_SUBRESOURCES.contains(&k.as_str()))
    {
        return Err(StorageError::not_implemented(other));
    }
    if request.param("list-type") == Some("2") {
        super::list::list_objects(storage, &request, name, true).await
    } else {
        super::list::list_objects(storage, &request, name, false).await
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

pub(super) async fn put_subresource(
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
