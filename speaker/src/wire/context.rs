//! What a responder needs to know about the interface a frame arrived on.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};

use super::{DropReason, MacAddr};

/// Where an address this node owns may be announced, as the matching L2Advertisement says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterfaceScope {
    /// No interface list: answer on interfaces whose subnet contains the address.
    Subnet,
    /// The advertisement lists interfaces and this interface is one of them.
    Listed,
    /// The advertisement lists interfaces and this interface is not one of them.
    NotListed,
}

/// The addresses this node currently owns, seen from one interface.
pub trait Announcements {
    /// How `ip` may be announced on this interface, or `None` if this node does not own it.
    fn scope(&self, ip: IpAddr) -> Option<InterfaceScope>;
}

impl<F: Fn(IpAddr) -> Option<InterfaceScope>> Announcements for F {
    fn scope(&self, ip: IpAddr) -> Option<InterfaceScope> {
        self(ip)
    }
}

impl<S: std::hash::BuildHasher> Announcements for HashMap<IpAddr, InterfaceScope, S> {
    fn scope(&self, ip: IpAddr) -> Option<InterfaceScope> {
        self.get(&ip).copied()
    }
}

impl Announcements for BTreeMap<IpAddr, InterfaceScope> {
    fn scope(&self, ip: IpAddr) -> Option<InterfaceScope> {
        self.get(&ip).copied()
    }
}

/// The interface a frame arrived on and the addresses this node announces.
#[derive(Clone, Copy)]
pub struct InterfaceContext<'a> {
    /// The interface's hardware address; replies are sent from it.
    pub mac: MacAddr,
    /// The interface's IPv4 networks (address and prefix), for the subnet rule.
    pub ipv4: &'a [Ipv4Net],
    /// The interface's IPv6 networks (address and prefix), for the subnet rule.
    pub ipv6: &'a [Ipv6Net],
    /// The addresses this node owns.
    pub announcements: &'a dyn Announcements,
}

impl std::fmt::Debug for InterfaceContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InterfaceContext")
            .field("mac", &self.mac)
            .field("ipv4", &self.ipv4)
            .field("ipv6", &self.ipv6)
            .finish_non_exhaustive()
    }
}

impl InterfaceContext<'_> {
    /// Whether this interface answers for `ip`, or the reason it does not.
    pub fn answers_for(&self, ip: IpAddr) -> Result<(), DropReason> {
        match self.announcements.scope(ip) {
            None => Err(DropReason::NotOurAddress),
            Some(InterfaceScope::Listed) => Ok(()),
            Some(InterfaceScope::NotListed) => Err(DropReason::WrongInterface),
            Some(InterfaceScope::Subnet) if self.on_link(ip) => Ok(()),
            Some(InterfaceScope::Subnet) => Err(DropReason::WrongInterface),
        }
    }

    /// Whether one of this interface's networks contains `ip`.
    pub fn on_link(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(ip) => self.ipv4.iter().any(|net| net.contains(&ip)),
            IpAddr::V6(ip) => self.ipv6.iter().any(|net| net.contains(&ip)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_nets() -> (Vec<Ipv4Net>, Vec<Ipv6Net>) {
        (
            vec!["192.168.100.11/24".parse().unwrap()],
            vec!["fd00::11/64".parse().unwrap()],
        )
    }

    #[test]
    fn scope_rules() {
        let (v4, v6) = mk_nets();
        let owned: BTreeMap<IpAddr, InterfaceScope> = [
            ("192.168.100.240", InterfaceScope::Subnet),
            ("10.0.0.5", InterfaceScope::Subnet),
            ("10.0.0.6", InterfaceScope::Listed),
            ("192.168.100.241", InterfaceScope::NotListed),
            ("fd00::240", InterfaceScope::Subnet),
        ]
        .into_iter()
        .map(|(ip, scope)| (ip.parse().unwrap(), scope))
        .collect();
        let ctx = InterfaceContext {
            mac: MacAddr::new(2, 0, 0, 0, 0, 0x11),
            ipv4: &v4,
            ipv6: &v6,
            announcements: &owned,
        };
        let check = |ip: &str| ctx.answers_for(ip.parse().unwrap());
        assert_eq!(check("192.168.100.240"), Ok(()));
        assert_eq!(check("10.0.0.5"), Err(DropReason::WrongInterface));
        assert_eq!(check("10.0.0.6"), Ok(()));
        assert_eq!(check("192.168.100.241"), Err(DropReason::WrongInterface));
        assert_eq!(check("192.168.100.242"), Err(DropReason::NotOurAddress));
        assert_eq!(check("fd00::240"), Ok(()));
    }

    #[test]
    fn closures_are_announcements() {
        let only =
            |ip: IpAddr| (ip == IpAddr::from([10, 0, 0, 1])).then_some(InterfaceScope::Listed);
        let ctx = InterfaceContext {
            mac: MacAddr::zero(),
            ipv4: &[],
            ipv6: &[],
            announcements: &only,
        };
        assert_eq!(ctx.answers_for(IpAddr::from([10, 0, 0, 1])), Ok(()));
        assert_eq!(
            ctx.answers_for(IpAddr::from([10, 0, 0, 2])),
            Err(DropReason::NotOurAddress)
        );
    }
}
