//! A lab with a speaker on every node, and the probes the speaker suites look through: ARP
//! from the client, HTTP to the address, the Service condition and each speaker's metrics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrolb_crds::conditions::{announcer, origin};
use ferrolb_tests::{Lab, LabProcess, wait_for};

/// The membership key of the lab's speakers.
pub const KEY: &str = "ferrolb-lab-membership-key-0001";
/// The pool every speaker suite uses (both families; the lab's nodes accept traffic for both).
pub const POOL: &str = r#""192.168.100.240-192.168.100.249", "fd00:100::240-fd00:100::249""#;

/// Speaker suites run one at a time: each starts its own lab and times failovers, which other
/// labs starting on the same two cores would distort.
pub static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A lab whose nodes each run a speaker.
pub struct Cluster {
    /// The running speakers, by node (or host) name. Declared first so that they stop (and,
    /// after a failure, print their logs) before the lab and its log directory go away.
    pub speakers: BTreeMap<String, LabProcess>,
    /// The lab.
    pub lab: Lab,
}

impl Cluster {
    /// Starts a lab, installs the CRDs, a pool and an L2Advertisement (`advertisement` is its
    /// spec as YAML, `{}` for every pool and node), and a speaker per node.
    pub fn start(advertisement: &str) -> Cluster {
        let mut cluster = Cluster::without_speakers(advertisement);
        for node in cluster.lab.node_names() {
            cluster.spawn_speaker(&node, &node, KEY);
        }
        cluster
    }

    /// [`Cluster::start`] without the speakers, for suites that start them their own way.
    pub fn without_speakers(advertisement: &str) -> Cluster {
        let lab = Lab::start(3).expect("lab");
        lab.install_crds().expect("crds");
        lab.apply_yaml(
            &format!(
                "apiVersion: ferrolb.io/v1alpha1\nkind: IPAddressPool\nmetadata: {{name: lab}}\nspec: {{addresses: [{POOL}]}}\n---\napiVersion: ferrolb.io/v1alpha1\nkind: L2Advertisement\nmetadata: {{name: lab}}\nspec: {advertisement}\n"
            ),
            &[],
        )
        .expect("pool and advertisement");
        Cluster {
            lab,
            speakers: BTreeMap::new(),
        }
    }

    /// Starts a speaker for `node` in `host`'s namespace with `key`.
    pub fn spawn_speaker(&mut self, host: &str, node: &str, key: &str) {
        self.spawn_speaker_with(host, node, ("FERROLB_MEMBERLIST_KEY", key));
    }

    /// Starts a speaker for `node` in its own namespace with its keys read from `file` (one
    /// per line), as from a mounted Secret.
    pub fn spawn_speaker_with_key_file(&mut self, node: &str, file: &std::path::Path) {
        let file = file.display().to_string();
        self.spawn_speaker_with(node, node, ("FERROLB_MEMBERLIST_KEY_FILE", &file));
    }

    fn spawn_speaker_with(&mut self, host: &str, node: &str, key: (&str, &str)) {
        let bin = ferrolb_tests::workspace_bin("ferrolb-speaker");
        let kubeconfig = self.lab.kubeconfig_inlab().display().to_string();
        let log_filter = ferrolb_tests::component_log_filter();
        let process = self
            .lab
            .spawn(
                host,
                &format!("speaker-{node}"),
                &[&bin.display().to_string()],
                &[
                    ("KUBECONFIG", kubeconfig.as_str()),
                    ("NODE_NAME", node),
                    key,
                    // Only the node-health suite cordons nodes.
                    ("FERROLB_CORDONED_NODES_HAND_OVER", "true"),
                    ("RUST_LOG", log_filter.as_str()),
                ],
            )
            .expect("speaker");
        self.speakers.insert(node.to_owned(), process);
    }

    /// Runs `argv` in `host`'s namespace; fails the test if it fails.
    pub fn run(&self, host: &str, argv: &[&str]) {
        let out = self.lab.exec(host, argv).expect("exec");
        assert!(
            out.status.success(),
            "{host}: {argv:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs a Python `script` in `host`'s namespace (raw frames and datagrams no command-line
    /// tool sends); fails the test if it fails.
    pub fn python(&self, host: &str, script: &str) {
        self.run(host, &["python3", "-c", script]);
    }

    /// Runs `script` with `sh -c` in `host`'s namespace; fails the test if it fails.
    pub fn sh(&self, host: &str, script: &str) {
        self.run(host, &["sh", "-c", script]);
    }

    /// Runs `ip -n <the lab's network namespace> args` (the bridge and the switch side of each
    /// host's link); fails the test if it fails.
    pub fn ip_net(&self, args: &[&str]) {
        ferrolb_tests::run(
            std::process::Command::new("ip")
                .args(["-n", &self.lab.netns("net")])
                .args(args),
        )
        .unwrap_or_else(|e| panic!("{e}"));
    }

    /// The MAC of a host's eth0.
    pub fn mac(&self, host: &str) -> String {
        self.mac_of(host, "eth0")
    }

    /// The MAC of a host's `interface`.
    pub fn mac_of(&self, host: &str, interface: &str) -> String {
        let out = self
            .lab
            .exec(
                host,
                &["cat", &format!("/sys/class/net/{interface}/address")],
            )
            .expect("mac");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// The Announced message of a Service answered by `node` on `interface`.
    pub fn announced_by(&self, node: &str, interface: &str) -> String {
        announcer::words(node, interface, Some(&self.mac_of(node, interface)))
    }

    /// Creates a LoadBalancer Service `name` in `default` and writes `ip` to its status, as the
    /// controller would: the address and the `ferrolb.io/Allocated` condition naming pool `lab`.
    pub fn service(&self, name: &str, ip: &str, local: bool) {
        self.service_in(name, ip, local, "lab");
    }

    /// [`Cluster::service`] with an address from `pool`.
    pub fn service_from(&self, name: &str, ip: &str, pool: &str) {
        self.service_in(name, ip, false, pool);
    }

    fn service_in(&self, name: &str, ip: &str, local: bool, pool: &str) {
        let policy = if local { "Local" } else { "Cluster" };
        let family = if ip.contains(':') { "IPv6" } else { "IPv4" };
        self.lab
            .apply_yaml(
                &format!(
                    "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: {policy}\n  ipFamilyPolicy: SingleStack\n  ipFamilies: [{family}]\n  ports: [{{port: 80, protocol: TCP}}]\n"
                ),
                &[],
            )
            .expect("service");
        let allocated = serde_json::json!({
            "type": ferrolb_crds::conditions::SERVICE_ALLOCATED,
            "status": "True",
            "reason": "Allocated",
            "message": origin::from_pool(ip.parse().expect("address"), pool),
            "lastTransitionTime": "2026-01-01T00:00:00Z",
        });
        let status = serde_json::json!({"status": {
            "loadBalancer": {"ingress": [{"ip": ip}]},
            "conditions": [allocated],
        }})
        .to_string();
        self.lab
            .patch_service_status("default", name, &status)
            .expect("service status");
    }

    /// The Service's `ferrolb.io/Announced` condition as `(status, reason, message)`.
    pub fn announced(&self, name: &str) -> Option<(String, String, String)> {
        let out = self
            .lab
            .kubectl(&[
                "get",
                "svc",
                name,
                "-n",
                "default",
                "-o",
                r#"jsonpath={range .status.conditions[?(@.type=="ferrolb.io/Announced")]}{.status}|{.reason}|{.message}{end}"#,
            ])
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let mut parts = text.splitn(3, '|').map(str::to_owned);
        Some((parts.next()?, parts.next()?, parts.next()?))
    }

    /// Waits until the condition is True and returns the node it names.
    pub async fn wait_owner(&self, name: &str, deadline: Duration) -> String {
        wait_for(
            "the Announced condition to name a node",
            deadline,
            || async {
                match self.announced(name) {
                    Some((status, _, message)) if status == "True" => {
                        let node = announcer::parse(&message).next().map(|a| a.node.to_owned());
                        node.ok_or(Some((status, message)))
                    }
                    other => Err(other.map(|(s, _, m)| (s, m))),
                }
            },
        )
        .await
        .expect("owner")
    }

    /// Kills the speaker of `owner` (SIGKILL) and waits until the client reaches `ip` on
    /// another node; returns that node and how long it took.
    pub async fn kill_and_fail_over(&mut self, owner: &str, ip: &str) -> (String, Duration) {
        let killed = Instant::now();
        self.speakers
            .get_mut(owner)
            .expect("speaker")
            .signal("KILL");
        self.wait_reached_elsewhere(ip, owner, killed, Duration::from_secs(10))
            .await
    }

    /// Waits until `mac` alone answers ARP for `ip`.
    pub async fn wait_answered_by(&self, ip: &str, mac: &str, deadline: Duration) {
        wait_for("the expected MAC to answer", deadline, || async {
            match self.arping(ip, 1).as_slice() {
                [m] if m == mac => Ok(()),
                other => Err(other.to_vec()),
            }
        })
        .await
        .expect("answered");
    }

    /// Replaces a Node's status conditions with `conditions` (`(type, status)` pairs), as a
    /// kubelet would write them.
    pub fn set_node_conditions(&self, node: &str, conditions: &[(&str, &str)]) {
        let conditions: Vec<serde_json::Value> = conditions
            .iter()
            .map(|(type_, status)| {
                serde_json::json!({
                    "type": type_, "status": status, "reason": "Lab", "message": "set by the test",
                    "lastHeartbeatTime": "2026-01-01T00:00:00Z",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                })
            })
            .collect();
        let patch = serde_json::json!({"status": {"conditions": conditions}}).to_string();
        self.lab
            .kubectl(&[
                "patch",
                "node",
                node,
                "--subresource=status",
                "--type=merge",
                "-p",
                &patch,
            ])
            .expect("node status");
    }

    /// Waits until the node the Service's condition names is the one that answers ARP for
    /// `ip` (alone), and returns it.
    pub async fn wait_answering_owner(&self, name: &str, ip: &str) -> String {
        wait_for(
            "the named owner to answer",
            Duration::from_secs(30),
            || async {
                let owner = self.wait_owner(name, Duration::from_secs(10)).await;
                let macs = self.arping(ip, 1);
                if macs == [self.mac(&owner)] {
                    Ok(owner)
                } else {
                    Err((owner, macs))
                }
            },
        )
        .await
        .expect("owner answering")
    }

    /// The MACs that answered `arping -c count` for `ip` from the client.
    pub fn arping(&self, ip: &str, count: u32) -> Vec<String> {
        let out = self
            .lab
            .exec(
                "client",
                &[
                    "arping",
                    "-c",
                    &count.to_string(),
                    "-w",
                    "400000",
                    "-i",
                    "eth0",
                    ip,
                ],
            )
            .expect("arping");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once("bytes from ")?.1.split(' ').next())
            .map(str::to_lowercase)
            .collect()
    }

    /// Sends one gratuitous ARP from the client claiming `ip` (as a misconfigured or
    /// malicious host would).
    pub fn claim(&self, ip: &str) {
        self.lab
            .exec(
                "client",
                &[
                    "arping", "-U", "-c", "1", "-w", "100000", "-i", "eth0", "-S", ip, ip,
                ],
            )
            .expect("arping -U");
    }

    /// The MAC that answered a neighbour solicitation for `ip` from the client, if any.
    pub fn ndisc(&self, ip: &str) -> Option<String> {
        let out = self
            .lab
            .exec(
                "client",
                &["ndisc6", "-n", "-r", "2", "-w", "400", ip, "eth0"],
            )
            .expect("ndisc6");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("Target link-layer address: "))
            .map(|m| m.trim().to_lowercase())
    }

    /// The node that answers HTTP on `ip` from the client, if any within `timeout_s`.
    pub fn curl(&self, ip: &str, timeout_s: &str) -> Option<String> {
        let out = self
            .lab
            .exec(
                "client",
                &[
                    "curl",
                    "-s",
                    "--max-time",
                    timeout_s,
                    &if ip.contains(':') {
                        format!("http://[{ip}]/")
                    } else {
                        format!("http://{ip}/")
                    },
                ],
            )
            .ok()?;
        let body = String::from_utf8_lossy(&out.stdout);
        body.split(' ')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    }

    /// Waits until the client reaches `ip` on a node other than `not`, and returns the node
    /// and how long it took from `since`.
    pub async fn wait_reached_elsewhere(
        &self,
        ip: &str,
        not: &str,
        since: Instant,
        deadline: Duration,
    ) -> (String, Duration) {
        let node = wait_for("the client to reach another node", deadline, || async {
            match self.curl(ip, "0.2") {
                Some(node) if node != not => Ok(node),
                other => Err(other),
            }
        })
        .await
        .expect("failover");
        (node, since.elapsed())
    }

    /// A host's speaker metrics (text exposition).
    pub fn metrics(&self, host: &str) -> String {
        let out = self
            .lab
            .exec(
                host,
                &[
                    "curl",
                    "-s",
                    "--max-time",
                    "2",
                    "http://127.0.0.1:7473/metrics",
                ],
            )
            .expect("metrics");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The sum of a metric's samples whose line contains every one of `filters`.
    pub fn metric_sum(&self, host: &str, name: &str, filters: &[&str]) -> f64 {
        self.metrics(host)
            .lines()
            .filter(|l| l.starts_with(name) && filters.iter().all(|f| l.contains(f)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}
