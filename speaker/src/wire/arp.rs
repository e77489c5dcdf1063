//! ARP over Ethernet (RFC 826): parse and emit whole frames, and build the frames the speaker
//! sends on its own (gratuitous ARP, RFC 5227 probes).

use std::net::Ipv4Addr;

use pnet::packet::arp::{
    ArpHardwareTypes, ArpOperation as PnetOperation, ArpPacket, MutableArpPacket,
};
use pnet::packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};

use super::{DropReason, MacAddr};

/// Length of an Ethernet header.
pub const ETHERNET_HEADER_LEN: usize = 14;
/// Length of an ARP payload for Ethernet and IPv4.
pub const ARP_LEN: usize = 28;
/// Length of an Ethernet frame carrying ARP, without the padding the NIC adds.
pub const ARP_FRAME_LEN: usize = ETHERNET_HEADER_LEN + ARP_LEN;

/// The ARP opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// Who has `target_ip`?
    Request,
    /// `sender_ip` is at `sender_mac`.
    Reply,
    /// Any other opcode (RARP, InARP, ...).
    Other(u16),
}

impl From<u16> for ArpOperation {
    fn from(value: u16) -> Self {
        match value {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Other(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(value: ArpOperation) -> Self {
        match value {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Other(other) => other,
        }
    }
}

/// A parsed ARP message for Ethernet and IPv4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request, reply or other.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub sender_mac: MacAddr,
    /// Sender protocol address; 0.0.0.0 in an RFC 5227 probe.
    pub sender_ip: Ipv4Addr,
    /// Target hardware address; ignored in requests.
    pub target_mac: MacAddr,
    /// Target protocol address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Parse an ARP payload (the bytes after the Ethernet header); trailing padding is ignored.
    pub fn parse(bytes: &[u8]) -> Result<Self, DropReason> {
        // Check the fixed header first so a foreign hardware type is named as such even when its
        // (differently sized) addresses make it shorter or longer than ours.
        let field = |at: usize| {
            bytes
                .get(at..at + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
        };
        let (Some(htype), Some(ptype), Some(&hlen), Some(&plen)) =
            (field(0), field(2), bytes.get(4), bytes.get(5))
        else {
            return Err(DropReason::Truncated);
        };
        if htype != ArpHardwareTypes::Ethernet.0 || hlen != 6 {
            return Err(DropReason::UnsupportedHardware);
        }
        if ptype != EtherTypes::Ipv4.0 {
            return Err(DropReason::UnsupportedProtocol);
        }
        if plen != 4 {
            return Err(DropReason::Malformed);
        }
        let packet = ArpPacket::new(bytes).ok_or(DropReason::Truncated)?;
        Ok(ArpRepr {
            operation: packet.get_operation().0.into(),
            sender_mac: packet.get_sender_hw_addr(),
            sender_ip: packet.get_sender_proto_addr(),
            target_mac: packet.get_target_hw_addr(),
            target_ip: packet.get_target_proto_addr(),
        })
    }

    /// Write this message into `buf`, which must hold at least [`ARP_LEN`] bytes.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DropReason> {
        let mut packet = MutableArpPacket::new(buf).ok_or(DropReason::Truncated)?;
        packet.set_hardware_type(ArpHardwareTypes::Ethernet);
        packet.set_protocol_type(EtherTypes::Ipv4);
        packet.set_hw_addr_len(6);
        packet.set_proto_addr_len(4);
        packet.set_operation(PnetOperation(self.operation.into()));
        packet.set_sender_hw_addr(self.sender_mac);
        packet.set_sender_proto_addr(self.sender_ip);
        packet.set_target_hw_addr(self.target_mac);
        packet.set_target_proto_addr(self.target_ip);
        Ok(ARP_LEN)
    }

    /// An RFC 5227 probe: sender IP 0.0.0.0, so no host updates its cache from it.
    pub fn is_probe(&self) -> bool {
        self.operation == ArpOperation::Request && self.sender_ip.is_unspecified()
    }

    /// A gratuitous announcement: the sender asks for, or answers, its own address.
    pub fn is_gratuitous(&self) -> bool {
        !self.sender_ip.is_unspecified() && self.sender_ip == self.target_ip
    }
}

/// An Ethernet frame carrying ARP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpFrame {
    /// Ethernet destination.
    pub destination: MacAddr,
    /// Ethernet source.
    pub source: MacAddr,
    /// The ARP message.
    pub arp: ArpRepr,
}

impl ArpFrame {
    /// Parse a whole Ethernet frame; anything but ARP is `UnsupportedProtocol`.
    pub fn parse(frame: &[u8]) -> Result<Self, DropReason> {
        let ethernet = EthernetPacket::new(frame).ok_or(DropReason::Truncated)?;
        if ethernet.get_ethertype() != EtherTypes::Arp {
            return Err(DropReason::UnsupportedProtocol);
        }
        let arp = ArpRepr::parse(&frame[ETHERNET_HEADER_LEN..])?;
        Ok(ArpFrame {
            destination: ethernet.get_destination(),
            source: ethernet.get_source(),
            arp,
        })
    }

    /// Write the frame into `buf` (at least [`ARP_FRAME_LEN`] bytes); returns the length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, DropReason> {
        let mut ethernet = MutableEthernetPacket::new(buf).ok_or(DropReason::Truncated)?;
        ethernet.set_destination(self.destination);
        ethernet.set_source(self.source);
        ethernet.set_ethertype(EtherTypes::Arp);
        let len = self.arp.emit(&mut buf[ETHERNET_HEADER_LEN..])?;
        Ok(ETHERNET_HEADER_LEN + len)
    }

    /// The frame as bytes.
    pub fn to_bytes(&self) -> [u8; ARP_FRAME_LEN] {
        let mut buf = [0; ARP_FRAME_LEN];
        // The buffer has exactly the required length, so emitting cannot fail.
        let _ = self.emit(&mut buf);
        buf
    }

    /// The reply announcing that `ip` is at `mac`, addressed to the sender of `request`.
    pub fn reply(request: &ArpRepr, mac: MacAddr, ip: Ipv4Addr) -> Self {
        ArpFrame {
            destination: request.sender_mac,
            source: mac,
            arp: ArpRepr {
                operation: ArpOperation::Reply,
                sender_mac: mac,
                sender_ip: ip,
                target_mac: request.sender_mac,
                // 0.0.0.0 when answering a probe, as Linux does (RFC 5227 section 2.1.1).
                target_ip: request.sender_ip,
            },
        }
    }

    /// A gratuitous ARP request (an RFC 5227 announcement), broadcast.
    pub fn gratuitous_request(mac: MacAddr, ip: Ipv4Addr) -> Self {
        ArpFrame {
            destination: MacAddr::broadcast(),
            source: mac,
            arp: ArpRepr {
                operation: ArpOperation::Request,
                sender_mac: mac,
                sender_ip: ip,
                target_mac: MacAddr::zero(),
                target_ip: ip,
            },
        }
    }

    /// A gratuitous ARP reply, broadcast; some hosts only update their cache from replies, so
    /// MetalLB and kube-vip send both kinds.
    pub fn gratuitous_reply(mac: MacAddr, ip: Ipv4Addr) -> Self {
        ArpFrame {
            destination: MacAddr::broadcast(),
            source: mac,
            arp: ArpRepr {
                operation: ArpOperation::Reply,
                sender_mac: mac,
                sender_ip: ip,
                target_mac: MacAddr::broadcast(),
                target_ip: ip,
            },
        }
    }

    /// An RFC 5227 probe asking whether any host uses `ip`, without claiming it.
    pub fn probe(mac: MacAddr, ip: Ipv4Addr) -> Self {
        ArpFrame {
            destination: MacAddr::broadcast(),
            source: mac,
            arp: ArpRepr {
                operation: ArpOperation::Request,
                sender_mac: mac,
                sender_ip: Ipv4Addr::UNSPECIFIED,
                target_mac: MacAddr::zero(),
                target_ip: ip,
            },
        }
    }
}

#[cfg(test)]
#[path = "arp_tests.rs"]
mod tests;
