//! IPv6 multicast addresses NDP uses, and the Ethernet addresses they map to (RFC 2464).

use std::net::Ipv6Addr;

use super::MacAddr;

/// ff02::1, every node on the link; unsolicited advertisements go here.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The solicited-node multicast group of `ip`: ff02::1:ff00:0/104 plus its low 24 bits.
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// Whether `ip` is a solicited-node multicast address (of any unicast address).
pub fn is_solicited_node(ip: Ipv6Addr) -> bool {
    ip.octets()[..13] == [0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff]
}

/// The Ethernet address a multicast IPv6 address maps to: 33:33 plus its low 32 bits.
pub fn multicast_mac(ip: Ipv6Addr) -> MacAddr {
    let o = ip.octets();
    MacAddr::new(0x33, 0x33, o[12], o[13], o[14], o[15])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn solicited_node_group() {
        let ip: Ipv6Addr = "fd00::1234:5678".parse().unwrap();
        let group = solicited_node(ip);
        assert_eq!(group, "ff02::1:ff34:5678".parse::<Ipv6Addr>().unwrap());
        assert!(is_solicited_node(group));
        assert!(!is_solicited_node(ip));
        assert!(!is_solicited_node(ALL_NODES));
        assert_eq!(
            multicast_mac(group),
            MacAddr::new(0x33, 0x33, 0xff, 0x34, 0x56, 0x78)
        );
    }

    #[test]
    fn all_nodes_mac() {
        assert_eq!(
            multicast_mac(ALL_NODES),
            MacAddr::new(0x33, 0x33, 0, 0, 0, 1)
        );
    }
}
