#![allow(clippy::unwrap_used)]
//! Network interfaces and instances through boto3 against one real `kumo up` with its own
//! compute agent (container instances): `tests/network/network_interfaces.py` launches into
//! a chosen subnet and group, checks the instance's primary interface and attachment,
//! Terraform's aws_instance and aws_network_interface sequences, a second interface
//! attached and detached, secondary addresses, attributes, filters and pages, that
//! terminating frees the addresses, the native routes and tenant isolation.
//! `KUMO_ENI_CHECKS="prefix …"` runs only the checks whose names start so.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn network_interfaces_and_instances_through_boto3() {
    let state = tempfile::Builder::new()
        .prefix("kumo-eni-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start_with_agent(state.path(), "warn");
    up.run_checks(
        state.path(),
        "network/network_interfaces.py",
        &[],
        Some("KUMO_ENI_CHECKS"),
        "network interface checks failed (see FAIL lines above)",
    );
    up.assert_clean_stop();
}
