//! The ferrolb-speaker binary.

use clap::Parser;
use ferrolb_speaker::{config::Cli, run, telemetry};

// One thread: the work is I/O-bound (and the ARP responder has threads of its own), and every
// extra runtime thread costs glibc an arena of its own, megabytes of resident memory.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    fixed_mmap_threshold();
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    run::run(cli).await?;
    Ok(())
}

/// Keeps glibc's malloc from carving large short-lived blocks out of the heap.
///
/// A pass builds lists the size of the cluster (the plan, the wanted conditions: hundreds of
/// KiB with thousands of Services) and drops them at its end. glibc serves blocks of 128 KiB
/// and more with their own mappings and unmaps them when freed, but it raises that threshold
/// to the size of each such block freed. After the first pass the lists are carved from the
/// heap, and the small long-lived objects allocated meanwhile pin the heap at its high-water
/// mark for good. A fixed threshold keeps the lists in mappings of their own, given back at
/// the end of each pass. musl's allocator (the static release images) has no such threshold.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn fixed_mmap_threshold() {
    const THRESHOLD: libc::c_int = 128 * 1024;
    // SAFETY: mallopt only sets a parameter of the allocator, under its own lock; no memory
    // is touched.
    let ok = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, THRESHOLD) };
    if ok == 0 {
        eprintln!("ferrolb-speaker: could not fix malloc's mmap threshold; continuing");
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fixed_mmap_threshold() {}
