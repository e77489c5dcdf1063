//! The controller benchmark (`make bench`), in a lab of its own:
//!
//! 1. Allocation: 1,000 LoadBalancer Services exist before the controller starts; the time from
//!    its start until a watch has seen an address on all of them, next to the time a bare kube
//!    client needs to write the same 1,000 status updates (server-side apply, all issued at once)
//!    to the same API server, on another 1,000 Services. Both clients run in the lab's
//!    control-plane namespace with the same kubeconfig, so they take the same network path.
//! 2. Memory: the controller's resident set with 5,000 allocated Services, next to its resident
//!    set right after its initial sync with no Services.
//! 3. Restart: SIGKILL and start with 10,000 allocated Services: address changes (must be 0),
//!    status writes, and the time from start to ready (`/readyz`).
//!
//! `ferrolb-bench-controller --out <file.json>` prints every figure with its reference and
//! writes them all to the file. It exits non-zero on an error or when a restart changed an
//! address (a correctness failure, not a missed target).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::pin::pin;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail};
use ferrolb_tests::objects::{ensure_namespace, ingress_ips, mk_lb_service};
use ferrolb_tests::{Lab, LabProcess, bench};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::oneshot;

/// The pool every benchmark Service draws from; no traffic goes to these addresses.
const POOL: &str = "10.0.0.0/16";
/// Where the reference writes its addresses (outside the pool: nothing else uses them).
const REFERENCE_FIRST_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 0);
/// A class the controller does not serve, so it never touches the reference's Services.
const REFERENCE_CLASS: &str = "bench.ferrolb.io/reference";
/// The field manager of the reference's writes.
const REFERENCE_MANAGER: &str = "ferrolb-bench-reference";
/// The hidden subcommand that runs the reference writer inside the lab.
const WRITE_STATUSES: &str = "write-statuses";
/// The controller's `/metrics` and `/readyz` port inside the control-plane namespace.
const METRICS_PORT: u16 = 17480;
/// Namespaces of the two halves of the allocation benchmark.
const NS_REFERENCE: &str = "bench-reference";
const NS_CONTROLLER: &str = "bench-controller";
/// Targets (DESIGN.md, "Performance").
const ALLOCATION_TARGET_RATIO: f64 = 1.25;
const MEMORY_TARGET_MIB: f64 = 40.0;
/// Concurrent creates while the benchmark fills a namespace (not measured).
const CREATE_CONCURRENCY: usize = 32;

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
        };
        let args: Vec<String> = std::env::args().collect();
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

// ---------------------------------------------------------------------------------------------
// The reference: a bare client writing the statuses, run inside the lab by the benchmark.

/// `write-statuses <namespace> <count> <concurrency>`: one server-side-apply status write per
/// Service `s00000`.. on one client, `concurrency` at a time (0: all at once, as the
/// controller's reconciles are issued), then prints how long the writes took.
async fn reference_writer(args: &[String]) -> anyhow::Result<()> {
    let [ns, count, concurrency] = args else {
        bail!("usage: {WRITE_STATUSES} <namespace> <count> <concurrency>");
    };
    let count: usize = count.parse().context("count")?;
    let concurrency = match concurrency.parse().context("concurrency")? {
        0 => count.max(1),
        c => c,
    };
    let client = Client::try_default().await.context("client")?;
    let api: Api<Service> = Api::namespaced(client, ns);
    let params = PatchParams::apply(REFERENCE_MANAGER).force();
    let now = Timestamp::now().to_string();
    let start = Instant::now();
    let writes = (0..count).map(|i| {
        let (api, params) = (api.clone(), params.clone());
        let ip = reference_ip(i);
        let body = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "status": {
                "loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]},
                "conditions": [{
                    "type": "ferrolb.io/Allocated",
                    "status": "True",
                    "reason": "Allocated",
                    "message": format!("{ip} from pool bench"),
                    "lastTransitionTime": now,
                    "observedGeneration": 1,
                }],
            },
        });
        async move {
            api.patch_status(&service_name(i), &params, &Patch::Apply(body))
                .await
        }
    });
    let results: Vec<_> = futures::stream::iter(writes)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    if let Some(first) = failed.first() {
        bail!("{} of {count} writes failed, first: {first}", failed.len());
    }
    println!("wrote {count} statuses in {:.6} s", elapsed.as_secs_f64());
    Ok(())
}

fn reference_ip(i: usize) -> String {
    let base = u32::from(REFERENCE_FIRST_IP);
    Ipv4Addr::from(base + u32::try_from(i).unwrap_or(u32::MAX)).to_string()
}

fn service_name(i: usize) -> String {
    format!("s{i:05}")
}

// ---------------------------------------------------------------------------------------------
// Lab helpers.

/// Creates Services `s<from>`..`s<to>` in `ns`, a few at a time (this is set-up, not measured).
async fn create_services(
    api: &Api<Service>,
    ns: &str,
    range: std::ops::Range<usize>,
    class: Option<&str>,
) -> anyhow::Result<()> {
    futures::stream::iter(range)
        .map(|i| {
            let mut svc = mk_lb_service(ns, &service_name(i), &[80], &[]);
            if let Some(spec) = svc.spec.as_mut() {
                // Thousands of Services would exhaust the node-port range; none is needed.
                spec.allocate_load_balancer_node_ports = Some(false);
                spec.load_balancer_class = class.map(str::to_owned);
            }
            async move {
                api.create(&PostParams::default(), &svc)
                    .await
                    .with_context(|| format!("creating Service {ns}/{}", svc.name_any()))
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// A watch on a namespace's Services that reports when `n` of them have an address.
struct AddressWatch {
    done: tokio::task::JoinHandle<anyhow::Result<Instant>>,
}

impl AddressWatch {
    /// Starts the watch and returns once it has listed the namespace, so everything after
    /// that is seen as it happens.
    async fn start(api: Api<Service>, n: usize) -> anyhow::Result<AddressWatch> {
        let (listed_tx, listed_rx) = oneshot::channel();
        let done = tokio::spawn(async move {
            let mut stream = pin!(watcher(api, watcher::Config::default()).default_backoff());
            let mut with_ip = HashSet::new();
            let mut listed_tx = Some(listed_tx);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                        if ingress_ips(&s).is_empty() {
                            with_ip.remove(&s.name_any());
                        } else {
                            with_ip.insert(s.name_any());
                        }
                    }
                    Ok(watcher::Event::Delete(s)) => {
                        with_ip.remove(&s.name_any());
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = listed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(watcher::Event::Init) => {}
                    Err(e) => eprintln!("bench: Service watch: {e}"),
                }
                if listed_tx.is_none() && with_ip.len() >= n {
                    return Ok(Instant::now());
                }
            }
            bail!("the Service watch ended")
        });
        tokio::time::timeout(Duration::from_secs(60), listed_rx)
            .await
            .context("the Service watch did not list within 60 s")?
            .context("the Service watch ended before it listed")?;
        Ok(AddressWatch { done })
    }

    /// When the `n`-th Service had an address, waiting at most `deadline`.
    async fn finished(self, what: &str, deadline: Duration) -> anyhow::Result<Instant> {
        let abort = self.done.abort_handle();
        match tokio::time::timeout(deadline, self.done).await {
            Ok(r) => r.context("watch task")?,
            Err(_) => {
                abort.abort();
                bail!("{what}: not done within {deadline:?}")
            }
        }
    }
}

/// GETs a path of the controller's operations endpoint from inside the control-plane
/// namespace; `None` unless it answers 200.
async fn controller_get(lab: &Lab, path: &str) -> Option<String> {
    let url = format!("http://127.0.0.1:{METRICS_PORT}{path}");
    let mut cmd = tokio::process::Command::from(lab.netns_cmd("cp", "curl"));
    cmd.args(["-sf", "--max-time", "2", &url])
        .stdin(std::process::Stdio::null());
    let out = cmd.output().await.ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `/readyz` until it answers, at most `deadline` after `since`; returns when it did.
async fn wait_ready(
    lab: &Lab,
    controller: &mut LabProcess,
    since: Instant,
    deadline: Duration,
) -> anyhow::Result<Instant> {
    loop {
        if controller_get(lab, "/readyz").await.is_some() {
            return Ok(Instant::now());
        }
        if !controller.is_running() {
            bail!("the controller exited:\n{}", controller.log());
        }
        if since.elapsed() > deadline {
            bail!("the controller was not ready within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// How many Service reconciles the controller has finished (its duration histogram's count).
async fn reconciles(lab: &Lab) -> Option<u64> {
    let text = controller_get(lab, "/metrics").await?;
    text.lines().find_map(|l| {
        l.strip_prefix("ferrolb_reconcile_duration_seconds_count")?
            .split_whitespace()
            .last()?
            .parse::<f64>()
            .ok()
            .map(|v| v as u64)
    })
}

/// Seconds from `since` to the time stamp of the first log line containing `needle`.
fn log_offset(controller: &LabProcess, needle: &str, since: SystemTime) -> Option<f64> {
    let log = controller.log();
    let line = log.lines().find(|l| l.contains(needle))?;
    let plain = strip_ansi(line);
    let ts: Timestamp = plain.split_whitespace().next()?.parse().ok()?;
    let since = Timestamp::try_from(since).ok()?;
    Some(ts.duration_since(since).as_secs_f64())
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Times a bare client writing `n` statuses `concurrency` at a time (0: all at once) on fresh
/// Services, from its start until a watch has seen every address; also returns the time the
/// client itself took for the writes. The Services are deleted afterwards.
async fn measure_reference(
    lab: &Lab,
    api: &Api<Service>,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, Option<f64>)> {
    create_services(api, NS_REFERENCE, 0..n, Some(REFERENCE_CLASS)).await?;
    let watch = AddressWatch::start(api.clone(), n).await?;
    let exe = std::env::current_exe().context("current_exe")?;
    let exe = exe.to_string_lossy();
    let (count, concurrency) = (n.to_string(), concurrency.to_string());
    let kubeconfig = lab.kubeconfig_inlab().to_string_lossy().into_owned();
    let t0 = Instant::now();
    let mut writer = lab.spawn(
        "cp",
        "bench-reference-writer",
        &[&exe, WRITE_STATUSES, NS_REFERENCE, &count, &concurrency],
        &[("KUBECONFIG", &kubeconfig)],
    )?;
    let t1 = watch
        .finished("the reference's writes", Duration::from_secs(180))
        .await?;
    let (ok, log) = tokio::task::spawn_blocking(move || (writer.wait(), writer.log())).await?;
    if !ok {
        bail!("the reference writer failed:\n{log}");
    }
    let writes_s = log
        .lines()
        .find_map(|l| {
            l.strip_prefix("wrote ")?
                .split(" in ")
                .nth(1)?
                .strip_suffix(" s")
        })
        .and_then(|s| s.parse::<f64>().ok());
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .context("deleting the reference's Services")?;
    Ok(((t1 - t0).as_secs_f64(), writes_s))
}

/// Copies the lab's logs (controllers, API server) to `dir`, for profiling.
fn keep_logs(lab: &Lab, dir: &std::path::Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    for entry in std::fs::read_dir(lab.dir().join("logs"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
    }
    Ok(())
}

fn start_controller(lab: &Lab, tag: &str) -> anyhow::Result<LabProcess> {
    let port = format!("127.0.0.1:{METRICS_PORT}");
    lab.start_controller(tag, &["--metrics-addr", &port])
        .with_context(|| format!("starting {tag}"))
}

fn rss(controller: &LabProcess) -> anyhow::Result<u64> {
    bench::rss_bytes(controller.pid()).context("reading the controller's VmRSS")
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
    let memory_met = bench::mib(loaded_rss) <= MEMORY_TARGET_MIB;
    println!(
        "memory: {:.1} MiB resident with {} allocated Services (peak {:.1} MiB); \
         {:.1} MiB with 0 Services ({:.2}x that)\n  \
         ratio to target: {:.2} of {MEMORY_TARGET_MIB} MiB: {}",
        bench::mib(loaded_rss),
        sizes.memory,
        bench::mib(peak_rss),
        bench::mib(idle_rss),
        bench::ratio(loaded_rss as f64, idle_rss as f64),
        bench::mib(loaded_rss) / MEMORY_TARGET_MIB,
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
            "target_mib": MEMORY_TARGET_MIB,
            "ratio_to_target": bench::mib(loaded_rss) / MEMORY_TARGET_MIB,
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
        "total_seconds": total_s,
    });
    bench::write_json(out, &result).with_context(|| format!("writing {}", out.display()))?;
    println!("total {total_s:.0} s; result in {}", out.display());
    Ok(restart.changed.is_empty())
}

/// One timing of the reference.
struct ReferenceRun {
    round: usize,
    /// Writes in flight at once (0: all).
    concurrency: usize,
    /// From its start until a watch saw every address.
    seconds: f64,
    /// What the client itself measured from its first request to its last response.
    writes_seconds: Option<f64>,
}

/// What a restart did to the Services it found.
struct Restart {
    /// Services whose addresses differed from before the restart at any moment.
    changed: BTreeMap<String, Vec<String>>,
    /// Writes to Services that existed before the restart.
    writes: usize,
    /// Start to `/readyz`.
    ready_s: f64,
    /// Start until the controller had reconciled every Service (its reconcile count).
    reconciled_s: f64,
}

/// Kills the controller (SIGKILL), starts it again and watches every Service for changes until
/// the new controller has reconciled them all and allocated a new Service.
async fn restart(
    lab: &Lab,
    api: &Api<Service>,
    controller: &mut LabProcess,
    n: usize,
) -> anyhow::Result<Restart> {
    // Every Service's addresses and version before the restart, then every change after.
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (listed_tx, listed_rx) = oneshot::channel();
    let watch_api = api.clone();
    let changes = tokio::spawn(async move {
        let mut stream = pin!(watcher(watch_api, watcher::Config::default()).default_backoff());
        let mut stop_rx = stop_rx;
        let mut before: HashMap<String, (Vec<String>, Option<String>)> = HashMap::new();
        let mut listed_tx = Some(listed_tx);
        let mut changed = BTreeMap::new();
        let mut writes = 0usize;
        loop {
            let ev = tokio::select! {
                _ = &mut stop_rx => break,
                ev = stream.next() => ev,
            };
            let Some(ev) = ev else { break };
            match ev {
                Ok(watcher::Event::InitApply(s) | watcher::Event::Apply(s)) => {
                    let (name, ips, rv) = (s.name_any(), ingress_ips(&s), s.resource_version());
                    if listed_tx.is_some() {
                        before.insert(name, (ips, rv));
                    } else if let Some((old_ips, old_rv)) = before.get_mut(&name) {
                        if *old_rv != rv {
                            writes += 1;
                            old_rv.clone_from(&rv);
                        }
                        if *old_ips != ips {
                            changed.insert(name, ips);
                        }
                    }
                }
                Ok(watcher::Event::Delete(s)) => {
                    if before.contains_key(&s.name_any()) {
                        changed.insert(s.name_any(), Vec::new());
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = listed_tx.take() {
                        let addresses: HashSet<String> =
                            before.values().flat_map(|(ips, _)| ips.clone()).collect();
                        let _ = tx.send((before.len(), addresses));
                    }
                }
                Ok(watcher::Event::Init) => {}
                Err(e) => eprintln!("bench: Service watch: {e}"),
            }
        }
        (changed, writes)
    });
    let (listed, addresses) = tokio::time::timeout(Duration::from_secs(120), listed_rx)
        .await
        .context("the change watch did not list within 120 s")?
        .context("the change watch ended before it listed")?;
    if listed != n {
        bail!("expected {n} Services before the restart, found {listed}");
    }

    controller.signal("KILL");
    controller.kill();
    let t0 = Instant::now();
    *controller = start_controller(lab, "controller-restarted")?;
    let ready = wait_ready(lab, controller, t0, Duration::from_secs(120)).await?;
    let deadline = Duration::from_secs(180);
    let reconciled = loop {
        if reconciles(lab).await.is_some_and(|c| c >= n as u64) {
            break Instant::now();
        }
        if !controller.is_running() {
            bail!("the restarted controller exited:\n{}", controller.log());
        }
        if t0.elapsed() > deadline {
            bail!("the restarted controller did not reconcile {n} Services within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A new Service gets a new address: the controller is deciding, and nothing it found was
    // handed out again.
    let sentinel = service_name(n);
    let watch = AddressWatch::start(api.clone(), n + 1).await?;
    create_services(api, NS_CONTROLLER, n..n + 1, None).await?;
    watch
        .finished("the sentinel's address", Duration::from_secs(60))
        .await?;
    let sentinel_ips = ingress_ips(&api.get(&sentinel).await?);
    if sentinel_ips.iter().any(|ip| addresses.contains(ip)) {
        bail!("the new Service {sentinel} got an address already held: {sentinel_ips:?}");
    }
    let _ = stop_tx.send(());
    let (changed, writes) = changes.await.context("change watch")?;
    Ok(Restart {
        changed,
        writes,
        ready_s: (ready - t0).as_secs_f64(),
        reconciled_s: (reconciled - t0).as_secs_f64(),
    })
}
