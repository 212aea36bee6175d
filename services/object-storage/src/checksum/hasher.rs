//! Incremental hashing of a body: one checksum algorithm, or an upload's MD5 plus the one
//! checksum it asked for.

use std::fmt;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use sha2::Sha256;

use super::ChecksumAlgorithm;

/// One checksum algorithm, computed incrementally.
#[derive(Clone)]
pub struct ChecksumHasher {
    state: HasherState,
}

#[derive(Clone)]
enum HasherState {
    Crc32(crc32fast::Hasher),
    Crc32c(u32),
    Crc64Nvme(crc64fast_nvme::Digest),
    Sha1(Sha1),
    Sha256(Sha256),
}

impl ChecksumHasher {
    pub fn new(algorithm: ChecksumAlgorithm) -> Self {
        let state = match algorithm {
            ChecksumAlgorithm::Crc32 => HasherState::Crc32(crc32fast::Hasher::new()),
            ChecksumAlgorithm::Crc32c => HasherState::Crc32c(0),
            ChecksumAlgorithm::Crc64Nvme => HasherState::Crc64Nvme(crc64fast_nvme::Digest::new()),
            ChecksumAlgorithm::Sha1 => HasherState::Sha1(Sha1::new()),
            ChecksumAlgorithm::Sha256 => HasherState::Sha256(Sha256::new()),
        };
        Self { state }
    }

    pub fn algorithm(&self) -> ChecksumAlgorithm {
        match self.state {
            HasherState::Crc32(_) => ChecksumAlgorithm::Crc32,
            HasherState::Crc32c(_) => ChecksumAlgorithm::Crc32c,
            HasherState::Crc64Nvme(_) => ChecksumAlgorithm::Crc64Nvme,
            HasherState::Sha1(_) => ChecksumAlgorithm::Sha1,
            HasherState::Sha256(_) => ChecksumAlgorithm::Sha256,
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HasherState::Crc32(hasher) => hasher.update(data),
            HasherState::Crc32c(crc) => *crc = crc32c::crc32c_append(*crc, data),
            HasherState::Crc64Nvme(digest) => digest.write(data),
            HasherState::Sha1(hasher) => hasher.update(data),
            HasherState::Sha256(hasher) => hasher.update(data),
        }
    }

    /// The raw digest; CRCs big-endian, as S3 encodes them.
    pub fn finish_raw(self) -> Vec<u8> {
        match self.state {
            HasherState::Crc32(hasher) => hasher.finalize().to_be_bytes().to_vec(),
            HasherState::Crc32c(crc) => crc.to_be_bytes().to_vec(),
            HasherState::Crc64Nvme(digest) => digest.sum64().to_be_bytes().to_vec(),
            HasherState::Sha1(hasher) => hasher.finalize().to_vec(),
            HasherState::Sha256(hasher) => hasher.finalize().to_vec(),
        }
    }

    /// The digest in base64, as S3 returns it (`x-amz-checksum-*`, `<ChecksumCRC32>`, …).
    pub fn finish(self) -> String {
        BASE64.encode(self.finish_raw())
    }
}

impl fmt::Debug for ChecksumHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChecksumHasher")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// What an upload is hashed with: always MD5 (the ETag, and `Content-MD5`), plus the one
/// additional checksum the request asked for, if any.
#[derive(Clone)]
pub struct ObjectHasher {
    md5: Md5,
    checksum: Option<ChecksumHasher>,
}

impl ObjectHasher {
    pub fn new(algorithm: Option<ChecksumAlgorithm>) -> Self {
        Self {
            md5: Md5::new(),
            checksum: algorithm.map(ChecksumHasher::new),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.md5.update(data);
        if let Some(checksum) = &mut self.checksum {
            checksum.update(data);
        }
    }

    pub fn finish(self) -> Digests {
        Digests {
            md5: self.md5.finalize().into(),
            checksum: self
                .checksum
                .map(|hasher| (hasher.algorithm(), hasher.finish())),
        }
    }
}

impl fmt::Debug for ObjectHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObjectHasher")
            .field("checksum", &self.checksum)
            .finish_non_exhaustive()
    }
}

/// The digests of a whole body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub md5: [u8; 16],
    /// The additional checksum, base64 as S3 returns it.
    pub checksum: Option<(ChecksumAlgorithm, String)>,
}

impl Digests {
    /// Lowercase hex MD5: the ETag of a single-part object, without its quotes.
    pub fn md5_hex(&self) -> String {
        hex::encode(self.md5)
    }
}
