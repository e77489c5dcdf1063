//! Bad input for the speaker: malformed frames, a membership key it does not share, an
//! address another host already uses, a bad edit of its L2Advertisement, and its pool made
//! invalid or deleted.

use std::time::{Duration, Instant};

use ferrolb_tests::wait_for;

use super::VIP;
use super::speaker_cluster::{Cluster, KEY, POOL, SERIAL};

#[tokio::test]
async fn speaker_counts_malformed_frames_and_keeps_running() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let client_mac = cluster.mac("client").replace(':', "");
    // A truncated ARP frame, and one claiming a token-ring hardware type, five times each.
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('eth0', 0))\n\
         src = bytes.fromhex('{client_mac}')\n\
         eth = b'\\xff' * 6 + src + b'\\x08\\x06'\n\
         body = src + bytes([192, 168, 100, 50]) + b'\\x00' * 6 + bytes([192, 168, 100, 240])\n\
         for _ in range(5):\n\
         \x20   s.send(eth + b'\\x00\\x01\\x08\\x00\\x06\\x04\\x00\\x01')\n\
         \x20   s.send(eth + b'\\x00\\x06\\x08\\x00\\x06\\x04\\x00\\x01' + body)\n"
    );
    cluster.python("client", &script);
    for node in cluster.lab.node_names() {
        wait_for(
            "the malformed frames to be counted",
            Duration::from_secs(5),
            || async {
                let truncated = cluster.metric_sum(
                    &node,
                    "ferrolb_speaker_drops_total",
                    &["reason=\"truncated\""],
                );
                let hardware = cluster.metric_sum(
                    &node,
                    "ferrolb_speaker_drops_total",
                    &["reason=\"unsupported_hardware\""],
                );
                if truncated >= 5.0 && hardware >= 5.0 {
                    Ok(())
                } else {
                    Err((truncated, hardware))
                }
            },
        )
        .await
        .expect("drops counted");
        assert!(
            cluster
                .speakers
                .get_mut(&node)
                .expect("speaker")
                .is_running()
        );
    }
    let owner_mac = cluster.mac(&owner);
    assert_eq!(cluster.arping(VIP, 1), [owner_mac]);
}

#[tokio::test]
async fn speaker_with_a_wrong_key_changes_nothing() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    // A fourth node whose speaker (in the client namespace) has another key.
    cluster
        .lab
        .apply_yaml("apiVersion: v1\nkind: Node\nmetadata: {name: node4}\n", &[])
        .expect("node4");
    let now = "2026-01-01T00:00:00Z";
    let status = format!(
        r#"{{"status":{{"addresses":[{{"type":"InternalIP","address":"192.168.100.50"}}],"conditions":[{{"type":"Ready","status":"True","reason":"Lab","message":"lab","lastHeartbeatTime":"{now}","lastTransitionTime":"{now}"}}]}}}}"#
    );
    cluster
        .lab
        .kubectl(&[
            "patch",
            "node",
            "node4",
            "--subresource=status",
            "--type=merge",
            "-p",
            &status,
        ])
        .expect("node4 status");
    cluster.spawn_speaker("client", "node4", "another-key-of-at-least-16-bytes");
    wait_for(
        "the others to refuse its messages",
        Duration::from_secs(15),
        || async {
            let bad: f64 = cluster
                .lab
                .node_names()
                .iter()
                .map(|n| {
                    cluster.metric_sum(
                        n,
                        "ferrolb_speaker_bad_membership_messages_total",
                        &["bad_tag"],
                    )
                })
                .sum();
            if bad >= 3.0 { Ok(bad) } else { Err(bad) }
        },
    )
    .await
    .expect("bad messages counted");
    for node in cluster.lab.node_names() {
        assert_eq!(
            cluster.metric_sum(&node, "ferrolb_speaker_members_alive", &[]),
            3.0,
            "{node}"
        );
    }
    assert_eq!(
        cluster.metric_sum("client", "ferrolb_speaker_owned_addresses", &[]),
        0.0
    );
    assert_eq!(
        cluster.metric_sum("client", "ferrolb_speaker_members_alive", &[]),
        1.0
    );
    assert_eq!(
        cluster.wait_owner("web", Duration::from_secs(5)).await,
        owner
    );
    assert!(
        cluster
            .speakers
            .get_mut("node4")
            .expect("node4")
            .is_running()
    );
}

#[tokio::test]
async fn speaker_detects_an_address_used_by_another_host() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    let taken = "192.168.100.247";
    cluster
        .lab
        .exec(
            "client",
            &["ip", "addr", "add", &format!("{taken}/32"), "dev", "eth0"],
        )
        .expect("address on the client");
    cluster.service("taken", taken, false);
    let client_mac = cluster.mac("client");
    let message = wait_for(
        "AddressConflict naming the client",
        Duration::from_secs(30),
        || async {
            match cluster.announced("taken") {
                Some((s, r, m)) if s == "False" && r == "AddressConflict" => Ok(m),
                other => Err(other),
            }
        },
    )
    .await
    .expect("conflict");
    assert!(message.contains(&client_mac), "{message}");
    let node_macs: Vec<String> = cluster
        .lab
        .node_names()
        .iter()
        .map(|n| cluster.mac(n))
        .collect();
    let out = cluster
        .lab
        .exec(
            "node1",
            &["arping", "-c", "2", "-w", "400000", "-i", "eth0", taken],
        )
        .expect("arping");
    let text = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(
        node_macs.iter().all(|m| !text.contains(m)),
        "a speaker answers for a taken address: {text}"
    );
}

#[tokio::test]
async fn speaker_defends_an_address_once_and_withdraws_on_a_second_claim() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let owner_mac = cluster.mac(&owner);
    let client_mac = cluster.mac("client");
    let withdrawn =
        |c: &Cluster| c.metric_sum(&owner, "ferrolb_speaker_conflicts_total", &["withdrawn"]);
    // One claim: defended with an announcement, reported, and the address kept.
    cluster.claim(VIP);
    let message = wait_for(
        "the defence to be reported",
        Duration::from_secs(10),
        || async {
            match cluster.announced("web") {
                Some((s, _, m)) if s == "True" && m.contains("defended") => Ok(m),
                other => Err(other),
            }
        },
    )
    .await
    .expect("defended");
    assert!(message.contains(&client_mac), "{message}");
    assert_eq!(
        cluster.metric_sum(&owner, "ferrolb_speaker_conflicts_total", &["defended"]),
        1.0
    );
    assert_eq!(withdrawn(&cluster), 0.0);
    assert_eq!(cluster.arping(VIP, 1), [owner_mac]);
    // A second claim within the defend interval: withdrawn, reported.
    cluster.claim(VIP);
    let message = wait_for(
        "the withdrawal to be reported",
        Duration::from_secs(10),
        || async {
            match cluster.announced("web") {
                Some((s, r, m)) if s == "False" && r == "AddressConflict" => Ok(m),
                other => Err(other),
            }
        },
    )
    .await
    .expect("withdrawn");
    assert!(message.contains(&client_mac), "{message}");
    assert_eq!(withdrawn(&cluster), 1.0);
    assert!(
        cluster.arping(VIP, 1).is_empty(),
        "nobody answers a withdrawn address"
    );
}

#[tokio::test]
async fn speaker_keeps_announcing_when_its_advertisement_is_edited_badly() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let before = cluster.announced("web").expect("condition");
    let bad = "apiVersion: ferrolb.io/v1alpha1\nkind: L2Advertisement\nmetadata: {name: lab}\n\
               spec:\n  nodeSelectors: [{matchExpressions: [{key: zone, operator: Equals, values: [a]}]}]\n";
    let refused = cluster
        .lab
        .apply_yaml(bad, &[])
        .expect_err("the API server refuses a selector that cannot be evaluated");
    let message = refused.to_string();
    assert!(
        message.contains("spec.nodeSelectors[0].matchExpressions[0]")
            && message.contains("operator \"Equals\" is not In, NotIn, Exists or DoesNotExist"),
        "the refusal names the field and the problem: {message}"
    );
    // The working announcement is untouched: the same owner alone answers and says so.
    assert_eq!(cluster.arping(VIP, 1), [cluster.mac(&owner)]);
    assert_eq!(cluster.announced("web"), Some(before));
    for node in cluster.lab.node_names() {
        let metrics = cluster.metrics(&node);
        assert!(
            metrics.contains("\nferrolb_speaker_invalid_advertisements 0\n"),
            "{node}: {metrics}"
        );
    }
}

/// Asserts for `window` that only `mac` answers ARP for `ip` and the condition stays True.
async fn keeps_answering(cluster: &Cluster, ip: &str, mac: &str, service: &str, window: Duration) {
    let until = Instant::now() + window;
    while Instant::now() < until {
        assert_eq!(cluster.arping(ip, 1), [mac], "{ip} must keep answering");
        let (status, reason, message) = cluster.announced(service).expect("condition");
        assert_eq!(
            (status.as_str(), reason.as_str()),
            ("True", "Announced"),
            "{message}"
        );
    }
}

#[tokio::test]
async fn speaker_keeps_announcing_when_its_pool_is_made_invalid_or_deleted() {
    let _serial = SERIAL.lock().await;
    // Selected by name, so that a speaker started after the deletion still selects the pool.
    let mut cluster = Cluster::start("{ipAddressPools: [lab]}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let owner_mac = cluster.mac(&owner);
    // Invalid (a reversed IPv6 range, which the schema lets through): the address keeps answering.
    cluster
        .lab
        .apply_yaml(
            &format!(
                "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {{name: lab}}\n\
                 spec: {{addresses: [{POOL}, \"fd00::20-fd00::10\"]}}\n"
            ),
            &[],
        )
        .expect("invalid pool");
    keeps_answering(&cluster, VIP, &owner_mac, "web", Duration::from_secs(3)).await;
    assert_eq!(cluster.curl(VIP, "2").as_deref(), Some(owner.as_str()));
    // Deleted: still answering, under the advertisement that selected it.
    cluster
        .lab
        .kubectl(&["delete", "ipaddresspool", "lab"])
        .expect("delete pool");
    keeps_answering(&cluster, VIP, &owner_mac, "web", Duration::from_secs(3)).await;
    // Its owner killed, another speaker (which saw the pool) takes over.
    let (successor, took) = cluster.kill_and_fail_over(&owner, VIP).await;
    println!("failover with the pool deleted: {owner} -> {successor} in {took:?}");
    // Started again, the speaker has never seen the pool and wins the address back (the
    // election is a hash of address and node): the advertisement names the pool.
    cluster.spawn_speaker(&owner, &owner, KEY);
    cluster
        .wait_answered_by(VIP, &owner_mac, Duration::from_secs(20))
        .await;
    assert_eq!(
        cluster.wait_owner("web", Duration::from_secs(10)).await,
        owner
    );
}
