//! The client side (tests, benchmarks, the CLI): signing and presigning as an SDK does.

use chrono::{DateTime, Utc};

use super::{
    canonical_request, credential_scope, format_amz_date, sha256_hex, signature, signing_key,
    string_to_sign, uri_encode, CanonicalInput, ALGORITHM, EMPTY_SHA256, UNSIGNED_PAYLOAD,
};

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

/// Presign an S3 request, path style, as the web console needs it: `bucket` and `key` are
/// plain (not yet encoded) names, `query` plain name/value pairs (e.g. `("uploads", "")`,
/// `("partNumber", "3")`). Only `host` is signed and the body is `UNSIGNED-PAYLOAD`, so a
/// browser may send any body. Returns the path and query to request.
#[allow(clippy::too_many_arguments)]
pub fn presign_s3(
    method: &str,
    bucket: &str,
    key: &str,
    query: &[(String, String)],
    host: &str,
    access_key_id: &str,
    secret: &str,
    region: &str,
    time: DateTime<Utc>,
    expires_secs: u64,
) -> String {
    let mut uri = format!("/{}", uri_encode(bucket.as_bytes(), false));
    if !key.is_empty() {
        uri.push('/');
        uri.push_str(&uri_encode(key.as_bytes(), true));
    }
    let query: Vec<String> = query
        .iter()
        .map(|(name, value)| {
            format!(
                "{}={}",
                uri_encode(name.as_bytes(), false),
                uri_encode(value.as_bytes(), false)
            )
        })
        .collect();
    if !query.is_empty() {
        uri.push('?');
        uri.push_str(&query.join("&"));
    }
    presign_url(
        method,
        &uri,
        host,
        access_key_id,
        secret,
        region,
        "s3",
        time,
        expires_secs,
    )
}
