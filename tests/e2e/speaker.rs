//! The speaker in the lab: three node namespaces with a speaker each and a client namespace.
//! The Service status is written by the test, exactly as the controller would, since that is
//! the speaker's input. `kubectl_plugin` runs a controller too: the plugin reads what both write.

mod kubectl_plugin;
mod speaker_bad_input;
mod speaker_cluster;
mod speaker_interfaces;
mod speaker_partition;
mod speaker_security;

use std::time::{Duration, Instant};

use ferrolb_tests::wait_for;
use speaker_cluster::{Cluster, SERIAL};

const VIP: &str = "192.168.100.240";

#[tokio::test]
async fn speaker_owner_alone_answers_arp_and_is_named_in_the_condition() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let owner_mac = cluster.mac(&owner);
    let (_, reason, message) = cluster.announced("web").expect("condition");
    assert_eq!(reason, "Announced");
    // The MAC is the one clients see: the owner's eth0.
    assert_eq!(message, cluster.announced_by(&owner, "eth0"));

    let macs = cluster.arping(VIP, 3);
    assert_eq!(macs.len(), 3, "one reply per request: {macs:?}");
    assert!(
        macs.iter().all(|m| *m == owner_mac),
        "{owner} is {owner_mac}, replies {macs:?}"
    );
    assert_eq!(cluster.curl(VIP, "2").as_deref(), Some(owner.as_str()));
    // Pool addresses no Service holds get no answer at all.
    assert!(cluster.arping("192.168.100.249", 2).is_empty());
    let replies = cluster.metric_sum(&owner, "ferrolb_speaker_replies_total", &[]);
    assert!(replies >= 3.0, "replies counted: {replies}");
    assert_eq!(
        cluster.metric_sum(&owner, "ferrolb_speaker_owned_addresses", &[]),
        1.0
    );
}

#[tokio::test]
async fn speaker_kill_moves_the_address_and_the_clients_neighbour_entry() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    // The client's neighbour cache now holds the owner's MAC, fresh for tens of seconds.
    wait_for(
        "the client to reach the owner",
        Duration::from_secs(10),
        || async {
            match cluster.curl(VIP, "1") {
                Some(n) if n == owner => Ok(()),
                other => Err(other),
            }
        },
    )
    .await
    .expect("reach owner");
    let (successor, took) = cluster.kill_and_fail_over(&owner, VIP).await;
    println!("hard failover {owner} -> {successor}: client reached the new owner after {took:?}");
    assert!(took < Duration::from_secs(3), "failover took {took:?}");
    // Only a gratuitous ARP can have changed the entry this early: it was still fresh.
    let new_mac = cluster.mac(&successor);
    let neigh = cluster
        .lab
        .exec("client", &["ip", "neigh", "show", VIP])
        .expect("ip neigh");
    let neigh = String::from_utf8_lossy(&neigh.stdout).to_lowercase();
    assert!(
        neigh.contains(&new_mac),
        "neighbour entry {neigh:?}, new owner {new_mac}"
    );
    assert_eq!(
        cluster.wait_owner("web", Duration::from_secs(10)).await,
        successor
    );
    let gratuitous = cluster.metric_sum(&successor, "ferrolb_speaker_gratuitous_total", &[]);
    assert!(gratuitous >= 1.0, "gratuitous sent: {gratuitous}");
}

/// The MAC the client's neighbour table holds for `ip`, if any.
fn client_neighbour(cluster: &Cluster, ip: &str) -> Option<String> {
    let out = cluster
        .lab
        .exec("client", &["ip", "neigh", "show", ip, "dev", "eth0"])
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let mut words = text.split_whitespace();
    words.find(|w| *w == "lladdr")?;
    words.next().map(str::to_owned)
}

/// How long the paused speaker stays paused after another node took its address over: longer
/// than a speaker's Lease stays fresh (3 s).
const PAUSE: Duration = Duration::from_secs(5);

#[tokio::test]
async fn speaker_paused_until_declared_down_announces_again_when_it_rejoins() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_answering_owner("web", VIP).await;
    let owner_mac = cluster.mac(&owner);
    assert_eq!(cluster.curl(VIP, "2").as_deref(), Some(owner.as_str()));
    let pid = cluster.speakers[&owner].pid().to_string();
    // Paused (as a stopped VM or a starved process is) until another node took the address
    // over and the client's neighbour entry followed it.
    ferrolb_tests::run(std::process::Command::new("kill").args(["-STOP", &pid])).expect("STOP");
    let taken = wait_for(
        "another node to take the address over",
        Duration::from_secs(10),
        || async {
            match client_neighbour(&cluster, VIP) {
                Some(mac) if mac != owner_mac => Ok(mac),
                other => Err(other),
            }
        },
    )
    .await;
    // Paused for longer than its Lease stays fresh, as a VM stopped for a few seconds.
    tokio::time::sleep(PAUSE).await;
    ferrolb_tests::run(std::process::Command::new("kill").args(["-CONT", &pid])).expect("CONT");
    let taken = taken.expect("takeover");
    // Back in the group, the owner gets the address back. It never stopped answering for it,
    // so only a new announcement moves the client's entry back; without one the entry would
    // keep the other node's MAC until it went stale, tens of seconds later.
    wait_for(
        "the client's neighbour entry to return to the owner",
        Duration::from_secs(5),
        || async {
            match client_neighbour(&cluster, VIP) {
                Some(mac) if mac == owner_mac => Ok(()),
                other => Err((other, cluster.announced("web"))),
            }
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e} (it was {taken} while {owner} was paused)"));
    wait_for(
        "the condition to name the owner again",
        Duration::from_secs(10),
        || async {
            match cluster.wait_owner("web", Duration::from_secs(5)).await {
                named if named == owner => Ok(()),
                other => Err(other),
            }
        },
    )
    .await
    .expect("condition");
}

#[tokio::test]
async fn speaker_sigterm_hands_over_before_it_stops() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    assert_eq!(cluster.curl(VIP, "2").as_deref(), Some(owner.as_str()));
    let stopped = Instant::now();
    let speaker = cluster.speakers.get_mut(&owner).expect("speaker");
    speaker.signal("TERM");
    let (successor, took) = cluster
        .wait_reached_elsewhere(VIP, &owner, stopped, Duration::from_secs(10))
        .await;
    println!(
        "graceful handover {owner} -> {successor}: client reached the new owner after {took:?}"
    );
    assert!(took < Duration::from_secs(2), "handover took {took:?}");
    let speaker = cluster.speakers.get_mut(&owner).expect("speaker");
    assert!(
        speaker.wait(),
        "the speaker exits cleanly on SIGTERM: {}",
        speaker.log()
    );
    assert_eq!(
        cluster.wait_owner("web", Duration::from_secs(10)).await,
        successor
    );
}

#[tokio::test]
async fn speaker_node_selectors_and_exclude_label() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{nodeSelectors: [{matchLabels: {zone: edge}}]}");
    cluster
        .lab
        .kubectl(&["label", "node", "node2", "zone=edge"])
        .expect("label");
    cluster.service("web", VIP, false);
    assert_eq!(
        cluster.wait_owner("web", Duration::from_secs(30)).await,
        "node2"
    );
    let node2_mac = cluster.mac("node2");
    assert!(cluster.arping(VIP, 2).iter().all(|m| *m == node2_mac));

    cluster
        .lab
        .kubectl(&[
            "label",
            "node",
            "node2",
            "node.kubernetes.io/exclude-from-external-load-balancers=",
        ])
        .expect("exclude");
    wait_for(
        "the Service to lose its announcer",
        Duration::from_secs(15),
        || async {
            match cluster.announced("web") {
                Some((status, reason, message))
                    if status == "False" && reason == "NoEligibleNode" =>
                {
                    Ok(message)
                }
                other => Err(other),
            }
        },
    )
    .await
    .expect("NoEligibleNode");
    assert!(
        cluster.arping(VIP, 2).is_empty(),
        "an excluded node still answers"
    );
}

#[tokio::test]
async fn speaker_local_policy_follows_ready_endpoints() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, true);
    let slice = |node: &str, ready: bool| {
        format!(
            "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: web-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: web}}\naddressType: IPv4\nendpoints:\n- addresses: [10.244.0.5]\n  nodeName: {node}\n  conditions: {{ready: {ready}}}\nports: [{{port: 80, protocol: TCP}}]\n"
        )
    };
    wait_for(
        "NoReadyEndpoint without endpoints",
        Duration::from_secs(30),
        || async {
            match cluster.announced("web") {
                Some((s, r, _)) if s == "False" && r == "NoReadyEndpoint" => Ok(()),
                other => Err(other),
            }
        },
    )
    .await
    .expect("no endpoints");
    for node in ["node3", "node1"] {
        cluster
            .lab
            .apply_yaml(&slice(node, true), &[])
            .expect("slice");
        let owner = wait_for(
            "the endpoint's node to own the address",
            Duration::from_secs(15),
            || async {
                match cluster.announced("web") {
                    Some((s, _, m)) if s == "True" && m.contains(&format!("node {node} ")) => Ok(m),
                    other => Err(other),
                }
            },
        )
        .await
        .expect("owner follows endpoint");
        println!("{owner}");
        let mac = cluster.mac(node);
        assert!(cluster.arping(VIP, 2).iter().all(|m| *m == mac));
    }
    cluster
        .lab
        .apply_yaml(&slice("node1", false), &[])
        .expect("slice");
    wait_for(
        "NoReadyEndpoint once the endpoint is not ready",
        Duration::from_secs(15),
        || async {
            match cluster.announced("web") {
                Some((s, r, _)) if s == "False" && r == "NoReadyEndpoint" => Ok(()),
                other => Err(other),
            }
        },
    )
    .await
    .expect("not ready");
}

#[tokio::test]
async fn speaker_answers_neighbour_solicitations_for_ipv6_addresses() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start("{}");
    let vip6 = "fd00:100::240";
    cluster.service("web6", vip6, false);
    let owner = cluster.wait_owner("web6", Duration::from_secs(30)).await;
    let owner_mac = cluster.mac(&owner);
    assert_eq!(cluster.ndisc(vip6), Some(owner_mac));
    assert_eq!(cluster.curl(vip6, "2").as_deref(), Some(owner.as_str()));
    assert_eq!(cluster.ndisc("fd00:100::248"), None);
    // The unsolicited advertisement moves the client on a hard failure too.
    let killed = Instant::now();
    cluster
        .speakers
        .get_mut(&owner)
        .expect("speaker")
        .signal("KILL");
    let (successor, took) = cluster
        .wait_reached_elsewhere(vip6, &owner, killed, Duration::from_secs(10))
        .await;
    println!("IPv6 hard failover {owner} -> {successor}: {took:?}");
    assert_eq!(cluster.ndisc(vip6), Some(cluster.mac(&successor)));
}

#[tokio::test]
async fn speaker_answers_only_on_the_interface_whose_subnet_holds_the_address() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start(
        r#"{nodeSelectors: [{matchLabels: {kubernetes.io/hostname: node1}}], gratuitousInterval: 1s}"#,
    );
    // A second NIC on node1, on the same segment but in another subnet.
    let net = cluster.lab.netns("net");
    let node1 = cluster.lab.netns("node1");
    for args in [
        vec![
            "-n", &net, "link", "add", "node1b", "type", "veth", "peer", "name", "eth1", "netns",
            &node1,
        ],
        vec!["-n", &net, "link", "set", "node1b", "master", "br0", "up"],
        vec!["-n", &node1, "addr", "add", "10.99.0.11/24", "dev", "eth1"],
        vec!["-n", &node1, "link", "set", "eth1", "up"],
    ] {
        ferrolb_tests::run(std::process::Command::new("ip").args(&args))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let eth1 = cluster
        .lab
        .exec("node1", &["cat", "/sys/class/net/eth1/address"])
        .expect("eth1 mac");
    let eth1 = String::from_utf8_lossy(&eth1.stdout).trim().to_owned();
    wait_for("node1 to open eth1", Duration::from_secs(10), || async {
        let log = cluster.speakers["node1"].log();
        if log.contains("eth1") {
            Ok(())
        } else {
            Err(())
        }
    })
    .await
    .expect("eth1 opened");
    cluster.service("web", VIP, false);
    assert_eq!(
        cluster.wait_owner("web", Duration::from_secs(30)).await,
        "node1"
    );
    let macs = cluster.arping(VIP, 3);
    assert_eq!(macs, vec![cluster.mac("node1"); 3], "eth1 is {eth1}");
    wait_for(
        "requests on eth1 dropped as wrong interface",
        Duration::from_secs(5),
        || async {
            let dropped = cluster.metric_sum(
                "node1",
                "ferrolb_speaker_drops_total",
                &["eth1", "wrong_interface"],
            );
            if dropped >= 3.0 { Ok(()) } else { Err(dropped) }
        },
    )
    .await
    .expect("wrong_interface drops");
    // Periodic gratuitous announcements on top of the takeover burst of three.
    wait_for(
        "periodic gratuitous ARP",
        Duration::from_secs(10),
        || async {
            let sent = cluster.metric_sum("node1", "ferrolb_speaker_gratuitous_total", &["eth0"]);
            if sent >= 5.0 { Ok(()) } else { Err(sent) }
        },
    )
    .await
    .expect("periodic gratuitous");
    assert_eq!(
        cluster.metric_sum("node1", "ferrolb_speaker_gratuitous_total", &["eth1"]),
        0.0
    );
    let events = cluster
        .lab
        .kubectl(&[
            "get",
            "events",
            "-n",
            "default",
            "--field-selector",
            "reason=NodeAssigned",
            "-o",
            "name",
        ])
        .expect("events");
    assert!(
        !events.stdout.is_empty(),
        "a NodeAssigned event is recorded"
    );
}

#[tokio::test]
async fn speaker_steady_run_under_cpu_load_keeps_its_owner() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let steady = Duration::from_secs(60);
    // One busy loop per core, for the whole run.
    let _load: Vec<_> = (0..2)
        .map(|i| {
            cluster
                .lab
                .spawn(
                    "client",
                    &format!("cpu-load-{i}"),
                    &["timeout", "70", "python3", "-c", "while True: pass"],
                    &[],
                )
                .expect("load")
        })
        .collect();
    let start = Instant::now();
    while start.elapsed() < steady {
        // Sampling, not synchronisation: the run must simply last this long.
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            cluster.wait_owner("web", Duration::from_secs(5)).await,
            owner
        );
    }
    for node in cluster.lab.node_names() {
        let log = cluster.speakers[&node].log();
        assert!(
            !log.contains("speaker down"),
            "{node} saw a peer go down:\n{log}"
        );
        assert!(
            !log.contains("rejoined"),
            "{node} was declared down:\n{log}"
        );
        assert_eq!(
            cluster.metric_sum(&node, "ferrolb_speaker_members_alive", &[]),
            3.0
        );
    }
    let macs = cluster.arping(VIP, 2);
    assert_eq!(macs, vec![cluster.mac(&owner); 2]);
}
