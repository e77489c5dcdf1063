//! The pool-edit figure: in a cluster full of Services, an edit of one small pool should cost
//! work for that pool's Services only. Measured: how many Services the controller reconciles
//! for the edit (its reconcile count), and how long until the Services whose addresses the edit
//! removed show new ones; the reference is the time a new Service needs to get an address from
//! the same controller in the same state.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrolb_crds::IPAddressPool;
use ferrolb_tests::objects::{ensure_namespace, mk_lb_service};
use ferrolb_tests::{Lab, LabProcess};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client};

use crate::process::reconciles;
use crate::services::AddressWatch;

const NS_EDIT: &str = "bench-pool-edit";
const POOL: &str = "edited";
/// Services of the edited pool; they fill its first range.
const MEMBERS: usize = 16;
const BEFORE: &str = "10.1.0.0/28";
/// The edit: the first four addresses go, four others come.
const AFTER: &str = "10.1.0.4-10.1.0.19";
const REMOVED: [&str; 4] = ["10.1.0.0", "10.1.0.1", "10.1.0.2", "10.1.0.3"];

/// What one pool edit cost.
pub(crate) struct PoolEdit {
    /// Services in the cluster.
    pub(crate) services: usize,
    /// Services of the edited pool.
    pub(crate) concerned: usize,
    /// Services whose addresses the edit removed.
    pub(crate) moved: usize,
    /// Reconciles the edit caused.
    pub(crate) reconciled: u64,
    /// Edit until the removed addresses were replaced in every status.
    pub(crate) moved_s: f64,
    /// Edit until the controller's reconcile count stopped moving.
    pub(crate) settled_s: f64,
    /// A new Service's time to an address in the same state.
    pub(crate) reference_s: f64,
}

/// Creates or changes a pool through the API (as the Services are), so both sides of the
/// comparison take the same path.
async fn apply_pool(client: &Client, name: &str, addresses: &str) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "apiVersion": "ferrolb.io/v1alpha1",
        "kind": "IPAddressPool",
        "metadata": {"name": name},
        "spec": {"autoAssign": false, "addresses": [addresses]},
    });
    Api::<IPAddressPool>::all(client.clone())
        .patch(
            name,
            &PatchParams::apply("ferrolb-bench").force(),
            &Patch::Apply(body),
        )
        .await
        .with_context(|| format!("applying pool {name}"))?;
    Ok(())
}

fn member(i: usize) -> Service {
    let mut svc = mk_lb_service(
        NS_EDIT,
        &format!("m{i:02}"),
        &[80],
        &[("ferrolb.io/address-pool", POOL)],
    );
    if let Some(spec) = svc.spec.as_mut() {
        spec.allocate_load_balancer_node_ports = Some(false);
    }
    svc
}

/// Waits until the controller's reconcile count has not moved for a second; returns the count
/// and when it last moved.
async fn settled(lab: &Lab, controller: &mut LabProcess) -> anyhow::Result<(u64, Instant)> {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut last = reconciles(lab).await.context("reading /metrics")?;
    let mut moved_at = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = reconciles(lab).await.context("reading /metrics")?;
        if now != last {
            (last, moved_at) = (now, Instant::now());
        } else if moved_at.elapsed() >= Duration::from_secs(1) {
            return Ok((last, moved_at));
        }
        if !controller.is_running() {
            bail!("the controller exited:\n{}", controller.log());
        }
        if Instant::now() > deadline {
            bail!("the controller kept reconciling for 180 s");
        }
    }
}

/// Creates the small pool and its Services next to `services` others, then edits the pool.
pub(crate) async fn pool_edit(
    lab: &Lab,
    client: &Client,
    controller: &mut LabProcess,
    services: usize,
) -> anyhow::Result<PoolEdit> {
    ensure_namespace(client, NS_EDIT).await;
    let api: Api<Service> = Api::namespaced(client.clone(), NS_EDIT);
    apply_pool(client, POOL, BEFORE).await?;
    let all = AddressWatch::start(api.clone(), MEMBERS).await?;
    for i in 0..MEMBERS {
        api.create(&PostParams::default(), &member(i))
            .await
            .with_context(|| format!("creating Service {NS_EDIT}/m{i:02}"))?;
    }
    all.finished("the edited pool's Services", Duration::from_secs(120))
        .await?;

    // Reference: one more Service of the pool, in the same state, until it has an address.
    let (c0, _) = settled(lab, controller).await?;
    // The pool is full: the reference Service uses a pool of its own.
    apply_pool(client, "reference", "10.2.0.0/30").await?;
    let (c_pool, _) = settled(lab, controller).await?;
    let one_more = AddressWatch::start(api.clone(), MEMBERS + 1).await?;
    let mut reference = mk_lb_service(
        NS_EDIT,
        "reference",
        &[80],
        &[("ferrolb.io/address-pool", "reference")],
    );
    if let Some(spec) = reference.spec.as_mut() {
        spec.allocate_load_balancer_node_ports = Some(false);
    }
    let t_ref = Instant::now();
    api.create(&PostParams::default(), &reference)
        .await
        .context("creating the reference Service")?;
    let reference_s = (one_more
        .finished("the reference Service", Duration::from_secs(60))
        .await?
        - t_ref)
        .as_secs_f64();
    let (c1, _) = settled(lab, controller).await?;

    // The edit.
    let moved = AddressWatch::until(api.clone(), MEMBERS + 1, |ips| {
        !ips.is_empty() && !ips.iter().any(|ip| REMOVED.contains(&ip.as_str()))
    })
    .await?;
    let t0 = Instant::now();
    apply_pool(client, POOL, AFTER).await?;
    let t_moved = moved
        .finished("the moved Services", Duration::from_secs(180))
        .await?;
    let (c2, last) = settled(lab, controller).await?;
    println!(
        "  (reconciles: {} for creating an unrelated pool, {} for creating one Service)",
        c_pool - c0,
        c1 - c_pool
    );
    Ok(PoolEdit {
        services: services + MEMBERS + 1,
        concerned: MEMBERS,
        moved: REMOVED.len(),
        reconciled: c2 - c1,
        moved_s: (t_moved - t0).as_secs_f64(),
        settled_s: (last.max(t_moved) - t0).as_secs_f64(),
        reference_s,
    })
}
