//! The ferrolb-speaker binary.

use clap::Parser;
use ferrolb_speaker::{config::Cli, run, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    run::run(cli).await?;
    Ok(())
}
