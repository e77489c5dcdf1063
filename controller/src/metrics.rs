//! Prometheus metrics of the controller, served on `/metrics`.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

pub use ferrolb_crds::ops::metrics::ReasonLabels;

/// An address family, as a label value.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Family4or6 {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// Labels of the per-pool gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    /// The pool's name.
    pub pool: String,
    /// The address family.
    pub family: Family4or6,
}

/// Every metric the controller exports.
#[derive(Debug)]
pub struct Metrics {
    /// Addresses a pool holds (saturating at i64::MAX for huge IPv6 pools).
    pub pool_addresses_total: Family<PoolLabels, Gauge>,
    /// Addresses of a pool assigned to Services.
    pub pool_addresses_in_use: Family<PoolLabels, Gauge>,
    /// Addresses assigned to Services.
    pub allocations: Counter,
    /// Addresses released by Services.
    pub releases: Counter,
    /// Failed allocations, by reason.
    pub allocation_failures: Family<ReasonLabels, Counter>,
    /// Reconcile errors (API failures), by kind.
    pub reconcile_errors: Family<ReasonLabels, Counter>,
    /// Reconcile durations in seconds.
    pub reconcile_duration: Histogram,
    /// 1 while this replica leads (only the leader writes).
    pub leader: Gauge,
}

impl Metrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            pool_addresses_total: Family::default(),
            pool_addresses_in_use: Family::default(),
            allocations: Counter::default(),
            releases: Counter::default(),
            allocation_failures: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            leader: Gauge::default(),
        };
        let r = registry.sub_registry_with_prefix("ferrolb");
        r.register(
            "pool_addresses_total",
            "Addresses in a pool",
            m.pool_addresses_total.clone(),
        );
        r.register(
            "pool_addresses_in_use",
            "Addresses of a pool assigned to Services",
            m.pool_addresses_in_use.clone(),
        );
        r.register(
            "allocations",
            "Addresses assigned to Services",
            m.allocations.clone(),
        );
        r.register(
            "releases",
            "Addresses released by Services",
            m.releases.clone(),
        );
        r.register(
            "allocation_failures",
            "Failed allocations by reason",
            m.allocation_failures.clone(),
        );
        r.register(
            "reconcile_errors",
            "Reconcile errors by kind",
            m.reconcile_errors.clone(),
        );
        r.register(
            "controller_leader",
            "1 while this replica leads",
            m.leader.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Service reconcile duration",
            m.reconcile_duration.clone(),
        );
        m
    }
}
