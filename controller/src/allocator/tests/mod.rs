//! Synchronous tests of the allocator, built with small `mk_*` helpers.

mod lifecycle;
mod selection;
mod sharing;
mod usage;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_crds::{AddressRange, IpFamily};
use kube::core::Selector;

use super::*;

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

pub(crate) fn mk_pool(name: &str, addresses: &[&str]) -> Pool {
    Pool::new(
        name,
        addresses
            .iter()
            .map(|a| AddressRange::parse(a).expect("test range")),
    )
}

pub(super) fn mk_policy_pool(name: &str, addresses: &[&str], priority: Option<i32>) -> Pool {
    let mut pool = mk_pool(name, addresses);
    pool.policy = Some(PoolPolicy {
        priority,
        ..Default::default()
    });
    pool
}

pub(crate) fn mk_svc(name: &str) -> ServiceClaim {
    ServiceClaim::new(ServiceKey::new("default", name))
}

pub(super) fn shared(name: &str, key: &str, ports: &[u16]) -> ServiceClaim {
    let mut svc = mk_svc(name);
    svc.request.sharing_key = Some(key.into());
    svc.ports = ports.iter().map(|p| Port::tcp(*p)).collect();
    svc
}

pub(super) fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn selector(pairs: &[(&str, &str)]) -> Selector {
    labels(pairs).into_iter().collect()
}

pub(super) fn kubespray() -> Allocator {
    let mut alloc = Allocator::new();
    alloc.apply_pool(mk_pool("default", &["192.168.100.240-192.168.100.249"]));
    alloc
}

pub(super) fn ips_of(alloc: &mut Allocator, svc: &ServiceClaim) -> Vec<IpAddr> {
    alloc.allocate(svc).expect("allocates").ips()
}
