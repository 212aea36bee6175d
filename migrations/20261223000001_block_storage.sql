-- Block storage (EBS volumes): the block-storage service's schema, and the storage nodes
-- as object storage (which enrols them) lets other services see them.

-- The contract view other services read storage nodes through: a node's identity, zone,
-- address, token (the agent authenticates with it), whether it is healthy (enabled and a
-- heartbeat within object storage's default timeout, 30 s) and the bytes it can still give
-- (its block report's free space when the block role has reported, else capacity - used).
CREATE SCHEMA IF NOT EXISTS block_storage;

-- What each node's block role last reported of itself.
CREATE TABLE block_storage.node_reports (
    node_id     text PRIMARY KEY,
    free_bytes  bigint NOT NULL CHECK (free_bytes >= 0),
    reported_at timestamptz NOT NULL DEFAULT now()
);

CREATE VIEW object_storage.node_inventory AS
    SELECT n.node_id, n.name, n.zone, n.address,
           (n.state = 'enabled'
            AND COALESCE(n.last_heartbeat_at > now() - interval '30 seconds', false)) AS healthy,
           n.node_token,
           COALESCE(r.free_bytes, GREATEST(n.capacity_bytes - n.used_bytes, 0)) AS free_bytes
    FROM object_storage.nodes n
    LEFT JOIN block_storage.node_reports r ON r.node_id = n.node_id;

CREATE TABLE block_storage.volumes (
    volume_id     text PRIMARY KEY,
    account_id    text NOT NULL,
    zone          text NOT NULL,
    size_gib      integer NOT NULL CHECK (size_gib BETWEEN 1 AND 65536),
    volume_type   text NOT NULL
                  CHECK (volume_type IN ('gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard')),
    -- Reported as AWS reports them: NULL where the type has none.
    iops          integer,
    throughput    integer,
    encrypted     boolean NOT NULL DEFAULT false,
    snapshot_id   text,
    state         text NOT NULL DEFAULT 'creating'
                  CHECK (state IN ('creating', 'available', 'in-use', 'deleting', 'deleted', 'error')),
    client_token  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    deleted_at    timestamptz,
    UNIQUE (account_id, client_token)
);
CREATE INDEX volumes_account ON block_storage.volumes (account_id, created_at);

-- Where a volume's replicas live: what the node should hold (desired) and what it last
-- said it holds (reported), with the export's TLS-PSK credentials.
CREATE TABLE block_storage.volume_replicas (
    volume_id     text NOT NULL REFERENCES block_storage.volumes (volume_id),
    node_id       text NOT NULL,
    desired       text NOT NULL DEFAULT 'present' CHECK (desired IN ('present', 'absent')),
    reported      text CHECK (reported IN ('ready', 'failed', 'absent')),
    reported_size_bytes bigint,
    detail        text,
    nbd_port      integer CHECK (nbd_port BETWEEN 1 AND 65535),
    psk_identity  text NOT NULL,
    psk_key_hex   text NOT NULL CHECK (psk_key_hex ~ '^[0-9a-f]{64}$'),
    reported_at   timestamptz,
    -- Since when the node has reported it failed, without a ready report since.
    failed_since  timestamptz,
    PRIMARY KEY (volume_id, node_id)
);
CREATE INDEX volume_replicas_node ON block_storage.volume_replicas (node_id);

-- ModifyVolume: one row per modification, its targets and originals.
CREATE TABLE block_storage.volume_modifications (
    modification_id     bigserial PRIMARY KEY,
    volume_id           text NOT NULL REFERENCES block_storage.volumes (volume_id),
    account_id          text NOT NULL,
    state               text NOT NULL DEFAULT 'modifying'
                        CHECK (state IN ('modifying', 'optimizing', 'completed', 'failed')),
    progress            integer NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    original_size_gib   integer NOT NULL,
    original_type       text NOT NULL,
    original_iops       integer,
    original_throughput integer,
    target_size_gib     integer NOT NULL,
    target_type         text NOT NULL,
    target_iops         integer,
    target_throughput   integer,
    started_at          timestamptz NOT NULL DEFAULT now(),
    ended_at            timestamptz
);
CREATE INDEX volume_modifications_volume ON block_storage.volume_modifications (volume_id, started_at);
