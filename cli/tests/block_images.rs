#![allow(clippy::unwrap_used)]
//! EBS images end to end with boto3 against a real `kumo up` with its compute agent and two
//! storage nodes: `tests/block/images.py` writes a file on a busybox VM's root volume,
//! CreateImage, waits for `available`, launches from it (and from a RegisterImage of the
//! same root snapshot) and reads the file back from the new VMs' roots; InvalidSnapshot.InUse
//! and tenant isolation.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn images_from_an_instance_and_a_snapshot_launch_with_its_root() {
    let state = tempfile::Builder::new()
        .prefix("kumo-img-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_compute_node=info,kumo_block_storage=info,kumo_compute=info",
        &["--storage-nodes", "2"],
    );
    up.run_checks(
        state.path(),
        "block/images.py",
        &[],
        None,
        "images.py failed (see above)",
    );
}
