#![allow(clippy::unwrap_used)]
//! Containers with an EBS root end to end with boto3 against a real `kumo up` with its
//! compute agent and two storage nodes: `tests/block/container_root.py` launches the
//! busybox container image without a root mapping (instance store, as before) and with
//! `/dev/xvda` mapped to an EBS volume (`rootDeviceType` ebs, the root in DescribeVolumes
//! and blockDeviceMapping, `/` is the volume's ext4, a file on it survives a stop and
//! start), and checks DeleteOnTermination both ways at termination.

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn containers_boot_from_an_ebs_root() {
    let state = tempfile::Builder::new()
        .prefix("kumo-ctroot-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_compute_node=info,kumo_block_storage=info",
        &["--storage-nodes", "2"],
    );
    up.run_checks(
        state.path(),
        "block/container_root.py",
        &[],
        None,
        "container_root.py failed (see above)",
    );
}
