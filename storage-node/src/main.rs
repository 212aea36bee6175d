//! `kumo-storage-node`: the storage agent of one host.

use clap::Parser;
use kumo_storage_node::{run_args, NodeArgs};

#[derive(Parser)]
#[command(
    name = "kumo-storage-node",
    about = "Kumo's per-host storage agent: keeps chunks for the object-storage service"
)]
struct Cli {
    #[command(flatten)]
    node: NodeArgs,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    kumo_agent_kit::init_logging();
    let cli = Cli::parse();
    match run_args(cli.node).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kumo-storage-node: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
