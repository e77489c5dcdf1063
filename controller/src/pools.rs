//! Feeding IPAddressPools to the allocator, and deciding which Services an edit moves.
//!
//! An invalid pool keeps its last valid version for the Services that hold its addresses; a
//! deleted pool leaves its Services where they are (it may be re-created, e.g. by an upgrade).
//! Only an edit that removes an address from every pool moves the Services holding it.
//!
//! Applying also says which Services a change concerns (those holding an address inside the
//! changed pools, and the pending ones), so that an edit of one pool in a cluster of thousands
//! of Services reconciles only those.

use std::collections::BTreeSet;
use std::sync::Arc;

use ferrolb_crds::IPAddressPool;
use kube::ResourceExt;
use tracing::{info, warn};

use crate::allocator::{Pool, ServiceKey};
use crate::context::AllocState;

/// What applying the pools changed.
#[derive(Debug, Default)]
pub struct PoolChanges {
    /// Pools added or whose spec changed.
    pub changed: usize,
    /// Services that must move because an edit removed their address from every pool.
    pub to_move: usize,
    /// Pools that became invalid or whose error changed.
    pub invalidated: usize,
    /// Pools deleted.
    pub deleted: usize,
    /// The Services to look at again: those holding an address inside a changed pool (before
    /// or after the change), and every pending one.
    pub affected: BTreeSet<ServiceKey>,
}

impl PoolChanges {
    /// Whether anything a Service's allocation depends on changed (a pool's status alone does
    /// not count).
    pub fn any(&self) -> bool {
        self.changed + self.to_move + self.invalidated + self.deleted > 0
    }
}

/// Brings the allocator's pools in line with the current objects.
pub fn apply(st: &mut AllocState, objects: &[Arc<IPAddressPool>]) -> PoolChanges {
    let mut changes = PoolChanges::default();
    let mut seen = BTreeSet::new();
    let mut edited: Vec<Pool> = Vec::new();
    for obj in objects {
        let name = obj.name_any();
        seen.insert(name.clone());
        match Pool::from_crd(obj) {
            Ok(pool) => {
                st.pool_errors.remove(&name);
                let previous = st
                    .allocator
                    .pool(&name)
                    .map(|(p, valid)| (p.clone(), valid));
                if previous
                    .as_ref()
                    .is_some_and(|(p, valid)| *valid && *p == pool)
                {
                    continue;
                }
                changes.changed += 1;
                changes.affected.extend(st.allocator.holders_within(&pool));
                if let Some((p, _)) = previous {
                    changes.affected.extend(st.allocator.holders_within(&p));
                    edited.push(p);
                }
                info!(pool = %name, "pool applied");
                st.allocator.apply_pool(pool);
                st.pool_names.insert(name);
            }
            Err(e) => {
                if st.pool_errors.get(&name) != Some(&e) {
                    warn!(pool = %name, error = %e, "invalid pool; its Services keep their addresses");
                    changes.invalidated += 1;
                    if let Some((p, _)) = st.allocator.pool(&name) {
                        changes.affected.extend(st.allocator.holders_within(p));
                    }
                }
                st.pool_errors.insert(name.clone(), e);
                st.allocator.invalidate_pool(&name);
            }
        }
    }
    let gone: Vec<String> = st
        .pool_names
        .iter()
        .filter(|n| !seen.contains(*n))
        .cloned()
        .collect();
    for name in gone {
        info!(pool = %name, "pool deleted; its Services keep their addresses");
        changes.deleted += 1;
        if let Some(p) = st.allocator.delete_pool(&name) {
            changes.affected.extend(st.allocator.holders_within(&p));
        }
        st.pool_names.remove(&name);
        st.pool_errors.remove(&name);
    }
    st.pool_errors.retain(|n, _| seen.contains(n));
    if !edited.is_empty() {
        for key in st.allocator.services_outside_all_pools() {
            let ips = st.allocator.assignment(&key).unwrap_or_default();
            let removed_by_edit = ips.iter().any(|ip| edited.iter().any(|p| p.contains(*ip)));
            if removed_by_edit && st.must_move.insert(key.clone()) {
                info!(service = %key, "its address was removed from every pool; moving it");
                changes.to_move += 1;
            }
        }
    }
    if changes.any() {
        changes.affected.extend(st.pending.iter().cloned());
        changes.affected.extend(st.must_move.iter().cloned());
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocator::ServiceClaim;
    use ferrolb_crds::IPAddressPoolSpec;

    fn mk_pool(name: &str, addresses: &[&str]) -> Arc<IPAddressPool> {
        let spec = IPAddressPoolSpec {
            addresses: addresses.iter().map(|s| (*s).to_owned()).collect(),
            auto_assign: true,
            avoid_buggy_ips: false,
            service_allocation: None,
        };
        Arc::new(IPAddressPool::new(name, spec))
    }

    fn mk_claim(name: &str) -> ServiceClaim {
        ServiceClaim::new(ServiceKey::new("default", name))
    }

    fn allocated(st: &mut AllocState, name: &str) -> String {
        let a = st.allocator.allocate(&mk_claim(name)).expect("allocate");
        a.ips()[0].to_string()
    }

    #[test]
    fn an_edit_removing_an_address_moves_its_service() {
        let mut st = AllocState::default();
        apply(
            &mut st,
            &[mk_pool("a", &["192.168.100.240-192.168.100.241"])],
        );
        assert_eq!(allocated(&mut st, "web"), "192.168.100.240");
        let c = apply(
            &mut st,
            &[mk_pool("a", &["192.168.100.241-192.168.100.242"])],
        );
        assert_eq!(c.to_move, 1);
        assert!(st.must_move.contains(&ServiceKey::new("default", "web")));
    }

    #[test]
    fn a_deleted_pool_moves_nothing() {
        let mut st = AllocState::default();
        apply(&mut st, &[mk_pool("a", &["192.168.100.240/30"])]);
        allocated(&mut st, "web");
        let c = apply(&mut st, &[]);
        assert_eq!(c.to_move, 0);
        assert!(st.must_move.is_empty());
        assert_eq!(
            st.allocator
                .assignment(&ServiceKey::new("default", "web"))
                .map(|v| v.len()),
            Some(1)
        );
    }

    #[test]
    fn an_invalid_pool_moves_nothing_and_is_reported() {
        let mut st = AllocState::default();
        apply(&mut st, &[mk_pool("a", &["192.168.100.240/30"])]);
        allocated(&mut st, "web");
        let c = apply(&mut st, &[mk_pool("a", &["fd00::20-fd00::10"])]);
        assert_eq!(c.to_move, 0);
        assert!(st.pool_errors.contains_key("a"), "{:?}", st.pool_errors);
        // No new allocations from an invalid pool.
        assert!(st.allocator.allocate(&mk_claim("other")).is_err());
    }

    #[test]
    fn an_unchanged_pool_is_not_reapplied() {
        let mut st = AllocState::default();
        let pools = [mk_pool("a", &["192.168.100.240/30"])];
        assert_eq!(apply(&mut st, &pools).changed, 1);
        assert_eq!(apply(&mut st, &pools).changed, 0);
    }

    #[test]
    fn a_status_write_is_no_change_but_deletion_and_invalidity_are() {
        let mut st = AllocState::default();
        assert!(apply(&mut st, &[mk_pool("a", &["192.168.100.240/30"])]).any());
        let mut with_status = (*mk_pool("a", &["192.168.100.240/30"])).clone();
        with_status.status = Some(ferrolb_crds::IPAddressPoolStatus {
            assigned_ipv4: Some(1),
            ..Default::default()
        });
        assert!(!apply(&mut st, &[Arc::new(with_status)]).any());
        let invalid = apply(&mut st, &[mk_pool("a", &["fd00::20-fd00::10"])]);
        assert_eq!(invalid.invalidated, 1);
        assert!(!apply(&mut st, &[mk_pool("a", &["fd00::20-fd00::10"])]).any());
        assert_eq!(apply(&mut st, &[]).deleted, 1);
    }

    #[test]
    fn a_pool_edit_concerns_that_pools_services_and_the_pending_ones_only() {
        let mut st = AllocState::default();
        let (a, b) = (
            mk_pool("a", &["192.168.100.240/30"]),
            mk_pool("b", &["10.0.0.0/30"]),
        );
        apply(&mut st, &[a.clone(), b]);
        allocated(&mut st, "in-a");
        let mut in_b = mk_claim("in-b");
        in_b.request.pool = Some("b".into());
        st.allocator.allocate(&in_b).expect("allocates");
        let waiting = ServiceKey::new("default", "waiting");
        st.pending.insert(waiting.clone());

        let grown = apply(&mut st, &[a.clone(), mk_pool("b", &["10.0.0.0/29"])]);
        let want: BTreeSet<ServiceKey> = [in_b.key.clone(), waiting.clone()].into();
        assert_eq!(grown.affected, want);
        // A status write concerns nobody; a deletion concerns the deleted pool's Services.
        assert!(
            apply(&mut st, &[a.clone(), mk_pool("b", &["10.0.0.0/29"])])
                .affected
                .is_empty()
        );
        let deleted = apply(&mut st, &[a]);
        assert_eq!(deleted.affected, want);
    }
}
