#![allow(clippy::unwrap_used)]
//! EC2 tags across services with boto3 against a real `kumo up` (no compute agent):
//! `tests/network/tags.py` tags compute's and the network service's resources in one
//! CreateTags call, lists them with DescribeTags (resource types, filters, pages), checks
//! the tag rules, AWS's codes for unknown ids and tenant isolation.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn tags_across_compute_and_network() {
    let state = tempfile::Builder::new()
        .prefix("kumo-tags-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start(state.path(), "warn");
    up.run_checks(
        state.path(),
        "network/tags.py",
        &[],
        None,
        "tags.py failed (see above)",
    );
    up.assert_clean_stop();
}
