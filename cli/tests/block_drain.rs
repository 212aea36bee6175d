#![allow(clippy::unwrap_used)]
//! Draining a storage node (operators) against a real `kumo up --storage-nodes 3` (no
//! compute agent): `tests/block/drain.py` writes a pattern into both replicas of a
//! detached 2-replica volume (through each node's NBD+TLS export), drains one holder: a
//! replacement appears on the third node, copied from the in-sync peer's export, in sync;
//! then the drained node holds none; the volume stays available and the two remaining
//! replicas' files are identical (`qemu-img compare -U`). Tenants may not drain.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn draining_a_storage_node_moves_a_detached_volumes_replica() {
    // The replacement loop (which moves drained replicas too) then runs every 2 s.
    std::env::set_var("KUMO_BLOCK_REPLACE_GRACE_SECS", "8");
    let state = tempfile::Builder::new()
        .prefix("kumo-drain-")
        .tempdir_in("/tmp")
        .unwrap();
    let mut up = KumoUp::start_and(state.path(), "warn", &["--storage-nodes", "3"]);
    up.run_checks(
        state.path(),
        "block/drain.py",
        &[],
        None,
        "drain.py failed (see above)",
    );
    up.assert_clean_stop();
}
