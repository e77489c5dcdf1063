//! The speaker on nodes shaped like real ones: Pod interfaces by the hundred, a bridge with
//! members, kube-proxy's IPVS dummy, an interface used only for Service addresses, links that
//! lose their carrier, and Nodes that are not Ready, tainted out of service or cordoned.

use std::time::{Duration, Instant};

use ferrolb_tests::wait_for;

use super::VIP;
use super::speaker_cluster::{Cluster, SERIAL};

/// Gives `host` `pairs` veth pairs named as CNI plugins name them (`veth*` and `cali*`, both
/// ends up, so each has an IPv6 link-local address), a bridge `lanbr` with two members, and
/// kube-proxy's `kube-ipvs0`.
fn pod_interfaces(cluster: &Cluster, host: &str, pairs: usize) {
    let batch = cluster.lab.dir().join(format!("{host}-pods.batch"));
    let mut lines = String::new();
    for i in 0..pairs {
        lines.push_str(&format!(
            "link add veth{i} type veth peer name cali{i}\nlink set veth{i} up\nlink set cali{i} up\n"
        ));
    }
    // Each bridge member's other end is a Pod-like veth outside the bridge (the two ends of one
    // pair both in the bridge would loop its broadcasts forever). kube-ipvs0 is a dummy on real
    // nodes; a port-less bridge (also down) stands in for it, as this kernel may lack the
    // dummy driver. The speaker tells it by name.
    lines.push_str(
        "link add lanbr type bridge\n\
         link add member1 type veth peer name vethm1\nlink add member2 type veth peer name vethm2\n\
         link set member1 master lanbr\nlink set member2 master lanbr\n\
         link set member1 up\nlink set member2 up\nlink set vethm1 up\nlink set vethm2 up\n\
         link set lanbr up\nlink add kube-ipvs0 type bridge\n",
    );
    std::fs::write(&batch, lines).expect("batch file");
    cluster.sh(host, &format!("ip -batch {}", batch.display()));
}

fn interfaces(cluster: &Cluster, host: &str, reason: &str) -> f64 {
    cluster.metric_sum(
        host,
        "ferrolb_speaker_interfaces",
        &[&format!("reason=\"{reason}\"")],
    )
}

#[tokio::test]
async fn speaker_answers_on_the_uplink_only_among_hundreds_of_pod_interfaces() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start("{}");
    // 100 pairs: 200 Pod interfaces a node (a report naming them all would not fit a
    // datagram), on two of the three nodes: listing that many interfaces is slow on some
    // kernels, and three such nodes would load a small test machine more than the test needs.
    let busy: Vec<String> = cluster.lab.node_names().into_iter().take(2).collect();
    for node in &busy {
        pod_interfaces(&cluster, node, 100);
    }
    for node in &busy {
        wait_for(
            "the rescan to see the new interfaces",
            Duration::from_secs(30),
            || async {
                let seen = (
                    interfaces(&cluster, node, "answering"),
                    interfaces(&cluster, node, "virtual"),
                    interfaces(&cluster, node, "member"),
                );
                // eth0 and the bridge answer; Pod interfaces and bridge members do not.
                if seen == (2.0, 202.0, 2.0) {
                    Ok(())
                } else {
                    Err(seen)
                }
            },
        )
        .await
        .expect("interfaces sorted");
    }
    cluster.service("web", VIP, false);
    // The owner the condition names answers, on eth0.
    let owner = wait_for(
        "the named owner to answer on eth0",
        Duration::from_secs(30),
        || async {
            let owner = cluster.wait_owner("web", Duration::from_secs(10)).await;
            let (_, _, message) = cluster.announced("web").ok_or(None)?;
            let macs = cluster.arping(VIP, 1);
            if message == cluster.announced_by(&owner, "eth0") && macs == [cluster.mac(&owner)] {
                Ok(owner)
            } else {
                Err(Some((message, macs)))
            }
        },
    )
    .await
    .expect("answered");
    // The reports of nodes with hundreds of Pod interfaces fit a datagram: none was too
    // large to send, and when the owner dies a peer takes over at the usual speed.
    for (node, speaker) in &cluster.speakers {
        assert!(
            !speaker.log().contains("interface report too large"),
            "{node}: {}",
            speaker.log()
        );
    }
    let (successor, took) = cluster.kill_and_fail_over(&owner, VIP).await;
    println!("failover among Pod interfaces: {owner} -> {successor} in {took:?}");
    assert!(took < Duration::from_secs(3), "failover took {took:?}");
    assert_eq!(cluster.arping(VIP, 1), [cluster.mac(&successor)]);
}

#[tokio::test]
async fn speaker_names_nodes_whose_kernel_answers_arp_for_service_addresses() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let other = cluster
        .lab
        .node_names()
        .into_iter()
        .find(|n| *n != owner)
        .expect("another node");
    // kube-proxy in IPVS mode without strictARP: kube-ipvs0 exists and arp_ignore is 0, so
    // the node's kernel answers ARP for the Service addresses it accepts.
    cluster.sh(
        &other,
        // A bridge stands in for kube-proxy's dummy (see `pod_interfaces`).
        "ip link add kube-ipvs0 type bridge && sysctl -qw net.ipv4.conf.all.arp_ignore=0",
    );
    let message = wait_for("KernelAnswersARP", Duration::from_secs(10), || async {
        match cluster.announced("web") {
            Some((s, r, m)) if s == "False" && r == "KernelAnswersARP" => Ok(m),
            other => Err(other),
        }
    })
    .await
    .expect("reported");
    assert!(message.contains(&format!("node(s) {other} ")), "{message}");
    // What the condition warns about is real: the client hears the other node's kernel too.
    let macs = cluster.arping(VIP, 2);
    assert!(macs.contains(&cluster.mac(&other)), "{macs:?}");
    // Fixed (strictARP), the condition says so.
    cluster.sh(&other, "sysctl -qw net.ipv4.conf.all.arp_ignore=1");
    wait_for("Announced again", Duration::from_secs(10), || async {
        match cluster.announced("web") {
            Some((s, r, _)) if s == "True" && r == "Announced" => Ok(()),
            other => Err(other),
        }
    })
    .await
    .expect("announced");
}

#[tokio::test]
async fn speaker_gives_up_an_address_within_a_second_of_carrier_loss() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    assert_eq!(cluster.curl(VIP, "2").as_deref(), Some(owner.as_str()));
    // The switch side of the owner's link goes down: its eth0 stays up without carrier.
    let cut = Instant::now();
    cluster.ip_net(&["link", "set", &owner, "down"]);
    wait_for(
        "the owner to give the address up",
        Duration::from_secs(5),
        || async {
            let owned = cluster.metric_sum(&owner, "ferrolb_speaker_owned_addresses", &[]);
            if owned == 0.0 { Ok(()) } else { Err(owned) }
        },
    )
    .await
    .expect("given up");
    let dropped = cut.elapsed();
    let (successor, took) = cluster
        .wait_reached_elsewhere(VIP, &owner, cut, Duration::from_secs(10))
        .await;
    println!(
        "carrier loss on {owner}: dropped after {dropped:?}, {successor} reached after {took:?}"
    );
    assert!(
        dropped < Duration::from_secs(1),
        "dropped after {dropped:?}"
    );
    assert!(took < Duration::from_secs(3), "failover took {took:?}");
    assert_eq!(interfaces(&cluster, &owner, "no-carrier"), 1.0);
}

#[tokio::test]
async fn speaker_announces_on_an_interface_without_an_address_when_an_advertisement_lists_it() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    // A second segment for Service addresses only: the nodes' `vip0` has no address.
    cluster.ip_net(&["link", "add", "br1", "type", "bridge"]);
    cluster.ip_net(&["link", "set", "br1", "up"]);
    let mut hosts = cluster.lab.node_names();
    hosts.push("client".to_owned());
    for host in &hosts {
        let port = format!("{host}-v");
        cluster.ip_net(&[
            "link",
            "add",
            &port,
            "type",
            "veth",
            "peer",
            "name",
            "vip0",
            "netns",
            &cluster.lab.netns(host),
        ]);
        cluster.ip_net(&["link", "set", &port, "master", "br1", "up"]);
        // No IPv6 either: nothing but the link.
        cluster.sh(
            host,
            "sysctl -qw net.ipv6.conf.vip0.disable_ipv6=1 && ip link set vip0 up",
        );
    }
    cluster.sh("client", "ip addr add 192.168.200.50/24 dev vip0");
    let vip = "192.168.200.240";
    cluster
        .lab
        .apply_yaml(
            "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: vips}\n\
             spec: {addresses: [192.168.200.240-192.168.200.249]}\n---\n\
             apiVersion: ferrolb.io/v1alpha1\nkind: L2Advertisement\nmetadata: {name: vips}\n\
             spec: {ipAddressPools: [vips], interfaces: [vip0]}\n",
            &[],
        )
        .expect("pool and advertisement");
    cluster.service_from("web", vip, "vips");
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let (_, _, message) = cluster.announced("web").expect("condition");
    assert_eq!(message, cluster.announced_by(&owner, "vip0"));
    let out = cluster
        .lab
        .exec(
            "client",
            &["arping", "-c", "2", "-w", "400000", "-i", "vip0", vip],
        )
        .expect("arping");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    let owner_vip0 = cluster
        .lab
        .exec(&owner, &["cat", "/sys/class/net/vip0/address"])
        .expect("mac");
    let owner_vip0 = String::from_utf8_lossy(&owner_vip0.stdout)
        .trim()
        .to_owned();
    assert_eq!(
        text.matches("bytes from ").count(),
        2,
        "two replies: {text}"
    );
    assert!(
        text.contains(&owner_vip0),
        "answered by {owner}'s vip0 ({owner_vip0}): {text}"
    );
}

/// A change made to a Node object, by name.
type NodeEdit<'a> = &'a dyn Fn(&str);

#[tokio::test]
async fn speaker_hands_over_from_nodes_not_ready_out_of_service_or_cordoned() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let kubectl = |args: &[&str]| {
        cluster.lab.kubectl(args).expect("kubectl");
    };
    let ready = |node: &str, status: &str| cluster.set_node_conditions(node, &[("Ready", status)]);
    let network = |node: &str, status: &str| {
        cluster.set_node_conditions(node, &[("NetworkUnavailable", status), ("Ready", "True")]);
    };
    let taint = "node.kubernetes.io/out-of-service=nodeshutdown:NoExecute";
    let steps: [(&str, NodeEdit, NodeEdit); 4] = [
        ("Ready=False", &|n| ready(n, "False"), &|n| ready(n, "True")),
        ("NetworkUnavailable=True", &|n| network(n, "True"), &|n| {
            network(n, "False")
        }),
        (
            "out-of-service taint",
            &|n| kubectl(&["taint", "node", n, taint]),
            &|n| kubectl(&["taint", "node", n, "node.kubernetes.io/out-of-service-"]),
        ),
        ("cordoned", &|n| kubectl(&["cordon", n]), &|n| {
            kubectl(&["uncordon", n])
        }),
    ];
    for (what, break_node, fix_node) in steps {
        let owner = cluster.wait_answering_owner("web", VIP).await;
        let owner_mac = cluster.mac(&owner);
        let since = Instant::now();
        break_node(&owner);
        // The owner stays alive; the Node object alone makes it hand over.
        let (successor, took) = cluster
            .wait_reached_elsewhere(VIP, &owner, since, Duration::from_secs(10))
            .await;
        println!("{what}: {owner} -> {successor} in {took:?}");
        assert_eq!(cluster.arping(VIP, 1), [cluster.mac(&successor)], "{what}");
        fix_node(&owner);
        // Healthy again, it wins its address back (the election is a hash of address and node).
        cluster
            .wait_answered_by(VIP, &owner_mac, Duration::from_secs(10))
            .await;
    }
}
