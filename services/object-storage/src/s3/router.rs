//! The S3 router: every request becomes one typed [`Endpoint`] (the operation, its bucket
//! and key, and the parameters that choose it) before any handler runs, and each endpoint
//! says which [`Authorization`] it needs. A method S3 has no operation for on that resource
//! is refused here (`MethodNotAllowed`). An operation Kumo does not implement is an endpoint
//! too (`NotImplemented`), refused only once the caller is authorized: a stranger learns
//! nothing about a bucket from it.

use std::collections::BTreeMap;

use http::{HeaderMap, Method};

use crate::buckets::Access;
use crate::error::{Result, StorageError};
use crate::multipart;
use crate::objects::{self, ObjectKey};

/// One S3 operation on its resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    ListBuckets,
    /// The bucket does not exist yet: the caller's role is checked by `buckets::create`.
    CreateBucket {
        bucket: String,
    },
    Bucket {
        bucket: String,
        op: BucketOp,
    },
    Object {
        bucket: String,
        key: ObjectKey,
        op: ObjectOp,
    },
}

/// What an endpoint needs before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization {
    /// A signed caller, nothing more (ListBuckets, CreateBucket).
    Caller,
    /// The bucket, through `buckets::authorize` with this access.
    Bucket(Access),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketOp {
    Head,
    Delete,
    GetLocation,
    GetVersioning,
    PutVersioning,
    GetTagging,
    PutTagging,
    DeleteTagging,
    GetAcl,
    /// A configuration Kumo never keeps: S3's "not configured" error.
    GetNotConfigured {
        operation: &'static str,
        code: &'static str,
        message: &'static str,
    },
    /// Deleting a configuration Kumo never keeps: nothing to delete.
    DeleteNotConfigured {
        operation: &'static str,
    },
    /// Configurations whose empty (default) document is the truth for Kumo.
    GetAccelerate,
    GetRequestPayment,
    GetLogging,
    GetNotification,
    ListObjects,
    ListObjectsV2,
    ListObjectVersions,
    ListMultipartUploads,
    DeleteObjects,
    /// Refused with `NotImplemented` (naming `what`) once authorized with `access`.
    NotImplemented {
        what: String,
        access: Access,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectOp {
    Put,
    Copy,
    Get,
    Head,
    GetAttributes,
    Delete,
    GetTagging,
    PutTagging,
    DeleteTagging,
    GetAcl,
    CreateMultipartUpload,
    UploadPart {
        upload_id: String,
        part_number: i32,
    },
    UploadPartCopy {
        upload_id: String,
        part_number: i32,
    },
    CompleteMultipartUpload {
        upload_id: String,
    },
    AbortMultipartUpload {
        upload_id: String,
    },
    ListParts {
        upload_id: String,
    },
    /// A sub-resource Kumo does not serve (`?retention`, PutObjectAcl…): `NotImplemented`
    /// once the object is found, never answered with the object itself.
    NotImplemented(String),
}

/// Every S3 operation the router serves, by its AWS name. The conformance harness
/// (`cli/tests/conformance`) reads this list and fails when its scenario misses one; the
/// router's tests check that it is exactly what [`Endpoint::operation`] can answer.
pub const OPERATIONS: &[&str] = &[
    "ListBuckets",
    "CreateBucket",
    "HeadBucket",
    "DeleteBucket",
    "GetBucketLocation",
    "GetBucketVersioning",
    "PutBucketVersioning",
    "GetBucketTagging",
    "PutBucketTagging",
    "DeleteBucketTagging",
    "GetBucketAcl",
    "GetBucketPolicy",
    "GetBucketPolicyStatus",
    "DeleteBucketPolicy",
    "GetBucketCors",
    "DeleteBucketCors",
    "GetBucketWebsite",
    "DeleteBucketWebsite",
    "GetBucketLifecycleConfiguration",
    "DeleteBucketLifecycle",
    "GetBucketReplication",
    "DeleteBucketReplication",
    "GetBucketEncryption",
    "DeleteBucketEncryption",
    "GetObjectLockConfiguration",
    "GetBucketOwnershipControls",
    "DeleteBucketOwnershipControls",
    "GetPublicAccessBlock",
    "DeletePublicAccessBlock",
    "GetBucketAccelerateConfiguration",
    "GetBucketRequestPayment",
    "GetBucketLogging",
    "GetBucketNotificationConfiguration",
    "ListObjects",
    "ListObjectsV2",
    "ListObjectVersions",
    "ListMultipartUploads",
    "DeleteObjects",
    "PutObject",
    "CopyObject",
    "GetObject",
    "HeadObject",
    "GetObjectAttributes",
    "DeleteObject",
    "GetObjectTagging",
    "PutObjectTagging",
    "DeleteObjectTagging",
    "GetObjectAcl",
    "CreateMultipartUpload",
    "UploadPart",
    "UploadPartCopy",
    "CompleteMultipartUpload",
    "AbortMultipartUpload",
    "ListParts",
];

impl Endpoint {
    /// The AWS name of the operation (one of [`OPERATIONS`]), or `NotImplemented`.
    pub fn operation(&self) -> &'static str {
        match self {
            Endpoint::ListBuckets => "ListBuckets",
            Endpoint::CreateBucket { .. } => "CreateBucket",
            Endpoint::Bucket { op, .. } => op.operation(),
            Endpoint::Object { op, .. } => op.operation(),
        }
    }

    pub fn authorization(&self) -> Authorization {
        match self {
            Endpoint::ListBuckets | Endpoint::CreateBucket { .. } => Authorization::Caller,
            Endpoint::Bucket { op, .. } => Authorization::Bucket(op.access()),
            Endpoint::Object { op, .. } => Authorization::Bucket(op.access()),
        }
    }
}

impl BucketOp {
    fn operation(&self) -> &'static str {
        match self {
            BucketOp::Head => "HeadBucket",
            BucketOp::Delete => "DeleteBucket",
            BucketOp::GetLocation => "GetBucketLocation",
            BucketOp::GetVersioning => "GetBucketVersioning",
            BucketOp::PutVersioning => "PutBucketVersioning",
            BucketOp::GetTagging => "GetBucketTagging",
            BucketOp::PutTagging => "PutBucketTagging",
            BucketOp::DeleteTagging => "DeleteBucketTagging",
            BucketOp::GetAcl => "GetBucketAcl",
            BucketOp::GetNotConfigured { operation, .. }
            | BucketOp::DeleteNotConfigured { operation } => operation,
            BucketOp::GetAccelerate => "GetBucketAccelerateConfiguration",
            BucketOp::GetRequestPayment => "GetBucketRequestPayment",
            BucketOp::GetLogging => "GetBucketLogging",
            BucketOp::GetNotification => "GetBucketNotificationConfiguration",
            BucketOp::ListObjects => "ListObjects",
            BucketOp::ListObjectsV2 => "ListObjectsV2",
            BucketOp::ListObjectVersions => "ListObjectVersions",
            BucketOp::ListMultipartUploads => "ListMultipartUploads",
            BucketOp::DeleteObjects => "DeleteObjects",
            BucketOp::NotImplemented { .. } => "NotImplemented",
        }
    }

    pub fn access(&self) -> Access {
        match self {
            BucketOp::Delete
            | BucketOp::PutVersioning
            | BucketOp::PutTagging
            | BucketOp::DeleteTagging
            | BucketOp::DeleteNotConfigured { .. }
            | BucketOp::DeleteObjects => Access::Write,
            BucketOp::NotImplemented { access, .. } => *access,
            _ => Access::Read,
        }
    }
}

impl ObjectOp {
    fn operation(&self) -> &'static str {
        match self {
            ObjectOp::Put => "PutObject",
            ObjectOp::Copy => "CopyObject",
            ObjectOp::Get => "GetObject",
            ObjectOp::Head => "HeadObject",
            ObjectOp::GetAttributes => "GetObjectAttributes",
            ObjectOp::Delete => "DeleteObject",
            ObjectOp::GetTagging => "GetObjectTagging",
            ObjectOp::PutTagging => "PutObjectTagging",
            ObjectOp::DeleteTagging => "DeleteObjectTagging",
            ObjectOp::GetAcl => "GetObjectAcl",
            ObjectOp::CreateMultipartUpload => "CreateMultipartUpload",
            ObjectOp::UploadPart { .. } => "UploadPart",
            ObjectOp::UploadPartCopy { .. } => "UploadPartCopy",
            ObjectOp::CompleteMultipartUpload { .. } => "CompleteMultipartUpload",
            ObjectOp::AbortMultipartUpload { .. } => "AbortMultipartUpload",
            ObjectOp::ListParts { .. } => "ListParts",
            ObjectOp::NotImplemented(_) => "NotImplemented",
        }
    }

    pub fn access(&self) -> Access {
        match self {
            ObjectOp::Get
            | ObjectOp::Head
            | ObjectOp::GetAttributes
            | ObjectOp::GetTagging
            | ObjectOp::GetAcl
            | ObjectOp::ListParts { .. }
            | ObjectOp::NotImplemented(_) => Access::Read,
            _ => Access::Write,
        }
    }
}

/// Object sub-resources Kumo does not serve.
const UNSUPPORTED_OBJECT_SUBRESOURCES: &[&str] =
    &["retention", "legal-hold", "torrent", "restore", "select"];

/// Bucket sub-resources Kumo does not serve (GET).
const UNSUPPORTED_BUCKET_SUBRESOURCES: &[&str] = &[
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

/// A bucket configuration S3 answers "not configured" for until it is set; Kumo never
/// sets one, so GET answers the error and DELETE (where S3 has one) has nothing to delete.
struct Unconfigured {
    subresource: &'static str,
    get: &'static str,
    delete: Option<&'static str>,
    code: &'static str,
    message: &'static str,
}

const UNCONFIGURED: &[Unconfigured] = &[
    Unconfigured {
        subresource: "policy",
        get: "GetBucketPolicy",
        delete: Some("DeleteBucketPolicy"),
        code: "NoSuchBucketPolicy",
        message: "The bucket policy does not exist",
    },
    Unconfigured {
        subresource: "cors",
        get: "GetBucketCors",
        delete: Some("DeleteBucketCors"),
        code: "NoSuchCORSConfiguration",
        message: "The CORS configuration does not exist",
    },
    Unconfigured {
        subresource: "website",
        get: "GetBucketWebsite",
        delete: Some("DeleteBucketWebsite"),
        code: "NoSuchWebsiteConfiguration",
        message: "The specified bucket does not have a website configuration",
    },
    Unconfigured {
        subresource: "lifecycle",
        get: "GetBucketLifecycleConfiguration",
        delete: Some("DeleteBucketLifecycle"),
        code: "NoSuchLifecycleConfiguration",
        message: "The lifecycle configuration does not exist",
    },
    Unconfigured {
        subresource: "replication",
        get: "GetBucketReplication",
        delete: Some("DeleteBucketReplication"),
        code: "ReplicationConfigurationNotFoundError",
        message: "The replication configuration was not found",
    },
    Unconfigured {
        subresource: "encryption",
        get: "GetBucketEncryption",
        delete: Some("DeleteBucketEncryption"),
        code: "ServerSideEncryptionConfigurationNotFoundError",
        message: "The server side encryption configuration was not found",
    },
    Unconfigured {
        subresource: "object-lock",
        get: "GetObjectLockConfiguration",
        delete: None,
        code: "ObjectLockConfigurationNotFoundError",
        message: "Object Lock configuration does not exist for this bucket",
    },
    Unconfigured {
        subresource: "ownershipControls",
        get: "GetBucketOwnershipControls",
        delete: Some("DeleteBucketOwnershipControls"),
        code: "OwnershipControlsNotFoundError",
        message: "The bucket ownership controls were not found",
    },
    Unconfigured {
        subresource: "publicAccessBlock",
        get: "GetPublicAccessBlock",
        delete: Some("DeletePublicAccessBlock"),
        code: "NoSuchPublicAccessBlockConfiguration",
        message: "The public access block configuration was not found",
    },
    Unconfigured {
        subresource: "policyStatus",
        get: "GetBucketPolicyStatus",
        delete: None,
        code: "NoSuchBucketPolicy",
        message: "The bucket policy does not exist",
    },
];

/// The unconfigured configuration a query names, if any.
fn unconfigured(query: &BTreeMap<String, String>) -> Option<&'static Unconfigured> {
    UNCONFIGURED
        .iter()
        .find(|c| query.contains_key(c.subresource))
}

/// The endpoint of a request: its method, the bucket and key of its path, its query
/// (already decoded and checked by `request::parse_query`) and headers.
pub fn parse(
    method: &Method,
    bucket: Option<String>,
    key: Option<ObjectKey>,
    query: &BTreeMap<String, String>,
    headers: &HeaderMap,
) -> Result<Endpoint> {
    let has = |name: &str| query.contains_key(name);
    let Some(bucket) = bucket else {
        return match *method {
            Method::GET => Ok(Endpoint::ListBuckets),
            _ => Err(objects::method_not_allowed()),
        };
    };
    let Some(key) = key else {
        if *method == Method::PUT && only_harmless(query) {
            return Ok(Endpoint::CreateBucket { bucket });
        }
        let op = bucket_op(method, query)?;
        return Ok(Endpoint::Bucket { bucket, op });
    };
    let copy = headers.contains_key("x-amz-copy-source");
    let upload_id = || query.get("uploadId").cloned().unwrap_or_default();
    let op = match *method {
        // First, for every method: a PUT ?retention must not store its body as the object.
        _ if UNSUPPORTED_OBJECT_SUBRESOURCES.iter().any(|r| has(r)) => {
            let name = UNSUPPORTED_OBJECT_SUBRESOURCES
                .iter()
                .find(|r| has(r))
                .copied()
                .unwrap_or_default();
            ObjectOp::NotImplemented(format!("?{name}"))
        }
        Method::PUT if has("tagging") => ObjectOp::PutTagging,
        Method::PUT if has("uploadId") || has("partNumber") => {
            let (upload_id, part_number) = part_params(query)?;
            if copy {
                ObjectOp::UploadPartCopy {
                    upload_id,
                    part_number,
                }
            } else {
                ObjectOp::UploadPart {
                    upload_id,
                    part_number,
                }
            }
        }
        Method::PUT if copy => ObjectOp::Copy,
        Method::PUT if has("acl") => ObjectOp::NotImplemented("PutObjectAcl".into()),
        Method::PUT => ObjectOp::Put,
        Method::GET if has("attributes") => ObjectOp::GetAttributes,
        Method::GET if has("tagging") => ObjectOp::GetTagging,
        Method::GET if has("uploadId") => ObjectOp::ListParts {
            upload_id: upload_id(),
        },
        Method::GET if has("acl") => ObjectOp::GetAcl,
        Method::GET => ObjectOp::Get,
        Method::HEAD => ObjectOp::Head,
        Method::DELETE if has("tagging") => ObjectOp::DeleteTagging,
        Method::DELETE if has("uploadId") => ObjectOp::AbortMultipartUpload {
            upload_id: upload_id(),
        },
        Method::DELETE => ObjectOp::Delete,
        Method::POST if has("uploads") => ObjectOp::CreateMultipartUpload,
        Method::POST if has("uploadId") => ObjectOp::CompleteMultipartUpload {
            upload_id: upload_id(),
        },
        _ => return Err(objects::method_not_allowed()),
    };
    Ok(Endpoint::Object { bucket, key, op })
}

/// Query parameters SDKs add that change nothing (`x-id=…`).
fn only_harmless(query: &BTreeMap<String, String>) -> bool {
    query.keys().all(|k| k == "x-id")
}

fn bucket_op(method: &Method, query: &BTreeMap<String, String>) -> Result<BucketOp> {
    let has = |name: &str| query.contains_key(name);
    Ok(match *method {
        Method::HEAD => BucketOp::Head,
        Method::DELETE if has("tagging") => BucketOp::DeleteTagging,
        Method::DELETE if only_harmless(query) => BucketOp::Delete,
        Method::POST if has("delete") => BucketOp::DeleteObjects,
        Method::GET => get_bucket_op(query),
        Method::PUT if has("versioning") => BucketOp::PutVersioning,
        Method::PUT if has("tagging") => BucketOp::PutTagging,
        Method::PUT => BucketOp::NotImplemented {
            what: format!("PUT ?{}", query.keys().next().cloned().unwrap_or_default()),
            access: Access::Write,
        },
        // A configuration Kumo never keeps has nothing to delete; anything else is not a
        // delete Kumo knows: never answer it as done.
        Method::DELETE => match unconfigured(query).and_then(|c| c.delete) {
            Some(operation) => BucketOp::DeleteNotConfigured { operation },
            None => BucketOp::NotImplemented {
                what: format!(
                    "DELETE ?{}",
                    query
                        .keys()
                        .find(|k| *k != "x-id")
                        .cloned()
                        .unwrap_or_default()
                ),
                access: Access::Write,
            },
        },
        _ => return Err(objects::method_not_allowed()),
    })
}

fn get_bucket_op(query: &BTreeMap<String, String>) -> BucketOp {
    let has = |name: &str| query.contains_key(name);
    if has("location") {
        return BucketOp::GetLocation;
    }
    if has("versioning") {
        return BucketOp::GetVersioning;
    }
    if has("tagging") {
        return BucketOp::GetTagging;
    }
    if has("acl") {
        return BucketOp::GetAcl;
    }
    if let Some(configuration) = unconfigured(query) {
        return BucketOp::GetNotConfigured {
            operation: configuration.get,
            code: configuration.code,
            message: configuration.message,
        };
    }
    if has("accelerate") {
        return BucketOp::GetAccelerate;
    }
    if has("requestPayment") {
        return BucketOp::GetRequestPayment;
    }
    if has("logging") {
        return BucketOp::GetLogging;
    }
    if has("notification") {
        return BucketOp::GetNotification;
    }
    if has("versions") {
        return BucketOp::ListObjectVersions;
    }
    if has("uploads") {
        return BucketOp::ListMultipartUploads;
    }
    if let Some(other) = query
        .keys()
        .find(|k| UNSUPPORTED_BUCKET_SUBRESOURCES.contains(&k.as_str()))
    {
        return BucketOp::NotImplemented {
            what: other.clone(),
            access: Access::Read,
        };
    }
    if query.get("list-type").map(String::as_str) == Some("2") {
        BucketOp::ListObjectsV2
    } else {
        BucketOp::ListObjects
    }
}

/// UploadPart's `uploadId` and `partNumber`, both required.
fn part_params(query: &BTreeMap<String, String>) -> Result<(String, i32)> {
    let upload_id = query
        .get("uploadId")
        .ok_or_else(|| StorageError::invalid_argument("uploadId is required"))?
        .clone();
    let number = query
        .get("partNumber")
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| {
            StorageError::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive",
            )
        })?;
    Ok((upload_id, multipart::validate_part_number(number)?))
}

#[cfg(test)]
mod tests;
