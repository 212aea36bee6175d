//! AWS Signature Version 4, written from AWS's specification.
//!
//! Everything here is a pure function of its inputs (no clock, no I/O) so that it can be
//! checked against AWS's published test vectors and against real SDK output. The tower
//! layer in [`crate::layer`] supplies the request, the time and the secret.
//!
//! A signature covers a *canonical request*:
//!
//! ```text
//! METHOD \n CANONICAL-URI \n CANONICAL-QUERY \n CANONICAL-HEADERS \n SIGNED-HEADERS \n PAYLOAD-HASH
//! ```
//!
//! which is hashed into a *string to sign* together with the time and the credential scope,
//! and signed with a key derived from the secret by a chain of HMACs over the scope.

use chrono::{DateTime, NaiveDateTime, Utc};
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha2::{Digest, Sha256};

use crate::AuthError;

type HmacSha256 = Hmac<Sha256>;

/// The only algorithm Kumo accepts (SigV4a's ECDSA variant is not supported).
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of every credential scope.
pub const TERMINATOR: &str = "aws4_request";
/// `sha256("")`, the payload hash of every bodiless request.
pub const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/// S3 payload hash meaning "the body is not signed".
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// S3 aws-chunked upload where every chunk carries its own signature.
pub const STREAMING_PAYLOAD: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD";
/// As [`STREAMING_PAYLOAD`], followed by signed trailing headers (checksums).
pub const STREAMING_PAYLOAD_TRAILER: &str = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER";
/// aws-chunked upload without chunk signatures, followed by unsigned trailers.
pub const STREAMING_UNSIGNED_PAYLOAD_TRAILER: &str = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";
/// The longest a presigned URL may stay valid: seven days.
pub const MAX_PRESIGNED_EXPIRES: u64 = 604_800;

const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";

/// Characters percent-encoded in a query key/value or path segment: all but `A-Za-z0-9-_.~`.
const ENCODE_ALL: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');
/// As [`ENCODE_ALL`], keeping the `/` between path segments.
const ENCODE_PATH: &AsciiSet = &ENCODE_ALL.remove(b'/');

fn incomplete(message: impl Into<String>) -> AuthError {
    AuthError::IncompleteSignature(message.into())
}

// ---------------------------------------------------------------------------------------
// Parsing what the client sent
// ---------------------------------------------------------------------------------------

/// `AKID/yyyymmdd/region/service/aws4_request`: who signed, and for which scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credential {
    pub access_key_id: String,
    /// `yyyymmdd`, the date the signing key was derived for.
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Credential {
    /// Parse the value of `Credential=` / `X-Amz-Credential`.
    pub fn parse(value: &str) -> Result<Self, AuthError> {
        let parts: Vec<&str> = value.split('/').collect();
        let [access_key_id, date, region, service, terminator] = parts.as_slice() else {
            return Err(incomplete(format!(
                "Credential must have the form <access-key-id>/<yyyymmdd>/<region>/<service>/{TERMINATOR}, got '{value}'"
            )));
        };
        if access_key_id.is_empty() {
            return Err(incomplete("Credential names no access key id"));
        }
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(incomplete(format!(
                "Credential date '{date}' is not in yyyymmdd format"
            )));
        }
        if region.is_empty() || service.is_empty() {
            return Err(incomplete("Credential names no region or no service"));
        }
        if *terminator != TERMINATOR {
            return Err(incomplete(format!(
                "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{terminator}'"
            )));
        }
        Ok(Self {
            access_key_id: access_key_id.to_string(),
            date: date.to_string(),
            region: region.to_string(),
            service: service.to_string(),
        })
    }

    /// `yyyymmdd/region/service/aws4_request`, the scope line of the string to sign.
    pub fn scope(&self) -> String {
        credential_scope(&self.date, &self.region, &self.service)
    }
}

/// `yyyymmdd/region/service/aws4_request`.
pub fn credential_scope(date: &str, region: &str, service: &str) -> String {
    format!("{date}/{region}/{service}/{TERMINATOR}")
}

/// Parameters only a presigned URL carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedParams {
    /// `X-Amz-Date`, `yyyymmddThhmmssZ`.
    pub amz_date: String,
    /// `X-Amz-Expires`, seconds from `amz_date`.
    pub expires: u64,
    pub security_token: Option<String>,
    /// `X-Amz-Content-Sha256`, when the URL pins the payload.
    pub content_sha256: Option<String>,
}

/// A SigV4 signature as the client presented it, by header or by query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    pub credential: Credential,
    /// Lowercase header names, in the order the client listed them.
    pub signed_headers: Vec<String>,
    /// Lowercase hex.
    pub signature: String,
    /// `Some` for a presigned URL.
    pub presigned: Option<PresignedParams>,
}

/// Does this Authorization header value claim SigV4?
pub fn is_sigv4_authorization(value: &str) -> bool {
    value
        .strip_prefix(ALGORITHM)
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_whitespace()))
}

/// Parse `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
///
/// The three parts may come in any order, with or without spaces after the commas.
pub fn parse_authorization(value: &str) -> Result<ParsedSignature, AuthError> {
    let rest = match value.strip_prefix(ALGORITHM) {
        Some(rest) if rest.starts_with(|c: char| c.is_ascii_whitespace()) => rest,
        _ => {
            return Err(incomplete(format!(
                "Unsupported Authorization Type; only {ALGORITHM} is supported"
            )))
        }
    };
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, val)) = part.split_once('=') else {
            return Err(incomplete(format!(
                "Authorization header part '{part}' is not of the form key=value"
            )));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => continue,
        };
        if slot.is_some() {
            return Err(incomplete(format!(
                "Authorization header has '{}' more than once",
                key.trim()
            )));
        }
        *slot = Some(val.trim());
    }
    let missing: Vec<&str> = [
        ("Credential", credential.is_none()),
        ("Signature", signature.is_none()),
        ("SignedHeaders", signed.is_none()),
    ]
    .iter()
    .filter(|(_, absent)| *absent)
    .map(|(name, _)| *name)
    .collect();
    if !missing.is_empty() {
        return Err(incomplete(
            missing
                .iter()
                .map(|name| format!("Authorization header requires '{name}' parameter."))
                .collect::<Vec<_>>()
                .join(" "),
        ));
    }
    Ok(ParsedSignature {
        credential: Credential::parse(credential.unwrap_or_default())?,
        signed_headers: parse_signed_headers(signed.unwrap_or_default())?,
        signature: parse_signature_hex(signature.unwrap_or_default())?,
        presigned: None,
    })
}

/// Parse the `X-Amz-*` parameters of a presigned URL. `Ok(None)` when the query carries no
/// `X-Amz-Algorithm`, i.e. is not presigned.
pub fn parse_presigned(query: &str) -> Result<Option<ParsedSignature>, AuthError> {
    const NAMES: [&str; 8] = [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
        "X-Amz-Security-Token",
        "X-Amz-Content-Sha256",
    ];
    let mut values: [Option<String>; 8] = Default::default();
    for (key, value) in decoded_query_pairs(query) {
        if let Some(i) = NAMES.iter().position(|n| *n == key) {
            if values[i].is_some() {
                return Err(incomplete(format!(
                    "the query parameter {key} appears more than once"
                )));
            }
            values[i] = Some(value);
        }
    }
    let [algorithm, credential, amz_date, expires, signed, signature, token, content] = values;
    let Some(algorithm) = algorithm else {
        return Ok(None);
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let (Some(credential), Some(amz_date), Some(expires), Some(signed), Some(signature)) =
        (credential, amz_date, expires, signed, signature)
    else {
        return Err(incomplete(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
        ));
    };
    parse_amz_date(&amz_date)?;
    let expires: u64 = expires
        .parse()
        .map_err(|_| incomplete(format!("X-Amz-Expires should be a number, not '{expires}'")))?;
    Ok(Some(ParsedSignature {
        credential: Credential::parse(&credential)?,
        signed_headers: parse_signed_headers(&signed)?,
        signature: parse_signature_hex(&signature)?,
        presigned: Some(PresignedParams {
            amz_date,
            expires,
            security_token: token,
            content_sha256: content,
        }),
    }))
}

/// The service named in the credential of an Authorization header or presigned query, when
/// that much can be read: it picks the error format even when the rest is malformed.
pub fn service_hint(authorization: Option<&str>, query: &str) -> Option<String> {
    let credential = match authorization {
        Some(value) => value
            .split([',', ' '])
            .find_map(|part| part.trim().strip_prefix("Credential="))
            .map(str::to_string),
        None => decoded_query_pairs(query)
            .find(|(k, _)| k == "X-Amz-Credential")
            .map(|(_, v)| v),
    }?;
    credential
        .split('/')
        .nth(3)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn parse_signed_headers(value: &str) -> Result<Vec<String>, AuthError> {
    let names: Vec<String> = value
        .split(';')
        .map(|n| n.trim().to_ascii_lowercase())
        .collect();
    if names.iter().any(String::is_empty) {
        return Err(incomplete(format!(
            "SignedHeaders '{value}' has an empty header name"
        )));
    }
    if !names.iter().any(|n| n == "host") {
        return Err(incomplete(
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    Ok(names)
}

fn parse_signature_hex(value: &str) -> Result<String, AuthError> {
    if value.len() != 64 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(incomplete(
            "Signature must be 64 hexadecimal characters".to_string(),
        ));
    }
    Ok(value.to_ascii_lowercase())
}

/// Query pairs, percent-decoded (`+` is left as is: SigV4 clients encode spaces as `%20`).
fn decoded_query_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (
            percent_decode_str(k).decode_utf8_lossy().into_owned(),
            percent_decode_str(v).decode_utf8_lossy().into_owned(),
        )
    })
}

// ---------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------

/// Parse `yyyymmddThhmmssZ`.
pub fn parse_amz_date(value: &str) -> Result<DateTime<Utc>, AuthError> {
    if value.len() != 16 {
        return Err(incomplete(format!(
            "'{value}' is not a date of the form yyyyMMdd'T'HHmmss'Z'"
        )));
    }
    NaiveDateTime::parse_from_str(value, AMZ_DATE_FORMAT)
        .map(|t| t.and_utc())
        .map_err(|_| {
            incomplete(format!(
                "'{value}' is not a date of the form yyyyMMdd'T'HHmmss'Z'"
            ))
        })
}

/// Format as `yyyymmddThhmmssZ`.
pub fn format_amz_date(time: DateTime<Utc>) -> String {
    time.format(AMZ_DATE_FORMAT).to_string()
}

/// The time the client signed at, and its `yyyymmddThhmmssZ` form as used in the string to
/// sign. Header signatures take it from `x-amz-date` (or else `date`), which must be
/// signed so it cannot be replaced; presigned URLs from `X-Amz-Date`. The credential scope's
/// date must be that day.
pub fn request_time(
    parsed: &ParsedSignature,
    headers: &[(String, String)],
) -> Result<(DateTime<Utc>, String), AuthError> {
    let (time, amz_date) = match &parsed.presigned {
        Some(p) => (parse_amz_date(&p.amz_date)?, p.amz_date.clone()),
        None => {
            let find = |name: &str| {
                headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim())
            };
            let signed = |name: &str| parsed.signed_headers.iter().any(|h| h == name);
            if let Some(value) = find("x-amz-date") {
                if !signed("x-amz-date") {
                    return Err(incomplete("the x-amz-date header must be signed"));
                }
                (parse_amz_date(value)?, value.to_string())
            } else if let Some(value) = find("date") {
                if !signed("date") {
                    return Err(incomplete("the date header must be signed"));
                }
                let time = DateTime::parse_from_rfc2822(value)
                    .map_err(|_| incomplete(format!("Date header '{value}' is not an HTTP date")))?
                    .with_timezone(&Utc);
                (time, format_amz_date(time))
            } else {
                return Err(incomplete(
                    "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                ));
            }
        }
    };
    if amz_date.get(..8) != Some(parsed.credential.date.as_str()) {
        return Err(incomplete(format!(
            "Invalid credential date '{}': it is not the date of the request time {amz_date}",
            parsed.credential.date
        )));
    }
    Ok((time, amz_date))
}

/// Is the request recent enough (and not from the future)? Header signatures may be at most
/// `max_skew` away from `now` either way; presigned URLs are valid from their date (less the
/// skew) until date + `X-Amz-Expires`, which may not exceed seven days.
pub fn check_freshness(
    parsed: &ParsedSignature,
    time: DateTime<Utc>,
    now: DateTime<Utc>,
    max_skew: std::time::Duration,
) -> Result<(), AuthError> {
    let skew = i64::try_from(max_skew.as_secs()).unwrap_or(i64::MAX);
    let ahead = (time - now).num_seconds();
    let fmt = format_amz_date;
    match &parsed.presigned {
        None => {
            let behind = (now - time).num_seconds();
            if behind > skew {
                return Err(AuthError::RequestExpired(format!(
                    "Signature expired: {} is now earlier than {} ({} - {} min.)",
                    fmt(time),
                    fmt(now - chrono::Duration::seconds(skew)),
                    fmt(now),
                    skew / 60
                )));
            }
            if ahead > skew {
                return Err(AuthError::RequestExpired(format!(
                    "Signature not yet current: {} is still later than {} ({} + {} min.)",
                    fmt(time),
                    fmt(now + chrono::Duration::seconds(skew)),
                    fmt(now),
                    skew / 60
                )));
            }
        }
        Some(p) => {
            if p.expires > MAX_PRESIGNED_EXPIRES {
                // S3 answers this 400 AuthorizationQueryParametersError.
                return Err(incomplete(format!(
                    "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less than {MAX_PRESIGNED_EXPIRES} seconds"
                )));
            }
            if ahead > skew {
                return Err(AuthError::RequestExpired(
                    "Request is not valid yet".to_string(),
                ));
            }
            // `expires` is at most a week, so the cast cannot wrap.
            let age = (now - time).num_seconds();
            if age > p.expires as i64 {
                return Err(AuthError::RequestExpired("Request has expired".to_string()));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The canonical request
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// Keys and signatures
// ---------------------------------------------------------------------------------------

/// Hex sha256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// HMAC-SHA256. The key is brought to the block size as HMAC itself specifies (hashed if
/// longer, zero-padded), which lets the fixed-size constructor be used: no fallible path.
fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut mac = <HmacSha256 as KeyInit>::new(&block.into());
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The signing key: `HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")`.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    hmac(&k_service, TERMINATOR.as_bytes())
}

/// Hex `HMAC(signing_key, string_to_sign)`.
pub fn signature(signing_key: &[u8], string_to_sign: &str) -> String {
    hex::encode(hmac(signing_key, string_to_sign.as_bytes()))
}

/// Equality whose running time does not depend on where the inputs differ, so a forger
/// cannot find a valid signature byte by byte.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Check a parsed signature against the request. On success returns the signing key, which
/// S3 needs to check the signatures of the chunks that follow.
pub fn verify(
    parsed: &ParsedSignature,
    input: &CanonicalInput<'_>,
    amz_date: &str,
    secret: &str,
) -> Result<[u8; 32], AuthError> {
    let credential = &parsed.credential;
    let creq = canonical_request(
        input,
        &parsed.signed_headers,
        &credential.service,
        parsed.presigned.is_some(),
    )?;
    let sts = string_to_sign(amz_date, &credential.scope(), &creq);
    let key = signing_key(
        secret,
        &credential.date,
        &credential.region,
        &credential.service,
    );
    let expected = signature(&key, &sts);
    if constant_time_eq(expected.as_bytes(), parsed.signature.as_bytes()) {
        Ok(key)
    } else {
        Err(AuthError::SignatureDoesNotMatch)
    }
}

/// Is this a payload hash S3 accepts in `x-amz-content-sha256`?
pub fn is_valid_s3_payload_hash(value: &str) -> bool {
    matches!(
        value,
        UNSIGNED_PAYLOAD
            | STREAMING_PAYLOAD
            | STREAMING_PAYLOAD_TRAILER
            | STREAMING_UNSIGNED_PAYLOAD_TRAILER
    ) || (value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------------------------------
// S3 aws-chunked uploads
// ---------------------------------------------------------------------------------------

/// The string to sign for one chunk of a `STREAMING-AWS4-HMAC-SHA256-PAYLOAD` upload. Each
/// chunk's signature chains on the previous one (the first on the seed signature of the
/// Authorization header).
pub fn chunk_string_to_sign(
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    chunk_sha256_hex: &str,
) -> String {
    format!(
        "AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{previous_signature}\n{EMPTY_SHA256}\n{chunk_sha256_hex}"
    )
}

/// The signature of one chunk, given its bytes.
pub fn chunk_signature(
    signing_key: &[u8],
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    chunk: &[u8],
) -> String {
    chunk_signature_for_hash(
        signing_key,
        amz_date,
        scope,
        previous_signature,
        &sha256_hex(chunk),
    )
}

/// The signature of one chunk, given its hex sha256 (for callers that hash while streaming).
pub fn chunk_signature_for_hash(
    signing_key: &[u8],
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    chunk_sha256_hex: &str,
) -> String {
    signature(
        signing_key,
        &chunk_string_to_sign(amz_date, scope, previous_signature, chunk_sha256_hex),
    )
}

/// The signature of the trailing headers of a `…-PAYLOAD-TRAILER` upload; `trailer` is the
/// trailer block as signed (`name:value\n` lines).
pub fn trailer_signature(
    signing_key: &[u8],
    amz_date: &str,
    scope: &str,
    previous_signature: &str,
    trailer: &[u8],
) -> String {
    signature(
        signing_key,
        &format!(
            "AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{previous_signature}\n{}",
            sha256_hex(trailer)
        ),
    )
}

// ---------------------------------------------------------------------------------------
// Client side (tests, benchmarks, the CLI)
// ---------------------------------------------------------------------------------------

/// Sign a request as an AWS SDK would, returning the headers to add: `x-amz-date`,
/// `x-amz-content-sha256` (S3 only, unless `headers` already has one, e.g.
/// `UNSIGNED-PAYLOAD`) and `authorization`.
///
/// `uri` is the path and query as they will be sent; `headers` must include `host`. Every
/// header given is signed.
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    method: &str,
    uri: &str,
    headers: &[(String, String)],
    body: &[u8],
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
    time: DateTime<Utc>,
) -> Vec<(String, String)> {
    let amz_date = format_amz_date(time);
    let date = &amz_date[..8];
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let given_hash = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("x-amz-content-sha256"))
        .map(|(_, v)| v.trim().to_string());
    let payload_hash = match (&given_hash, service == "s3") {
        (Some(h), true) => h.clone(),
        _ => sha256_hex(body),
    };

    let mut all: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| {
            !n.eq_ignore_ascii_case("authorization") && !n.eq_ignore_ascii_case("x-amz-date")
        })
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect();
    let mut added = vec![("x-amz-date".to_string(), amz_date.clone())];
    if service == "s3" && given_hash.is_none() {
        added.push(("x-amz-content-sha256".to_string(), payload_hash.clone()));
    }
    all.extend(added.iter().cloned());
    let mut signed: Vec<String> = all.iter().map(|(n, _)| n.clone()).collect();
    signed.sort();
    signed.dedup();

    let input = CanonicalInput {
        method,
        path,
        query,
        headers: &all,
        payload_hash: &payload_hash,
    };
    // Every signed name comes from `all`, so no header can be missing.
    let creq = canonical_request(&input, &signed, service, false).unwrap_or_default();
    let scope = credential_scope(date, region, service);
    let key = signing_key(secret, date, region, service);
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &creq));
    added.push((
        "authorization".to_string(),
        format!(
            "{ALGORITHM} Credential={access_key_id}/{scope}, SignedHeaders={}, Signature={sig}",
            signed.join(";")
        ),
    ));
    added
}

/// Presign `uri` (path and optional query, as they will be sent) for `host`, valid for
/// `expires_secs` from `time`. Only `host` is signed. S3 URLs sign `UNSIGNED-PAYLOAD`; other
/// services sign the empty body. Returns the path and query to request.
#[allow(clippy::too_many_arguments)]
pub fn presign_url(
    method: &str,
    uri: &str,
    host: &str,
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
    time: DateTime<Utc>,
    expires_secs: u64,
) -> String {
    let amz_date = format_amz_date(time);
    let date = &amz_date[..8];
    let scope = credential_scope(date, region, service);
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let credential = uri_encode(format!("{access_key_id}/{scope}").as_bytes(), false);
    let auth_params = format!(
        "X-Amz-Algorithm={ALGORITHM}&X-Amz-Credential={credential}&X-Amz-Date={amz_date}&X-Amz-Expires={expires_secs}&X-Amz-SignedHeaders=host"
    );
    let query = if query.is_empty() {
        auth_params
    } else {
        format!("{query}&{auth_params}")
    };
    let payload_hash = if service == "s3" {
        UNSIGNED_PAYLOAD
    } else {
        EMPTY_SHA256
    };
    let headers = [("host".to_string(), host.to_string())];
    let input = CanonicalInput {
        method,
        path,
        query: &query,
        headers: &headers,
        payload_hash,
    };
    let signed = ["host".to_string()];
    let creq = canonical_request(&input, &signed, service, true).unwrap_or_default();
    let key = signing_key(secret, date, region, service);
    let sig = signature(&key, &string_to_sign(&amz_date, &scope, &creq));
    format!("{path}?{query}&X-Amz-Signature={sig}")
}

#[cfg(test)]
mod tests;
