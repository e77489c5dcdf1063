//! The controller process: its watches ([`watches`]), the initial sync that re-reserves
//! existing addresses ([`sync`]), leadership ([`crate::leader`]), the Service controller with
//! the triggers that decide which Services to look at again ([`triggers`]), event publishing
//! ([`events`]) and the operations endpoint ([`ferrolb_crds::ops::endpoint`]).

pub mod events;
pub mod shutdown;
pub mod statuses;
pub mod sync;
pub mod triggers;
pub mod watches;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferrolb_crds::ops::endpoint::{self, Health};
use ferrolb_crds::{IPAddressPool, L2Advertisement};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::runtime::controller::Controller;
use prometheus_client::registry::Registry;
use tokio::sync::{Notify, mpsc, watch};
use tracing::warn;

pub use sync::reserve_existing;

use crate::config::RunArgs;
use crate::context::Context;
use crate::leader::{self, LeaseConfig};
use crate::metrics::Metrics;
use crate::reconcile;

/// Reconciles under way at once. Each holds its own HTTP/1.1 connection while it writes, so an
/// unbounded burst of N Services opened N TLS connections (and kept their buffers in the idle
/// pool); this many already keep an API server busy.
const MAX_CONCURRENT_RECONCILES: u16 = 64;

/// A stream that yields once per notification (coalescing bursts).
fn notified(n: Arc<Context>, which: fn(&Context) -> &Notify) -> impl Stream<Item = ()> + Send {
    futures::stream::unfold(n, move |ctx| async move {
        which(&ctx).notified().await;
        Some(((), ctx))
    })
}

/// Runs the controller until it is stopped or loses leadership.
pub async fn run(args: RunArgs) -> anyhow::Result<()> {
    let client = Client::try_default()
        .await
        .context("connecting to the API server")?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    // Ready means able to take over (see `sync::initial_sync`).
    let health = Arc::new(Health::new(registry, "caches not synced"));
    let server = tokio::spawn(endpoint::serve(
        args.metrics_addr,
        health.clone(),
        args.metrics_auth.reviewer(&client),
    ));

    let identity = args
        .identity
        .clone()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| format!("ferrolb-controller-{}", std::process::id()));

    let (pools_store, pool_events) = watches::cache::<IPAddressPool>(&client);
    let (ads_store, ad_events) = watches::cache::<L2Advertisement>(&client);
    let (ns_store, ns_events) = watches::cache::<Namespace>(&client);
    let services = watches::services(&client);
    let controller = Controller::for_stream(services.live, services.store.clone()).with_config(
        kube::runtime::controller::Config::default().concurrency(MAX_CONCURRENT_RECONCILES),
    );
    let (synced_tx, synced_rx) = watch::channel(false);
    let (events_tx, event_task) = events::publisher(client.clone(), identity.clone());
    let (retry_tx, retry_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Context {
        client: client.clone(),
        services: services.store,
        pools: pools_store,
        namespaces: ns_store,
        advertisements: ads_store,
        state: Default::default(),
        synced: synced_rx,
        events: events_tx,
        metrics: metrics.clone(),
        class: args.load_balancer_class.clone(),
        ip_mode: args.ip_mode,
        retry_all: Notify::new(),
        retry_pending: Notify::new(),
        retry_tx,
        status_changed: Notify::new(),
    });

    // Leadership: the caches fill while this replica waits for the Lease, and nothing is
    // written before it holds it (every write waits for the initial sync).
    let (leading_tx, leading_rx) = watch::channel(false);
    let leader_gauge = {
        let mut leading = leading_tx.subscribe();
        let metrics = metrics.clone();
        async move {
            loop {
                metrics.leader.set(i64::from(*leading.borrow_and_update()));
                if leading.changed().await.is_err() {
                    return;
                }
            }
        }
    };
    let tasks = [
        tokio::spawn(leader_gauge),
        tokio::spawn(sync::initial_sync(
            ctx.clone(),
            health.clone(),
            services.listed,
            leading_rx,
            synced_tx,
        )),
        tokio::spawn(triggers::pools(ctx.clone(), pool_events)),
        tokio::spawn(triggers::namespaces(ctx.clone(), ns_events)),
        tokio::spawn(triggers::advertisements(ctx.clone(), ad_events)),
        tokio::spawn(triggers::releases(ctx.clone(), services.gone)),
        tokio::spawn(triggers::pending(ctx.clone())),
        tokio::spawn(statuses::run(ctx.clone())),
        event_task,
    ];

    let stop = shutdown::on_signal();
    let runner = controller
        .reconcile_all_on(notified(ctx.clone(), |c| &c.retry_all))
        .reconcile_on(triggers::stream(retry_rx))
        .graceful_shutdown_on(shutdown::requested(stop.clone()))
        .run(reconcile::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|_| async {});

    let lease = args.leader_elect.then(|| LeaseConfig {
        namespace: args.lease_namespace.clone(),
        name: args.lease_name.clone(),
        identity: identity.clone(),
        duration: Duration::from_secs(args.lease_seconds),
    });
    let mut leadership = None;
    let outcome = tokio::select! {
        () = runner => Ok(()),
        () = shutdown::deadline(stop, leading_tx.subscribe()) => {
            warn!("reconciles did not finish within {:?}; stopping anyway", shutdown::GRACE);
            Ok(())
        }
        r = leader::lead(client.clone(), lease, &leading_tx, &mut leadership) => r,
        r = server => Err(anyhow::anyhow!("the metrics endpoint stopped: {r:?}")),
    };
    for t in tasks {
        t.abort();
    }
    if let Some(l) = leadership {
        l.release().await;
    }
    outcome
}
