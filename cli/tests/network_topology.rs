#![allow(clippy::unwrap_used)]
//! The network topology through boto3 against one real `kumo up` (private Postgres, no
//! compute agent): `tests/network/topology.py` checks the default VPC's shape, VPCs,
//! subnets, internet gateways, route tables and network ACLs as Terraform and aws-cli read
//! them, filters, pages, tags, every error code, DependencyViolation ordering, the native
//! routes and tenant isolation. `KUMO_TOPOLOGY_CHECKS="prefix …"` runs only the checks
//! whose names start so.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn network_topology_through_boto3() {
    let state = tempfile::Builder::new()
        .prefix("kumo-topology-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start(state.path(), "warn");
    up.run_checks(
        state.path(),
        "network/topology.py",
        &[],
        Some("KUMO_TOPOLOGY_CHECKS"),
        "topology checks failed (see FAIL lines above)",
    );
    up.assert_clean_stop();
}
