//! Which Services to look at again when something other than the Service changes: the fan-out.
//!
//! A pool change concerns the Services holding an address inside that pool (before or after the
//! change) and the pending ones; a namespace change, that namespace's Services; a freed address,
//! the pending ones. Only a re-list, where anything may have changed, looks at every Service.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::watches::{Changed, Gone};
use crate::allocator::ServiceKey;
use crate::context::Context;
use crate::pools;

/// The stream of Services to reconcile again, for the controller.
pub fn stream(
    mut rx: mpsc::UnboundedReceiver<ServiceKey>,
) -> impl Stream<Item = ObjectRef<Service>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
        .map(|k: ServiceKey| ObjectRef::new(&k.name).within(&k.namespace))
}

/// Pool changes: applied to the allocator, then the Services they concern are reconciled.
pub async fn pools(ctx: Arc<Context>, events: impl Stream<Item = Result<Changed, watcher::Error>>) {
    let mut events = std::pin::pin!(events);
    while let Some(ev) = events.next().await {
        if let Err(e) = ev {
            warn!(error = %e, "pool watch");
            continue;
        }
        if !*ctx.synced.borrow() {
            continue;
        }
        let changes = {
            let mut st = ctx.state.lock().await;
            pools::apply(&mut st, &ctx.pools.state())
        };
        // Our own pool status writes come back here too; they change nothing for Services.
        if changes.any() {
            info!(
                services = changes.affected.len(),
                "pools changed; reconciling the Services they concern"
            );
            ctx.retry(changes.affected);
        }
        ctx.status_changed.notify_one();
    }
}

/// Namespace changes (labels, for `namespaceSelectors`): that namespace's Services.
pub async fn namespaces(
    ctx: Arc<Context>,
    events: impl Stream<Item = Result<Changed, watcher::Error>>,
) {
    let mut events = std::pin::pin!(events);
    while let Some(ev) = events.next().await {
        if !*ctx.synced.borrow() {
            continue;
        }
        match ev {
            Ok(Changed::Object(ns)) => {
                let keys: Vec<ServiceKey> = {
                    let st = ctx.state.lock().await;
                    let pending = st
                        .pending
                        .range(ServiceKey::new(ns.as_str(), "")..)
                        .take_while(|k| k.namespace == ns);
                    st.allocator
                        .services_in_namespace(&ns)
                        .chain(pending)
                        .cloned()
                        .collect()
                };
                ctx.retry(keys);
            }
            Ok(Changed::Relisted) => ctx.retry_all.notify_one(),
            Err(e) => warn!(error = %e, "Namespace watch"),
        }
    }
}

/// Advertisements change nothing for allocation; only their own status is written.
pub async fn advertisements(
    ctx: Arc<Context>,
    events: impl Stream<Item = Result<Changed, watcher::Error>>,
) {
    let mut events = std::pin::pin!(events);
    while let Some(ev) = events.next().await {
        match ev {
            Ok(_) => ctx.status_changed.notify_one(),
            Err(e) => warn!(error = %e, "L2Advertisement watch"),
        }
    }
}

/// Deleted Services give their addresses back; the pending Services may then fit.
pub async fn releases(ctx: Arc<Context>, mut gone: mpsc::UnboundedReceiver<Gone>) {
    while let Some(gone) = gone.recv().await {
        if !*ctx.synced.borrow() {
            continue;
        }
        let keys: Vec<ServiceKey> = match &gone {
            Gone::Deleted(key) => vec![key.clone()],
            Gone::Relisted => {
                let st = ctx.state.lock().await;
                st.allocator
                    .service_keys()
                    .filter(|k| {
                        ctx.services
                            .get(&reflector::ObjectRef::new(&k.name).within(&k.namespace))
                            .is_none()
                    })
                    .cloned()
                    .collect()
            }
        };
        let mut released = 0;
        {
            let mut st = ctx.state.lock().await;
            for key in &keys {
                st.pending.remove(key);
                st.must_move.remove(key);
                let ips = st.allocator.release(key);
                if !ips.is_empty() {
                    released += 1;
                    info!(service = %key, ips = ?ips, "released: the Service was deleted");
                }
            }
        }
        if released > 0 {
            ctx.metrics.releases.inc_by(released);
            ctx.status_changed.notify_one();
            ctx.retry_pending.notify_one();
        }
        // A re-list whose objects the controller has not seen one by one (see
        // `watches::live_change`): every Service is looked at again.
        if matches!(gone, Gone::Relisted) {
            ctx.retry_all.notify_one();
        }
    }
}

/// Pending Services, each time an address may have been freed.
pub async fn pending(ctx: Arc<Context>) {
    loop {
        ctx.retry_pending.notified().await;
        let keys: Vec<ServiceKey> = ctx.state.lock().await.pending.iter().cloned().collect();
        ctx.retry(keys);
    }
}
