#![allow(clippy::unwrap_used)]
//! Launch-time public IPv4 addresses through boto3 against one real `kumo up` with its own
//! compute agent (container instances): `tests/network/public_ips.py` has the operator add
//! a pool, then instances launched into a default subnet (mapPublicIpOnLaunch) or with
//! `AssociatePublicIpAddress` get a pool address that is not an elastic IP (IpOwnerId
//! amazon, no allocation or association id, not in DescribeAddresses), released at stop, a
//! new one at start, replaced by an elastic IP and given back when it leaves, returned at
//! termination; a full pool launches without; tenant isolation.
//! `KUMO_PUBLIC_IP_CHECKS="prefix …"` runs only the checks whose names start so.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn launch_time_public_ips_through_boto3() {
    let state = tempfile::Builder::new()
        .prefix("kumo-pip-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start_with_agent(state.path(), "warn");
    up.run_checks(
        state.path(),
        "network/public_ips.py",
        &[],
        Some("KUMO_PUBLIC_IP_CHECKS"),
        "launch-time public IP checks failed (see FAIL lines above)",
    );
    up.assert_clean_stop();
}
