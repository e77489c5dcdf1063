//! The addresses this node announces, shared between the async side (which decides) and the
//! responder threads (which answer).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use crate::wire::{InterfaceScope, MacAddr};

/// What the responders answer for.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Owned and announced addresses, each with the one interface that answers for it.
    pub owned: BTreeMap<IpAddr, Arc<str>>,
    /// Addresses being probed before their first announcement, with the probing interface.
    pub probing: BTreeMap<IpAddr, Arc<str>>,
    /// Hardware addresses of the other speakers' interfaces: their frames are never conflicts.
    pub peer_macs: BTreeSet<MacAddr>,
}

/// The table behind a lock; readers are the responder threads.
pub type SharedTable = Arc<RwLock<Table>>;

impl Table {
    /// How `ip` may be announced on `interface`: only the chosen interface answers.
    pub fn scope(&self, ip: IpAddr, interface: &str) -> Option<InterfaceScope> {
        self.owned.get(&ip).map(|chosen| {
            if **chosen == *interface {
                InterfaceScope::Listed
            } else {
                InterfaceScope::NotListed
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_chosen_interface_answers() {
        let mut table = Table::default();
        let ip: IpAddr = "192.168.100.240".parse().unwrap();
        table.owned.insert(ip, "eth0".into());
        assert_eq!(table.scope(ip, "eth0"), Some(InterfaceScope::Listed));
        assert_eq!(table.scope(ip, "eth1"), Some(InterfaceScope::NotListed));
        assert_eq!(
            table.scope("192.168.100.241".parse().unwrap(), "eth0"),
            None
        );
    }
}
