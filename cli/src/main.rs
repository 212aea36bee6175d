//! `kumo`: run the whole cloud on one host (`kumo up`), print the OpenAPI document
//! (`kumo openapi`), and measure it (`kumo bench`).

mod bench;
mod bench_compute;
mod bench_s3;
mod profile;
mod up;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

use kumo_compute_node::agent::{Agent, AgentConfig};

#[derive(Parser)]
#[command(
    name = "kumo",
    version,
    about = "Kumo: a self-hosted, AWS-compatible cloud"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole cloud on this host and run until Ctrl-C.
    Up(up::UpArgs),
    /// Run the compute agent of this host (as `kumo-compute-node` does).
    Agent(AgentArgs),
    /// Run a storage node on this host (as `kumo-storage-node` does).
    StorageNode(kumo_storage_node::args::NodeArgs),
    /// Print the native API's OpenAPI document (JSON).
    Openapi,
    /// Benchmarks that print figures.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        Command::Up(args) => {
            kumo_gateway::config::init_logging();
            runtime.block_on(up::run(args))
        }
        Command::Agent(args) => {
            kumo_gateway::config::init_logging();
            runtime.block_on(run_agent(args))
        }
        Command::StorageNode(args) => {
            kumo_gateway::config::init_logging();
            runtime
                .block_on(kumo_storage_node::args::run_args(args))
                .map_err(anyhow::Error::from)
        }
        Command::Openapi => {
            println!(
                "{}",
                serde_json::to_string_pretty(&kumo_gateway::openapi())?
            );
            Ok(())
        }
        Command::Bench { which } => runtime.block_on(bench::run(which)),
    }
}

#[derive(clap::Args)]
struct AgentArgs {
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
    #[arg(
        long,
        env = "KUMO_NODE_STATE_DIR",
        default_value = "/var/lib/kumo/compute-node"
    )]
    state_dir: PathBuf,
    /// OCI runtime: runc (default) or crun.
    #[arg(long, default_value = "runc")]
    container_runtime: PathBuf,
    /// Report this many vCPUs instead of the machine's.
    #[arg(long)]
    vcpus: Option<u32>,
    /// Report this much memory (MiB) instead of the machine's.
    #[arg(long)]
    memory_mib: Option<u32>,
}

async fn run_agent(args: AgentArgs) -> anyhow::Result<()> {
    let mut config = AgentConfig::new(args.control_plane, args.state_dir);
    config.join_token = args.join_token;
    if let Some(name) = args.name {
        config.name = name;
    }
    config.zone = args.zone;
    config.container_runtime = args.container_runtime;
    config.vcpus = args.vcpus;
    config.memory_mib = args.memory_mib;
    let agent = Agent::start(config).await?;
    tokio::select! {
        _ = agent.run() => {}
        _ = kumo_gateway::server::shutdown_signal() => {}
    }
    Ok(())
}
