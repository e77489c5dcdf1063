//! Literal frames shared by the tests of the parsers, responders and probe watch.
//!
//! The client is 02:00:00:00:00:01 at 192.168.100.1 / fd00::1; the node under test is
//! 02:00:00:00:00:11 at 192.168.100.11 / fd00::11 and announces 192.168.100.240 / fd00::240.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::MacAddr;

/// The client's hardware address.
pub(crate) const CLIENT: MacAddr = MacAddr(2, 0, 0, 0, 0, 1);
/// The hardware address of the interface under test.
pub(crate) const NODE: MacAddr = MacAddr(2, 0, 0, 0, 0, 0x11);
/// Another host on the link.
pub(crate) const STRANGER: MacAddr = MacAddr(2, 0, 0, 0, 0, 0x99);
/// The announced IPv4 address.
pub(crate) const VIP4: Ipv4Addr = Ipv4Addr::new(192, 168, 100, 240);
/// The announced IPv6 address.
pub(crate) const VIP6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0x240);

/// Who has 192.168.100.240? Tell 192.168.100.1 (02:00:00:00:00:01), broadcast.
#[rustfmt::skip]
pub(crate) const ARP_REQUEST: [u8; 42] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // destination
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source
    0x08, 0x06, // ethertype ARP
    0x00, 0x01, // hardware type Ethernet
    0x08, 0x00, // protocol type IPv4
    0x06, 0x04, // address lengths
    0x00, 0x01, // request
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // sender MAC
    192, 168, 100, 1, // sender IP
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // target MAC
    192, 168, 100, 240, // target IP
];

/// fd00::1 (02:00:00:00:00:01) solicits fd00::240 at its solicited-node group.
#[rustfmt::skip]
pub(crate) const NEIGHBOR_SOLICIT: [u8; 86] = [
    0x33, 0x33, 0xff, 0x00, 0x02, 0x40, // destination
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source
    0x86, 0xdd, // ethertype IPv6
    0x60, 0x00, 0x00, 0x00, // version, class, flow
    0x00, 0x20, 0x3a, 0xff, // payload length 32, ICMPv6, hop limit 255
    0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01, // fd00::1
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x02, 0x40, // ff02::1:ff00:240
    0x87, 0x00, 0x79, 0x1b, // type 135, code 0, checksum
    0x00, 0x00, 0x00, 0x00, // reserved
    0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40, // target fd00::240
    0x01, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // source link-layer address
];

/// Duplicate address detection for fd00::240 by 02:00:00:00:00:01.
#[rustfmt::skip]
pub(crate) const DAD_SOLICIT: [u8; 78] = [
    0x33, 0x33, 0xff, 0x00, 0x02, 0x40,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00,
    0x00, 0x18, 0x3a, 0xff, // payload length 24
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ::
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, 0x00, 0x02, 0x40,
    0x87, 0x00, 0x79, 0x27,
    0x00, 0x00, 0x00, 0x00,
    0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40,
];

/// 02:00:00:00:00:99 advertises fd00::240 to all nodes, unsolicited, override set.
#[rustfmt::skip]
pub(crate) const FOREIGN_ADVERT: [u8; 86] = [
    0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
    0x02, 0x00, 0x00, 0x00, 0x00, 0x99,
    0x86, 0xdd,
    0x60, 0x00, 0x00, 0x00,
    0x00, 0x20, 0x3a, 0xff,
    0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40, // fd00::240
    0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01, // ff02::1
    0x88, 0x00, 0x55, 0x85, // type 136, code 0, checksum
    0x20, 0x00, 0x00, 0x00, // override
    0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40,
    0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x99, // target link-layer address
];

/// Recompute the ICMPv6 checksum of an NDP frame after a test edited it.
pub(crate) fn fix_checksum(frame: &mut [u8]) {
    let (ip, icmp) = frame[14..].split_at_mut(40);
    let source = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).unwrap());
    let destination = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).unwrap());
    let sum = pnet::util::ipv6_checksum(
        icmp,
        1,
        &[],
        &source,
        &destination,
        pnet::packet::ip::IpNextHeaderProtocols::Icmpv6,
    );
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
}
