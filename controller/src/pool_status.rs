//! What each pool's status should say (assigned/available per family, `Valid` and `Overlapping`
//! conditions), and the per-pool gauges. `run::statuses` writes it.

use ferrolb_crds::conditions::{POOL_OVERLAPPING, POOL_VALID, object};
use ferrolb_crds::{IPAddressPool, IPAddressPoolStatus};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

use crate::context::{AllocState, Context};
use crate::metrics::{Family4or6, PoolLabels};
use crate::object_status::{Truth, condition, same_conditions};

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

/// Whether two pool statuses say the same (transition times aside).
pub fn same(a: &IPAddressPoolStatus, b: &IPAddressPoolStatus) -> bool {
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

/// Sets the pool's gauges from the status it should show.
pub fn record_metrics(ctx: &Context, pool: &str, status: &IPAddressPoolStatus) {
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
