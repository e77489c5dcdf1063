//! Pools that were deleted while Services still hold their addresses. The controller keeps
//! such addresses (a deleted pool takes nothing away, see the controller's `pools`), so the
//! speakers keep announcing them under the advertisements that selected the pool: the
//! speaker remembers each pool as it last saw it, for as long as a Service names it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ferrolb_crds::IPAddressPool;
use kube::ResourceExt;

use super::service::ServiceView;

/// The last version seen of each pool, by name.
#[derive(Debug, Default)]
pub struct DeletedPools {
    last_seen: BTreeMap<String, Arc<IPAddressPool>>,
}

impl DeletedPools {
    /// Remembers the pools in `current`, and returns the deleted ones that a Service in
    /// `services` still names as the pool of one of its addresses. Pools nobody names any
    /// more are forgotten.
    pub fn update(
        &mut self,
        current: &[Arc<IPAddressPool>],
        services: &[Arc<ServiceView>],
    ) -> Vec<Arc<IPAddressPool>> {
        let named: BTreeSet<&str> = services
            .iter()
            .flat_map(|s| s.origins.iter().map(|(_, pool)| &**pool))
            .collect();
        let present: BTreeSet<String> = current.iter().map(|p| p.name_any()).collect();
        self.last_seen
            .retain(|name, _| present.contains(name) || named.contains(name.as_str()));
        for pool in current {
            self.last_seen.insert(pool.name_any(), pool.clone());
        }
        self.last_seen
            .iter()
            .filter(|(name, _)| !present.contains(*name))
            .map(|(_, pool)| pool.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::service::ServiceRef;
    use ferrolb_crds::IPAddressPoolSpec;

    fn pool(name: &str) -> Arc<IPAddressPool> {
        let spec: IPAddressPoolSpec =
            serde_json::from_value(serde_json::json!({"addresses": ["10.0.0.0/30"]}))
                .expect("spec");
        Arc::new(IPAddressPool::new(name, spec))
    }

    fn service(origins: &[(&str, &str)]) -> Arc<ServiceView> {
        Arc::new(ServiceView {
            key: ServiceRef::new("ns", "svc"),
            uid: None,
            generation: None,
            local: false,
            ips: origins
                .iter()
                .map(|(ip, _)| ip.parse().expect("ip"))
                .collect(),
            origins: origins
                .iter()
                .map(|(ip, p)| (ip.parse().expect("ip"), Arc::from(*p)))
                .collect(),
            announced: None,
        })
    }

    fn names(pools: &[Arc<IPAddressPool>]) -> Vec<String> {
        pools.iter().map(|p| p.name_any()).collect()
    }

    #[test]
    fn a_deleted_pool_is_kept_while_a_service_names_it() {
        let mut memory = DeletedPools::default();
        let web = service(&[("10.0.0.1", "a")]);
        assert!(
            memory
                .update(&[pool("a"), pool("b")], std::slice::from_ref(&web))
                .is_empty()
        );
        assert_eq!(
            names(&memory.update(&[pool("b")], std::slice::from_ref(&web))),
            ["a"]
        );
        assert_eq!(names(&memory.update(&[pool("b")], &[web])), ["a"]);
        // The Service gone (or moved), the pool is forgotten for good.
        assert!(memory.update(&[pool("b")], &[]).is_empty());
        let again = service(&[("10.0.0.1", "a")]);
        assert!(memory.update(&[pool("b")], &[again]).is_empty());
    }

    #[test]
    fn a_pool_never_seen_is_not_invented_and_a_recreated_one_is_current() {
        let mut memory = DeletedPools::default();
        let web = service(&[("10.0.0.1", "gone")]);
        assert!(memory.update(&[], std::slice::from_ref(&web)).is_empty());
        assert!(
            memory
                .update(&[pool("gone")], std::slice::from_ref(&web))
                .is_empty()
        );
        assert_eq!(names(&memory.update(&[], &[web])), ["gone"]);
    }
}
