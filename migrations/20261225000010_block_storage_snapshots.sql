-- EBS snapshots (`snap-…`): a volume's bytes at one point in time, stored as 1 MiB chunks
-- addressed by their SHA-256 in a chunk store (Kumo's own object storage). A chunk that
-- holds only zeros is never stored: a missing index reads as zeros. Chunks are shared by
-- every snapshot that holds the same bytes (a second snapshot stores only what changed,
-- CopySnapshot stores nothing) and counted: the last reference gone, the chunk goes.
CREATE TABLE block_storage.snapshots (
    snapshot_id     text PRIMARY KEY,
    account_id      text NOT NULL,
    volume_id       text NOT NULL,
    volume_size_gib integer NOT NULL CHECK (volume_size_gib BETWEEN 1 AND 65536),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'completed', 'error', 'deleted')),
    progress        integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    description     text NOT NULL DEFAULT '',
    -- Why, when `error`.
    status_message  text,
    -- The storage node taking it (one ready replica's), while `pending`.
    node_id         text,
    -- CopySnapshot's source.
    source_snapshot_id text,
    started_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    deleted_at      timestamptz
);
CREATE INDEX snapshots_account ON block_storage.snapshots (account_id, started_at);
CREATE INDEX snapshots_node ON block_storage.snapshots (node_id) WHERE state = 'pending';

-- Stored chunks, one per distinct content: `location` is the chunk store's handle.
CREATE TABLE block_storage.chunks (
    sha256     text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       integer NOT NULL CHECK (size BETWEEN 1 AND 1048576),
    location   text NOT NULL,
    refcount   bigint NOT NULL DEFAULT 0 CHECK (refcount >= 0),
    stored_at  timestamptz NOT NULL DEFAULT now()
);

-- A snapshot's chunks by index (offset = index × 1 MiB); absent indexes are zeros.
CREATE TABLE block_storage.snapshot_chunks (
    snapshot_id text NOT NULL REFERENCES block_storage.snapshots (snapshot_id),
    chunk_index bigint NOT NULL CHECK (chunk_index >= 0),
    sha256      text NOT NULL REFERENCES block_storage.chunks (sha256),
    PRIMARY KEY (snapshot_id, chunk_index)
);
CREATE INDEX snapshot_chunks_sha256 ON block_storage.snapshot_chunks (sha256);
