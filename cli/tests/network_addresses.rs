#![allow(clippy::unwrap_used)]
//! Elastic IPs through boto3 against one real `kumo up` with its own compute agent
//! (container instances): `tests/network/addresses.py` has the operator add a public pool
//! through the native API, then two accounts allocate, associate with an instance or an
//! interface, disassociate and release; Terraform's aws_eip and aws_eip_association
//! sequences, DescribeInstances showing the public address while associated, the error
//! codes, the per-account limit, filters, the native routes and tenant isolation.
//! `KUMO_EIP_CHECKS="prefix …"` runs only the checks whose names start so.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn elastic_ips_through_boto3() {
    let state = tempfile::Builder::new()
        .prefix("kumo-eip-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start_with_agent(state.path(), "warn");
    up.run_checks(
        state.path(),
        "network/addresses.py",
        &[],
        Some("KUMO_EIP_CHECKS"),
        "elastic IP checks failed (see FAIL lines above)",
    );
    up.assert_clean_stop();
}
