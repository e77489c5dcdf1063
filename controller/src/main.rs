//! The ferrolb-controller binary: parse arguments, set up logging, run.

use clap::Parser;
use ferrolb_controller::config::{Cli, Command};
use ferrolb_controller::run;
use ferrolb_crds::ops::logging;

// One thread: the work is I/O-bound (and the ARP responder has threads of its own), and every
// extra runtime thread costs glibc an arena of its own, megabytes of resident memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        // No log set-up: stdout carries only the converted YAML.
        Some(Command::MigrateMetallb(args)) => ferrolb_controller::migrate::run_cli(&args.files),
        None => {
            logging::init(cli.run.log_format, "info,kube_lease_manager=warn");
            run::run(cli.run).await
        }
    }
}
