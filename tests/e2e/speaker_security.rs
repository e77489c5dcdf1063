//! A speaker speaks only for its own node, and the group's key rotates without a split.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use ferrolb_speaker::membership::envelope::{AuthKey, seal};
use ferrolb_speaker::membership::group::PeerReport;
use ferrolb_tests::{Lab, wait_for};

use super::VIP;
use super::speaker_cluster::{Cluster, KEY, SERIAL};

const NEW_KEY: &str = "ferrolb-lab-membership-key-0002";

/// The label of a speaker's `ferrolb_speaker_membership_signing_key` (its key's fingerprint).
fn signing_key(cluster: &Cluster, node: &str) -> Option<String> {
    cluster.metrics(node).lines().find_map(|l| {
        let rest = l.strip_prefix("ferrolb_speaker_membership_signing_key{fingerprint=\"")?;
        Some(rest.split('"').next()?.to_owned())
    })
}

/// Writes each node's key file in turn, as kubelets refresh a Secret on their own schedules,
/// and waits until every speaker shows `expect` keys signing with a key other than `not`
/// (when given); returns the signing fingerprint they agree on.
async fn rotate_step(
    cluster: &Cluster,
    files: &BTreeMap<String, std::path::PathBuf>,
    keys: &[&str],
    not: Option<&str>,
) -> String {
    for file in files.values() {
        std::fs::write(file, keys.join("\n") + "\n").expect("key file");
    }
    wait_for(
        "every speaker to use the new key list",
        Duration::from_secs(40),
        || async {
            let seen: Vec<(f64, Option<String>)> = files
                .keys()
                .map(|n| {
                    (
                        cluster.metric_sum(n, "ferrolb_speaker_membership_keys", &[]),
                        signing_key(cluster, n),
                    )
                })
                .collect();
            let signing: BTreeSet<&Option<String>> = seen.iter().map(|(_, s)| s).collect();
            let counts_ok = seen.iter().all(|(c, _)| *c == keys.len() as f64);
            match signing.iter().next() {
                Some(Some(fp)) if counts_ok && signing.len() == 1 && Some(fp.as_str()) != not => {
                    Ok(fp.clone())
                }
                _ => Err(seen),
            }
        },
    )
    .await
    .expect("keys reloaded")
}

#[tokio::test]
async fn speaker_key_rotation_with_three_speakers_loses_no_announcement() {
    let _serial = SERIAL.lock().await;
    let mut cluster = Cluster::without_speakers("{}");
    let files: BTreeMap<String, std::path::PathBuf> = cluster
        .lab
        .node_names()
        .into_iter()
        .map(|n| {
            let file = cluster.lab.dir().join(format!("memberlist-key-{n}"));
            (n, file)
        })
        .collect();
    for (node, file) in &files {
        std::fs::write(file, format!("{KEY}\n")).expect("key file");
        cluster.spawn_speaker_with_key_file(node, file);
    }
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let before = cluster.announced("web");
    let old = signing_key(&cluster, &owner).expect("signing key shown");

    // The client asks every 200 ms for the whole rotation (bounded: at most 600 requests,
    // and it stops when the stop file appears).
    let stop = cluster.lab.dir().join("client-stop");
    let script = format!(
        "for i in $(seq 1 600); do [ -e {stop} ] && exit 0; \
           n=$(curl -s --max-time 1 http://{VIP}/ | cut -d' ' -f1); \
           if [ -n \"$n\" ]; then echo \"ok $n\"; else echo \"FAIL $i\"; fi; sleep 0.2; done",
        stop = stop.display()
    );
    let mut client = cluster
        .lab
        .spawn("client", "client-loop", &["sh", "-c", &script], &[])
        .expect("client loop");

    // 1. The new key is accepted everywhere; 2. it signs everywhere; 3. the old one goes.
    let step1 = rotate_step(&cluster, &files, &[KEY, NEW_KEY], None).await;
    assert_eq!(
        step1, old,
        "adding a second key does not change the signing key"
    );
    let new = rotate_step(&cluster, &files, &[NEW_KEY, KEY], Some(&old)).await;
    let step3 = rotate_step(&cluster, &files, &[NEW_KEY], Some(&old)).await;
    assert_eq!(step3, new);
    std::fs::write(&stop, "").expect("stop file");
    let deadline = Instant::now() + Duration::from_secs(5);
    while client.is_running() {
        assert!(Instant::now() < deadline, "the client loop did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answers = client.log();
    let asked = answers
        .lines()
        .filter(|l| l.starts_with("ok ") || l.starts_with("FAIL "))
        .count();
    assert!(
        asked >= 20,
        "the client asked only {asked} times:\n{answers}"
    );
    assert!(
        !answers.contains("FAIL"),
        "the client was not answered:\n{answers}"
    );
    for node in files.keys() {
        assert_eq!(
            cluster.metric_sum(node, "ferrolb_speaker_members_alive", &[]),
            3.0,
            "{node} lost a member during the rotation"
        );
        assert_eq!(
            cluster.metric_sum(
                node,
                "ferrolb_speaker_bad_membership_messages_total",
                &["bad_tag"]
            ),
            0.0,
            "{node} refused a peer's datagram during the rotation"
        );
    }
    assert_eq!(cluster.announced("web"), before, "the announcement changed");
    // A bad edit of the key file is reported and changes nothing.
    for file in files.values() {
        std::fs::write(file, "short\n").expect("key file");
    }
    for node in files.keys() {
        wait_for(
            "the bad key file to be reported",
            Duration::from_secs(20),
            || async {
                let log = cluster.speakers[node].log();
                if log.contains("membership key file unusable") {
                    Ok(())
                } else {
                    Err(())
                }
            },
        )
        .await
        .expect("reported");
        assert_eq!(signing_key(&cluster, node).as_deref(), Some(new.as_str()));
    }
    assert_eq!(cluster.curl(VIP, "1").as_deref(), Some(owner.as_str()));
}

#[tokio::test]
async fn speaker_refuses_a_report_that_speaks_for_another_node() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    cluster.service("web", VIP, false);
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let owner_mac = cluster.mac(&owner);
    let before = cluster.announced("web");
    // A member holding the key (here: the client host) says the owner has no interface, which
    // would make every other speaker take the address over. Sent from the client's address, 20
    // times over 2 s so that it outlasts the owner's own reports.
    let forged = PeerReport {
        node: owner.clone().into(),
        interfaces: BTreeMap::new(),
        macs: BTreeSet::new(),
        kernel_answers_arp: false,
    };
    let mut payload = vec![2u8];
    payload.extend(forged.encode().expect("encodes"));
    let key = AuthKey::new(KEY.as_bytes().to_vec()).expect("key");
    let datagram: String = seal(&key, &payload)
        .expect("seals")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let targets: Vec<String> = cluster
        .lab
        .node_names()
        .iter()
        .filter(|n| **n != owner)
        .map(|n| Lab::host_ipv4(n))
        .collect();
    let script = format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         data = bytes.fromhex('{datagram}')\n\
         for _ in range(20):\n\
         \x20   for ip in {targets:?}:\n\
         \x20       s.sendto(data, (ip, 7946))\n\
         \x20   time.sleep(0.1)\n"
    );
    cluster.python("client", &script);
    for node in cluster.lab.node_names().iter().filter(|n| **n != owner) {
        wait_for(
            "the forged reports to be counted",
            Duration::from_secs(5),
            || async {
                let refused = cluster.metric_sum(
                    node,
                    "ferrolb_speaker_bad_membership_messages_total",
                    &["report_for_other_node"],
                );
                if refused >= 20.0 {
                    Ok(())
                } else {
                    Err(refused)
                }
            },
        )
        .await
        .expect("refused and counted");
    }
    // Nobody took the address over: one answer, from the owner, and the same condition.
    assert_eq!(cluster.arping(VIP, 2), [owner_mac.clone(), owner_mac]);
    assert_eq!(cluster.announced("web"), before);
}
