//! Caches of the objects the plan reads, kept current by watches on the API server.

use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;
use std::sync::{Arc, PoisonError, RwLock};

use ferrolb_crds::{IPAddressPool, L2Advertisement};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::{Notify, watch as signal};

use super::plan::Snapshot;
use super::service::{ServiceRef, ServiceView, WatchedService, key};
use super::trim;

/// The caches, each filled by its own watch.
#[derive(Clone)]
pub struct Stores {
    services: Services,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    pools: Store<IPAddressPool>,
    ads: Store<L2Advertisement>,
    changed: Arc<Notify>,
}

/// A cache stopped before it was filled (its watch ended).
#[derive(Debug, thiserror::Error)]
#[error("the {0} watch ended before its initial list")]
pub struct NotReady(pub &'static str);

/// The Services ferrolb serves that hold an address, as [`ServiceView`]s by `namespace/name`.
///
/// Not a kube reflector: that keeps whole objects, and its keys repeat each one's name,
/// namespace, UID and resource version.
#[derive(Clone)]
struct Services {
    map: Arc<RwLock<HashMap<ServiceRef, Arc<ServiceView>>>>,
    ready: signal::Receiver<bool>,
}

impl Services {
    fn start(api: Api<WatchedService>, class: Option<String>, changed: Arc<Notify>) -> Services {
        let map = Arc::new(RwLock::new(HashMap::new()));
        let (ready_tx, ready) = signal::channel(false);
        let services = Services {
            map: map.clone(),
            ready,
        };
        let stream =
            watcher(api, watcher::Config::default()).backoff(ferrolb_crds::watch::backoff());
        tokio::spawn(async move {
            futures::pin_mut!(stream);
            // A list (the first, or again after the watch expired) is gathered apart and replaces
            // the cache once complete, so a pass never sees half a list.
            let mut listing: Option<HashMap<ServiceRef, Arc<ServiceView>>> = None;
            let mut pool_names = std::collections::HashSet::new();
            while let Some(event) = stream.next().await {
                let mut project = |svc: &WatchedService| {
                    let mut view = ServiceView::project(&svc.0, class.as_deref())?;
                    view.share_names(&mut pool_names);
                    Some(view)
                };
                let changed_now = match event {
                    Ok(watcher::Event::Init) => {
                        listing = Some(HashMap::new());
                        false
                    }
                    Ok(watcher::Event::InitApply(svc)) => {
                        if let (Some(list), Some(view)) = (listing.as_mut(), project(&svc)) {
                            list.insert(view.key.clone(), Arc::new(view));
                        }
                        false
                    }
                    Ok(watcher::Event::InitDone) => {
                        let list = listing.take().unwrap_or_default();
                        *map.write().unwrap_or_else(PoisonError::into_inner) = list;
                        ready_tx.send_replace(true);
                        true
                    }
                    Ok(watcher::Event::Apply(svc)) => {
                        let mut map = map.write().unwrap_or_else(PoisonError::into_inner);
                        match project(&svc) {
                            // A change the speaker does not read (ports, labels) is no change.
                            Some(view) if map.get(&view.key).is_some_and(|v| **v == view) => false,
                            Some(view) => {
                                map.insert(view.key.clone(), Arc::new(view));
                                true
                            }
                            None => map.remove(&key(&svc.0)).is_some(),
                        }
                    }
                    Ok(watcher::Event::Delete(svc)) => map
                        .write()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&key(&svc.0))
                        .is_some(),
                    Err(e) => {
                        tracing::warn!(kind = "Service", error = %e, "watch failed; retrying");
                        false
                    }
                };
                if changed_now {
                    changed.notify_one();
                }
            }
        });
        services
    }

    async fn wait_until_ready(&self) -> Result<(), NotReady> {
        let mut ready = self.ready.clone();
        ready
            .wait_for(|r| *r)
            .await
            .map(|_| ())
            .map_err(|_| NotReady("Service"))
    }

    fn get(&self, key: &str) -> Option<Arc<ServiceView>> {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    /// Every view, by key.
    fn state(&self) -> Vec<Arc<ServiceView>> {
        let mut all: Vec<Arc<ServiceView>> = self
            .map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        all.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        all
    }
}

fn watch<K>(api: Api<K>, changed: Arc<Notify>, trim: fn(&mut K)) -> Store<K>
where
    K: Resource + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
{
    let (reader, writer) = reflector::store();
    // The caches keep what the speaker reads, not whole objects (see `trim`).
    let trimmed = watcher(api, watcher::Config::default()).modify(trim);
    let stream = reflector::reflector(writer, trimmed).backoff(ferrolb_crds::watch::backoff());
    tokio::spawn(async move {
        futures::pin_mut!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(_) => changed.notify_one(),
                Err(e) => tracing::warn!(
                    kind = %K::kind(&K::DynamicType::default()),
                    error = %e,
                    "watch failed; retrying"
                ),
            }
        }
    });
    reader
}

impl Stores {
    /// Starts the watches; Services are kept when they belong to `class` (see
    /// [`ServiceView::project`]).
    pub fn start(client: &Client, class: Option<String>) -> Stores {
        let changed = Arc::new(Notify::new());
        Stores {
            services: Services::start(Api::all(client.clone()), class, changed.clone()),
            slices: watch(
                Api::all(client.clone()),
                changed.clone(),
                trim::endpoint_slice,
            ),
            nodes: watch(Api::all(client.clone()), changed.clone(), trim::node),
            pools: watch(Api::all(client.clone()), changed.clone(), |p| {
                trim::bookkeeping(&mut p.metadata)
            }),
            ads: watch(Api::all(client.clone()), changed.clone(), |a| {
                trim::bookkeeping(&mut a.metadata)
            }),
            changed,
        }
    }

    /// Waits until every cache holds its initial list.
    pub async fn wait_until_ready(&self) -> Result<(), NotReady> {
        self.services.wait_until_ready().await?;
        let kind = |k: &'static str| move |_| NotReady(k);
        self.slices
            .wait_until_ready()
            .await
            .map_err(kind("EndpointSlice"))?;
        self.nodes.wait_until_ready().await.map_err(kind("Node"))?;
        self.pools
            .wait_until_ready()
            .await
            .map_err(kind("IPAddressPool"))?;
        self.ads
            .wait_until_ready()
            .await
            .map_err(kind("L2Advertisement"))?;
        Ok(())
    }

    /// Wakes when any cached object changes.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// The Nodes.
    pub fn nodes(&self) -> Vec<Arc<Node>> {
        self.nodes.state()
    }

    /// The interfaces some L2Advertisement lists by name.
    pub fn listed_interfaces(&self) -> std::collections::BTreeSet<String> {
        self.ads
            .state()
            .iter()
            .flat_map(|a| a.spec.interfaces.iter().cloned())
            .collect()
    }

    /// One Service by `namespace/name`, if ferrolb serves it and it holds an address.
    pub fn service(&self, key: &str) -> Option<Arc<ServiceView>> {
        self.services.get(key)
    }

    /// Everything the plan reads, as of now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            services: self.services.state(),
            slices: self.slices.state(),
            nodes: self.nodes.state(),
            pools: self.pools.state(),
            deleted_pools: Vec::new(),
            ads: self.ads.state(),
            cordoned_hand_over: false,
        }
    }
}
