//! Waiting for a condition with a deadline: the only way tests synchronise with the system.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

/// A condition did not hold before its deadline.
#[derive(Debug, thiserror::Error)]
#[error("timed out after {waited:?} waiting for {what}; last observation: {last}")]
pub struct WaitError {
    /// What was awaited.
    pub what: String,
    /// How long it waited.
    pub waited: Duration,
    /// The last value the check reported, to explain the failure.
    pub last: String,
}

/// Polls `check` until it returns `Ok(value)` or `deadline` passes. `check` returns `Err(obs)`
/// while the condition does not hold; the last observation is reported on timeout. The poll
/// interval starts at 20 ms and grows to 250 ms, so fast conditions are seen quickly.
pub async fn wait_for<T, O, F, Fut>(
    what: &str,
    deadline: Duration,
    mut check: F,
) -> Result<T, WaitError>
where
    O: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, O>>,
{
    let start = Instant::now();
    let mut interval = Duration::from_millis(20);
    loop {
        let last = match check().await {
            Ok(v) => return Ok(v),
            Err(obs) => obs,
        };
        if start.elapsed() >= deadline {
            return Err(WaitError {
                what: what.to_owned(),
                waited: start.elapsed(),
                last: format!("{last:?}"),
            });
        }
        tokio::time::sleep(interval).await;
        interval = (interval * 2).min(Duration::from_millis(250));
    }
}
