-- Object-storage service schema: storage nodes, chunks and their replicas, buckets,
-- object versions, multipart uploads.
CREATE SCHEMA IF NOT EXISTS object_storage;

-- Operator-issued tokens that let a new storage node enrol.
CREATE TABLE object_storage.join_tokens (
    token_sha256 text PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE TABLE object_storage.nodes (
    node_id           text PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    zone              text NOT NULL,
    address           text NOT NULL,
    -- The node's whole token: the service presents it on every chunk request.
    node_token        text NOT NULL,
    -- `enabled`, or `disabled` (no new chunks; still read).
    state             text NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled')),
    capacity_bytes    bigint NOT NULL DEFAULT 0,
    used_bytes        bigint NOT NULL DEFAULT 0,
    chunks            bigint NOT NULL DEFAULT 0,
    last_heartbeat_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Content-addressed chunks (sha256 of the bytes) and where their replicas live.
CREATE TABLE object_storage.chunks (
    sha256          text PRIMARY KEY,
    size            bigint NOT NULL CHECK (size >= 0),
    -- Garbage collection spares chunks written recently: an upload may be about to
    -- reference them.
    last_written_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE object_storage.chunk_replicas (
    sha256  text NOT NULL REFERENCES object_storage.chunks ON DELETE CASCADE,
    node_id text NOT NULL REFERENCES object_storage.nodes,
    PRIMARY KEY (sha256, node_id)
);
CREATE INDEX chunk_replicas_node ON object_storage.chunk_replicas (node_id);

-- A blob is an ordered list of chunks: an object version's or an upload part's data.
CREATE TABLE object_storage.blob_chunks (
    blob_id uuid NOT NULL,
    seq     integer NOT NULL,
    sha256  text NOT NULL REFERENCES object_storage.chunks,
    size    bigint NOT NULL,
    -- Offset of this chunk within the blob.
    offset_bytes bigint NOT NULL,
    PRIMARY KEY (blob_id, seq)
);
CREATE INDEX blob_chunks_sha256 ON object_storage.blob_chunks (sha256);

CREATE TABLE object_storage.buckets (
    name        text PRIMARY KEY,
    account_id  text NOT NULL,
    region      text NOT NULL,
    -- '' (never enabled), 'Enabled' or 'Suspended'.
    versioning  text NOT NULL DEFAULT '' CHECK (versioning IN ('', 'Enabled', 'Suspended')),
    tags        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX buckets_account ON object_storage.buckets (account_id, name);

-- Every version of every object; unversioned buckets keep one version, id 'null'.
CREATE TABLE object_storage.objects (
    bucket        text NOT NULL REFERENCES object_storage.buckets ON DELETE CASCADE,
    key           text NOT NULL,
    version_id    text NOT NULL,
    -- Orders versions of a key: newest has the highest.
    seq           bigserial,
    is_latest     boolean NOT NULL,
    delete_marker boolean NOT NULL DEFAULT false,
    size          bigint NOT NULL DEFAULT 0,
    etag          text NOT NULL DEFAULT '',
    blob_id       uuid,
    content_type  text,
    -- Content-Encoding, Content-Disposition, Cache-Control, Content-Language, Expires.
    headers       jsonb NOT NULL DEFAULT '{}',
    -- x-amz-meta-* (names lower-cased, without the prefix).
    metadata      jsonb NOT NULL DEFAULT '{}',
    checksum_algorithm text,
    checksum_value     text,
    tags          jsonb,
    parts_count   integer,
    owner_account text NOT NULL,
    last_modified timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, key, version_id)
);
CREATE UNIQUE INDEX objects_latest ON object_storage.objects (bucket, key) WHERE is_latest;
CREATE INDEX objects_key_seq ON object_storage.objects (bucket, key, seq DESC);

CREATE TABLE object_storage.multipart_uploads (
    upload_id     text PRIMARY KEY,
    bucket        text NOT NULL REFERENCES object_storage.buckets ON DELETE CASCADE,
    key           text NOT NULL,
    account_id    text NOT NULL,
    content_type  text,
    headers       jsonb NOT NULL DEFAULT '{}',
    metadata      jsonb NOT NULL DEFAULT '{}',
    checksum_algorithm text,
    tags          jsonb,
    initiated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX multipart_uploads_bucket ON object_storage.multipart_uploads (bucket, key, initiated_at);

CREATE TABLE object_storage.upload_parts (
    upload_id      text NOT NULL REFERENCES object_storage.multipart_uploads ON DELETE CASCADE,
    part_number    integer NOT NULL CHECK (part_number BETWEEN 1 AND 10000),
    size           bigint NOT NULL,
    -- Raw MD5 of the part (hex); the ETag is its quoted form.
    md5_hex        text NOT NULL,
    blob_id        uuid NOT NULL,
    checksum_value text,
    last_modified  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (upload_id, part_number)
);

-- Blobs no longer referenced by any object version or part, waiting for their chunk
-- references to be dropped (done by garbage collection, outside the request path).
CREATE TABLE object_storage.dead_blobs (
    blob_id   uuid PRIMARY KEY,
    died_at   timestamptz NOT NULL DEFAULT now()
);
