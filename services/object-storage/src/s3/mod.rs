//! The S3 REST facade: path-style (`/bucket/key`) and virtual-host-style
//! (`bucket.<suffix>/key`) requests. Each request is parsed ([`request`]) and routed to a
//! typed [`router::Endpoint`], the bucket is authorized as the endpoint says
//! ([`crate::buckets::authorize`]), then one handler runs: one file per concern (`put`,
//! `get`, `copy`, `delete`, `tagging`, `multipart`, `list`, `bucket`, `acl`). Responses and
//! errors are S3's XML.

mod acl;
pub mod body;
mod bucket;
pub mod chunked;
mod copy;
mod delete;
mod get;
mod list;
mod multipart;
mod put;
pub mod request;
pub mod response;
pub mod router;
mod tagging;
pub mod xml;

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, Method, StatusCode};
use kumo_auth::{Principal, SigV4Context};

pub use put::MAX_PUT_BYTES;
pub use request::{
    bucket_from_host, check_param, check_version_id, decode_component, invalid_uri, parse_query,
    refuse_unsupported, split_path, S3Request,
};
pub use response::{empty, encode_key, set_header, xml_response};

use crate::buckets;
use crate::error::{Result, StorageError};
use crate::objects::ObjectKey;
use crate::ObjectStorage;
use router::{BucketOp, Endpoint, ObjectOp};

/// Serve one S3 request.
pub async fn handle(
    storage: &ObjectStorage,
    principal: Option<Principal>,
    context: Option<SigV4Context>,
    request: http::Request<Body>,
) -> Response {
    let (parts, body) = request.into_parts();
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host())
        .unwrap_or("")
        .to_string();
    let host_bucket = bucket_from_host(&host, &storage.config.virtual_host_suffixes);
    let path = parts.uri.path();
    let parsed = split_path(path, host_bucket)
        .and_then(|(bucket, key)| Ok((bucket, key, parse_query(parts.uri.query())?)));
    let (bucket, key, query) = match parsed {
        Ok(parsed) => parsed,
        // The raw path names the resource: it is what the client sent, and escaped as is.
        Err(e) => return e.into_s3_response(Some(path)),
    };
    let resource = match (&bucket, &key) {
        (Some(b), Some(k)) => format!("/{b}/{k}"),
        (Some(b), None) => format!("/{b}"),
        _ => "/".into(),
    };
    let Some(principal) = principal else {
        // Every bucket is private: anonymous requests are refused as S3 refuses them.
        return StorageError::AccessDenied.into_s3_response(Some(&resource));
    };
    if let Some(context) = &context {
        if context.service != "s3" {
            return StorageError::S3(
                StatusCode::BAD_REQUEST,
                "AuthorizationHeaderMalformed",
                format!(
                    "The authorization header is malformed; the service '{}' is wrong; expecting 's3'",
                    context.service
                ),
            )
            .into_s3_response(Some(&resource));
        }
    }
    let names_bucket = bucket.is_some();
    let request = S3Request {
        method: parts.method,
        resource: resource.clone(),
        query,
        headers: parts.headers,
        principal,
        context,
        body: std::sync::Mutex::new(Some(body)),
    };
    let is_head = request.method == Method::HEAD;
    let result = match refuse_unsupported(&request).and_then(|()| {
        router::parse(
            &request.method,
            bucket,
            key,
            &request.query,
            &request.headers,
        )
    }) {
        Ok(endpoint) => dispatch(storage, &request, endpoint).await,
        Err(e) => Err(e),
    };
    let mut response = match result {
        Ok(response) => response,
        Err(e) => {
            let mut response = e.to_s3(Some(&resource));
            if is_head {
                // HEAD errors have no body; S3 still says which error in headers.
                response.message.clear();
            }
            response.into_response_as(kumo_common::AwsErrorFormat::S3)
        }
    };
    if let (true, Ok(region)) = (names_bucket, HeaderValue::from_str(&storage.config.region)) {
        response
            .headers_mut()
            .entry("x-amz-bucket-region")
            .or_insert(region);
    }
    response
}

/// Authorize the endpoint's bucket as the endpoint says, then run its handler.
async fn dispatch(
    storage: &ObjectStorage,
    request: &S3Request,
    endpoint: Endpoint,
) -> Result<Response> {
    match endpoint {
        Endpoint::ListBuckets => list::list_buckets(storage, request).await,
        Endpoint::CreateBucket { bucket } => bucket::create(storage, request, &bucket).await,
        Endpoint::Bucket { bucket, op } => {
            let bucket =
                buckets::authorize(storage, &request.principal, &bucket, op.access()).await?;
            bucket_operation(storage, request, bucket, op).await
        }
        Endpoint::Object { bucket, key, op } => {
            let bucket =
                buckets::authorize(storage, &request.principal, &bucket, op.access()).await?;
            object_operation(storage, request, &bucket, &key, op).await
        }
    }
}

async fn bucket_operation(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: buckets::AuthorizedBucket,
    op: BucketOp,
) -> Result<Response> {
    match op {
        BucketOp::Head => Ok(empty(StatusCode::OK)),
        BucketOp::Delete => bucket::delete(storage, bucket).await,
        BucketOp::GetLocation => Ok(bucket::location(&bucket)),
        BucketOp::GetVersioning => Ok(bucket::versioning(&bucket)),
        BucketOp::PutVersioning => bucket::put_versioning(storage, request, &bucket).await,
        BucketOp::GetTagging => tagging::get_bucket_tagging(&bucket),
        BucketOp::PutTagging => tagging::put_bucket_tagging(storage, request, &bucket).await,
        BucketOp::DeleteTagging => tagging::delete_bucket_tagging(storage, &bucket).await,
        BucketOp::GetAcl => Ok(acl::owner_full_control(&bucket)),
        BucketOp::GetNotConfigured { code, message, .. } => Err(StorageError::S3(
            StatusCode::NOT_FOUND,
            code,
            message.into(),
        )),
        // Deleting a configuration Kumo does not keep: there is nothing to delete.
        BucketOp::DeleteNotConfigured { .. } => Ok(empty(StatusCode::NO_CONTENT)),
        BucketOp::GetAccelerate => Ok(bucket::empty_configuration("AccelerateConfiguration")),
        BucketOp::GetRequestPayment => Ok(bucket::request_payment()),
        BucketOp::GetLogging => Ok(bucket::empty_configuration("BucketLoggingStatus")),
        BucketOp::GetNotification => Ok(bucket::empty_configuration("NotificationConfiguration")),
        BucketOp::ListObjects => list::list_objects(storage, request, &bucket, false).await,
        BucketOp::ListObjectsV2 => list::list_objects(storage, request, &bucket, true).await,
        BucketOp::ListObjectVersions => list::list_versions(storage, request, &bucket).await,
        BucketOp::ListMultipartUploads => multipart::list_uploads(storage, request, &bucket).await,
        BucketOp::DeleteObjects => delete::delete_objects(storage, request, &bucket).await,
        BucketOp::NotImplemented { what, .. } => Err(StorageError::not_implemented(&what)),
    }
}

async fn object_operation(
    storage: &ObjectStorage,
    request: &S3Request,
    bucket: &buckets::AuthorizedBucket,
    key: &ObjectKey,
    op: ObjectOp,
) -> Result<Response> {
    match op {
        ObjectOp::Put => put::put_object(storage, request, bucket, key).await,
        ObjectOp::Copy => copy::copy_object(storage, request, bucket, key).await,
        ObjectOp::Get | ObjectOp::Head => get::get_object(storage, request, bucket, key).await,
        ObjectOp::GetAttributes => get::get_attributes(storage, request, bucket, key).await,
        ObjectOp::Delete => delete::delete_object(storage, request, bucket, key).await,
        ObjectOp::GetTagging => tagging::get_tagging(storage, request, bucket, key).await,
        ObjectOp::PutTagging => tagging::put_tagging(storage, request, bucket, key).await,
        ObjectOp::DeleteTagging => tagging::delete_tagging(storage, request, bucket, key).await,
        ObjectOp::GetAcl => {
            get::get_readable(storage, request, bucket, key).await?;
            Ok(acl::owner_full_control(bucket))
        }
        ObjectOp::CreateMultipartUpload => {
            multipart::create_upload(storage, request, bucket, key).await
        }
        ObjectOp::UploadPart {
            upload_id,
            part_number,
        } => multipart::upload_part(storage, request, bucket, key, &upload_id, part_number).await,
        ObjectOp::UploadPartCopy {
            upload_id,
            part_number,
        } => {
            multipart::upload_part_copy(storage, request, bucket, key, &upload_id, part_number)
                .await
        }
        ObjectOp::CompleteMultipartUpload { upload_id } => {
            multipart::complete_upload(storage, request, bucket, key, &upload_id).await
        }
        ObjectOp::AbortMultipartUpload { upload_id } => {
            multipart::abort_upload(storage, bucket, key, &upload_id).await
        }
        ObjectOp::ListParts { upload_id } => {
            multipart::list_parts(storage, request, bucket, key, &upload_id).await
        }
        ObjectOp::NotImplemented(what) => {
            // The object must exist: a missing one is NoSuchKey, as for any read.
            get::get_readable(storage, request, bucket, key).await?;
            Err(StorageError::not_implemented(&what))
        }
    }
}

/// The gateway spawns `handle` on a multi-threaded runtime: it must stay `Send`.
#[allow(dead_code)]
fn assert_handle_is_send(storage: &ObjectStorage, request: http::Request<Body>) {
    fn is_send<T: Send>(_: T) {}
    is_send(handle(storage, None, None, request));
}
