//! Shared state of the reconcile loop: caches, the allocator behind one lock, and the gate that
//! holds every decision back until the initial sync re-reserved what Services already have.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferrolb_crds::{IPAddressPool, L2Advertisement};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::Client;
use kube::runtime::events::Event;
use kube::runtime::reflector::Store;
use tokio::sync::{Mutex, Notify, mpsc, watch};

use crate::allocator::{Allocator, PoolError, ServiceKey};
use crate::metrics::Metrics;

/// The allocator and what the loop remembers next to it.
#[derive(Debug, Default)]
pub struct AllocState {
    /// Every allocation decision goes through this, one at a time.
    pub allocator: Allocator,
    /// Services waiting for an address; retried when addresses free up or pools change.
    pub pending: BTreeSet<ServiceKey>,
    /// Services whose address an operator removed from every pool by editing a pool: moved on
    /// their next reconcile. (A deleted or invalid pool never moves anything.)
    pub must_move: BTreeSet<ServiceKey>,
    /// Names of the pools applied to the allocator.
    pub pool_names: BTreeSet<String>,
    /// Pools whose current spec is invalid, with the reason.
    pub pool_errors: BTreeMap<String, PoolError>,
}

/// Everything a reconcile needs.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// All Services (the controller's own cache).
    pub services: Store<Service>,
    /// All pools.
    pub pools: Store<IPAddressPool>,
    /// All namespaces (for `namespaceSelectors`).
    pub namespaces: Store<Namespace>,
    /// All L2Advertisements (only their status is written here).
    pub advertisements: Store<L2Advertisement>,
    /// The allocator, serialised.
    pub state: Mutex<AllocState>,
    /// Becomes true once existing addresses are re-reserved; nothing is decided before.
    pub synced: watch::Receiver<bool>,
    /// Events to publish. One task publishes them in order, so a reconcile never waits for an
    /// event and events never hold back status writes.
    pub events: mpsc::UnboundedSender<(Event, ObjectReference)>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The `loadBalancerClass` served (none: the Services without a class).
    pub class: Option<String>,
    /// The `ipMode` written with every address.
    pub ip_mode: crate::status::IpMode,
    /// Rings when every Service should be looked at again (the initial sync, a re-list).
    pub retry_all: Notify,
    /// Rings when an address may have been freed: the pending Services are looked at again.
    pub retry_pending: Notify,
    /// Services to look at again (see `run::triggers`).
    pub retry_tx: mpsc::UnboundedSender<ServiceKey>,
    /// Rings when a pool's or an advertisement's status may have changed.
    pub status_changed: Notify,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("class", &self.class)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// Has these Services reconciled again.
    pub fn retry(&self, keys: impl IntoIterator<Item = ServiceKey>) {
        for key in keys {
            // Only fails once the controller is gone, that is while the process stops.
            let _ = self.retry_tx.send(key);
        }
    }

    /// Waits until the initial sync is done.
    pub async fn wait_synced(&self) {
        let mut rx = self.synced.clone();
        while !*rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}
