//! Start-up and the main loop: caches, the initial sync that re-reserves existing addresses,
//! leadership, and the Service controller.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context as _;
use ferrolb_crds::conditions::origin;
use ferrolb_crds::service::{ingress_ips, is_served};
use ferrolb_crds::{IPAddressPool, L2Advertisement};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::runtime::controller::Controller;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, watch};
use tracing::{debug, error, info, warn};

use crate::allocator::{ServiceClaim, ServiceKey};
use crate::config::RunArgs;
use crate::context::{AllocState, Context};
use crate::http::{self, Health};
use crate::leader::{self, LeaseConfig};
use crate::metrics::Metrics;
use crate::reconcile::{self, key_of};
use crate::{pool_status, pools, trim};

/// Reconciles under way at once. Each holds its own HTTP/1.1 connection while it writes, so an
/// unbounded burst of N Services opened N TLS connections (and kept their buffers in the idle
/// pool); this many already keep an API server busy.
const MAX_CONCURRENT_RECONCILES: u16 = 64;

/// How long a stopping controller lets reconciles under way finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A stream that yields once per notification (coalescing bursts).
fn notified(n: Arc<Context>, which: fn(&Context) -> &Notify) -> impl Stream<Item = ()> + Send {
    futures::stream::unfold(n, move |ctx| async move {
        which(&ctx).notified().await;
        Some(((), ctx))
    })
}

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

/// What the Service watch tells the release task.
#[derive(Debug)]
enum Gone {
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
/// reconciled all at once after the list is complete (initial sync and `Gone::Relisted`), and
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

/// When a cache's contents changed: on every live event, and once a re-list is complete (its
/// objects reach the store all together at `InitDone`, see `live_change`).
fn store_changed<K>(
    ev: Result<watcher::Event<K>, watcher::Error>,
) -> Option<Result<(), watcher::Error>> {
    match ev {
        Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => None,
        Ok(_) => Some(Ok(())),
        Err(e) => Some(Err(e)),
    }
}

/// A cache of every object of a cluster-wide kind, and a stream that yields when its contents
/// changed (see [`store_changed`]).
fn cache<K>(
    client: &Client,
) -> (
    Store<K>,
    impl Stream<Item = Result<(), watcher::Error>> + Send + use<K>,
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

/// Runs the controller until it is stopped or loses leadership.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to the API server")?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let health = Arc::new(Health {
        registry,
        ready: AtomicBool::new(false),
    });
    let server = tokio::spawn(http::serve(args.metrics_addr, health.clone()));

    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("ferrolb-controller-{}", std::process::id()));

    let (pools_store, pool_events) = cache::<IPAddressPool>(&client);
    let (ads_store, ad_events) = cache::<L2Advertisement>(&client);
    let (ns_store, ns_events) = cache::<Namespace>(&client);

    // Our own Service reflector, so deletions (which the controller never reconciles) release
    // their addresses.
    let (svc_store, svc_writer) = reflector::store::<Service>();
    let (gone_tx, mut gone_rx) = tokio::sync::mpsc::unbounded_channel::<Gone>();
    // Store::wait_until_ready wakes only one waiter, and the controller is already one: the
    // initial sync learns that Services are listed from the stream itself.
    let (svc_listed_tx, mut svc_listed_rx) = watch::channel(false);
    let svc_events = reflector::reflector(
        svc_writer,
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
                svc_listed_tx.send_replace(true);
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
    let controller = Controller::for_stream(svc_events, svc_store.clone()).with_config(
        kube::runtime::controller::Config::default().concurrency(MAX_CONCURRENT_RECONCILES),
    );
    let (synced_tx, synced_rx) = watch::channel(false);
    // Events go out one at a time, in order, behind the status writes: a burst of allocations
    // is bounded by the API server's status writes, not by twice as many requests.
    let (events_tx, mut events_rx) = tokio::sync::mpsc::unbounded_channel();
    let event_task = {
        let reporter = Reporter {
            controller: "ferrolb-controller".into(),
            instance: Some(identity.clone()),
        };
        let client = client.clone();
        tokio::spawn(async move {
            while let Some((ev, object)) = events_rx.recv().await {
                // A Recorder per event: kube's Recorder remembers every event it sent for six
                // minutes (to count repeats), megabytes after a burst of thousands of
                // allocations. Events are sent only when a Service's state changes, so there
                // are no repeats to count.
                let recorder = Recorder::new(client.clone(), reporter.clone());
                if let Err(e) = recorder.publish(&ev, &object).await {
                    let service = format!(
                        "{}/{}",
                        object.namespace.as_deref().unwrap_or_default(),
                        object.name.as_deref().unwrap_or_default()
                    );
                    warn!(service = %service, reason = %ev.reason, error = %e, "could not publish event");
                }
            }
        })
    };
    let ctx = Arc::new(Context {
        client: client.clone(),
        services: svc_store,
        pools: pools_store.clone(),
        namespaces: ns_store.clone(),
        advertisements: ads_store,
        state: Default::default(),
        synced: synced_rx,
        events: events_tx,
        metrics: metrics.clone(),
        class: args.load_balancer_class.clone(),
        ip_mode: args.ip_mode,
        retry_all: Notify::new(),
        status_changed: Notify::new(),
    });

    // Leadership: the caches fill while this replica waits for the Lease, and nothing is
    // written before it holds it (every write waits for the initial sync below).
    let (leading_tx, mut leading_rx) = watch::channel(false);

    // The initial sync: every cache complete, pools known, existing addresses re-reserved.
    let init = {
        let ctx = ctx.clone();
        let health = health.clone();
        tokio::spawn(async move {
            let (svcs, pls, nss) = (
                ctx.services.clone(),
                ctx.pools.clone(),
                ctx.namespaces.clone(),
            );
            let listed = svc_listed_rx.wait_for(|listed| *listed).await.map(|_| ());
            let ready = futures::future::join(pls.wait_until_ready(), nss.wait_until_ready()).await;
            if listed.is_err() {
                error!("the Service watch ended before it listed");
                return;
            }
            if let (Err(e), _) | (_, Err(e)) = ready {
                error!(error = %e, "a cache closed before it was ready");
                return;
            }
            // Ready means able to take over: a standby with complete caches is as ready as the
            // leader, so two replicas make an Available Deployment and a rolling update (whose
            // new Pod waits for the old one's Lease) can finish.
            health.set_ready();
            if leading_rx.wait_for(|leading| *leading).await.is_err() {
                return;
            }
            debug!("caches listed and leading; re-reserving existing addresses");
            {
                let mut st = ctx.state.lock().await;
                pools::apply(&mut st, &pls.state());
                reserve_existing(&mut st, &svcs, &nss, ctx.class.as_deref());
            }
            let _ = synced_tx.send(true);
            // Every listed Service, now that the store holds them all.
            ctx.retry_all.notify_one();
            ctx.status_changed.notify_one();
            info!("initial sync done");
        })
    };

    // Pool and namespace changes re-run every Service (pending ones may now fit).
    let pool_task = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(pool_events);
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
                // Our own pool status writes come back here too; they change nothing for
                // Services, and re-running every Service on each of them made a burst of
                // allocations quadratic.
                if changes.any() {
                    ctx.retry_all.notify_one();
                }
                ctx.status_changed.notify_one();
            }
        })
    };
    let ns_task = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(ns_events);
            while let Some(ev) = events.next().await {
                if ev.is_ok() && *ctx.synced.borrow() {
                    ctx.retry_all.notify_one();
                }
            }
        })
    };
    // Advertisements change nothing for allocation; only their own status is written.
    let ad_task = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut events = std::pin::pin!(ad_events);
            while let Some(ev) = events.next().await {
                match ev {
                    Ok(()) => ctx.status_changed.notify_one(),
                    Err(e) => warn!(error = %e, "L2Advertisement watch"),
                }
            }
        })
    };
    let status_task = tokio::spawn(pool_status::run(ctx.clone()));
    let release_task = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            while let Some(gone) = gone_rx.recv().await {
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
                }
                // Space freed, or a re-list whose objects the controller has not seen one by
                // one (see `live_change`): every Service is looked at again.
                if released > 0 || matches!(gone, Gone::Relisted) {
                    ctx.retry_all.notify_one();
                }
            }
        })
    };

    // SIGTERM or Ctrl-C: finish the reconciles under way, but never wait for longer than
    // SHUTDOWN_GRACE (a reconcile may still be waiting for the initial sync).
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => None } } => {},
        }
        info!("stopping");
        let _ = stop_tx.send(true);
    });
    let stop = {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let stop_deadline = {
        let mut rx = stop_rx.clone();
        let leading = leading_tx.subscribe();
        async move {
            let _ = rx.wait_for(|s| *s).await;
            // A standby has nothing under way: its reconciles wait for a sync that only
            // leadership starts, so it stops at once.
            if *leading.borrow() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
            }
        }
    };
    let runner = controller
        .reconcile_all_on(notified(ctx.clone(), |c| &c.retry_all))
        .graceful_shutdown_on(stop)
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|_| async {});

    let mut leadership = None;
    let lead = async {
        if !args.leader_elect {
            let _ = leading_tx.send(true);
            return std::future::pending().await;
        }
        let cfg = LeaseConfig {
            namespace: args.lease_namespace.clone(),
            name: args.lease_name.clone(),
            identity: identity.clone(),
            duration: Duration::from_secs(args.lease_seconds),
        };
        info!(identity = %identity, lease = %format!("{}/{}", cfg.namespace, cfg.name), "standing by for leadership");
        let held = leader::acquire(client.clone(), &cfg)
            .await
            .context("acquiring the leader lease")?;
        info!(identity = %identity, "became leader");
        let _ = leading_tx.send(true);
        leadership.insert(held).lost().await;
        Err(anyhow::anyhow!(
            "lost leadership; exiting so a standby takes over"
        ))
    };
    let outcome = tokio::select! {
        () = runner => Ok(()),
        () = stop_deadline => {
            warn!("reconciles did not finish within {SHUTDOWN_GRACE:?}; stopping anyway");
            Ok(())
        }
        r = lead => r,
        r = server => Err(anyhow::anyhow!("the metrics endpoint stopped: {r:?}")),
    };
    for t in [
        init,
        pool_task,
        ns_task,
        ad_task,
        status_task,
        release_task,
        event_task,
    ] {
        t.abort();
    }
    if let Some(l) = leadership {
        l.release().await;
    }
    outcome
}
