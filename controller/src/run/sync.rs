//! The initial sync: once every cache is listed and this replica leads, re-reserve every
//! address Services already have before anything new is decided, so a restart never changes an
//! address.

use std::net::IpAddr;
use std::sync::Arc;

use ferrolb_crds::conditions::origin;
use ferrolb_crds::service::{ingress_ips, is_served};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::ResourceExt;
use kube::runtime::reflector::{self, Store};
use tokio::sync::watch;
use tracing::{debug, error, info, warn};

use crate::allocator::ServiceClaim;
use crate::context::{AllocState, Context};
use crate::pools;
use crate::reconcile::key_of;
use ferrolb_crds::ops::endpoint::Health;

/// Re-reserves every address already in a Service status, oldest Service first, before anything
/// new is allocated: a restart never changes an address.
pub fn reserve_existing(
    st: &mut AllocState,
    services: &Store<Service>,
    namespaces: &Store<Namespace>,
    class: Option<&str>,
) {
    let mut svcs: Vec<_> = services
        .state()
        .into_iter()
        .filter(|s| is_served(s, class) && !ingress_ips(s).is_empty())
        .collect();
    svcs.sort_by(|a, b| {
        let t = |s: &Service| s.metadata.creation_timestamp.as_ref().map(|t| t.0);
        t(a).cmp(&t(b)).then_with(|| key_of(a).cmp(&key_of(b)))
    });
    // Services whose request cannot be read go last: they then join the holders of their
    // addresses instead of pushing their sharing partners out.
    let claims: Vec<(Arc<Service>, Option<ServiceClaim>)> = svcs
        .into_iter()
        .map(|svc| {
            let ns_labels = namespaces
                .get(&reflector::ObjectRef::new(&key_of(&svc).namespace))
                .map(|n| n.labels().clone())
                .unwrap_or_default();
            let claim = ServiceClaim::from_service(&svc, &ns_labels).ok();
            (svc, claim)
        })
        .collect();
    let (readable, unreadable): (Vec<_>, Vec<_>) =
        claims.into_iter().partition(|(_, c)| c.is_some());
    let mut kept = 0usize;
    for (svc, claim) in readable.into_iter().chain(unreadable) {
        let key = key_of(&svc);
        let ips = ingress_ips(&svc);
        // A Service whose annotations no longer parse still keeps what it has.
        let claim = claim.unwrap_or_else(|| st.allocator.unreadable_claim(key.clone(), &ips));
        let said = crate::status::current_condition(&svc).map_or("", |c| c.message.as_str());
        let named: Vec<(IpAddr, &str)> = origin::parse(said).collect();
        match st.allocator.assign_existing(&claim, &ips, &named) {
            Ok(_) => kept += 1,
            Err(e) => warn!(service = %key, ips = ?ips, error = %e,
                "cannot keep the address in its status; it will be reassigned"),
        }
    }
    info!(services = kept, "re-reserved existing addresses");
}

/// Waits for the caches and for leadership, re-reserves existing addresses, then opens the gate
/// (`synced`) and has every Service looked at.
pub async fn initial_sync(
    ctx: Arc<Context>,
    health: Arc<Health>,
    mut services_listed: watch::Receiver<bool>,
    mut leading: watch::Receiver<bool>,
    synced: watch::Sender<bool>,
) {
    let (svcs, pls, nss) = (
        ctx.services.clone(),
        ctx.pools.clone(),
        ctx.namespaces.clone(),
    );
    let listed = services_listed.wait_for(|l| *l).await.map(|_| ());
    let ready = futures::future::join(pls.wait_until_ready(), nss.wait_until_ready()).await;
    if listed.is_err() {
        error!("the Service watch ended before it listed");
        return;
    }
    if let (Err(e), _) | (_, Err(e)) = ready {
        error!(error = %e, "a cache closed before it was ready");
        return;
    }
    // Ready means able to take over: a standby with complete caches is as ready as the leader,
    // so two replicas make an Available Deployment and a rolling update (whose new Pod waits
    // for the old one's Lease) can finish.
    health.set_ready(true);
    if leading.wait_for(|l| *l).await.is_err() {
        return;
    }
    debug!("caches listed and leading; re-reserving existing addresses");
    {
        let mut st = ctx.state.lock().await;
        pools::apply(&mut st, &pls.state());
        reserve_existing(&mut st, &svcs, &nss, ctx.class.as_deref());
    }
    let _ = synced.send(true);
    // Every listed Service, now that the store holds them all.
    ctx.retry_all.notify_one();
    ctx.status_changed.notify_one();
    info!("initial sync done");
}
