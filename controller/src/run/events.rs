//! Publishing Kubernetes events, one at a time and in order, behind the status writes: a burst
//! of allocations is bounded by the API server's status writes, not by twice as many requests.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::Client;
use kube::runtime::events::{Event, Recorder, Reporter};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::warn;

/// Starts the publisher; events sent to the returned channel go out in order.
pub fn publisher(
    client: Client,
    identity: String,
) -> (
    mpsc::UnboundedSender<(Event, ObjectReference)>,
    JoinHandle<()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(Event, ObjectReference)>();
    let reporter = Reporter {
        controller: "ferrolb-controller".into(),
        instance: Some(identity),
    };
    let task = tokio::spawn(async move {
        while let Some((ev, object)) = rx.recv().await {
            // A Recorder per event: kube's Recorder remembers every event it sent for six
            // minutes (to count repeats), megabytes after a burst of thousands of allocations.
            // Events are sent only when a Service's state changes, so there are no repeats to
            // count.
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
    });
    (tx, task)
}
