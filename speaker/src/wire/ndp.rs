//! IPv6 neighbour discovery over Ethernet (RFC 4861): parse and emit Neighbor Solicitation and
//! Neighbor Advertisement frames, and build the ones the speaker sends on its own (unsolicited
//! advertisements, duplicate address detection probes).

use std::net::Ipv6Addr;

use pnet::packet::Packet;
use pnet::packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet::packet::ip::IpNextHeaderProtocols;
use pnet::packet::ipv6::{Ipv6Packet, MutableIpv6Packet};
use pnet::util::ipv6_checksum;

use super::arp::ETHERNET_HEADER_LEN;
use super::multicast::{ALL_NODES, is_solicited_node, multicast_mac, solicited_node};
use super::ndp_options::{self, LINK_LAYER_OPTION_LEN, SOURCE_LINK_LAYER, TARGET_LINK_LAYER};
use super::{DropReason, MacAddr};

/// Length of an IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of a solicitation or advertisement without options.
pub const NDP_MESSAGE_LEN: usize = 24;
/// Length of the longest frame this module emits (one link-layer address option).
pub const NDP_FRAME_MAX_LEN: usize =
    ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + NDP_MESSAGE_LEN + LINK_LAYER_OPTION_LEN;
/// The hop limit every NDP message carries, so a receiver knows it was not routed.
pub const NDP_HOP_LIMIT: u8 = 255;

const NEIGHBOR_SOLICIT: u8 = 135;
const NEIGHBOR_ADVERT: u8 = 136;
const FLAG_ROUTER: u8 = 0x80;
const FLAG_SOLICITED: u8 = 0x40;
const FLAG_OVERRIDE: u8 = 0x20;

/// A parsed Neighbor Solicitation or Neighbor Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpRepr {
    /// Who has `target`?
    NeighborSolicit {
        /// The address being resolved.
        target: Ipv6Addr,
        /// The source link-layer address option; absent in duplicate address detection.
        source_mac: Option<MacAddr>,
    },
    /// `target` is at `target_mac`.
    NeighborAdvert {
        /// The sender is a router.
        router: bool,
        /// This answers a solicitation.
        solicited: bool,
        /// Receivers must replace a cached link-layer address.
        override_cache: bool,
        /// The address being advertised.
        target: Ipv6Addr,
        /// The target link-layer address option.
        target_mac: Option<MacAddr>,
    },
}

impl NdpRepr {
    /// The address solicited or advertised.
    pub fn target(&self) -> Ipv6Addr {
        match *self {
            NdpRepr::NeighborSolicit { target, .. } | NdpRepr::NeighborAdvert { target, .. } => {
                target
            }
        }
    }

    fn option(&self) -> Option<(u8, MacAddr)> {
        match *self {
            NdpRepr::NeighborSolicit { source_mac, .. } => {
                source_mac.map(|mac| (SOURCE_LINK_LAYER, mac))
            }
            NdpRepr::NeighborAdvert { target_mac, .. } => {
                target_mac.map(|mac| (TARGET_LINK_LAYER, mac))
            }
        }
    }

    fn message_len(&self) -> usize {
        NDP_MESSAGE_LEN + self.option().map_or(0, |_| LINK_LAYER_OPTION_LEN)
    }
}

/// An Ethernet frame carrying an IPv6 Neighbor Solicitation or Advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NdpFrame {
    /// Ethernet destination.
    pub destination: MacAddr,
    /// Ethernet source.
    pub source: MacAddr,
    /// IPv6 source; unspecified in duplicate address detection.
    pub ip_source: Ipv6Addr,
    /// IPv6 destination.
    pub ip_destination: Ipv6Addr,
    /// The NDP message.
    pub ndp: NdpRepr,
}

impl NdpFrame {
    /// Parse a whole Ethernet frame and apply the validity checks of RFC 4861 sections 7.1.1
    /// and 7.1.2: hop limit 255, code 0, checksum, length, non-multicast target, and the rules
    /// for an unspecified source.
    pub fn parse(frame: &[u8]) -> Result<Self, DropReason> {
        let ethernet = EthernetPacket::new(frame).ok_or(DropReason::Truncated)?;
        if ethernet.get_ethertype() != EtherTypes::Ipv6 {
            return Err(DropReason::UnsupportedProtocol);
        }
        let ip = Ipv6Packet::new(ethernet.payload()).ok_or(DropReason::Truncated)?;
        if ip.get_version() != 6 {
            return Err(DropReason::Malformed);
        }
        // Extension headers are not followed: NDP senders do not use them.
        if ip.get_next_header() != IpNextHeaderProtocols::Icmpv6 {
            return Err(DropReason::UnsupportedProtocol);
        }
        let icmp = ethernet.payload()[IPV6_HEADER_LEN..]
            .get(..usize::from(ip.get_payload_length()))
            .ok_or(DropReason::Truncated)?;
        let &[kind, code, ..] = icmp else {
            return Err(DropReason::Malformed);
        };
        if kind != NEIGHBOR_SOLICIT && kind != NEIGHBOR_ADVERT {
            return Err(DropReason::UnsupportedProtocol);
        }
        if ip.get_hop_limit() != NDP_HOP_LIMIT {
            return Err(DropReason::BadHopLimit);
        }
        if code != 0 || icmp.len() < NDP_MESSAGE_LEN {
            return Err(DropReason::Malformed);
        }
        let (ip_source, ip_destination) = (ip.get_source(), ip.get_destination());
        let expected = ipv6_checksum(
            icmp,
            1,
            &[],
            &ip_source,
            &ip_destination,
            IpNextHeaderProtocols::Icmpv6,
        );
        if u16::from_be_bytes([icmp[2], icmp[3]]) != expected {
            return Err(DropReason::BadChecksum);
        }
        let mut target = [0; 16];
        target.copy_from_slice(&icmp[8..NDP_MESSAGE_LEN]);
        let target = Ipv6Addr::from(target);
        if target.is_multicast() {
            return Err(DropReason::Malformed);
        }
        let options = ndp_options::parse(&icmp[NDP_MESSAGE_LEN..])?;
        let ndp = if kind == NEIGHBOR_SOLICIT {
            if ip_source.is_unspecified()
                && (!is_solicited_node(ip_destination) || options.source.is_some())
            {
                return Err(DropReason::Malformed);
            }
            NdpRepr::NeighborSolicit {
                target,
                source_mac: options.source,
            }
        } else {
            let flags = icmp[4];
            let solicited = flags & FLAG_SOLICITED != 0;
            if solicited && ip_destination.is_multicast() {
                return Err(DropReason::Malformed);
            }
            NdpRepr::NeighborAdvert {
                router: flags & FLAG_ROUTER != 0,
                solicited,
                override_cache: flags & FLAG_OVERRIDE != 0,
                target,
                target_mac: options.target,
            }
        };
        Ok(NdpFrame {
            destination: ethernet.get_destination(),
            source: ethernet.get_source(),
            ip_source,
            ip_destination,
            ndp,
        })
    }

    /// The length of the frame [`emit`](Self::emit) writes.
    pub fn frame_len(&self) -> usize {
        ETHERNET_HEADER_LEN + IPV6_HEADER_LEN + self.ndp.message_len()
    }

    /// Write the frame into `buf` with hop limit 255 and a correct checksum; returns the length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DropReason> {
        let len = self.frame_len();
        let message_len = self.ndp.message_len();
        let buf = buf.get_mut(..len).ok_or(DropReason::Truncated)?;
        let (header, rest) = buf.split_at_mut(ETHERNET_HEADER_LEN);
        let mut ethernet = MutableEthernetPacket::new(header).ok_or(DropReason::Truncated)?;
        ethernet.set_destination(self.destination);
        ethernet.set_source(self.source);
        ethernet.set_ethertype(EtherTypes::Ipv6);
        let (header, icmp) = rest.split_at_mut(IPV6_HEADER_LEN);
        let mut ip = MutableIpv6Packet::new(header).ok_or(DropReason::Truncated)?;
        ip.set_version(6);
        ip.set_traffic_class(0);
        ip.set_flow_label(0);
        // message_len is at most 32, so it always fits.
        ip.set_payload_length(message_len as u16);
        ip.set_next_header(IpNextHeaderProtocols::Icmpv6);
        ip.set_hop_limit(NDP_HOP_LIMIT);
        ip.set_source(self.ip_source);
        ip.set_destination(self.ip_destination);

        icmp.fill(0);
        icmp[0] = match self.ndp {
            NdpRepr::NeighborSolicit { .. } => NEIGHBOR_SOLICIT,
            NdpRepr::NeighborAdvert {
                router,
                solicited,
                override_cache,
                ..
            } => {
                icmp[4] = (u8::from(router) * FLAG_ROUTER)
                    | (u8::from(solicited) * FLAG_SOLICITED)
                    | (u8::from(override_cache) * FLAG_OVERRIDE);
                NEIGHBOR_ADVERT
            }
        };
        icmp[8..NDP_MESSAGE_LEN].copy_from_slice(&self.ndp.target().octets());
        if let Some((kind, mac)) = self.ndp.option() {
            ndp_options::emit_link_layer(&mut icmp[NDP_MESSAGE_LEN..], kind, mac);
        }
        let checksum = ipv6_checksum(
            icmp,
            1,
            &[],
            &self.ip_source,
            &self.ip_destination,
            IpNextHeaderProtocols::Icmpv6,
        );
        icmp[2..4].copy_from_slice(&checksum.to_be_bytes());
        Ok(len)
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut buf = vec![0; self.frame_len()];
        // The buffer has exactly the required length, so emitting cannot fail.
        let _ = self.emit(&mut buf);
        buf
    }

    /// The solicited advertisement answering `request` for `target` at `mac`. A duplicate
    /// address detection probe has no address to answer, so that answer goes to all nodes with
    /// the solicited flag clear (RFC 4861 section 7.2.4).
    pub fn advert_reply(request: &NdpFrame, mac: MacAddr, target: Ipv6Addr) -> Self {
        let source_mac = match request.ndp {
            NdpRepr::NeighborSolicit { source_mac, .. } => source_mac,
            NdpRepr::NeighborAdvert { .. } => None,
        };
        let (destination, ip_destination, solicited) = if request.ip_source.is_unspecified() {
            (multicast_mac(ALL_NODES), ALL_NODES, false)
        } else {
            (
                source_mac.unwrap_or(request.source),
                request.ip_source,
                true,
            )
        };
        NdpFrame {
            destination,
            source: mac,
            ip_source: target,
            ip_destination,
            ndp: NdpRepr::NeighborAdvert {
                router: false,
                solicited,
                override_cache: true,
                target,
                target_mac: Some(mac),
            },
        }
    }

    /// An unsolicited advertisement to all nodes, so neighbours replace their cache entry.
    pub fn unsolicited_advert(mac: MacAddr, target: Ipv6Addr) -> Self {
        NdpFrame {
            destination: multicast_mac(ALL_NODES),
            source: mac,
            ip_source: target,
            ip_destination: ALL_NODES,
            ndp: NdpRepr::NeighborAdvert {
                router: false,
                solicited: false,
                override_cache: true,
                target,
                target_mac: Some(mac),
            },
        }
    }

    /// A duplicate address detection probe for `target` (RFC 4862 section 5.4.2).
    pub fn dad_probe(mac: MacAddr, target: Ipv6Addr) -> Self {
        let group = solicited_node(target);
        NdpFrame {
            destination: multicast_mac(group),
            source: mac,
            ip_source: Ipv6Addr::UNSPECIFIED,
            ip_destination: group,
            ndp: NdpRepr::NeighborSolicit {
                target,
                source_mac: None,
            },
        }
    }
}

#[cfg(test)]
#[path = "ndp_tests.rs"]
mod tests;
