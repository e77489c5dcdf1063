//! A pool as the allocator sees it: normalized address ranges plus the policy deciding which
//! Services it serves.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ferrolb_crds::address::{AddressRange, is_buggy_ip, normalize};
use ferrolb_crds::conditions::object;
use ferrolb_crds::{AddressError, IPAddressPool, IpFamily, selector};
use kube::core::{ParseExpressionError, Selector, SelectorExt};

use super::claim::ServiceClaim;

/// Which Services a pool serves (`spec.serviceAllocation`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolPolicy {
    /// Lower first; `None` after every pool with a priority.
    pub priority: Option<i32>,
    /// Namespaces served by name.
    pub namespaces: BTreeSet<String>,
    /// Namespaces served by label.
    pub namespace_selectors: Vec<Selector>,
    /// Services served by label (any one matching).
    pub service_selectors: Vec<Selector>,
}

impl PoolPolicy {
    /// Whether a Service is served: its namespace is named or selected (when any namespace
    /// constraint is given), and one service selector matches (when any is given).
    pub fn admits(&self, claim: &ServiceClaim) -> bool {
        let any_namespace = self.namespaces.is_empty() && self.namespace_selectors.is_empty();
        let namespace_ok = any_namespace
            || self.namespaces.contains(&claim.key.namespace)
            || self
                .namespace_selectors
                .iter()
                .any(|s| s.matches(&claim.namespace_labels));
        let service_ok = self.service_selectors.is_empty()
            || self
                .service_selectors
                .iter()
                .any(|s| s.matches(&claim.labels));
        namespace_ok && service_ok
    }
}

/// Why an `IPAddressPool` object cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PoolError {
    /// An address entry does not parse.
    #[error("spec.addresses: {0}")]
    Address(#[from] AddressError),
    /// A label selector cannot be evaluated; the message names the field, e.g.
    /// `spec.serviceAllocation.serviceSelectors[0].matchExpressions[1]: ...`.
    #[error("{0}")]
    Selector(String),
}

impl PoolError {
    /// The reason of the pool's `Valid` False condition.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Address(_) => object::INVALID_ADDRESS,
            Self::Selector(_) => object::INVALID_SELECTOR,
        }
    }
}

/// A pool of addresses and the policy for handing them out.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    /// Object name; pools are cluster-scoped.
    pub name: String,
    ranges: Vec<AddressRange>,
    /// May serve Services that did not ask for it.
    pub auto_assign: bool,
    /// Skip IPv4 `.0` and `.255` for new allocations.
    pub avoid_buggy_ips: bool,
    /// `None`: every Service.
    pub policy: Option<PoolPolicy>,
}

impl Pool {
    /// An auto-assign pool with no policy over `ranges` (merged and sorted).
    pub fn new(name: impl Into<String>, ranges: impl IntoIterator<Item = AddressRange>) -> Self {
        Self {
            name: name.into(),
            ranges: normalize(ranges),
            auto_assign: true,
            avoid_buggy_ips: false,
            policy: None,
        }
    }

    /// The pool an `IPAddressPool` object describes.
    pub fn from_crd(object: &IPAddressPool) -> Result<Self, PoolError> {
        let spec = &object.spec;
        let policy = match &spec.service_allocation {
            None => None,
            Some(sa) => {
                let selectors = |field: &str, list: &[_]| {
                    let field = format!("spec.serviceAllocation.{field}");
                    selector::check_all(&field, list).map_err(PoolError::Selector)?;
                    list.iter()
                        .cloned()
                        .enumerate()
                        .map(|(i, s)| {
                            Selector::try_from(s).map_err(|e: ParseExpressionError| {
                                PoolError::Selector(format!("{field}[{i}]: {}", e.0))
                            })
                        })
                        .collect::<Result<Vec<_>, _>>()
                };
                Some(PoolPolicy {
                    priority: sa.priority,
                    namespaces: sa.namespaces.iter().cloned().collect(),
                    namespace_selectors: selectors("namespaceSelectors", &sa.namespace_selectors)?,
                    service_selectors: selectors("serviceSelectors", &sa.service_selectors)?,
                })
            }
        };
        Ok(Self {
            name: object.metadata.name.clone().unwrap_or_default(),
            ranges: normalize(spec.ranges()?),
            auto_assign: spec.auto_assign,
            avoid_buggy_ips: spec.avoid_buggy_ips,
            policy,
        })
    }

    /// Sorted, disjoint ranges (IPv4 first).
    pub fn ranges(&self) -> &[AddressRange] {
        &self.ranges
    }

    /// Ranges of one family.
    pub fn ranges_of(&self, family: IpFamily) -> impl Iterator<Item = &AddressRange> {
        self.ranges.iter().filter(move |r| r.family() == family)
    }

    /// Whether the pool's addresses include `ip`, whatever its policy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.ranges.iter().any(|r| r.contains(ip))
    }

    /// Whether the pool would hand out `ip` today (contains it and `avoidBuggyIPs` allows it).
    pub fn offers(&self, ip: IpAddr) -> bool {
        self.contains(ip) && !(self.avoid_buggy_ips && is_buggy_ip(ip))
    }

    /// Whether the pool's serviceAllocation admits the Service.
    pub fn admits(&self, claim: &ServiceClaim) -> bool {
        self.policy.as_ref().is_none_or(|p| p.admits(claim))
    }

    /// Whether the Service may get `ip` from this pool under today's policy: offered, admitted,
    /// and either auto-assigned or asked for (by pool name or by address).
    pub fn in_policy(&self, claim: &ServiceClaim, ip: IpAddr) -> bool {
        let asked = match &claim.request.pool {
            Some(pool) => *pool == self.name,
            None => self.auto_assign || claim.request.ips.contains(&ip),
        };
        asked && self.offers(ip) && self.admits(claim)
    }

    /// Whether any address of the two pools is the same.
    pub fn overlaps(&self, other: &Pool) -> bool {
        self.ranges
            .iter()
            .any(|a| other.ranges.iter().any(|b| a.overlaps(b)))
    }

    /// Sort key among auto-assign pools: pools with a serviceAllocation by priority (unset
    /// last), then pools without one; ties by name.
    pub(crate) fn order_key(&self) -> (bool, bool, i32, &str) {
        match &self.policy {
            Some(p) => (
                false,
                p.priority.is_none(),
                p.priority.unwrap_or(0),
                &self.name,
            ),
            None => (true, true, 0, &self.name),
        }
    }
}
