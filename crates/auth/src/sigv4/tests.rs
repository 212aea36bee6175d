//! Tests of [`super`].
#![allow(clippy::unwrap_used)]

use super::signing::hmac;
use super::*;
use chrono::{DateTime, TimeZone, Utc};

// AWS SigV4 test suite: https://github.com/awslabs/aws-c-auth/tree/main/tests/aws-signing-test-suite/v4
// (the 2015 suite: AKIDEXAMPLE, 20150830T123600Z, us-east-1, service "service").
const SUITE_AKID: &str = "AKIDEXAMPLE";
const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
// The S3 documentation's examples (sig-v4-header-based-auth, sigv4-query-string-auth,
// sigv4-streaming).
const S3_AKID: &str = "AKIAIOSFODNN7EXAMPLE";
const S3_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

fn suite_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2015, 8, 30, 12, 36, 0).unwrap()
}
fn s3_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2013, 5, 24, 0, 0, 0).unwrap()
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    &headers.iter().find(|(n, _)| n == name).unwrap().1
}

struct Vector<'a> {
    method: &'a str,
    uri: &'a str,
    headers: &'a [(&'a str, &'a str)],
    body: &'a [u8],
    service: &'a str,
    region: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

/// Sign the vector with our client, compare with the published signature, then run the
/// published Authorization header through the verifier.
fn check(v: &Vector<'_>, akid: &str, secret: &str, time: DateTime<Utc>) {
    let given = owned(v.headers);
    let added = sign_request(
        v.method, v.uri, &given, v.body, akid, secret, v.region, v.service, time,
    );
    let authz = header(&added, "authorization").to_string();
    let scope = credential_scope(&format_amz_date(time)[..8], v.region, v.service);
    let expected = format!(
        "{ALGORITHM} Credential={akid}/{scope}, SignedHeaders={}, Signature={}",
        v.signed_headers, v.signature
    );
    assert_eq!(authz, expected, "{}", v.uri);

    // Verifier side.
    let mut all = given.clone();
    all.extend(added.iter().filter(|(n, _)| n != "authorization").cloned());
    let parsed = parse_authorization(&expected).unwrap();
    let (t, amz_date) = request_time(&parsed, &all).unwrap();
    assert_eq!(t, time);
    check_freshness(&parsed, t, time, std::time::Duration::from_secs(900)).unwrap();
    let payload = if v.service == "s3" {
        header(&all, "x-amz-content-sha256").to_string()
    } else {
        sha256_hex(v.body)
    };
    let (path, query) = v.uri.split_once('?').unwrap_or((v.uri, ""));
    let input = CanonicalInput {
        method: v.method,
        path,
        query,
        headers: &all,
        payload_hash: &payload,
    };
    let key = verify(&parsed, &input, &amz_date, secret).unwrap();
    assert_eq!(
        key,
        signing_key(secret, &amz_date[..8], v.region, v.service)
    );
    // And a wrong secret fails.
    assert!(matches!(
        verify(&parsed, &input, &amz_date, "not-the-secret"),
        Err(AuthError::SignatureDoesNotMatch)
    ));
}

fn suite(method: &str, uri: &str, headers: &[(&str, &str)], signed: &str, sig: &str) {
    suite_body(method, uri, headers, b"", signed, sig);
}

fn suite_body(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    signed: &str,
    sig: &str,
) {
    let mut all = vec![("Host", "example.amazonaws.com")];
    all.extend_from_slice(headers);
    check(
        &Vector {
            method,
            uri,
            headers: &all,
            body,
            service: "service",
            region: "us-east-1",
            signed_headers: signed,
            signature: sig,
        },
        SUITE_AKID,
        SUITE_SECRET,
        suite_time(),
    );
}

const HOST_DATE: &str = "host;x-amz-date";

#[test]
fn suite_get_vanilla() {
    suite(
        "GET",
        "/",
        &[],
        HOST_DATE,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn suite_get_vanilla_query_order_key_case() {
    suite(
        "GET",
        "/?Param2=value2&Param1=value1",
        &[],
        HOST_DATE,
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    );
}

#[test]
fn suite_get_vanilla_empty_query_key() {
    suite(
        "GET",
        "/?Param1=value1",
        &[],
        HOST_DATE,
        "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb",
    );
}

#[test]
fn suite_get_vanilla_query_unreserved() {
    suite(
        "GET",
        "/?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        &[],
        HOST_DATE,
        "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
    );
}

#[test]
fn suite_get_vanilla_utf8_query() {
    suite(
        "GET",
        "/?ሴ=bar",
        &[],
        HOST_DATE,
        "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
    );
}

#[test]
fn suite_get_unreserved() {
    suite(
        "GET",
        "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
        &[],
        HOST_DATE,
        "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
    );
}

#[test]
fn suite_get_utf8() {
    suite(
        "GET",
        "/ሴ",
        &[],
        HOST_DATE,
        "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85",
    );
}

#[test]
fn suite_get_space_normalized() {
    suite(
        "GET",
        "/example space/",
        &[],
        HOST_DATE,
        "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
    );
}

#[test]
fn suite_get_relative_relative_normalized() {
    suite(
        "GET",
        "/example1/example2/../..",
        &[],
        HOST_DATE,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn suite_get_slash_dot_slash_normalized() {
    suite(
        "GET",
        "/./",
        &[],
        HOST_DATE,
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
}

#[test]
fn suite_get_slashes_normalized() {
    suite(
        "GET",
        "//example//",
        &[],
        HOST_DATE,
        "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
    );
}

#[test]
fn suite_get_header_value_trim() {
    suite(
        "GET",
        "/",
        &[("My-Header1", " value1"), ("My-Header2", " \"a   b   c\"")],
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    );
}

#[test]
fn suite_get_header_key_duplicate() {
    suite(
        "GET",
        "/",
        &[
            ("My-Header1", "value2"),
            ("My-Header1", "value2"),
            ("My-Header1", "value1"),
        ],
        "host;my-header1;x-amz-date",
        "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
    );
}

#[test]
fn suite_get_header_value_order() {
    suite(
        "GET",
        "/",
        &[
            ("My-Header1", "value4"),
            ("My-Header1", "value1"),
            ("My-Header1", "value3"),
            ("My-Header1", "value2"),
        ],
        "host;my-header1;x-amz-date",
        "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01",
    );
}

#[test]
fn suite_post_vanilla() {
    suite(
        "POST",
        "/",
        &[],
        HOST_DATE,
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    );
}

#[test]
fn suite_post_header_key_sort() {
    suite(
        "POST",
        "/",
        &[("My-Header1", "value1")],
        "host;my-header1;x-amz-date",
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    );
}

#[test]
fn suite_post_x_www_form_urlencoded() {
    // The original 2015 suite file.
    suite_body(
        "POST",
        "/",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"Param1=value1",
        "content-type;host;x-amz-date",
        "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
    );
    // aws-c-auth's revision, which also signs the length and the payload hash.
    suite_body(
        "POST",
        "/",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Content-Length", "13"),
            (
                "x-amz-content-sha256",
                "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            ),
        ],
        b"Param1=value1",
        "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
        "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
    );
}

/// The IAM ListUsers example of the SigV4 documentation ("Create a signed AWS API request").
#[test]
fn iam_documentation_example() {
    assert_eq!(
        hex::encode(signing_key(SUITE_SECRET, "20150830", "us-east-1", "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
    let headers = owned(&[
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("host", "iam.amazonaws.com"),
        ("x-amz-date", "20150830T123600Z"),
    ]);
    let signed: Vec<String> = ["content-type", "host", "x-amz-date"]
        .map(String::from)
        .to_vec();
    let input = CanonicalInput {
        method: "GET",
        path: "/",
        query: "Action=ListUsers&Version=2010-05-08",
        headers: &headers,
        payload_hash: EMPTY_SHA256,
    };
    let creq = canonical_request(&input, &signed, "iam", false).unwrap();
    assert_eq!(
        sha256_hex(creq.as_bytes()),
        "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
    );
    check(
        &Vector {
            method: "GET",
            uri: "/?Action=ListUsers&Version=2010-05-08",
            headers: &[
                (
                    "content-type",
                    "application/x-www-form-urlencoded; charset=utf-8",
                ),
                ("host", "iam.amazonaws.com"),
            ],
            body: b"",
            service: "iam",
            region: "us-east-1",
            signed_headers: "content-type;host;x-amz-date",
            signature: "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7",
        },
        SUITE_AKID,
        SUITE_SECRET,
        suite_time(),
    );
}

fn s3(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8], signed: &str, sig: &str) {
    let mut all = vec![("host", "examplebucket.s3.amazonaws.com")];
    all.extend_from_slice(headers);
    check(
        &Vector {
            method,
            uri,
            headers: &all,
            body,
            service: "s3",
            region: "us-east-1",
            signed_headers: signed,
            signature: sig,
        },
        S3_AKID,
        S3_SECRET,
        s3_time(),
    );
}

#[test]
fn s3_documentation_get_object_with_range() {
    s3(
        "GET",
        "/test.txt",
        &[
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
        ],
        b"",
        "host;range;x-amz-content-sha256;x-amz-date",
        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
    );
}

#[test]
fn s3_documentation_put_object() {
    let body = b"Welcome to Amazon S3.";
    let hash = sha256_hex(body);
    assert_eq!(
        hash,
        "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    );
    s3(
        "PUT",
        "/test$file.text",
        &[
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("x-amz-content-sha256", &hash),
        ],
        body,
        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
        "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
    );
    // The key as a client puts it on the wire signs the same.
    assert_eq!(
        canonical_uri("/test%24file.text", "s3"),
        "/test%24file.text"
    );
    assert_eq!(canonical_uri("/test$file.text", "s3"), "/test%24file.text");
}

#[test]
fn s3_documentation_get_bucket_lifecycle_and_list() {
    let h = [("x-amz-content-sha256", EMPTY_SHA256)];
    let signed = "host;x-amz-content-sha256;x-amz-date";
    s3(
        "GET",
        "/?lifecycle",
        &h,
        b"",
        signed,
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
    s3(
        "GET",
        "/?max-keys=2&prefix=J",
        &h,
        b"",
        signed,
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
}

#[test]
fn s3_documentation_presigned_url() {
    let url = presign_url(
        "GET",
        "/test.txt",
        "examplebucket.s3.amazonaws.com",
        S3_AKID,
        S3_SECRET,
        "us-east-1",
        "s3",
        s3_time(),
        86400,
    );
    assert_eq!(
        url,
        "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    );
    let (path, query) = url.split_once('?').unwrap();
    let parsed = parse_presigned(query).unwrap().unwrap();
    assert_eq!(parsed.credential.access_key_id, S3_AKID);
    let headers = owned(&[("host", "examplebucket.s3.amazonaws.com")]);
    let (t, amz) = request_time(&parsed, &headers).unwrap();
    let skew = std::time::Duration::from_secs(900);
    check_freshness(&parsed, t, s3_time() + chrono::Duration::hours(23), skew).unwrap();
    assert!(matches!(
        check_freshness(&parsed, t, s3_time() + chrono::Duration::hours(25), skew),
        Err(AuthError::RequestExpired(_))
    ));
    let input = CanonicalInput {
        method: "GET",
        path,
        query,
        headers: &headers,
        payload_hash: UNSIGNED_PAYLOAD,
    };
    verify(&parsed, &input, &amz, S3_SECRET).unwrap();
    let input = CanonicalInput {
        method: "PUT",
        ..input
    };
    assert!(verify(&parsed, &input, &amz, S3_SECRET).is_err());
}

#[test]
fn s3_documentation_chunked_upload() {
    let headers = [
        ("host", "s3.amazonaws.com"),
        ("content-encoding", "aws-chunked"),
        ("content-length", "66824"),
        ("x-amz-content-sha256", STREAMING_PAYLOAD),
        ("x-amz-decoded-content-length", "66560"),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ];
    let added = sign_request(
        "PUT",
        "/examplebucket/chunkObject.txt",
        &owned(&headers),
        b"",
        S3_AKID,
        S3_SECRET,
        "us-east-1",
        "s3",
        s3_time(),
    );
    let seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    assert_eq!(
        header(&added, "authorization"),
        format!("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class, Signature={seed}")
    );
    let key = signing_key(S3_SECRET, "20130524", "us-east-1", "s3");
    let scope = "20130524/us-east-1/s3/aws4_request";
    let date = "20130524T000000Z";
    let c1 = chunk_signature(&key, date, scope, seed, &[b'a'; 65536]);
    assert_eq!(
        c1,
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
    );
    let c2 = chunk_signature(&key, date, scope, &c1, &[b'a'; 1024]);
    assert_eq!(
        c2,
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
    );
    let c3 = chunk_signature(&key, date, scope, &c2, b"");
    assert_eq!(
        c3,
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"
    );
}

#[test]
fn parses_authorization_tolerantly() {
    let p = parse_authorization("AWS4-HMAC-SHA256 Signature=ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789,SignedHeaders=Host;x-amz-date ,  Credential=AK/20150830/eu-west-1/sts/aws4_request").unwrap();
    assert_eq!(p.credential.access_key_id, "AK");
    assert_eq!(p.credential.region, "eu-west-1");
    assert_eq!(p.credential.service, "sts");
    assert_eq!(p.signed_headers, vec!["host", "x-amz-date"]);
    assert_eq!(
        p.signature,
        "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
    );
}

#[test]
fn rejects_malformed_authorization() {
    let sig = "0".repeat(64);
    let bad = [
        "AWS4-HMAC-SHA256".to_string(),
        "AWS4-HMAC-SHA256X Credential=a".to_string(),
        format!("AWS4-HMAC-SHA256 SignedHeaders=host, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/sts/aws4_request, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/sts, SignedHeaders=host, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/2015-08-30/us-east-1/sts/aws4_request, SignedHeaders=host, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/sts/aws4_request, SignedHeaders=x-amz-date, Signature={sig}"),
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=xyz".to_string(),
        format!("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/sts/aws4_request, Credential=AK/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, Signature={sig}"),
        format!("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/sts/aws4_request, SignedHeaders=host, garbage, Signature={sig}"),
    ];
    for value in bad {
        assert!(
            matches!(
                parse_authorization(&value),
                Err(AuthError::IncompleteSignature(_))
            ),
            "{value}"
        );
    }
}

#[test]
fn presigned_parsing() {
    assert!(parse_presigned("a=b&c").unwrap().is_none());
    let e = parse_presigned("X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20150830T123600Z")
        .unwrap_err();
    assert!(matches!(e, AuthError::IncompleteSignature(_)));
    let e = parse_presigned("X-Amz-Algorithm=AWS4-ECDSA-P256-SHA256").unwrap_err();
    assert!(matches!(e, AuthError::IncompleteSignature(_)));
    assert_eq!(
        service_hint(
            None,
            "X-Amz-Credential=AK%2F20150830%2Fus-east-1%2Fs3%2Faws4_request"
        ),
        Some("s3".to_string())
    );
    assert_eq!(
        service_hint(
            Some("AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/ec2/aws4_request, Signature=x"),
            ""
        ),
        Some("ec2".to_string())
    );
    assert_eq!(service_hint(Some("AWS4-HMAC-SHA256 nonsense"), ""), None);
}

#[test]
fn canonical_pieces() {
    assert_eq!(
        canonical_query_string("b=2&a=1&a=0&c", false),
        "a=0&a=1&b=2&c="
    );
    assert_eq!(
        canonical_query_string("k=a%20b&k2=a+b&%7e=x", false),
        "k=a%20b&k2=a%2Bb&~=x"
    );
    assert_eq!(
        canonical_query_string("X-Amz-Signature=abc&X-Amz-Date=1", true),
        "X-Amz-Date=1"
    );
    assert_eq!(canonical_uri("", "sts"), "/");
    assert_eq!(canonical_uri("/a/./b/../c//d/", "sts"), "/a/c/d/");
    assert_eq!(canonical_uri("/a%20b", "sts"), "/a%2520b");
    assert_eq!(canonical_uri("/a%20b//../c", "s3"), "/a%20b//../c");
    assert_eq!(canonical_uri("/a%2fb+c%7E", "s3"), "/a%2Fb%2Bc~");
    assert_eq!(canonical_uri("/bad%zz%", "s3"), "/bad%25zz%25");
    assert!(is_valid_s3_payload_hash(UNSIGNED_PAYLOAD));
    assert!(is_valid_s3_payload_hash(EMPTY_SHA256));
    assert!(!is_valid_s3_payload_hash("nope"));
    assert!(constant_time_eq(b"abc", b"abc"));
    assert!(!constant_time_eq(b"abc", b"abd"));
    assert!(!constant_time_eq(b"abc", b"ab"));
}

#[test]
fn long_hmac_keys_follow_hmac() {
    // RFC 4231 test case 6: a 131-byte key.
    let key = [0xaau8; 131];
    assert_eq!(
        hex::encode(hmac(
            &key,
            b"Test Using Larger Than Block-Size Key - Hash Key First"
        )),
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    );
}

#[test]
fn freshness_of_header_signatures() {
    let p = parse_authorization(&format!(
        "AWS4-HMAC-SHA256 Credential=AK/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        "0".repeat(64)
    ))
    .unwrap();
    let t = suite_time();
    let skew = std::time::Duration::from_secs(900);
    check_freshness(&p, t, t + chrono::Duration::minutes(14), skew).unwrap();
    check_freshness(&p, t, t - chrono::Duration::minutes(14), skew).unwrap();
    assert!(check_freshness(&p, t, t + chrono::Duration::minutes(16), skew).is_err());
    assert!(check_freshness(&p, t, t - chrono::Duration::minutes(16), skew).is_err());
    // Unsigned date header, and a scope date that is not the request's day.
    let headers = owned(&[("host", "h"), ("x-amz-date", "20150831T000000Z")]);
    assert!(request_time(&p, &headers).is_err());
    let unsigned = ParsedSignature {
        signed_headers: vec!["host".into()],
        ..p.clone()
    };
    let headers = owned(&[("host", "h"), ("x-amz-date", "20150830T000000Z")]);
    assert!(request_time(&unsigned, &headers).is_err());
    assert!(request_time(&p, &headers).is_ok());
}

#[test]
fn presigned_expiry_limits() {
    let p = |expires: u64| ParsedSignature {
        credential: Credential::parse("AK/20150830/us-east-1/s3/aws4_request").unwrap(),
        signed_headers: vec!["host".into()],
        signature: "0".repeat(64),
        presigned: Some(PresignedParams {
            amz_date: "20150830T123600Z".into(),
            expires,
            security_token: None,
            content_sha256: None,
        }),
    };
    let t = suite_time();
    let skew = std::time::Duration::from_secs(900);
    assert!(check_freshness(&p(604_800), t, t, skew).is_ok());
    assert!(check_freshness(&p(604_801), t, t, skew).is_err());
    assert!(check_freshness(&p(60), t, t + chrono::Duration::seconds(61), skew).is_err());
    assert!(check_freshness(&p(60), t, t + chrono::Duration::seconds(59), skew).is_ok());
    assert!(check_freshness(&p(60), t, t + chrono::Duration::seconds(60), skew).is_err());
    assert!(check_freshness(&p(0), t, t, skew).is_err());
    assert!(check_freshness(&p(60), t, t - chrono::Duration::minutes(16), skew).is_err());
}
