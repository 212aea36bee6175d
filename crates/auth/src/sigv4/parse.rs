//! Parsing what the client sent: the Authorization header, a presigned URL's `X-Amz-*`
//! parameters, and the credential scope they name.

use super::{incomplete, parse_amz_date, ALGORITHM, TERMINATOR};
use crate::AuthError;
use percent_encoding::percent_decode_str;

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
