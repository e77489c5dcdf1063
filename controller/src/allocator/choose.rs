//! Choosing addresses for a fresh allocation, in the order DESIGN.md fixes: requested IPs, then
//! the requested pool, then pools whose serviceAllocation matches (by priority, then name), then
//! other auto-assign pools (by name); within a pool, the lowest usable address. All of a
//! Service's addresses come from one pool: a dual-stack Service needs a pool with both families
//! (PreferDualStack settles for its primary family when no such pool has room).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_crds::IpFamily;
use ferrolb_crds::address::{ip_from_u128, ip_to_u128, is_buggy_ip};

use super::claim::{ServiceClaim, StackPolicy};
use super::error::AllocationError;
use super::pool::Pool;
use super::sharing::AddressUse;
use super::{Allocator, Chosen, PoolEntry};

impl Allocator {
    /// Addresses for `claim`, primary family first. Addresses held only by the claim itself
    /// count as free, so a Service whose request changed may keep what still fits.
    pub(super) fn choose(&self, claim: &ServiceClaim) -> Result<Vec<Chosen>, AllocationError> {
        if let Some(name) = &claim.request.pool
            && !self.pools.contains_key(name)
        {
            return Err(AllocationError::RequestedPoolNotFound { pool: name.clone() });
        }
        if !claim.request.ips.is_empty() {
            return self.choose_requested(claim);
        }
        let candidates = self.candidates(claim)?;
        let families = &claim.families;
        let primary = families.primary();
        let Some(secondary) = families.secondary() else {
            return self.pick(&candidates, primary, claim).map(|c| vec![c]);
        };
        // Both families come from one pool: a pool is the unit of policy.
        match self.pick_both(&candidates, [primary, secondary], claim) {
            Ok(both) => Ok(both),
            Err(e) if families.policy == StackPolicy::RequireDualStack => Err(e),
            Err(_) => self.pick(&candidates, primary, claim).map(|c| vec![c]),
        }
    }

    /// The first candidate pool with a usable address of each family, and those addresses in
    /// the order of `families`.
    fn pick_both(
        &self,
        candidates: &[&Pool],
        families: [IpFamily; 2],
        claim: &ServiceClaim,
    ) -> Result<Vec<Chosen>, AllocationError> {
        let dual: Vec<&Pool> = candidates
            .iter()
            .copied()
            .filter(|p| families.iter().all(|f| p.ranges_of(*f).next().is_some()))
            .collect();
        if dual.is_empty() {
            return Err(AllocationError::NoDualStackPool);
        }
        let mut short = families[0];
        for pool in &dual {
            let found = families.map(|f| lowest_usable(&self.addresses, pool, f, claim));
            match found {
                [Some(a), Some(b)] => {
                    let name = Some(pool.name.clone());
                    return Ok(vec![(a, name.clone()), (b, name)]);
                }
                [Some(_), None] => short = families[1],
                _ => {}
            }
        }
        Err(AllocationError::PoolExhausted {
            family: short,
            pools: dual.iter().map(|p| p.name.clone()).collect(),
        })
    }

    /// The missing family of a Service that holds one address of `pool`, if the pool has a
    /// usable one (a PreferDualStack Service completed, or one switched to dual stack).
    pub(super) fn complete_from(
        &self,
        pool: &str,
        family: IpFamily,
        claim: &ServiceClaim,
    ) -> Option<Chosen> {
        let entry = self.pools.get(pool).filter(|e| e.valid)?;
        let ip = lowest_usable(&self.addresses, &entry.pool, family, claim)?;
        entry
            .pool
            .in_policy(claim, ip)
            .then(|| (ip, Some(pool.to_owned())))
    }

    /// The pools to try, in order.
    fn candidates(&self, claim: &ServiceClaim) -> Result<Vec<&Pool>, AllocationError> {
        if let Some(name) = &claim.request.pool {
            let entry = &self.pools[name];
            if !entry.valid {
                return Err(AllocationError::RequestedPoolInvalid { pool: name.clone() });
            }
            if !entry.pool.admits(claim) {
                return Err(AllocationError::RequestedPoolNotAllowed { pool: name.clone() });
            }
            return Ok(vec![&entry.pool]);
        }
        let mut pools: Vec<&Pool> = self
            .pools
            .values()
            .filter(|e| e.valid && e.pool.auto_assign && e.pool.admits(claim))
            .map(|e| &e.pool)
            .collect();
        pools.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        Ok(pools)
    }

    /// The first candidate pool with a usable address of `family`, and that address.
    fn pick(
        &self,
        candidates: &[&Pool],
        family: IpFamily,
        claim: &ServiceClaim,
    ) -> Result<Chosen, AllocationError> {
        let with_family: Vec<&Pool> = candidates
            .iter()
            .copied()
            .filter(|p| p.ranges_of(family).next().is_some())
            .collect();
        if with_family.is_empty() {
            return Err(AllocationError::NoMatchingPool { family });
        }
        for pool in &with_family {
            if let Some(ip) = lowest_usable(&self.addresses, pool, family, claim) {
                return Ok((ip, Some(pool.name.clone())));
            }
        }
        Err(AllocationError::PoolExhausted {
            family,
            pools: with_family.iter().map(|p| p.name.clone()).collect(),
        })
    }

    /// Requested addresses: each must fit the families, lie in a valid pool that admits the
    /// Service (the requested pool, if one is named too) and be free or shareable.
    pub(super) fn choose_requested(
        &self,
        claim: &ServiceClaim,
    ) -> Result<Vec<Chosen>, AllocationError> {
        let ips = &claim.request.ips;
        let families = &claim.families;
        let mismatch = |detail: String| AllocationError::RequestedIPFamilyMismatch {
            ips: ips.clone(),
            detail,
        };
        if let Some(ip) = ips.iter().find(|ip| !families.allows(IpFamily::of(**ip))) {
            return Err(mismatch(format!(
                "{ip} is {} but the Service asks for {}",
                IpFamily::of(*ip),
                match families.secondary() {
                    Some(s) => format!("{} and {s}", families.primary()),
                    None => format!("{} only", families.primary()),
                }
            )));
        }
        if families.policy == StackPolicy::RequireDualStack && ips.len() < 2 {
            return Err(mismatch(
                "RequireDualStack needs one requested address of each family".into(),
            ));
        }
        // Every requested address from one pool, the requested one if named.
        let requested_pool = claim.request.pool.as_ref();
        let serves = |e: &&PoolEntry| {
            e.valid && requested_pool.is_none_or(|n| *n == e.pool.name) && e.pool.admits(claim)
        };
        let pool = self
            .pools
            .values()
            .filter(serves)
            .find(|e| ips.iter().all(|ip| e.pool.offers(*ip)));
        let Some(pool) = pool else {
            let outside = ips.iter().find(|ip| {
                !self
                    .pools
                    .values()
                    .filter(serves)
                    .any(|e| e.pool.offers(**ip))
            });
            return Err(match outside {
                Some(ip) => AllocationError::RequestedIPOutsidePools {
                    ip: *ip,
                    pool: requested_pool.cloned(),
                    avoided: is_buggy_ip(*ip)
                        && self
                            .pools
                            .values()
                            .filter(serves)
                            .any(|e| e.pool.contains(*ip)),
                },
                None => AllocationError::RequestedIPsInSeveralPools { ips: ips.clone() },
            });
        };
        let mut chosen = Vec::with_capacity(ips.len());
        for ip in ips {
            if let Some(conflict) = self.addresses.get(ip).and_then(|u| u.conflict(claim)) {
                let holders = self.addresses[ip].others(&claim.key).cloned().collect();
                return Err(AllocationError::RequestedIPInUse {
                    ip: *ip,
                    holders,
                    conflict,
                });
            }
            chosen.push((*ip, Some(pool.pool.name.clone())));
        }
        chosen.sort_by_key(|(ip, _)| families.rank(IpFamily::of(*ip)));
        Ok(chosen)
    }
}

/// The lowest address of `family` in `pool` that `claim` may hold. A Service with a sharing key
/// first looks for an address it can share (so Services with one key end up together, which is
/// what the key is for), then for the lowest free one. Cost: proportional to the number of
/// allocated addresses in the pool, never to the pool's size.
pub(super) fn lowest_usable(
    addresses: &BTreeMap<IpAddr, AddressUse>,
    pool: &Pool,
    family: IpFamily,
    claim: &ServiceClaim,
) -> Option<IpAddr> {
    if claim.request.sharing_key.is_some() {
        for range in pool.ranges_of(family) {
            let shareable = addresses
                .range(range.start()..=range.end())
                .find(|(ip, u)| {
                    !u.free_for(&claim.key) && u.conflict(claim).is_none() && pool.offers(**ip)
                });
            if let Some((ip, _)) = shareable {
                return Some(*ip);
            }
        }
    }
    for range in pool.ranges_of(family) {
        // `next` is the lowest address not yet known to be taken; None past the family's end.
        let mut next = Some(range.start_u128());
        for (ip, used) in addresses.range(range.start()..=range.end()) {
            let Some(low) = next else { break };
            let value = ip_to_u128(*ip);
            if value > low
                && let Some(free) = first_offered(pool, family, low, value - 1)
            {
                return Some(free);
            }
            if used.free_for(&claim.key) && pool.offers(*ip) {
                return Some(*ip);
            }
            next = value.checked_add(1);
        }
        if let Some(free) = next.and_then(|low| first_offered(pool, family, low, range.end_u128()))
        {
            return Some(free);
        }
    }
    None
}

/// The first address in `low..=high` the pool offers. `avoidBuggyIPs` skips at most two
/// consecutive addresses (`x.255`, `x+1.0`), so this looks at three at most.
fn first_offered(pool: &Pool, family: IpFamily, low: u128, high: u128) -> Option<IpAddr> {
    let mut value = low;
    while value <= high {
        let ip = ip_from_u128(family, value)?;
        if !(pool.avoid_buggy_ips && is_buggy_ip(ip)) {
            return Some(ip);
        }
        value = value.checked_add(1)?;
    }
    None
}
