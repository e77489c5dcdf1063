//! How ferrolb's components retry a watch that broke (API server restart, network loss).
//!
//! kube's default backoff comes from client-go and grows to 30 s between attempts, so a
//! controller could stay blind for most of a minute after a short API server restart. A load
//! balancer should notice new Services within seconds of the API server coming back; a handful of
//! watches retrying every few seconds is still gentle on it.

use std::time::Duration;

use kube::runtime::watcher::ExponentialBackoff;

/// The first retry after a watch fails.
pub const FIRST_RETRY: Duration = Duration::from_millis(200);
/// The longest wait between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(4);

/// The backoff every ferrolb watch uses: from [`FIRST_RETRY`], doubling with jitter, to at most
/// [`MAX_RETRY`], never giving up; reset by the first event that gets through.
pub fn backoff() -> ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_min_delay(FIRST_RETRY)
        .with_max_delay(MAX_RETRY)
        .with_factor(2.0)
        .with_jitter()
        .without_max_times()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_forever_and_never_waits_long() {
        let delays: Vec<Duration> = backoff().take(100).collect();
        assert_eq!(delays.len(), 100, "a watch never gives up");
        // Jitter adds at most one more delay on top of the capped one.
        assert!(delays.iter().all(|d| *d <= MAX_RETRY * 2), "{delays:?}");
        assert!(delays[0] < Duration::from_secs(1), "{delays:?}");
    }
}
