//! Any bytes given to the frame parsers, responders, probe watch, membership envelope and
//! interface report decoder must come back as a decision or an error, never a panic or a hang.
#![no_main]

use std::collections::BTreeMap;
use std::net::IpAddr;

use ferrolb_speaker::membership::envelope::{AuthKey, open};
use ferrolb_speaker::membership::group::PeerReport;
use ferrolb_speaker::wire::arp::ArpFrame;
use ferrolb_speaker::wire::ndp::NdpFrame;
use ferrolb_speaker::wire::probe::ProbeWatch;
use ferrolb_speaker::wire::{Answerer, InterfaceContext, MacAddr, arp_responder, ndp_responder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|frame: &[u8]| {
    let mac = MacAddr::new(2, 0, 0, 0, 0, 0x11);
    let vip4 = IpAddr::from([192, 168, 100, 240]);
    let vip6: IpAddr = "fd00::240".parse().unwrap();
    let owned = BTreeMap::from([
        (vip4, Answerer::ThisInterface),
        (vip6, Answerer::ThisInterface),
    ]);
    let ctx = InterfaceContext {
        mac,
        announcements: &owned,
    };

    let _ = arp_responder::decide(frame, &ctx);
    let _ = ndp_responder::decide(frame, &ctx);
    let _ = ProbeWatch { ip: vip4, mac }.observe(frame);
    let _ = ProbeWatch { ip: vip6, mac }.observe(frame);
    if let Ok(parsed) = ArpFrame::parse(frame) {
        assert_eq!(ArpFrame::parse(&parsed.to_bytes()), Ok(parsed));
    }
    if let Ok(parsed) = NdpFrame::parse(frame) {
        assert_eq!(NdpFrame::parse(&parsed.to_bytes()), Ok(parsed));
    }
    let key = AuthKey::new([7; 32]).unwrap();
    let _ = open(&key, frame);
    // A membership payload after the envelope: its first byte says what it is.
    if let Some((kind, body)) = frame.split_first()
        && let Some(report) = PeerReport::decode(*kind, body)
    {
        let again = report.encode().expect("a decoded report encodes");
        assert_eq!(PeerReport::decode(2, &again), Some(report));
    }
});
