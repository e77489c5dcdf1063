//! `kubectl ferrolb` against the whole product in the lab: a controller, a speaker on every
//! node, a Service that is answered, one whose address another host uses, and one waiting for
//! an address. The plugin is run as `kubectl` finds it, on `PATH`.

use std::process::{Command, Output};
use std::time::Duration;

use ferrolb_tests::{wait_for, workspace_bin};
use serde_json::Value;

use crate::speaker_cluster::{Cluster, SERIAL};

const TAKEN: &str = "192.168.100.247";

fn services_yaml() -> String {
    let svc = |name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default, annotations: {{{annotations}}}}}\n\
             spec: {{type: LoadBalancer, ports: [{{port: 80}}]}}\n"
        )
    };
    [
        svc("web", ""),
        svc("taken", &format!("ferrolb.io/loadBalancerIPs: {TAKEN}")),
        svc("first", "ferrolb.io/address-pool: tiny"),
        svc("second", "ferrolb.io/address-pool: tiny"),
    ]
    .join("---\n")
}

/// Runs `kubectl ferrolb args` with the plugin on `PATH`.
fn plugin(cluster: &Cluster, args: &[&str]) -> Output {
    let bin = workspace_bin("kubectl-ferrolb");
    let dir = bin.parent().expect("target directory");
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd: Command = cluster.lab.kubectl_cmd();
    cmd.env("PATH", path).arg("ferrolb").args(args);
    cmd.output().expect("kubectl ferrolb")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn row<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["addresses"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == name))
        .unwrap_or_else(|| panic!("no row for {name}: {report}"))
}

#[tokio::test]
async fn kubectl_ferrolb_tells_answered_conflicting_and_pending_services_apart() {
    let _serial = SERIAL.lock().await;
    let cluster = Cluster::start("{}");
    let lab = &cluster.lab;
    lab.apply_yaml(
        "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {name: tiny}\n\
         spec: {addresses: [192.168.100.230/32], autoAssign: false}\n",
        &[],
    )
    .expect("tiny pool");
    let _controller = lab.start_controller("controller", &[]).expect("controller");
    // Another host on the network uses an address of the pool.
    lab.exec(
        "client",
        &["ip", "addr", "add", &format!("{TAKEN}/32"), "dev", "eth0"],
    )
    .expect("address on the client");
    lab.apply_yaml(&services_yaml(), &[]).expect("services");

    let status = wait_for(
        "kubectl ferrolb status to tell the four Services apart",
        Duration::from_secs(60),
        || async {
            let out = plugin(&cluster, &["status", "-o", "json"]);
            let report = json(&out);
            let reasons: Vec<(String, bool)> = ["first", "second", "taken", "web"]
                .iter()
                .map(|n| {
                    let r = row(&report, n);
                    (
                        r["reason"].as_str().unwrap_or_default().to_owned(),
                        r["answered"] == true,
                    )
                })
                .collect();
            let wanted = [
                ("Announced", true),
                ("PoolExhausted", false),
                ("AddressConflict", false),
                ("Announced", true),
            ];
            if reasons
                .iter()
                .zip(wanted)
                .all(|((r, a), (wr, wa))| r == wr && *a == wa)
            {
                Ok((out, report))
            } else {
                Err(reasons)
            }
        },
    )
    .await
    .expect("status");
    let (out, report) = status;
    assert_eq!(out.status.code(), Some(1), "two Services are not answered");
    assert_eq!(report["answered"], 2);
    assert_eq!(report["unanswered"], 2);
    let web = row(&report, "web");
    assert_eq!(web["address"], "192.168.100.240");
    assert_eq!(web["pool"], "lab");
    assert_eq!(web["interface"], "eth0");
    let node = web["node"].as_str().expect("node");
    assert_eq!(web["mac"].as_str(), Some(cluster.mac(node).as_str()));
    // The MAC the plugin names is the one clients get.
    assert_eq!(cluster.arping("192.168.100.240", 1), [cluster.mac(node)]);
    assert_eq!(row(&report, "first")["address"], "192.168.100.230");
    assert_eq!(row(&report, "first")["pool"], "tiny");
    assert!(row(&report, "second").get("address").is_none());
    let taken = row(&report, "taken");
    assert!(
        taken["message"]
            .as_str()
            .is_some_and(|m| m.contains(&cluster.mac("client"))),
        "{taken}"
    );

    let table = plugin(&cluster, &["status"]);
    let text = String::from_utf8_lossy(&table.stdout);
    println!("$ kubectl ferrolb status\n{text}");
    assert_eq!(table.status.code(), Some(1));
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("NAMESPACE") && header.ends_with("STATUS"),
        "{text}"
    );
    let web_line = text
        .lines()
        .find(|l| l.contains(" web "))
        .unwrap_or_default();
    assert!(
        web_line.contains(node) && web_line.contains(&cluster.mac(node)),
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.contains(" second ")
            && l.contains("<pending>")
            && l.ends_with("PoolExhausted")),
        "{text}"
    );

    let pools = plugin(&cluster, &["pools"]);
    let text = String::from_utf8_lossy(&pools.stdout);
    println!("$ kubectl ferrolb pools\n{text}");
    assert_eq!(pools.status.code(), Some(1), "pool tiny is full: {text}");
    let pools = json(&plugin(&cluster, &["pools", "-o", "json"]));
    let counts: Vec<(String, Value, Value, Value)> = pools["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .map(|p| {
            (
                format!(
                    "{}/{}",
                    p["pool"].as_str().unwrap_or(""),
                    p["family"].as_str().unwrap_or("")
                ),
                p["used"].clone(),
                p["free"].clone(),
                p["state"].clone(),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("lab/IPv4".to_owned(), 2.into(), "8".into(), "Ok".into()),
            ("lab/IPv6".to_owned(), 0.into(), "10".into(), "Ok".into()),
            ("tiny/IPv4".to_owned(), 1.into(), "0".into(), "Full".into()),
        ]
    );

    let why = plugin(&cluster, &["why", "taken"]);
    let text = String::from_utf8_lossy(&why.stdout);
    println!("$ kubectl ferrolb why taken\n{text}");
    assert_eq!(why.status.code(), Some(1));
    assert!(
        text.starts_with("Service default/taken is NOT answered."),
        "{text}"
    );
    assert!(text.contains("What to do:"), "{text}");
    assert!(
        text.contains("IPAllocated"),
        "the controller's event: {text}"
    );
    assert!(text.contains("AddressConflict"), "{text}");
    let why_web = plugin(&cluster, &["why", "default/web", "-o", "yaml"]);
    assert_eq!(why_web.status.code(), Some(0), "{why_web:?}");
    let yaml: Value = serde_yaml_ng::from_slice(&why_web.stdout).expect("why -o yaml parses");
    assert_eq!(yaml["answered"], true);
    assert_eq!(yaml["addresses"][0]["node"], node);
    let missing = plugin(&cluster, &["why", "nothing-here"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("Service default/nothing-here not found"),
        "{missing:?}"
    );

    // Once the host gives the address back and the waiting Service is gone, all is answered.
    lab.exec(
        "client",
        &["ip", "addr", "del", &format!("{TAKEN}/32"), "dev", "eth0"],
    )
    .expect("address off the client");
    lab.kubectl(&["delete", "service", "second", "taken"])
        .expect("delete");
    wait_for(
        "kubectl ferrolb status to exit 0",
        Duration::from_secs(30),
        || async {
            let out = plugin(&cluster, &["status"]);
            match out.status.code() {
                Some(0) => Ok(()),
                code => Err((code, String::from_utf8_lossy(&out.stdout).into_owned())),
            }
        },
    )
    .await
    .expect("all answered");
}
