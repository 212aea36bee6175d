#![allow(clippy::unwrap_used)]
//! EBS volumes in running containers end to end with boto3 against a real `kumo up` with
//! its compute agent and two storage nodes: `tests/block/containers.py` attaches a
//! 2-replica volume to a running busybox container (the agent's local
//! qemu-storage-daemon over both NBD replicas, FUSE export, loop, `/dev/sdf` in the
//! container), whose user data writes a 64 MiB pattern with dd and prints its checksum;
//! detaches it (the node goes, the container keeps running); attaches it to a second
//! container at `/dev/xvdg`, which reads the same checksum back. Force detach and tenant
//! isolation too. Prints AttachVolume → block device visible in the container. The same
//! across two compute hosts (`kumo up --no-agent --storage-nodes 3` and two `kumo agent`
//! children on a `Topology`): the writer on one host, the reader on the other; then a
//! volume moves between busybox VMs on the two hosts the same way (the storage nodes listen
//! on the root namespace's underlay address, which the hosts' QEMU reaches).

mod kumo_up;

use std::ffi::OsStr;

use kumo_compute_node::testing::Topology;
use kumo_up::hosts::{join_token, HostAgent};
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

#[test]
fn a_volume_moves_between_containers_on_two_hosts() {
    let prefix = format!("kv{:04x}", std::process::id() & 0xffff);
    let topology = Topology::create(&prefix, 2).unwrap();
    // The VMs' QEMU dials the storage nodes from the hosts' namespaces: the nodes listen
    // on the root namespace's address on the underlay.
    let storage_address = topology.join_root_namespace().unwrap().to_string();
    let state = tempfile::Builder::new()
        .prefix("kumo-ctvol2-")
        .tempdir_in("/tmp")
        .unwrap();
    let up = KumoUp::start_and(
        state.path(),
        "warn,kumo_block_storage=info",
        &[
            "--storage-nodes",
            "3",
            "--storage-address",
            &storage_address,
        ],
    );
    let join_token = join_token(&up, state.path());
    let names: Vec<String> = (1..=2).map(|n| format!("{prefix}-h{n}")).collect();
    let agents: Vec<HostAgent> = (1..=2u8)
        .map(|n| {
            HostAgent::start(
                &up,
                state.path(),
                &topology,
                &join_token,
                &names[n as usize - 1],
                n,
            )
        })
        .collect();
    for agent in &agents {
        topology.adopt_owner(&agent.wait_enrolled());
    }
    let pids: Vec<String> = agents.iter().map(|a| a.child.id().to_string()).collect();
    let args: Vec<&OsStr> = names.iter().chain(&pids).map(OsStr::new).collect();
    up.run_checks(
        state.path(),
        "block/containers.py",
        &args,
        None,
        "containers.py across two hosts failed (see above)",
    );
    drop(agents);
}
