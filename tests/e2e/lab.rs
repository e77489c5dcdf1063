//! The lab itself, against its real API server and namespaces: what every other suite relies on.

use std::time::Duration;

use ferrolb_tests::{Lab, wait_for};
use k8s_openapi::api::core::v1::Node;
use kube::Api;
use kube::api::ListParams;

#[tokio::test]
async fn lab_api_server_has_ready_nodes_with_internal_ips() {
    let lab = Lab::shared();
    let client = lab.client().await.expect("client");
    let nodes: Api<Node> = Api::all(client);
    let list = nodes
        .list(&ListParams::default())
        .await
        .expect("list nodes");
    let mut names: Vec<_> = list
        .items
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, lab.node_names());
    for node in &list.items {
        let status = node.status.as_ref().expect("node status");
        let name = node.metadata.name.as_deref().unwrap_or_default();
        let ips: Vec<_> = status
            .addresses
            .iter()
            .flatten()
            .filter(|a| a.type_ == "InternalIP")
            .map(|a| a.address.clone())
            .collect();
        assert!(ips.contains(&Lab::host_ipv4(name)), "{name}: {ips:?}");
        let ready = status
            .conditions
            .iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        assert!(ready, "{name} is not Ready");
    }
}

#[tokio::test]
async fn lab_backends_answer_with_their_node_name() {
    let lab = Lab::shared();
    for node in lab.node_names() {
        let url = format!("http://{}/", Lab::host_ipv4(&node));
        let out = lab
            .exec("client", &["curl", "-sS", "--max-time", "2", &url])
            .expect("curl");
        let body = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "curl {url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            body.starts_with(&format!("{node} ")),
            "{url} answered {body:?}"
        );
    }
}

#[tokio::test]
async fn lab_nodes_accept_but_never_answer_arp_for_pool_addresses() {
    let lab = Lab::shared();
    // A node answers traffic for a pool address sent to it directly...
    let out = lab
        .exec(
            "node1",
            &["curl", "-sS", "--max-time", "2", "http://192.168.100.240/"],
        )
        .expect("curl");
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("node1 192.168.100.240"),
        "node1 does not accept traffic for the pool: {out:?}"
    );
    // ...but no node answers ARP for it: that is the speaker's job.
    let out = lab
        .exec(
            "client",
            &[
                "arping",
                "-c",
                "3",
                "-w",
                "300000",
                "-i",
                "eth0",
                "192.168.100.240",
            ],
        )
        .expect("arping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !out.status.success(),
        "someone answered ARP for a pool address: {text}"
    );
    assert!(
        !text.contains("bytes from"),
        "someone answered ARP for a pool address: {text}"
    );
}

#[tokio::test]
async fn lab_api_server_authenticates_and_authorizes() {
    let lab = Lab::shared();
    let ns = "lab-rbac";
    lab.kubectl(&["create", "namespace", ns])
        .expect("namespace");
    lab.kubectl(&["-n", ns, "create", "serviceaccount", "nobody"])
        .expect("serviceaccount");
    let token = lab
        .kubectl(&["-n", ns, "create", "token", "nobody"])
        .expect("token");
    let token = String::from_utf8_lossy(&token.stdout).trim().to_owned();
    // A real signed token authenticates...
    let who = lab
        .kubectl_as(
            &token,
            &[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
        )
        .expect("whoami");
    assert_eq!(
        String::from_utf8_lossy(&who.stdout),
        format!("system:serviceaccount:{ns}:nobody")
    );
    // ...and RBAC refuses what it was not granted.
    let denied = lab.kubectl_as(&token, &["get", "services", "-A"]);
    let err = denied.expect_err("an unprivileged token listed services");
    assert!(err.to_string().contains("forbidden"), "{err}");
    // A forged token is refused outright.
    let forged = lab.kubectl_as("not-a-token", &["get", "nodes"]);
    assert!(
        forged
            .expect_err("forged token accepted")
            .to_string()
            .contains("Unauthorized")
    );
    // The harness waits on conditions, never on sleeps.
    wait_for("the namespace to exist", Duration::from_secs(5), || async {
        lab.kubectl(&["get", "namespace", ns])
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .expect("namespace visible");
}
