//! `kumo-compute-node`: the compute agent of one host.

use std::path::PathBuf;

use clap::Parser;
use kumo_compute_node::agent::{Agent, AgentConfig};

#[derive(Parser)]
#[command(name = "kumo-compute-node", about = "Kumo's per-host compute agent")]
struct Args {
    /// The control plane's URL (the gateway).
    #[arg(
        long,
        env = "KUMO_CONTROL_PLANE",
        default_value = "http://127.0.0.1:8780"
    )]
    control_plane: String,
    /// Operator-issued join token; needed only to enrol the first time.
    #[arg(long, env = "KUMO_JOIN_TOKEN")]
    join_token: Option<String>,
    /// Host name in the cloud (default: the machine's hostname).
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value = "us-east-1a")]
    zone: String,
    /// Where the agent keeps its credential, instance directories and consoles.
    #[arg(
        long,
        env = "KUMO_NODE_STATE_DIR",
        default_value = "/var/lib/kumo/compute-node"
    )]
    state_dir: PathBuf,
    /// OCI runtime: runc (default) or crun.
    #[arg(long, default_value = "runc")]
    container_runtime: PathBuf,
    #[arg(long, default_value = "qemu-system-x86_64")]
    qemu: PathBuf,
    /// Report this many vCPUs instead of the machine's.
    #[arg(long)]
    vcpus: Option<u32>,
    /// Report this much memory (MiB) instead of the machine's.
    #[arg(long)]
    memory_mib: Option<u32>,
    /// Address the control plane can reach this host at (informational).
    #[arg(long, default_value = "")]
    address: String,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = AgentConfig::new(args.control_plane, args.state_dir);
    config.join_token = args.join_token;
    if let Some(name) = args.name {
        config.name = name;
    }
    config.zone = args.zone;
    config.container_runtime = args.container_runtime;
    config.qemu = args.qemu;
    config.vcpus = args.vcpus;
    config.memory_mib = args.memory_mib;
    config.address = args.address;
    let agent = Agent::start(config).await?;
    tokio::select! {
        _ = agent.run() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    // Workloads keep running; they are re-adopted at the next start.
    tracing::info!("compute agent stopping; instances keep running");
    Ok(())
}
