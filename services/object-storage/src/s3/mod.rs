//! The S3 REST facade: path-style (`/bucket/key`) and virtual-host-style
//! (`bucket.<suffix>/key`) requests, routed by method, bucket, key and sub-resource to the
//! handlers (one file per concern); responses and errors in S3's XML.

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
use crate::objects;
use crate::ObjectStorage;
use xml::XmlWriter;

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
    let request = S3Request {
        method: parts.method,
        bucket,
        key,
        query,
        headers: parts.headers,
        principal,
        context,
        body: std::sync::Mutex::new(Some(body)),
    };
    let is_head = request.method == Method::HEAD;
    let bucket_name = request.bucket.clone();
    let result = match refuse_unsupported(&request) {
        Ok(()) => route(storage, request).await,
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
    if let (Some(_), Ok(region)) = (bucket_name, HeaderValue::from_str(&storage.config.region)) {
        response
            .headers_mut()
            .entry("x-amz-bucket-region")
            .or_insert(region);
    }
    response
}

async fn route(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    match (&request.bucket, &request.key) {
        (None, _) => match request.method {
            Method::GET => list::list_buckets(storage, &request).await,
            _ => Err(crate::objects::method_not_allowed()),
        },
        (Some(_), None) => route_bucket(storage, request).await,
        (Some(_), Some(_)) => route_object(storage, request).await,
    }
}

async fn route_object(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    match request.method {
        // First, for every method: a PUT ?retention must not store its body as the object.
        _ if UNSUPPORTED_SUBRESOURCES.iter().any(|r| request.has(r)) => {
            get::get_readable(storage, &request).await?;
            let name = UNSUPPORTED_SUBRESOURCES
                .iter()
                .find(|r| request.has(r))
                .copied()
                .unwrap_or_default();
            Err(StorageError::not_implemented(&format!("?{name}")))
        }
        Method::PUT if request.has("tagging") => tagging::put_tagging(storage, request).await,
        Method::PUT if request.has("uploadId") || request.has("partNumber") => {
            multipart::upload_part(storage, request).await
        }
        Method::PUT if request.headers.contains_key("x-amz-copy-source") => {
            copy::copy_object(storage, request).await
        }
        Method::PUT if request.has("acl") => {
            get::get_readable(storage, &request).await?;
            Err(StorageError::not_implemented("PutObjectAcl"))
        }
        Method::PUT => put::put_object(storage, request).await,
        Method::GET if request.has("attributes") => get::get_attributes(storage, request).await,
        Method::GET if request.has("tagging") => tagging::get_tagging(storage, request).await,
        Method::GET if request.has("uploadId") => multipart::list_parts(storage, request).await,
        Method::GET if request.has("acl") => {
            let (bucket, _) = get::get_readable(storage, &request).await?;
            let mut w = XmlWriter::new("AccessControlPolicy");
            w.owner("Owner", &bucket.account_id);
            w.open("AccessControlList").open("Grant");
            w.raw("<Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">");
            w.text("ID", &xml::canonical_user_id(&bucket.account_id))
                .text("DisplayName", &bucket.account_id)
                .close("Grantee");
            w.text("Permission", "FULL_CONTROL")
                .close("Grant")
                .close("AccessControlList");
            Ok(xml_response(w.finish("AccessControlPolicy")))
        }
        Method::GET | Method::HEAD => get::get_object(storage, request).await,
        Method::DELETE if request.has("tagging") => tagging::delete_tagging(storage, request).await,
        Method::DELETE if request.has("uploadId") => {
            multipart::abort_upload(storage, request).await
        }
        Method::DELETE => delete::delete_object(storage, request).await,
        Method::POST if request.has("uploads") => multipart::create_upload(storage, request).await,
        Method::POST if request.has("uploadId") => {
            multipart::complete_upload(storage, request).await
        }
        _ => Err(objects::method_not_allowed()),
    }
}

/// Object sub-resources Kumo does not serve: answered `NotImplemented`, never with the
/// object itself.
const UNSUPPORTED_SUBRESOURCES: &[&str] =
    &["retention", "legal-hold", "torrent", "restore", "select"];

async fn route_bucket(storage: &ObjectStorage, request: S3Request) -> Result<Response> {
    let name = request.bucket()?.to_string();
    match request.method {
        Method::PUT if request.query.is_empty() || only_harmless(&request) => {
            bucket::create(storage, request).await
        }
        Method::HEAD => {
            buckets::owned(storage, &request.principal, &name).await?;
            Ok(empty(StatusCode::OK))
        }
        Method::DELETE if request.has("tagging") => {
            buckets::set_tags(storage, &request.principal, &name, None).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Method::DELETE if only_harmless(&request) => {
            buckets::delete(storage, &request.principal, &name).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Method::POST if request.has("delete") => delete::delete_objects(storage, request).await,
        Method::GET => bucket::get(storage, request, &name).await,
        Method::PUT => bucket::put_subresource(storage, request, &name).await,
        Method::DELETE
            if request
                .query
                .keys()
                .any(|k| bucket::not_configured(k).is_some()) =>
        {
            buckets::writable(storage, &request.principal, &name).await?;
            // Deleting a configuration Kumo does not keep: there is nothing to delete.
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Method::DELETE => {
            buckets::writable(storage, &request.principal, &name).await?;
            // Anything else is not a delete Kumo knows: never answer it as done.
            let what = request
                .query
                .keys()
                .find(|k| *k != "x-id")
                .cloned()
                .unwrap_or_default();
            Err(StorageError::not_implemented(&format!("DELETE ?{what}")))
        }
        _ => Err(objects::method_not_allowed()),
    }
}

/// Query parameters SDKs add that change nothing (`x-id=…`).
fn only_harmless(request: &S3Request) -> bool {
    request.query.keys().all(|k| k == "x-id")
}

/// The gateway spawns `handle` on a multi-threaded runtime: it must stay `Send`.
#[allow(dead_code)]
fn assert_handle_is_send(storage: &ObjectStorage, request: http::Request<Body>) {
    fn is_send<T: Send>(_: T) {}
    is_send(handle(storage, None, None, request));
}
