//! The protocol between the compute service (desired state, in the catalog) and the
//! compute-node agents (which converge their host to it and report what they observe).
//!
//! An agent calls `POST /v1/agent/sync` every second or so with its capacity and the
//! observed state of every instance it holds; the answer lists every instance assigned
//! to the host with its desired state. Everything is idempotent: a lost call changes
//! nothing, the next one converges.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub mod network;
pub use network::{HostNetworkReport, HostNetworkSettings, HostNetworkSpec};

/// Header that carries a node's credential (`<host_id>:<secret>`).
pub const NODE_TOKEN_HEADER: &str = "x-kumo-node-token";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
pub enum InstanceKind {
    Vm,
    Container,
}

impl InstanceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceKind::Vm => "vm",
            InstanceKind::Container => "container",
        }
    }
}

/// What the control plane wants for an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(
    feature = "sqlx",
    derive(sqlx::Type),
    sqlx(type_name = "text", rename_all = "lowercase")
)]
pub enum DesiredState {
    Running,
    Stopped,
    /// Stop it and delete everything it had on the host.
    Terminated,
}

impl DesiredState {
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredState::Running => "running",
            DesiredState::Stopped => "stopped",
            DesiredState::Terminated => "terminated",
        }
    }
}

/// What an agent sees on its host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObservedState {
    /// Being created or booting.
    Starting,
    Running,
    Stopping,
    /// Exists on the host, not running (stopped on purpose, or its process died).
    Stopped,
    /// Nothing of it is left on the host.
    Absent,
}

/// Where an image's files are on the host (a shared image store).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageSource {
    pub image_id: String,
    pub kind: InstanceKind,
    /// VM: kernel to boot directly (with `initramfs`).
    pub kernel: Option<PathBuf>,
    pub initramfs: Option<PathBuf>,
    /// VM: a bootable qcow2 disk, or a root disk beside the kernel; used as a backing file.
    pub disk: Option<PathBuf>,
    /// Container: an uncompressed rootfs tarball.
    pub rootfs: Option<PathBuf>,
}

/// An instance's primary interface (device index 0): the VPC bridge its veth or tap goes
/// on, and what the instance configures. The VPC itself is in [`network::VpcSpec`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    /// `eni-…`.
    #[serde(default)]
    pub network_interface_id: String,
    /// `vpc-…`.
    #[serde(default)]
    pub vpc_id: String,
    pub subnet_id: String,
    /// The VPC's host bridge (≤ 15 characters), e.g. `kb-1a2b3c4d5e6f`.
    pub bridge: String,
    pub ip: Ipv4Addr,
    pub prefix_len: u8,
    /// The subnet's gateway (held by the VPC's router namespace on every host).
    pub gateway: Ipv4Addr,
    /// `02:…` locally administered MAC.
    pub mac: String,
    /// The VPC's resolver (its base + 2, AWS's AmazonProvidedDNS); `None` when the VPC's
    /// `enableDnsSupport` is off. Containers get it in their `/etc/resolv.conf`.
    #[serde(default)]
    pub dns_server: Option<Ipv4Addr>,
    /// The search domain that goes with it (`ec2.internal`, `<region>.compute.internal`).
    #[serde(default)]
    pub dns_domain: String,
}

/// What the metadata service (169.254.169.254) tells the instance about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceMetadata {
    pub instance_id: String,
    pub instance_type: String,
    pub ami_id: String,
    pub reservation_id: String,
    pub account_id: String,
    pub availability_zone: String,
    pub region: String,
    pub local_ipv4: Ipv4Addr,
    pub mac: String,
    pub hostname: String,
    /// `(key name, OpenSSH public key)`.
    pub public_keys: Vec<(String, String)>,
    /// Raw user data (already base64-decoded), if any.
    pub user_data: Option<Vec<u8>>,
}

/// Everything an agent needs to run one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceSpec {
    pub instance_id: String,
    pub account_id: String,
    pub kind: InstanceKind,
    pub desired: DesiredState,
    /// Bumped on every change of desired state (reboot requests too).
    pub generation: i64,
    /// Reboot requests: the agent reboots when this grows past what it has done.
    pub reboot_count: i64,
    pub vcpus: u32,
    pub memory_mib: u32,
    pub image: ImageSource,
    pub network: NetworkAttachment,
    pub metadata: InstanceMetadata,
    /// The EBS volumes attached to it (attaching or attached): a VM has each hot-plugged.
    #[serde(default)]
    pub volumes: Vec<VolumeAttachmentSpec>,
}

/// One attached volume: plugged into the VM as a virtio-blk disk whose serial is the
/// volume id, read and written over NBD with TLS-PSK on every ready replica.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAttachmentSpec {
    /// `vol-…`.
    pub volume_id: String,
    /// The device name AttachVolume was given (`/dev/sdf`); the guest names disks itself.
    pub device: String,
    /// The volume's ready replicas; the host writes to every in-sync one.
    pub replicas: Vec<VolumeReplicaEndpoint>,
    /// The instance boots from it (its EBS root volume): a VM has it plugged before the
    /// guest starts and its kernel mounts it as `/`; it is never hot-unplugged.
    #[serde(default)]
    pub boot: bool,
}

/// One replica's NBD export (the export's name is the volume id). The host is told the
/// credentials only while the volume is attached to one of its instances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeReplicaEndpoint {
    /// The storage node's IP address.
    pub host: String,
    pub nbd_port: u16,
    pub psk_identity: String,
    /// 64 lowercase hex digits.
    pub psk_key_hex: String,
    /// A stable name of this replica (its storage node's id), for the agent's reports.
    #[serde(default)]
    pub replica_id: String,
    /// False: the replica may hold stale data (its node missed writes, or it is new), so
    /// it must be rebuilt from the in-sync replicas before it serves reads; the agent
    /// rebuilds it and reports it [`ReplicaSyncState::InSync`].
    #[serde(default = "in_sync_by_default")]
    pub in_sync: bool,
}

fn in_sync_by_default() -> bool {
    true
}

/// What the agent found of one attached volume's replicas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedVolume {
    pub volume_id: String,
    pub replicas: Vec<ObservedReplica>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedReplica {
    /// [`VolumeReplicaEndpoint::replica_id`].
    pub replica_id: String,
    pub state: ReplicaSyncState,
}

/// A replica as the compute host that writes to it sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplicaSyncState {
    /// It gets every write and serves reads.
    InSync,
    /// A write to it failed: it was taken out of the volume and must be rebuilt.
    Failed,
    /// Being copied from the in-sync replicas (not yet serving reads).
    Rebuilding,
}

/// One instance as the agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedInstance {
    pub instance_id: String,
    pub state: ObservedState,
    /// Why, when it is not what was desired (e.g. "process exited with status 1").
    pub detail: Option<String>,
    /// The last reboot request carried out.
    pub reboot_count: i64,
    /// The spec generation the agent last acted on (0 when it never had a spec). A report
    /// about an older generation cannot undo a newer request.
    pub generation: i64,
    /// The volumes (`vol-…`) its running VM has plugged; `None` when the agent could not
    /// tell (or does not know volumes): the control plane then concludes nothing.
    #[serde(default)]
    pub volumes: Option<Vec<String>>,
    /// The replicas of each plugged volume as the host sees them (`None`: could not tell).
    #[serde(default)]
    pub volume_replicas: Option<Vec<ObservedVolume>>,
}

/// A host's capacity as its agent reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostCapacity {
    pub vcpus: u32,
    pub memory_mib: u32,
    pub disk_gib: u32,
    pub kinds: Vec<InstanceKind>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolRequest {
    pub join_token: String,
    pub name: String,
    pub zone: String,
    /// Where the control plane can reach the agent (informational for now).
    pub address: String,
    pub capacity: HostCapacity,
    #[serde(default)]
    pub network: HostNetworkReport,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolResponse {
    pub host_id: String,
    /// Send as `x-kumo-node-token` from now on; store it, it is shown once.
    pub node_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncRequest {
    pub capacity: HostCapacity,
    pub instances: Vec<ObservedInstance>,
    #[serde(default)]
    pub network: HostNetworkReport,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SyncResponse {
    /// Every instance assigned to this host that is not yet gone.
    pub instances: Vec<InstanceSpec>,
}

/// Serial-console upload: the tail of the console log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsoleUpload {
    pub instance_id: String,
    /// Base64 of the last bytes of the console (at most 64 KiB, as EC2 keeps).
    pub output_base64: String,
}
