//! The canonical request and the string to sign.

use percent_encoding::{percent_decode_str, percent_encode};

use super::{incomplete, sha256_hex, ALGORITHM, ENCODE_ALL, ENCODE_PATH};
use crate::AuthError;

/// The parts of a request a signature covers, as received.
#[derive(Debug, Clone, Copy)]
pub struct CanonicalInput<'a> {
    pub method: &'a str,
    /// The path as it came on the wire (percent-encoded as the client sent it).
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    /// Header names (any case) and values; a name may repeat.
    pub headers: &'a [(String, String)],
    /// Hex sha256 of the body, or one of S3's payload markers.
    pub payload_hash: &'a str,
}

/// Percent-encode with AWS's unreserved set (`A-Za-z0-9-_.~` stay as they are).
pub fn uri_encode(input: &[u8], keep_slash: bool) -> String {
    let set = if keep_slash { ENCODE_PATH } else { ENCODE_ALL };
    percent_encode(input, set).to_string()
}

/// The canonical URI. S3 signs the path as the object key is spelled, encoded once and never
/// normalized (`a/../b` and `a//b` are distinct keys). Every other service signs the
/// normalized path (no `.`/`..` segments, no empty segments) encoded once more on top of
/// the encoding it already has on the wire, as the AWS SDKs compute it.
pub fn canonical_uri(path: &str, service: &str) -> String {
    if service == "s3" {
        s3_canonical_path(path)
    } else {
        uri_encode(normalize_path(path).as_bytes(), true)
    }
}

/// Remove `.` and `..` segments and collapse repeated slashes; keep a trailing slash.
fn normalize_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 1);
    out.push('/');
    out.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// The wire path with its escapes brought to AWS's form: decode what the client escaped,
/// re-encode with the unreserved set. An escaped slash stays escaped, because it is part of
/// a key name rather than a separator.
fn s3_canonical_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_string();
    }
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        let decoded = if bytes[i] == b'%' && i + 2 < bytes.len() {
            hex_pair(bytes[i + 1], bytes[i + 2])
        } else {
            None
        };
        match decoded {
            Some(b'/') => {
                out.push_str("%2F");
                i += 3;
            }
            Some(b) => {
                out.push_str(&uri_encode(&[b], true));
                i += 3;
            }
            None => {
                out.push_str(&uri_encode(&bytes[i..i + 1], true));
                i += 1;
            }
        }
    }
    out
}

fn hex_pair(high: u8, low: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    Some((digit(high)? * 16 + digit(low)?) as u8)
}

/// The canonical query string: every parameter decoded, re-encoded with the unreserved set,
/// sorted by key then value. A presigned URL's own `X-Amz-Signature` is left out.
pub fn canonical_query_string(query: &str, exclude_signature: bool) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key: Vec<u8> = percent_decode_str(k).collect();
            if exclude_signature && key == b"X-Amz-Signature" {
                return None;
            }
            let value: Vec<u8> = percent_decode_str(v).collect();
            Some((uri_encode(&key, false), uri_encode(&value, false)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `name:value\n` for each signed header: values trimmed, inner whitespace runs collapsed,
/// repeated headers joined with `,` in the order received.
pub fn canonical_headers(
    headers: &[(String, String)],
    signed_headers: &[String],
) -> Result<String, AuthError> {
    let mut out = String::new();
    for name in signed_headers {
        let values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_ascii_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(incomplete(format!(
                "the signed header '{name}' is not present in the request"
            )));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// The whole canonical request.
pub fn canonical_request(
    input: &CanonicalInput<'_>,
    signed_headers: &[String],
    service: &str,
    presigned: bool,
) -> Result<String, AuthError> {
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        input.method,
        canonical_uri(input.path, service),
        canonical_query_string(input.query, presigned),
        canonical_headers(input.headers, signed_headers)?,
        signed_headers.join(";"),
        input.payload_hash,
    ))
}

/// `AWS4-HMAC-SHA256\n<amz-date>\n<scope>\n<hex sha256(canonical request)>`.
pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}
