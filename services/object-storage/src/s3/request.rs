//! One S3 request as the facade reads it: bucket and key from the path (or a virtual
//! host), the query decoded and checked by kind, the headers; and the request-wide refusals
//! (features Kumo does not have) that run before any operation.

use std::collections::BTreeMap;

use axum::body::Body;
use http::{HeaderMap, Method, StatusCode};
use kumo_auth::{Principal, SigV4Context};

use super::xml;
use crate::error::{Result, StorageError};
use crate::objects::{self, ObjectKey};

/// One parsed S3 request.
pub struct S3Request {
    pub method: Method,
    /// `/bucket/key` (as far as the request names them), for errors' `Resource`.
    pub resource: String,
    /// Query parameters, strictly decoded and checked by [`parse_query`]; sub-resources like
    /// `versioning` have empty values.
    pub query: BTreeMap<String, String>,
    pub headers: HeaderMap,
    pub principal: Principal,
    pub context: Option<SigV4Context>,
    /// Taken once by the operation that reads it (a Mutex so that `&S3Request` is `Sync`:
    /// handlers hold references to the request across awaits). What a refused request
    /// leaves unread, the gateway drains (`drain_unread_body`).
    pub(super) body: std::sync::Mutex<Option<Body>>,
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

/// S3's answer to a request URI it cannot decode (percent-encoded bytes that are not UTF-8).
pub fn invalid_uri() -> StorageError {
    StorageError::S3(
        StatusCode::BAD_REQUEST,
        "InvalidURI",
        "Couldn't parse the specified URI.".into(),
    )
}

/// Percent-decode a path segment or query component strictly: the bytes must be UTF-8
/// (never decoded lossily, so two different byte strings never name the same key).
pub fn decode_component(text: &str) -> Result<String> {
    kumo_common::text::percent_decode(text.as_bytes(), false).map_err(|_| invalid_uri())
}

pub(super) fn decode_key(text: &str) -> Result<Option<ObjectKey>> {
    if text.is_empty() {
        return Ok(None);
    }
    ObjectKey::new(decode_component(text)?).map(Some)
}

/// Split a request path into bucket and key (path style, unless the host named the bucket).
/// Undecodable segments are `InvalidURI`; the key must be a valid [`ObjectKey`].
pub fn split_path(
    path: &str,
    host_bucket: Option<String>,
) -> Result<(Option<String>, Option<ObjectKey>)> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    match host_bucket {
        Some(bucket) => Ok((Some(bucket), decode_key(trimmed)?)),
        None => {
            if trimmed.is_empty() {
                return Ok((None, None));
            }
            match trimmed.split_once('/') {
                Some((bucket, key)) => Ok((Some(decode_component(bucket)?), decode_key(key)?)),
                None => Ok((Some(decode_component(trimmed)?), None)),
            }
        }
    }
}

/// At most this many query parameters (a presigned URL needs about 15).
pub const MAX_QUERY_PARAMS: usize = 100;
/// Longest query parameter value not bounded more tightly by its kind.
pub const MAX_QUERY_VALUE_BYTES: usize = 8 * 1024;
/// Longest continuation token (ours encode a key of at most 1024 bytes in ~1.4 KB).
pub const MAX_CONTINUATION_TOKEN_BYTES: usize = 2048;
/// Longest version id or upload id accepted (ours are 32 and 48 characters).
pub const MAX_ID_BYTES: usize = 1024;

/// Decode the query strictly (`InvalidURI` for bytes that are not UTF-8) and check every
/// parameter once, here, by kind ([`check_param`]): no operation sees an unchecked value.
pub fn parse_query(query: Option<&str>) -> Result<BTreeMap<String, String>> {
    let Some(query) = query else {
        return Ok(BTreeMap::new());
    };
    let mut params = BTreeMap::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if params.len() == MAX_QUERY_PARAMS {
            return Err(StorageError::invalid_argument(format!(
                "A request takes at most {MAX_QUERY_PARAMS} query parameters"
            )));
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        // S3 clients encode spaces as %20; a literal '+' in a query is a space.
        let name = decode_component(&k.replace('+', " "))?;
        let value = decode_component(&v.replace('+', " "))?;
        check_param(&name, &value)?;
        params.insert(name, value);
    }
    Ok(params)
}

/// A version id (query `versionId`, `version-id-marker`, a copy source's, a DeleteObjects
/// entry's): text, at most [`MAX_ID_BYTES`]; else S3's `InvalidArgument` "Invalid version id
/// specified".
pub fn check_version_id(value: &str) -> Result<()> {
    if value.len() > MAX_ID_BYTES || kumo_common::text::check(value).is_err() {
        return Err(StorageError::invalid_argument(
            "Invalid version id specified",
        ));
    }
    Ok(())
}

/// One query parameter, by kind: version ids, upload ids (`NoSuchUpload`, as S3 answers an
/// id it never issued), listing bounds compared with keys ([`objects::check_listing_text`]),
/// continuation tokens; anything else must be text of at most [`MAX_QUERY_VALUE_BYTES`].
pub fn check_param(name: &str, value: &str) -> Result<()> {
    if name.len() > 256 || kumo_common::text::check(name).is_err() {
        return Err(StorageError::invalid_argument(
            "Invalid query parameter name",
        ));
    }
    match name {
        "versionId" | "version-id-marker" => check_version_id(value),
        "uploadId" => {
            if value.len() > MAX_ID_BYTES || kumo_common::text::check(value).is_err() {
                // No id Kumo issued (too long, or not text): not repeated in the error.
                return Err(StorageError::NoSuchUpload(None));
            }
            Ok(())
        }
        "upload-id-marker" => {
            if value.len() > MAX_ID_BYTES || kumo_common::text::check(value).is_err() {
                return Err(StorageError::invalid_argument(
                    "Invalid uploadId marker specified",
                ));
            }
            Ok(())
        }
        "prefix" | "delimiter" | "marker" | "key-marker" | "start-after" => {
            objects::check_listing_text(name, value)
        }
        "continuation-token" => {
            if value.len() > MAX_CONTINUATION_TOKEN_BYTES
                || kumo_common::text::check(value).is_err()
            {
                return Err(StorageError::invalid_argument(
                    "The continuation token provided is incorrect",
                ));
            }
            Ok(())
        }
        _ => {
            if value.len() > MAX_QUERY_VALUE_BYTES {
                return Err(StorageError::invalid_argument(format!(
                    "The value of query parameter {name} is too long"
                )));
            }
            kumo_common::text::check(value).map_err(|problem| {
                StorageError::invalid_argument(format!(
                    "The value of query parameter {name} is not valid: it {problem}"
                ))
            })
        }
    }
}

/// Canned ACLs that say what Kumo does anyway (the owning account alone has access).
const CANNED_ACLS_HONOURED: &[&str] =
    &["private", "bucket-owner-full-control", "bucket-owner-read"];

/// Refuse, before anything is read or stored, a request that asks for a feature Kumo does
/// not have: answering it as if the feature had been applied would half-honour it (a
/// "customer-key encrypted" object stored in plaintext, a "locked" bucket that is not).
/// Checked for every operation, so no handler can forget it.
pub fn refuse_unsupported(request: &S3Request) -> Result<()> {
    let headers = &request.headers;
    for name in headers.keys() {
        let name = name.as_str();
        if name.starts_with("x-amz-server-side-encryption")
            || name.starts_with("x-amz-copy-source-server-side-encryption")
        {
            return Err(StorageError::not_implemented(&format!(
                "server-side encryption ({name})"
            )));
        }
        if name.starts_with("x-amz-object-lock-") {
            return Err(StorageError::not_implemented(&format!(
                "object lock ({name})"
            )));
        }
        if name.starts_with("x-amz-grant-") {
            return Err(StorageError::not_implemented(&format!(
                "ACL grants ({name})"
            )));
        }
        let refused = match name {
            "x-amz-website-redirect-location" => Some("website redirects"),
            "x-amz-mfa" => Some("MFA delete"),
            "x-amz-write-offset-bytes" => Some("appends"),
            _ => None,
        };
        if let Some(what) = refused {
            return Err(StorageError::not_implemented(&format!("{what} ({name})")));
        }
    }
    let value = |name: &str| {
        headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").trim())
    };
    if let Some(lock) = value("x-amz-bucket-object-lock-enabled") {
        if !lock.eq_ignore_ascii_case("false") {
            return Err(StorageError::not_implemented(
                "object lock (x-amz-bucket-object-lock-enabled)",
            ));
        }
    }
    if let Some(acl) = value("x-amz-acl") {
        if !CANNED_ACLS_HONOURED.contains(&acl) {
            return Err(StorageError::not_implemented(&format!(
                "the canned ACL {acl:?} (only private access exists)"
            )));
        }
    }
    if let Some(ownership) = value("x-amz-object-ownership") {
        if ownership != "BucketOwnerEnforced" {
            return Err(StorageError::not_implemented(&format!(
                "object ownership {ownership:?} (ACLs are disabled: BucketOwnerEnforced)"
            )));
        }
    }
    if let Some(class) = value("x-amz-storage-class") {
        if class != "STANDARD" {
            return Err(StorageError::not_implemented(&format!(
                "the storage class {class:?} (only STANDARD exists)"
            )));
        }
    }
    // Every bucket is private to its account: a request that expects another owner must
    // fail rather than act on this one.
    for name in [
        "x-amz-expected-bucket-owner",
        "x-amz-source-expected-bucket-owner",
    ] {
        if let Some(owner) = value(name) {
            if owner != request.principal.account_id {
                return Err(StorageError::AccessDenied);
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::s3::response::encode_key;
    fn split(path: &str, host: Option<&str>) -> (Option<String>, Option<String>) {
        let (bucket, key) = split_path(path, host.map(str::to_string)).unwrap();
        (bucket, key.map(|k| k.to_string()))
    }

    #[test]
    fn paths_split_into_bucket_and_key() {
        assert_eq!(split("/", None), (None, None));
        assert_eq!(split("/b", None), (Some("b".into()), None));
        assert_eq!(split("/b/", None), (Some("b".into()), None));
        assert_eq!(
            split("/b/a%20b/c%2Fd", None),
            (Some("b".into()), Some("a b/c/d".into()))
        );
        assert_eq!(
            split("/k/x", Some("vb")),
            (Some("vb".into()), Some("k/x".into()))
        );
        // Spaces are part of keys.
        assert_eq!(split("/b/%20", None).1.as_deref(), Some(" "));
    }

    #[test]
    fn hostile_paths_are_refused() {
        let code = |path: &str| split_path(path, None).err().map(|e| e.code());
        // Bytes that are not UTF-8 are never decoded lossily: %FF and %FE would collide.
        assert_eq!(code("/b/lossy%FFkey"), Some("InvalidURI"));
        assert_eq!(code("/b/lossy%FEkey"), Some("InvalidURI"));
        assert_eq!(code("/b%C3/k"), Some("InvalidURI"));
        assert_eq!(code("/b/a%00b"), Some("InvalidArgument"));
        assert_eq!(code("/b/a%01b"), Some("InvalidArgument"));
        assert_eq!(code("/b/a%EF%BF%BFb"), Some("InvalidArgument"));
        assert_eq!(
            code(&format!("/b/{}", "k".repeat(1025))),
            Some("KeyTooLongError")
        );
        assert_eq!(code(&format!("/b/{}", "k".repeat(1024))), None);
        // TAB, LF and CR are allowed in keys, as is any other character.
        assert_eq!(code("/b/a%09%0A%0Db%E2%98%83"), None);
    }

    #[test]
    fn hostile_queries_are_refused() {
        let code = |query: &str| parse_query(Some(query)).err().map(|e| e.code());
        assert_eq!(code("prefix=%FF"), Some("InvalidURI"));
        assert_eq!(code("x%FF=1"), Some("InvalidURI"));
        for name in [
            "prefix",
            "delimiter",
            "marker",
            "key-marker",
            "start-after",
            "continuation-token",
            "upload-id-marker",
            "versionId",
            "version-id-marker",
            "response-content-type",
        ] {
            assert_eq!(
                code(&format!("{name}=a%00b")),
                Some("InvalidArgument"),
                "{name}"
            );
        }
        assert_eq!(code("uploadId=a%00b"), Some("NoSuchUpload"));
        assert_eq!(code("a%00=1"), Some("InvalidArgument"));
        assert_eq!(
            code(&format!("prefix={}", "p".repeat(1025))),
            Some("InvalidArgument")
        );
        assert_eq!(
            code(
                &(0..=MAX_QUERY_PARAMS)
                    .map(|i| format!("p{i}=1"))
                    .collect::<Vec<_>>()
                    .join("&")
            ),
            Some("InvalidArgument")
        );
        assert_eq!(code("prefix=a%09b&versions"), None);
        let error = parse_query(Some("versionId=%00")).err().unwrap();
        assert_eq!(error.to_string(), "Invalid version id specified");
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
        let q = parse_query(Some("versions&prefix=a%2Fb&max-keys=2")).unwrap();
        assert_eq!(q.get("versions").unwrap(), "");
        assert_eq!(q.get("prefix").unwrap(), "a/b");
        assert_eq!(encode_key("a b/ü+", true), "a%20b/%C3%BC%2B");
    }
}
