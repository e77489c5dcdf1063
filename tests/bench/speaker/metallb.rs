//! MetalLB's speaker, the reference: built from its Go module by `tests/bench/build-metallb.sh`
//! (nothing of MetalLB is part of ferrolb) and run as processes in the same node namespaces as
//! ferrolb's speakers, on the same API server, announcing an address of its own.
//!
//! What MetalLB's speaker needs outside a real cluster: its CRDs, a Pod object per speaker (in
//! its namespace, with the labels it finds its peers by, the node's name, and `status.podIP`
//! written through the status subresource), a memberlist key file, and a Service with ready
//! endpoints. It serves only Services of its own `loadBalancerClass` here, and ferrolb only
//! Services without one, so each announces its own address. Its memberlist and metrics use
//! other ports than ferrolb's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferrolb_tests::{Lab, LabProcess};

use crate::cluster::{Cluster, poll};
use crate::failover::Fleet;

/// The address MetalLB announces (the lab's nodes serve HTTP on it too).
pub const VIP: &str = "192.168.100.241";
/// MetalLB's Service.
pub const SERVICE: &str = "web-metallb";
/// The class MetalLB serves here.
const CLASS: &str = "bench.ferrolb.io/metallb";
const NAMESPACE: &str = "metallb-system";
const LABELS: &str = "app=metallb,component=speaker";
/// MetalLB's memberlist port (ferrolb's speakers use 7946 on the same nodes).
const ML_PORT: &str = "7947";
/// MetalLB's metrics port.
const METRICS_PORT: &str = "7472";

/// MetalLB's build (see [`ferrolb_tests::bench::metallb_build`]).
pub fn build() -> anyhow::Result<PathBuf> {
    ferrolb_tests::bench::metallb_build().map_err(anyhow::Error::msg)
}

/// MetalLB's speakers on the lab's nodes, next to ferrolb's.
pub struct MetalLb<'a> {
    cluster: &'a Cluster,
    bin: PathBuf,
    key_dir: PathBuf,
    speakers: BTreeMap<String, LabProcess>,
    starts: u32,
}

impl<'a> MetalLb<'a> {
    /// Installs MetalLB's CRDs and configuration, its Service and a speaker per node.
    pub fn start(cluster: &'a Cluster, build: &Path) -> anyhow::Result<MetalLb<'a>> {
        let lab = &cluster.lab;
        ferrolb_tests::bench::install_metallb_crds(lab, build)
            .context("installing MetalLB's CRDs")?;
        let mut yaml = format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n---\n\
             apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: speaker, namespace: {NAMESPACE}}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: {SERVICE}, namespace: default}}\n\
             spec:\n  type: LoadBalancer\n  loadBalancerClass: {CLASS}\n  ipFamilyPolicy: SingleStack\n  \
             ipFamilies: [IPv4]\n  selector: {{app: {SERVICE}}}\n  ports: [{{port: 80, protocol: TCP}}]\n---\n\
             apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata:\n  name: {SERVICE}-1\n  namespace: default\n  labels: {{kubernetes.io/service-name: {SERVICE}}}\n\
             addressType: IPv4\nports: [{{port: 80, protocol: TCP}}]\nendpoints:\n"
        );
        for (i, node) in lab.node_names().iter().enumerate() {
            yaml.push_str(&format!(
                "- addresses: [10.244.{n}.5]\n  nodeName: {node}\n  conditions: {{ready: true}}\n",
                n = i + 1
            ));
        }
        lab.apply_yaml(&yaml, &[])
            .context("MetalLB's namespace and Service")?;
        // Its configuration, once its CRDs are served.
        let config = format!(
            "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: bench, namespace: {NAMESPACE}}}\n\
             spec: {{addresses: [\"{VIP}/32\"], autoAssign: false}}\n---\n\
             apiVersion: metallb.io/v1beta1\nkind: L2Advertisement\nmetadata: {{name: bench, namespace: {NAMESPACE}}}\n\
             spec: {{ipAddressPools: [bench]}}\n"
        );
        poll(
            Duration::from_secs(30),
            "MetalLB's CRDs to be served",
            || lab.apply_yaml(&config, &[]).map_err(|e| e.to_string()),
        )?;
        cluster.write_ingress(SERVICE, VIP)?;
        // A Pod object per speaker: MetalLB finds its memberlist peers by their Pod IPs.
        for node in lab.node_names() {
            let pod = format!("speaker-{node}");
            lab.apply_yaml(
                &format!(
                    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {pod}\n  namespace: {NAMESPACE}\n  \
                     labels: {{app: metallb, component: speaker}}\nspec:\n  nodeName: {node}\n  \
                     serviceAccountName: speaker\n  hostNetwork: true\n  \
                     containers: [{{name: speaker, image: lab.invalid/metallb-speaker}}]\n"
                ),
                &[],
            )
            .with_context(|| format!("Pod {pod}"))?;
            let ip = Lab::host_ipv4(&node);
            lab.kubectl(&[
                "patch",
                "pod",
                &pod,
                "-n",
                NAMESPACE,
                "--subresource=status",
                "--type=merge",
                "-p",
                &format!(
                    r#"{{"status":{{"phase":"Running","podIP":"{ip}","podIPs":[{{"ip":"{ip}"}}],"hostIP":"{ip}"}}}}"#
                ),
            ])
            .with_context(|| format!("Pod {pod} status"))?;
        }
        let key_dir = lab.dir().join("metallb-memberlist");
        std::fs::create_dir_all(&key_dir)?;
        std::fs::write(
            key_dir.join("secretkey"),
            "ferrolb-bench-metallb-memberlist-key",
        )?;
        let mut fleet = MetalLb {
            cluster,
            bin: build.join("bin").join("speaker"),
            key_dir,
            speakers: BTreeMap::new(),
            starts: 0,
        };
        for node in lab.node_names() {
            fleet.start_speaker(&node)?;
        }
        Ok(fleet)
    }

    fn start_speaker(&mut self, node: &str) -> anyhow::Result<()> {
        if let Some(mut old) = self.speakers.remove(node) {
            old.kill();
        }
        self.starts += 1;
        let lab = &self.cluster.lab;
        let kubeconfig = lab.kubeconfig_inlab().display().to_string();
        let ip = Lab::host_ipv4(node);
        let pod = format!("speaker-{node}");
        let key_dir = self.key_dir.display().to_string();
        let process = lab.spawn(
            node,
            &format!("metallb-speaker-{node}-{}", self.starts),
            &[
                &self.bin.display().to_string(),
                "--port",
                METRICS_PORT,
                "--lb-class",
                CLASS,
                "--log-level",
                "info",
            ],
            &[
                ("KUBECONFIG", kubeconfig.as_str()),
                ("METALLB_NODE_NAME", node),
                ("METALLB_POD_NAME", pod.as_str()),
                ("METALLB_NAMESPACE", NAMESPACE),
                ("METALLB_HOST", ip.as_str()),
                ("METALLB_ML_BIND_ADDR", ip.as_str()),
                ("METALLB_ML_BIND_PORT", ML_PORT),
                ("METALLB_ML_LABELS", LABELS),
                ("METALLB_ML_SECRET_KEY_PATH", key_dir.as_str()),
            ],
        )?;
        self.speakers.insert(node.to_owned(), process);
        Ok(())
    }

    /// The process ID of a node's MetalLB speaker.
    pub fn pid(&self, node: &str) -> Option<u32> {
        Some(self.speakers.get(node)?.pid())
    }

    /// The resident set of a node's MetalLB speaker.
    pub fn rss(&self, node: &str) -> Option<u64> {
        ferrolb_tests::bench::rss_bytes(self.speakers.get(node)?.pid())
    }
}

impl Fleet for MetalLb<'_> {
    fn vip(&self) -> &'static str {
        VIP
    }

    /// MetalLB says which node announces only in events and its own status objects; the client
    /// is the judge here: it must reach one node ten times in a row, half a second apart, with
    /// every speaker running.
    fn settle(&self, deadline: Duration) -> anyhow::Result<String> {
        let start = Instant::now();
        let mut streak: Option<(String, u32)> = None;
        loop {
            let reached = self.cluster.reached(VIP);
            streak = match (streak, reached) {
                (Some((node, n)), Some(r)) if node == r => Some((node, n + 1)),
                (_, Some(r)) => Some((r, 1)),
                (_, None) => None,
            };
            if let Some((node, n)) = &streak
                && *n >= 10
            {
                return Ok(node.clone());
            }
            if start.elapsed() > deadline {
                bail!("MetalLB did not settle within {deadline:?} (last: {streak:?})");
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn signal(&mut self, node: &str, signal: &str) -> anyhow::Result<()> {
        self.speakers
            .get(node)
            .with_context(|| format!("no MetalLB speaker on {node}"))?
            .signal(signal);
        Ok(())
    }

    fn is_running(&mut self, node: &str) -> bool {
        self.speakers.get_mut(node).is_some_and(|s| s.is_running())
    }

    fn restart(&mut self, node: &str) -> anyhow::Result<()> {
        self.start_speaker(node)
    }

    fn cluster(&self) -> &Cluster {
        self.cluster
    }
}

impl Drop for MetalLb<'_> {
    fn drop(&mut self) {
        for s in self.speakers.values_mut() {
            s.kill();
        }
    }
}
