//! The network service alone: its native `/v1/` routes and the EC2 networking actions in
//! AWS Query form.

use clap::Parser;
use kumo_gateway::config::CommonArgs;

#[derive(Parser)]
#[command(name = "kumo-network", about = "Kumo's network service on its own")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kumo_gateway::server::run_standalone(
        "kumo-network",
        &args.common,
        kumo_gateway::Mount::NetworkOnly,
    )
    .await
}
