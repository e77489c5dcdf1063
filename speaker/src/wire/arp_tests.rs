use super::*;
use crate::wire::samples::{ARP_REQUEST as REQUEST, CLIENT, NODE, VIP4 as VIP};

#[test]
fn parses_a_request() {
    let frame = ArpFrame::parse(&REQUEST).unwrap();
    assert_eq!(frame.destination, MacAddr::broadcast());
    assert_eq!(frame.source, CLIENT);
    assert_eq!(
        frame.arp,
        ArpRepr {
            operation: ArpOperation::Request,
            sender_mac: CLIENT,
            sender_ip: Ipv4Addr::new(192, 168, 100, 1),
            target_mac: MacAddr::zero(),
            target_ip: VIP,
        }
    );
    assert!(!frame.arp.is_probe());
    assert!(!frame.arp.is_gratuitous());
}

#[test]
fn emit_round_trips() {
    let frame = ArpFrame::parse(&REQUEST).unwrap();
    assert_eq!(frame.to_bytes(), REQUEST);
}

#[test]
fn ethernet_padding_is_ignored() {
    let mut padded = REQUEST.to_vec();
    padded.resize(60, 0);
    assert_eq!(ArpFrame::parse(&padded), ArpFrame::parse(&REQUEST));
}

#[test]
fn truncated_at_every_length() {
    for len in 0..REQUEST.len() {
        assert_eq!(
            ArpFrame::parse(&REQUEST[..len]),
            Err(DropReason::Truncated),
            "len {len}"
        );
    }
}

#[test]
fn header_faults_have_their_own_reasons() {
    let with = |at: usize, value: u8| {
        let mut frame = REQUEST;
        frame[at] = value;
        ArpFrame::parse(&frame)
    };
    assert_eq!(with(13, 0x00), Err(DropReason::UnsupportedProtocol)); // ethertype 0x0800
    assert_eq!(with(15, 0x06), Err(DropReason::UnsupportedHardware)); // IEEE 802
    assert_eq!(with(14, 0x01), Err(DropReason::UnsupportedHardware)); // type 0x0101
    assert_eq!(with(16, 0x86), Err(DropReason::UnsupportedProtocol)); // ptype 0x8600
    assert_eq!(with(18, 0x08), Err(DropReason::UnsupportedHardware)); // hlen 8
    assert_eq!(with(19, 0x10), Err(DropReason::Malformed)); // plen 16
}

#[test]
fn foreign_hardware_is_named_even_when_short() {
    // An InfiniBand ARP header (hardware type 32, 20-byte addresses), cut after the lengths.
    let mut frame = REQUEST[..22].to_vec();
    frame[15] = 32;
    frame[18] = 20;
    assert_eq!(
        ArpFrame::parse(&frame),
        Err(DropReason::UnsupportedHardware)
    );
}

#[test]
fn other_opcodes_parse() {
    let mut frame = REQUEST;
    frame[21] = 3; // RARP request
    assert_eq!(
        ArpFrame::parse(&frame).unwrap().arp.operation,
        ArpOperation::Other(3)
    );
    assert_eq!(u16::from(ArpOperation::Other(3)), 3);
}

#[test]
fn reply_answers_the_sender() {
    let request = ArpFrame::parse(&REQUEST).unwrap();
    let reply = ArpFrame::reply(&request.arp, NODE, VIP).to_bytes();
    #[rustfmt::skip]
    let expected: [u8; 42] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
        0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
        0x00, 0x02,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 192, 168, 100, 240,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 192, 168, 100, 1,
    ];
    assert_eq!(reply, expected);
}

#[test]
fn gratuitous_request_is_an_rfc5227_announcement() {
    #[rustfmt::skip]
    let expected: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
        0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
        0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 192, 168, 100, 240,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192, 168, 100, 240,
    ];
    let frame = ArpFrame::gratuitous_request(NODE, VIP);
    assert_eq!(frame.to_bytes(), expected);
    assert!(frame.arp.is_gratuitous());
}

#[test]
fn gratuitous_reply_targets_broadcast() {
    #[rustfmt::skip]
    let expected: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
        0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
        0x00, 0x02,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 192, 168, 100, 240,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 192, 168, 100, 240,
    ];
    let frame = ArpFrame::gratuitous_reply(NODE, VIP);
    assert_eq!(frame.to_bytes(), expected);
    assert!(frame.arp.is_gratuitous());
}

#[test]
fn probe_has_no_sender_address() {
    #[rustfmt::skip]
    let expected: [u8; 42] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11,
        0x08, 0x06,
        0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
        0x00, 0x01,
        0x02, 0x00, 0x00, 0x00, 0x00, 0x11, 0, 0, 0, 0,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 192, 168, 100, 240,
    ];
    let frame = ArpFrame::probe(NODE, VIP);
    assert_eq!(frame.to_bytes(), expected);
    assert!(frame.arp.is_probe());
    assert!(!frame.arp.is_gratuitous());
}

#[test]
fn emit_into_a_short_buffer_fails() {
    let frame = ArpFrame::probe(NODE, VIP);
    assert_eq!(frame.emit(&mut [0; 41]), Err(DropReason::Truncated));
    assert_eq!(frame.emit(&mut [0; 60]), Ok(ARP_FRAME_LEN));
}
