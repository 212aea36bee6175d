-- The network service's schema: VPCs, subnets, internet gateways, route tables, network
-- ACLs (described only) and security groups. Every row carries its account; ids are
-- AWS-shaped (`vpc-…`, `subnet-…`, …). Overlaps within a VPC and "in use" checks are
-- made in the service under a lock on the VPC row (no extension needed).
CREATE SCHEMA IF NOT EXISTS network;

-- VXLAN network identifiers, one per VPC (24 bits; the low range is left for operators).
CREATE SEQUENCE network.vni_seq START 4096 MAXVALUE 16777215;

CREATE TABLE network.vpcs (
    vpc_id               text PRIMARY KEY,
    account_id           text NOT NULL,
    cidr                 cidr NOT NULL CHECK (family(cidr) = 4 AND masklen(cidr) BETWEEN 16 AND 28),
    state                text NOT NULL DEFAULT 'available' CHECK (state IN ('pending', 'available')),
    is_default           boolean NOT NULL DEFAULT false,
    enable_dns_support   boolean NOT NULL DEFAULT true,
    enable_dns_hostnames boolean NOT NULL DEFAULT false,
    vni                  integer NOT NULL UNIQUE DEFAULT nextval('network.vni_seq'),
    created_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vpcs_by_account ON network.vpcs (account_id);
CREATE UNIQUE INDEX vpcs_one_default ON network.vpcs (account_id) WHERE is_default;

CREATE TABLE network.subnets (
    subnet_id               text PRIMARY KEY,
    account_id              text NOT NULL,
    vpc_id                  text NOT NULL REFERENCES network.vpcs (vpc_id),
    cidr                    cidr NOT NULL CHECK (family(cidr) = 4 AND masklen(cidr) BETWEEN 16 AND 28),
    zone                    text NOT NULL,
    state                   text NOT NULL DEFAULT 'available' CHECK (state IN ('pending', 'available')),
    map_public_ip_on_launch boolean NOT NULL DEFAULT false,
    default_for_az          boolean NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subnets_by_vpc ON network.subnets (vpc_id);
CREATE INDEX subnets_by_account ON network.subnets (account_id);

CREATE TABLE network.internet_gateways (
    internet_gateway_id text PRIMARY KEY,
    account_id          text NOT NULL,
    -- At most one attachment, to one VPC.
    vpc_id              text UNIQUE REFERENCES network.vpcs (vpc_id),
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX internet_gateways_by_account ON network.internet_gateways (account_id);

CREATE TABLE network.route_tables (
    route_table_id text PRIMARY KEY,
    account_id     text NOT NULL,
    vpc_id         text NOT NULL REFERENCES network.vpcs (vpc_id),
    is_main        boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX route_tables_one_main ON network.route_tables (vpc_id) WHERE is_main;
CREATE INDEX route_tables_by_account ON network.route_tables (account_id);

CREATE TABLE network.routes (
    route_table_id   text NOT NULL REFERENCES network.route_tables (route_table_id) ON DELETE CASCADE,
    destination      cidr NOT NULL CHECK (family(destination) = 4),
    -- What the route sends to: the VPC itself, an internet gateway or a network interface.
    target_kind      text NOT NULL CHECK (target_kind IN ('local', 'gateway', 'network-interface')),
    target_id        text NOT NULL,
    origin           text NOT NULL CHECK (origin IN ('CreateRouteTable', 'CreateRoute')),
    PRIMARY KEY (route_table_id, destination)
);

CREATE TABLE network.route_table_associations (
    association_id text PRIMARY KEY,
    account_id     text NOT NULL,
    route_table_id text NOT NULL REFERENCES network.route_tables (route_table_id),
    -- A subnet has at most one explicit association; without one it uses the main table.
    subnet_id      text UNIQUE REFERENCES network.subnets (subnet_id),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Described only (allow-all), as AWS shows them: one default ACL per VPC.
CREATE TABLE network.network_acls (
    network_acl_id text PRIMARY KEY,
    account_id     text NOT NULL,
    vpc_id         text NOT NULL REFERENCES network.vpcs (vpc_id),
    is_default     boolean NOT NULL DEFAULT true,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE network.security_groups (
    group_id    text PRIMARY KEY,
    account_id  text NOT NULL,
    vpc_id      text NOT NULL REFERENCES network.vpcs (vpc_id),
    group_name  text NOT NULL,
    description text NOT NULL,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (vpc_id, group_name)
);
CREATE INDEX security_groups_by_account ON network.security_groups (account_id);

CREATE TABLE network.security_group_rules (
    rule_id             text PRIMARY KEY,
    account_id          text NOT NULL,
    group_id            text NOT NULL REFERENCES network.security_groups (group_id) ON DELETE CASCADE,
    is_egress           boolean NOT NULL,
    -- '-1' (all), 'tcp', 'udp', 'icmp', or an IP protocol number as text.
    protocol            text NOT NULL,
    from_port           integer,
    to_port             integer,
    cidr                cidr CHECK (cidr IS NULL OR family(cidr) = 4),
    referenced_group_id text REFERENCES network.security_groups (group_id),
    description         text NOT NULL DEFAULT '',
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((cidr IS NULL) <> (referenced_group_id IS NULL))
);
CREATE INDEX security_group_rules_by_group ON network.security_group_rules (group_id);
CREATE INDEX security_group_rules_by_reference ON network.security_group_rules (referenced_group_id);

-- Tags on network resources, scoped by account (as compute.tags is for compute's).
CREATE TABLE network.tags (
    resource_id text NOT NULL,
    account_id  text NOT NULL,
    key         text NOT NULL,
    value       text NOT NULL,
    PRIMARY KEY (resource_id, key)
);
CREATE INDEX network_tags_by_account ON network.tags (account_id);
