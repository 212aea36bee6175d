#![allow(clippy::unwrap_used)]
//! EBS-backed instances end to end with boto3 against a real `kumo up` with its compute
//! agent and two storage nodes: `tests/block/instances.py` launches busybox VMs whose root
//! is a 2-replica volume made from the image's disk (plus mapped extra volumes), checks
//! DescribeImages/DescribeInstances/DescribeVolumes and the attributes, that the guest
//! boots from the root and keeps what it wrote on / across a stop and start, the error
//! codes and tenant isolation, and DeleteOnTermination both ways at termination. Then, on
//! two compute hosts (`kumo up --no-agent --storage-nodes 2` and two `kumo agent` children
//! on a `Topology`), `tests/block/instances_move.py`: stopped, its host disabled, started,
//! the VM runs on the other host from the same root volume (its boot count on / goes on);
//! draining a host moves it back while stopped. The storage nodes listen on the root
//! namespace's address on the topology's underlay, which the hosts' namespaces reach.

mod kumo_up;

use std::ffi::OsStr;

use kumo_compute_node::testing::Topology;
use kumo_up::hosts::{join_token, HostAgent};
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

#[test]
fn a_stopped_ebs_backed_instance_starts_on_another_host() {
    let prefix = format!("ke{:04x}", std::process::id() & 0xffff);
    let topology = Topology::create(&prefix, 2).unwrap();
    // The hosts' VMs dial the storage nodes' NBD exports from the hosts' namespaces: the
    // nodes listen on the root namespace's address on the underlay.
    let storage_address = topology.join_root_namespace().unwrap().to_string();
    let state = tempfile::Builder::new()
        .prefix("kumo-ebs2-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_and(
        state.path(),
        "warn,kumo_compute=info,kumo_block_storage=info",
        &[
            "--storage-nodes",
            "2",
            "--storage-address",
            &storage_address,
        ],
    );
    let join_token = join_token(&up, state.path());
    let names: Vec<String> = (1..=2).map(|n| format!("{prefix}-h{n}")).collect();
    let agents: Vec<HostAgent> = (1..=2u8)
        .map(|n| {
            let name = &names[n as usize - 1];
            HostAgent::start(&up, state.path(), &topology, &join_token, name, n)
        })
        .collect();
    for agent in &agents {
        topology.adopt_owner(&agent.wait_enrolled());
    }
    let args: Vec<&OsStr> = names.iter().map(OsStr::new).collect();
    up.run_checks(
        state.path(),
        "block/instances_move.py",
        &args,
        None,
        "instances_move.py failed (see above)",
    );
    drop(agents);
}
