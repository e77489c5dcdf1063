//! The benchmark's lab: three nodes with a speaker each, a pool on the lab subnet for the
//! traffic figures and a pool off it, announced by node1 alone, for the memory figure.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrolb_crds::conditions::announcer;
use ferrolb_tests::{Lab, LabProcess, workspace_bin};

/// The membership key of the benchmark's speakers.
const KEY: &str = "ferrolb-bench-membership-key-0001";
/// The address the failover and ARP figures use (the lab's nodes serve HTTP on it).
pub const VIP: &str = "192.168.100.240";
/// The pool the memory figure fills: a /18 away from the lab subnet, so it is announced on the
/// interface the advertisement names.
pub const MEMORY_POOL: &str = "10.64.0.0/18";
/// The one node that announces the memory pool, so that one speaker owns all of it.
pub const MEMORY_NODE: &str = "node1";

/// A lab whose nodes each run a release speaker.
pub struct Cluster {
    /// The lab.
    pub lab: Lab,
    speakers: BTreeMap<String, LabProcess>,
    starts: u32,
}

impl Cluster {
    /// Starts the lab, installs the CRDs, both pools and their advertisements, and a speaker
    /// per node; returns once the membership group is whole.
    pub fn start() -> anyhow::Result<Cluster> {
        let lab = Lab::start(3).context("starting the lab")?;
        lab.install_crds().context("installing the CRDs")?;
        lab.apply_yaml(
            &format!(
                "apiVersion: ferrolb.io/v1alpha1
kind: IPAddressPool
metadata: {{name: lab}}
spec: {{addresses: [\"{VIP}/32\"]}}
---
apiVersion: ferrolb.io/v1alpha1
kind: L2Advertisement
metadata: {{name: lab}}
spec: {{ipAddressPools: [lab]}}
---
apiVersion: ferrolb.io/v1alpha1
kind: IPAddressPool
metadata: {{name: memory}}
spec: {{addresses: [\"{MEMORY_POOL}\"]}}
---
apiVersion: ferrolb.io/v1alpha1
kind: L2Advertisement
metadata: {{name: memory}}
spec:
  ipAddressPools: [memory]
  nodeSelectors: [{{matchLabels: {{kubernetes.io/hostname: {MEMORY_NODE}}}}}]
  interfaces: [eth0]
"
            ),
            &[],
        )
        .context("pools and advertisements")?;
        let mut cluster = Cluster {
            lab,
            speakers: BTreeMap::new(),
            starts: 0,
        };
        for node in cluster.lab.node_names() {
            cluster.start_speaker(&node)?;
        }
        cluster.wait_whole(Duration::from_secs(30))?;
        Ok(cluster)
    }

    /// Starts (or restarts) the speaker of `node`.
    pub fn start_speaker(&mut self, node: &str) -> anyhow::Result<()> {
        self.stop_speaker(node);
        self.starts += 1;
        let bin = workspace_bin("ferrolb-speaker");
        let kubeconfig = self.lab.kubeconfig_inlab().display().to_string();
        let log_filter = ferrolb_tests::component_log_filter();
        let process = self.lab.spawn(
            node,
            &format!("speaker-{node}-{}", self.starts),
            &[&bin.display().to_string()],
            &[
                ("KUBECONFIG", kubeconfig.as_str()),
                ("NODE_NAME", node),
                ("FERROLB_MEMBERLIST_KEY", KEY),
                ("RUST_LOG", log_filter.as_str()),
            ],
        )?;
        self.speakers.insert(node.to_owned(), process);
        Ok(())
    }

    /// Stops the speaker of `node` (SIGKILL), if it runs.
    pub fn stop_speaker(&mut self, node: &str) {
        if let Some(mut old) = self.speakers.remove(node) {
            old.kill();
        }
    }

    /// The running speaker of `node`.
    pub fn speaker(&mut self, node: &str) -> anyhow::Result<&mut LabProcess> {
        self.speakers
            .get_mut(node)
            .with_context(|| format!("no speaker on {node}"))
    }

    /// A gauge or the sum of a counter's samples from a node's speaker metrics; `None` when
    /// the endpoint does not answer.
    pub fn metric(&self, node: &str, name: &str) -> Option<f64> {
        let out = self
            .lab
            .exec(
                node,
                &[
                    "curl",
                    "-sf",
                    "--max-time",
                    "2",
                    "http://127.0.0.1:7473/metrics",
                ],
            )
            .ok()
            .filter(|o| o.status.success())?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let values: Vec<f64> = text
            .lines()
            .filter(|l| {
                l.strip_prefix(name)
                    .is_some_and(|r| r.starts_with(' ') || r.starts_with('{'))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .collect();
        (!values.is_empty()).then(|| values.iter().sum())
    }

    /// Waits until every speaker sees the whole group alive.
    pub fn wait_whole(&self, deadline: Duration) -> anyhow::Result<()> {
        let nodes = self.lab.node_names();
        let whole = nodes.len() as f64;
        poll(deadline, "every speaker to see the whole group", || {
            let alive: Vec<Option<f64>> = nodes
                .iter()
                .map(|n| self.metric(n, "ferrolb_speaker_members_alive"))
                .collect();
            if alive.iter().all(|a| *a == Some(whole)) {
                Ok(())
            } else {
                Err(format!("members alive per node: {alive:?}"))
            }
        })
    }

    /// The node the `ferrolb.io/Announced` condition of Service `name` names, if it is True.
    pub fn announcer(&self, namespace: &str, name: &str) -> Option<String> {
        let out = self
            .lab
            .kubectl(&[
                "get",
                "svc",
                name,
                "-n",
                namespace,
                "-o",
                r#"jsonpath={range .status.conditions[?(@.type=="ferrolb.io/Announced")]}{.status}|{.message}{end}"#,
            ])
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let message = text.strip_prefix("True|")?;
        announcer::parse(message).next().map(|a| a.node.to_owned())
    }

    /// The node whose HTTP backend the client reaches on `ip`, if any within a second.
    pub fn reached(&self, ip: &str) -> Option<String> {
        let out = self
            .lab
            .exec(
                "client",
                &["curl", "-s", "--max-time", "1", &format!("http://{ip}/")],
            )
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split(' ')
            .next()
            .filter(|n| !n.is_empty())
            .map(str::to_owned)
    }

    /// Waits for a steady state: the group whole, the condition naming an owner for Service
    /// `default/name`, and the client reaching that owner on `ip`. Returns the owner.
    pub fn settle(&self, name: &str, ip: &str, deadline: Duration) -> anyhow::Result<String> {
        let start = Instant::now();
        self.wait_whole(deadline)?;
        let rest = deadline.saturating_sub(start.elapsed());
        poll(rest, "the client to reach the announced owner", || {
            let owner = self.announcer("default", name);
            let reached = self.reached(ip);
            match (owner, reached) {
                (Some(o), Some(r)) if o == r => Ok(o),
                other => Err(format!("(announced, reached) = {other:?}")),
            }
        })
    }

    /// Writes `ip` to the status of Service `default/name`, as a controller would.
    pub fn write_ingress(&self, name: &str, ip: &str) -> anyhow::Result<()> {
        let status = format!(r#"{{"status":{{"loadBalancer":{{"ingress":[{{"ip":"{ip}"}}]}}}}}}"#);
        self.lab
            .patch_service_status("default", name, &status)
            .with_context(|| format!("the status of Service {name}"))?;
        Ok(())
    }

    /// The MAC of a host's eth0.
    pub fn mac(&self, host: &str) -> anyhow::Result<String> {
        let out = self
            .lab
            .exec(host, &["cat", "/sys/class/net/eth0/address"])?;
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// A sysctl of a host's namespace, read from `/proc/sys` inside it.
    pub fn sysctl(&self, host: &str, path: &str) -> anyhow::Result<u64> {
        let out = self
            .lab
            .exec(host, &["cat", &format!("/proc/sys/{path}")])?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.trim()
            .parse()
            .with_context(|| format!("{host}: /proc/sys/{path} = {text:?}"))
    }
}

/// Polls `check` every 50 ms until it holds or `deadline` passes; the error carries the last
/// observation.
pub fn poll<T>(
    deadline: Duration,
    what: &str,
    mut check: impl FnMut() -> Result<T, String>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        match check() {
            Ok(v) => return Ok(v),
            Err(last) if start.elapsed() >= deadline => {
                bail!("timed out after {deadline:?} waiting for {what}: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}
