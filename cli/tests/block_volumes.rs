#![allow(clippy::unwrap_used)]
//! EBS volumes with boto3 against a real `kumo up` (no compute agent; its own storage
//! node): `tests/block/volumes.py` creates, describes, tags, modifies and deletes volumes,
//! checks AWS's error codes and tenant isolation, and sees a volume become `available`
//! once the storage node's block role exports its replica.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn volumes_through_the_ec2_api() {
    let state = tempfile::Builder::new()
        .prefix("kumo-volumes-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start(state.path(), "warn");
    up.run_checks(
        state.path(),
        "block/volumes.py",
        &[],
        None,
        "volumes.py failed (see above)",
    );
    up.assert_clean_stop();
}
