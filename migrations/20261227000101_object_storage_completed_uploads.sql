-- What a completed multipart upload leaves on its object version: the upload id (a repeated
-- CompleteMultipartUpload answers the same result) and the parts' checksums in order
-- (GetObjectAttributes lists them), NULL for objects written in one piece.
ALTER TABLE object_storage.objects
    ADD COLUMN upload_id text,
    ADD COLUMN part_checksums text[];
