//! Who a speaker is in the membership group.

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::election::NodeName;

/// A speaker's identity in the SWIM group: its node, where to reach it, and a generation
/// that grows each time it (re)joins.
///
/// SWIM refuses an identity once declared down; the generation makes a restarted or wrongly
/// suspected speaker a new identity of the same node, so it rejoins at once instead of waiting
/// for the old one to be forgotten.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SpeakerId {
    /// The node the speaker runs on; unique in the group.
    pub node: NodeName,
    /// The UDP address the speaker's membership socket listens on.
    pub addr: SocketAddr,
    /// Grows on every rejoin; a process start time in milliseconds is a good first value.
    pub generation: u64,
}

impl SpeakerId {
    /// A speaker identity.
    pub fn new(node: NodeName, addr: SocketAddr, generation: u64) -> Self {
        SpeakerId {
            node,
            addr,
            generation,
        }
    }
}

impl foca::Identity for SpeakerId {
    type Addr = NodeName;

    fn renew(&self) -> Option<Self> {
        let generation = self.generation.checked_add(1)?;
        Some(SpeakerId {
            generation,
            ..self.clone()
        })
    }

    fn addr(&self) -> NodeName {
        self.node.clone()
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        // The socket address only breaks ties, so every member keeps the same one.
        (self.generation, self.addr) > (adversary.generation, adversary.addr)
    }
}

#[cfg(test)]
mod tests {
    use foca::Identity;

    use super::*;

    fn mk_id(generation: u64) -> SpeakerId {
        SpeakerId::new(
            NodeName::from("node-a"),
            "192.168.100.11:7946".parse().unwrap(),
            generation,
        )
    }

    #[test]
    fn renewed_identity_wins() {
        let old = mk_id(7);
        let new = old.renew().unwrap();
        assert_eq!(new.generation, 8);
        assert_eq!(new.addr(), old.addr());
        assert!(new.win_addr_conflict(&old));
        assert!(!old.win_addr_conflict(&new));
    }

    #[test]
    fn ties_are_broken_the_same_way_everywhere() {
        let a = mk_id(1);
        let mut b = mk_id(1);
        b.addr = "192.168.100.12:7946".parse().unwrap();
        assert_ne!(a.win_addr_conflict(&b), b.win_addr_conflict(&a));
    }

    #[test]
    fn generation_does_not_wrap() {
        assert_eq!(mk_id(u64::MAX).renew(), None);
    }
}
