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
    kumo_agent_kit::init_logging();
    run_args(Args::parse().agent).await
}
