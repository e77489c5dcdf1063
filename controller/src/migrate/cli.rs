//! The `migrate-metallb` subcommand's edge: reads files (or the cluster), prints ferrolb YAML on
//! stdout and one warning per line on stderr.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use kube::core::TypeMeta;
use serde_json::Value;

use super::Conversion;

/// The MetalLB kinds read from a cluster: (version, kind, plural).
const METALLB_KINDS: [(&str, &str, &str); 6] = [
    ("v1beta1", "IPAddressPool", "ipaddresspools"),
    ("v1beta1", "L2Advertisement", "l2advertisements"),
    ("v1beta1", "BGPAdvertisement", "bgpadvertisements"),
    ("v1beta2", "BGPPeer", "bgppeers"),
    ("v1beta1", "BFDProfile", "bfdprofiles"),
    ("v1beta1", "Community", "communities"),
];

/// Where MetalLB keeps its legacy ConfigMap.
const LEGACY_NAMESPACE: &str = "metallb-system";
/// The legacy ConfigMap's name.
const LEGACY_NAME: &str = "config";

/// Runs `migrate-metallb`: converts the MetalLB objects in `files` (`-` is stdin), or, with no
/// files, those in the cluster of the current kubeconfig; prints the ferrolb YAML on stdout and
/// each warning on stderr.
pub fn run_cli(files: &[PathBuf]) -> anyhow::Result<()> {
    let conversion = if files.is_empty() {
        // A runtime of its own on a thread of its own, so this works whether or not the caller
        // is already inside a Tokio runtime.
        std::thread::scope(|s| {
            s.spawn(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .context("starting a runtime")?
                    .block_on(from_cluster())
            })
            .join()
            .map_err(|_| anyhow::anyhow!("reading MetalLB objects from the cluster panicked"))?
        })?
    } else {
        let mut input = String::new();
        for f in files {
            let text = if f.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("reading stdin")?;
                s
            } else {
                std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?
            };
            input.push_str("\n---\n");
            input.push_str(&text);
        }
        super::convert(&input)?
    };
    print(&conversion)
}

fn print(c: &Conversion) -> anyhow::Result<()> {
    let mut err = std::io::stderr().lock();
    for w in &c.warnings {
        writeln!(err, "warning: {w}")?;
    }
    if c.yaml.is_empty() {
        writeln!(
            err,
            "warning: nothing to convert: no MetalLB IPAddressPool, L2Advertisement or legacy ConfigMap found"
        )?;
    }
    std::io::stdout().lock().write_all(c.yaml.as_bytes())?;
    Ok(())
}

/// Every MetalLB object in the cluster, and the legacy ConfigMap if there is one.
async fn from_cluster() -> anyhow::Result<Conversion> {
    let client = kube::Client::try_default()
        .await
        .context("connecting to the cluster (set KUBECONFIG, or pass MetalLB YAML files)")?;
    let mut values: Vec<Value> = Vec::new();
    for (version, kind, plural) in METALLB_KINDS {
        let gvk = GroupVersionKind::gvk("metallb.io", version, kind);
        let ar = ApiResource::from_gvk_with_plural(&gvk, plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        let list = match api.list(&ListParams::default()).await {
            Ok(l) => l,
            // The CRD is not installed (MetalLB before v0.13, or without BGP kinds).
            Err(kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => return Err(e).with_context(|| format!("listing metallb.io {kind}s")),
        };
        for mut obj in list.items {
            obj.types = Some(TypeMeta {
                api_version: ar.api_version.clone(),
                kind: ar.kind.clone(),
            });
            values.push(serde_json::to_value(&obj)?);
        }
    }
    let cms: Api<ConfigMap> = Api::namespaced(client, LEGACY_NAMESPACE);
    if let Some(cm) = cms
        .get_opt(LEGACY_NAME)
        .await
        .with_context(|| format!("reading ConfigMap {LEGACY_NAMESPACE}/{LEGACY_NAME}"))?
    {
        let mut v = serde_json::to_value(&cm)?;
        v["apiVersion"] = "v1".into();
        v["kind"] = "ConfigMap".into();
        values.push(v);
    }
    Ok(super::convert_values(values)?)
}
