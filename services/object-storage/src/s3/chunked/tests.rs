#![allow(clippy::unwrap_used)]

use std::convert::Infallible;
use std::fmt;

use futures::executor::block_on;

use super::*;

// The example of the S3 API reference ("Signature Calculations for the Authorization
// Header: Transferring Payload in Multiple Chunks"): 66560 bytes of 'a' in 64 KiB chunks.
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20130524T000000Z";
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const SIG1: &str = "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648";
const SIG2: &str = "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497";
const SIG3: &str = "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9";

fn signing() -> ChunkSigning {
    ChunkSigning {
        signing_key: sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3").to_vec(),
        amz_date: AMZ_DATE.into(),
        scope: SCOPE.into(),
        seed_signature: SEED.into(),
    }
}

fn aws_example_body() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(format!("10000;chunk-signature={SIG1}\r\n").as_bytes());
    body.extend_from_slice(&[b'a'; 65536]);
    body.extend_from_slice(format!("\r\n400;chunk-signature={SIG2}\r\n").as_bytes());
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(format!("\r\n0;chunk-signature={SIG3}\r\n\r\n").as_bytes());
    body
}

/// Build a signed (optionally trailered) body with the given chunk sizes.
fn signed_body(data: &[u8], chunk_size: usize, trailers: &[(&str, &str)]) -> Vec<u8> {
    let signing = signing();
    let mut previous = SEED.to_string();
    let mut body = Vec::new();
    let pieces: Vec<&[u8]> = data.chunks(chunk_size).chain([&[][..]]).collect();
    for piece in pieces {
        let signature =
            sigv4::chunk_signature(&signing.signing_key, AMZ_DATE, SCOPE, &previous, piece);
        body.extend_from_slice(
            format!("{:x};chunk-signature={signature}\r\n", piece.len()).as_bytes(),
        );
        if !piece.is_empty() {
            body.extend_from_slice(piece);
            body.extend_from_slice(b"\r\n");
        }
        previous = signature;
    }
    if !trailers.is_empty() {
        let canonical: String = trailers
            .iter()
            .map(|(name, value)| format!("{name}:{value}\n"))
            .collect();
        let signature = sigv4::trailer_signature(
            &signing.signing_key,
            AMZ_DATE,
            SCOPE,
            &previous,
            canonical.as_bytes(),
        );
        for (name, value) in trailers {
            body.extend_from_slice(format!("{name}:{value}\r\n").as_bytes());
        }
        body.extend_from_slice(format!("{TRAILER_SIGNATURE}:{signature}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body
}

/// Feed `body` split into pieces of the given sizes (cycled); collect data and trailers.
fn run_split(
    body: &[u8],
    piece_sizes: &[usize],
    mode: ChunkedMode,
    decoded_length: Option<u64>,
) -> Result<(Vec<u8>, Trailers), ChunkedError> {
    let mut pieces = Vec::new();
    let mut offset = 0;
    let mut sizes = piece_sizes.iter().cycle();
    while offset < body.len() {
        let size = (*sizes.next().unwrap()).max(1).min(body.len() - offset);
        pieces.push(Ok::<_, Infallible>(Bytes::copy_from_slice(
            &body[offset..offset + size],
        )));
        offset += size;
    }
    let (stream, handle) = decode(futures::stream::iter(pieces), mode, decoded_length);
    let items: Vec<Result<Bytes, ChunkedError>> = block_on(stream.collect());
    let mut data = Vec::new();
    for item in items {
        data.extend_from_slice(&item?);
    }
    let trailers = handle.trailers().expect("trailers after a successful end");
    Ok((data, trailers))
}

fn run(
    body: &[u8],
    mode: ChunkedMode,
    decoded_length: Option<u64>,
) -> Result<(Vec<u8>, Trailers), ChunkedError> {
    run_split(body, &[usize::MAX], mode, decoded_length)
}

/// A small, dependency-free pseudo-random sequence for split sizes.
fn random_sizes(seed: u64, count: usize, max: u64) -> Vec<usize> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) % max + 1) as usize
        })
        .collect()
}

#[test]
fn aws_documentation_example() {
    let body = aws_example_body();
    assert_eq!(body.len(), 66824, "the example's Content-Length");
    let (data, trailers) = run(&body, ChunkedMode::Signed(signing()), Some(66560)).unwrap();
    assert_eq!(data, vec![b'a'; 66560]);
    assert!(trailers.is_empty());
}

#[test]
fn aws_example_split_everywhere() {
    let body = aws_example_body();
    let expected = vec![b'a'; 66560];
    for sizes in [
        vec![1],
        vec![2],
        vec![7],
        vec![64],
        vec![65537],
        vec![3, 1, 90, 17],
    ] {
        let (data, _) =
            run_split(&body, &sizes, ChunkedMode::Signed(signing()), Some(66560)).unwrap();
        assert_eq!(data, expected, "{sizes:?}");
    }
    for seed in 0..20 {
        let sizes = random_sizes(seed, 64, 300);
        let (data, _) =
            run_split(&body, &sizes, ChunkedMode::Signed(signing()), Some(66560)).unwrap();
        assert_eq!(data, expected, "seed {seed}");
    }
}

#[test]
fn every_split_point_of_the_framing() {
    // Split a small multi-chunk body into two pieces at every possible offset.
    let data: Vec<u8> = (0..300u32).map(|i| (i % 251) as u8).collect();
    let body = signed_body(&data, 100, &[("x-amz-checksum-crc32", "AAAAAA==")]);
    for cut in 1..body.len() {
        let (decoded, trailers) = run_split(
            &body,
            &[cut, body.len()],
            ChunkedMode::SignedWithTrailer(signing()),
            Some(300),
        )
        .unwrap();
        assert_eq!(decoded, data, "cut at {cut}");
        assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("AAAAAA=="));
    }
}

#[test]
fn tampered_data_detected() {
    let mut body = aws_example_body();
    let position = body.len() - 200; // inside the 1 KiB chunk
    body[position] = b'b';
    let err = run(&body, ChunkedMode::Signed(signing()), Some(66560)).unwrap_err();
    assert!(
        matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
        "{err}"
    );
    assert_eq!(err.code(), "SignatureDoesNotMatch");
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
}

#[test]
fn tampered_signature_detected() {
    let body = String::from_utf8(aws_example_body())
        .unwrap()
        .replace(SIG3, &"0".repeat(64));
    let err = run(body.as_bytes(), ChunkedMode::Signed(signing()), None).unwrap_err();
    assert!(
        matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
        "{err}"
    );
    // Chunks swapped: each signature is genuine, but chains from another position.
    let body = signed_body(b"AAAAAAAAAABBBBBBBBBB", 10, &[]);
    let block = "a;chunk-signature=".len() + 64 + 2 + 10 + 2;
    let mut swapped = body[block..2 * block].to_vec();
    swapped.extend_from_slice(&body[..block]);
    swapped.extend_from_slice(&body[2 * block..]);
    let err = run(&swapped, ChunkedMode::Signed(signing()), None).unwrap_err();
    assert!(
        matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
        "{err}"
    );
    // A wrong seed (another request's signature) breaks the first chunk.
    let err = run(
        &body,
        ChunkedMode::Signed(ChunkSigning {
            seed_signature: SIG1.into(),
            ..signing()
        }),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
        "{err}"
    );
    // Unchanged, it decodes.
    let (data, _) = run(&body, ChunkedMode::Signed(signing()), Some(20)).unwrap();
    assert_eq!(data, b"AAAAAAAAAABBBBBBBBBB");
}

#[test]
fn missing_chunk_signature_rejected() {
    let err = run(
        b"5\r\nhello\r\n0\r\n\r\n",
        ChunkedMode::Signed(signing()),
        None,
    )
    .unwrap_err();
    assert_eq!(err.code(), "SignatureDoesNotMatch");
}

#[test]
fn forged_chunk_is_not_released_whole() {
    // The last piece of a chunk with a bad signature is never yielded.
    let mut body = aws_example_body();
    body[100] = b'b';
    let (stream, handle) = decode(
        futures::stream::iter([Ok::<_, Infallible>(Bytes::from(body))]),
        ChunkedMode::Signed(signing()),
        None,
    );
    let items: Vec<_> = block_on(stream.collect());
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
    assert!(handle.trailers().is_none());
}

#[test]
fn signed_trailer() {
    let data = b"hello world, a little longer than one chunk".to_vec();
    let crc = "DUoRhQ=="; // not checked here: that is checksum.rs's job
    let body = signed_body(&data, 16, &[("x-amz-checksum-crc32", crc)]);
    let (decoded, trailers) = run(
        &body,
        ChunkedMode::SignedWithTrailer(signing()),
        Some(data.len() as u64),
    )
    .unwrap();
    assert_eq!(decoded, data);
    assert_eq!(trailers.get("X-Amz-Checksum-Crc32"), Some(crc));
    assert_eq!(trailers.len(), 1, "the trailer signature is not reported");

    // Trailer value altered after signing.
    let forged = String::from_utf8(body.clone())
        .unwrap()
        .replace(crc, "AAAAAA==");
    let err = run(
        forged.as_bytes(),
        ChunkedMode::SignedWithTrailer(signing()),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
        "{err}"
    );

    // Trailer signature removed.
    let text = String::from_utf8(body).unwrap();
    let start = text.find(TRAILER_SIGNATURE).unwrap();
    let stripped = format!("{}\r\n", &text[..start]);
    let err = run(
        stripped.as_bytes(),
        ChunkedMode::SignedWithTrailer(signing()),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
        "{err}"
    );
}

#[test]
fn aws_trailer_documentation_example() {
    // "Signature Calculations for the Authorization Header: Including Trailing Headers":
    // the same 66560 bytes with a trailing CRC32C; 66946 bytes on the wire.
    let seed = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
    let mut body = Vec::new();
    body.extend_from_slice(b"10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n");
    body.extend_from_slice(&[b'a'; 65536]);
    body.extend_from_slice(b"\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n");
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(b"\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n");
    let trailer = b"x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n";
    let mode = || {
        ChunkedMode::SignedWithTrailer(ChunkSigning {
            seed_signature: seed.into(),
            ..signing()
        })
    };
    let canonical = [&body[..], trailer, b"\r\n"].concat();
    assert_eq!(canonical.len(), 66946);
    // Also the layouts seen in the wild: a CRLF before the trailers, none after.
    let extra_crlf = [&body[..], b"\r\n", trailer, b"\r\n"].concat();
    let no_final_crlf = [&body[..], trailer].concat();
    for variant in [&canonical, &extra_crlf, &no_final_crlf] {
        for sizes in [vec![usize::MAX], vec![7], vec![4096, 1, 33]] {
            let (data, trailers) = run_split(variant, &sizes, mode(), Some(66560)).unwrap();
            assert_eq!(data, vec![b'a'; 66560]);
            assert_eq!(trailers.get("x-amz-checksum-crc32c"), Some("sOO8/Q=="));
            assert_eq!(
                crate::checksum::ChecksumAlgorithm::Crc32c.checksum(&data),
                "sOO8/Q=="
            );
        }
    }
    let forged = String::from_utf8(canonical)
        .unwrap()
        .replace("sOO8/Q==", "sOO8/Q=A");
    let err = run(forged.as_bytes(), mode(), None).unwrap_err();
    assert!(
        matches!(err, ChunkedError::SignatureDoesNotMatch(_)),
        "{err}"
    );
}

#[test]
fn signed_trailer_mode_without_trailers() {
    let body = signed_body(b"abc", 8192, &[]);
    let (decoded, trailers) =
        run(&body, ChunkedMode::SignedWithTrailer(signing()), Some(3)).unwrap();
    assert_eq!(decoded, b"abc");
    assert!(trailers.is_empty());
}

#[test]
fn trailers_refused_in_plain_signed_mode() {
    let body = signed_body(b"abc", 8192, &[("x-amz-checksum-crc32", "AAAAAA==")]);
    let err = run(&body, ChunkedMode::Signed(signing()), None).unwrap_err();
    assert_eq!(err.code(), "MalformedTrailerError");
}

// The exact bytes botocore 1.44's `AwsChunkedWrapper` produces (what aws-cli/boto3 send
// for PutObject with STREAMING-UNSIGNED-PAYLOAD-TRAILER):
// AwsChunkedWrapper(io.BytesIO(b"hello world"), checksum_cls=Crc32Checksum,
//                   checksum_name="x-amz-checksum-crc32", chunk_size=4).read()
const BOTOCORE_UNSIGNED: &[u8] =
    b"4\r\nhell\r\n4\r\no wo\r\n3\r\nrld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
// The same for an empty body (default chunk size).
const BOTOCORE_UNSIGNED_EMPTY: &[u8] = b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";

#[test]
fn botocore_unsigned_trailer() {
    for sizes in [vec![usize::MAX], vec![1], vec![2], vec![5, 3]] {
        let (data, trailers) = run_split(
            BOTOCORE_UNSIGNED,
            &sizes,
            ChunkedMode::UnsignedWithTrailer,
            Some(11),
        )
        .unwrap();
        assert_eq!(data, b"hello world");
        assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("DUoRhQ=="));
    }
    let (data, trailers) = run(
        BOTOCORE_UNSIGNED_EMPTY,
        ChunkedMode::UnsignedWithTrailer,
        Some(0),
    )
    .unwrap();
    assert!(data.is_empty());
    assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("AAAAAA=="));
}

#[test]
fn unsigned_checks_with_checksum_module() {
    use crate::checksum::{IntegrityExpectation, ObjectHasher};
    let mut headers = http::HeaderMap::new();
    headers.insert("x-amz-trailer", "x-amz-checksum-crc32".parse().unwrap());
    headers.insert("x-amz-sdk-checksum-algorithm", "CRC32".parse().unwrap());
    let expectation = IntegrityExpectation::from_headers(&headers).unwrap();
    let (data, trailers) = run(
        BOTOCORE_UNSIGNED,
        ChunkedMode::UnsignedWithTrailer,
        Some(11),
    )
    .unwrap();
    let mut hasher = ObjectHasher::new(expectation.algorithm());
    hasher.update(&data);
    let trailer_name = expectation.trailer_algorithm().unwrap().header_name();
    expectation
        .verify(&hasher.finish(), trailers.get(trailer_name))
        .unwrap();
}

#[test]
fn lenient_line_endings_and_final_line() {
    // Bare LF line ends, chunk extensions ignored in unsigned mode.
    let (data, trailers) = run(
        b"5;ext=1\nhello\n0\nx-amz-checksum-crc32:AAAAAA==\n\n",
        ChunkedMode::UnsignedWithTrailer,
        Some(5),
    )
    .unwrap();
    assert_eq!(data, b"hello");
    assert_eq!(trailers.get("x-amz-checksum-crc32"), Some("AAAAAA=="));
    // Body ending right after the trailers, and stray CRLFs after the end.
    for body in [
        &b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n"[..],
        &b"5\r\nhello\r\n0\r\n\r\n\r\n"[..],
        &b"5\r\nhello\r\n0\r\n"[..],
    ] {
        let (data, _) = run(body, ChunkedMode::UnsignedWithTrailer, Some(5)).unwrap();
        assert_eq!(data, b"hello");
    }
}

#[test]
fn malformed_framing() {
    let cases: &[(&[u8], &str)] = &[
        (b"", "IncompleteBody"),
        (b"zz\r\nhello\r\n0\r\n\r\n", "IncompleteBody"),
        (b"\r\nhello\r\n0\r\n\r\n", "IncompleteBody"),
        (b"5\r\nhello world\r\n0\r\n\r\n", "IncompleteBody"),
        (b"5\r\nhel", "IncompleteBody"),
        (b"5\r\nhello", "IncompleteBody"),
        (b"5\r\nhello\r\n", "IncompleteBody"),
        (
            b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AA",
            "IncompleteBody",
        ),
        (b"11111111111111111\r\n", "IncompleteBody"),
        (
            b"5\r\nhello\r\n0\r\nnot a trailer\r\n\r\n",
            "MalformedTrailerError",
        ),
        (b"5\r\nhello\r\n0\r\n:x\r\n\r\n", "MalformedTrailerError"),
        (
            b"5\r\nhello\r\n0\r\na:1\r\na:2\r\n\r\n",
            "MalformedTrailerError",
        ),
        (b"5\r\nhello\r\n0\r\n\r\n\r\nmore", "MalformedTrailerError"),
        (b"5\r\nhello\r\n0\r\n\r\nmore", "IncompleteBody"),
    ];
    for (body, code) in cases {
        for sizes in [vec![usize::MAX], vec![1]] {
            let err = run_split(body, &sizes, ChunkedMode::UnsignedWithTrailer, None).unwrap_err();
            assert_eq!(
                err.code(),
                *code,
                "{:?}: {err}",
                String::from_utf8_lossy(body)
            );
            assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        }
    }
}

#[test]
fn decoded_length_enforced() {
    for (declared, ok) in [(11, true), (10, false), (12, false), (0, false)] {
        let result = run(
            BOTOCORE_UNSIGNED,
            ChunkedMode::UnsignedWithTrailer,
            Some(declared),
        );
        assert_eq!(result.is_ok(), ok, "declared {declared}");
        if let Err(err) = result {
            assert_eq!(err.code(), "IncompleteBody");
        }
    }
    // A chunk announcing more than declared is refused before its data is passed on.
    let (stream, _) = decode(
        futures::stream::iter([Ok::<_, Infallible>(Bytes::from_static(b"ffffffff\r\nabc"))]),
        ChunkedMode::UnsignedWithTrailer,
        Some(3),
    );
    let items: Vec<_> = block_on(stream.collect());
    assert_eq!(items.len(), 1);
    assert!(items[0].is_err());
}

#[test]
fn line_length_bounded() {
    let mut body = b"5".to_vec();
    body.extend(std::iter::repeat_n(b' ', MAX_LINE_LEN + 10));
    body.extend_from_slice(b"\r\nhello\r\n0\r\n\r\n");
    for sizes in [vec![usize::MAX], vec![1], vec![100]] {
        let err = run_split(&body, &sizes, ChunkedMode::UnsignedWithTrailer, None).unwrap_err();
        assert_eq!(err.code(), "IncompleteBody");
    }
    let mut trailer = b"0\r\nx-amz-checksum-crc32:".to_vec();
    trailer.extend(std::iter::repeat_n(b'A', MAX_LINE_LEN));
    trailer.extend_from_slice(b"\r\n\r\n");
    let err = run(&trailer, ChunkedMode::UnsignedWithTrailer, None).unwrap_err();
    assert_eq!(err.code(), "MalformedTrailerError");
    let mut many = b"0\r\n".to_vec();
    for i in 0..=MAX_TRAILERS {
        many.extend_from_slice(format!("x-t{i}:v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    let err = run(&many, ChunkedMode::UnsignedWithTrailer, None).unwrap_err();
    assert_eq!(err.code(), "MalformedTrailerError");
}

#[test]
fn large_chunk_streams_through() {
    // One 8 MiB chunk, fed in 64 KiB pieces: every piece but the last is yielded as it
    // arrives, i.e. nothing collects the chunk.
    let size = 8 << 20;
    let mut body = format!("{size:x}\r\n").into_bytes();
    body.extend(std::iter::repeat_n(b'z', size));
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let pieces: Vec<_> = body
        .chunks(65536)
        .map(|piece| Ok::<_, Infallible>(Bytes::copy_from_slice(piece)))
        .collect();
    let (stream, handle) = decode(
        futures::stream::iter(pieces),
        ChunkedMode::UnsignedWithTrailer,
        Some(size as u64),
    );
    let items: Vec<_> = block_on(stream.collect());
    assert!(items.len() > 100);
    let max_piece = items.iter().map(|item| item.as_ref().unwrap().len()).max();
    assert!(max_piece <= Some(65536));
    let total: usize = items.iter().map(|item| item.as_ref().unwrap().len()).sum();
    assert_eq!(total, size);
    assert!(handle.trailers().is_some());
}

#[test]
fn body_error_passed_through() {
    #[derive(Debug)]
    struct Reset;
    impl fmt::Display for Reset {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection reset")
        }
    }
    impl std::error::Error for Reset {}
    let (stream, handle) = decode(
        futures::stream::iter([Ok(Bytes::from_static(b"5\r\nhel")), Err(Reset)]),
        ChunkedMode::UnsignedWithTrailer,
        None,
    );
    let items: Vec<_> = block_on(stream.collect());
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().as_ref(), b"hel");
    let err = items[1].as_ref().unwrap_err();
    assert!(matches!(err, ChunkedError::Body(_)));
    assert!(err.to_string().contains("connection reset"));
    assert!(handle.trailers().is_none());
}

#[test]
fn modes_from_payload_hash() {
    assert!(matches!(
        ChunkedMode::from_payload_hash(sigv4::STREAMING_PAYLOAD, Some(signing())),
        Some(ChunkedMode::Signed(_))
    ));
    assert!(matches!(
        ChunkedMode::from_payload_hash(sigv4::STREAMING_PAYLOAD_TRAILER, Some(signing())),
        Some(ChunkedMode::SignedWithTrailer(_))
    ));
    assert!(matches!(
        ChunkedMode::from_payload_hash(sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER, None),
        Some(ChunkedMode::UnsignedWithTrailer)
    ));
    assert!(ChunkedMode::from_payload_hash(sigv4::STREAMING_PAYLOAD, None).is_none());
    assert!(ChunkedMode::from_payload_hash(sigv4::UNSIGNED_PAYLOAD, None).is_none());
    assert!(ChunkedMode::is_streaming_payload_hash(
        sigv4::STREAMING_UNSIGNED_PAYLOAD_TRAILER
    ));
    assert!(!ChunkedMode::is_streaming_payload_hash(sigv4::EMPTY_SHA256));
    let debug = format!("{:?}", signing());
    assert!(!debug.contains("signing_key"));
}
