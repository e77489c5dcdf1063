//! Filling a namespace with LoadBalancer Services, and watching them get addresses.

use std::collections::HashMap;
use std::pin::pin;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use ferrolb_tests::objects::{ingress_ips, mk_lb_service};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Service;
use kube::api::PostParams;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, ResourceExt};
use tokio::sync::oneshot;

/// Concurrent creates while the benchmark fills a namespace (not measured).
const CREATE_CONCURRENCY: usize = 32;

pub(crate) fn service_name(i: usize) -> String {
    format!("s{i:05}")
}

/// Creates Services `s<from>`..`s<to>` in `ns`, a few at a time (this is set-up, not measured).
pub(crate) async fn create_services(
    api: &Api<Service>,
    ns: &str,
    range: std::ops::Range<usize>,
    class: Option<&str>,
) -> anyhow::Result<()> {
    futures::stream::iter(range)
        .map(|i| {
            let mut svc = mk_lb_service(ns, &service_name(i), &[80], &[]);
            if let Some(spec) = svc.spec.as_mut() {
                // Thousands of Services would exhaust the node-port range; none is needed.
                spec.allocate_load_balancer_node_ports = Some(false);
                spec.load_balancer_class = class.map(str::to_owned);
            }
            async move {
                api.create(&PostParams::default(), &svc)
                    .await
                    .with_context(|| format!("creating Service {ns}/{}", svc.name_any()))
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_for_each(|_| async { Ok(()) })
        .await
}

/// A watch on a namespace's Services that reports when `n` of them have an address (or, with
/// [`AddressWatch::until`], when `n` of them exist and all have addresses that pass a test).
pub(crate) struct AddressWatch {
    done: tokio::task::JoinHandle<anyhow::Result<Instant>>,
}

impl AddressWatch {
    /// Starts the watch and returns once it has listed the namespace, so everything after
    /// that is seen as it happens.
    pub(crate) async fn start(api: Api<Service>, n: usize) -> anyhow::Result<AddressWatch> {
        Self::watch(api, n, None).await
    }

    /// Like [`AddressWatch::start`], but done when at least `n` Services exist and the
    /// addresses of every one pass `done`.
    pub(crate) async fn until(
        api: Api<Service>,
        n: usize,
        done: fn(&[String]) -> bool,
    ) -> anyhow::Result<AddressWatch> {
        Self::watch(api, n, Some(done)).await
    }

    async fn watch(
        api: Api<Service>,
        n: usize,
        all: Option<fn(&[String]) -> bool>,
    ) -> anyhow::Result<AddressWatch> {
        let (listed_tx, listed_rx) = oneshot::channel();
        let done = tokio::spawn(async move {
            let mut stream = pin!(watcher(api, watcher::Config::default()).default_backoff());
            let mut ips: HashMap<String, Vec<String>> = HashMap::new();
            let mut listed_tx = Some(listed_tx);
            while let Some(ev) = stream.next().await {
                match ev {
                    Ok(watcher::Event::Apply(s) | watcher::Event::InitApply(s)) => {
                        ips.insert(s.name_any(), ingress_ips(&s));
                    }
                    Ok(watcher::Event::Delete(s)) => {
                        ips.remove(&s.name_any());
                    }
                    Ok(watcher::Event::InitDone) => {
                        if let Some(tx) = listed_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                    Ok(watcher::Event::Init) => {}
                    Err(e) => eprintln!("bench: Service watch: {e}"),
                }
                let finished = match all {
                    None => ips.values().filter(|v| !v.is_empty()).count() >= n,
                    Some(test) => ips.len() >= n && ips.values().all(|v| test(v)),
                };
                if listed_tx.is_none() && finished {
                    return Ok(Instant::now());
                }
            }
            bail!("the Service watch ended")
        });
        tokio::time::timeout(Duration::from_secs(60), listed_rx)
            .await
            .context("the Service watch did not list within 60 s")?
            .context("the Service watch ended before it listed")?;
        Ok(AddressWatch { done })
    }

    /// When the watch was done, waiting at most `deadline`.
    pub(crate) async fn finished(self, what: &str, deadline: Duration) -> anyhow::Result<Instant> {
        let abort = self.done.abort_handle();
        match tokio::time::timeout(deadline, self.done).await {
            Ok(r) => r.context("watch task")?,
            Err(_) => {
                abort.abort();
                bail!("{what}: not done within {deadline:?}")
            }
        }
    }
}
