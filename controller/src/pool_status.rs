//! Writes each pool's status (assigned/available per family, `Valid` and `Overlapping`
//! conditions) and the per-pool gauges, whenever allocations or pools change; then each
//! advertisement's (see [`crate::advertisement_status`]).

use std::sync::Arc;
use std::time::Duration;

use ferrolb_crds::conditions::{POOL_OVERLAPPING, POOL_VALID, object};
use ferrolb_crds::{IPAddressPool, IPAddressPoolStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use tracing::warn;

use crate::advertisement_status;
use crate::context::{AllocState, Context};
use crate::metrics::{Family4or6, PoolLabels};
use crate::status::FIELD_MANAGER;

/// How long a burst of changes is gathered before pool statuses are written once.
const COALESCE: Duration = Duration::from_millis(500);

/// A condition's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truth {
    /// `True`.
    True,
    /// `False`.
    False,
    /// `Unknown`.
    Unknown,
}

/// A condition of one of ferrolb's own objects; its transition time is kept from `old` while
/// its status stays the same.
pub fn condition(
    type_: &str,
    truth: Truth,
    reason: &str,
    message: String,
    old: &[Condition],
    now: Timestamp,
) -> Condition {
    let status = match truth {
        Truth::True => "True",
        Truth::False => "False",
        Truth::Unknown => "Unknown",
    };
    let since = old
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map_or(Time(now), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message,
        last_transition_time: since,
        observed_generation: None,
    }
}

/// The status a pool should show.
pub fn desired(st: &AllocState, pool: &IPAddressPool, now: Timestamp) -> IPAddressPoolStatus {
    let name = pool.name_any();
    let old = pool
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let mut status = IPAddressPoolStatus::default();
    if let Some(usage) = st.allocator.pool_usage(&name) {
        usage.write_to(&mut status);
    }
    let valid = match st.pool_errors.get(&name) {
        None => condition(
            POOL_VALID,
            Truth::True,
            object::VALID,
            "the pool's addresses and selectors are valid".into(),
            old,
            now,
        ),
        Some(e) => condition(
            POOL_VALID,
            Truth::False,
            e.reason(),
            format!(
                "{e}; no new addresses are handed out from this pool, and Services keep the ones they have"
            ),
            old,
            now,
        ),
    };
    let others = st.allocator.pools_overlapping(&name);
    let overlapping = if others.is_empty() {
        condition(
            POOL_OVERLAPPING,
            Truth::False,
            object::NO_OVERLAP,
            "no other pool shares its addresses".into(),
            old,
            now,
        )
    } else {
        condition(
            POOL_OVERLAPPING,
            Truth::True,
            object::OVERLAPS,
            format!("shares addresses with pool(s) {}", others.join(", ")),
            old,
            now,
        )
    };
    status.conditions = vec![valid, overlapping];
    status
}

/// Whether two condition lists say the same (transition times aside).
pub fn same_conditions(a: &[Condition], b: &[Condition]) -> bool {
    fn key(c: &Condition) -> (&str, &str, &str, &str) {
        (&c.type_, &c.status, &c.reason, &c.message)
    }
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| key(x) == key(y))
}

fn same(a: &IPAddressPoolStatus, b: &IPAddressPoolStatus) -> bool {
    let counts = |s: &IPAddressPoolStatus| {
        (
            s.assigned_ipv4,
            s.available_ipv4.clone(),
            s.assigned_ipv6,
            s.available_ipv6.clone(),
        )
    };
    counts(a) == counts(b) && same_conditions(&a.conditions, &b.conditions)
}

/// Writes `status` as the whole status of one of ferrolb's own objects (server-side apply, as
/// ferrolb's field manager). A failure is logged; the next change writes it again.
pub async fn apply_status<K>(api: &Api<K>, name: &str, status: &impl Serialize)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let kind = K::kind(&());
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": kind,
        "status": status,
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    if let Err(e) = api.patch_status(name, &params, &Patch::Apply(body)).await {
        warn!(%kind, %name, error = %e, "could not write the status");
    }
}

/// Runs until the process ends: after each change, writes the pools' statuses, then the
/// advertisements' (which pools they select).
pub async fn run(ctx: Arc<Context>) {
    let api: Api<IPAddressPool> = Api::all(ctx.client.clone());
    loop {
        ctx.status_changed.notified().await;
        ctx.wait_synced().await;
        tokio::time::sleep(COALESCE).await;
        let now = Timestamp::now();
        let writes: Vec<(String, IPAddressPoolStatus)> = {
            let st = ctx.state.lock().await;
            ctx.pools
                .state()
                .iter()
                .filter_map(|p| {
                    let want = desired(&st, p, now);
                    record_metrics(&ctx, &p.name_any(), &want);
                    let current = p.status.clone().unwrap_or_default();
                    (!same(&current, &want)).then(|| (p.name_any(), want))
                })
                .collect()
        };
        for (name, status) in writes {
            apply_status(&api, &name, &status).await;
        }
        advertisement_status::write_changed(&ctx, now).await;
    }
}

fn record_metrics(ctx: &Context, pool: &str, status: &IPAddressPoolStatus) {
    let gauge = |family, assigned: Option<i64>, available: &Option<String>| {
        let labels = PoolLabels {
            pool: pool.to_owned(),
            family,
        };
        let assigned = assigned.unwrap_or(0);
        let available: i64 = available
            .as_deref()
            .and_then(|s| s.parse::<u128>().ok())
            .map_or(0, |n| i64::try_from(n).unwrap_or(i64::MAX));
        ctx.metrics
            .pool_addresses_in_use
            .get_or_create(&labels)
            .set(assigned);
        ctx.metrics
            .pool_addresses_total
            .get_or_create(&labels)
            .set(assigned.saturating_add(available));
    };
    gauge(
        Family4or6::Ipv4,
        status.assigned_ipv4,
        &status.available_ipv4,
    );
    gauge(
        Family4or6::Ipv6,
        status.assigned_ipv6,
        &status.available_ipv6,
    );
}
