//! Condition types and reasons ferrolb writes, on Services and on its own objects.
//!
//! Reasons are CamelCase words (as Kubernetes requires) and double as metric labels and event
//! reasons.

/// Service condition: whether the Service holds an address, from which pool, or why it waits.
pub const SERVICE_ALLOCATED: &str = "ferrolb.io/Allocated";
/// Service condition: which node and interface answer for the address, or why nobody does.
pub const SERVICE_ANNOUNCED: &str = "ferrolb.io/Announced";

/// Reasons of `ferrolb.io/Allocated`.
pub mod allocated {
    /// True: the address comes from a pool that admits the Service.
    pub const ALLOCATED: &str = "Allocated";
    /// True: the Service keeps an address its pools' current policy would no longer give it.
    pub const KEPT_OUTSIDE_POLICY: &str = "KeptOutsidePolicy";
    /// True: the Service keeps an address that is in no pool any more; it will be moved.
    pub const OUTSIDE_ALL_POOLS: &str = "OutsideAllPools";
    /// False: every pool that admits the Service is full.
    pub const POOL_EXHAUSTED: &str = "PoolExhausted";
    /// False: no pool admits the Service (selectors, namespaces, autoAssign, IP family).
    pub const NO_MATCHING_POOL: &str = "NoMatchingPool";
    /// False: a requested IP lies in no pool that admits the Service.
    pub const REQUESTED_IP_OUTSIDE_POOLS: &str = "RequestedIPOutsidePools";
    /// False: a requested IP is held by a Service it may not share with.
    pub const REQUESTED_IP_IN_USE: &str = "RequestedIPInUse";
    /// False: the requested IPs do not fit the Service's IP families.
    pub const REQUESTED_IP_FAMILY_MISMATCH: &str = "RequestedIPFamilyMismatch";
    /// False: the requested pool does not exist.
    pub const REQUESTED_POOL_NOT_FOUND: &str = "RequestedPoolNotFound";
    /// False: the requested pool's serviceAllocation excludes the Service.
    pub const REQUESTED_POOL_NOT_ALLOWED: &str = "RequestedPoolNotAllowed";
    /// False: the requested pool exists but its spec is invalid.
    pub const REQUESTED_POOL_INVALID: &str = "RequestedPoolInvalid";
    /// False: an annotation (or spec.loadBalancerIP) has a value ferrolb cannot use.
    pub const INVALID_ANNOTATION: &str = "InvalidAnnotation";
}

/// Reasons of `ferrolb.io/Announced`.
pub mod announced {
    /// True: a node answers ARP/NDP for the address.
    pub const ANNOUNCED: &str = "Announced";
    /// False: no L2Advertisement selects the address's pool.
    pub const NO_MATCHING_ADVERTISEMENT: &str = "NoMatchingAdvertisement";
    /// False: no node is alive, selected and has the interface up.
    pub const NO_ELIGIBLE_NODE: &str = "NoEligibleNode";
    /// False: `externalTrafficPolicy: Local` and no node has a ready endpoint.
    pub const NO_READY_ENDPOINT: &str = "NoReadyEndpoint";
    /// False: another host on the LAN answers for the address.
    pub const ADDRESS_CONFLICT: &str = "AddressConflict";
}

/// `IPAddressPool` condition: the spec parses (status False names the bad entry).
pub const POOL_VALID: &str = "Valid";
/// `IPAddressPool` condition: the pool shares addresses with other pools (named in the message).
pub const POOL_OVERLAPPING: &str = "Overlapping";
/// `L2Advertisement` condition: the spec is usable (status False names the bad field).
pub const ADVERTISEMENT_VALID: &str = "Valid";
/// `L2Advertisement` condition: which pools it announces (status False: none).
pub const ADVERTISEMENT_POOLS_SELECTED: &str = "PoolsSelected";

/// Reasons of the pool and advertisement conditions.
pub mod object {
    /// `Valid` True.
    pub const VALID: &str = "Valid";
    /// `Valid` False: an address entry does not parse.
    pub const INVALID_ADDRESS: &str = "InvalidAddress";
    /// `Valid` False: a label selector is malformed.
    pub const INVALID_SELECTOR: &str = "InvalidSelector";
    /// `Valid` False: the gratuitous interval does not parse or is out of range.
    pub const INVALID_INTERVAL: &str = "InvalidInterval";
    /// `Valid` False: an interface name is longer than Linux allows.
    pub const INVALID_INTERFACE: &str = "InvalidInterface";
    /// `PoolsSelected` True.
    pub const POOLS_SELECTED: &str = "PoolsSelected";
    /// `PoolsSelected` False: no existing pool is named or matched.
    pub const NO_MATCHING_POOL: &str = "NoMatchingPool";
    /// `Overlapping` True.
    pub const OVERLAPS: &str = "OverlapsOtherPools";
    /// `Overlapping` False.
    pub const NO_OVERLAP: &str = "NoOverlap";
}
