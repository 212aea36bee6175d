#![allow(clippy::unwrap_used)]
//! EBS volumes in running containers end to end with boto3 against a real `kumo up` with
//! its compute agent and two storage nodes: `tests/block/containers.py` attaches a
//! 2-replica volume to a running busybox container (the agent's local
//! qemu-storage-daemon over both NBD replicas, FUSE export, loop, `/dev/sdf` in the
//! container), whose user data writes a 64 MiB pattern with dd and prints its checksum;
//! detaches it (the node goes, the container keeps running); attaches it to a second
//! container at `/dev/xvdg`, which reads the same checksum back. Force detach and tenant
//! isolation too. Prints AttachVolume → block device visible in the container.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn volumes_attach_to_running_containers() {
    let state = tempfile::Builder::new()
        .prefix("kumo-ctvol-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_compute_node=info,kumo_block_storage=info",
        &["--storage-nodes", "2"],
    );
    up.run_checks(
        state.path(),
        "block/containers.py",
        &[],
        None,
        "containers.py failed (see above)",
    );
}
