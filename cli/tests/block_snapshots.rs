#![allow(clippy::unwrap_used)]
//! EBS snapshots end to end with boto3 against a real `kumo up` with its compute agent and
//! two storage nodes: `tests/block/snapshots.py` snapshots a volume a busybox VM wrote a
//! 64 MiB pattern to, restores it into a new volume that a second VM reads the same
//! checksum from, measures what a second snapshot after changing 1 MiB uploads, and checks
//! with e2fsck that a snapshot of an ext4 taken while the guest writes restores clean.
//! CopySnapshot, DescribeSnapshots, DeleteSnapshot, error codes and tenant isolation too.
//! Prints the snapshot times and the dedup figure.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn snapshots_restore_the_bytes_and_store_only_changes() {
    let state = tempfile::Builder::new()
        .prefix("kumo-snapshots-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_storage_node=info,kumo_block_storage=info",
        &["--storage-nodes", "2"],
    );
    up.run_checks(
        state.path(),
        "block/snapshots.py",
        &[],
        None,
        "snapshots.py failed (see above)",
    );
}
