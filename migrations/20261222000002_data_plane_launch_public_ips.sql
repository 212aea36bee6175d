-- Launch-time public addresses (network.launch_public_ips) are NATed by the data plane
-- like elastic IPs: a change to them is a change to the host's network too.
CREATE TRIGGER launch_public_ips_notify_data_plane
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON network.launch_public_ips
    FOR EACH STATEMENT EXECUTE FUNCTION compute.notify_data_plane();
