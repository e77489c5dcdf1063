//! `ferrolb-bench-speaker --out <file.json> [--trials N]`: the speaker's benchmark, in its own
//! lab with three release speakers.
//!
//! - Hard failover (the owner's speaker killed) and graceful handover (SIGTERM): time until the
//!   client reaches the new owner, against the targets (1 s, 200 ms) and against what the
//!   client's kernel would take without gratuitous ARP (read from its neighbour sysctls).
//! - ARP replies per second and p99 latency on one core under a bounded flood, against the
//!   owner node's kernel answering for the node's own address under the same flood.
//! - Resident memory of a speaker owning 5,000 addresses, against the same speaker with none
//!   and against the 15 MB target.
//!
//! The hidden subcommands `__probe` and `__flood` are this binary run inside the client
//! namespace by the benchmark itself.

#[path = "speaker/cluster.rs"]
mod cluster;
#[path = "speaker/failover.rs"]
mod failover;
#[path = "speaker/flood.rs"]
mod flood;
#[path = "speaker/memory.rs"]
mod memory;
#[path = "speaker/metallb.rs"]
mod metallb;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrolb_tests::Lab;
use ferrolb_tests::bench::{mib, out_path, percentile, ratio, write_json};
use serde_json::{Value, json};

use cluster::{Cluster, VIP};
use failover::{Fleet, KernelReference, SERVICE, Trials};
use flood::FloodResult;
use memory::Memory;

/// The hard failover target, seconds.
const HARD_TARGET_S: f64 = 1.0;
/// The graceful handover target, seconds.
const GRACEFUL_TARGET_S: f64 = 0.2;
/// The memory target, bytes (15 MB).
const MEMORY_TARGET: u64 = 15 * 1000 * 1000;
/// How long a probe waits for MetalLB's failover (about 5 s by hand in this lab).
const METALLB_PROBE_LIMIT: Duration = Duration::from_secs(60);
/// Targets against MetalLB (same run): hard failover p95 at most this share of MetalLB's...
const HARD_VS_METALLB: f64 = 0.1;
/// ...and graceful handover p95 at most this share.
const GRACEFUL_VS_METALLB: f64 = 0.5;
/// The hard failover target in absolute terms against MetalLB, seconds.
const HARD_TARGET_VS_METALLB_S: f64 = 0.5;

/// The core the responder (speaker or kernel) runs on during the flood.
const RESPONDER_CPU: usize = 1;
/// The core the flood generator runs on.
const GENERATOR_CPU: usize = 0;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("__probe") => return failover::probe_main(&args[1..]),
        Some("__flood") => return flood::flood_main(&args[1..]),
        _ => {}
    }
    let out = out_path().context("usage: ferrolb-bench-speaker --out <file.json> [--trials N]")?;
    let trials = trials(&args)?;
    // `--only memory` (or `failover`, `arp`) runs one part, for working on it.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let runs = |part: &str| only.as_deref().is_none_or(|o| o == part);
    let started = Instant::now();
    let rt = tokio::runtime::Runtime::new()?;

    println!("speaker benchmark: starting a lab with three speakers");
    let mut cluster = Cluster::start()?;
    web_service(&cluster)?;
    let owner = cluster.settle(SERVICE, VIP, Duration::from_secs(60))?;
    println!("{VIP} is announced by {owner}");
    let kernel = KernelReference::read(&cluster)?;

    let (mut hard, mut graceful) = (Trials::default(), Trials::default());
    if runs("failover") {
        println!("hard failover: the owner's speaker killed (SIGKILL), {trials} trials");
        hard = failover::run(&mut cluster, "KILL", trials, failover::PROBE_LIMIT)?;
        println!("graceful handover: the owner's speaker stopped (SIGTERM), {trials} trials");
        graceful = failover::run(&mut cluster, "TERM", trials, failover::PROBE_LIMIT)?;
    }

    // The reference: MetalLB's speaker on the same nodes and API server, the same trials and
    // the same ARP flood.
    let metallb_failover = runs("failover") || runs("metallb");
    let metallb_arp_flood = runs("arp") || runs("metallb");
    let mut metallb_arp = None;
    let metallb_runs = if metallb_failover || metallb_arp_flood {
        let ours: BTreeMap<String, u32> = cluster
            .lab
            .node_names()
            .into_iter()
            .filter_map(|n| Some((n.clone(), cluster.speaker(&n).ok()?.pid())))
            .collect();
        let build = metallb::build()?;
        println!("MetalLB reference ({}): three speakers", build.display());
        let mut reference = metallb::MetalLb::start(&cluster, &build)?;
        let owner = Fleet::settle(&reference, Duration::from_secs(120))?;
        println!("{} is announced by {owner} (MetalLB)", metallb::VIP);
        if metallb_arp_flood {
            metallb_arp = Some(metallb_flood(&reference, &owner, &ours)?);
        }
        if metallb_failover {
            println!("MetalLB hard failover (SIGKILL), {trials} trials");
            let hard = failover::run(&mut reference, "KILL", trials, METALLB_PROBE_LIMIT)?;
            println!("MetalLB graceful handover (SIGTERM), {trials} trials");
            let graceful = failover::run(&mut reference, "TERM", trials, METALLB_PROBE_LIMIT)?;
            let rss = metallb_rss(&reference);
            Some((hard, graceful, rss))
        } else {
            None
        }
    } else {
        None
    };

    let arp = if runs("arp") {
        println!(
            "ARP flood: {} requests, {} in flight",
            flood::REQUESTS,
            flood::WINDOW
        );
        Some(arp_figures(&mut cluster, metallb_arp)?)
    } else {
        None
    };
    let mem = if runs("memory") {
        println!(
            "memory: {} addresses owned by one speaker",
            memory::ADDRESSES
        );
        Some(memory::run(&mut cluster, &rt)?)
    } else {
        None
    };
    let total = started.elapsed();

    println!("\n== speaker benchmark ({:.0} s)", total.as_secs_f64());
    let hard_json = report_failover("hard failover (SIGKILL)", &hard, HARD_TARGET_S, &kernel);
    let graceful_json = report_failover(
        "graceful handover (SIGTERM)",
        &graceful,
        GRACEFUL_TARGET_S,
        &kernel,
    );
    let metallb_json = metallb_runs
        .as_ref()
        .map(|(h, g, rss)| report_metallb(&hard, h, &graceful, g, rss));
    let arp_json = arp.as_ref().map(report_arp);
    let mem_json = mem.as_ref().map(report_memory);
    let result = json!({
        "benchmark": "speaker",
        "duration_s": total.as_secs_f64(),
        "trials": trials,
        "hard_failover": hard_json,
        "graceful_handover": graceful_json,
        "kernel_neighbour_reference": kernel.json(),
        "metallb": metallb_json,
        "arp": arp_json,
        "memory": mem_json,
    });
    write_json(&out, &result).with_context(|| format!("writing {}", out.display()))?;
    println!("result: {}", out.display());
    drop(cluster);
    if runs("failover") && (hard.samples.is_empty() || graceful.samples.is_empty()) {
        bail!("no failover trial completed");
    }
    Ok(())
}

fn trials(args: &[String]) -> anyhow::Result<usize> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = match a.strip_prefix("--trials") {
            Some("") => it.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => continue,
        };
        let n: usize = value
            .context("--trials needs a number")?
            .parse()
            .context("--trials")?;
        if n == 0 {
            bail!("--trials must be at least 1");
        }
        return Ok(n);
    }
    Ok(20)
}

/// The Service the traffic figures use, with its status written as the controller would.
fn web_service(cluster: &Cluster) -> anyhow::Result<()> {
    cluster.lab.apply_yaml(
        &format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {SERVICE}, namespace: default}}\nspec:\n  type: LoadBalancer\n  ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv4]\n  ports: [{{port: 80, protocol: TCP}}]\n"
        ),
        &[],
    )?;
    cluster.write_ingress(SERVICE, VIP)
}

/// The flood against the speaker and against the kernel, on the same node and core, and
/// against MetalLB's speaker the same way.
struct ArpFigures {
    node: String,
    speaker: FloodResult,
    kernel: FloodResult,
    metallb: Option<FloodResult>,
    steered: bool,
    owner_after: Option<String>,
}

/// Floods MetalLB's address on its owner `node`, with MetalLB's speaker pinned and the
/// node's receive processing steered as for ferrolb's. ferrolb's speaker on that node (from
/// `ours`) is paused meanwhile, so that only MetalLB's reads the frames.
fn metallb_flood(
    reference: &metallb::MetalLb<'_>,
    node: &str,
    ours: &BTreeMap<String, u32>,
) -> anyhow::Result<FloodResult> {
    let cluster = Fleet::cluster(reference);
    let mac = cluster.mac(node)?;
    let pid = reference
        .pid(node)
        .with_context(|| format!("no MetalLB speaker on {node}"))?;
    let ours = ours.get(node).map(u32::to_string);
    let signal = |sig: &str| {
        if let Some(p) = &ours {
            let _ = ferrolb_tests::run(std::process::Command::new("kill").args([sig, p]));
        }
    };
    signal("-STOP");
    let result = pinned_flood(cluster, node, pid, metallb::VIP, &mac);
    signal("-CONT");
    let (flood, _) = result?;
    println!(
        "  MetalLB ({node}'s {}): {:.0} replies/s, p99 {:.0} µs, lost {}",
        metallb::VIP,
        flood.replies_per_s,
        flood.p99_us,
        flood.lost
    );
    Ok(flood)
}

/// One flood of `ip` on `node` (answered from `mac`), with the responder process `pid` pinned
/// to [`RESPONDER_CPU`] and the node's receive processing steered there (RPS); the generator
/// runs on the other core. Returns the result and whether steering was possible.
fn pinned_flood(
    cluster: &Cluster,
    node: &str,
    pid: u32,
    ip: &str,
    mac: &str,
) -> anyhow::Result<(FloodResult, bool)> {
    let pid = pid.to_string();
    let cpu = RESPONDER_CPU.to_string();
    let pinned = ferrolb_tests::run(
        std::process::Command::new("taskset").args(["-a", "-p", "-c", &cpu, &pid]),
    );
    if let Err(e) = pinned {
        println!("  (could not pin the responder: {e})");
    }
    let steered = rps(cluster, node, 1 << RESPONDER_CPU);
    let result = flood::run(cluster, ip, mac, GENERATOR_CPU);
    rps(cluster, node, 0);
    let _ = ferrolb_tests::run(
        std::process::Command::new("taskset").args(["-a", "-p", "-c", "0-1", &pid]),
    );
    Ok((result?, steered))
}

/// The flood against the owner's speaker and against its node's kernel (for the node's own
/// address), each with the speaker pinned to [`RESPONDER_CPU`] and the node's receive
/// processing steered there; `metallb` is MetalLB's figure from the same run.
fn arp_figures(cluster: &mut Cluster, metallb: Option<FloodResult>) -> anyhow::Result<ArpFigures> {
    let owner = cluster.settle(SERVICE, VIP, Duration::from_secs(30))?;
    let mac = cluster.mac(&owner)?;
    let node_ip = Lab::host_ipv4(&owner);
    let pid = cluster.speaker(&owner)?.pid();
    let (kernel, steered) = pinned_flood(cluster, &owner, pid, &node_ip, &mac)?;
    println!(
        "  kernel  ({owner}'s own {node_ip}): {:.0} replies/s, p99 {:.0} µs, lost {}",
        kernel.replies_per_s, kernel.p99_us, kernel.lost
    );
    let (speaker, _) = pinned_flood(cluster, &owner, pid, VIP, &mac)?;
    println!(
        "  speaker ({owner}'s {VIP}): {:.0} replies/s, p99 {:.0} µs, lost {}",
        speaker.replies_per_s, speaker.p99_us, speaker.lost
    );
    let owner_after = cluster.settle(SERVICE, VIP, Duration::from_secs(30)).ok();
    Ok(ArpFigures {
        node: owner,
        speaker,
        kernel,
        metallb,
        steered,
        owner_after,
    })
}

/// Sets the receive-packet-steering CPU mask of a node's eth0; false if the kernel refused.
fn rps(cluster: &Cluster, node: &str, mask: u32) -> bool {
    cluster
        .lab
        .exec(
            node,
            &[
                "sh",
                "-c",
                &format!("echo {mask:x} > /sys/class/net/eth0/queues/rx-0/rps_cpus"),
            ],
        )
        .is_ok_and(|o| o.status.success())
}

fn ms(s: f64) -> String {
    format!("{:.0} ms", s * 1e3)
}

fn report_failover(what: &str, t: &Trials, target_s: f64, kernel: &KernelReference) -> Value {
    let p50 = percentile(&t.samples, 50.0).unwrap_or(f64::NAN);
    let p95 = percentile(&t.samples, 95.0).unwrap_or(f64::NAN);
    let max = percentile(&t.samples, 100.0).unwrap_or(f64::NAN);
    println!(
        "{what}: p50 {} p95 {} max {} over {} trials ({} without a successor)",
        ms(p50),
        ms(p95),
        ms(max),
        t.samples.len(),
        t.failed
    );
    println!(
        "  target {}: p95/target = {:.2}",
        ms(target_s),
        ratio(p95, target_s)
    );
    println!(
        "  reference, the client's kernel on its own (no gratuitous ARP): {:.1}–{:.1} s; p95/best case = {:.3}",
        kernel.min_s(),
        kernel.max_s(),
        ratio(p95, kernel.min_s())
    );
    json!({
        "samples_s": t.samples,
        "successors": t.successors,
        "failed": t.failed,
        "p50_s": p50,
        "p95_s": p95,
        "max_s": max,
        "target_s": target_s,
        "ratio_p95_to_target": ratio(p95, target_s),
        "ratio_p95_to_kernel_min": ratio(p95, kernel.min_s()),
    })
}

fn report_arp(a: &ArpFigures) -> Value {
    let rps_ratio = ratio(a.speaker.replies_per_s, a.kernel.replies_per_s);
    let p99_ratio = ratio(a.speaker.p99_us, a.kernel.p99_us);
    println!(
        "ARP on one core ({}, CPU {RESPONDER_CPU}{}), {} requests {} in flight:",
        a.node,
        if a.steered {
            ", receive processing steered there"
        } else {
            ", receive steering unavailable"
        },
        flood::REQUESTS,
        flood::WINDOW
    );
    println!(
        "  speaker: {:.0} replies/s, p50 {:.0} µs, p99 {:.0} µs ({} replies, {} lost)",
        a.speaker.replies_per_s,
        a.speaker.p50_us,
        a.speaker.p99_us,
        a.speaker.replies,
        a.speaker.lost
    );
    println!(
        "  reference, the node's kernel for its own address: {:.0} replies/s, p50 {:.0} µs, p99 {:.0} µs ({} replies, {} lost)",
        a.kernel.replies_per_s, a.kernel.p50_us, a.kernel.p99_us, a.kernel.replies, a.kernel.lost
    );
    println!("  speaker/kernel: replies/s {rps_ratio:.2}, p99 {p99_ratio:.2}");
    let metallb_ratio = a.metallb.as_ref().map(|m| {
        let r = ratio(a.speaker.replies_per_s, m.replies_per_s);
        println!(
            "  reference, MetalLB's speaker the same way: {:.0} replies/s, p50 {:.0} µs, p99 {:.0} µs ({} replies, {} lost)",
            m.replies_per_s, m.p50_us, m.p99_us, m.replies, m.lost
        );
        println!("  ferrolb/MetalLB: replies/s {r:.2} (target ≥ 2)");
        r
    });
    if a.owner_after.as_deref() != Some(a.node.as_str()) {
        println!(
            "  note: after the flood the owner is {:?} (was {})",
            a.owner_after, a.node
        );
    }
    json!({
        "node": a.node,
        "responder_cpu": RESPONDER_CPU,
        "generator_cpu": GENERATOR_CPU,
        "receive_steering": a.steered,
        "requests": flood::REQUESTS,
        "in_flight": flood::WINDOW,
        "speaker": a.speaker,
        "kernel_reference": a.kernel,
        "ratio_replies_per_s": rps_ratio,
        "ratio_p99": p99_ratio,
        "metallb_reference": a.metallb,
        "ratio_replies_per_s_to_metallb": metallb_ratio,
        "owner_after": a.owner_after,
    })
}

fn report_memory(m: &Memory) -> Value {
    println!(
        "memory with {} of {} addresses owned: {:.1} MiB resident, peak {:.1} MiB ({:.1} s after start, {} status writes{})",
        m.owned,
        memory::ADDRESSES,
        mib(m.loaded),
        mib(m.peak),
        m.announce_s,
        m.status_writes,
        if m.settled { "" } else { ", still writing" }
    );
    println!(
        "  target 15 MB: ratio {:.2}; reference, the same speaker with no Service: {:.1} MiB, ratio {:.2}",
        ratio(m.loaded as f64, MEMORY_TARGET as f64),
        mib(m.baseline),
        ratio(m.loaded as f64, m.baseline as f64)
    );
    println!(
        "  anonymous (heap, stacks): {:.1} MiB loaded, {:.1} MiB with no Service; the rest is the mapped binary and libraries",
        mib(m.loaded_anon),
        mib(m.baseline_anon)
    );
    let files: Vec<String> = m
        .files
        .iter()
        .take(4)
        .map(|(path, bytes)| {
            let name = path.rsplit('/').next().unwrap_or(path);
            format!("{name} {:.1} MiB", mib(*bytes))
        })
        .collect();
    println!("  mapped files, resident: {}", files.join(", "));
    if m.owned < memory::ADDRESSES as f64 {
        println!("  INCOMPLETE: the speaker did not announce every address in time");
    }
    if let Some(n) = m.non_owner {
        println!(
            "  a speaker that sees the same Services and owns none: {:.1} MiB",
            mib(n)
        );
    }
    json!({
        "addresses": memory::ADDRESSES,
        "owned": m.owned,
        "complete": m.owned >= memory::ADDRESSES as f64,
        "rss_bytes": m.loaded,
        "rss_mib": mib(m.loaded),
        "peak_rss_bytes": m.peak,
        "status_writes": m.status_writes,
        "status_writes_settled": m.settled,
        "anon_rss_bytes": m.loaded_anon,
        "baseline_rss_bytes": m.baseline,
        "baseline_anon_rss_bytes": m.baseline_anon,
        "baseline_rss_mib": mib(m.baseline),
        "non_owner_rss_bytes": m.non_owner,
        "mapped_files_rss_bytes": m.files.iter().map(|(f, b)| json!({"file": f, "bytes": b})).collect::<Vec<_>>(),
        "target_bytes": MEMORY_TARGET,
        "ratio_to_target": ratio(m.loaded as f64, MEMORY_TARGET as f64),
        "ratio_to_baseline": ratio(m.loaded as f64, m.baseline as f64),
        "announce_s": m.announce_s,
    })
}

/// Each MetalLB speaker's resident set, by node, after the failover trials.
fn metallb_rss(reference: &metallb::MetalLb<'_>) -> BTreeMap<String, u64> {
    reference
        .cluster()
        .lab
        .node_names()
        .into_iter()
        .filter_map(|n| Some((n.clone(), reference.rss(&n)?)))
        .collect()
}

/// ferrolb and MetalLB side by side: p50, p95 and max of each kind of failover, and the
/// ratios the targets are written in.
fn report_metallb(
    hard: &Trials,
    metallb_hard: &Trials,
    graceful: &Trials,
    metallb_graceful: &Trials,
    metallb_rss: &BTreeMap<String, u64>,
) -> Value {
    let side = |what: &str, ours: &Trials, theirs: &Trials, share: f64, absolute: Option<f64>| {
        let q = |t: &Trials, p| percentile(&t.samples, p).unwrap_or(f64::NAN);
        let (p95, theirs_p95) = (q(ours, 95.0), q(theirs, 95.0));
        let vs = ratio(p95, theirs_p95);
        let met = vs <= share && absolute.is_none_or(|a| p95 <= a);
        println!(
            "{what}, ferrolb vs MetalLB (same lab, same run):\n  \
             ferrolb: p50 {} p95 {} max {} ({} trials, {} failed)\n  \
             MetalLB: p50 {} p95 {} max {} ({} trials, {} failed)\n  \
             p95 ratio {vs:.3} (target <= {share}{}): {}",
            ms(q(ours, 50.0)),
            ms(p95),
            ms(q(ours, 100.0)),
            ours.samples.len(),
            ours.failed,
            ms(q(theirs, 50.0)),
            ms(theirs_p95),
            ms(q(theirs, 100.0)),
            theirs.samples.len(),
            theirs.failed,
            absolute.map_or(String::new(), |a| format!(" and p95 <= {}", ms(a))),
            if met { "met" } else { "MISSED" },
        );
        json!({
            "ferrolb": {"p50_s": q(ours, 50.0), "p95_s": p95, "max_s": q(ours, 100.0), "failed": ours.failed},
            "metallb": {"samples_s": theirs.samples, "p50_s": q(theirs, 50.0), "p95_s": theirs_p95,
                        "max_s": q(theirs, 100.0), "failed": theirs.failed},
            "ratio_p95": vs,
            "target_ratio": share,
            "target_p95_s": absolute,
            "met": met,
        })
    };
    let hard_json = side(
        "hard failover (SIGKILL)",
        hard,
        metallb_hard,
        HARD_VS_METALLB,
        Some(HARD_TARGET_VS_METALLB_S),
    );
    let graceful_json = side(
        "graceful handover (SIGTERM)",
        graceful,
        metallb_graceful,
        GRACEFUL_VS_METALLB,
        None,
    );
    let rss: Vec<String> = metallb_rss
        .iter()
        .map(|(n, b)| format!("{n} {:.1} MiB", mib(*b)))
        .collect();
    println!(
        "MetalLB speakers' resident sets after the trials: {}",
        rss.join(", ")
    );
    json!({
        "version": ferrolb_tests::bench::metallb_version(),
        "hard_failover": hard_json,
        "graceful_handover": graceful_json,
        "speaker_rss_bytes": metallb_rss,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| (*a).to_owned()).collect()
    }

    #[test]
    fn trials_default_to_twenty_and_read_both_spellings() {
        assert_eq!(trials(&args(&["--out", "x.json"])).ok(), Some(20));
        assert_eq!(trials(&args(&["--trials", "3"])).ok(), Some(3));
        assert_eq!(trials(&args(&["--trials=4", "--out", "x"])).ok(), Some(4));
        assert!(trials(&args(&["--trials", "0"])).is_err());
        assert!(trials(&args(&["--trials"])).is_err());
    }
}
