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
    /// False: a RequireDualStack Service, and no pool that admits it holds both families.
    pub const NO_DUAL_STACK_POOL: &str = "NoDualStackPool";
    /// False: the requested IPs are not all in one pool that admits the Service.
    pub const REQUESTED_IPS_IN_SEVERAL_POOLS: &str = "RequestedIPsInSeveralPools";
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
    /// False: the kernels of some nodes answer ARP for the address too (kube-proxy in IPVS
    /// mode without `strictARP`).
    pub const KERNEL_ANSWERS_ARP: &str = "KernelAnswersARP";
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

/// The part of a `ferrolb.io/Announced` message that names who answers for an address:
/// `"announced by node <node> on interface <interface> (MAC <mac>)"`, preceded by the address
/// when the Service has several, one per address, joined with `"; "` and possibly followed by
/// words about the address. The speakers write it; `kubectl ferrolb` and the tests read it.
pub mod announcer {
    use std::net::IpAddr;

    /// What separates the addresses' parts of the message.
    pub const SEPARATOR: &str = "; ";
    const BY_NODE: &str = "announced by node ";
    const ON_INTERFACE: &str = " on interface ";
    const MAC: &str = " (MAC ";

    /// Who answers for one address, as a message names it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Announcer<'a> {
        /// The address, when the message names several.
        pub ip: Option<IpAddr>,
        /// The node that answers.
        pub node: &'a str,
        /// Its interface.
        pub interface: &'a str,
        /// The interface's hardware address, the one clients see in their neighbour table
        /// (written by the owner; absent when another node wrote the part).
        pub mac: Option<&'a str>,
    }

    /// The words for an address answered by `node` on `interface` with `mac`.
    pub fn words(node: &str, interface: &str, mac: Option<&str>) -> String {
        match mac {
            Some(mac) => format!("{BY_NODE}{node}{ON_INTERFACE}{interface}{MAC}{mac})"),
            None => format!("{BY_NODE}{node}{ON_INTERFACE}{interface}"),
        }
    }

    /// Every announcer the message names, in order; other parts are skipped.
    pub fn parse(message: &str) -> impl Iterator<Item = Announcer<'_>> {
        message.split(SEPARATOR).filter_map(|part| {
            let (ip, rest) = match part.split_once(' ') {
                Some((first, rest)) if first.parse::<IpAddr>().is_ok() => {
                    (first.parse().ok(), rest)
                }
                _ => (None, part),
            };
            let rest = rest.strip_prefix(BY_NODE)?;
            let (node, rest) = rest.split_once(ON_INTERFACE)?;
            let end = rest.find([' ', ',']).unwrap_or(rest.len());
            let (interface, rest) = rest.split_at(end);
            let mac = rest
                .strip_prefix(MAC)
                .and_then(|r| r.split_once(')'))
                .map(|(mac, _)| mac);
            (!node.is_empty() && !node.contains(' ') && !interface.is_empty()).then_some(
                Announcer {
                    ip,
                    node,
                    interface,
                    mac,
                },
            )
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn what_is_written_is_read_back() {
            let one = words("node1", "eth0", Some("02:00:00:00:00:01"));
            assert_eq!(
                one,
                "announced by node node1 on interface eth0 (MAC 02:00:00:00:00:01)"
            );
            let read: Vec<_> = parse(&one).collect();
            assert_eq!(
                read,
                [Announcer {
                    ip: None,
                    node: "node1",
                    interface: "eth0",
                    mac: Some("02:00:00:00:00:01")
                }]
            );
            let v4: IpAddr = "192.168.100.240".parse().expect("ip");
            let v6: IpAddr = "fd00::240".parse().expect("ip");
            let two = format!(
                "{v4} {}, defended against another host claiming it (MAC 02:00:00:00:00:99){SEPARATOR}{v6} {}",
                words("node1", "eth0", Some("02:00:00:00:00:01")),
                words("node2", "vip0", None)
            );
            let read: Vec<_> = parse(&two).collect();
            assert_eq!(read.len(), 2, "{read:?}");
            assert_eq!(
                (read[0].ip, read[0].node, read[0].interface, read[0].mac),
                (Some(v4), "node1", "eth0", Some("02:00:00:00:00:01"))
            );
            assert_eq!(
                (read[1].ip, read[1].node, read[1].interface, read[1].mac),
                (Some(v6), "node2", "vip0", None)
            );
        }

        #[test]
        fn messages_that_name_nobody_read_as_nobody() {
            for message in [
                "",
                "no L2Advertisement selects pool lab",
                "192.168.100.247 is in use by another host (MAC 02:00:00:00:00:09) seen on node1 interface eth0; not announced",
                "announced by node  on interface eth0",
                "announced by node node1 on interface ",
            ] {
                assert_eq!(parse(message).count(), 0, "{message:?}");
            }
        }
    }
}

/// The part of a `ferrolb.io/Allocated` message that names where each address comes from:
/// `"<ip> from pool <name>"`, one per address, joined with `"; "` and possibly followed by
/// words about the address. The controller writes it and the speakers read it, so that both
/// agree on an address's pool even when pools overlap, or the pool was deleted or became
/// invalid after the address was given out.
pub mod origin {
    use std::net::IpAddr;

    /// What separates the addresses' parts of the message.
    pub const SEPARATOR: &str = "; ";

    /// The words that start the part of `ip` when it comes from `pool`.
    pub fn from_pool(ip: IpAddr, pool: &str) -> String {
        format!("{ip} from pool {pool}")
    }

    /// Every `(address, pool)` the message names, in order. Parts that name no pool (an
    /// address in no pool) and text that is not such a part are skipped.
    pub fn parse(message: &str) -> impl Iterator<Item = (IpAddr, &str)> {
        message.split(SEPARATOR).filter_map(|part| {
            let mut words = part.split(' ');
            let ip = words.next()?.parse().ok()?;
            if (words.next()?, words.next()?) != ("from", "pool") {
                return None;
            }
            let pool = words.next()?.trim_end_matches(',');
            (!pool.is_empty()).then_some((ip, pool))
        })
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn what_is_written_is_read_back() {
            let v4: IpAddr = "192.168.100.240".parse().expect("ip");
            let v6: IpAddr = "fd00::240".parse().expect("ip");
            let message = [
                from_pool(v4, "default"),
                format!(
                    "{}, kept although the pool's policy changed",
                    from_pool(v6, "six")
                ),
            ]
            .join(SEPARATOR);
            let read: Vec<_> = parse(&message).collect();
            assert_eq!(read, [(v4, "default"), (v6, "six")]);
        }

        #[test]
        fn parts_without_a_pool_and_other_text_are_skipped() {
            for message in [
                "",
                "from pool default",
                "192.168.100.240 kept although no IPAddressPool contains it any more",
                "every pool that admits the Service is full",
                "192.168.100.240 from pool ",
                "300.1.1.1 from pool x",
            ] {
                assert_eq!(parse(message).count(), 0, "{message:?}");
            }
            let mixed = "10.0.0.1 kept although no IPAddressPool contains it any more; \
                         10.0.0.2 from pool b";
            let read: Vec<_> = parse(mixed).collect();
            assert_eq!(read, [("10.0.0.2".parse().expect("ip"), "b")]);
        }
    }
}
