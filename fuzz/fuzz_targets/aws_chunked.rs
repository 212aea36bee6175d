//! The aws-chunked decoder of S3 streaming uploads (`kumo_object_storage::s3::chunked`).
//!
//! Input: a flags byte, a size byte, then the body.
//!   flags & 3 == 0   `STREAMING-UNSIGNED-PAYLOAD-TRAILER`, the body as given
//!   flags & 3 == 1   `STREAMING-AWS4-HMAC-SHA256-PAYLOAD`, the body as given
//!   flags & 3 == 2   `STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER`, the body as given
//!   flags & 3 == 3   round trip: the body is the object data; the harness frames and signs
//!                    it (chunks of size+1 bytes, a checksum trailer when flags & 8) and the
//!                    decoder must give back exactly that data and trailer
//!   flags & 4        pass `x-amz-decoded-content-length` (the size byte, or the true length
//!                    in the round trip)
//!
//! Properties: nothing panics; the outcome (data, trailers, or the S3 error code) does not
//! depend on how the network splits the body (whole, or pieces of 1..=16 bytes); the round
//! trip is exact.
#![no_main]

use std::convert::Infallible;

use bytes::Bytes;
use futures::StreamExt;
use kumo_auth::sigv4;
use kumo_object_storage::s3::chunked::{self, ChunkSigning, ChunkedMode, TRAILER_SIGNATURE};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
const AMZ_DATE: &str = "20130524T000000Z";
const SCOPE: &str = "20130524/us-east-1/s3/aws4_request";
const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHECKSUM: (&str, &str) = ("x-amz-checksum-crc32", "sOO8/Q==");

fn signing() -> ChunkSigning {
    ChunkSigning {
        signing_key: sigv4::signing_key(SECRET, "20130524", "us-east-1", "s3").to_vec(),
        amz_date: AMZ_DATE.into(),
        scope: SCOPE.into(),
        seed_signature: SEED.into(),
    }
}

type Outcome = Result<(Vec<u8>, Vec<(String, String)>), &'static str>;

/// Decode `body` delivered in pieces of `piece` bytes (0: all at once).
fn run(body: &[u8], mode: ChunkedMode, decoded_length: Option<u64>, piece: usize) -> Outcome {
    let pieces: Vec<Result<Bytes, Infallible>> = if piece == 0 {
        vec![Ok(Bytes::copy_from_slice(body))]
    } else {
        body.chunks(piece)
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect()
    };
    let (stream, handle) = chunked::decode(futures::stream::iter(pieces), mode, decoded_length);
    let mut stream = Box::pin(stream);
    let mut data = Vec::new();
    futures::executor::block_on(async {
        while let Some(item) = stream.next().await {
            data.extend_from_slice(&item.map_err(|e| e.code())?);
        }
        Ok::<(), &'static str>(())
    })?;
    let trailers = handle
        .trailers()
        .map(|t| {
            t.iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect()
        })
        .unwrap_or_default();
    Ok((data, trailers))
}

/// Frame and sign `data` as an SDK would.
fn signed_body(data: &[u8], chunk_size: usize, trailer: bool) -> Vec<u8> {
    let signing = signing();
    let mut previous = SEED.to_string();
    let mut body = Vec::new();
    for piece in data.chunks(chunk_size).chain([&[][..]]) {
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
    if trailer {
        let canonical = format!("{}:{}\n", CHECKSUM.0, CHECKSUM.1);
        let signature = sigv4::trailer_signature(
            &signing.signing_key,
            AMZ_DATE,
            SCOPE,
            &previous,
            canonical.as_bytes(),
        );
        body.extend_from_slice(format!("{}:{}\r\n", CHECKSUM.0, CHECKSUM.1).as_bytes());
        body.extend_from_slice(format!("{TRAILER_SIGNATURE}:{signature}\r\n").as_bytes());
    }
    body.extend_from_slice(b"\r\n");
    body
}

fuzz_target!(|input: &[u8]| {
    let [flags, size, rest @ ..] = input else {
        return;
    };
    let with_length = flags & 4 != 0;
    let split = usize::from(flags >> 4) + 1;
    if flags & 3 == 3 {
        let trailer = flags & 8 != 0;
        let body = signed_body(rest, usize::from(*size) + 1, trailer);
        let length = with_length.then_some(rest.len() as u64);
        let mode = if trailer {
            ChunkedMode::SignedWithTrailer(signing())
        } else {
            ChunkedMode::Signed(signing())
        };
        let expected_trailers: Vec<(String, String)> = if trailer {
            vec![(CHECKSUM.0.to_string(), CHECKSUM.1.to_string())]
        } else {
            Vec::new()
        };
        for piece in [0, split] {
            let (data, trailers) = run(&body, mode.clone(), length, piece)
                .unwrap_or_else(|code| panic!("a correctly signed body was refused: {code}"));
            assert_eq!(data, rest, "round trip changed the data");
            assert_eq!(trailers, expected_trailers);
        }
        return;
    }
    let mode = match flags & 3 {
        0 => ChunkedMode::UnsignedWithTrailer,
        1 => ChunkedMode::Signed(signing()),
        _ => ChunkedMode::SignedWithTrailer(signing()),
    };
    let length = with_length.then_some(u64::from(*size));
    let whole = run(rest, mode.clone(), length, 0);
    let split = run(rest, mode, length, split);
    assert_eq!(whole, split, "the outcome depends on how the body is split");
});
