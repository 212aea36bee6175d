-- The VPC data plane's control side: each host's underlay (where its VXLAN tunnels end,
-- which interface carries public traffic), where instances run (a contract view the
-- network service reads), and a notification on channel `kumo_data_plane` whenever
-- anything that shapes a host's network changes, so that agents long-polling
-- `GET /v1/agent/network` are answered at once.

-- What the agent reports in every enrolment and sync, and what the operator sets
-- (`PUT /v1/hosts/{host_id}/network`); the operator's value wins where set.
ALTER TABLE compute.hosts
    ADD COLUMN reported_vtep_address inet CHECK (family(reported_vtep_address) = 4 AND masklen(reported_vtep_address) = 32),
    ADD COLUMN reported_uplink       text CHECK (reported_uplink ~ '^[A-Za-z0-9_.-]{1,15}$'),
    ADD COLUMN operator_vtep_address inet CHECK (family(operator_vtep_address) = 4 AND masklen(operator_vtep_address) = 32),
    ADD COLUMN operator_uplink       text CHECK (operator_uplink ~ '^[A-Za-z0-9_.-]{1,15}$');

-- Compute's contract with the network service: which host each placed, not yet
-- terminated instance is on, that host's tunnel endpoint, and whether the instance should
-- have its network (desired running). The network service reads nothing else of compute.
CREATE VIEW compute.instance_placement AS
    SELECT i.instance_id,
           i.host_id,
           COALESCE(h.operator_vtep_address, h.reported_vtep_address) AS vtep_address,
           (i.desired_state = 'running' AND i.state <> 'terminated') AS active
    FROM compute.instances i
    JOIN compute.hosts h ON h.host_id = i.host_id
    WHERE i.state <> 'terminated';

CREATE FUNCTION compute.notify_data_plane() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- One notification per transaction: Postgres folds equal payloads on one channel.
    PERFORM pg_notify('kumo_data_plane', '');
    RETURN NULL;
END
$$;

-- Network tables: one notification per statement (a launch writing many rows is one).
DO $$
DECLARE
    shaping text;
BEGIN
    FOREACH shaping IN ARRAY ARRAY[
        'vpcs', 'subnets', 'route_tables', 'routes', 'route_table_associations',
        'internet_gateways', 'security_groups', 'security_group_rules',
        'network_interfaces', 'network_interface_addresses', 'network_interface_groups',
        'addresses']
    LOOP
        EXECUTE format(
            'CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON network.%I
             FOR EACH STATEMENT EXECUTE FUNCTION compute.notify_data_plane()',
            shaping || '_notify_data_plane', shaping);
    END LOOP;
END
$$;

-- Instances: only when they appear, move, or change desired or observed state (not on
-- every sync or console upload).
CREATE TRIGGER instances_placed_notify_data_plane
    AFTER INSERT ON compute.instances
    FOR EACH STATEMENT EXECUTE FUNCTION compute.notify_data_plane();
CREATE TRIGGER instances_moved_notify_data_plane
    AFTER UPDATE OF host_id, desired_state, state ON compute.instances
    FOR EACH ROW
    WHEN (OLD.host_id IS DISTINCT FROM NEW.host_id
          OR OLD.desired_state IS DISTINCT FROM NEW.desired_state
          OR OLD.state IS DISTINCT FROM NEW.state)
    EXECUTE FUNCTION compute.notify_data_plane();

-- Hosts: only when the effective tunnel endpoint or uplink may have changed (every sync
-- writes the reported values; most write the same ones).
CREATE TRIGGER hosts_underlay_notify_data_plane
    AFTER UPDATE OF reported_vtep_address, reported_uplink, operator_vtep_address, operator_uplink
    ON compute.hosts
    FOR EACH ROW
    WHEN (OLD.reported_vtep_address IS DISTINCT FROM NEW.reported_vtep_address
          OR OLD.reported_uplink IS DISTINCT FROM NEW.reported_uplink
          OR OLD.operator_vtep_address IS DISTINCT FROM NEW.operator_vtep_address
          OR OLD.operator_uplink IS DISTINCT FROM NEW.operator_uplink)
    EXECUTE FUNCTION compute.notify_data_plane();
