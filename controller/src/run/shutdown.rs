//! Stopping: SIGTERM or Ctrl-C lets the reconciles under way finish, within a grace period.

use std::time::Duration;

use tokio::sync::watch;
use tracing::info;

/// How long a stopping controller lets reconciles under way finish.
pub const GRACE: Duration = Duration::from_secs(5);

/// Turns true on SIGTERM or Ctrl-C.
pub fn on_signal() -> watch::Receiver<bool> {
    let (tx, rx) = watch::channel(false);
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            Some(()) = async { match term.as_mut() { Some(t) => t.recv().await, None => None } } => {},
        }
        info!("stopping");
        let _ = tx.send(true);
    });
    rx
}

/// Resolves when a stop was asked for.
pub async fn requested(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Resolves when a stopping controller has waited long enough: at once for a standby (its
/// reconciles wait for a sync that only leadership starts), after [`GRACE`] for the leader.
pub async fn deadline(stop: watch::Receiver<bool>, leading: watch::Receiver<bool>) {
    requested(stop).await;
    if *leading.borrow() {
        tokio::time::sleep(GRACE).await;
    }
}
