//! MetalLB's controller, the reference: built from its Go module by
//! `tests/bench/build-metallb.sh` (nothing of MetalLB is part of ferrolb) and run as a process
//! in the control-plane namespace on the same API server, with its webhook off. It serves only
//! Services of its own `loadBalancerClass`, in a namespace of their own, from a pool of its
//! own, so it never competes with ferrolb's controller.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferrolb_tests::objects::ensure_namespace;
use ferrolb_tests::{Lab, LabProcess, bench};
use k8s_openapi::api::core::v1::Service;
use kube::api::{DeleteParams, ListParams};
use kube::{Api, Client};

use crate::services::{AddressWatch, create_services};

/// The class MetalLB's controller serves here.
const CLASS: &str = "bench.ferrolb.io/metallb";
const NAMESPACE: &str = "metallb-system";
/// Where MetalLB's Services live.
pub(crate) const NS_METALLB: &str = "bench-metallb";
/// MetalLB's pool: as large as ferrolb's, elsewhere.
const POOL: &str = "10.8.0.0/16";

/// What MetalLB's controller did with the same Services as ferrolb's.
pub(crate) struct Reference {
    /// The version measured.
    pub(crate) version: String,
    /// Start until every Service had an address, per round.
    pub(crate) seconds: Vec<f64>,
    /// Its resident set once the last round's Services had addresses.
    pub(crate) rss: u64,
}

/// Installs MetalLB's CRDs and pool, then for each round creates `n` Services of its class
/// before it starts, and times it until they all have an address.
pub(crate) async fn allocation(
    lab: &Lab,
    client: &Client,
    n: usize,
    rounds: usize,
) -> anyhow::Result<Reference> {
    let build = bench::metallb_build().map_err(anyhow::Error::msg)?;
    install(lab, &build)?;
    ensure_namespace(client, NS_METALLB).await;
    let api: Api<Service> = Api::namespaced(client.clone(), NS_METALLB);
    let mut seconds = Vec::new();
    let mut rss = 0;
    for round in 1..=rounds {
        api.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .context("deleting the previous round's Services")?;
        create_services(&api, NS_METALLB, 0..n, Some(CLASS)).await?;
        let watch = AddressWatch::start(api.clone(), n).await?;
        let t0 = Instant::now();
        let mut controller = start(lab, &build, round)?;
        let done = watch
            .finished("MetalLB's allocations", Duration::from_secs(300))
            .await
            .with_context(|| format!("MetalLB's controller log:\n{}", controller.log()))?;
        seconds.push((done - t0).as_secs_f64());
        rss = bench::rss_bytes(controller.pid()).unwrap_or(0);
        println!(
            "  MetalLB round {round}: {:.3} s, {:.1} MiB resident",
            (done - t0).as_secs_f64(),
            bench::mib(rss)
        );
        controller.kill();
    }
    api.delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .context("deleting MetalLB's Services")?;
    Ok(Reference {
        version: bench::metallb_version(),
        seconds,
        rss,
    })
}

fn install(lab: &Lab, build: &Path) -> anyhow::Result<()> {
    bench::install_metallb_crds(lab, build).context("installing MetalLB's CRDs")?;
    lab.apply_yaml(
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"),
        &[],
    )?;
    let pool = format!(
        "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {{name: bench, namespace: {NAMESPACE}}}\n\
         spec: {{addresses: [\"{POOL}\"]}}\n"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match lab.apply_yaml(&pool, &[]) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(anyhow::anyhow!("MetalLB's pool: {e}"));
            }
            // Its CRDs are not served yet.
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

fn start(lab: &Lab, build: &Path, round: usize) -> anyhow::Result<LabProcess> {
    let kubeconfig = lab.kubeconfig_inlab().display().to_string();
    let bin = build.join("bin").join("controller").display().to_string();
    lab.spawn(
        "cp",
        &format!("metallb-controller-{round}"),
        &[
            &bin,
            "--webhook-mode=disabled",
            "--lb-class",
            CLASS,
            "--port",
            "17476",
            "--log-level",
            "warn",
        ],
        &[
            ("KUBECONFIG", kubeconfig.as_str()),
            ("METALLB_NAMESPACE", NAMESPACE),
        ],
    )
    .context("starting MetalLB's controller")
}
