//! Checksums of completed multipart uploads, made from the parts' own: the multipart ETag,
//! the COMPOSITE checksum, and the FULL_OBJECT CRC combined from part CRCs and lengths.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest as _, Md5};

use super::{ChecksumAlgorithm, ChecksumHasher};

/// The ETag of a completed multipart upload (without quotes): hex MD5 of the concatenated
/// binary part MD5s, a dash and the number of parts.
pub fn multipart_etag(part_md5s: &[[u8; 16]]) -> String {
    let mut md5 = Md5::new();
    for part in part_md5s {
        md5.update(part);
    }
    format!("{}-{}", hex::encode(md5.finalize()), part_md5s.len())
}

/// The `COMPOSITE` checksum of a multipart upload: the checksum of the concatenated raw part
/// checksums, base64, a dash and the number of parts. `None` if a part checksum is not a
/// valid value of `algorithm`. (S3 only offers `FULL_OBJECT` for CRC64NVME.)
pub fn composite_checksum(algorithm: ChecksumAlgorithm, part_checksums: &[&str]) -> Option<String> {
    let mut hasher = ChecksumHasher::new(algorithm);
    for part in part_checksums {
        hasher.update(&algorithm.decode_value(part)?);
    }
    Some(format!("{}-{}", hasher.finish(), part_checksums.len()))
}

/// The `FULL_OBJECT` checksum of a multipart upload with a CRC algorithm: the CRC of the
/// whole object, combined from each part's CRC (base64) and length without reading the data
/// again. `None` for SHA algorithms or if a part checksum is not valid.
pub fn full_object_crc(algorithm: ChecksumAlgorithm, parts: &[(&str, u64)]) -> Option<String> {
    let (polynomial, width) = match algorithm {
        ChecksumAlgorithm::Crc32 => (CRC32_REFLECTED, 32),
        ChecksumAlgorithm::Crc32c => (CRC32C_REFLECTED, 32),
        ChecksumAlgorithm::Crc64Nvme => (CRC64NVME_REFLECTED, 64),
        ChecksumAlgorithm::Sha1 | ChecksumAlgorithm::Sha256 => return None,
    };
    let crc_field = GaloisField { polynomial, width };
    // The CRC of no data: every one of these CRCs has init = xorout = all ones, so it is 0.
    let mut combined = 0u64;
    for (value, length) in parts {
        let raw = algorithm.decode_value(value)?;
        let part_crc = raw
            .iter()
            .fold(0u64, |acc, byte| (acc << 8) | u64::from(*byte));
        combined = crc_field.combine(combined, part_crc, *length);
    }
    let bytes = combined.to_be_bytes();
    Some(BASE64.encode(&bytes[bytes.len() - algorithm.digest_len()..]))
}

/// Reflected generator polynomials (bit 0 of the value is the x^(width-1) coefficient).
const CRC32_REFLECTED: u64 = 0xEDB8_8320;
const CRC32C_REFLECTED: u64 = 0x82F6_3B78;
const CRC64NVME_REFLECTED: u64 = 0x9A6C_9329_AC4B_C9B5;

/// Arithmetic modulo a reflected CRC polynomial, for combining CRCs (zlib's
/// `crc32_combine`, generalised to any width up to 64).
struct GaloisField {
    polynomial: u64,
    width: u32,
}

impl GaloisField {
    /// `x^0` in the reflected representation: the top bit.
    fn one(&self) -> u64 {
        1 << (self.width - 1)
    }

    /// `a * b mod polynomial`.
    fn multiply(&self, a: u64, mut b: u64) -> u64 {
        let mut mask = self.one();
        let mut product = 0;
        while mask != 0 {
            if a & mask != 0 {
                product ^= b;
            }
            mask >>= 1;
            b = if b & 1 != 0 {
                (b >> 1) ^ self.polynomial
            } else {
                b >> 1
            };
        }
        product
    }

    /// `x^(8 * bytes) mod polynomial`, by squaring.
    fn shift_for_bytes(&self, bytes: u64) -> u64 {
        let mut result = self.one();
        // x^8: one byte of zeros.
        let mut power = self.one() >> 8;
        let mut remaining = bytes;
        while remaining != 0 {
            if remaining & 1 != 0 {
                result = self.multiply(power, result);
            }
            power = self.multiply(power, power);
            remaining >>= 1;
        }
        result
    }

    /// CRC(A ‖ B) from CRC(A), CRC(B) and the length of B.
    fn combine(&self, crc_a: u64, crc_b: u64, length_b: u64) -> u64 {
        self.multiply(self.shift_for_bytes(length_b), crc_a) ^ crc_b
    }
}
