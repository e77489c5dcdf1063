//! Watching the link while probing an address before announcing it (RFC 5227 for IPv4,
//! duplicate address detection for IPv6).

use std::net::IpAddr;

use super::arp::ArpFrame;
use super::ndp::{NdpFrame, NdpRepr};
use super::{Conflict, MacAddr};

/// The address being probed and the interface probing it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeWatch {
    /// The address this node wants to announce.
    pub ip: IpAddr,
    /// The probing interface's hardware address.
    pub mac: MacAddr,
}

impl ProbeWatch {
    /// Whether `frame` shows another host using, or probing for, the address. Until the probe
    /// ends any such frame is a conflict, even one a responder would answer afterwards.
    pub fn observe(&self, frame: &[u8]) -> Option<Conflict> {
        match self.ip {
            IpAddr::V4(ip) => {
                let ArpFrame { source, arp, .. } = ArpFrame::parse(frame).ok()?;
                if source == self.mac || arp.sender_mac == self.mac {
                    return None;
                }
                let uses = arp.sender_ip == ip;
                let probes = arp.is_probe() && arp.target_ip == ip;
                (uses || probes).then_some(Conflict {
                    ip: self.ip,
                    mac: arp.sender_mac,
                })
            }
            IpAddr::V6(ip) => {
                let frame = NdpFrame::parse(frame).ok()?;
                if frame.source == self.mac {
                    return None;
                }
                let mac = match frame.ndp {
                    NdpRepr::NeighborAdvert {
                        target, target_mac, ..
                    } if target == ip => target_mac.unwrap_or(frame.source),
                    NdpRepr::NeighborSolicit { target, source_mac }
                        if frame.ip_source == ip
                            || (frame.ip_source.is_unspecified() && target == ip) =>
                    {
                        source_mac.unwrap_or(frame.source)
                    }
                    _ => return None,
                };
                (mac != self.mac).then_some(Conflict { ip: self.ip, mac })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::wire::samples::{
        ARP_REQUEST, CLIENT, DAD_SOLICIT, FOREIGN_ADVERT, NEIGHBOR_SOLICIT, NODE, STRANGER, VIP4,
        VIP6,
    };

    fn watch4() -> ProbeWatch {
        ProbeWatch {
            ip: IpAddr::V4(VIP4),
            mac: NODE,
        }
    }

    fn watch6() -> ProbeWatch {
        ProbeWatch {
            ip: IpAddr::V6(VIP6),
            mac: NODE,
        }
    }

    #[test]
    fn arp_from_a_user_of_the_address_is_a_conflict() {
        let request = ArpFrame::parse(&ARP_REQUEST).unwrap().arp;
        let expected = Some(Conflict {
            ip: IpAddr::V4(VIP4),
            mac: STRANGER,
        });
        for frame in [
            ArpFrame::reply(&request, STRANGER, VIP4),
            ArpFrame::gratuitous_request(STRANGER, VIP4),
            ArpFrame::gratuitous_reply(STRANGER, VIP4),
            ArpFrame::probe(STRANGER, VIP4),
        ] {
            assert_eq!(watch4().observe(&frame.to_bytes()), expected, "{frame:?}");
        }
    }

    #[test]
    fn unrelated_arp_is_not_a_conflict() {
        let other = Ipv4Addr::new(192, 168, 100, 7);
        assert_eq!(watch4().observe(&ARP_REQUEST), None); // someone asks for it: fine
        assert_eq!(
            watch4().observe(&ArpFrame::probe(STRANGER, other).to_bytes()),
            None
        );
        assert_eq!(
            watch4().observe(&ArpFrame::probe(NODE, VIP4).to_bytes()),
            None
        );
        assert_eq!(
            watch4().observe(&ArpFrame::gratuitous_reply(NODE, VIP4).to_bytes()),
            None
        );
        assert_eq!(watch4().observe(&NEIGHBOR_SOLICIT), None);
        assert_eq!(watch4().observe(&[0; 3]), None);
    }

    #[test]
    fn ndp_from_a_user_of_the_address_is_a_conflict() {
        assert_eq!(
            watch6().observe(&FOREIGN_ADVERT),
            Some(Conflict {
                ip: IpAddr::V6(VIP6),
                mac: STRANGER
            })
        );
        // Another host running duplicate address detection for the same address.
        assert_eq!(
            watch6().observe(&DAD_SOLICIT),
            Some(Conflict {
                ip: IpAddr::V6(VIP6),
                mac: CLIENT
            })
        );
    }

    #[test]
    fn unrelated_ndp_is_not_a_conflict() {
        let other: Ipv6Addr = "fd00::7".parse().unwrap();
        assert_eq!(watch6().observe(&NEIGHBOR_SOLICIT), None);
        assert_eq!(
            watch6().observe(&NdpFrame::dad_probe(NODE, VIP6).to_bytes()),
            None
        );
        assert_eq!(
            watch6().observe(&NdpFrame::dad_probe(STRANGER, other).to_bytes()),
            None
        );
        let own = NdpFrame::unsolicited_advert(NODE, VIP6).to_bytes();
        assert_eq!(watch6().observe(&own), None);
        assert_eq!(watch6().observe(&ARP_REQUEST), None);
    }
}
