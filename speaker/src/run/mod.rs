//! The speaker process: API watches, membership, packet sockets, status writes, and the loop
//! that turns them into announcements, until SIGTERM.

mod addresses;
mod links;
mod presence;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use kube::{Client, ResourceExt};
use prometheus_client::registry::Registry;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::{mpsc, watch};

use crate::config::{Cli, KeyError, KeySource};
use crate::election::NodeName;
use crate::membership::envelope::KeyRing;
use crate::membership::group::{self as swim, GroupView, SwimError, SwimSetup};
use crate::membership::quorum::{self, StandDown};
use crate::metrics::Metrics;
use crate::socket::{LinkEvent, SharedTable};
use crate::status::{self, Desired};
use crate::view::advertisements::Advertisements;
use crate::view::objects::{internal_ip, membership_addrs};
use crate::view::plan::{Liveness, plan};
use crate::view::pools::DeletedPools;
use crate::view::store::{NotReady, Stores};
use crate::wire::MacAddr;
use ferrolb_crds::ops::endpoint::{Health, serve};
use presence::Presence;

use addresses::Addresses;
use links::{Links, start_scanner};

/// How long a stopping speaker keeps answering after it left the group, so its successor's
/// takeover reaches the neighbours before this node goes quiet.
pub const HANDOVER: Duration = Duration::from_millis(300);
/// How often gratuitous announcements are checked and the membership seeds refreshed.
const RESCAN: Duration = Duration::from_millis(500);
/// Interfaces are scanned on every change the kernel reports (a lost carrier included), and
/// at the latest this often.
const SCAN_AT_LEAST_EVERY: Duration = Duration::from_secs(10);
/// The shortest time between two passes over the Services, unless membership changed.
const MIN_PASS_GAP: Duration = Duration::from_millis(50);
/// How long to wait for this node's Node object to show an InternalIP.
const NODE_WAIT: Duration = Duration::from_secs(120);

/// Why the speaker stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No usable membership key.
    #[error("membership key")]
    Key(#[from] KeyError),
    /// No Kubernetes client configuration.
    #[error("Kubernetes client")]
    Client(#[source] kube::Error),
    /// A cache never filled.
    #[error("initial sync")]
    Sync(#[from] NotReady),
    /// The Node object never showed an InternalIP.
    #[error("node {0} has no InternalIP after {NODE_WAIT:?}")]
    NoInternalIp(String),
    /// The membership socket could not start.
    #[error("membership")]
    Swim(#[from] SwimError),
    /// Installing the signal handler failed.
    #[error("signal handler")]
    Signal(#[source] std::io::Error),
}

async fn own_address(stores: &Stores, node: &NodeName) -> Result<IpAddr, RunError> {
    let changed = stores.changed();
    let deadline = tokio::time::Instant::now() + NODE_WAIT;
    loop {
        let ip = stores
            .nodes()
            .iter()
            .find(|n| n.name_any() == node.as_str())
            .and_then(|n| internal_ip(n));
        if let Some(ip) = ip {
            return Ok(ip);
        }
        if tokio::time::timeout_at(deadline, changed.notified())
            .await
            .is_err()
        {
            return Err(RunError::NoInternalIp(node.to_string()));
        }
    }
}

/// How often the key file is read again: a rotated Secret reaches the file within the
/// kubelet's sync period (about a minute), and the speaker within this after that.
const KEY_RELOAD: Duration = Duration::from_secs(10);

/// Reads the key file again every [`KEY_RELOAD`]; a changed, usable list replaces the keys in
/// use, and an unusable one is reported and ignored (the keys in use stay).
async fn reload_keys(source: KeySource, keys: watch::Sender<KeyRing>, metrics: Arc<Metrics>) {
    if source == KeySource::Env {
        return;
    }
    let mut tick = tokio::time::interval(KEY_RELOAD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_error = None;
    loop {
        tick.tick().await;
        match source.read() {
            Ok(ring) => {
                last_error = None;
                if *keys.borrow() != ring {
                    tracing::info!(keys = ring.len(), signing = %ring.fingerprint(), "membership keys reloaded");
                    metrics.set_keys(&ring);
                    keys.send_replace(ring);
                }
            }
            Err(e) => {
                let text = format!(
                    "{e}: {}",
                    std::error::Error::source(&e)
                        .map(ToString::to_string)
                        .unwrap_or_default()
                );
                if last_error.as_ref() != Some(&text) {
                    tracing::warn!(error = %text, "membership key file unusable; keeping the keys in use");
                    last_error = Some(text);
                }
            }
        }
    }
}

/// Runs the speaker until SIGTERM or Ctrl-C.
pub async fn run(cli: Cli) -> Result<(), RunError> {
    let key_source = cli.key_source();
    let keys = key_source.read()?;
    let me = NodeName::from(cli.node_name.clone());
    let cordoned_hand_over = cli.cordoned_nodes_hand_over;
    let lease_namespace = cli.namespace.clone();
    let client = Client::try_default().await.map_err(RunError::Client)?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::register(&mut registry));
    let health = Arc::new(Health::new(
        registry,
        "not joined to the membership group or initial sync not done",
    ));
    let metrics_addr = cli.metrics_listen();
    let h = health.clone();
    let reviewer = cli.metrics_auth.reviewer(&client);
    tokio::spawn(async move {
        if let Err(e) = serve(metrics_addr, h, reviewer).await {
            tracing::error!(addr = %metrics_addr, error = %e, "metrics endpoint failed");
        }
    });
    let mut sigterm = signal(SignalKind::terminate()).map_err(RunError::Signal)?;

    let stores = Stores::start(&client, cli.load_balancer_class.clone());
    stores.wait_until_ready().await?;
    let ip = own_address(&stores, &me).await?;
    let bind = SocketAddr::new(ip, cli.memberlist_port);

    let table = SharedTable::default();
    let (link_tx, mut link_rx) = mpsc::unbounded_channel();
    let mut links = Links::new(table.clone(), metrics.clone(), link_tx);
    let (listed_tx, listed_rx) = watch::channel(stores.listed_interfaces());
    let mut scans = start_scanner(listed_rx, SCAN_AT_LEAST_EVERY).await;
    links.apply(&scans.borrow_and_update());
    let (report_tx, report_rx) = watch::channel(links.report(&me));
    let (seeds_tx, seeds_rx) = watch::channel(membership_addrs(
        stores.nodes().iter().map(|n| &**n),
        bind.port(),
    ));
    metrics.set_keys(&keys);
    let (keys_tx, keys_rx) = watch::channel(keys);
    tokio::spawn(reload_keys(key_source, keys_tx, metrics.clone()));
    let group = swim::start(
        SwimSetup {
            node: me.clone(),
            bind,
            keys: keys_rx,
            seeds: seeds_rx,
            report: report_rx,
        },
        metrics.clone(),
    )
    .await?;
    tracing::info!(node = %me, membership = %bind, "speaker started");

    let (desired_tx, desired_rx) = watch::channel(Arc::new(Vec::<Desired>::new()));
    tokio::spawn(status::write_loop(
        client.clone(),
        stores.clone(),
        me.clone(),
        desired_rx,
        metrics.clone(),
    ));
    let (probe_tx, mut probe_rx) = mpsc::unbounded_channel();
    let mut addresses = Addresses::new(me.clone(), table.clone(), metrics.clone(), probe_tx);
    let mut advertisements = Advertisements::default();
    let mut deleted_pools = DeletedPools::default();
    let namespace = lease_namespace.unwrap_or_else(|| client.default_namespace().to_owned());
    let mut presence = presence::start(client.clone(), &namespace, me.clone()).await;
    let mut taking_part: Option<Result<(), StandDown>> = None;
    let mut view = group.view();
    let changed = stores.changed();
    let mut tick = tokio::time::interval(RESCAN);

    let mut rejoins_seen = 0;
    let mut last_pass = tokio::time::Instant::now() - MIN_PASS_GAP;
    let mut last_pass_took = Duration::ZERO;
    loop {
        let mut membership_changed = false;
        tokio::select! {
            _ = changed.notified() => {}
            _ = view.changed() => membership_changed = true,
            Ok(()) = presence.changed() => membership_changed = true,
            Some(event) = link_rx.recv() => match event {
                LinkEvent::Conflict { interface, conflict } => addresses.conflict(interface, conflict),
                LinkEvent::Closed { interface } => links.closed(&interface),
            },
            Some(ips) = probe_rx.recv() => addresses.probe_done(ips, &links),
            Ok(()) = scans.changed() => {
                let scan = scans.borrow_and_update().clone();
                if links.apply(&scan) {
                    report_tx.send_replace(links.report(&me));
                }
            }
            _ = tick.tick() => {
                addresses.refresh(&links);
                let listed = stores.listed_interfaces();
                listed_tx.send_if_modified(|l| if *l == listed { false } else { *l = listed; true });
                // Reopens the links whose responder ended.
                let scan = scans.borrow().clone();
                if links.apply(&scan) {
                    report_tx.send_replace(links.report(&me));
                }
                let seeds = membership_addrs(stores.nodes().iter().map(|n| &**n), bind.port());
                seeds_tx.send_if_modified(|s| if *s == seeds { false } else { *s = seeds; true });
            }
            _ = sigterm.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
        }
        // A pass looks at every Service, so a burst of API changes or finished probes is taken
        // in one pass rather than one pass each (which grew with the square of the Services).
        // A membership change is never held back: that is a failover.
        // The gap also grows with the pass itself, so passes never take more than a third of
        // the thread from the status writes and the membership protocol.
        let gap = MIN_PASS_GAP.max(last_pass_took * 2);
        if !membership_changed && last_pass.elapsed() < gap {
            tokio::select! {
                _ = tokio::time::sleep_until(last_pass + gap) => {}
                _ = view.changed() => {}
            }
        }
        while let Ok(ips) = probe_rx.try_recv() {
            addresses.probe_done(ips, &links);
        }
        while let Ok(event) = link_rx.try_recv() {
            match event {
                LinkEvent::Conflict {
                    interface,
                    conflict,
                } => addresses.conflict(interface, conflict),
                LinkEvent::Closed { interface } => links.closed(&interface),
            }
        }
        last_pass = tokio::time::Instant::now();
        let group_view = view.borrow_and_update().clone();
        let presence_now = presence.borrow_and_update().clone();
        let mut step = Step {
            me: &me,
            cordoned_hand_over,
            presence: &presence_now,
            taking_part: &mut taking_part,
            stores: &stores,
            group: &group_view,
            links: &links,
            metrics: &metrics,
        };
        let ready = step.reconcile(
            &mut addresses,
            &mut advertisements,
            &mut deleted_pools,
            &desired_tx,
        );
        // Declared down and back: the peers gave this node's addresses to others meanwhile
        // and took them back, but this node never stopped answering, so it made no
        // announcement of its own; clients would keep the other node's MAC.
        if group_view.rejoins != rejoins_seen {
            rejoins_seen = group_view.rejoins;
            tracing::info!("announcing every owned address again after rejoining the group");
            addresses.reannounce(&links);
        }
        last_pass_took = last_pass.elapsed();
        health.set_ready(ready);
        // The pass's lists were just freed.
        crate::heap::trim();
    }

    tracing::info!(node = %me, "stopping: leaving the membership group first");
    health.set_ready(false);
    group.leave().await;
    tokio::time::sleep(HANDOVER).await;
    addresses.release_all();
    links.stop_all();
    tracing::info!(node = %me, "stopped");
    Ok(())
}

struct Step<'a> {
    me: &'a NodeName,
    cordoned_hand_over: bool,
    presence: &'a Presence,
    /// The last decision of [`quorum::decide`], to log changes.
    taking_part: &'a mut Option<Result<(), StandDown>>,
    stores: &'a Stores,
    group: &'a GroupView,
    links: &'a Links,
    metrics: &'a Metrics,
}

impl Step<'_> {
    /// Whether this speaker takes part in elections (see [`quorum`]): its side of the group
    /// must be a majority of the speakers alive, and it must reach a peer or the API server.
    fn takes_part(&mut self) -> bool {
        let decision = quorum::decide(quorum::Signals {
            me: self.me,
            reached: &self.group.members,
            renewing: &self.presence.renewing,
            api_reached: self.presence.api_reached,
        });
        if self.taking_part.as_ref() != Some(&decision) {
            match &decision {
                Ok(()) => tracing::info!(node = %self.me, "taking part in elections"),
                Err(why) => {
                    tracing::warn!(node = %self.me, reason = %why, "not answering for any address: this speaker {why}")
                }
            }
            *self.taking_part = Some(decision);
        }
        decision.is_ok()
    }

    /// One pass: elect, update what this node announces and the conditions it writes; returns
    /// whether the speaker is ready.
    fn reconcile(
        &mut self,
        addresses: &mut Addresses,
        advertisements: &mut Advertisements,
        deleted_pools: &mut DeletedPools,
        desired: &watch::Sender<Arc<Vec<Desired>>>,
    ) -> bool {
        let takes_part = self.takes_part();
        let mut alive: BTreeSet<NodeName> = self.group.members.clone();
        let mut reports = self.group.reports.clone();
        reports.insert(self.me.clone(), self.links.report(self.me));
        if takes_part {
            alive.insert(self.me.clone());
        }
        let peer_macs: BTreeSet<MacAddr> = reports
            .iter()
            .filter(|(n, _)| *n != self.me)
            .flat_map(|(_, r)| r.macs.iter().copied())
            .collect();
        addresses.set_peer_macs(peer_macs);
        let mut snapshot = self.stores.snapshot();
        snapshot.cordoned_hand_over = self.cordoned_hand_over;
        snapshot.deleted_pools = deleted_pools.update(&snapshot.pools, &snapshot.services);
        let (usable, invalid) = advertisements.usable(std::mem::take(&mut snapshot.ads));
        snapshot.ads = usable;
        for bad in invalid.iter().filter(|b| b.new) {
            let outcome = if bad.kept {
                "its last valid version stays in use"
            } else {
                "it is not used"
            };
            tracing::warn!(advertisement = %bad.name, problem = %bad.problem, "invalid L2Advertisement: {outcome}");
        }
        self.metrics
            .invalid_advertisements
            .set(i64::try_from(invalid.len()).unwrap_or(i64::MAX));
        let plan = plan(
            &snapshot,
            Liveness {
                alive: &alive,
                reports: &reports,
            },
        );
        // An address is new (and probed) unless one of its Services was announced before.
        let mut announced_before: Vec<IpAddr> = snapshot
            .services
            .iter()
            .filter(|s| s.was_announced())
            .flat_map(|s| s.ips.iter().copied())
            .collect();
        announced_before.sort_unstable();
        addresses.apply(&plan, self.links, |ip| {
            announced_before.binary_search(&ip).is_err()
        });
        let fallback = alive.iter().next().filter(|_| takes_part);
        let verdicts = status::Verdicts {
            probing: addresses.probing(),
            conflicts: addresses.conflicts().clone(),
            defended: addresses.defended().clone(),
            kernel_answers_arp: reports
                .iter()
                .filter(|(n, r)| r.kernel_answers_arp && alive.contains(*n))
                .map(|(n, _)| n.clone())
                .collect(),
            macs: self.links.macs(),
        };
        let conditions =
            status::conditions(self.me, fallback, &snapshot.services, &plan, &verdicts);
        self.metrics
            .unannounced_services
            .set(i64::try_from(conditions.unannounced).unwrap_or(i64::MAX));
        let wanted = conditions.changed;
        desired.send_if_modified(|d| {
            if **d == wanted {
                false
            } else {
                *d = Arc::new(wanted);
                true
            }
        });
        takes_part
    }
}
