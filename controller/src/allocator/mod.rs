//! The allocator: which Service holds which address. Pure and synchronous (no I/O, no clock);
//! the reconcile loop feeds it pools and Services and writes its answers to the API.
//!
//! Allocations are keyed by address and never depend on a pool still existing: a pool that is
//! deleted or becomes invalid does not take addresses away. Pools only decide new allocations,
//! whether a held address is still inside policy ([`Placement`]), and which addresses are in no
//! pool at all ([`Allocator::services_outside_all_pools`]), which the controller moves (with
//! [`Allocator::relocate`]) once it is sure the pool is gone rather than briefly missing.
//!
//! Memory is proportional to the number of allocated addresses, never to pool sizes.
//!
//! Typical use by the controller:
//! - at startup, once pools and Services are listed: [`Allocator::apply_pool`] for every valid
//!   pool, then [`Allocator::assign_existing`] with what each Service's status already shows;
//! - on every Service change: [`Allocator::allocate`] (unchanged requests keep their addresses;
//!   a changed request keeps what still satisfies it, otherwise moves the Service and says so
//!   in [`Outcome::Moved`]);
//! - on Service deletion: [`Allocator::release`].

mod choose;
mod claim;
mod error;
mod pool;
mod sharing;
mod usage;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ferrolb_crds::IpFamily;
use ferrolb_crds::conditions::allocated as reason;

pub use claim::{Backend, Families, Port, Protocol, ServiceClaim, ServiceKey, StackPolicy};
pub use error::AllocationError;
pub use pool::{Pool, PoolError, PoolPolicy};
pub use sharing::SharingConflict;
pub use usage::{FamilyUsage, PoolUsage};

use claim::Fingerprint;
use sharing::AddressUse;

/// An address and the pool it was taken from.
type Chosen = (IpAddr, Option<String>);

/// Whether a held address is still one the Service would get today.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// A pool containing the address admits the Service under its current policy.
    InPolicy,
    /// The address is in a pool, but no containing pool's current policy (selectors,
    /// namespaces, autoAssign, avoidBuggyIPs) would give it to the Service; it is kept.
    KeptOutsidePolicy,
    /// No pool contains the address any more; the controller should move the Service.
    OutsideAllPools,
}

/// One address held by a Service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AssignedAddress {
    /// The address.
    pub ip: IpAddr,
    /// The pool it belongs to; for an address in no pool, the deleted pool it was taken from
    /// when that is known (`None` otherwise).
    pub pool: Option<String>,
    /// Whether it is still inside the pools' policy.
    pub placement: Placement,
}

/// What happened to the Service's addresses in this call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It keeps what it had.
    Unchanged,
    /// It had nothing and now holds addresses.
    Allocated,
    /// It keeps what it had and gained these addresses (the missing family of a dual-stack
    /// Service, from the pool it already uses).
    Extended {
        /// The new addresses.
        added: Vec<IpAddr>,
        /// The Service's own request changed (to dual stack); otherwise its pool gained room.
        by_request: bool,
    },
    /// Its request changed (or it was relocated) and it left some or all of these addresses.
    Moved {
        /// The addresses it held before.
        from: Vec<IpAddr>,
    },
}

/// The addresses a Service holds after a call, primary family first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The Service.
    pub service: ServiceKey,
    /// Its addresses.
    pub addresses: Vec<AssignedAddress>,
    /// What changed.
    pub outcome: Outcome,
}

impl Allocation {
    /// The addresses alone, in status order.
    pub fn ips(&self) -> Vec<IpAddr> {
        self.addresses.iter().map(|a| a.ip).collect()
    }

    /// The `ferrolb.io/Allocated` reason (status True) describing the worst placement.
    pub fn reason(&self) -> &'static str {
        let worst = |p| self.addresses.iter().any(|a| a.placement == p);
        if worst(Placement::OutsideAllPools) {
            reason::OUTSIDE_ALL_POOLS
        } else if worst(Placement::KeptOutsidePolicy) {
            reason::KEPT_OUTSIDE_POLICY
        } else {
            reason::ALLOCATED
        }
    }
}

#[derive(Clone, Debug)]
struct PoolEntry {
    pool: Pool,
    /// False: its current spec is invalid; `pool` is the last valid one and is used only to
    /// keep existing allocations (never for new ones).
    valid: bool,
}

#[derive(Clone, Debug)]
struct Held {
    addresses: Vec<Chosen>,
    /// `None` when the addresses do not match the Service's request (re-reserved from a status
    /// written before the request changed): the next [`Allocator::allocate`] moves it.
    fingerprint: Option<Fingerprint>,
}

/// The in-memory allocation index. Decisions are serialized by `&mut self`.
#[derive(Clone, Debug, Default)]
pub struct Allocator {
    pools: BTreeMap<String, PoolEntry>,
    services: BTreeMap<ServiceKey, Held>,
    addresses: BTreeMap<IpAddr, AddressUse>,
}

impl Allocator {
    /// An allocator with no pools and no allocations.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add or replace a (valid) pool. Existing allocations are untouched.
    pub fn apply_pool(&mut self, pool: Pool) {
        let name = pool.name.clone();
        self.pools.insert(name, PoolEntry { pool, valid: true });
    }

    /// Mark a pool's current spec invalid: its last valid version keeps covering existing
    /// allocations but serves no new ones. Returns false if the pool was never valid (unknown).
    pub fn invalidate_pool(&mut self, name: &str) -> bool {
        match self.pools.get_mut(name) {
            Some(entry) => {
                entry.valid = false;
                true
            }
            None => false,
        }
    }

    /// Forget a pool. Its Services keep their addresses until the controller relocates them.
    pub fn delete_pool(&mut self, name: &str) -> Option<Pool> {
        self.pools.remove(name).map(|e| e.pool)
    }

    /// Replace every pool (all valid).
    pub fn reset_pools(&mut self, pools: impl IntoIterator<Item = Pool>) {
        self.pools.clear();
        for pool in pools {
            self.apply_pool(pool);
        }
    }

    /// A pool by name, and whether its current spec is valid.
    pub fn pool(&self, name: &str) -> Option<(&Pool, bool)> {
        self.pools.get(name).map(|e| (&e.pool, e.valid))
    }

    /// Give `claim` addresses, or confirm the ones it holds.
    ///
    /// A Service whose request (requested IPs, pool, sharing key, families) is unchanged, and
    /// which may still share its addresses, keeps them whatever the pools' policy says now; a
    /// PreferDualStack Service holding one family gains the other when its pool has room for
    /// it ([`Outcome::Extended`]). A Service whose request changed keeps what still satisfies
    /// the new request (adding or dropping a family in the same pool); otherwise it gives its
    /// addresses up and is allocated anew, and on error it holds nothing (the caller compares
    /// [`Allocator::assignment`] before and after to report the release).
    pub fn allocate(&mut self, claim: &ServiceClaim) -> Result<Allocation, AllocationError> {
        let Some(held) = self.services.get(&claim.key) else {
            let chosen = self.choose(claim)?;
            self.record(claim, chosen, Some(claim.fingerprint()));
            return Ok(self.describe(claim, Outcome::Allocated));
        };
        let same_request = held.fingerprint.as_ref() == Some(&claim.fingerprint());
        // Ports or traffic policy may have changed: still compatible with co-holders?
        let still_shares = held.addresses.iter().all(|(ip, _)| {
            self.addresses
                .get(ip)
                .is_none_or(|u| u.conflict(claim).is_none())
        });
        let before: Vec<IpAddr> = held.addresses.iter().map(|(ip, _)| *ip).collect();
        let kept = if same_request && still_shares {
            Some(self.completed(claim, held.addresses.clone()))
        } else {
            self.still_satisfying(claim, &held.addresses)
        };
        if let Some(kept) = kept {
            let added: Vec<IpAddr> = kept
                .iter()
                .map(|(ip, _)| *ip)
                .filter(|ip| !before.contains(ip))
                .collect();
            let dropped: Vec<IpAddr> = before
                .iter()
                .copied()
                .filter(|ip| !kept.iter().any(|(k, _)| k == ip))
                .collect();
            self.record(claim, kept, Some(claim.fingerprint()));
            let outcome = if !dropped.is_empty() {
                Outcome::Moved { from: before }
            } else if !added.is_empty() {
                Outcome::Extended {
                    added,
                    by_request: !same_request,
                }
            } else {
                Outcome::Unchanged
            };
            return Ok(self.describe(claim, outcome));
        }
        // Its addresses no longer fit what it asks for: they go, whether or not a new
        // allocation succeeds.
        let from = self.release(&claim.key);
        let chosen = self.choose(claim)?;
        Ok(self.replace(claim, from, chosen))
    }

    /// `held` plus the missing family of a PreferDualStack Service, when it holds only its
    /// primary family, asked for no address, and its pool now has one free for it.
    fn completed(&self, claim: &ServiceClaim, mut held: Vec<Chosen>) -> Vec<Chosen> {
        let families = &claim.families;
        let complete = families.policy == StackPolicy::PreferDualStack
            && claim.request.ips.is_empty()
            && held.len() == 1;
        if let (true, Some(secondary), [(ip, Some(pool))]) =
            (complete, families.secondary(), held.as_slice())
            && IpFamily::of(*ip) == families.primary()
            && self
                .pools
                .get(pool)
                .is_some_and(|e| e.pool.in_policy(claim, *ip))
            && let Some(extra) = self.complete_from(pool, secondary, claim)
        {
            held.push(extra);
        }
        held
    }

    /// What of `held` satisfies the Service's (changed) request, completed with a missing
    /// family from the same pool: `None` when it must be allocated anew. Addresses satisfy the
    /// request when they lie in one valid pool whose policy gives them to the Service today,
    /// every co-holder may share them, they include the primary family, and they are exactly
    /// the requested IPs if any are requested.
    fn still_satisfying(&self, claim: &ServiceClaim, held: &[Chosen]) -> Option<Vec<Chosen>> {
        let families = &claim.families;
        let requested = &claim.request.ips;
        if !requested.is_empty() {
            let same =
                requested.len() == held.len() && held.iter().all(|(ip, _)| requested.contains(ip));
            return self.choose_requested(claim).ok().filter(|_| same);
        }
        let kept: Vec<Chosen> = held
            .iter()
            .filter(|(ip, _)| families.allows(IpFamily::of(*ip)))
            .cloned()
            .collect();
        let has_primary = kept
            .iter()
            .any(|(ip, _)| IpFamily::of(*ip) == families.primary());
        let shareable = kept.iter().all(|(ip, _)| {
            self.addresses
                .get(ip)
                .is_none_or(|u| u.conflict(claim).is_none())
        });
        if !has_primary || !shareable {
            return None;
        }
        // One valid pool giving all of them to the Service today: where they came from first.
        let fits =
            |e: &PoolEntry| e.valid && kept.iter().all(|(ip, _)| e.pool.in_policy(claim, *ip));
        let origin = kept[0].1.as_deref().and_then(|o| self.pools.get(o));
        let pool = origin
            .filter(|e| fits(e))
            .or_else(|| self.pools.values().find(|e| fits(e)))?;
        let name = Some(pool.pool.name.clone());
        let mut kept: Vec<Chosen> = kept.into_iter().map(|(ip, _)| (ip, name.clone())).collect();
        if let Some(secondary) = families.secondary()
            && kept.len() == 1
        {
            match self.complete_from(&pool.pool.name, secondary, claim) {
                Some(extra) => kept.push(extra),
                None if families.policy == StackPolicy::RequireDualStack => return None,
                None => {}
            }
        }
        kept.sort_by_key(|(ip, _)| families.rank(IpFamily::of(*ip)));
        Some(kept)
    }

    /// Allocate afresh, as if the Service held nothing, and release its old addresses only if
    /// that succeeds. Used when its request changed, or to move it out of removed pools.
    pub fn relocate(&mut self, claim: &ServiceClaim) -> Result<Allocation, AllocationError> {
        let chosen = self.choose(claim)?;
        let from = self.release(&claim.key);
        Ok(self.replace(claim, from, chosen))
    }

    /// Records `chosen` for a Service that held `from` (released already), and says what that
    /// changed.
    fn replace(
        &mut self,
        claim: &ServiceClaim,
        mut from: Vec<IpAddr>,
        chosen: Vec<Chosen>,
    ) -> Allocation {
        let mut to: Vec<IpAddr> = chosen.iter().map(|(ip, _)| *ip).collect();
        self.record(claim, chosen, Some(claim.fingerprint()));
        from.sort();
        to.sort();
        let outcome = if from.is_empty() {
            Outcome::Allocated
        } else if from == to {
            Outcome::Unchanged
        } else {
            Outcome::Moved { from }
        };
        self.describe(claim, outcome)
    }

    /// Re-reserve addresses a Service already has in its status (at startup). Succeeds whatever
    /// the pools' current policy, and even for addresses in no pool (reported as
    /// [`Placement::OutsideAllPools`]); fails only if another holder may not share them.
    /// `named` is what the status says each address came from ([`origin::parse`]): that pool
    /// stays the address's pool while it contains it, or when it no longer exists.
    ///
    /// [`origin::parse`]: ferrolb_crds::conditions::origin::parse
    pub fn assign_existing(
        &mut self,
        claim: &ServiceClaim,
        ips: &[IpAddr],
        named: &[(IpAddr, &str)],
    ) -> Result<Allocation, AllocationError> {
        for ip in ips {
            if let Some(use_) = self.addresses.get(ip)
                && let Some(conflict) = use_.conflict(claim)
            {
                return Err(AllocationError::RequestedIPInUse {
                    ip: *ip,
                    holders: use_.others(&claim.key).cloned().collect(),
                    conflict,
                });
            }
        }
        let mut chosen: Vec<Chosen> = ips
            .iter()
            .map(|ip| {
                let said = named.iter().find(|(a, _)| a == ip).map(|(_, p)| *p);
                let kept = said.filter(|p| {
                    self.pools
                        .get(*p)
                        .map_or(!self.in_some_pool(*ip), |e| e.pool.contains(*ip))
                });
                let origin = kept.map(str::to_owned).or_else(|| self.origin(claim, *ip));
                (*ip, origin)
            })
            .collect();
        chosen.sort_by_key(|(ip, _)| claim.families.rank(IpFamily::of(*ip)));
        let fingerprint = self
            .status_fits_request(claim, ips)
            .then(|| claim.fingerprint());
        self.record(claim, chosen, fingerprint);
        Ok(self.describe(claim, Outcome::Unchanged))
    }

    /// The claim under which a Service whose request cannot be read (its annotations do not
    /// parse) re-reserves `ips` at startup: it joins whoever holds them on their terms
    /// (sharing key and traffic policy), as it evidently shared them before, so that its
    /// partners keep their addresses. Its own request is reported, not guessed.
    pub fn unreadable_claim(&self, key: ServiceKey, ips: &[IpAddr]) -> ServiceClaim {
        let mut claim = ServiceClaim::new(key);
        if let Some(use_) = ips.iter().find_map(|ip| self.addresses.get(ip)) {
            claim.request.sharing_key.clone_from(&use_.sharing_key);
            claim.backend = use_.backend.clone();
        }
        claim
    }

    /// Free everything the Service holds; returns those addresses.
    pub fn release(&mut self, key: &ServiceKey) -> Vec<IpAddr> {
        let Some(held) = self.services.remove(key) else {
            return Vec::new();
        };
        for (ip, _) in &held.addresses {
            self.drop_use(key, *ip);
        }
        held.addresses.into_iter().map(|(ip, _)| ip).collect()
    }

    /// The Service no longer uses `ip`; the address is free once nobody does.
    fn drop_use(&mut self, key: &ServiceKey, ip: IpAddr) {
        if let Some(use_) = self.addresses.get_mut(&ip) {
            use_.users.remove(key);
            if use_.users.is_empty() {
                self.addresses.remove(&ip);
            }
        }
    }

    /// Frees the addresses of a Service that no pool contains any more, keeping the others;
    /// returns the freed ones. An operator who removed them from every pool wants them back
    /// even when the Service has nowhere else to go.
    pub fn release_outside_pools(&mut self, key: &ServiceKey) -> Vec<IpAddr> {
        let Some(held) = self.services.get(key) else {
            return Vec::new();
        };
        let (gone, kept): (Vec<Chosen>, Vec<Chosen>) = held
            .addresses
            .iter()
            .cloned()
            .partition(|(ip, _)| !self.in_some_pool(*ip));
        for (ip, _) in &gone {
            self.drop_use(key, *ip);
        }
        if kept.is_empty() {
            self.services.remove(key);
        } else if let Some(h) = self.services.get_mut(key) {
            h.addresses = kept;
            h.fingerprint = None;
        }
        gone.into_iter().map(|(ip, _)| ip).collect()
    }

    /// The addresses a Service holds, in status order.
    pub fn assignment(&self, key: &ServiceKey) -> Option<Vec<IpAddr>> {
        self.services
            .get(key)
            .map(|h| h.addresses.iter().map(|(ip, _)| *ip).collect())
    }

    /// The Services holding an address.
    pub fn holders(&self, ip: IpAddr) -> Vec<ServiceKey> {
        self.addresses
            .get(&ip)
            .map(|u| u.users.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The Services holding an address inside `pool`'s ranges: those an edit of the pool can
    /// concern. Cost: proportional to the addresses allocated in those ranges.
    pub fn holders_within(&self, pool: &Pool) -> BTreeSet<ServiceKey> {
        pool.ranges()
            .iter()
            .flat_map(|r| self.addresses.range(r.start()..=r.end()))
            .flat_map(|(_, u)| u.users.keys().cloned())
            .collect()
    }

    /// The Services of one namespace holding addresses, in key order.
    pub fn services_in_namespace<'a>(
        &'a self,
        namespace: &'a str,
    ) -> impl Iterator<Item = &'a ServiceKey> + 'a {
        self.services
            .range(ServiceKey::new(namespace, "")..)
            .map(|(k, _)| k)
            .take_while(move |k| k.namespace == namespace)
    }

    /// Number of Services holding addresses.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The Services holding addresses, in key order.
    pub fn service_keys(&self) -> impl Iterator<Item = &ServiceKey> {
        self.services.keys()
    }

    /// Allocated addresses that no pool (valid or not) contains.
    pub fn addresses_outside_all_pools(&self) -> Vec<IpAddr> {
        self.addresses
            .keys()
            .copied()
            .filter(|ip| !self.in_some_pool(*ip))
            .collect()
    }

    /// Services holding at least one address that no pool contains: candidates to relocate.
    pub fn services_outside_all_pools(&self) -> Vec<ServiceKey> {
        self.services
            .iter()
            .filter(|(_, h)| h.addresses.iter().any(|(ip, _)| !self.in_some_pool(*ip)))
            .map(|(k, _)| k.clone())
            .collect()
    }

    fn in_some_pool(&self, ip: IpAddr) -> bool {
        self.pools.values().any(|e| e.pool.contains(ip))
    }

    /// Replace the Service's holding with `chosen`.
    fn record(
        &mut self,
        claim: &ServiceClaim,
        chosen: Vec<Chosen>,
        fingerprint: Option<Fingerprint>,
    ) {
        self.release(&claim.key);
        for (ip, _) in &chosen {
            self.addresses
                .entry(*ip)
                .and_modify(|u| u.join(claim))
                .or_insert_with(|| AddressUse::new(claim));
        }
        let held = Held {
            addresses: chosen,
            fingerprint,
        };
        self.services.insert(claim.key.clone(), held);
    }

    /// The pool to attribute an address to: an in-policy pool if any, else any containing one.
    fn origin(&self, claim: &ServiceClaim, ip: IpAddr) -> Option<String> {
        let containing = || self.pools.values().filter(move |e| e.pool.contains(ip));
        containing()
            .find(|e| e.pool.in_policy(claim, ip))
            .or_else(|| containing().next())
            .map(|e| e.pool.name.clone())
    }

    fn placement(&self, claim: &ServiceClaim, ip: IpAddr, origin: Option<&str>) -> AssignedAddress {
        let from_origin = origin
            .and_then(|o| self.pools.get(o))
            .filter(|e| e.pool.contains(ip));
        let (pool, placement) = match from_origin {
            Some(e) if e.pool.in_policy(claim, ip) => {
                (Some(e.pool.name.clone()), Placement::InPolicy)
            }
            _ => match self.origin(claim, ip) {
                // Named while its pool is gone: that pool's advertisements still announce it.
                None => (
                    origin
                        .filter(|o| !self.pools.contains_key(*o))
                        .map(str::to_owned),
                    Placement::OutsideAllPools,
                ),
                Some(name) => {
                    let fits = self.pools[&name].pool.in_policy(claim, ip);
                    let placement = if fits {
                        Placement::InPolicy
                    } else {
                        Placement::KeptOutsidePolicy
                    };
                    (Some(name), placement)
                }
            },
        };
        AssignedAddress {
            ip,
            pool,
            placement,
        }
    }

    fn describe(&self, claim: &ServiceClaim, outcome: Outcome) -> Allocation {
        let addresses = self
            .services
            .get(&claim.key)
            .map(|h| {
                h.addresses
                    .iter()
                    .map(|(ip, origin)| self.placement(claim, *ip, origin.as_deref()))
                    .collect()
            })
            .unwrap_or_default();
        Allocation {
            service: claim.key.clone(),
            addresses,
            outcome,
        }
    }

    /// Whether addresses found in a status are what the Service's request asks for today.
    fn status_fits_request(&self, claim: &ServiceClaim, ips: &[IpAddr]) -> bool {
        let request = &claim.request;
        if !request.ips.is_empty() {
            let (mut a, mut b) = (request.ips.clone(), ips.to_vec());
            a.sort();
            b.sort();
            if a != b {
                return false;
            }
        }
        if let Some(name) = &request.pool
            && let Some(entry) = self.pools.get(name)
            && !ips.iter().all(|ip| entry.pool.contains(*ip))
        {
            return false;
        }
        let families = &claim.families;
        let distinct = ips.len() < 2 || IpFamily::of(ips[0]) != IpFamily::of(ips[1]);
        let count_ok = match families.policy {
            StackPolicy::SingleStack => ips.len() == 1,
            StackPolicy::PreferDualStack => (1..=2).contains(&ips.len()),
            StackPolicy::RequireDualStack => ips.len() == 2,
        };
        distinct && count_ok && ips.iter().all(|ip| families.allows(IpFamily::of(*ip)))
    }
}
