//! SigV4 (and SigV2 query) parsing and the canonical request, on hostile text.
//!
//! Input: lines separated by `\n` (handcrafted seeds stay readable):
//!   line 1   the Authorization header value
//!   line 2   the query string (presigned URL parameters, or any query)
//!   line 3   the request path as on the wire
//!   line 4.. headers, `name:value`
//!
//! Properties: nothing panics; a parsed signature names `host` among its signed headers
//! and carries 64 lowercase hex digits; the canonical query string and the S3 canonical URI
//! are fixed points of themselves (canonicalising twice changes nothing) and pure ASCII.
#![no_main]

use chrono::{TimeZone, Utc};
use kumo_auth::{sigv2, sigv4};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let authorization = lines.next().unwrap_or_default();
    let query = lines.next().unwrap_or_default();
    let path = lines.next().unwrap_or_default();
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();

    let _ = sigv4::is_sigv4_authorization(authorization);
    let _ = sigv4::service_hint(Some(authorization), query);
    let _ = sigv4::service_hint(None, query);
    let _ = sigv4::parse_amz_date(authorization);
    let _ = sigv4::is_valid_s3_payload_hash(authorization);

    // The canonical forms of whatever came, for S3 and for the other services.
    for exclude_signature in [false, true] {
        let canonical = sigv4::canonical_query_string(query, exclude_signature);
        assert!(canonical.is_ascii());
        assert_eq!(
            sigv4::canonical_query_string(&canonical, exclude_signature),
            canonical,
            "canonical query string is not a fixed point"
        );
    }
    let s3_uri = sigv4::canonical_uri(path, "s3");
    assert!(s3_uri.is_ascii());
    assert_eq!(
        sigv4::canonical_uri(&s3_uri, "s3"),
        s3_uri,
        "S3 canonical URI is not a fixed point"
    );
    let uri = sigv4::canonical_uri(path, "ec2");
    assert!(uri.is_ascii() && uri.starts_with('/'));

    let parsed = [
        sigv4::parse_authorization(authorization).ok(),
        sigv4::parse_presigned(query).ok().flatten(),
    ];
    let now = Utc
        .with_ymd_and_hms(2025, 1, 2, 3, 4, 5)
        .single()
        .unwrap_or_default();
    for signature in parsed.into_iter().flatten() {
        assert!(signature.signed_headers.iter().any(|h| h == "host"));
        assert_eq!(signature.signature.len(), 64);
        assert!(signature
            .signature
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        let _ = signature.credential.scope();
        if let Ok((time, amz_date)) = sigv4::request_time(&signature, &headers) {
            let _ =
                sigv4::check_freshness(&signature, time, now, std::time::Duration::from_secs(900));
            let input = sigv4::CanonicalInput {
                method: "PUT",
                path,
                query,
                headers: &headers,
                payload_hash: sigv4::UNSIGNED_PAYLOAD,
            };
            let _ = sigv4::verify(&signature, &input, &amz_date, "secret");
        }
        let input = sigv4::CanonicalInput {
            method: "GET",
            path,
            query,
            headers: &headers,
            payload_hash: sigv4::EMPTY_SHA256,
        };
        let _ = sigv4::canonical_request(
            &input,
            &signature.signed_headers,
            &signature.credential.service,
            signature.presigned.is_some(),
        );
    }

    // SigV2 query authentication rides on the same query strings.
    let _ = sigv2::is_presigned_v2(query);
    if let Some(v2) = sigv2::parse(query) {
        let resource = sigv2::canonical_resource(path, query);
        let sts = sigv2::string_to_sign("GET", "", "", v2.expires, &headers, &resource);
        let _ = sigv2::signature(&v2.access_key_id, &sts);
    }
});
