#![allow(clippy::unwrap_used)]
//! Security groups through boto3 against one real `kumo up` (private Postgres, no compute
//! agent): `tests/network/security_groups.py` checks the shapes Terraform reads, the
//! inline and standalone rule sequences, duplicates, revoke, rule ids, filters and pages,
//! DependencyViolation, input bounds, the native routes and tenant isolation.
//! `KUMO_SG_CHECKS="prefix …"` runs only the checks whose names start so.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn security_groups_through_boto3() {
    let state = tempfile::Builder::new()
        .prefix("kumo-sg-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start(state.path(), "warn");
    up.run_checks(
        state.path(),
        "network/security_groups.py",
        &[],
        Some("KUMO_SG_CHECKS"),
        "security group checks failed (see FAIL lines above)",
    );
    up.assert_clean_stop();
}
