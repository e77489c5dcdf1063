//! The ferrolb-controller binary: parse arguments, set up logging, run.

use clap::Parser;
use ferrolb_controller::config::{Cli, Command};
use ferrolb_controller::{run, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // No log set-up: stdout carries only the converted YAML.
        Some(Command::MigrateMetallb(args)) => ferrolb_controller::migrate::run_cli(&args.files),
        None => {
            telemetry::init(cli.run.log_format);
            run::run(cli.run).await
        }
    }
}
