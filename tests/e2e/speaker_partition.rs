//! Partitions: speakers that cannot reach each other but share the LAN and the API server,
//! and a speaker cut off from everything. Traffic between node namespaces is cut with
//! iptables inside the node's namespace; ARP from the client still reaches every node.

use std::time::{Duration, Instant};

use ferrolb_tests::wait_for;

use super::speaker_cluster::{Cluster, SERIAL};

const VIPS: [&str; 6] = [
    "192.168.100.240",
    "192.168.100.241",
    "192.168.100.242",
    "192.168.100.243",
    "192.168.100.244",
    "192.168.100.245",
];

/// Runs iptables in `host`'s namespace.
fn iptables(cluster: &Cluster, host: &str, args: &[&str]) {
    let mut argv = vec!["iptables"];
    argv.extend_from_slice(args);
    cluster.run(host, &argv);
}

/// The addresses each node announces now, by node.
fn owned(cluster: &Cluster) -> Vec<f64> {
    cluster
        .lab
        .node_names()
        .iter()
        .map(|n| cluster.metric_sum(n, "ferrolb_speaker_owned_addresses", &[]))
        .collect()
}

/// Samples [`owned`] for `window`; returns the longest stretch during which more addresses
/// were announced than exist (two nodes answering for one), and the samples.
fn duplicate_window(cluster: &Cluster, window: Duration) -> (Duration, Vec<(Duration, Vec<f64>)>) {
    let start = Instant::now();
    let mut samples = Vec::new();
    let (mut longest, mut since): (Duration, Option<Duration>) = (Duration::ZERO, None);
    while start.elapsed() < window {
        let at = start.elapsed();
        let now = owned(cluster);
        let doubled = now.iter().sum::<f64>() > VIPS.len() as f64;
        match (doubled, since) {
            (true, None) => since = Some(at),
            (false, Some(s)) => {
                longest = longest.max(at - s);
                since = None;
            }
            _ => {}
        }
        samples.push((at, now));
    }
    if let Some(s) = since {
        longest = longest.max(start.elapsed() - s);
    }
    (longest, samples)
}

/// Waits until every address is announced exactly once.
async fn settled(cluster: &Cluster) {
    wait_for(
        "every address announced once",
        Duration::from_secs(30),
        || async {
            let now = owned(cluster);
            if now.iter().sum::<f64>() == VIPS.len() as f64 {
                Ok(())
            } else {
                Err(now)
            }
        },
    )
    .await
    .expect("settled");
}

fn start() -> Cluster {
    let cluster = Cluster::start("{}");
    for (i, vip) in VIPS.iter().enumerate() {
        cluster.service(&format!("web{i}"), vip, false);
    }
    cluster
}

#[tokio::test]
async fn speaker_partition_from_peers_leaves_one_side_answering_and_heals_without_flapping() {
    let _serial = SERIAL.lock().await;
    let cluster = start();
    settled(&cluster).await;
    let nodes = cluster.lab.node_names();
    let cut = &nodes[0];
    // The membership port between node1 and the others, both ways; the API server and the
    // LAN stay reachable.
    for rule in [
        ["INPUT", "--sport"],
        ["INPUT", "--dport"],
        ["OUTPUT", "--sport"],
        ["OUTPUT", "--dport"],
    ] {
        iptables(
            &cluster,
            cut,
            &["-A", rule[0], "-p", "udp", rule[1], "7946", "-j", "DROP"],
        );
    }
    let (longest, samples) = duplicate_window(&cluster, Duration::from_secs(8));
    println!("partition {cut} | others: longest duplicate window {longest:?}");
    assert!(
        longest <= Duration::from_secs(2),
        "{longest:?}: {samples:?}"
    );
    // The lone node stands down; the other side answers for everything.
    let now = owned(&cluster);
    assert_eq!(now[0], 0.0, "{cut} still answers: {now:?}");
    assert_eq!(now.iter().sum::<f64>(), VIPS.len() as f64, "{now:?}");
    // Healed: the group converges, and then nothing moves.
    iptables(&cluster, cut, &["-F"]);
    let healed = Instant::now();
    wait_for(
        "the healed node to answer again",
        Duration::from_secs(20),
        || async {
            let now = owned(&cluster);
            if now[0] > 0.0 && now.iter().sum::<f64>() == VIPS.len() as f64 {
                Ok(())
            } else {
                Err(now)
            }
        },
    )
    .await
    .expect("converged");
    println!("healed: converged after {:?}", healed.elapsed());
    let (longest, samples) = duplicate_window(&cluster, Duration::from_secs(5));
    assert_eq!(longest, Duration::ZERO, "{samples:?}");
    let first = &samples[0].1;
    assert!(
        samples.iter().all(|(_, s)| s == first),
        "flapping after the heal: {samples:?}"
    );
}

#[tokio::test]
async fn speaker_cut_off_from_peers_and_api_server_stops_answering() {
    let _serial = SERIAL.lock().await;
    let cluster = start();
    settled(&cluster).await;
    let nodes = cluster.lab.node_names();
    let cut = nodes
        .iter()
        .find(|n| cluster.metric_sum(n, "ferrolb_speaker_owned_addresses", &[]) > 0.0)
        .expect("a node that answers")
        .clone();
    let mut blocked = vec!["192.168.100.10".to_owned()];
    blocked.extend(
        nodes
            .iter()
            .filter(|n| **n != cut)
            .map(|n| ferrolb_tests::Lab::host_ipv4(n)),
    );
    let since = Instant::now();
    for ip in &blocked {
        iptables(&cluster, &cut, &["-A", "INPUT", "-s", ip, "-j", "DROP"]);
        iptables(&cluster, &cut, &["-A", "OUTPUT", "-d", ip, "-j", "DROP"]);
    }
    wait_for(
        "the cut-off speaker to stop answering",
        Duration::from_secs(10),
        || async {
            let n = cluster.metric_sum(&cut, "ferrolb_speaker_owned_addresses", &[]);
            if n == 0.0 { Ok(()) } else { Err(n) }
        },
    )
    .await
    .expect("stopped");
    let stopped = since.elapsed();
    println!("{cut} cut off from everything: stopped answering after {stopped:?}");
    assert!(stopped <= Duration::from_secs(3), "{stopped:?}");
    // The others answer for everything.
    settled(&cluster).await;
    iptables(&cluster, &cut, &["-F"]);
}
