//! Why a received frame gets no answer.

use std::fmt;

/// Why a received frame is not answered. Each reason has a stable metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The frame ends before a header or a field it announces.
    Truncated,
    /// A header field has a value the protocol forbids (lengths, code, version).
    Malformed,
    /// The link layer is not Ethernet (ARP hardware type or address length).
    UnsupportedHardware,
    /// The frame carries another protocol (ethertype, ARP protocol type, IPv6 next header).
    UnsupportedProtocol,
    /// The frame is not a request (an ARP reply, a neighbour advertisement, another opcode).
    NotRequest,
    /// A gratuitous announcement from another host for an address this node does not announce.
    Gratuitous,
    /// The requested address is not announced by this node.
    NotOurAddress,
    /// The requested address is announced by this node, but not on this interface.
    WrongInterface,
    /// The frame was sent by this interface.
    FromOurselves,
    /// The frame is addressed to another host (seen through promiscuous mode or a bridge).
    OtherHost,
    /// A sender address is broadcast or multicast, so no reply could go back to it.
    InvalidSender,
    /// The ICMPv6 checksum does not match.
    BadChecksum,
    /// An NDP message arrived with a hop limit other than 255, so it may come from off-link.
    BadHopLimit,
    /// An NDP option has length zero, runs past the message, or has the wrong size.
    BadOption,
}

impl DropReason {
    /// Every reason, for pre-registering metric label values.
    pub const ALL: [DropReason; 14] = [
        DropReason::Truncated,
        DropReason::Malformed,
        DropReason::UnsupportedHardware,
        DropReason::UnsupportedProtocol,
        DropReason::NotRequest,
        DropReason::Gratuitous,
        DropReason::NotOurAddress,
        DropReason::WrongInterface,
        DropReason::FromOurselves,
        DropReason::OtherHost,
        DropReason::InvalidSender,
        DropReason::BadChecksum,
        DropReason::BadHopLimit,
        DropReason::BadOption,
    ];

    /// The metric label (snake case, stable across releases).
    pub fn label(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::Malformed => "malformed",
            DropReason::UnsupportedHardware => "unsupported_hardware",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::NotRequest => "not_request",
            DropReason::Gratuitous => "gratuitous",
            DropReason::NotOurAddress => "not_our_address",
            DropReason::WrongInterface => "wrong_interface",
            DropReason::FromOurselves => "from_ourselves",
            DropReason::OtherHost => "other_host",
            DropReason::InvalidSender => "invalid_sender",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::BadHopLimit => "bad_hop_limit",
            DropReason::BadOption => "bad_option",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn labels_are_distinct_snake_case() {
        let labels: BTreeSet<_> = DropReason::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(labels.len(), DropReason::ALL.len());
        for label in labels {
            assert!(
                label.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{label}"
            );
        }
    }
}
