//! Lease-based leader election between controller replicas: only the leader writes.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Where the lease lives and how long it lasts.
#[derive(Debug, Clone)]
pub struct LeaseConfig {
    /// Namespace of the Lease object.
    pub namespace: String,
    /// Name of the Lease object.
    pub name: String,
    /// This replica's identity (the pod name).
    pub identity: String,
    /// How long a lease is valid without renewal; a crashed leader is replaced after this.
    pub duration: Duration,
}

/// Held leadership. Dropping the receiver side releases the lease.
#[derive(Debug)]
pub struct Leadership {
    rx: watch::Receiver<bool>,
    task: JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
}

/// Waits until this replica holds the lease.
///
/// kube-lease-manager checks a Lease held by another replica again only when it expires, so a
/// leader that gives its Lease up on a clean stop (a rolling update, a deleted Pod) would leave
/// the group leaderless for up to the Lease's duration. The Lease is watched as well: when it is
/// released, the attempt starts over at once.
pub async fn acquire(client: Client, cfg: &LeaseConfig) -> Result<Leadership, LeaseManagerError> {
    let secs = cfg.duration.as_secs().max(2);
    let leases: Api<Lease> = Api::namespaced(client.clone(), &cfg.namespace);
    loop {
        let manager = LeaseManagerBuilder::new(client.clone(), &cfg.name)
            .with_namespace(&cfg.namespace)
            .with_identity(&cfg.identity)
            .with_duration(secs)
            .with_grace((secs / 3).max(1))
            .build()
            .await?;
        let (mut rx, task) = manager.watch().await;
        let outcome = tokio::select! {
            () = wait_leading(&mut rx) => Attempt::Leading,
            () = wait_released(&leases, &cfg.name) => Attempt::Released,
        };
        match outcome {
            Attempt::Leading => return Ok(Leadership { rx, task }),
            Attempt::Released => {
                tracing::debug!(lease = %cfg.name, "the Lease was released; trying to take it");
                drop(rx);
                let _ = task.await;
            }
        }
    }
}

/// How one attempt to take the Lease ended.
enum Attempt {
    Leading,
    Released,
}

async fn wait_leading(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            // The manager stopped; only a release can start another attempt.
            std::future::pending::<()>().await;
        }
    }
}

/// Resolves when the Lease changes to having no holder (what a clean release writes).
async fn wait_released(leases: &Api<Lease>, name: &str) {
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = std::pin::pin!(watcher(leases.clone(), config).default_backoff());
    while let Some(event) = events.next().await {
        if let Ok(watcher::Event::Apply(lease)) = event
            && lease
                .spec
                .and_then(|s| s.holder_identity)
                .is_none_or(|h| h.is_empty())
        {
            return;
        }
    }
    std::future::pending::<()>().await;
}

impl Leadership {
    /// Resolves when leadership is lost (another replica took the lease, or renewal failed).
    pub async fn lost(&mut self) {
        while *self.rx.borrow_and_update() {
            if self.rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Gives the lease up so a standby replica takes over at once.
    pub async fn release(self) {
        drop(self.rx);
        let _ = self.task.await;
    }
}

/// Leads for as long as leadership lasts: sets `leading` once this replica holds the Lease and
/// returns an error when it is lost (the replica then exits and a standby takes over). Without
/// a Lease (`cfg` None) this replica leads at once and forever. What is held is left in `held`,
/// so the caller can release it on a clean stop.
pub async fn lead(
    client: Client,
    cfg: Option<LeaseConfig>,
    leading: &watch::Sender<bool>,
    held: &mut Option<Leadership>,
) -> anyhow::Result<()> {
    let Some(cfg) = cfg else {
        let _ = leading.send(true);
        return std::future::pending().await;
    };
    tracing::info!(identity = %cfg.identity, lease = %format!("{}/{}", cfg.namespace, cfg.name), "standing by for leadership");
    let acquired = acquire(client, &cfg)
        .await
        .map_err(|e| anyhow::anyhow!("acquiring the leader lease: {e}"))?;
    tracing::info!(identity = %cfg.identity, "became leader");
    let _ = leading.send(true);
    held.insert(acquired).lost().await;
    Err(anyhow::anyhow!(
        "lost leadership; exiting so a standby takes over"
    ))
}
