-- Network interfaces (`eni-…`): every instance's primary interface (device index 0) and
-- the extra ones tenants create and attach. The interface's addresses are the subnet's
-- IPAM: one row per address in use, unique per subnet. Its status is derived: `in-use`
-- while attached, `available` otherwise.
CREATE TABLE network.network_interfaces (
    network_interface_id  text PRIMARY KEY,
    account_id            text NOT NULL,
    subnet_id             text NOT NULL REFERENCES network.subnets (subnet_id),
    vpc_id                text NOT NULL REFERENCES network.vpcs (vpc_id),
    mac                   text NOT NULL UNIQUE,
    description           text NOT NULL DEFAULT '',
    source_dest_check     boolean NOT NULL DEFAULT true,
    -- 'interface' for tenants' and instances' interfaces.
    interface_type        text NOT NULL DEFAULT 'interface',
    -- The attachment, all or nothing.
    instance_id           text,
    attachment_id         text UNIQUE,
    device_index          integer CHECK (device_index BETWEEN 0 AND 31),
    attach_time           timestamptz,
    delete_on_termination boolean NOT NULL DEFAULT false,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CHECK ((instance_id IS NULL) = (attachment_id IS NULL)
       AND (instance_id IS NULL) = (device_index IS NULL)
       AND (instance_id IS NULL) = (attach_time IS NULL))
);
CREATE INDEX network_interfaces_by_account ON network.network_interfaces (account_id);
CREATE INDEX network_interfaces_by_subnet ON network.network_interfaces (subnet_id);
CREATE UNIQUE INDEX network_interfaces_one_per_device
    ON network.network_interfaces (instance_id, device_index) WHERE instance_id IS NOT NULL;

CREATE TABLE network.network_interface_addresses (
    network_interface_id text NOT NULL REFERENCES network.network_interfaces (network_interface_id) ON DELETE CASCADE,
    subnet_id            text NOT NULL REFERENCES network.subnets (subnet_id),
    private_ip           inet NOT NULL CHECK (family(private_ip) = 4 AND masklen(private_ip) = 32),
    is_primary           boolean NOT NULL,
    assigned_at          timestamptz NOT NULL DEFAULT now(),
    -- The IPAM: an address is used at most once per subnet.
    PRIMARY KEY (subnet_id, private_ip)
);
CREATE INDEX network_interface_addresses_by_interface
    ON network.network_interface_addresses (network_interface_id);
CREATE UNIQUE INDEX network_interface_addresses_one_primary
    ON network.network_interface_addresses (network_interface_id) WHERE is_primary;

-- Security-group membership, in the order the groups were given.
CREATE TABLE network.network_interface_groups (
    network_interface_id text NOT NULL REFERENCES network.network_interfaces (network_interface_id) ON DELETE CASCADE,
    group_id             text NOT NULL REFERENCES network.security_groups (group_id),
    position             integer NOT NULL,
    PRIMARY KEY (network_interface_id, group_id)
);
CREATE INDEX network_interface_groups_by_group ON network.network_interface_groups (group_id);

-- Instances live in the network service's subnets now (`compute.subnets` holds the
-- accounts' pre-VPC subnets only until they are adopted as default subnets).
ALTER TABLE compute.instances DROP CONSTRAINT IF EXISTS instances_subnet_id_fkey;
