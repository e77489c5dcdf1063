//! The controller benchmark (`make bench`), in a lab of its own:
//!
//! 1. Allocation: 1,000 LoadBalancer Services exist before the controller starts; the time from
//!    its start until a watch has seen an address on all of them, next to the time a bare kube
//!    client needs to write the same 1,000 status updates (server-side apply, all at once and
//!    64 at a time; the faster is the limit) to the same API server, on another 1,000 Services.
//!    Both clients run in the lab's control-plane namespace with the same kubeconfig, so they
//!    take the same network path. Three rounds; the best of each side is compared. Then the
//!    same allocation by MetalLB's controller (built from its Go module as the reference, on
//!    the same API server, Services of its own class), and both resident sets after it.
//! 2. Memory: the controller's resident set with 5,000 allocated Services, next to its resident
//!    set right after its initial sync with no Services.
//! 3. Restart: SIGKILL and start with 10,000 allocated Services: address changes (must be 0),
//!    status writes, and the time from start to ready (`/readyz`).
//! 4. Pool edit: with those Services, an edit of a small pool that removes 4 of its 16
//!    Services' addresses: how many Services the controller reconciles for it, and the time
//!    until the 4 show new addresses, next to a new Service's time to an address.
//!
//! `ferrolb-bench-controller --out <file.json>` prints every figure with its reference and
//! writes them all to the file. It exits non-zero on an error or when a restart changed an
//! address (a correctness failure, not a missed target).

use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use ferrolb_tests::objects::ensure_namespace;
use ferrolb_tests::{Lab, LabProcess, bench};
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{DeleteParams, ListParams};
use serde_json::json;

#[path = "controller/metallb.rs"]
mod metallb;
#[path = "controller/pool_edit.rs"]
mod pool_edit;
#[path = "controller/process.rs"]
mod process;
#[path = "controller/reference.rs"]
mod reference;
#[path = "controller/restart.rs"]
mod restart;
#[path = "controller/services.rs"]
mod services;

use pool_edit::pool_edit;
use process::{keep_logs, log_offset, rss, start_controller, wait_ready};
use reference::{ReferenceRun, WRITE_STATUSES, measure_reference, reference_writer};
use restart::restart;
use services::{AddressWatch, create_services};

/// The pool every benchmark Service draws from; no traffic goes to these addresses.
const POOL: &str = "10.0.0.0/16";
/// Namespaces of the two halves of the allocation benchmark.
pub(crate) const NS_REFERENCE: &str = "bench-reference";
pub(crate) const NS_CONTROLLER: &str = "bench-controller";
/// Targets (DESIGN.md, "Performance").
const ALLOCATION_TARGET_RATIO: f64 = 1.25;
/// 40 MB (decimal, as the target is written): 38.1 MiB.
const MEMORY_TARGET_BYTES: u64 = 40 * 1000 * 1000;

/// How many Services each part uses; the defaults are the benchmark's, smaller values are for
/// trying it out (`--allocation N`, `--memory N`, `--restart N`).
#[derive(Debug, Clone)]
struct Sizes {
    allocation: usize,
    memory: usize,
    restart: usize,
    reference_concurrency: Vec<usize>,
    rounds: usize,
    /// Where to copy the lab's logs before it is removed (`--keep-logs DIR`).
    keep_logs: Option<std::path::PathBuf>,
    /// Measure MetalLB's controller too (`--no-metallb` to skip it).
    metallb: bool,
}

impl Sizes {
    fn from_args() -> anyhow::Result<Sizes> {
        let mut s = Sizes {
            allocation: 1_000,
            memory: 5_000,
            restart: 10_000,
            reference_concurrency: vec![0, 64],
            rounds: 3,
            keep_logs: None,
            metallb: true,
        };
        let args: Vec<String> = std::env::args().collect();
        s.metallb = !args.iter().any(|a| a == "--no-metallb");
        for (flag, field) in [
            ("--allocation", &mut s.allocation),
            ("--memory", &mut s.memory),
            ("--restart", &mut s.restart),
            ("--rounds", &mut s.rounds),
        ] {
            if let Some(i) = args.iter().position(|a| a == flag) {
                *field = args
                    .get(i + 1)
                    .and_then(|v| v.parse().ok())
                    .with_context(|| format!("{flag} needs a number"))?;
            }
        }
        if let Some(i) = args.iter().position(|a| a == "--reference-concurrency") {
            s.reference_concurrency = args
                .get(i + 1)
                .context("--reference-concurrency needs a list")?
                .split(',')
                .map(|c| c.parse().context("--reference-concurrency"))
                .collect::<anyhow::Result<_>>()?;
        }
        if let Some(i) = args.iter().position(|a| a == "--keep-logs") {
            s.keep_logs = Some(
                args.get(i + 1)
                    .context("--keep-logs needs a directory")?
                    .into(),
            );
        }
        if s.rounds == 0 || !(s.allocation <= s.memory && s.memory <= s.restart) {
            bail!(
                "--rounds must be at least 1, and sizes must grow: --allocation <= --memory <= --restart"
            );
        }
        Ok(s)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.get(1).map(String::as_str) == Some(WRITE_STATUSES) {
        return match rt.block_on(reference_writer(&args[2..])) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("reference writer: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let Some(out) = bench::out_path() else {
        eprintln!(
            "usage: ferrolb-bench-controller --out <file.json> [--allocation N] [--memory N] [--restart N]"
        );
        return ExitCode::from(2);
    };
    match rt.block_on(run(&out)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("bench controller: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn concurrency_text(c: usize) -> String {
    if c == 0 {
        "all".to_owned()
    } else {
        c.to_string()
    }
}

fn pass(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

async fn run(out: &std::path::Path) -> anyhow::Result<bool> {
    let sizes = Sizes::from_args()?;
    let started = Instant::now();
    println!(
        "controller bench: allocation {} Services, memory {} Services, restart {} Services",
        sizes.allocation, sizes.memory, sizes.restart
    );
    let lab = tokio::task::spawn_blocking(|| Lab::start(1))
        .await?
        .context("starting the lab")?;
    lab.install_crds().context("installing the CRDs")?;
    lab.apply_yaml(
        &format!(
            "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {{name: bench}}\nspec:\n  addresses: [\"{POOL}\"]\n"
        ),
        &[],
    )
    .context("creating the pool")?;
    let client = lab.client().await.context("client")?;
    ensure_namespace(&client, NS_REFERENCE).await;
    ensure_namespace(&client, NS_CONTROLLER).await;
    let reference_api: Api<Service> = Api::namespaced(client.clone(), NS_REFERENCE);
    let controller_api: Api<Service> = Api::namespaced(client.clone(), NS_CONTROLLER);

    // Memory reference: right after the initial sync, with no LoadBalancer Service at all.
    let idle_rss = {
        let t0 = Instant::now();
        let mut c = start_controller(&lab, "controller-idle")?;
        wait_ready(&lab, &mut c, t0, Duration::from_secs(60)).await?;
        let rss = rss(&c)?;
        c.kill();
        rss
    };
    println!(
        "memory reference: {:.1} MiB resident right after the initial sync with 0 Services",
        bench::mib(idle_rss)
    );

    // Allocation, in rounds (this machine's noise is larger than the effect measured): the
    // reference at each concurrency, then the controller; the best of each round is compared.
    let mut references: Vec<ReferenceRun> = Vec::new();
    let mut controller_runs: Vec<(f64, Option<f64>)> = Vec::new();
    let mut controller = None;
    for round in 1..=sizes.rounds {
        for &concurrency in &sizes.reference_concurrency {
            let (seconds, writes_seconds) =
                measure_reference(&lab, &reference_api, sizes.allocation, concurrency).await?;
            references.push(ReferenceRun {
                round,
                concurrency,
                seconds,
                writes_seconds,
            });
        }
        // Every Service exists before the controller starts.
        if let Some(mut c) = controller.take() {
            LabProcess::kill(&mut c);
            controller_api
                .delete_collection(&DeleteParams::default(), &ListParams::default())
                .await
                .context("deleting the previous round's Services")?;
        }
        create_services(&controller_api, NS_CONTROLLER, 0..sizes.allocation, None).await?;
        let watch = AddressWatch::start(controller_api.clone(), sizes.allocation).await?;
        let (t0, wall0) = (Instant::now(), SystemTime::now());
        let c = start_controller(&lab, &format!("controller-{round}"))?;
        let t1 = watch
            .finished("the controller's allocations", Duration::from_secs(180))
            .await?;
        let sync = log_offset(&c, "initial sync done", wall0);
        controller_runs.push(((t1 - t0).as_secs_f64(), sync));
        controller = Some(c);
        let refs: Vec<String> = references
            .iter()
            .filter(|r| r.round == round)
            .map(|r| {
                format!(
                    "{} at a time {:.3} s",
                    concurrency_text(r.concurrency),
                    r.seconds
                )
            })
            .collect();
        println!(
            "allocation round {round}: reference {}; controller {:.3} s (initial sync done after {})",
            refs.join(", "),
            (t1 - t0).as_secs_f64(),
            sync.map_or("?".into(), |s| format!("{s:.3} s")),
        );
    }
    let mut controller = controller.context("no allocation round")?;
    let best_reference = references
        .iter()
        .min_by(|a, b| a.seconds.total_cmp(&b.seconds))
        .context("no reference")?;
    let reference_s = best_reference.seconds;
    let controller_s = controller_runs
        .iter()
        .map(|r| r.0)
        .min_by(f64::total_cmp)
        .context("no controller run")?;
    let allocation_ratio = bench::ratio(controller_s, reference_s);
    let allocation_met = allocation_ratio <= ALLOCATION_TARGET_RATIO;
    // The same comparison on medians, to show how much the noise moves it.
    let median = |v: Vec<f64>| bench::percentile(&v, 50.0).unwrap_or(f64::NAN);
    let round_refs: Vec<f64> = (1..=sizes.rounds)
        .map(|round| {
            references
                .iter()
                .filter(|r| r.round == round)
                .map(|r| r.seconds)
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let median_ratio = bench::ratio(
        median(controller_runs.iter().map(|r| r.0).collect()),
        median(round_refs),
    );
    println!(
        "allocation: {n} Services created at once, time until all have an address (best of {rounds})\n  \
         controller:  {controller_s:.3} s from its start\n  \
         reference:   {reference_s:.3} s (bare client in the same place, {n} status writes, \
         {at} at a time)\n  \
         ratio:       {allocation_ratio:.2}x (target <= {ALLOCATION_TARGET_RATIO}x: {}); \
         on medians {median_ratio:.2}x",
        pass(allocation_met),
        n = sizes.allocation,
        rounds = sizes.rounds,
        at = concurrency_text(best_reference.concurrency),
    );

    // The reference: MetalLB's controller with the same number of Services, the same rounds.
    let allocated_rss = rss(&controller)?;
    let reference = if sizes.metallb {
        println!(
            "MetalLB reference: {} Services of its class, {} rounds",
            sizes.allocation, sizes.rounds
        );
        let r = metallb::allocation(&lab, &client, sizes.allocation, sizes.rounds).await?;
        let best = r.seconds.iter().copied().fold(f64::INFINITY, f64::min);
        let speedup = bench::ratio(best, controller_s);
        let memory_share = bench::ratio(allocated_rss as f64, r.rss as f64);
        println!(
            "allocation vs MetalLB {}: {n} Services, best of {rounds}\n  \
             ferrolb: {controller_s:.3} s, {:.1} MiB resident\n  \
             MetalLB: {best:.3} s, {:.1} MiB resident\n  \
             MetalLB/ferrolb time {speedup:.2}x (target >= 3x: {}); ferrolb/MetalLB memory {memory_share:.2} (target <= 0.33: {})",
            r.version,
            bench::mib(allocated_rss),
            bench::mib(r.rss),
            pass(speedup >= 3.0),
            pass(memory_share <= 1.0 / 3.0),
            n = sizes.allocation,
            rounds = sizes.rounds,
        );
        Some(json!({
            "version": r.version,
            "services": sizes.allocation,
            "metallb_seconds": r.seconds,
            "metallb_best_seconds": best,
            "ferrolb_best_seconds": controller_s,
            "metallb_over_ferrolb_time": speedup,
            "time_target": 3.0,
            "ferrolb_rss_bytes": allocated_rss,
            "metallb_rss_bytes": r.rss,
            "ferrolb_over_metallb_rss": memory_share,
            "memory_target": 1.0 / 3.0,
        }))
    } else {
        None
    };

    // Memory: the same controller, now with `memory` allocated Services.
    let watch = AddressWatch::start(controller_api.clone(), sizes.memory).await?;
    create_services(
        &controller_api,
        NS_CONTROLLER,
        sizes.allocation..sizes.memory,
        None,
    )
    .await?;
    watch
        .finished(
            "allocations for the memory figure",
            Duration::from_secs(300),
        )
        .await?;
    if !controller.is_running() {
        bail!("the controller exited:\n{}", controller.log());
    }
    let loaded_rss = rss(&controller)?;
    let peak_rss = bench::proc_status_bytes(controller.pid(), "VmHWM").unwrap_or(0);
    let memory_met = loaded_rss <= MEMORY_TARGET_BYTES;
    println!(
        "memory: {:.1} MiB resident with {} allocated Services (peak {:.1} MiB); \
         {:.1} MiB with 0 Services ({:.2}x that)\n  \
         ratio to target: {:.2} of 40 MB ({:.1} MiB): {}",
        bench::mib(loaded_rss),
        sizes.memory,
        bench::mib(peak_rss),
        bench::mib(idle_rss),
        bench::ratio(loaded_rss as f64, idle_rss as f64),
        bench::ratio(loaded_rss as f64, MEMORY_TARGET_BYTES as f64),
        bench::mib(MEMORY_TARGET_BYTES),
        pass(memory_met),
    );

    // Restart: `restart` allocated Services, SIGKILL, start again.
    let watch = AddressWatch::start(controller_api.clone(), sizes.restart).await?;
    create_services(
        &controller_api,
        NS_CONTROLLER,
        sizes.memory..sizes.restart,
        None,
    )
    .await?;
    watch
        .finished("allocations before the restart", Duration::from_secs(300))
        .await?;
    let restart = restart(&lab, &controller_api, &mut controller, sizes.restart).await?;
    println!(
        "restart: SIGKILL and start with {} allocated Services\n  \
         address changes: {} (must be 0: {})\n  \
         status writes to existing Services: {}\n  \
         start to ready (/readyz): {:.3} s; every Service reconciled after {:.3} s",
        sizes.restart,
        restart.changed.len(),
        pass(restart.changed.is_empty()),
        restart.writes,
        restart.ready_s,
        restart.reconciled_s,
    );
    if !restart.changed.is_empty() {
        println!(
            "  changed: {:?}",
            restart.changed.iter().take(10).collect::<Vec<_>>()
        );
    }
    let edit = pool_edit(&lab, &client, &mut controller, sizes.restart + 1).await?;
    println!(
        "pool edit: {} Services in the cluster; an edit of a pool holding {} of them removes \
         the addresses of {}\n  \
         Services reconciled: {} ({:.2}x the pool's Services)\n  \
         moved after {:.3} s (a new Service gets an address in {:.3} s: {:.2}x); \
         quiet after {:.3} s",
        edit.services,
        edit.concerned,
        edit.moved,
        edit.reconciled,
        bench::ratio(edit.reconciled as f64, edit.concerned as f64),
        edit.moved_s,
        edit.reference_s,
        bench::ratio(edit.moved_s, edit.reference_s),
        edit.settled_s,
    );
    controller.kill();
    if let Some(dir) = &sizes.keep_logs {
        keep_logs(&lab, dir)?;
    }

    let total_s = started.elapsed().as_secs_f64();
    let result = json!({
        "benchmark": "controller",
        "allocation": {
            "services": sizes.allocation,
            "rounds": sizes.rounds,
            "controller_seconds": controller_s,
            "reference_seconds": reference_s,
            "reference_concurrency": best_reference.concurrency,
            "ratio": allocation_ratio,
            "median_ratio": median_ratio,
            "target_ratio": ALLOCATION_TARGET_RATIO,
            "met": allocation_met,
            "controller_runs": controller_runs
                .iter()
                .map(|(t, sync)| json!({"seconds": t, "initial_sync_seconds": sync}))
                .collect::<Vec<_>>(),
            "reference_runs": references
                .iter()
                .map(|r| json!({
                    "round": r.round,
                    "concurrency": r.concurrency,
                    "seconds": r.seconds,
                    "writes_seconds": r.writes_seconds,
                }))
                .collect::<Vec<_>>(),
        },
        "memory": {
            "services": sizes.memory,
            "rss_bytes": loaded_rss,
            "rss_mib": bench::mib(loaded_rss),
            "peak_rss_bytes": peak_rss,
            "reference_rss_bytes_0_services": idle_rss,
            "reference_rss_mib_0_services": bench::mib(idle_rss),
            "ratio_to_reference": bench::ratio(loaded_rss as f64, idle_rss as f64),
            "target_bytes": MEMORY_TARGET_BYTES,
            "ratio_to_target": bench::ratio(loaded_rss as f64, MEMORY_TARGET_BYTES as f64),
            "met": memory_met,
        },
        "restart": {
            "services": sizes.restart,
            "address_changes": restart.changed.len(),
            "status_writes": restart.writes,
            "ready_seconds": restart.ready_s,
            "all_reconciled_seconds": restart.reconciled_s,
            "met": restart.changed.is_empty(),
        },
        "pool_edit": {
            "services": edit.services,
            "pool_services": edit.concerned,
            "moved_services": edit.moved,
            "services_reconciled": edit.reconciled,
            "ratio_to_pool_services": bench::ratio(edit.reconciled as f64, edit.concerned as f64),
            "moved_seconds": edit.moved_s,
            "quiet_seconds": edit.settled_s,
            "reference_new_service_seconds": edit.reference_s,
            "ratio_to_reference": bench::ratio(edit.moved_s, edit.reference_s),
        },
        "metallb": reference,
        "total_seconds": total_s,
    });
    bench::write_json(out, &result).with_context(|| format!("writing {}", out.display()))?;
    println!("total {total_s:.0} s; result in {}", out.display());
    Ok(restart.changed.is_empty())
}
