//! Command-line arguments, shared by the `kumo-compute-node` binary and (flattened) the
//! `kumo agent` subcommand.

use std::path::PathBuf;

use kumo_agent_kit::ControlPlaneArgs;

use crate::agent::{Agent, AgentConfig};

#[derive(Debug, Clone, clap::Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub control_plane: ControlPlaneArgs,
    /// Host name in the cloud (default: the machine's hostname).
    #[arg(long)]
    pub name: Option<String>,
    #[arg(long, default_value = "us-east-1a")]
    pub zone: String,
    /// Where the agent keeps its credential, instance directories and consoles.
    #[arg(
        long,
        env = "KUMO_NODE_STATE_DIR",
        default_value = "/var/lib/kumo/compute-node"
    )]
    pub state_dir: PathBuf,
    /// OCI runtime: runc (default) or crun.
    #[arg(long, default_value = "runc")]
    pub container_runtime: PathBuf,
    #[arg(long, default_value = "qemu-system-x86_64")]
    pub qemu: PathBuf,
    /// Report this many vCPUs instead of the machine's.
    #[arg(long)]
    pub vcpus: Option<u32>,
    /// Report this much memory (MiB) instead of the machine's.
    #[arg(long)]
    pub memory_mib: Option<u32>,
    /// Address the control plane can reach this host at (informational).
    #[arg(long, default_value = "")]
    pub address: String,
    /// Do the host networking (bridges, VXLANs, router namespaces, nftables) inside this
    /// named network namespace instead of the current one (tests run several agents on
    /// one machine this way).
    #[arg(long)]
    pub host_netns: Option<String>,
    /// This host's VXLAN tunnel endpoint address (reported to the control plane; the
    /// operator's setting wins). Without one, VPCs do not reach other hosts.
    #[arg(long)]
    pub vtep_address: Option<std::net::Ipv4Addr>,
    /// The interface elastic IPs are answered on (proxy ARP) and public traffic leaves by.
    #[arg(long)]
    pub uplink: Option<String>,
}

impl AgentArgs {
    pub fn into_config(self) -> AgentConfig {
        let mut config = AgentConfig::new(self.control_plane.control_plane, self.state_dir);
        config.join_token = self.control_plane.join_token;
        if let Some(name) = self.name {
            config.name = name;
        }
        config.zone = self.zone;
        config.container_runtime = self.container_runtime;
        config.qemu = self.qemu;
        config.vcpus = self.vcpus;
        config.memory_mib = self.memory_mib;
        config.address = self.address;
        config.host_netns = self.host_netns;
        config.vtep_address = self.vtep_address;
        config.uplink = self.uplink;
        config
    }
}

/// Run the agent until SIGINT or SIGTERM. Workloads keep running; they are re-adopted at
/// the next start; host networking no instance uses is removed. Logging is the caller's to set up.
pub async fn run_args(args: AgentArgs) -> anyhow::Result<()> {
    let agent = Agent::start(args.into_config()).await?;
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    let shutdown = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("compute agent stopping; instances keep running");
    };
    // Sweeps the host networking no instance uses before returning.
    agent.run_until(shutdown).await;
    Ok(())
}
