//! The public endpoint with every service mounted, for a multi-process deployment.

use clap::Parser;
use kumo_gateway::config::CommonArgs;

#[derive(Parser)]
#[command(
    name = "kumo-gateway",
    about = "Kumo's public endpoint: native API, AWS Query, S3"
)]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(flatten)]
    console: kumo_gateway::console::ConsoleArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    kumo_gateway::server::run_standalone_with_console(
        "kumo-gateway",
        &args.common,
        kumo_gateway::Mount::Gateway,
        args.console.config(),
    )
    .await
}
