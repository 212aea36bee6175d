-- Object storage: part boundaries of multipart objects (GetObject/HeadObject `partNumber`)
-- and the checksum type of multipart uploads (`x-amz-checksum-type`).

-- The completed parts' sizes, in order; NULL for objects written in one piece (their one
-- part is the whole object). CopyObject keeps the source's.
ALTER TABLE object_storage.objects ADD COLUMN part_sizes bigint[];

-- 'COMPOSITE' or 'FULL_OBJECT' as the upload was created with; NULL (no type asked for)
-- means COMPOSITE, as before.
ALTER TABLE object_storage.multipart_uploads ADD COLUMN checksum_type text;
