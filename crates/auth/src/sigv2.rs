//! S3's legacy query-string authentication (Signature Version 2), which aws-cli v1 and
//! botocore still use for `aws s3 presign` / `generate_presigned_url` unless told to sign
//! with SigV4: `?AWSAccessKeyId=…&Expires=<unix seconds>&Signature=<base64 HMAC-SHA1>`.
//! Only presigned URLs are accepted; SigV2 Authorization headers are refused.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Query parameters that are part of S3's canonicalized resource.
const SUBRESOURCES: &[&str] = &[
    "acl",
    "cors",
    "delete",
    "lifecycle",
    "location",
    "logging",
    "notification",
    "partNumber",
    "policy",
    "requestPayment",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "restore",
    "tagging",
    "torrent",
    "uploadId",
    "uploads",
    "versionId",
    "versioning",
    "versions",
    "website",
];

/// The parts of a SigV2 presigned URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedV2 {
    pub access_key_id: String,
    pub expires: i64,
    pub signature: String,
}

fn decode(text: &str) -> String {
    percent_encoding::percent_decode_str(&text.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// True when the query carries SigV2 query authentication.
pub fn is_presigned_v2(query: &str) -> bool {
    let mut key = false;
    let mut signature = false;
    for pair in query.split('&') {
        match pair.split('=').next() {
            Some("AWSAccessKeyId") => key = true,
            Some("Signature") => signature = true,
            _ => {}
        }
    }
    key && signature
}

pub fn parse(query: &str) -> Option<PresignedV2> {
    let mut key = None;
    let mut expires = None;
    let mut signature = None;
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        match name {
            // '+' in a base64 signature arrives percent-encoded; a raw '+' is a space.
            "AWSAccessKeyId" => key = Some(decode(value)),
            "Expires" => expires = decode(value).parse::<i64>().ok(),
            "Signature" => {
                signature = Some(
                    percent_encoding::percent_decode_str(value)
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            }
            _ => {}
        }
    }
    Some(PresignedV2 {
        access_key_id: key?,
        expires: expires?,
        signature: signature?,
    })
}

/// `path` plus the sub-resources of `query`, sorted, values decoded.
pub fn canonical_resource(path: &str, query: &str) -> String {
    let mut params: Vec<(String, Option<String>)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|pair| {
            let (name, value) = match pair.split_once('=') {
                Some((n, v)) => (n, Some(decode(v))),
                None => (pair, None),
            };
            SUBRESOURCES
                .contains(&name)
                .then(|| (name.to_string(), value))
        })
        .collect();
    params.sort();
    let mut out = path.to_string();
    for (i, (name, value)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(name);
        if let Some(value) = value {
            out.push('=');
            out.push_str(value);
        }
    }
    out
}

/// `VERB\nContent-MD5\nContent-Type\nExpires\n<x-amz-* headers>` + resource.
pub fn string_to_sign(
    method: &str,
    content_md5: &str,
    content_type: &str,
    expires: i64,
    amz_headers: &[(String, String)],
    resource: &str,
) -> String {
    let mut headers: Vec<(String, String)> = amz_headers
        .iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(n, _)| n.starts_with("x-amz-"))
        .collect();
    headers.sort();
    let mut out = format!("{method}\n{content_md5}\n{content_type}\n{expires}\n");
    for (name, value) in headers {
        out.push_str(&name);
        out.push(':');
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str(resource);
    out
}

/// Base64 HMAC-SHA1 of the string to sign.
pub fn signature(secret: &str, string_to_sign: &str) -> String {
    let mut mac = match Hmac::<Sha1>::new_from_slice(secret.as_bytes()) {
        Ok(mac) => mac,
        // HMAC takes keys of any length.
        Err(_) => return String::new(),
    };
    mac.update(string_to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The example of the S3 developer guide ("Query string request authentication
    /// alternative"), with its published signature.
    #[test]
    fn aws_documentation_example() {
        let sts = string_to_sign(
            "GET",
            "",
            "",
            1175139620,
            &[],
            &canonical_resource("/johnsmith/photos/puppy.jpg", ""),
        );
        assert_eq!(sts, "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg");
        assert_eq!(
            signature("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &sts),
            "NpgCjnDzrM+WFzoENXmpNDUsSn8="
        );
    }

    #[test]
    fn parses_and_canonicalizes() {
        let q = "AWSAccessKeyId=AKIA&Signature=ab%2Bc%3D&Expires=12&versionId=v%201&x-id=GetObject";
        assert!(is_presigned_v2(q));
        let p = parse(q).unwrap();
        assert_eq!(p.signature, "ab+c=");
        assert_eq!(p.expires, 12);
        assert_eq!(canonical_resource("/b/k", q), "/b/k?versionId=v 1");
        assert_eq!(canonical_resource("/b", "uploads&acl"), "/b?acl&uploads");
    }
}
