#![allow(clippy::unwrap_used)]

use http::{HeaderMap, HeaderValue, StatusCode};
use md5::{Digest as _, Md5};
use sha2::Sha256;

use super::*;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn digests_of(algorithm: Option<ChecksumAlgorithm>, data: &[u8]) -> Digests {
    let mut hasher = ObjectHasher::new(algorithm);
    hasher.update(data);
    hasher.finish()
}

#[test]
fn known_vectors() {
    // Values botocore 1.44 computes for b"hello world" (Crc32Checksum, Sha1Checksum,
    // Sha256Checksum), and the catalogued CRC check values of b"123456789".
    use ChecksumAlgorithm::*;
    assert_eq!(Crc32.checksum(b"hello world"), "DUoRhQ==");
    assert_eq!(
        Sha1.checksum(b"hello world"),
        "Kq5sNclPz7QV2+lfQIuc6R7oRu0="
    );
    assert_eq!(
        Sha256.checksum(b"hello world"),
        "uU0nuZNNPgilLlLX2n2r+sSE7+N6U4DukIj3rOLvzek="
    );
    assert_eq!(Crc32.checksum(b""), "AAAAAA==");
    assert_eq!(Sha1.checksum(b""), "2jmj7l5rSw0yVb/vlWAYkK/YBwk=");
    assert_eq!(
        Sha256.checksum(b""),
        "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
    );
    let check = |algorithm: ChecksumAlgorithm, value: u64| {
        let raw = algorithm
            .decode_value(&algorithm.checksum(b"123456789"))
            .unwrap();
        let got = raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        assert_eq!(got, value, "{algorithm}");
    };
    check(Crc32, 0xCBF4_3926);
    check(Crc32c, 0xE306_9283);
    check(Crc64Nvme, 0xAE8B_1486_0A79_9888);
}

#[test]
fn incremental_equals_one_shot() {
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
    for algorithm in ChecksumAlgorithm::ALL {
        let mut hasher = ObjectHasher::new(Some(algorithm));
        for piece in data.chunks(777) {
            hasher.update(piece);
        }
        let digests = hasher.finish();
        assert_eq!(
            digests.checksum,
            Some((algorithm, algorithm.checksum(&data)))
        );
        assert_eq!(digests.md5, <[u8; 16]>::from(Md5::digest(&data)));
    }
}

#[test]
fn md5_and_etag() {
    let digests = digests_of(None, b"hello world");
    assert_eq!(digests.md5_hex(), "5eb63bbbe01eeed093cb22bb8f5acdc3");
    assert_eq!(digests.checksum, None);
}

#[test]
fn parses_names_case_insensitively() {
    assert_eq!(
        ChecksumAlgorithm::parse("crc32c"),
        Some(ChecksumAlgorithm::Crc32c)
    );
    assert_eq!(
        ChecksumAlgorithm::parse(" SHA256 "),
        Some(ChecksumAlgorithm::Sha256)
    );
    assert_eq!(
        ChecksumAlgorithm::parse("Crc64Nvme"),
        Some(ChecksumAlgorithm::Crc64Nvme)
    );
    assert_eq!(ChecksumAlgorithm::parse("MD5"), None);
    assert_eq!(
        ChecksumAlgorithm::from_header_name("X-Amz-Checksum-Sha1"),
        Some(ChecksumAlgorithm::Sha1)
    );
    assert_eq!(
        ChecksumAlgorithm::from_header_name("x-amz-checksum-type"),
        None
    );
    for algorithm in ChecksumAlgorithm::ALL {
        assert_eq!(
            algorithm.as_str().parse::<ChecksumAlgorithm>(),
            Ok(algorithm)
        );
        assert_eq!(
            ChecksumAlgorithm::from_header_name(algorithm.header_name()),
            Some(algorithm)
        );
    }
}

/// The catalog stores (sqlx) and JSON shows (serde) the names S3 spells: both derive them
/// with the same `rename_all`, checked here against `as_str`.
#[test]
fn stored_names_are_s3_names() {
    for algorithm in ChecksumAlgorithm::ALL {
        assert_eq!(serde_json::to_value(algorithm).unwrap(), algorithm.as_str());
    }
    for checksum_type in ChecksumType::ALL {
        assert_eq!(
            serde_json::to_value(checksum_type).unwrap(),
            checksum_type.as_str()
        );
        assert_eq!(
            ChecksumType::parse(&checksum_type.as_str().to_lowercase()),
            Some(checksum_type)
        );
    }
    assert_eq!(
        ChecksumType::of_value("AAAAAA==-3"),
        ChecksumType::Composite
    );
    assert_eq!(ChecksumType::of_value("AAAAAA=="), ChecksumType::FullObject);
}

#[test]
fn plain_request_expects_nothing() {
    let expectation =
        IntegrityExpectation::from_headers(&headers(&[("x-amz-checksum-mode", "ENABLED")]))
            .unwrap();
    assert_eq!(expectation.algorithm(), None);
    expectation
        .verify(&digests_of(None, b"anything"), None)
        .unwrap();
}

#[test]
fn content_md5_checked() {
    let good = headers(&[("content-md5", "XrY7u+Ae7tCTyyK7j1rNww==")]);
    let expectation = IntegrityExpectation::from_headers(&good).unwrap();
    expectation
        .verify(&digests_of(None, b"hello world"), None)
        .unwrap();
    let err = expectation
        .verify(&digests_of(None, b"hello world!"), None)
        .unwrap_err();
    assert_eq!(err, ChecksumError::ContentMd5Mismatch);
    assert_eq!(err.code(), "BadDigest");
    assert_eq!(err.status(), StatusCode::BAD_REQUEST);

    for bad in ["not base64!", "AAAA", ""] {
        let err =
            IntegrityExpectation::from_headers(&headers(&[("content-md5", bad)])).unwrap_err();
        assert_eq!(err.code(), "InvalidDigest", "{bad:?}");
        assert_eq!(err.message(), "The Content-MD5 you specified is not valid.");
    }
}

#[test]
fn checksum_header_checked() {
    // What boto3 sends for PutObject(Body=b"hello world") without aws-chunked.
    let expectation = IntegrityExpectation::from_headers(&headers(&[
        ("x-amz-sdk-checksum-algorithm", "CRC32"),
        ("x-amz-checksum-crc32", "DUoRhQ=="),
    ]))
    .unwrap();
    assert_eq!(expectation.algorithm(), Some(ChecksumAlgorithm::Crc32));
    assert_eq!(
        expectation.header_checksum(),
        Some((ChecksumAlgorithm::Crc32, "DUoRhQ=="))
    );
    let algorithm = expectation.algorithm();
    expectation
        .verify(&digests_of(algorithm, b"hello world"), None)
        .unwrap();
    let err = expectation
        .verify(&digests_of(algorithm, b"hello"), None)
        .unwrap_err();
    assert_eq!(err.code(), "BadDigest");
    assert_eq!(
        err.message(),
        "The CRC32 you specified did not match the calculated checksum."
    );
    // Hashed without the checksum: our bug, not the client's.
    let err = expectation
        .verify(&digests_of(None, b"hello world"), None)
        .unwrap_err();
    assert_eq!(err.code(), "InternalError");
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn malformed_checksum_values_rejected() {
    for (name, value) in [
        ("x-amz-checksum-crc32", "DUoRhQ"),
        ("x-amz-checksum-crc32", "AAAAAAAAAAA="),
        ("x-amz-checksum-sha256", "DUoRhQ=="),
        ("x-amz-checksum-crc64nvme", ""),
    ] {
        let err = IntegrityExpectation::from_headers(&headers(&[(name, value)])).unwrap_err();
        assert_eq!(err.code(), "InvalidRequest");
        assert_eq!(
            err.message(),
            format!("Value for {name} header is invalid.")
        );
    }
    let err = IntegrityExpectation::from_headers(&headers(&[("x-amz-checksum-md4", "AA==")]))
        .unwrap_err();
    assert_eq!(err, ChecksumError::UnknownChecksumHeader);
}

#[test]
fn more_than_one_checksum_rejected() {
    let err = IntegrityExpectation::from_headers(&headers(&[
        ("x-amz-checksum-crc32", "DUoRhQ=="),
        ("x-amz-checksum-sha1", "Kq5sNclPz7QV2+lfQIuc6R7oRu0="),
    ]))
    .unwrap_err();
    assert_eq!(err.code(), "InvalidRequest");
    assert_eq!(
        err.message(),
        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
    );
    let err = IntegrityExpectation::from_headers(&headers(&[
        ("x-amz-checksum-crc32", "DUoRhQ=="),
        ("x-amz-checksum-crc32", "DUoRhQ=="),
    ]))
    .unwrap_err();
    assert_eq!(err, ChecksumError::MultipleChecksums);
    // Even empty values count: S3 checks the number of headers first.
    let err = IntegrityExpectation::from_headers(&headers(&[
        ("x-amz-checksum-sha1", ""),
        ("x-amz-checksum-crc32", ""),
    ]))
    .unwrap_err();
    assert_eq!(err, ChecksumError::MultipleChecksums);
    let err = IntegrityExpectation::from_headers(&headers(&[
        ("x-amz-checksum-crc32", "DUoRhQ=="),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ]))
    .unwrap_err();
    assert_eq!(err, ChecksumError::ChecksumAndTrailer);
    assert_eq!(err.code(), "InvalidRequest");
}

#[test]
fn algorithm_headers() {
    let err = IntegrityExpectation::from_headers(&headers(&[
        ("x-amz-sdk-checksum-algorithm", "CRC32"),
        ("x-amz-checksum-crc32c", "yZRlqg=="),
    ]))
    .unwrap_err();
    assert_eq!(err.code(), "InvalidRequest");
    assert_eq!(
        err.message(),
        "Value for x-amz-sdk-checksum-algorithm header is invalid."
    );
    let err =
        IntegrityExpectation::from_headers(&headers(&[("x-amz-sdk-checksum-algorithm", "MD5")]))
            .unwrap_err();
    assert_eq!(err, ChecksumError::UnsupportedAlgorithm);
    assert_eq!(err.code(), "InvalidRequest");
    // An algorithm without a value: computed (and stored) but nothing to compare.
    let expectation =
        IntegrityExpectation::from_headers(&headers(&[("x-amz-checksum-algorithm", "sha256")]))
            .unwrap();
    assert_eq!(expectation.algorithm(), Some(ChecksumAlgorithm::Sha256));
    expectation
        .verify(&digests_of(expectation.algorithm(), b"x"), None)
        .unwrap();
}

#[test]
fn trailer_checked() {
    // The headers botocore sends with an aws-chunked PutObject.
    let expectation = IntegrityExpectation::from_headers(&headers(&[
        ("x-amz-sdk-checksum-algorithm", "CRC32"),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
        ("content-encoding", "aws-chunked"),
    ]))
    .unwrap();
    assert_eq!(expectation.algorithm(), Some(ChecksumAlgorithm::Crc32));
    assert_eq!(
        expectation.trailer_algorithm(),
        Some(ChecksumAlgorithm::Crc32)
    );
    let digests = digests_of(expectation.algorithm(), b"hello world");
    expectation.verify(&digests, Some("DUoRhQ==")).unwrap();

    let err = expectation.verify(&digests, Some("AAAAAA==")).unwrap_err();
    assert_eq!(
        err,
        ChecksumError::ChecksumMismatch(ChecksumAlgorithm::Crc32)
    );
    let err = expectation.verify(&digests, None).unwrap_err();
    assert_eq!(err.code(), "MalformedTrailerError");
    let err = expectation.verify(&digests, Some("nope")).unwrap_err();
    assert_eq!(err.code(), "InvalidRequest");
    assert_eq!(
        err.message(),
        "Value for x-amz-checksum-crc32 trailing header is invalid."
    );

    let err = IntegrityExpectation::from_headers(&headers(&[("x-amz-trailer", "x-amz-meta-foo")]))
        .unwrap_err();
    assert_eq!(err, ChecksumError::UnsupportedTrailer);
    let err = IntegrityExpectation::from_headers(&headers(&[(
        "x-amz-trailer",
        "x-amz-checksum-crc32, x-amz-checksum-sha1",
    )]))
    .unwrap_err();
    assert_eq!(err, ChecksumError::MultipleChecksums);
}

#[test]
fn multipart_etag_matches_s3() {
    // Two parts: the ETag S3 gives, computed the way every S3 client checks it.
    let part1 = <[u8; 16]>::from(Md5::digest(b"part one"));
    let part2 = <[u8; 16]>::from(Md5::digest(b"part two"));
    let mut concat = Vec::new();
    concat.extend_from_slice(&part1);
    concat.extend_from_slice(&part2);
    assert_eq!(
        multipart_etag(&[part1, part2]),
        format!("{}-2", hex::encode(Md5::digest(&concat)))
    );
    assert_eq!(
        multipart_etag(&[<[u8; 16]>::from(Md5::digest(b""))]),
        "59adb24ef3cdbe0297f05b395827453f-1"
    );
}

#[test]
fn composite_checksum_is_checksum_of_checksums() {
    let parts = [
        ChecksumAlgorithm::Sha256.checksum(b"part one"),
        ChecksumAlgorithm::Sha256.checksum(b"part two"),
    ];
    let part_refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    let mut concat = Vec::new();
    concat.extend(Sha256::digest(b"part one"));
    concat.extend(Sha256::digest(b"part two"));
    assert_eq!(
        composite_checksum(ChecksumAlgorithm::Sha256, &part_refs),
        Some(format!("{}-2", ChecksumAlgorithm::Sha256.checksum(&concat)))
    );
    assert_eq!(
        composite_checksum(ChecksumAlgorithm::Crc32, &part_refs),
        None
    );
}

#[test]
fn full_object_crc_combines_parts() {
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let splits = [0usize, 1, 4096, 65_536, 100_001, 199_999, 200_000];
    for algorithm in [
        ChecksumAlgorithm::Crc32,
        ChecksumAlgorithm::Crc32c,
        ChecksumAlgorithm::Crc64Nvme,
    ] {
        let parts: Vec<(String, u64)> = splits
            .windows(2)
            .map(|w| (algorithm.checksum(&data[w[0]..w[1]]), (w[1] - w[0]) as u64))
            .collect();
        let part_refs: Vec<(&str, u64)> = parts.iter().map(|(c, l)| (c.as_str(), *l)).collect();
        assert_eq!(
            full_object_crc(algorithm, &part_refs),
            Some(algorithm.checksum(&data)),
            "{algorithm}"
        );
        assert_eq!(
            full_object_crc(algorithm, &[]),
            Some(algorithm.checksum(b""))
        );
    }
    assert_eq!(full_object_crc(ChecksumAlgorithm::Sha1, &[]), None);
}
