//! The memory figure: the resident set of one speaker owning 5,000 addresses, next to the same
//! speaker with no Service at all.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferrolb_tests::bench::{mapped_files, proc_status_bytes, rss_bytes};
use ferrolb_tests::objects::{ensure_namespace, mk_lb_service};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::Api;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::cluster::{Cluster, MEMORY_NODE, MEMORY_POOL, poll};

/// Services (one address each) the speaker owns for the figure.
pub const ADDRESSES: usize = 5_000;
/// The namespace of those Services.
const NAMESPACE: &str = "bench-memory";
/// API requests in flight while the Services are written.
const CONCURRENCY: usize = 16;
/// How long the speaker gets to announce every address.
const ANNOUNCE_LIMIT: Duration = Duration::from_secs(75);
/// How long the status writes get to settle before the figure is taken anyway.
const SETTLE_LIMIT: Duration = Duration::from_secs(60);
/// A node that sees the same Services but is not selected to announce them.
const NON_OWNER: &str = "node2";

/// What the memory figure measured.
#[derive(Debug)]
pub struct Memory {
    /// VmRSS of the owning speaker with no Service, bytes.
    pub baseline: u64,
    /// VmRSS of the owning speaker with every address announced, bytes.
    pub loaded: u64,
    /// The anonymous part of `loaded` (heap, stacks), bytes; the rest is mapped files (the
    /// binary and shared libraries).
    pub loaded_anon: u64,
    /// The anonymous part of `baseline`, bytes.
    pub baseline_anon: u64,
    /// The resident bytes of each file the loaded speaker maps, largest first.
    pub files: Vec<(String, u64)>,
    /// VmHWM (peak resident set) of the owning speaker, bytes.
    pub peak: u64,
    /// VmRSS of a speaker that sees the same Services but owns none of them, bytes.
    pub non_owner: Option<u64>,
    /// Seconds from the speaker's start to the last address announced.
    pub announce_s: f64,
    /// Addresses the owning speaker announced when measured (all of them unless it ran out of
    /// time).
    pub owned: f64,
    /// Status writes the owning speaker had made when measured.
    pub status_writes: f64,
    /// Whether those writes had stopped when measured.
    pub settled: bool,
}

/// The `i`-th address of the memory pool, skipping its network address.
fn address(i: usize) -> anyhow::Result<Ipv4Addr> {
    let (net, _) = MEMORY_POOL.split_once('/').context("pool CIDR")?;
    let base = u32::from(net.parse::<Ipv4Addr>()?);
    Ok(Ipv4Addr::from(base + u32::try_from(i + 1)?))
}

/// Measures a fresh speaker on the memory node with no Service, then writes the Services with
/// every speaker stopped (they own none of them in the meantime, and on two cores their work
/// would only slow the writes down), starts the memory node's speaker and one other again,
/// and measures once every address is announced and the status writes have settled.
pub fn run(cluster: &mut Cluster, rt: &tokio::runtime::Runtime) -> anyhow::Result<Memory> {
    cluster
        .lab
        .kubectl(&["delete", "svc", "--all", "-n", "default", "--wait=true"])?;
    cluster.start_speaker(MEMORY_NODE)?;
    cluster.wait_whole(Duration::from_secs(30))?;
    wait_owned(cluster, 0, Duration::from_secs(10))?;
    // The baseline once the first lists are in and the process has settled.
    std::thread::sleep(Duration::from_secs(2));
    let pid = cluster.speaker(MEMORY_NODE)?.pid();
    let baseline = rss_bytes(pid).context("baseline VmRSS")?;
    let baseline_anon = proc_status_bytes(pid, "RssAnon").context("baseline RssAnon")?;

    for node in cluster.lab.node_names() {
        cluster.stop_speaker(&node);
    }
    let start = Instant::now();
    rt.block_on(create_services(cluster))?;
    println!(
        "  {ADDRESSES} Services written in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    let start = Instant::now();
    cluster.start_speaker(MEMORY_NODE)?;
    cluster.start_speaker(NON_OWNER)?;
    let all = wait_owned(cluster, ADDRESSES, ANNOUNCE_LIMIT);
    let announce_s = start.elapsed().as_secs_f64();
    let owned = cluster
        .metric(MEMORY_NODE, "ferrolb_speaker_owned_addresses")
        .unwrap_or(0.0);
    match &all {
        Ok(()) => {
            println!("  {MEMORY_NODE} announces all {ADDRESSES} addresses after {announce_s:.1} s")
        }
        Err(_) => println!(
            "  {MEMORY_NODE} announces only {owned} of {ADDRESSES} addresses after {announce_s:.1} s; measuring there"
        ),
    }
    // The figure is the steady state: wait (bounded) for the condition writes (and their
    // events) to finish; 5,000 of each take about half a minute on two cores.
    let mut last = -1.0;
    let settled = poll(
        SETTLE_LIMIT,
        "the speaker's status writes to settle",
        || {
            let writes = cluster
                .metric(MEMORY_NODE, "ferrolb_speaker_status_writes_total")
                .unwrap_or(0.0);
            let settled = writes == last;
            last = writes;
            std::thread::sleep(Duration::from_secs(1));
            if settled {
                Ok(())
            } else {
                Err(format!("{writes} writes"))
            }
        },
    );
    if let Err(e) = &settled {
        println!("  (measuring anyway: {e})");
    }
    let pid = cluster.speaker(MEMORY_NODE)?.pid();
    let loaded = rss_bytes(pid).context("VmRSS")?;
    let loaded_anon = proc_status_bytes(pid, "RssAnon").context("RssAnon")?;
    let peak = proc_status_bytes(pid, "VmHWM").context("VmHWM")?;
    let files = mapped_files(pid).unwrap_or_default();
    let non_owner = cluster
        .speaker(NON_OWNER)
        .ok()
        .and_then(|s| rss_bytes(s.pid()));
    Ok(Memory {
        baseline,
        loaded,
        loaded_anon,
        baseline_anon,
        peak,
        files,
        non_owner,
        announce_s,
        owned,
        status_writes: last,
        settled: settled.is_ok(),
    })
}

fn wait_owned(cluster: &Cluster, n: usize, deadline: Duration) -> anyhow::Result<()> {
    poll(
        deadline,
        &format!("{MEMORY_NODE} to announce {n} addresses"),
        || {
            let owned = cluster.metric(MEMORY_NODE, "ferrolb_speaker_owned_addresses");
            if owned == Some(n as f64) {
                Ok(())
            } else {
                std::thread::sleep(Duration::from_millis(200));
                Err(format!("owned {owned:?}"))
            }
        },
    )
}

/// Creates the Services and writes an address of the memory pool to each one's status, as
/// the controller would.
async fn create_services(cluster: &Cluster) -> anyhow::Result<()> {
    let client = cluster.lab.client().await?;
    ensure_namespace(&client, NAMESPACE).await;
    let api: Api<Service> = Api::namespaced(client, NAMESPACE);
    futures::stream::iter(0..ADDRESSES)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("svc-{i:04}");
                let mut svc = mk_lb_service(NAMESPACE, &name, &[80], &[]);
                if let Some(spec) = svc.spec.as_mut() {
                    // 5,000 Services would exhaust the node port range.
                    spec.allocate_load_balancer_node_ports = Some(false);
                    spec.ip_families = Some(vec!["IPv4".to_owned()]);
                    spec.ip_family_policy = Some("SingleStack".to_owned());
                }
                api.create(&PostParams::default(), &svc)
                    .await
                    .with_context(|| format!("creating {name}"))?;
                let status = json!({"status": {"loadBalancer": {"ingress": [{"ip": address(i)?.to_string()}]}}});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await
                    .with_context(|| format!("status of {name}"))?;
                Ok::<_, anyhow::Error>(())
            }
        })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}
