//! The S3 REST facade: path-style (`/bucket/key`) and virtual-host-style
//! (`bucket.<suffix>/key`) requests, routed by method, bucket, key and sub-resource to the
//! domain functions; responses and errors in S3's XML.

pub mod body;
pub mod bucket_ops;
pub mod chunked;
pub mod object_ops;
pub mod xml;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use kumo_auth::{Principal, SigV4Context};

use crate::error::{Result, StorageError};
use crate::ObjectStorage;

/// One parsed S3 request.
pub struct S3Request {
    pub method: Method,
    pub bucket: Option<String>,
    pub key: Option<String>,
    /// Query parameters (decoded); sub-resources like `versioning` have empty values.
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub principal: Principal,
    pub context: Option<SigV4Context>,
    /// Taken once by the operation that reads it (a Mutex so that `&S3Request` is `Sync`:
    /// handlers hold references to the request across awaits). What a refused request
    /// leaves unread, the gateway drains (`drain_unread_body`).
    body: std::sync::Mutex<Option<Body>>,
}

impl S3Request {
    /// The request body (empty if already taken).
    pub fn take_body(&self) -> Body {
        self.body
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
            .unwrap_or_else(Body::empty)
    }

    pub fn has(&self, name: &str) -> bool {
        self.query.contains_key(name)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The bucket, which every request but ListBuckets names.
    pub fn bucket(&self) -> Result<&str> {
        self.bucket
            .as_deref()
            .ok_or_else(|| StorageError::invalid_request("this request needs a bucket"))
    }

    pub fn key(&self) -> Result<&str> {
        self.key
            .as_deref()
            .ok_or_else(|| StorageError::invalid_request("this request needs an object key"))
    }

    /// `/bucket/key` for error `Resource` fields.
    pub fn resource(&self) -> String {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}"),
            _ => "/".to_string(),
        }
    }
}

/// The bucket named by a virtual-host-style `Host` header, if it is one.
pub fn bucket_from_host(host: &str, suffixes: &[String]) -> Option<String> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    suffixes.iter().find_map(|suffix| {
        let bucket = host.strip_suffix(suffix.as_str())?.strip_suffix('.')?;
        // `s3.localhost` itself is the service endpoint, not a bucket under `localhost`.
        (!bucket.is_empty() && !suffixes.iter().any(|s| s == &host)).then(|| bucket.to_string())
    })
}

fn decode_component(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

/// Split a request path into bucket and key (path style, unless the host named the bucket).
pub fn split_path(path: &str, host_bucket: Option<String>) -> (Option<String>, Option<String>) {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match host_bucket {
        Some(bucket) => {
            let key = (!trimmed.is_empty()).then(|| decode_component(trimmed));
            (Some(bucket), key)
        }
        None => {
            if trimmed.is_empty() {
                return (None, None);
            }
            match trimmed.split_once('/') {
                Some((bucket, key)) => (
                    Some(decode_component(bucket)),
                    (!key.is_empty()).then(|| decode_component(key)),
                ),
                None => (Some(decode_component(trimmed)), None),
            }
        }
    }
}

pub fn parse_query(query: Option<&str>) -> BTreeMap<String, String> {
    let Some(query) = query else {
        return BTreeMap::new();
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            // S3 clients encode spaces as %20; a literal '+' in a query is a space.
            (
                decode_component(&k.replace('+', " ")),
                decode_component(&v.replace('+', " ")),
            )
        })
        .collect()
}

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
    let (bucket, key) = split_path(parts.uri.path(), host_bucket);
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
        query: parse_query(parts.uri.query()),
        headers: parts.headers,
        principal,
        context,
        body: std::sync::Mutex::new(Some(body)),
    };
    let is_head = request.method == Method::HEAD;
    let bucket_name = request.bucket.clone();
    let result = route(storage, request).await;
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
            Method::GET => bucket_ops::list_buckets(storage, &request).await,
            _ => Err(crate::objects::method_not_allowed()),
        },
        (Some(_), None) => bucket_ops::route(storage, request).await,
        (Some(_), Some(_)) => object_ops::route(storage, request).await,
    }
}

/// An XML 200 response.
pub fn xml_response(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    response
}

pub fn empty(status: StatusCode) -> Response {
    let mut response = status.into_response();
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

/// Set a header from a string we made; values that cannot be headers are skipped.
pub fn set_header(response: &mut Response, name: &str, value: &str) {
    if let (Ok(name), Ok(value)) = (
        http::HeaderName::from_bytes(name.as_bytes()),
        HeaderValue::from_str(value),
    ) {
        response.headers_mut().insert(name, value);
    }
}

pub fn malformed_xml() -> StorageError {
    StorageError::S3(
        StatusCode::BAD_REQUEST,
        "MalformedXML",
        "The XML you provided was not well-formed or did not validate against our published schema"
            .into(),
    )
}

/// Read a small request document (configuration XML), bounded.
pub async fn read_small_body(body: Body) -> Result<String> {
    let bytes = axum::body::to_bytes(body, 1024 * 1024).await.map_err(|_| {
        StorageError::S3(
            StatusCode::BAD_REQUEST,
            "MaxMessageLengthExceeded",
            "Your request was too big.".into(),
        )
    })?;
    String::from_utf8(bytes.to_vec()).map_err(|_| malformed_xml())
}

/// Read a request document (configuration XML) whose root element must be `root`: anything
/// not well-formed is `MalformedXML`.
pub async fn read_document(body: Body, root: &str) -> Result<String> {
    let text = read_small_body(body).await?;
    if xml::well_formed(&text, root) {
        Ok(text)
    } else {
        Err(malformed_xml())
    }
}

/// `encoding-type=url`: S3 percent-encodes keys in listings (everything but unreserved
/// characters and '/').
pub fn encode_key(value: &str, url: bool) -> String {
    if !url {
        return value.to_string();
    }
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/');
    percent_encoding::utf8_percent_encode(value, SET).to_string()
}

/// The gateway spawns `handle` on a multi-threaded runtime: it must stay `Send`.
#[allow(dead_code)]
fn assert_handle_is_send(storage: &ObjectStorage, request: http::Request<Body>) {
    fn is_send<T: Send>(_: T) {}
    is_send(handle(storage, None, None, request));
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn paths_split_into_bucket_and_key() {
        assert_eq!(split_path("/", None), (None, None));
        assert_eq!(split_path("/b", None), (Some("b".into()), None));
        assert_eq!(split_path("/b/", None), (Some("b".into()), None));
        assert_eq!(
            split_path("/b/a%20b/c%2Fd", None),
            (Some("b".into()), Some("a b/c/d".into()))
        );
        assert_eq!(
            split_path("/k/x", Some("vb".into())),
            (Some("vb".into()), Some("k/x".into()))
        );
    }

    #[test]
    fn virtual_hosts_name_buckets() {
        let suffixes = vec!["s3.localhost".to_string(), "localhost".to_string()];
        assert_eq!(
            bucket_from_host("my-b.s3.localhost:8780", &suffixes),
            Some("my-b".into())
        );
        assert_eq!(
            bucket_from_host("my-b.localhost", &suffixes),
            Some("my-b".into())
        );
        assert_eq!(bucket_from_host("s3.localhost:8780", &suffixes), None);
        assert_eq!(bucket_from_host("localhost:8780", &suffixes), None);
        assert_eq!(bucket_from_host("127.0.0.1:8780", &suffixes), None);
    }

    #[test]
    fn queries_decode() {
        let q = parse_query(Some("versions&prefix=a%2Fb&max-keys=2"));
        assert_eq!(q.get("versions").unwrap(), "");
        assert_eq!(q.get("prefix").unwrap(), "a/b");
        assert_eq!(encode_key("a b/ü+", true), "a%20b/%C3%BC%2B");
    }
}
