//! The compute service alone: its native `/v1/` routes, the agent protocol and EC2 in AWS Query form.

use clap::Parser;
use kumo_gateway::config::CommonArgs;

#[derive(Parser)]
#[command(name = "kumo-compute", about = "Kumo's compute service on its own")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kumo_gateway::server::run_standalone(
        "kumo-compute",
        &args.common,
        kumo_gateway::Mount::ComputeOnly,
    )
    .await
}
