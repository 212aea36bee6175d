//! What S3 responses share: XML bodies, empty bodies, headers we set, and the version and
//! checksum headers of an object.

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode};

use crate::buckets::Bucket;
use crate::checksum::{ChecksumAlgorithm, ChecksumType};
use crate::objects::ObjectVersion;

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

pub fn version_header(response: &mut Response, bucket: &Bucket, version: &ObjectVersion) {
    if bucket.ever_versioned() {
        set_header(response, "x-amz-version-id", &version.version_id);
    }
}

/// `x-amz-checksum-<alg>` and `x-amz-checksum-type` of a stored checksum.
pub fn checksum_headers(response: &mut Response, algorithm: ChecksumAlgorithm, value: &str) {
    set_header(response, algorithm.header_name(), value);
    set_header(
        response,
        "x-amz-checksum-type",
        ChecksumType::of_value(value).as_str(),
    );
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
