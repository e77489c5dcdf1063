//! What the chart ships for monitoring holds up: the alerting rules pass `promtool check rules`
//! and `promtool test rules` (promtool built from the Prometheus Go module), the chart renders
//! them and the dashboard, and every metric the rules and the dashboard use is one the
//! binaries export, read from a live controller's and speaker's `/metrics` in the lab.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use ferrolb_tests::{Lab, wait_for, workspace_dir};

// The speaker suites' lab with a speaker per node, and their probes.
#[allow(dead_code)]
mod speaker_cluster;

use speaker_cluster::Cluster;

fn chart_file(name: &str) -> PathBuf {
    workspace_dir()
        .join("charts")
        .join("ferrolb")
        .join("files")
        .join(name)
}

fn promtool() -> PathBuf {
    ferrolb_tests::go_tools(
        "promtool",
        "monitoring/go/prometheus",
        &["github.com/prometheus/prometheus/cmd/promtool"],
    )
    .unwrap_or_else(|e| panic!("{e}"))
    .join("promtool")
}

/// Runs a command that must succeed; its output.
fn run(cmd: &mut Command) -> String {
    let out = ferrolb_tests::run(cmd).unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn alerting_rules_pass_promtool_check_and_their_tests() {
    let promtool = promtool();
    let checked = run(Command::new(&promtool)
        .args(["check", "rules"])
        .arg(chart_file("prometheus-rules.yaml")));
    assert!(checked.contains("SUCCESS: 6 rules found"), "{checked}");
    let tests = workspace_dir().join("tests").join("monitoring");
    let tested =
        run(Command::new(&promtool)
            .current_dir(&tests)
            .args(["test", "rules", "rules.test.yaml"]));
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// Every `ferrolb_*` name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("ferrolb_") {
        let name: String = rest[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[i + name.len()..];
        names.insert(name);
    }
    names
}

/// The metric families a `/metrics` page declares with samples.
fn declared(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// Whether a name used in a query is a declared family or one of its samples (a counter's
/// `_total`, a histogram's `_bucket`, `_count` and `_sum`).
fn is_exported(name: &str, families: &BTreeSet<String>) -> bool {
    families.contains(name)
        || ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .filter_map(|s| name.strip_suffix(s))
            .any(|family| families.contains(family))
}

#[tokio::test]
async fn every_metric_the_rules_and_the_dashboard_use_is_exported() {
    let rules = std::fs::read_to_string(chart_file("prometheus-rules.yaml")).unwrap();
    let dashboard = std::fs::read_to_string(chart_file("grafana-dashboard.json")).unwrap();
    let used: BTreeSet<String> = metric_names(&rules)
        .union(&metric_names(&dashboard))
        .cloned()
        .collect();
    assert!(used.len() >= 10, "{used:?}");

    // A lab where each of those metrics has a sample: a controller that allocates and fails
    // to, speakers that announce, answer ARP, drop a malformed frame, refuse a bad membership
    // datagram and defend an address.
    let mut cluster = Cluster::start("{}");
    let controller = cluster
        .lab
        .start_controller("controller-metrics", &["--metrics-addr", "127.0.0.1:17481"])
        .expect("controller");
    cluster.speakers.insert("controller".into(), controller);
    cluster
        .lab
        .apply_yaml(
            "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n\
             spec: {type: LoadBalancer, ports: [{port: 80}]}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata:\n  name: waiting\n  namespace: default\n  \
             annotations: {ferrolb.io/address-pool: no-such-pool}\n\
             spec: {type: LoadBalancer, ports: [{port: 80}]}\n",
            &[],
        )
        .expect("Services");
    let owner = cluster.wait_owner("web", Duration::from_secs(30)).await;
    let vip = "192.168.100.240";
    assert!(
        !cluster.arping(vip, 2).is_empty(),
        "no ARP answer for {vip}"
    );
    let client_mac = cluster.mac("client").replace(':', "");
    let node_ip = Lab::host_ipv4(&owner);
    let script = format!(
        "import socket\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n\
         s.bind(('eth0', 0))\n\
         s.send(b'\\xff' * 6 + bytes.fromhex('{client_mac}') + b'\\x08\\x06\\x00\\x01')\n\
         u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
         u.sendto(b'not a membership datagram', ('{node_ip}', 7946))\n"
    );
    cluster.python("client", &script);
    cluster.claim(vip);

    let page = |host: &str, port: u16| {
        let out = cluster
            .lab
            .exec(
                host,
                &[
                    "curl",
                    "-sf",
                    "--max-time",
                    "2",
                    &format!("http://127.0.0.1:{port}/metrics"),
                ],
            )
            .ok()
            .filter(|o| o.status.success())?;
        Some(String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let nodes = cluster.lab.node_names();
    let missing = wait_for(
        "every metric used to have a sample",
        Duration::from_secs(30),
        || async {
            let mut families = declared(&page("cp", 17481).unwrap_or_default());
            for node in &nodes {
                families.extend(declared(&page(node, 7473).unwrap_or_default()));
            }
            let missing: Vec<String> = used
                .iter()
                .filter(|n| !is_exported(n, &families))
                .cloned()
                .collect();
            if missing.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "used but not exported: {missing:?}\nexported: {families:?}"
                ))
            }
        },
    )
    .await;
    if let Err(e) = missing {
        panic!("{e}");
    }
}
