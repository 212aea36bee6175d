-- Launch-time public IPv4 addresses: an instance launched with AssociatePublicIpAddress
-- (or into a subnet with mapPublicIpOnLaunch) gets a public address from the operator's
-- pool of its zone on its primary interface's primary private address. It is not an
-- elastic IP: no allocation or association id, owner `amazon`, released when the instance
-- stops or ends (a new one at each start), set aside while an elastic IP is associated
-- with that private address, and given back when the elastic IP leaves.
--
-- Desired state on the interface, the mapping in its own table: the mapping is reconciled
-- from the desire in the same transaction as every change to either.
ALTER TABLE network.network_interfaces
    -- Launched asking for a public address (kept across stop and start).
    ADD COLUMN public_ip_on_launch boolean NOT NULL DEFAULT false,
    -- Wants one now: asked at launch and its instance is not stopped or ended.
    ADD COLUMN public_ip_wanted boolean NOT NULL DEFAULT false,
    ADD CHECK (public_ip_on_launch OR NOT public_ip_wanted);

CREATE TABLE network.launch_public_ips (
    public_ip            inet PRIMARY KEY CHECK (family(public_ip) = 4 AND masklen(public_ip) = 32),
    pool_name            text NOT NULL REFERENCES network.address_pools (name),
    network_interface_id text NOT NULL UNIQUE,
    private_ip           inet NOT NULL,
    assigned_at          timestamptz NOT NULL DEFAULT now(),
    -- The interface (or the address) going away takes the mapping with it.
    FOREIGN KEY (network_interface_id, private_ip)
        REFERENCES network.network_interface_addresses (network_interface_id, private_ip)
        ON DELETE CASCADE
);

-- Every public mapping of an interface, elastic or launch-time: what the data plane NATs
-- (1:1, public_ip <-> private_ip on the interface's host). `kind` is 'elastic' or 'launch';
-- allocation_id and association_id are NULL for launch-time addresses, ip_owner_id is
-- 'amazon' for them (the elastic IP's account otherwise).
CREATE VIEW network.public_mappings AS
    SELECT a.network_interface_id, a.private_ip, a.public_ip, 'elastic'::text AS kind,
           a.allocation_id, a.association_id, a.account_id AS ip_owner_id
    FROM network.addresses a
    WHERE a.association_id IS NOT NULL
    UNION ALL
    SELECT l.network_interface_id, l.private_ip, l.public_ip, 'launch'::text AS kind,
           NULL::text, NULL::text, 'amazon'::text
    FROM network.launch_public_ips l;
