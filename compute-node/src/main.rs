//! `kumo-compute-node`: the compute agent of one host.

use clap::Parser;
use kumo_compute_node::args::{run_args, AgentArgs};

#[derive(Parser)]
#[command(name = "kumo-compute-node", about = "Kumo's per-host compute agent")]
struct Args {
    #[command(flatten)]
    agent: AgentArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    run_args(Args::parse().agent).await
}
