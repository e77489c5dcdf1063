//! Rendezvous (highest random weight) hashing: every speaker ranks the same candidates the same
//! way for an address, without talking to the others, and losing one node moves only the
//! addresses it owned.

use std::cmp::Reverse;
use std::net::IpAddr;

use sha2::{Digest, Sha256};

use super::NodeName;

/// The weight of `node` for `address`: the first 8 bytes of SHA-256(node, 0, address octets).
///
/// SHA-256 rather than std's hasher because every speaker, whatever its build, must compute
/// the same value; the zero byte keeps `("a", x)` and `("a\0…", …)` inputs apart.
pub fn score(node: &NodeName, address: IpAddr) -> u64 {
    let mut hash = Sha256::new();
    hash.update(node.as_str().as_bytes());
    hash.update([0]);
    match address {
        IpAddr::V4(ip) => hash.update(ip.octets()),
        IpAddr::V6(ip) => hash.update(ip.octets()),
    }
    let digest = hash.finalize();
    let mut first = [0; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// The candidates for `address`, best first; duplicates are kept once. The order does not
/// depend on the order of the input.
pub fn ranking<'a>(
    address: IpAddr,
    candidates: impl IntoIterator<Item = &'a NodeName>,
) -> Vec<&'a NodeName> {
    let mut ranked: Vec<_> = candidates.into_iter().collect();
    // Equal scores are all but impossible; the name breaks them so the order stays total.
    ranked.sort_by_cached_key(|node| (Reverse(score(node, address)), *node));
    ranked.dedup();
    ranked
}

/// The candidate that announces `address`, or `None` when there is no candidate.
pub fn owner<'a>(
    address: IpAddr,
    candidates: impl IntoIterator<Item = &'a NodeName>,
) -> Option<&'a NodeName> {
    candidates
        .into_iter()
        .max_by_key(|node| (score(node, address), Reverse(*node)))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    fn names(names: &[&str]) -> Vec<NodeName> {
        names.iter().map(|n| NodeName::from(*n)).collect()
    }

    fn vip() -> IpAddr {
        "192.168.100.240".parse().unwrap()
    }

    /// Pinned values: a change here would make old and new speakers disagree during an upgrade.
    #[test]
    fn scores_are_stable() {
        let nodes = names(&["node-a", "node-b", "node-c"]);
        assert_eq!(score(&nodes[0], vip()), 0xce28_6f6d_77ac_79d0);
        assert_eq!(score(&nodes[1], vip()), 0x1749_1ab5_0329_7015);
        assert_eq!(score(&nodes[2], vip()), 0x965b_ccf8_d714_8a6a);
        assert_eq!(
            score(&nodes[0], "fd00::240".parse().unwrap()),
            0xd6f4_3bf0_f0d9_5857
        );
    }

    #[test]
    fn ranks_by_score() {
        let nodes = names(&["node-b", "node-c", "node-a"]);
        let ranked: Vec<&str> = ranking(vip(), &nodes)
            .into_iter()
            .map(NodeName::as_str)
            .collect();
        assert_eq!(ranked, ["node-a", "node-c", "node-b"]);
        assert_eq!(owner(vip(), &nodes).map(NodeName::as_str), Some("node-a"));
        assert_eq!(owner(vip(), &[]), None);
    }

    #[test]
    fn duplicates_count_once() {
        let nodes = names(&["node-b", "node-a", "node-b"]);
        assert_eq!(ranking(vip(), &nodes).len(), 2);
    }

    #[test]
    fn families_hash_apart() {
        let node = NodeName::from("node-a");
        let v4: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_ne!(score(&node, v4), score(&node, mapped));
    }

    fn cluster() -> impl Strategy<Value = (BTreeSet<String>, Vec<u32>)> {
        (
            proptest::collection::btree_set("[a-z]{1,3}(-[0-9]{1,2})?", 1..12),
            proptest::collection::vec(any::<u32>(), 1..24),
        )
    }

    proptest! {
        #[test]
        fn owner_is_unique_and_order_independent(
            (nodes, shuffled, addresses) in cluster().prop_flat_map(|(nodes, addresses)| {
                let nodes: Vec<String> = nodes.into_iter().collect();
                (Just(nodes.clone()), Just(nodes).prop_shuffle(), Just(addresses))
            }),
        ) {
            let nodes: Vec<NodeName> = nodes.into_iter().map(NodeName::from).collect();
            let shuffled: Vec<NodeName> = shuffled.into_iter().map(NodeName::from).collect();
            for address in addresses {
                let address = IpAddr::from(address.to_be_bytes());
                let first = owner(address, &nodes);
                prop_assert!(first.is_some());
                prop_assert_eq!(first, owner(address, &shuffled));
                prop_assert_eq!(first, ranking(address, &shuffled).first().copied());
                prop_assert_eq!(ranking(address, &nodes), ranking(address, &shuffled));
            }
        }

        #[test]
        fn losing_a_node_moves_only_its_addresses(
            (nodes, addresses) in cluster(),
            lost in any::<prop::sample::Index>(),
        ) {
            let nodes: Vec<NodeName> = nodes.into_iter().map(NodeName::from).collect();
            let lost = &nodes[lost.index(nodes.len())];
            let rest: Vec<&NodeName> = nodes.iter().filter(|n| *n != lost).collect();
            for address in addresses {
                let address = IpAddr::from(address.to_be_bytes());
                let before = owner(address, &nodes);
                let after = owner(address, rest.iter().copied());
                if before == Some(lost) {
                    // The runner-up takes over.
                    prop_assert_eq!(after, ranking(address, &nodes).get(1).copied());
                } else {
                    prop_assert_eq!(after, before);
                }
            }
        }

        #[test]
        fn a_new_node_takes_only_addresses_it_wins(
            (nodes, addresses) in cluster(),
            newcomer in "[A-Z]{1,4}",
        ) {
            let mut nodes: Vec<NodeName> = nodes.into_iter().map(NodeName::from).collect();
            let before: Vec<_> = addresses
                .iter()
                .map(|a| owner(IpAddr::from(a.to_be_bytes()), &nodes).cloned())
                .collect();
            let newcomer = NodeName::from(newcomer);
            nodes.push(newcomer.clone());
            for (address, before) in addresses.iter().zip(before) {
                let after = owner(IpAddr::from(address.to_be_bytes()), &nodes).cloned();
                prop_assert!(after == before || after.as_ref() == Some(&newcomer));
            }
        }
    }
}
