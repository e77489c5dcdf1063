//! The chart's RBAC is enough to run ferrolb: the chart is installed into a lab, and the
//! controller (with leader election) and a speaker per node run as plain processes whose only
//! credentials are tokens of the ServiceAccounts the chart created. A Service then gets an
//! address from the chart's pool, is announced, answers ARP from the owner's MAC and is
//! reachable, and no component was refused anything on the way.

#![allow(clippy::unwrap_used)]

// The speaker suites' probes (ARP and HTTP from the client, the Announced condition).
#[allow(dead_code)]
mod speaker_cluster;

use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

use ferrolb_tests::{Lab, LabProcess, TokenKubeconfig, wait_for, workspace_bin};
use speaker_cluster::Cluster;

const RELEASE_NS: &str = "ferrolb-system";
const RELEASE: &str = "ferrolb";
/// The pool the chart creates from values.
const POOL: &str = "default";
const POOL_RANGE: &str = "192.168.100.240-192.168.100.249";
const CONTROLLER_ID: &str = "ferrolb-controller-rbac-0";
const DEADLINE: Duration = Duration::from_secs(30);

fn chart_dir() -> std::path::PathBuf {
    ferrolb_tests::workspace_dir()
        .join("charts")
        .join("ferrolb")
}

fn stdout(out: Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Admin `kubectl get` with a jsonpath (or other `-o`) output.
fn get(lab: &Lab, args: &[&str]) -> String {
    stdout(
        lab.kubectl(args)
            .unwrap_or_else(|e| panic!("kubectl {args:?}: {e}")),
    )
}

/// The user a kubeconfig authenticates as, asked from inside the lab as its processes would.
fn whoami(lab: &Lab, kc: &TokenKubeconfig) -> String {
    let kubectl = lab.tool("kubectl");
    let out = lab
        .exec(
            "cp",
            &[
                kubectl.to_str().unwrap(),
                "--kubeconfig",
                kc.path.to_str().unwrap(),
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
        )
        .unwrap();
    assert!(
        out.status.success(),
        "auth whoami with {}: {}",
        kc.path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(out)
}

/// Lines of a component's log that show a refused request.
fn refusals(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.to_lowercase().contains("forbidden")
                || l.split(|c: char| !c.is_ascii_alphanumeric())
                    .any(|w| w == "403")
        })
        .collect()
}

fn service_yaml() -> String {
    let mut yaml = "apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: default}\n\
         spec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  ipFamilyPolicy: SingleStack\n  \
         ipFamilies: [IPv4]\n  selector: {app: web}\n  ports: [{port: 80, protocol: TCP}]\n\
         ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata:\n  name: web-1\n  namespace: default\n  labels: {kubernetes.io/service-name: web}\n\
         addressType: IPv4\nports: [{port: 80, protocol: TCP}]\nendpoints:\n"
        .to_owned();
    for i in 1..=3 {
        yaml.push_str(&format!(
            "- addresses: [10.244.{i}.5]\n  nodeName: node{i}\n  conditions: {{ready: true}}\n"
        ));
    }
    yaml
}

#[tokio::test]
async fn lab_controller_and_speakers_run_with_only_the_charts_service_account_tokens() {
    let lab = Lab::start(3).expect("lab");
    let chart = chart_dir();
    let pool_name = format!("pools[0].name={POOL}");
    let pool_range = format!("pools[0].addresses[0]={POOL_RANGE}");
    lab.helm(&[
        "install",
        RELEASE,
        chart.to_str().unwrap(),
        "-n",
        RELEASE_NS,
        "--create-namespace",
        "--set",
        &pool_name,
        "--set",
        &pool_range,
        "--set",
        "metrics.readers[0].kind=ServiceAccount",
        "--set",
        "metrics.readers[0].name=scraper",
        "--set",
        "metrics.readers[0].namespace=monitoring",
    ])
    .unwrap_or_else(|e| panic!("helm install: {e}"));
    // The L2Advertisement comes from values too.
    assert_eq!(
        get(
            &lab,
            &[
                "get",
                "l2advertisement",
                RELEASE,
                "-o",
                "jsonpath={.spec.ipAddressPools[0]}"
            ]
        ),
        POOL
    );

    let controller_kc = lab
        .token_kubeconfig(RELEASE_NS, "ferrolb-controller")
        .expect("controller token");
    // Each speaker's token is bound to a Pod on its node, as the kubelet's are.
    let speaker_kcs: BTreeMap<String, TokenKubeconfig> = lab
        .node_names()
        .into_iter()
        .map(|node| {
            let kc = lab
                .node_token_kubeconfig(RELEASE_NS, "ferrolb-speaker", &node)
                .expect("speaker token");
            (node, kc)
        })
        .collect();
    let speaker_kc = &speaker_kcs["node1"];
    // The kubeconfigs carry these identities and nothing else.
    assert_eq!(
        whoami(&lab, &controller_kc),
        format!("system:serviceaccount:{RELEASE_NS}:ferrolb-controller")
    );
    assert_eq!(
        whoami(&lab, speaker_kc),
        format!("system:serviceaccount:{RELEASE_NS}:ferrolb-speaker")
    );
    // The key the chart generated, as the DaemonSet would mount it.
    let key = get(
        &lab,
        &[
            "-n",
            RELEASE_NS,
            "get",
            "secret",
            "ferrolb-memberlist",
            "-o",
            "go-template={{.data.key | base64decode}}",
        ],
    );
    assert_eq!(key.len(), 32, "membership key {key:?}");

    let controller_bin = workspace_bin("ferrolb-controller");
    let controller_kc_path = controller_kc.path.display().to_string();
    let log_filter = ferrolb_tests::component_log_filter();
    let mut controller = lab
        .spawn(
            "cp",
            "controller-chart-rbac",
            &[
                controller_bin.to_str().unwrap(),
                "--leader-elect=true",
                "--lease-namespace",
                RELEASE_NS,
                "--identity",
                CONTROLLER_ID,
                "--metrics-addr",
                "127.0.0.1:0",
            ],
            &[
                ("KUBECONFIG", &controller_kc_path),
                ("RUST_LOG", log_filter.as_str()),
            ],
        )
        .expect("controller");
    let speaker_bin = workspace_bin("ferrolb-speaker");
    let mut speakers: BTreeMap<String, LabProcess> = BTreeMap::new();
    for node in lab.node_names() {
        let process = lab
            .spawn(
                &node,
                &format!("speaker-chart-rbac-{node}"),
                &[speaker_bin.to_str().unwrap()],
                &[
                    ("KUBECONFIG", &speaker_kcs[&node].path.display().to_string()),
                    ("NODE_NAME", node.as_str()),
                    ("FERROLB_MEMBERLIST_KEY", key.as_str()),
                    ("FERROLB_METRICS_ADDR", "127.0.0.1:7473"),
                    // As the chart's DaemonSet sets it (metrics.auth defaults to kubernetes).
                    ("FERROLB_METRICS_AUTH", "kubernetes"),
                    ("POD_NAMESPACE", RELEASE_NS),
                    ("RUST_LOG", log_filter.as_str()),
                ],
            )
            .expect("speaker");
        speakers.insert(node, process);
    }
    let mut cluster = Cluster { lab, speakers };
    let lab = &cluster.lab;

    lab.apply_yaml(&service_yaml(), &[])
        .expect("Service and EndpointSlice");

    // The controller allocated from the chart's pool and wrote the Service status.
    let allocated = wait_for("web to get an address", DEADLINE, || async {
        let out = lab
            .kubectl(&[
                "-n",
                "default",
                "get",
                "svc",
                "web",
                "-o",
                r#"jsonpath={.status.loadBalancer.ingress[0].ip}|{range .status.conditions[?(@.type=="ferrolb.io/Allocated")]}{.status}|{.message}{end}"#,
            ])
            .map_err(|e| e.to_string())?;
        let text = stdout(out);
        match text.split('|').collect::<Vec<_>>()[..] {
            [ip, "True", message] if !ip.is_empty() => Ok((ip.to_owned(), message.to_owned())),
            _ => Err(text),
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\ncontroller log:\n{}", controller.log()));
    let (vip, message) = allocated;
    assert_eq!(vip, "192.168.100.240", "the lowest address of the pool");
    assert!(
        message.contains(&format!("from pool {POOL}")),
        "Allocated: {message}"
    );

    // A speaker announced it (it read the nodes, pools, advertisement and EndpointSlices, and
    // wrote the condition).
    let owner = cluster.wait_owner("web", DEADLINE).await;
    let mac = get(
        lab,
        &[
            "get",
            "node",
            &owner,
            "-o",
            r#"jsonpath={.metadata.annotations.lab\.ferrolb\.io/mac}"#,
        ],
    )
    .to_lowercase();
    assert!(!mac.is_empty(), "node {owner} has no MAC annotation");
    let macs = cluster.arping(&vip, 3);
    assert!(!macs.is_empty(), "no ARP reply for {vip}");
    assert!(
        macs.iter().all(|m| *m == mac),
        "{owner} is {mac}, replies {macs:?}"
    );
    assert_eq!(cluster.curl(&vip, "2").as_deref(), Some(owner.as_str()));

    // The controller held its Lease in the release namespace and wrote the pool's status.
    let holder = get(
        lab,
        &[
            "-n",
            RELEASE_NS,
            "get",
            "lease",
            "ferrolb-controller",
            "-o",
            "jsonpath={.spec.holderIdentity}",
        ],
    );
    assert_eq!(holder, CONTROLLER_ID);
    // Each speaker renews a Lease of its own there.
    wait_for("a Lease per speaker", DEADLINE, || async {
        let out = lab
            .kubectl(&[
                "-n",
                RELEASE_NS,
                "get",
                "lease",
                "-l",
                "ferrolb.io/speaker-presence",
                "-o",
                "jsonpath={.items[*].spec.holderIdentity}",
            ])
            .map_err(|e| e.to_string())?;
        let text = stdout(out);
        if text.split(' ').count() == 3 {
            Ok(())
        } else {
            Err(text)
        }
    })
    .await
    .expect("speaker Leases");
    wait_for("the pool status to count web", DEADLINE, || async {
        let out = lab
            .kubectl(&[
                "get",
                "ipaddresspool",
                POOL,
                "-o",
                "jsonpath={.status.assignedIPv4}",
            ])
            .map_err(|e| e.to_string())?;
        let assigned = stdout(out);
        if assigned == "1" {
            Ok(())
        } else {
            Err(assigned)
        }
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\ncontroller log:\n{}", controller.log()));

    // Both wrote events.
    for reason in ["IPAllocated", "NodeAssigned"] {
        wait_for(&format!("a {reason} event"), DEADLINE, || async {
            let out = lab
                .kubectl(&[
                    "-n",
                    "default",
                    "get",
                    "events",
                    "--field-selector",
                    &format!("reason={reason}"),
                    "-o",
                    "name",
                ])
                .map_err(|e| e.to_string())?;
            let names = stdout(out);
            if names.trim().is_empty() {
                Err(names)
            } else {
                Ok(())
            }
        })
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    }

    // What a speaker's token may not do, whatever its RBAC allows: write another node's Lease
    // or the controller's, or change a Service's addresses or the controller's condition.
    let as_node1 = |args: &[&str]| -> (bool, String) {
        let kubectl = lab.tool("kubectl");
        let mut argv = vec![
            kubectl.to_str().unwrap(),
            "--kubeconfig",
            speaker_kc.path.to_str().unwrap(),
        ];
        argv.extend_from_slice(args);
        let out = lab.exec("cp", &argv).unwrap();
        let text = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text)
    };
    for lease in ["ferrolb-speaker-node2", "ferrolb-controller"] {
        let (ok, err) = as_node1(&[
            "-n",
            RELEASE_NS,
            "patch",
            "lease",
            lease,
            "--type=merge",
            "-p",
            r#"{"spec":{"holderIdentity":"node1"}}"#,
        ]);
        assert!(!ok, "node1's speaker wrote Lease {lease}");
        assert!(
            err.contains("may write only Lease ferrolb-speaker-node1"),
            "{lease}: {err}"
        );
    }
    let (ok, err) = as_node1(&[
        "-n",
        "default",
        "patch",
        "service",
        "web",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"loadBalancer":{"ingress":[{"ip":"192.168.100.249"}]}}}"#,
    ]);
    assert!(!ok, "node1's speaker rewrote the Service's address");
    assert!(
        err.contains("may change only the ferrolb.io/Announced condition"),
        "{err}"
    );
    let (ok, _) = as_node1(&["-n", RELEASE_NS, "get", "lease", "ferrolb-speaker-node1"]);
    assert!(ok, "node1's speaker may read its own Lease");
    assert_eq!(
        get(
            lab,
            &[
                "-n",
                "default",
                "get",
                "svc",
                "web",
                "-o",
                "jsonpath={.status.loadBalancer.ingress[0].ip}"
            ]
        ),
        vip
    );

    metrics_need_a_reader_token(lab).await;

    // Nobody was refused anything, and everybody is still running.
    assert!(
        controller.is_running(),
        "the controller exited:\n{}",
        controller.log()
    );
    let log = controller.log();
    assert!(
        refusals(&log).is_empty(),
        "the controller was refused:\n{}",
        refusals(&log).join("\n")
    );
    for (node, speaker) in &mut cluster.speakers {
        assert!(
            speaker.is_running(),
            "the speaker on {node} exited:\n{}",
            speaker.log()
        );
        let log = speaker.log();
        assert!(
            refusals(&log).is_empty(),
            "the speaker on {node} was refused:\n{}",
            refusals(&log).join("\n")
        );
    }
}

/// A speaker's `/metrics` (served as the chart configures it) answers only a token of the
/// ServiceAccount that `metrics.readers` bound; its health probes answer anyone. The speaker
/// reviews tokens with the rights the chart gave its own ServiceAccount.
async fn metrics_need_a_reader_token(lab: &Lab) {
    lab.apply_yaml(
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: monitoring}\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: scraper, namespace: monitoring}\n---\n\
         apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: stranger, namespace: monitoring}\n",
        &[],
    )
    .expect("scrapers");
    let reader = lab
        .token_kubeconfig("monitoring", "scraper")
        .expect("token");
    let stranger = lab
        .token_kubeconfig("monitoring", "stranger")
        .expect("token");
    let fetch = |path: &str, token: Option<&str>| -> (String, String) {
        let url = format!("https://127.0.0.1:7473{path}");
        let header = token.map(|t| format!("Authorization: Bearer {t}"));
        // The certificate is self-signed: what is checked is the token.
        let mut argv = vec!["curl", "-s", "-k", "-m", "5", "-w", "\n%{http_code}"];
        if let Some(h) = &header {
            argv.extend(["-H", h.as_str()]);
        }
        argv.push(&url);
        let out = lab.exec("node1", &argv).expect("curl");
        let text = stdout(out);
        let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
        (code.to_owned(), body.to_owned())
    };
    let (code, body) = fetch("/metrics", None);
    assert_eq!(code, "401", "no token: {body}");
    let (code, body) = fetch("/metrics", Some("not-a-token"));
    assert_eq!(code, "401", "a made-up token: {body}");
    let (code, body) = fetch("/metrics", Some(&stranger.token));
    assert_eq!(code, "403", "a token not bound to the reader role: {body}");
    assert!(
        body.contains("system:serviceaccount:monitoring:stranger may not get /metrics"),
        "{body}"
    );
    let (code, body) = fetch("/metrics", Some(&reader.token));
    assert_eq!(code, "200", "the reader's token: {body}");
    assert!(body.contains("ferrolb_speaker_"), "{body}");
    for probe in ["/healthz", "/readyz"] {
        let (code, body) = fetch(probe, None);
        assert_eq!(code, "200", "{probe} without a token: {body}");
    }
    // Plain HTTP gets no answer: a token is never sent in the clear.
    let url = "http://127.0.0.1:7473/healthz";
    let out = lab
        .exec(
            "node1",
            &[
                "curl",
                "-s",
                "-m",
                "5",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                url,
            ],
        )
        .expect("curl");
    assert_ne!(stdout(out), "200", "the endpoint answered plain HTTP");
}

#[test]
fn refusals_are_found_in_log_lines() {
    let log = "2025-11-22T05:22:03.403512Z  INFO ferrolb: started\n\
               WARN could not write: ApiError: services \"web\" is forbidden: User cannot patch\n\
               WARN list failed: code 403\n";
    assert_eq!(refusals(log).len(), 2, "{:?}", refusals(log));
}
