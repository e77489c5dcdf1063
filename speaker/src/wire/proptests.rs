//! Property tests: no input makes the parsers or responders panic, and emit/parse round-trip.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;

use super::arp::{ArpFrame, ArpOperation, ArpRepr};
use super::ndp::{NdpFrame, NdpRepr};
use super::probe::ProbeWatch;
use super::samples::{
    ARP_REQUEST, DAD_SOLICIT, FOREIGN_ADVERT, NEIGHBOR_SOLICIT, NODE, VIP4, VIP6, fix_checksum,
};
use super::{Answerer, InterfaceContext, MacAddr, arp_responder, ndp_responder};

fn everything(frame: &[u8]) {
    let owned = BTreeMap::from([
        (IpAddr::V4(VIP4), Answerer::ThisInterface),
        (IpAddr::V6(VIP6), Answerer::ThisInterface),
    ]);
    let ctx = InterfaceContext {
        mac: NODE,
        announcements: &owned,
    };
    let _ = arp_responder::decide(frame, &ctx);
    let _ = ndp_responder::decide(frame, &ctx);
    let _ = ProbeWatch {
        ip: IpAddr::V4(VIP4),
        mac: NODE,
    }
    .observe(frame);
    let _ = ProbeWatch {
        ip: IpAddr::V6(VIP6),
        mac: NODE,
    }
    .observe(frame);
    // Whatever parses must emit to bytes that parse to the same value.
    if let Ok(parsed) = ArpFrame::parse(frame) {
        assert_eq!(ArpFrame::parse(&parsed.to_bytes()), Ok(parsed));
    }
    if let Ok(parsed) = NdpFrame::parse(frame) {
        assert_eq!(NdpFrame::parse(&parsed.to_bytes()), Ok(parsed));
    }
}

fn mac() -> impl Strategy<Value = MacAddr> {
    any::<[u8; 6]>().prop_map(|o| MacAddr::new(o[0], o[1], o[2], o[3], o[4], o[5]))
}

fn sample() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(ARP_REQUEST.to_vec()),
        Just(NEIGHBOR_SOLICIT.to_vec()),
        Just(DAD_SOLICIT.to_vec()),
        Just(FOREIGN_ADVERT.to_vec()),
    ]
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(frame in proptest::collection::vec(any::<u8>(), 0..160)) {
        everything(&frame);
    }

    #[test]
    fn mutated_frames_never_panic(
        frame in sample(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
        recompute in any::<bool>(),
    ) {
        let mut frame = frame;
        for (at, value) in edits {
            let len = frame.len();
            frame[at % len] = value;
        }
        // Recompute the checksum so the mutation reaches the checks behind it.
        if recompute && frame[12..14] == [0x86, 0xdd] {
            fix_checksum(&mut frame);
        }
        frame.truncate(cut % (frame.len() + 1) + 14);
        everything(&frame);
    }

    #[test]
    fn arp_round_trips(
        operation in any::<u16>(),
        sender_mac in mac(),
        sender_ip in any::<u32>(),
        target_mac in mac(),
        target_ip in any::<u32>(),
        destination in mac(),
        source in mac(),
    ) {
        let frame = ArpFrame {
            destination,
            source,
            arp: ArpRepr {
                operation: ArpOperation::from(operation),
                sender_mac,
                sender_ip: Ipv4Addr::from(sender_ip),
                target_mac,
                target_ip: Ipv4Addr::from(target_ip),
            },
        };
        prop_assert_eq!(ArpFrame::parse(&frame.to_bytes()), Ok(frame));
    }

    #[test]
    fn advert_round_trips(
        source in mac(),
        ip_source in any::<u128>(),
        ip_destination in any::<u128>(),
        target in any::<u128>(),
        target_mac in proptest::option::of(mac()),
        flags in any::<(bool, bool, bool)>(),
    ) {
        let ip_destination = Ipv6Addr::from(ip_destination);
        let target = Ipv6Addr::from(target);
        prop_assume!(!target.is_multicast());
        prop_assume!(!(flags.1 && ip_destination.is_multicast()));
        let frame = NdpFrame {
            destination: NODE,
            source,
            ip_source: Ipv6Addr::from(ip_source),
            ip_destination,
            ndp: NdpRepr::NeighborAdvert {
                router: flags.0,
                solicited: flags.1,
                override_cache: flags.2,
                target,
                target_mac,
            },
        };
        prop_assert_eq!(NdpFrame::parse(&frame.to_bytes()), Ok(frame));
    }
}
