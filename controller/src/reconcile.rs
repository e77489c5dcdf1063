//! The Service reconcile: decide (under the allocator lock) what a Service should have, then
//! write it (concurrently with other Services) and say what changed.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrolb_crds::conditions::origin;
use ferrolb_crds::service::{ingress_ips, is_served};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use tracing::{info, warn};

use crate::allocator::{Allocation, AllocationError, Outcome, Placement, ServiceClaim, ServiceKey};
use crate::context::{AllocState, Context};
use crate::metrics::ReasonLabels;
use crate::status::{self, DesiredStatus, FIELD_MANAGER, IpMode};

/// Why a reconcile failed (an API call; the allocation outcome is never an error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the Service status failed.
    #[error("writing the status of Service {service}: {source}")]
    WriteStatus {
        /// namespace/name.
        service: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

impl Error {
    fn label(&self) -> &'static str {
        match self {
            Error::WriteStatus { .. } => "WriteStatus",
        }
    }
}

/// The `namespace/name` key of a Service.
pub fn key_of(svc: &Service) -> ServiceKey {
    ServiceKey::new(svc.namespace().unwrap_or_default(), svc.name_any())
}

/// What changed for a Service in one decision, for events and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    None,
    Allocated(Vec<IpAddr>),
    Moved {
        from: Vec<IpAddr>,
        to: Vec<IpAddr>,
        why: &'static str,
    },
    /// It keeps its addresses and gained these.
    Extended {
        added: Vec<IpAddr>,
        why: &'static str,
    },
    Failed(AllocationError),
    /// It gave these addresses up and waits: removed from every pool by an edit, or no longer
    /// what its changed request asks for, with nothing else free.
    Released {
        ips: Vec<IpAddr>,
        why: &'static str,
        error: AllocationError,
    },
}

fn ips_text(ips: &[IpAddr]) -> String {
    ips.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The condition message of a Service that holds addresses: one part per address, each
/// starting with [`origin::from_pool`] when its pool is known (the speakers read it).
fn allocated_message(a: &Allocation) -> String {
    let parts: Vec<String> = a
        .addresses
        .iter()
        .map(|x| match (x.placement, x.pool.as_deref()) {
            (Placement::InPolicy, Some(pool)) => origin::from_pool(x.ip, pool),
            (Placement::KeptOutsidePolicy, Some(pool)) => format!(
                "{}, kept although the pool's current policy would not assign it to this \
                 Service now",
                origin::from_pool(x.ip, pool)
            ),
            (Placement::OutsideAllPools, Some(pool)) => format!(
                "{}, kept although that IPAddressPool no longer exists (a deleted pool takes no \
                 address away; change the Service's request to move it)",
                origin::from_pool(x.ip, pool)
            ),
            _ => format!(
                "{} kept although no IPAddressPool contains it any more (edit a pool to \
                 remove it, or change the Service's request, to move it)",
                x.ip
            ),
        })
        .collect();
    parts.join(origin::SEPARATOR)
}

const MOVED_BY_REQUEST: &str = "its addresses no longer fit the Service's request (requested \
     IPs, pool, sharing key, IP families, or ports and traffic policy for sharing)";
const MOVED_BY_POOL_EDIT: &str = "its address was removed from every IPAddressPool";
const EXTENDED_BY_POOL: &str =
    "the Service prefers dual stack and its pool now has a free address of the other family";
const EXTENDED_BY_REQUEST: &str = "the Service now asks for both IP families";

/// Decides what the Service gets, under the lock. A working address is kept whenever the
/// Service's own request still admits it, and also when a move out of a shrunk pool fails.
fn decide(st: &mut AllocState, claim: &ServiceClaim, ip_mode: IpMode) -> (DesiredStatus, Change) {
    let key = &claim.key;
    let must_move = st.must_move.remove(key);
    let before = st.allocator.assignment(key).unwrap_or_default();
    let result = if must_move {
        st.allocator.relocate(claim)
    } else {
        st.allocator.allocate(claim)
    };
    let why = if must_move {
        MOVED_BY_POOL_EDIT
    } else {
        MOVED_BY_REQUEST
    };
    match result {
        Ok(a) => {
            st.pending.remove(key);
            let desired = DesiredStatus {
                ip_mode,
                ips: a.ips(),
                allocated: true,
                reason: a.reason().to_owned(),
                message: allocated_message(&a),
            };
            let change = match a.outcome {
                Outcome::Unchanged => Change::None,
                Outcome::Allocated => Change::Allocated(a.ips()),
                Outcome::Extended {
                    ref added,
                    by_request,
                } => Change::Extended {
                    added: added.clone(),
                    why: if by_request {
                        EXTENDED_BY_REQUEST
                    } else {
                        EXTENDED_BY_POOL
                    },
                },
                Outcome::Moved { ref from } => Change::Moved {
                    from: from.clone(),
                    to: a.ips(),
                    why,
                },
            };
            (desired, change)
        }
        Err(e) => {
            st.pending.insert(key.clone());
            // Removed from every pool by an edit and nowhere else to go: given up all the same.
            if must_move {
                st.allocator.release_outside_pools(key);
            }
            let held = st.allocator.assignment(key).unwrap_or_default();
            let released: Vec<IpAddr> = before
                .iter()
                .copied()
                .filter(|ip| !held.contains(ip))
                .collect();
            let message = if held.is_empty() {
                e.to_string()
            } else {
                format!("{e}; keeping {} meanwhile", ips_text(&held))
            };
            let desired = DesiredStatus {
                ip_mode,
                ips: held,
                allocated: false,
                reason: e.reason().to_owned(),
                message,
            };
            let change = if released.is_empty() {
                Change::Failed(e)
            } else {
                Change::Released {
                    ips: released,
                    why,
                    error: e,
                }
            };
            (desired, change)
        }
    }
}

/// Reconciles one Service.
pub async fn reconcile(svc: Arc<Service>, ctx: Arc<Context>) -> Result<Action, Error> {
    ctx.wait_synced().await;
    let started = Instant::now();
    let key = key_of(&svc);
    let result = reconcile_inner(&svc, &ctx, &key).await;
    ctx.metrics
        .reconcile_duration
        .observe(started.elapsed().as_secs_f64());
    result
}

async fn reconcile_inner(svc: &Service, ctx: &Context, key: &ServiceKey) -> Result<Action, Error> {
    let ns = svc.namespace().unwrap_or_default();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &ns);
    if svc.meta().deletion_timestamp.is_some() {
        // Being deleted, but still there (other components' finalizers) and perhaps still
        // receiving traffic: it keeps its address, and gets none if it has none. The address
        // is released once the Service is gone (see the release task in `run`).
        return Ok(Action::await_change());
    }

    if !is_served(svc, ctx.class.as_deref()) {
        let released = {
            let mut st = ctx.state.lock().await;
            st.pending.remove(key);
            st.must_move.remove(key);
            st.allocator.release(key)
        };
        if !released.is_empty() {
            ctx.metrics.releases.inc();
            ctx.retry_pending.notify_one();
            ctx.status_changed.notify_one();
            info!(service = %key, ips = %ips_text(&released), "released");
        }
        let ours_written = status::current_condition(svc).is_some() || !ingress_ips(svc).is_empty();
        if !released.is_empty() && ours_written {
            write(&api, svc, key, status::clear_body()).await?;
            let note = format!(
                "Released {}: the Service is no longer served by ferrolb",
                ips_text(&released)
            );
            publish(ctx, svc, EventType::Normal, "IPReleased", note);
        }
        return Ok(Action::await_change());
    }

    let ns_labels = ctx
        .namespaces
        .get(&kube::runtime::reflector::ObjectRef::new(&ns))
        .map(|n| n.labels().clone())
        .unwrap_or_default();
    let (desired, change) = match ServiceClaim::from_service(svc, &ns_labels) {
        Ok(claim) => {
            let mut st = ctx.state.lock().await;
            decide(&mut st, &claim, ctx.ip_mode)
        }
        Err(e) => {
            // A request we cannot read never takes a working address away.
            let e = AllocationError::from(e);
            let held = ctx
                .state
                .lock()
                .await
                .allocator
                .assignment(key)
                .unwrap_or_default();
            let message = if held.is_empty() {
                e.to_string()
            } else {
                format!("{e}; keeping {} until it is fixed", ips_text(&held))
            };
            let d = DesiredStatus {
                ip_mode: ctx.ip_mode,
                ips: held,
                allocated: false,
                reason: e.reason().to_owned(),
                message,
            };
            (d, Change::Failed(e))
        }
    };

    let previous = status::current_condition(svc).map(|c| (c.reason.clone(), c.message.clone()));
    if !status::is_current(svc, &desired) {
        write(
            &api,
            svc,
            key,
            status::apply_body(svc, &desired, Timestamp::now()),
        )
        .await?;
    }
    report(ctx, svc, key, &desired, change, previous);
    Ok(Action::await_change())
}

async fn write(
    api: &Api<Service>,
    svc: &Service,
    key: &ServiceKey,
    body: serde_json::Value,
) -> Result<(), Error> {
    let params = PatchParams::apply(FIELD_MANAGER).force();
    match api
        .patch_status(&svc.name_any(), &params, &Patch::Apply(body))
        .await
    {
        Ok(_) => Ok(()),
        // Deleted meanwhile: its delete event releases the address.
        Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
        Err(source) => Err(Error::WriteStatus {
            service: key.to_string(),
            source,
        }),
    }
}

fn report(
    ctx: &Context,
    svc: &Service,
    key: &ServiceKey,
    desired: &DesiredStatus,
    change: Change,
    previous: Option<(String, String)>,
) {
    match change {
        Change::None => {}
        Change::Allocated(ips) => {
            ctx.metrics.allocations.inc();
            ctx.status_changed.notify_one();
            info!(service = %key, ips = %ips_text(&ips), reason = %desired.reason, "allocated");
            publish(
                ctx,
                svc,
                EventType::Normal,
                "IPAllocated",
                desired.message.clone(),
            );
        }
        Change::Moved { from, to, why } => {
            ctx.metrics.allocations.inc();
            ctx.metrics.releases.inc();
            ctx.status_changed.notify_one();
            ctx.retry_pending.notify_one();
            warn!(service = %key, from = %ips_text(&from), to = %ips_text(&to), %why, "moved");
            let note = format!("Moved from {} to {}: {why}", ips_text(&from), ips_text(&to));
            publish(ctx, svc, EventType::Warning, "IPChanged", note);
        }
        Change::Extended { added, why } => {
            ctx.metrics.allocations.inc();
            ctx.status_changed.notify_one();
            info!(service = %key, added = %ips_text(&added), %why, "extended");
            let note = format!("Added {}: {why}", ips_text(&added));
            publish(ctx, svc, EventType::Normal, "IPAllocated", note);
        }
        Change::Released { ips, why, error } => {
            ctx.metrics.releases.inc();
            ctx.status_changed.notify_one();
            ctx.retry_pending.notify_one();
            warn!(service = %key, ips = %ips_text(&ips), "released: {why}, and no other address is free");
            let note = format!(
                "Released {}: {why}, and no other address is available ({error})",
                ips_text(&ips)
            );
            publish(ctx, svc, EventType::Warning, "IPReleased", note);
            report(ctx, svc, key, desired, Change::Failed(error), previous);
        }
        Change::Failed(e) => {
            // Only a new reason or message is news; retries of the same failure are quiet.
            if previous.as_ref() != Some(&(desired.reason.clone(), desired.message.clone())) {
                ctx.metrics
                    .allocation_failures
                    .get_or_create(&ReasonLabels {
                        reason: e.reason().to_owned(),
                    })
                    .inc();
                info!(service = %key, reason = %e.reason(), "pending: {e}");
                publish(
                    ctx,
                    svc,
                    EventType::Warning,
                    "AllocationFailed",
                    e.to_string(),
                );
            }
        }
    }
}

fn publish(ctx: &Context, svc: &Service, type_: EventType, reason: &str, note: String) {
    let ev = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(note),
        action: "Allocate".to_owned(),
        secondary: None,
    };
    // Only fails once the publisher is gone, that is while the process stops.
    let _ = ctx.events.send((ev, svc.object_ref(&())));
}

/// What to do after a failed reconcile: count it and retry soon.
pub fn error_policy(svc: Arc<Service>, err: &Error, ctx: Arc<Context>) -> Action {
    ctx.metrics
        .reconcile_errors
        .get_or_create(&ReasonLabels {
            reason: err.label().to_owned(),
        })
        .inc();
    warn!(service = %key_of(&svc), error = %err, "reconcile failed; retrying");
    Action::requeue(Duration::from_secs(2))
}
