//! The ferrolb-speaker binary.

use clap::Parser;
use ferrolb_crds::ops::logging;
use ferrolb_speaker::{config::Cli, heap, run};

// One thread: the work is I/O-bound (and the ARP responder has threads of its own), and every
// extra runtime thread costs glibc an arena of its own, megabytes of resident memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format, "info");
    heap::fix_mmap_threshold();
    run::run(cli).await?;
    Ok(())
}
