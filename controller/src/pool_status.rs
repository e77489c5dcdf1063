//! Writes each pool's status (assigned/available per family, `Valid` and `Overlapping`
//! conditions) and the per-pool gauges, whenever allocations or pools change.

use std::sync::Arc;
use std::time::Duration;

use ferrolb_crds::conditions::{POOL_OVERLAPPING, POOL_VALID, object};
use ferrolb_crds::{IPAddressPool, IPAddressPoolStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::warn;

use crate::context::{AllocState, Context};
use crate::metrics::{Family4or6, PoolLabels};
use crate::status::FIELD_MANAGER;

/// How long a burst of changes is gathered before pool statuses are written once.
const COALESCE: Duration = Duration::from_millis(500);

fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: String,
    old: &[Condition],
    now: Timestamp,
) -> Condition {
    let status = if ok { "True" } else { "False" };
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
            true,
            object::VALID,
            "the pool's addresses and selectors are valid".into(),
            old,
            now,
        ),
        Some(e) => condition(
            POOL_VALID,
            false,
            object::INVALID_ADDRESS,
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
            false,
            object::NO_OVERLAP,
            "no other pool shares its addresses".into(),
            old,
            now,
        )
    } else {
        condition(
            POOL_OVERLAPPING,
            true,
            object::OVERLAPS,
            format!("shares addresses with pool(s) {}", others.join(", ")),
            old,
            now,
        )
    };
    status.conditions = vec![valid, overlapping];
    status
}

fn same(a: &IPAddressPoolStatus, b: &IPAddressPoolStatus) -> bool {
    let key = |s: &IPAddressPoolStatus| {
        let conds: Vec<_> = s
            .conditions
            .iter()
            .map(|c| {
                (
                    c.type_.clone(),
                    c.status.clone(),
                    c.reason.clone(),
                    c.message.clone(),
                )
            })
            .collect();
        (
            s.assigned_ipv4,
            s.available_ipv4.clone(),
            s.assigned_ipv6,
            s.available_ipv6.clone(),
            conds,
        )
    };
    key(a) == key(b)
}

/// Runs until the process ends.
pub async fn run(ctx: Arc<Context>) {
    let api: Api<IPAddressPool> = Api::all(ctx.client.clone());
    loop {
        ctx.pools_changed.notified().await;
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
            let body = json!({
                "apiVersion": "ferrolb.io/v1alpha1",
                "kind": "IPAddressPool",
                "status": status,
            });
            let params = PatchParams::apply(FIELD_MANAGER).force();
            if let Err(e) = api.patch_status(&name, &params, &Patch::Apply(body)).await {
                warn!(pool = %name, error = %e, "could not write the pool status");
            }
        }
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
