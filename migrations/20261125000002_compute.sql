-- Compute service schema: instance types, hosts, images, key pairs, instances, tags, IPAM.
CREATE SCHEMA IF NOT EXISTS compute;

CREATE TABLE compute.instance_types (
    name        text PRIMARY KEY,
    vcpus       integer NOT NULL CHECK (vcpus > 0),
    memory_mib  integer NOT NULL CHECK (memory_mib > 0),
    -- Sort order for listings.
    ordinal     integer NOT NULL
);
INSERT INTO compute.instance_types (name, vcpus, memory_mib, ordinal) VALUES
    ('t3.nano', 2, 512, 1),
    ('t3.micro', 2, 1024, 2),
    ('t3.small', 2, 2048, 3),
    ('t3.medium', 2, 4096, 4),
    ('t3.large', 2, 8192, 5),
    ('t3.xlarge', 4, 16384, 6),
    ('c5.large', 2, 4096, 7),
    ('c5.xlarge', 4, 8192, 8),
    ('m5.large', 2, 8192, 9),
    ('m5.xlarge', 4, 16384, 10);

-- Operator-issued tokens that let a new host enrol.
CREATE TABLE compute.join_tokens (
    token_sha256 text PRIMARY KEY,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);

CREATE TABLE compute.hosts (
    host_id           text PRIMARY KEY,
    name              text NOT NULL UNIQUE,
    zone              text NOT NULL,
    address           text NOT NULL,
    -- sha256 of the node credential's secret part.
    token_sha256      text NOT NULL,
    vcpus             integer NOT NULL CHECK (vcpus >= 0),
    memory_mib        integer NOT NULL CHECK (memory_mib >= 0),
    disk_gib          integer NOT NULL CHECK (disk_gib >= 0),
    kinds             text[] NOT NULL,
    -- What placed instances have claimed (claimed in the scheduler's transaction).
    vcpus_used        integer NOT NULL DEFAULT 0,
    memory_mib_used   integer NOT NULL DEFAULT 0,
    state             text NOT NULL DEFAULT 'enabled' CHECK (state IN ('enabled', 'disabled', 'draining')),
    last_heartbeat_at timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE compute.images (
    image_id    text PRIMARY KEY,
    -- The owning account; public images are visible to every account.
    account_id  text NOT NULL,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    kind        text NOT NULL CHECK (kind IN ('vm', 'container')),
    kernel      text,
    initramfs   text,
    disk        text,
    rootfs      text,
    is_public   boolean NOT NULL DEFAULT false,
    state       text NOT NULL DEFAULT 'available' CHECK (state IN ('available', 'deregistered')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, name)
);

CREATE TABLE compute.key_pairs (
    key_pair_id text PRIMARY KEY,
    account_id  text NOT NULL,
    key_name    text NOT NULL,
    key_type    text NOT NULL,
    public_key  text NOT NULL,
    fingerprint text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, key_name)
);

-- One default subnet per account (full VPCs come with the networking service).
CREATE TABLE compute.subnets (
    subnet_id   text PRIMARY KEY,
    account_id  text NOT NULL UNIQUE,
    cidr        cidr NOT NULL,
    gateway     inet NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE compute.instances (
    instance_id        text PRIMARY KEY,
    account_id         text NOT NULL,
    reservation_id     text NOT NULL,
    image_id           text NOT NULL,
    instance_type      text NOT NULL REFERENCES compute.instance_types (name),
    kind               text NOT NULL CHECK (kind IN ('vm', 'container')),
    vcpus              integer NOT NULL,
    memory_mib         integer NOT NULL,
    host_id            text REFERENCES compute.hosts (host_id),
    zone               text NOT NULL,
    -- AWS's state machine, as shown to tenants.
    state              text NOT NULL CHECK (state IN ('pending', 'running', 'stopping', 'stopped', 'shutting-down', 'terminated')),
    -- What the agent converges to.
    desired_state      text NOT NULL CHECK (desired_state IN ('running', 'stopped', 'terminated')),
    state_reason       text,
    generation         bigint NOT NULL DEFAULT 1,
    reboot_count       bigint NOT NULL DEFAULT 0,
    subnet_id          text NOT NULL REFERENCES compute.subnets (subnet_id),
    private_ip         inet,
    mac                text NOT NULL,
    key_name           text,
    user_data          bytea,
    client_token       text,
    launch_index       integer NOT NULL DEFAULT 0,
    disable_api_termination boolean NOT NULL DEFAULT false,
    shutdown_behavior  text NOT NULL DEFAULT 'stop' CHECK (shutdown_behavior IN ('stop', 'terminate')),
    launch_time        timestamptz NOT NULL DEFAULT now(),
    terminated_at      timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instances_by_account ON compute.instances (account_id, launch_time);
CREATE INDEX instances_by_host ON compute.instances (host_id) WHERE state <> 'terminated';

-- RunInstances idempotency: one reservation per (account, ClientToken).
CREATE TABLE compute.client_tokens (
    account_id     text NOT NULL,
    client_token   text NOT NULL,
    reservation_id text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, client_token)
);

CREATE TABLE compute.ip_allocations (
    subnet_id   text NOT NULL REFERENCES compute.subnets (subnet_id),
    ip          inet NOT NULL,
    instance_id text NOT NULL,
    PRIMARY KEY (subnet_id, ip)
);

CREATE TABLE compute.tags (
    resource_id text NOT NULL,
    account_id  text NOT NULL,
    key         text NOT NULL,
    value       text NOT NULL DEFAULT '',
    PRIMARY KEY (resource_id, key)
);
CREATE INDEX tags_by_account ON compute.tags (account_id, key, value);

CREATE TABLE compute.console_output (
    instance_id text PRIMARY KEY,
    output      bytea NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
