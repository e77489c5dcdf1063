//! Caches of the objects the plan reads, kept current by watches on the API server.

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use ferrolb_crds::{IPAddressPool, L2Advertisement};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use super::plan::Snapshot;
use super::trim;

/// The caches, each filled by its own watch.
#[derive(Clone)]
pub struct Stores {
    services: Store<Service>,
    slices: Store<EndpointSlice>,
    nodes: Store<Node>,
    pools: Store<IPAddressPool>,
    ads: Store<L2Advertisement>,
    changed: Arc<Notify>,
}

/// A cache stopped before it was filled (its watch ended).
#[derive(Debug, thiserror::Error)]
#[error("a watch ended before its initial list")]
pub struct NotReady(#[source] pub reflector::store::WriterDropped);

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
    /// Starts the watches.
    pub fn start(client: &Client) -> Stores {
        let changed = Arc::new(Notify::new());
        Stores {
            services: watch(Api::all(client.clone()), changed.clone(), trim::service),
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
        self.services.wait_until_ready().await.map_err(NotReady)?;
        self.slices.wait_until_ready().await.map_err(NotReady)?;
        self.nodes.wait_until_ready().await.map_err(NotReady)?;
        self.pools.wait_until_ready().await.map_err(NotReady)?;
        self.ads.wait_until_ready().await.map_err(NotReady)?;
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

    /// One Service by namespace and name.
    pub fn service(&self, namespace: &str, name: &str) -> Option<Arc<Service>> {
        self.services
            .get(&reflector::ObjectRef::new(name).within(namespace))
    }

    /// Everything the plan reads, as of now.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            services: self.services.state(),
            slices: self.slices.state(),
            nodes: self.nodes.state(),
            pools: self.pools.state(),
            ads: self.ads.state(),
        }
    }
}
