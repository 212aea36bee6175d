#![allow(clippy::unwrap_used)]
//! EBS-backed instances end to end with boto3 against a real `kumo up` with its compute
//! agent and two storage nodes: `tests/block/instances.py` launches busybox VMs whose root
//! is a 2-replica volume made from the image's disk (plus mapped extra volumes), checks
//! DescribeImages/DescribeInstances/DescribeVolumes and the attributes, that the guest
//! boots from the root and keeps what it wrote on / across a stop and start, the error
//! codes and tenant isolation, and DeleteOnTermination both ways at termination. (Moving a
//! stopped instance to another host is tested over the gateway in
//! services/gateway/tests/ebs_instances.rs.)

mod kumo_up;

use kumo_up::KumoUp;

#[test]
fn ebs_backed_instances_boot_from_their_root_volume() {
    let state = tempfile::Builder::new()
        .prefix("kumo-ebs-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_with_agent_and(
        state.path(),
        "warn,kumo_compute_node=info,kumo_block_storage=info,kumo_compute=info",
        &["--storage-nodes", "2"],
    );
    up.run_checks(
        state.path(),
        "block/instances.py",
        &[],
        None,
        "instances.py failed (see above)",
    );
}
