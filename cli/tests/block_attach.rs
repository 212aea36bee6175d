#![allow(clippy::unwrap_used)]
//! AttachVolume / DetachVolume end to end with boto3 against a real `kumo up` with its
//! compute agent and two storage nodes: `tests/block/attach.py` hot-plugs a 2-replica
//! volume (NBD with TLS-PSK, QEMU's quorum over both) into a running busybox VM, which
//! writes a 64 MiB pattern and prints its checksum; detaches it (the guest loses the
//! disk, the volume is available); attaches it to a second VM, which reads the same
//! checksum back. Error codes and tenant isolation too. Prints AttachVolume → device
//! visible in the guest.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn volumes_hot_plug_into_running_vms() {
    let state = tempfile::Builder::new()
        .prefix("kumo-attach-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_compute_node=info,kumo_block_storage=info",
        &["--storage-nodes", "2"],
    );
    up.run_checks(
        state.path(),
        "block/attach.py",
        &[],
        None,
        "attach.py failed (see above)",
    );
}
