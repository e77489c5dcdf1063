//! Classic BPF programs attached to the packet sockets.
//!
//! Both drop frames this host sends itself (the kernel loops outgoing frames back to packet
//! sockets): they would only be counted as drops.

use socket2::SockFilter;

const LD_W_ABS: u16 = 0x20;
const LD_B_ABS: u16 = 0x30;
const JEQ_K: u16 = 0x15;
const RET_K: u16 = 0x06;
/// `SKF_AD_OFF + SKF_AD_PKTTYPE`: the ancillary load of the packet type.
const PKTTYPE: u32 = 0xffff_f004;
/// `PACKET_OUTGOING`.
const OUTGOING: u32 = 4;
const ACCEPT: u32 = 0x0004_0000;
/// Offset of the IPv6 next-header field in an Ethernet frame.
const IPV6_NEXT_HEADER: u32 = 14 + 6;
/// Offset of the ICMPv6 type in an Ethernet frame without IPv6 extension headers (NDP has none).
const ICMPV6_TYPE: u32 = 14 + 40;
const ICMPV6: u32 = 58;
const NEIGHBOR_SOLICIT: u32 = 135;
const NEIGHBOR_ADVERT: u32 = 136;

/// For the ARP socket (already bound to the ARP ethertype): everything but our own frames.
pub fn arp() -> [SockFilter; 4] {
    [
        SockFilter::new(LD_W_ABS, 0, 0, PKTTYPE),
        SockFilter::new(JEQ_K, 0, 1, OUTGOING),
        SockFilter::new(RET_K, 0, 0, 0),
        SockFilter::new(RET_K, 0, 0, ACCEPT),
    ]
}

/// For the IPv6 socket: only neighbour solicitations and advertisements from other hosts.
pub fn ndp() -> [SockFilter; 9] {
    [
        /* 0 */ SockFilter::new(LD_W_ABS, 0, 0, PKTTYPE),
        /* 1 */ SockFilter::new(JEQ_K, 5, 0, OUTGOING), // -> 7 drop
        /* 2 */ SockFilter::new(LD_B_ABS, 0, 0, IPV6_NEXT_HEADER),
        /* 3 */ SockFilter::new(JEQ_K, 0, 3, ICMPV6), // -> 7 drop
        /* 4 */ SockFilter::new(LD_B_ABS, 0, 0, ICMPV6_TYPE),
        /* 5 */ SockFilter::new(JEQ_K, 2, 0, NEIGHBOR_SOLICIT), // -> 8 accept
        /* 6 */ SockFilter::new(JEQ_K, 1, 0, NEIGHBOR_ADVERT), // -> 8 accept
        /* 7 */ SockFilter::new(RET_K, 0, 0, 0),
        /* 8 */ SockFilter::new(RET_K, 0, 0, ACCEPT),
    ]
}
