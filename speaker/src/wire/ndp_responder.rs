//! Decide what to do with one received Neighbor Solicitation or Advertisement frame.

use std::net::IpAddr;

use super::multicast::solicited_node;
use super::ndp::{NdpFrame, NdpRepr};
use super::{Conflict, Decision, DropReason, InterfaceContext};

/// The outcome for an NDP frame: an advertisement to send, a conflict, or a drop reason.
pub type NdpDecision = Decision<NdpFrame>;

/// Decide what to do with `frame`, received on the interface described by `ctx`.
///
/// A solicitation for an address this node announces here gets a solicited advertisement with
/// the override flag; a duplicate address detection probe for it gets an advertisement to all
/// nodes, which makes the prober give the address up. An advertisement from another host for
/// such an address, or a solicitation sent from it, is a [`Conflict`].
pub fn decide(frame: &[u8], ctx: &InterfaceContext<'_>) -> NdpDecision {
    match decide_parsed(frame, ctx) {
        Ok(decision) => decision,
        Err(reason) => Decision::Drop(reason),
    }
}

fn decide_parsed(frame: &[u8], ctx: &InterfaceContext<'_>) -> Result<NdpDecision, DropReason> {
    let request = NdpFrame::parse(frame)?;
    if request.source == ctx.mac {
        return Err(DropReason::FromOurselves);
    }
    if request.source.is_multicast() {
        return Err(DropReason::InvalidSender);
    }
    let (target, claimed_by) = match request.ndp {
        NdpRepr::NeighborAdvert {
            target, target_mac, ..
        } => {
            let mac = target_mac.unwrap_or(request.source);
            if mac != ctx.mac && ctx.answers_for(IpAddr::V6(target)).is_ok() {
                return Ok(Decision::Conflict(Conflict {
                    ip: IpAddr::V6(target),
                    mac,
                }));
            }
            return Err(DropReason::NotRequest);
        }
        NdpRepr::NeighborSolicit { target, source_mac } => {
            (target, source_mac.unwrap_or(request.source))
        }
    };
    if claimed_by == ctx.mac {
        return Err(DropReason::FromOurselves);
    }
    let sender = IpAddr::V6(request.ip_source);
    if !request.ip_source.is_unspecified() && ctx.answers_for(sender).is_ok() {
        return Ok(Decision::Conflict(Conflict {
            ip: sender,
            mac: claimed_by,
        }));
    }
    // Multicast solicitations go to the target's group; unicast ones (reachability checks) to
    // the target itself. Anything else was meant for someone else.
    let to_group = request.ip_destination == solicited_node(target)
        && (request.destination.is_multicast() || request.destination == ctx.mac);
    let to_target = request.ip_destination == target && request.destination == ctx.mac;
    if !to_group && !to_target {
        return Err(DropReason::OtherHost);
    }
    ctx.answers_for(IpAddr::V6(target))?;
    Ok(Decision::Reply(NdpFrame::advert_reply(
        &request, ctx.mac, target,
    )))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv6Addr;

    use super::*;
    use crate::wire::multicast::ALL_NODES;
    use crate::wire::samples::{
        CLIENT, DAD_SOLICIT, FOREIGN_ADVERT, NEIGHBOR_SOLICIT, NODE, STRANGER, VIP6, fix_checksum,
    };
    use crate::wire::{Answerer, MacAddr};

    fn other_vip() -> Ipv6Addr {
        "fd99::5".parse().unwrap()
    }

    fn decide_on(frame: &[u8]) -> NdpDecision {
        let owned = BTreeMap::from([
            (IpAddr::V6(VIP6), Answerer::ThisInterface),
            (IpAddr::V6(other_vip()), Answerer::OtherInterface),
        ]);
        let ctx = InterfaceContext {
            mac: NODE,
            announcements: &owned,
        };
        decide(frame, &ctx)
    }

    fn solicit(source: MacAddr, ip_source: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
        NdpFrame {
            destination: crate::wire::multicast::multicast_mac(solicited_node(target)),
            source,
            ip_source,
            ip_destination: solicited_node(target),
            ndp: NdpRepr::NeighborSolicit {
                target,
                source_mac: Some(source),
            },
        }
        .to_bytes()
    }

    #[test]
    fn answers_a_solicitation_for_an_owned_address() {
        let Decision::Reply(reply) = decide_on(&NEIGHBOR_SOLICIT) else {
            panic!("expected a reply");
        };
        assert_eq!(reply.destination, CLIENT);
        assert_eq!(reply.ip_destination, "fd00::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            reply.ndp,
            NdpRepr::NeighborAdvert {
                router: false,
                solicited: true,
                override_cache: true,
                target: VIP6,
                target_mac: Some(NODE),
            }
        );
    }

    #[test]
    fn answers_a_unicast_reachability_check() {
        let mut frame = NdpFrame::parse(&NEIGHBOR_SOLICIT).unwrap();
        frame.destination = NODE;
        frame.ip_destination = VIP6;
        assert!(matches!(decide_on(&frame.to_bytes()), Decision::Reply(_)));
    }

    #[test]
    fn answers_dad_to_all_nodes() {
        let Decision::Reply(reply) = decide_on(&DAD_SOLICIT) else {
            panic!("expected a reply");
        };
        assert_eq!(reply.ip_destination, ALL_NODES);
        assert!(matches!(
            reply.ndp,
            NdpRepr::NeighborAdvert {
                solicited: false,
                ..
            }
        ));
    }

    #[test]
    fn drops_what_it_must_not_answer() {
        let client: Ipv6Addr = "fd00::1".parse().unwrap();
        let drop = |frame: &[u8]| match decide_on(frame) {
            Decision::Drop(reason) => reason,
            other => panic!("expected a drop, got {other:?}"),
        };
        let stranger_vip: Ipv6Addr = "fd00::241".parse().unwrap();
        assert_eq!(
            drop(&solicit(CLIENT, client, stranger_vip)),
            DropReason::NotOurAddress
        );
        assert_eq!(
            drop(&solicit(CLIENT, client, other_vip())),
            DropReason::WrongInterface
        );
        assert_eq!(
            drop(&solicit(NODE, client, VIP6)),
            DropReason::FromOurselves
        );
        assert_eq!(drop(&NEIGHBOR_SOLICIT[..80]), DropReason::Truncated);

        let mut hop = NEIGHBOR_SOLICIT;
        hop[21] = 254;
        assert_eq!(drop(&hop), DropReason::BadHopLimit);
        let mut sum = NEIGHBOR_SOLICIT;
        sum[56] ^= 1;
        assert_eq!(drop(&sum), DropReason::BadChecksum);

        // Sent to the solicited-node group of a different address.
        let mut misdirected = NEIGHBOR_SOLICIT;
        misdirected[53] = 0x41;
        fix_checksum(&mut misdirected);
        assert_eq!(drop(&misdirected), DropReason::OtherHost);

        let mut multicast_source = NEIGHBOR_SOLICIT;
        multicast_source[6] = 0x03;
        assert_eq!(drop(&multicast_source), DropReason::InvalidSender);

        let advert = NdpFrame::unsolicited_advert(STRANGER, stranger_vip).to_bytes();
        assert_eq!(drop(&advert), DropReason::NotRequest);
    }

    #[test]
    fn foreign_advert_for_an_owned_address_is_a_conflict() {
        let conflict = Conflict {
            ip: IpAddr::V6(VIP6),
            mac: STRANGER,
        };
        assert_eq!(decide_on(&FOREIGN_ADVERT), Decision::Conflict(conflict));
    }

    #[test]
    fn solicitation_from_an_owned_address_is_a_conflict() {
        let client: Ipv6Addr = "fd00::1".parse().unwrap();
        let frame = solicit(STRANGER, VIP6, client);
        let conflict = Conflict {
            ip: IpAddr::V6(VIP6),
            mac: STRANGER,
        };
        assert_eq!(decide_on(&frame), Decision::Conflict(conflict));
    }

    #[test]
    fn our_own_advert_is_not_a_conflict() {
        let mut frame = NdpFrame::unsolicited_advert(NODE, VIP6);
        assert_eq!(
            decide_on(&frame.to_bytes()),
            Decision::Drop(DropReason::FromOurselves)
        );
        // Relayed by a bridge with another source, but still naming our address.
        frame.source = STRANGER;
        assert_eq!(
            decide_on(&frame.to_bytes()),
            Decision::Drop(DropReason::NotRequest)
        );
    }
}
