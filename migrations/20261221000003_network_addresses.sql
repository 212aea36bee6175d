-- Elastic IPs (`eipalloc-…`) and the operator's public address pools they come from.
-- A pool is one IPv4 block of a zone, routed to that zone's hosts' uplinks; pools never
-- overlap. An address is allocated to one account and associated (`eipassoc-…`) with at
-- most one private address of one of that account's network interfaces; the instance it
-- reaches is the interface's current attachment (never stored twice).
CREATE TABLE network.address_pools (
    name       text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    zone       text NOT NULL,
    cidr       cidr NOT NULL CHECK (family(cidr) = 4 AND masklen(cidr) BETWEEN 16 AND 32),
    created_at timestamptz NOT NULL DEFAULT now(),
    EXCLUDE USING gist (cidr inet_ops WITH &&)
);

-- An association names one (interface, private address) pair that exists.
CREATE UNIQUE INDEX network_interface_addresses_by_interface_ip
    ON network.network_interface_addresses (network_interface_id, private_ip);

CREATE TABLE network.addresses (
    allocation_id        text PRIMARY KEY,
    account_id           text NOT NULL,
    public_ip            inet NOT NULL UNIQUE CHECK (family(public_ip) = 4 AND masklen(public_ip) = 32),
    pool_name            text NOT NULL REFERENCES network.address_pools (name),
    domain               text NOT NULL DEFAULT 'vpc' CHECK (domain = 'vpc'),
    -- The association, all or nothing.
    association_id       text UNIQUE,
    network_interface_id text,
    private_ip           inet,
    associated_at        timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (network_interface_id, private_ip)
        REFERENCES network.network_interface_addresses (network_interface_id, private_ip),
    CHECK ((association_id IS NULL) = (network_interface_id IS NULL)
       AND (association_id IS NULL) = (private_ip IS NULL)
       AND (association_id IS NULL) = (associated_at IS NULL))
);
CREATE INDEX addresses_by_account ON network.addresses (account_id);
-- One elastic IP per private address.
CREATE UNIQUE INDEX addresses_one_per_private_ip
    ON network.addresses (network_interface_id, private_ip) WHERE association_id IS NOT NULL;
