-- Instances' addresses are the network service's now (network.network_interface_addresses,
-- held by their interfaces). compute.ip_allocations, compute's IPAM until then, becomes a
-- read-only view of it: each instance's attached interfaces' addresses, so that what read
-- the old table (invariant checks: every live instance has an address, none leaks) reads
-- the real allocations.
DROP TABLE compute.ip_allocations;
CREATE VIEW compute.ip_allocations AS
    SELECT a.subnet_id, a.private_ip AS ip, i.instance_id
    FROM network.network_interface_addresses a
    JOIN network.network_interfaces i ON i.network_interface_id = a.network_interface_id
    WHERE i.instance_id IS NOT NULL;
