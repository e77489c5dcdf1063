//! The watches the controller keeps: a cache of every object of each kind it reads, streams that
//! say when a cache changed, and the Service watch that also reports deletions.

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use tokio::sync::{mpsc, watch};
use tracing::warn;

use crate::allocator::ServiceKey;
use crate::reconcile::key_of;
use crate::trim;

/// A change to a cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// One object, by name (cluster-scoped kinds), was created, changed or deleted.
    Object(String),
    /// A re-list completed: anything may have changed.
    Relisted,
}

/// When a cache's contents changed: on every live event, and once a re-list is complete (its
/// objects reach the store all together at `InitDone`, see [`live_change`]).
fn store_changed<K: ResourceExt>(
    ev: Result<watcher::Event<K>, watcher::Error>,
) -> Option<Result<Changed, watcher::Error>> {
    match ev {
        Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o)) => {
            Some(Ok(Changed::Object(o.name_any())))
        }
        Ok(watcher::Event::InitDone) => Some(Ok(Changed::Relisted)),
        Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
        Err(e) => Some(Err(e)),
    }
}

/// A cache of every object of a cluster-wide kind, and a stream that says what changed in it.
pub fn cache<K>(
    client: &Client,
) -> (
    Store<K>,
    impl Stream<Item = Result<Changed, watcher::Error>> + Send + use<K>,
)
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store::<K>();
    let events = reflector::reflector(
        writer,
        watcher(Api::<K>::all(client.clone()), watcher::Config::default()),
    )
    .backoff(ferrolb_crds::watch::backoff())
    .filter_map(|ev| std::future::ready(store_changed(ev)));
    (store, events)
}

/// What the Service watch tells the release task.
#[derive(Debug)]
pub enum Gone {
    /// A Service was deleted.
    Deleted(ServiceKey),
    /// The watch re-listed: Services deleted meanwhile are not in the store any more.
    Relisted,
}

/// What the Service controller is triggered by: live changes only.
///
/// During a re-list (after a watch expired, e.g. across an API server restart) kube's reflector
/// collects the listed objects aside and swaps them into the store only at `InitDone`, so an
/// object listed for the first time is not in the store yet when its `InitApply` arrives, and
/// the controller would drop its reconcile as "not found". Listed objects are therefore
/// reconciled all at once after the list is complete (initial sync and [`Gone::Relisted`]), and
/// deletions are handled by the release task.
fn live_change(
    ev: Result<watcher::Event<Service>, watcher::Error>,
) -> Option<Result<Service, watcher::Error>> {
    match ev {
        Ok(watcher::Event::Apply(svc)) => Some(Ok(svc)),
        Ok(_) => None,
        Err(e) => Some(Err(e)),
    }
}

/// The Service watch: its cache, the live changes that drive the controller, deletions and
/// re-lists for the release task, and a flag that turns true once the first list is in.
pub struct ServiceWatch<S> {
    /// Every Service, trimmed of what is never read.
    pub store: Store<Service>,
    /// Live changes, for the controller.
    pub live: S,
    /// Deletions and re-lists.
    pub gone: mpsc::UnboundedReceiver<Gone>,
    /// True once the Services are listed. (`Store::wait_until_ready` wakes only one waiter,
    /// and the controller is already one.)
    pub listed: watch::Receiver<bool>,
}

/// Watches every Service.
pub fn services(
    client: &Client,
) -> ServiceWatch<impl Stream<Item = Result<Service, watcher::Error>> + Send + use<>> {
    let (store, writer) = reflector::store::<Service>();
    let (gone_tx, gone) = mpsc::unbounded_channel::<Gone>();
    let (listed_tx, listed) = watch::channel(false);
    let live = reflector::reflector(
        writer,
        // managedFields are never read here, and they are most of a cached Service's memory.
        watcher(
            Api::<Service>::all(client.clone()),
            watcher::Config::default(),
        )
        .modify(trim::service),
    )
    .backoff(ferrolb_crds::watch::backoff())
    .inspect(move |ev| {
        let _ = match ev {
            Ok(watcher::Event::Delete(s)) => gone_tx.send(Gone::Deleted(key_of(s))),
            Ok(watcher::Event::InitDone) => {
                listed_tx.send_replace(true);
                gone_tx.send(Gone::Relisted)
            }
            Err(e) => {
                warn!(error = %e, "Service watch failed; retrying");
                Ok(())
            }
            _ => Ok(()),
        };
    })
    .filter_map(|ev| std::future::ready(live_change(ev)));
    ServiceWatch {
        store,
        live,
        gone,
        listed,
    }
}
