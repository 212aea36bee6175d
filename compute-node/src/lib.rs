//! The compute-node agent: converges one host to the desired state the compute service
//! holds in the catalog, and reports what it observes.
//!
//! - [`vm`]: QEMU virtual machines (KVM when the CPU has vmx/svm, else TCG), QMP control,
//!   serial console captured to a file.
//! - [`container`]: OCI containers run by runc (crun selectable), cgroup limits from the
//!   instance type.
//! - [`network`]: the VPC's bridge, veth (containers) or tap (VMs) per instance.
//! - [`dns`]: DHCP and DNS for each VPC (one dnsmasq per router namespace).
//! - [`firewall`]: security groups (nftables, one atomic transaction) and anti-spoofing.
//! - [`vpc`]: the VPC data plane: router namespaces, VXLANs, elastic IPs' NAT, fed by
//!   the control plane's host network long poll.
//! - [`metadata`]: the EC2-compatible instance metadata service at 169.254.169.254.
//! - [`testing`]: a multi-host network topology in namespaces, for tests (here and in
//!   `cli/tests`).
//! - [`agent`]: enrolment, the sync loop, re-adoption after a restart.
//!
//! Workloads outlive the agent: QEMU and runc processes run in their own sessions, and
//! everything needed to find them again lives in the agent's state directory.

pub mod agent;
pub mod args;
pub mod block_nodes;
pub mod container;
pub mod dns;
pub mod error;
pub mod firewall;
pub mod metadata;
pub mod netns;
pub mod network;
pub mod testing;
pub mod vm;
pub mod vpc;

pub use error::{NodeError, Result};
