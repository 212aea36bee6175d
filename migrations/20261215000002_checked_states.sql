-- Every enum-like TEXT column of the object-storage schema is CHECKed, so the Rust enums
-- that map them (ChecksumAlgorithm, ChecksumType; Versioning and NodeState were checked from
-- the start) can always decode what they read. NULL stays allowed: no checksum, or no
-- checksum type asked for (COMPOSITE).
--
-- Objects and upload checksum types only ever got these names. The first release stored a
-- CreateMultipartUpload's x-amz-checksum-algorithm unchecked (upper-cased); an unknown
-- name there never meant a checksum (parts and the completed object ignore it), so it is
-- dropped rather than refused.
UPDATE object_storage.multipart_uploads SET checksum_algorithm = NULL
    WHERE checksum_algorithm NOT IN ('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256');

ALTER TABLE object_storage.objects
    ADD CONSTRAINT objects_checksum_algorithm_check
    CHECK (checksum_algorithm IN ('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'));
ALTER TABLE object_storage.multipart_uploads
    ADD CONSTRAINT multipart_uploads_checksum_algorithm_check
    CHECK (checksum_algorithm IN ('CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256')),
    ADD CONSTRAINT multipart_uploads_checksum_type_check
    CHECK (checksum_type IN ('COMPOSITE', 'FULL_OBJECT'));
