//! Decide what to do with one received ARP frame.

use std::net::IpAddr;

use super::arp::{ArpFrame, ArpOperation};
use super::{Conflict, Decision, DropReason, InterfaceContext};

/// The outcome for an ARP frame: a reply frame to send, a conflict, or a drop reason.
pub type ArpDecision = Decision<ArpFrame>;

/// Decide what to do with `frame`, received on the interface described by `ctx`.
///
/// Replies go only to requests for addresses this node announces on this interface. A probe
/// (sender 0.0.0.0) for such an address is answered too, as Linux does, so the prober backs off.
/// Any ARP packet from another host whose sender address is one this node announces here is a
/// [`Conflict`] (RFC 5227 section 2.4) and is never answered.
pub fn decide(frame: &[u8], ctx: &InterfaceContext<'_>) -> ArpDecision {
    match decide_parsed(frame, ctx) {
        Ok(decision) => decision,
        Err(reason) => Decision::Drop(reason),
    }
}

fn decide_parsed(frame: &[u8], ctx: &InterfaceContext<'_>) -> Result<ArpDecision, DropReason> {
    let ArpFrame {
        destination,
        source,
        arp,
    } = ArpFrame::parse(frame)?;
    if source == ctx.mac || arp.sender_mac == ctx.mac {
        return Err(DropReason::FromOurselves);
    }
    if arp.sender_mac.is_multicast() || arp.sender_ip.is_broadcast() || arp.sender_ip.is_multicast()
    {
        return Err(DropReason::InvalidSender);
    }
    // Only addresses announced on this interface count: another interface of this node on the
    // same segment has another MAC and must not look like a foreign host.
    let sender = IpAddr::V4(arp.sender_ip);
    if !arp.sender_ip.is_unspecified() && ctx.answers_for(sender).is_ok() {
        return Ok(Decision::Conflict(Conflict {
            ip: sender,
            mac: arp.sender_mac,
        }));
    }
    if arp.operation != ArpOperation::Request {
        return Err(DropReason::NotRequest);
    }
    if destination != ctx.mac && !destination.is_broadcast() {
        return Err(DropReason::OtherHost);
    }
    if arp.is_gratuitous() {
        return Err(DropReason::Gratuitous);
    }
    ctx.answers_for(IpAddr::V4(arp.target_ip))?;
    Ok(Decision::Reply(ArpFrame::reply(
        &arp,
        ctx.mac,
        arp.target_ip,
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    use super::*;
    use crate::wire::samples::{ARP_REQUEST, CLIENT, NODE, STRANGER, VIP4};
    use crate::wire::{Answerer, MacAddr};

    fn owned() -> BTreeMap<IpAddr, Answerer> {
        BTreeMap::from([
            (IpAddr::V4(VIP4), Answerer::ThisInterface),
            (IpAddr::from([10, 9, 9, 9]), Answerer::OtherInterface),
        ])
    }

    fn decide_on(frame: &[u8]) -> ArpDecision {
        let owned = owned();
        let ctx = InterfaceContext {
            mac: NODE,
            announcements: &owned,
        };
        decide(frame, &ctx)
    }

    fn request_for(target: Ipv4Addr) -> [u8; 42] {
        let mut frame = ARP_REQUEST;
        frame[38..42].copy_from_slice(&target.octets());
        frame
    }

    #[test]
    fn answers_a_request_for_an_owned_address() {
        let Decision::Reply(reply) = decide_on(&ARP_REQUEST) else {
            panic!("expected a reply");
        };
        assert_eq!(reply.destination, CLIENT);
        assert_eq!(reply.source, NODE);
        assert_eq!(reply.arp.operation, ArpOperation::Reply);
        assert_eq!((reply.arp.sender_mac, reply.arp.sender_ip), (NODE, VIP4));
        assert_eq!(reply.arp.target_ip, Ipv4Addr::new(192, 168, 100, 1));
        assert_eq!(decide_on(&ARP_REQUEST).label(), "reply");
    }

    #[test]
    fn answers_a_unicast_refresh() {
        let mut frame = ARP_REQUEST;
        frame[..6].copy_from_slice(&NODE.octets());
        assert!(matches!(decide_on(&frame), Decision::Reply(_)));
    }

    #[test]
    fn drops_requests_it_must_not_answer() {
        let drop = |frame: &[u8]| match decide_on(frame) {
            Decision::Drop(reason) => reason,
            other => panic!("expected a drop, got {other:?}"),
        };
        assert_eq!(
            drop(&request_for(Ipv4Addr::new(192, 168, 100, 241))),
            DropReason::NotOurAddress
        );
        // Owned, but this interface's subnet does not contain it.
        assert_eq!(
            drop(&request_for(Ipv4Addr::new(10, 9, 9, 9))),
            DropReason::WrongInterface
        );
        assert_eq!(drop(&ARP_REQUEST[..30]), DropReason::Truncated);

        let mut reply = ARP_REQUEST;
        reply[21] = 2;
        assert_eq!(drop(&reply), DropReason::NotRequest);
        let mut rarp = ARP_REQUEST;
        rarp[21] = 3;
        assert_eq!(drop(&rarp), DropReason::NotRequest);

        let mut ours = ARP_REQUEST;
        ours[6..12].copy_from_slice(&NODE.octets());
        assert_eq!(drop(&ours), DropReason::FromOurselves);
        let mut ours = ARP_REQUEST;
        ours[22..28].copy_from_slice(&NODE.octets());
        assert_eq!(drop(&ours), DropReason::FromOurselves);

        let mut elsewhere = ARP_REQUEST;
        elsewhere[..6].copy_from_slice(&STRANGER.octets());
        assert_eq!(drop(&elsewhere), DropReason::OtherHost);

        let mut multicast_sender = ARP_REQUEST;
        multicast_sender[22] = 0x01;
        assert_eq!(drop(&multicast_sender), DropReason::InvalidSender);
        let mut broadcast_sender = ARP_REQUEST;
        broadcast_sender[28..32].fill(0xff);
        assert_eq!(drop(&broadcast_sender), DropReason::InvalidSender);

        let mut token_ring = ARP_REQUEST;
        token_ring[15] = 6;
        assert_eq!(drop(&token_ring), DropReason::UnsupportedHardware);
    }

    #[test]
    fn gratuitous_from_others_is_dropped() {
        let other = Ipv4Addr::new(192, 168, 100, 7);
        let frame = ArpFrame::gratuitous_request(STRANGER, other).to_bytes();
        assert_eq!(decide_on(&frame), Decision::Drop(DropReason::Gratuitous));
        let frame = ArpFrame::gratuitous_reply(STRANGER, other).to_bytes();
        assert_eq!(decide_on(&frame), Decision::Drop(DropReason::NotRequest));
    }

    #[test]
    fn probe_for_an_owned_address_is_answered() {
        let probe = ArpFrame::probe(CLIENT, VIP4).to_bytes();
        let Decision::Reply(reply) = decide_on(&probe) else {
            panic!("expected a reply");
        };
        assert_eq!(reply.destination, CLIENT);
        assert_eq!(reply.arp.target_ip, Ipv4Addr::UNSPECIFIED);
        let probe = ArpFrame::probe(CLIENT, Ipv4Addr::new(192, 168, 100, 7)).to_bytes();
        assert_eq!(decide_on(&probe), Decision::Drop(DropReason::NotOurAddress));
    }

    #[test]
    fn foreign_claims_on_owned_addresses_are_conflicts() {
        let conflict = Decision::Conflict(Conflict {
            ip: IpAddr::V4(VIP4),
            mac: STRANGER,
        });
        for frame in [
            ArpFrame::gratuitous_request(STRANGER, VIP4),
            ArpFrame::gratuitous_reply(STRANGER, VIP4),
            ArpFrame::reply(&ArpFrame::parse(&ARP_REQUEST).unwrap().arp, STRANGER, VIP4),
        ] {
            assert_eq!(decide_on(&frame.to_bytes()), conflict, "{frame:?}");
        }
        // A host that uses our address as its own while asking for someone else.
        let mut request = ARP_REQUEST;
        request[22..28].copy_from_slice(&STRANGER.octets());
        request[28..32].copy_from_slice(&VIP4.octets());
        assert_eq!(decide_on(&request), conflict);
        assert_eq!(conflict.label(), "conflict");
    }

    #[test]
    fn our_own_announcements_are_not_conflicts() {
        let frame = ArpFrame::gratuitous_reply(NODE, VIP4).to_bytes();
        assert_eq!(decide_on(&frame), Decision::Drop(DropReason::FromOurselves));
    }

    #[test]
    fn claims_on_addresses_owned_elsewhere_are_not_conflicts_here() {
        let other_interface = Ipv4Addr::new(10, 9, 9, 9);
        let frame = ArpFrame::gratuitous_reply(MacAddr::new(2, 0, 0, 0, 0, 0x12), other_interface);
        assert_eq!(
            decide_on(&frame.to_bytes()),
            Decision::Drop(DropReason::NotRequest)
        );
    }
}
