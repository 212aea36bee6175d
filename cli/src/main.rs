//! `kumo`: run the whole cloud on one host (`kumo up`), print the OpenAPI document
//! (`kumo openapi`), and measure it (`kumo bench`).

mod bench;
mod bench_compute;
mod bench_launch_rules;
mod bench_network;
mod bench_s3;
mod bench_snapshots;
mod profile;
mod up;

use clap::{Parser, Subcommand};

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
    Agent(kumo_compute_node::args::AgentArgs),
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
            let result = runtime.block_on(up::run(args));
            // Blocking tasks still running (a file copy, a slow system call) are not waited
            // for: stopping stays bounded.
            runtime.shutdown_timeout(std::time::Duration::from_secs(2));
            result
        }
        Command::Agent(args) => {
            kumo_gateway::config::init_logging();
            runtime.block_on(kumo_compute_node::args::run_args(args))
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
