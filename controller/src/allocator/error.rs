//! Why a Service has no address: each variant maps to a `ferrolb.io/Allocated` reason.

use std::net::IpAddr;

use ferrolb_crds::IpFamily;
use ferrolb_crds::annotations::RequestError;
use ferrolb_crds::conditions::allocated as reason;

use super::claim::ServiceKey;
use super::sharing::SharingConflict;

fn join<T: ToString>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why an allocation failed. The message is meant for the Service condition.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AllocationError {
    /// Every candidate pool with addresses of the family is full.
    #[error("no free {family} address in pool(s) {}", join(pools))]
    PoolExhausted {
        /// The family.
        family: IpFamily,
        /// The pools tried, in order.
        pools: Vec<String>,
    },
    /// No pool admits the Service with an address of the family.
    #[error(
        "no IPAddressPool with {family} addresses admits this Service (check autoAssign and \
         serviceAllocation namespaces/selectors)"
    )]
    NoMatchingPool {
        /// The family.
        family: IpFamily,
    },
    /// A dual-stack Service needs both families from one pool, and no pool that admits it holds
    /// both.
    #[error(
        "no IPAddressPool with both IPv4 and IPv6 addresses admits this Service (a Service's \
         addresses come from one pool; add the other family to a pool, or use PreferDualStack)"
    )]
    NoDualStackPool,
    /// The requested addresses are each in a pool, but not all in one.
    #[error(
        "requested addresses {} are not all in one IPAddressPool that admits this Service (a \
         Service's addresses come from one pool)",
        join(ips)
    )]
    RequestedIPsInSeveralPools {
        /// The requested addresses.
        ips: Vec<IpAddr>,
    },
    /// A requested address lies in no pool that admits the Service.
    #[error("requested address {ip} is in no IPAddressPool{} that admits this Service{}",
        pool.as_ref().map(|p| format!(" (requested pool {p})")).unwrap_or_default(),
        if *avoided { " (it ends in .0 or .255 and the pool sets avoidBuggyIPs)" } else { "" })]
    RequestedIPOutsidePools {
        /// The address.
        ip: IpAddr,
        /// The pool also requested, if any.
        pool: Option<String>,
        /// A pool contains the address but `avoidBuggyIPs` excludes it.
        avoided: bool,
    },
    /// A requested address is held by Services this one may not share with.
    #[error("requested address {ip} is used by {}: {conflict}", join(holders))]
    RequestedIPInUse {
        /// The address.
        ip: IpAddr,
        /// Its holders.
        holders: Vec<ServiceKey>,
        /// Why sharing is refused.
        conflict: SharingConflict,
    },
    /// The requested addresses do not fit `ipFamilyPolicy`/`ipFamilies`.
    #[error(
        "requested address(es) {} do not fit the Service's IP families: {detail}",
        join(ips)
    )]
    RequestedIPFamilyMismatch {
        /// The requested addresses.
        ips: Vec<IpAddr>,
        /// What does not fit.
        detail: String,
    },
    /// The requested pool does not exist.
    #[error("requested IPAddressPool {pool} does not exist")]
    RequestedPoolNotFound {
        /// Pool name.
        pool: String,
    },
    /// The requested pool's serviceAllocation excludes the Service.
    #[error("requested IPAddressPool {pool} does not serve this Service (serviceAllocation)")]
    RequestedPoolNotAllowed {
        /// Pool name.
        pool: String,
    },
    /// The requested pool exists but its spec is invalid.
    #[error("requested IPAddressPool {pool} is invalid; see its status")]
    RequestedPoolInvalid {
        /// Pool name.
        pool: String,
    },
    /// An annotation or `spec.loadBalancerIP` is invalid.
    #[error("{0}")]
    InvalidAnnotation(#[from] RequestError),
}

impl AllocationError {
    /// The condition reason (and metric label) for this error.
    pub fn reason(&self) -> &'static str {
        match self {
            AllocationError::PoolExhausted { .. } => reason::POOL_EXHAUSTED,
            AllocationError::NoMatchingPool { .. } => reason::NO_MATCHING_POOL,
            AllocationError::NoDualStackPool => reason::NO_DUAL_STACK_POOL,
            AllocationError::RequestedIPOutsidePools { .. } => reason::REQUESTED_IP_OUTSIDE_POOLS,
            AllocationError::RequestedIPsInSeveralPools { .. } => {
                reason::REQUESTED_IPS_IN_SEVERAL_POOLS
            }
            AllocationError::RequestedIPInUse { .. } => reason::REQUESTED_IP_IN_USE,
            AllocationError::RequestedIPFamilyMismatch { .. } => {
                reason::REQUESTED_IP_FAMILY_MISMATCH
            }
            AllocationError::RequestedPoolNotFound { .. } => reason::REQUESTED_POOL_NOT_FOUND,
            AllocationError::RequestedPoolNotAllowed { .. } => reason::REQUESTED_POOL_NOT_ALLOWED,
            AllocationError::RequestedPoolInvalid { .. } => reason::REQUESTED_POOL_INVALID,
            AllocationError::InvalidAnnotation(_) => reason::INVALID_ANNOTATION,
        }
    }
}
