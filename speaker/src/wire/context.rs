//! What a responder needs to know about the interface a frame arrived on.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use super::{DropReason, MacAddr};

/// Which of this node's interfaces answers for an address it owns: exactly one does (the one
/// the speaker chose for it), so a node with two interfaces on the client's network never
/// answers twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answerer {
    /// The interface the frame arrived on.
    ThisInterface,
    /// Another interface of this node.
    OtherInterface,
}

/// The addresses this node currently owns, seen from one interface.
pub trait Announcements {
    /// Which interface answers for `ip`, or `None` if this node does not own it.
    fn answerer(&self, ip: IpAddr) -> Option<Answerer>;
}

impl<F: Fn(IpAddr) -> Option<Answerer>> Announcements for F {
    fn answerer(&self, ip: IpAddr) -> Option<Answerer> {
        self(ip)
    }
}

impl<S: std::hash::BuildHasher> Announcements for HashMap<IpAddr, Answerer, S> {
    fn answerer(&self, ip: IpAddr) -> Option<Answerer> {
        self.get(&ip).copied()
    }
}

impl Announcements for BTreeMap<IpAddr, Answerer> {
    fn answerer(&self, ip: IpAddr) -> Option<Answerer> {
        self.get(&ip).copied()
    }
}

/// The interface a frame arrived on and the addresses this node announces.
#[derive(Clone, Copy)]
pub struct InterfaceContext<'a> {
    /// The interface's hardware address; replies are sent from it.
    pub mac: MacAddr,
    /// The addresses this node owns.
    pub announcements: &'a dyn Announcements,
}

impl std::fmt::Debug for InterfaceContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterfaceContext")
            .field("mac", &self.mac)
            .finish_non_exhaustive()
    }
}

impl InterfaceContext<'_> {
    /// Whether this interface answers for `ip`, or the reason it does not.
    pub fn answers_for(&self, ip: IpAddr) -> Result<(), DropReason> {
        match self.announcements.answerer(ip) {
            None => Err(DropReason::NotOurAddress),
            Some(Answerer::ThisInterface) => Ok(()),
            Some(Answerer::OtherInterface) => Err(DropReason::WrongInterface),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_chosen_interface_answers() {
        let owned: BTreeMap<IpAddr, Answerer> = [
            ("192.168.100.240", Answerer::ThisInterface),
            ("192.168.100.241", Answerer::OtherInterface),
            ("fd00::240", Answerer::ThisInterface),
        ]
        .into_iter()
        .map(|(ip, answerer)| (ip.parse().unwrap(), answerer))
        .collect();
        let ctx = InterfaceContext {
            mac: MacAddr::new(2, 0, 0, 0, 0, 0x11),
            announcements: &owned,
        };
        let check = |ip: &str| ctx.answers_for(ip.parse().unwrap());
        assert_eq!(check("192.168.100.240"), Ok(()));
        assert_eq!(check("192.168.100.241"), Err(DropReason::WrongInterface));
        assert_eq!(check("192.168.100.242"), Err(DropReason::NotOurAddress));
        assert_eq!(check("fd00::240"), Ok(()));
    }

    #[test]
    fn closures_are_announcements() {
        let only =
            |ip: IpAddr| (ip == IpAddr::from([10, 0, 0, 1])).then_some(Answerer::ThisInterface);
        let ctx = InterfaceContext {
            mac: MacAddr::zero(),
            announcements: &only,
        };
        assert_eq!(ctx.answers_for(IpAddr::from([10, 0, 0, 1])), Ok(()));
        assert_eq!(
            ctx.answers_for(IpAddr::from([10, 0, 0, 2])),
            Err(DropReason::NotOurAddress)
        );
    }
}
