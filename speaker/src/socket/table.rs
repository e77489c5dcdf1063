//! The addresses this node announces, shared between the async side (which decides) and the
//! responder threads (which answer).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use crate::wire::{Answerer, MacAddr};

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
    /// Which interface answers for `ip`, seen from `interface`: only the chosen one does.
    pub fn answerer(&self, ip: IpAddr, interface: &str) -> Option<Answerer> {
        self.owned.get(&ip).map(|chosen| {
            if **chosen == *interface {
                Answerer::ThisInterface
            } else {
                Answerer::OtherInterface
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
        assert_eq!(table.answerer(ip, "eth0"), Some(Answerer::ThisInterface));
        assert_eq!(table.answerer(ip, "eth1"), Some(Answerer::OtherInterface));
        assert_eq!(
            table.answerer("192.168.100.241".parse().unwrap(), "eth0"),
            None
        );
    }
}
