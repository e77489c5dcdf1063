//! The `kubectl-ferrolb` binary: copied onto `PATH`, it is `kubectl ferrolb`.

use std::process::ExitCode;

use clap::Parser;
use ferrolb_controller::plugin::{self, Cli, EXIT_ERROR};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // Wrong arguments exit with status 2, as an unreadable cluster does.
    let cli = Cli::parse();
    match plugin::run(cli).await {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}
