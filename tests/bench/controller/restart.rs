//! The restart figure: SIGKILL and start with every Service allocated; nothing may change.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::pin;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrolb_tests::objects::ingress_ips;
use ferrolb_tests::{Lab, LabProcess};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::oneshot;

use crate::NS_CONTROLLER;
use crate::process::{reconciles, start_controller, wait_ready};
use crate::services::{AddressWatch, create_services, service_name};

/// What a restart did to the Services it found.
pub(crate) struct Restart {
    /// Services whose addresses differed from before the restart at any moment.
    pub(crate) changed: BTreeMap<String, Vec<String>>,
    /// Writes to Services that existed before the restart.
    pub(crate) writes: usize,
    /// Start to `/readyz`.
    pub(crate) ready_s: f64,
    /// Start until the controller had reconciled every Service (its reconcile count).
    pub(crate) reconciled_s: f64,
}

/// Kills the controller (SIGKILL), starts it again and watches every Service for changes until
/// the new controller has reconciled them all and allocated a new Service.
pub(crate) async fn restart(
    lab: &Lab,
    api: &Api<Service>,
    controller: &mut LabProcess,
    n: usize,
) -> anyhow::Result<Restart> {
    // Every Service's addresses and version before the restart, then every change after.
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (listed_tx, listed_rx) = oneshot::channel();
    let watch_api = api.clone();
    let changes = tokio::spawn(async move {
        let mut stream = pin!(watcher(watch_api, watcher::Config::default()).default_backoff());
        let mut stop_rx = stop_rx;
        let mut before: HashMap<String, (Vec<String>, Option<String>)> = HashMap::new();
        let mut listed_tx = Some(listed_tx);
        let mut changed = BTreeMap::new();
        let mut writes = 0usize;
        loop {
            let ev = tokio::select! {
                _ = &mut stop_rx => break,
                ev = stream.next() => ev,
            };
            let Some(ev) = ev else { break };
            match ev {
                Ok(watcher::Event::InitApply(s) | watcher::Event::Apply(s)) => {
                    let (name, ips, rv) = (s.name_any(), ingress_ips(&s), s.resource_version());
                    if listed_tx.is_some() {
                        before.insert(name, (ips, rv));
                    } else if let Some((old_ips, old_rv)) = before.get_mut(&name) {
                        if *old_rv != rv {
                            writes += 1;
                            old_rv.clone_from(&rv);
                        }
                        if *old_ips != ips {
                            changed.insert(name, ips);
                        }
                    }
                }
                Ok(watcher::Event::Delete(s)) => {
                    if before.contains_key(&s.name_any()) {
                        changed.insert(s.name_any(), Vec::new());
                    }
                }
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = listed_tx.take() {
                        let addresses: HashSet<String> =
                            before.values().flat_map(|(ips, _)| ips.clone()).collect();
                        let _ = tx.send((before.len(), addresses));
                    }
                }
                Ok(watcher::Event::Init) => {}
                Err(e) => eprintln!("bench: Service watch: {e}"),
            }
        }
        (changed, writes)
    });
    let (listed, addresses) = tokio::time::timeout(Duration::from_secs(120), listed_rx)
        .await
        .context("the change watch did not list within 120 s")?
        .context("the change watch ended before it listed")?;
    if listed != n {
        bail!("expected {n} Services before the restart, found {listed}");
    }

    controller.signal("KILL");
    controller.kill();
    let t0 = Instant::now();
    *controller = start_controller(lab, "controller-restarted")?;
    let ready = wait_ready(lab, controller, t0, Duration::from_secs(120)).await?;
    let deadline = Duration::from_secs(180);
    let reconciled = loop {
        if reconciles(lab).await.is_some_and(|c| c >= n as u64) {
            break Instant::now();
        }
        if !controller.is_running() {
            bail!("the restarted controller exited:\n{}", controller.log());
        }
        if t0.elapsed() > deadline {
            bail!("the restarted controller did not reconcile {n} Services within {deadline:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // A new Service gets a new address: the controller is deciding, and nothing it found was
    // handed out again.
    let sentinel = service_name(n);
    let watch = AddressWatch::start(api.clone(), n + 1).await?;
    create_services(api, NS_CONTROLLER, n..n + 1, None).await?;
    watch
        .finished("the sentinel's address", Duration::from_secs(60))
        .await?;
    let sentinel_ips = ingress_ips(&api.get(&sentinel).await?);
    if sentinel_ips.iter().any(|ip| addresses.contains(ip)) {
        bail!("the new Service {sentinel} got an address already held: {sentinel_ips:?}");
    }
    let _ = stop_tx.send(());
    let (changed, writes) = changes.await.context("change watch")?;
    Ok(Restart {
        changed,
        writes,
        ready_s: (ready - t0).as_secs_f64(),
        reconciled_s: (reconciled - t0).as_secs_f64(),
    })
}
