//! The reference of the allocation figure: a bare kube client writing the statuses the
//! controller would write. The benchmark re-runs its own binary inside the control-plane
//! namespace (`write-statuses`), with the controller's kubeconfig, so both take the same path to
//! the API server.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrolb_tests::Lab;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, Client};
use serde_json::json;

use crate::NS_REFERENCE;
use crate::services::{AddressWatch, create_services, service_name};

/// Where the reference writes its addresses (outside the pool: nothing else uses them).
const REFERENCE_FIRST_IP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 0);
/// A class the controller does not serve, so it never touches the reference's Services.
const REFERENCE_CLASS: &str = "bench.ferrolb.io/reference";
/// The field manager of the reference's writes.
const REFERENCE_MANAGER: &str = "ferrolb-bench-reference";
/// The hidden subcommand that runs the reference writer inside the lab.
pub(crate) const WRITE_STATUSES: &str = "write-statuses";

/// One timing of the reference.
pub(crate) struct ReferenceRun {
    /// The round it belongs to (from 1).
    pub(crate) round: usize,
    /// Writes in flight at once (0: all).
    pub(crate) concurrency: usize,
    /// From its start until a watch saw every address.
    pub(crate) seconds: f64,
    /// What the client itself measured from its first request to its last response.
    pub(crate) writes_seconds: Option<f64>,
}

/// `write-statuses <namespace> <count> <concurrency>`: one server-side-apply status write per
/// Service `s00000`.. on one client, `concurrency` at a time (0: all at once, as the
/// controller's reconciles are issued), then prints how long the writes took.
pub(crate) async fn reference_writer(args: &[String]) -> anyhow::Result<()> {
    let [ns, count, concurrency] = args else {
        bail!("usage: {WRITE_STATUSES} <namespace> <count> <concurrency>");
    };
    let count: usize = count.parse().context("count")?;
    let concurrency = match concurrency.parse().context("concurrency")? {
        0 => count.max(1),
        c => c,
    };
    let client = Client::try_default().await.context("client")?;
    let api: Api<Service> = Api::namespaced(client, ns);
    let params = PatchParams::apply(REFERENCE_MANAGER).force();
    let now = Timestamp::now().to_string();
    let start = Instant::now();
    let writes = (0..count).map(|i| {
        let (api, params) = (api.clone(), params.clone());
        let ip = reference_ip(i);
        let body = json!({
            "apiVersion": "v1",
            "kind": "Service",
            "status": {
                "loadBalancer": {"ingress": [{"ip": ip, "ipMode": "VIP"}]},
                "conditions": [{
                    "type": "ferrolb.io/Allocated",
                    "status": "True",
                    "reason": "Allocated",
                    "message": format!("{ip} from pool bench"),
                    "lastTransitionTime": now,
                    "observedGeneration": 1,
                }],
            },
        });
        async move {
            api.patch_status(&service_name(i), &params, &Patch::Apply(body))
                .await
        }
    });
    let results: Vec<_> = futures::stream::iter(writes)
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = start.elapsed();
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.err().map(|e| e.to_string()))
        .collect();
    if let Some(first) = failed.first() {
        bail!("{} of {count} writes failed, first: {first}", failed.len());
    }
    println!("wrote {count} statuses in {:.6} s", elapsed.as_secs_f64());
    Ok(())
}

pub(crate) fn reference_ip(i: usize) -> String {
    let base = u32::from(REFERENCE_FIRST_IP);
    Ipv4Addr::from(base + u32::try_from(i).unwrap_or(u32::MAX)).to_string()
}

/// Times a bare client writing `n` statuses `concurrency` at a time (0: all at once) on fresh
/// Services, from its start until a watch has seen every address; also returns the time the
/// client itself took for the writes. The Services are deleted afterwards.
pub(crate) async fn measure_reference(
    lab: &Lab,
    api: &Api<Service>,
    n: usize,
    concurrency: usize,
) -> anyhow::Result<(f64, Option<f64>)> {
    create_services(api, NS_REFERENCE, 0..n, Some(REFERENCE_CLASS)).await?;
    let watch = AddressWatch::start(api.clone(), n).await?;
    let exe = std::env::current_exe().context("current_exe")?;
    let exe = exe.to_string_lossy();
    let (count, concurrency) = (n.to_string(), concurrency.to_string());
    let kubeconfig = lab.kubeconfig_inlab().to_string_lossy().into_owned();
    let t0 = Instant::now();
    let mut writer = lab.spawn(
        "cp",
        "bench-reference-writer",
        &[&exe, WRITE_STATUSES, NS_REFERENCE, &count, &concurrency],
        &[("KUBECONFIG", &kubeconfig)],
    )?;
    let t1 = watch
        .finished("the reference's writes", Duration::from_secs(180))
        .await?;
    let (ok, log) = tokio::task::spawn_blocking(move || (writer.wait(), writer.log())).await?;
    if !ok {
        bail!("the reference writer failed:\n{log}");
    }
    let writes_s = log
        .lines()
        .find_map(|l| {
            l.strip_prefix("wrote ")?
                .split(" in ")
                .nth(1)?
                .strip_suffix(" s")
        })
        .and_then(|s| s.parse::<f64>().ok());
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .context("deleting the reference's Services")?;
    Ok(((t1 - t0).as_secs_f64(), writes_s))
}
