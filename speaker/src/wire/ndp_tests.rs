use super::*;
use crate::wire::samples::{
    CLIENT, DAD_SOLICIT, FOREIGN_ADVERT, NEIGHBOR_SOLICIT, NODE, STRANGER, VIP6, fix_checksum,
};

fn client_ip() -> Ipv6Addr {
    "fd00::1".parse().unwrap()
}

#[test]
fn parses_a_solicitation() {
    let frame = NdpFrame::parse(&NEIGHBOR_SOLICIT).unwrap();
    assert_eq!(frame.source, CLIENT);
    assert_eq!(frame.destination, multicast_mac(solicited_node(VIP6)));
    assert_eq!(frame.ip_source, client_ip());
    assert_eq!(frame.ip_destination, solicited_node(VIP6));
    assert_eq!(
        frame.ndp,
        NdpRepr::NeighborSolicit {
            target: VIP6,
            source_mac: Some(CLIENT)
        }
    );
}

#[test]
fn parses_dad_and_advert() {
    let dad = NdpFrame::parse(&DAD_SOLICIT).unwrap();
    assert!(dad.ip_source.is_unspecified());
    assert_eq!(
        dad.ndp,
        NdpRepr::NeighborSolicit {
            target: VIP6,
            source_mac: None
        }
    );
    let advert = NdpFrame::parse(&FOREIGN_ADVERT).unwrap();
    assert_eq!(
        advert.ndp,
        NdpRepr::NeighborAdvert {
            router: false,
            solicited: false,
            override_cache: true,
            target: VIP6,
            target_mac: Some(STRANGER),
        }
    );
}

#[test]
fn emit_round_trips() {
    for bytes in [&NEIGHBOR_SOLICIT[..], &DAD_SOLICIT, &FOREIGN_ADVERT] {
        let frame = NdpFrame::parse(bytes).unwrap();
        assert_eq!(frame.to_bytes(), bytes);
    }
}

#[test]
fn truncated_at_every_length() {
    for bytes in [&NEIGHBOR_SOLICIT[..], &DAD_SOLICIT, &FOREIGN_ADVERT] {
        for len in 0..bytes.len() {
            assert_eq!(
                NdpFrame::parse(&bytes[..len]),
                Err(DropReason::Truncated),
                "len {len}"
            );
        }
    }
}

#[test]
fn trailing_bytes_are_ignored() {
    let mut padded = NEIGHBOR_SOLICIT.to_vec();
    padded.extend_from_slice(&[0xaa; 10]);
    assert_eq!(NdpFrame::parse(&padded), NdpFrame::parse(&NEIGHBOR_SOLICIT));
}

/// The solicitation with one byte replaced and, if asked, the checksum recomputed.
fn edited(at: usize, value: u8, fix: bool) -> Result<NdpFrame, DropReason> {
    let mut frame = NEIGHBOR_SOLICIT;
    frame[at] = value;
    if fix {
        fix_checksum(&mut frame);
    }
    NdpFrame::parse(&frame)
}

#[test]
fn header_faults_have_their_own_reasons() {
    assert_eq!(
        edited(12, 0x08, false),
        Err(DropReason::UnsupportedProtocol)
    ); // ethertype
    assert_eq!(edited(14, 0x40, false), Err(DropReason::Malformed)); // IP version 4
    assert_eq!(
        edited(20, 0x00, false),
        Err(DropReason::UnsupportedProtocol)
    ); // hop-by-hop
    assert_eq!(edited(21, 64, false), Err(DropReason::BadHopLimit));
    assert_eq!(edited(54, 128, true), Err(DropReason::UnsupportedProtocol)); // echo request
    assert_eq!(edited(55, 1, true), Err(DropReason::Malformed)); // code 1
    assert_eq!(edited(62, 0xff, true), Err(DropReason::Malformed)); // multicast target
    assert_eq!(edited(79, 0, true), Err(DropReason::BadOption)); // zero-length option
    assert_eq!(edited(79, 2, true), Err(DropReason::BadOption)); // option overruns
}

#[test]
fn wrong_checksum() {
    assert_eq!(edited(57, 0x1c, false), Err(DropReason::BadChecksum));
    assert_eq!(edited(85, 0x02, false), Err(DropReason::BadChecksum));
    // The checksum covers the pseudo-header: a different source address breaks it.
    assert_eq!(edited(37, 0x02, false), Err(DropReason::BadChecksum));
}

#[test]
fn short_payload_length_is_malformed() {
    let mut frame = NEIGHBOR_SOLICIT;
    frame[19] = 16; // ICMPv6 message shorter than a solicitation
    assert_eq!(NdpFrame::parse(&frame), Err(DropReason::Malformed));
    frame[19] = 1;
    assert_eq!(NdpFrame::parse(&frame), Err(DropReason::Malformed));
}

#[test]
fn unspecified_source_rules() {
    // DAD sent to a unicast address instead of the solicited-node group.
    let mut frame = DAD_SOLICIT;
    frame[38..54].copy_from_slice(&VIP6.octets());
    fix_checksum(&mut frame);
    assert_eq!(NdpFrame::parse(&frame), Err(DropReason::Malformed));
    // DAD carrying a source link-layer address.
    let mut frame = NEIGHBOR_SOLICIT;
    frame[22..38].fill(0);
    fix_checksum(&mut frame);
    assert_eq!(NdpFrame::parse(&frame), Err(DropReason::Malformed));
}

#[test]
fn solicited_advert_to_multicast_is_malformed() {
    let mut frame = FOREIGN_ADVERT;
    frame[58] = 0x60;
    fix_checksum(&mut frame);
    assert_eq!(NdpFrame::parse(&frame), Err(DropReason::Malformed));
}

#[test]
fn advert_reply_is_solicited_and_unicast() {
    let request = NdpFrame::parse(&NEIGHBOR_SOLICIT).unwrap();
    let reply = NdpFrame::advert_reply(&request, NODE, VIP6);
    #[rustfmt::skip]
    let expected: [u8; 86] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
        0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00,
        0x00, 0x20, 0x3a, 0xff,
        0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40,
        0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01,
        0x88, 0x00, 0x18, 0x0f,
        0x60, 0x00, 0x00, 0x00, // solicited, override
        0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40,
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
    ];
    assert_eq!(reply.to_bytes(), expected);
    assert_eq!(NdpFrame::parse(&expected), Ok(reply));
}

#[test]
fn advert_reply_without_source_option_goes_to_the_ethernet_source() {
    let mut request = NdpFrame::parse(&NEIGHBOR_SOLICIT).unwrap();
    request.ndp = NdpRepr::NeighborSolicit {
        target: VIP6,
        source_mac: None,
    };
    request.source = STRANGER;
    assert_eq!(
        NdpFrame::advert_reply(&request, NODE, VIP6).destination,
        STRANGER
    );
}

#[test]
fn dad_is_answered_to_all_nodes() {
    let request = NdpFrame::parse(&DAD_SOLICIT).unwrap();
    let reply = NdpFrame::advert_reply(&request, NODE, VIP6);
    assert_eq!(reply.destination, MacAddr::new(0x33, 0x33, 0, 0, 0, 1));
    assert_eq!(reply.ip_destination, ALL_NODES);
    assert_eq!(reply, NdpFrame::unsolicited_advert(NODE, VIP6));
    assert!(NdpFrame::parse(&reply.to_bytes()).is_ok());
}

#[test]
fn unsolicited_advert_bytes() {
    #[rustfmt::skip]
    let expected: [u8; 86] = [
        0x33, 0x33, 0x00, 0x00, 0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
        0x86, 0xdd,
        0x60, 0x00, 0x00, 0x00,
        0x00, 0x20, 0x3a, 0xff,
        0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40,
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x01,
        0x88, 0x00, 0x56, 0x0d,
        0x20, 0x00, 0x00, 0x00, // override
        0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x40,
        0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
    ];
    assert_eq!(
        NdpFrame::unsolicited_advert(NODE, VIP6).to_bytes(),
        expected
    );
}

#[test]
fn dad_probe_matches_the_literal_frame() {
    assert_eq!(NdpFrame::dad_probe(CLIENT, VIP6).to_bytes(), DAD_SOLICIT);
}

#[test]
fn emit_into_a_short_buffer_fails() {
    let frame = NdpFrame::unsolicited_advert(NODE, VIP6);
    assert_eq!(frame.frame_len(), NDP_FRAME_MAX_LEN);
    assert_eq!(frame.emit(&mut [0; 85]), Err(DropReason::Truncated));
    assert_eq!(frame.emit(&mut [0; 100]), Ok(86));
}
